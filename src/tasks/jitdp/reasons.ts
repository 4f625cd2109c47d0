import { FEATURE_NAMES, type ExpertFeatures, type FeatureName } from '../../git/expertFeatures.js';
import { sigmoid } from './logistic.js';

/**
 * Risk reasons in words a developer can act on: one per fact the expert features measure, said as what the
 * change does or what the files have been through ("adds 120 lines and deletes 4 in 3 files", "the files were
 * changed 17 times before, by 4 people, last 2 days ago on average"), or a code token the change adds or
 * removes; each with its effect in percentage points, and never against its features' established direction.
 */
const plural = (n: number, one: string, many = `${one}s`) => `${fmt(n)} ${n === 1 ? one : many}`;
const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString('en-US') : n.toFixed(n < 10 ? 1 : 0));

function days(d: number): string {
  if (d < 1 / 24) return 'less than an hour';
  if (d < 1) return plural(Math.round(d * 24), 'hour');
  if (d < 60) return plural(Math.round(d), 'day');
  if (d < 730) return plural(Math.round(d / 30.4), 'month');
  return plural(Math.round(d / 365), 'year');
}

/** A code token as a reason: what the change does with it. */
export const tokenText = (name: string) => `${name[6] === '+' ? 'adds' : 'removes'} "${name.slice(7)}"`;

/** Whether a code token can be a reason: an identifier or a keyword, never punctuation or a number. */
export const isReasonToken = (token: string) => /^[+-][a-z_$][a-z0-9_$]*$/i.test(token);

/** One input's share of a score: an expert feature by name, or "token +foo" / "token -foo" for a code token. */
export interface Reason {
  name: string;
  /** Its share of the calibrated logit against the typical commit (positive: towards buggy). */
  contribution: number;
}

/** An occlusion explanation's logits (the change, then each feature at the typical commit's) as contributions. */
export function occlusionReasons(logits: readonly number[], plattSlope: number): Reason[] {
  return FEATURE_NAMES.map((name, i) => ({ name, contribution: plattSlope * (logits[0]! - logits[i + 1]!) }));
}

/**
 * The established direction of each expert feature, as Kamei et al. (2013) and Commit Guru read them: more
 * lines, files, directories and subsystems, more scattered changes, larger files, fixes, more developers on
 * the files and more earlier changes raise risk; author experience and older files lower it.
 */
export const DIRECTION: Record<FeatureName, 1 | -1> = {
  ns: 1,
  nd: 1,
  nf: 1,
  entropy: 1,
  la: 1,
  ld: 1,
  lt: 1,
  fix: 1,
  ndev: 1,
  nuc: 1,
  age: -1,
  exp: -1,
  rexp: -1,
  sexp: -1,
};

/** The facts behind the features: each fact is said once, however many features measure it. */
export const FACTS: Record<string, readonly FeatureName[]> = {
  size: ['la', 'ld'],
  spread: ['nf', 'nd', 'ns', 'entropy'],
  'file size': ['lt'],
  fix: ['fix'],
  'file history': ['nuc', 'ndev', 'age'],
  experience: ['exp', 'rexp', 'sexp'],
};

/** A fact in words, from all of the change's features (the context a number needs). */
export const factText = (fact: string, f: ExpertFeatures, lead?: FeatureName): string => SAY_FACT[fact]!(f, lead);

const SAY_FACT: Record<string, (f: ExpertFeatures, lead?: FeatureName) => string> = {
  size: (f) =>
    f.la && f.ld
      ? `adds ${plural(f.la, 'line')} and deletes ${fmt(f.ld)} in ${plural(f.nf, 'file')}`
      : f.ld
        ? `deletes ${plural(f.ld, 'line')} from ${plural(f.nf, 'file')}`
        : `adds ${plural(f.la, 'line')} to ${plural(f.nf, 'file')}`,
  spread: (f) =>
    f.nf <= 1
      ? 'keeps its changes in one file'
      : `changes ${plural(f.nf, 'file')} in ${plural(f.nd, 'directory', 'directories')}` +
        (f.ns > 1 ? ` across ${fmt(f.ns)} top-level directories` : '') +
        (f.entropy >= 0.8 * Math.log2(f.nf) ? ', spread evenly over them' : ', most of it in a few'),
  'file size': (f) => `the changed files had ${plural(Math.round(f.lt), 'line')} each before, on average`,
  fix: (f) => (f.fix ? 'is a bug fix (by its message)' : 'is not a bug fix (by its message)'),
  'file history': (f) =>
    f.nuc === 0 && f.ndev === 0
      ? 'the files are new: nobody changed them before'
      : `the files were changed ${plural(f.nuc, 'time')} before, by ${plural(f.ndev, 'person', 'people')}` +
        (f.age ? `, last ${days(f.age)} ago on average` : ''),
  // Led by the measure that moves the score most in the reason's direction: "little experience in this
  // directory" may raise the risk while many commits elsewhere lower it less.
  experience: (f, lead) => {
    const dir = f.ns === 1 ? 'this top-level directory' : 'these top-level directories';
    if (f.exp === 0) return 'the author has made no commit to code here before';
    if (lead === 'sexp')
      return f.sexp === 0
        ? `the author has made no change to ${dir} before (${plural(f.exp, 'commit')} to code here in all)`
        : `the author made ${plural(f.sexp, 'earlier change')} to ${dir} (${plural(f.exp, 'commit')} to code here in all)`;
    if (lead === 'rexp')
      return `the author's recent commits here: ${fmt(f.rexp)} (weighted by age; ${plural(f.exp, 'commit')} to code here in all)`;
    return `the author made ${plural(f.exp, 'earlier commit')} to code here (${f.sexp === 0 ? 'none' : plural(f.sexp, 'change')} to ${dir})`;
  },
};

/** A reason as shown: one fact (or one code token), its effect on this change's probability, in words. */
export interface RiskReason {
  /** The fact ("size", "experience", ...) or "token". */
  fact: string;
  /**
   * What it sums: the features that measure the fact and agree with their direction here, each with its
   * contribution and its deviation from the typical commit (standard deviations), or the one token.
   */
  parts: Array<{ name: string; contribution: number; deviation?: number }>;
  /** Their summed share of the calibrated logit. */
  contribution: number;
  /** The effect in percentage points: the probability minus the probability with the fact as in a typical commit. */
  points: number;
  text: string;
}

/**
 * The reasons a user sees, from every feature's and token's contribution (`all`) and how far each feature is
 * from the typical commit (`deviation`, in the scaled space): a feature whose learnt effect here goes
 * against its established direction is left out (a model's weight can flip on correlated features; a
 * reason that says "more experience, more risk" misleads), the features of one fact are summed into one
 * reason, and each reason's effect is said in percentage points of `probability`. Largest effects first.
 */
export function riskReasons(
  all: readonly Reason[],
  f: ExpertFeatures,
  deviation: readonly number[],
  probability: number,
  top = 5,
): RiskReason[] {
  const z = Math.log(probability / (1 - probability));
  const points = (c: number) => 100 * (probability - sigmoid(z - c));
  const byName = new Map(all.map((r) => [r.name, r.contribution]));
  const out: RiskReason[] = [];
  for (const [fact, names] of Object.entries(FACTS)) {
    const parts = names
      .map((name) => ({ name, contribution: byName.get(name) ?? 0, deviation: deviation[FEATURE_NAMES.indexOf(name)]! }))
      .filter((x) => x.contribution !== 0 && agreesWithDirection(x.name, x.contribution, x.deviation));
    if (!parts.length) continue;
    const contribution = parts.reduce((s, x) => s + x.contribution, 0);
    // The part that moves the score most in the reason's direction leads its words.
    const lead = [...parts].sort((a, b) => Math.sign(contribution) * (b.contribution - a.contribution))[0]!.name as FeatureName;
    out.push({ fact, parts, contribution, points: points(contribution), text: factText(fact, f, lead) });
  }
  for (const r of all)
    if (r.name.startsWith('token ') && r.contribution !== 0)
      out.push({ fact: 'token', parts: [r], contribution: r.contribution, points: points(r.contribution), text: tokenText(r.name) });
  return out
    .filter((r) => Math.abs(r.points) >= 0.05)
    .sort((a, b) => Math.abs(b.points) - Math.abs(a.points))
    .slice(0, top);
}

/**
 * Whether a feature's effect on one change agrees with the feature's established direction: above the
 * typical commit (positive deviation), a risk-raising feature must raise the score; below it, lower it.
 */
export function agreesWithDirection(name: FeatureName | string, contribution: number, deviation: number): boolean {
  const d = DIRECTION[name as FeatureName];
  return d !== undefined && Math.sign(contribution) * Math.sign(deviation) === d;
}

/** What the reasons' numbers are, said once above them. */
export const REASONS_UNIT = 'percentage points of the probability, against a typical commit of the training history';
export const REASONS_HEADING = `reasons (${REASONS_UNIT})`;

/** One reason in one line, the same words in the terminal, the hover and the report. */
export function reasonLine(r: Pick<RiskReason, 'points' | 'text'>): string {
  const pts = Math.abs(r.points);
  return `${r.points >= 0 ? 'raises' : 'lowers'} the risk by ${pts < 10 ? pts.toFixed(1) : pts.toFixed(0)} points: ${r.text}`;
}
