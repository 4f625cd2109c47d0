/**
 * A repository's commit-message style, learned from its history's subject lines, and applied to candidate
 * messages by post-processing (not constrained decoding: the rules below rewrite a finished candidate, so
 * they work the same for NNGen's and a model's candidates and can be switched off). What is learned:
 *
 * - Conventional Commits (`type(scope)!: description`): the share of subjects that use it, the types by
 *   frequency, and for each top-level folder the scope used most with it (a candidate without a type gets
 *   one guessed from its first verb and the changed paths, in the repository's spelling, or none);
 * - ticket-id prefixes (`ABC-123: ...`, `[ABC-123] ...`, `#123 ...`): the share and the form; the id itself
 *   comes from the branch name when it carries one (feature/ABC-123-...), never invented;
 * - capitalisation of the description's first letter, imperative mood of its first word ("Add" rather than
 *   "Added"/"Adds"/"Adding"), and a trailing period: each as the share of subjects that do it.
 *
 * Learned from the newest 300 subjects (projects change their conventions; the recent ones are the ones to
 * follow). A rule is applied when at least 60% of the subjects follow it (its opposite when at most 20% do); in
 * between, the candidate is left as it is.
 */
export interface CommitStyle {
  subjects: number;
  conventional: number;
  types: Array<[string, number]>;
  scopes: Record<string, string>;
  ticket: { share: number; form: 'colon' | 'bracket' | 'hash' | null; project: string | null };
  capitalized: number;
  imperative: number;
  period: number;
}

const CONVENTIONAL = /^([a-z]+)(?:\(([^)]+)\))?(!)?: (.+)$/i;
const TICKET = [
  { form: 'bracket' as const, re: /^\[([A-Z][A-Z0-9]+-\d+)\]\s*(.+)$/ },
  { form: 'colon' as const, re: /^([A-Z][A-Z0-9]+-\d+):?\s+(.+)$/ },
  { form: 'hash' as const, re: /^(#\d+):?\s+(.+)$/ },
];

/** Common verbs of commit subjects (base forms), for recognising and restoring the imperative mood. */
const VERBS = new Set(
  `accept account add adjust align allow apply avoid bump build call change check cache catch clarify clean cleanup close collect color colour combine configure convert copy correct create
debug define describe detect deprecate disable document drop emit enable ensure exit explain expose extend extract \
fail fetch filter fix flush format free generate get handle hide ignore implement import improve include
increase initialize inline install introduce keep let limit link lint load lock log make map mark match merge migrate mention move normalize optimize parse pass patch pin polish prefer
prepare prevent print provide raise read rebase reduce refactor refine reformat release reload remove rename reorder replace report require reset resolve
restore restructure return reuse revert rewrite run save send separate set show simplify skip sort speed split start stop store strip support switch sync
test throw tidy track trim tweak unify update upgrade use validate verify wrap write`.split(/\s+/),
);

/** The base form of a verb-like first word when it is one we know ("Added" -> "Add"), else null. */
export function baseVerb(word: string, extra: ReadonlySet<string> = new Set()): string | null {
  const w = word.toLowerCase();
  const known = (x: string) => VERBS.has(x) || extra.has(x);
  if (known(w)) return w;
  const tries: string[] = [];
  if (w.endsWith('ies')) tries.push(w.slice(0, -3) + 'y');
  if (w.endsWith('ied')) tries.push(w.slice(0, -3) + 'y');
  if (w.endsWith('es')) tries.push(w.slice(0, -2));
  if (w.endsWith('s')) tries.push(w.slice(0, -1));
  if (w.endsWith('ed')) tries.push(w.slice(0, -2), w.slice(0, -1), w.slice(0, -3));
  if (w.endsWith('ing')) tries.push(w.slice(0, -3), w.slice(0, -3) + 'e', w.slice(0, -4));
  return tries.find(known) ?? null;
}

const share = (n: number, d: number) => (d ? n / d : 0);

/** The description part of a subject: without a Conventional Commits prefix and a ticket id. */
function parts(subject: string): {
  type: string | null;
  scope: string | null;
  breaking: boolean;
  ticket: string | null;
  ticketForm: CommitStyle['ticket']['form'];
  description: string;
} {
  let s = subject.trim();
  let ticket: string | null = null;
  let ticketForm: CommitStyle['ticket']['form'] = null;
  for (const t of TICKET) {
    const m = t.re.exec(s);
    if (m) {
      ticket = m[1]!;
      ticketForm = t.form;
      s = m[2]!;
      break;
    }
  }
  const c = CONVENTIONAL.exec(s);
  if (c) return { type: c[1]!.toLowerCase(), scope: c[2] ?? null, breaking: !!c[3], ticket, ticketForm, description: c[4]! };
  return { type: null, scope: null, breaking: false, ticket, ticketForm, description: s };
}

/** How many of the newest subjects the style is learned from: conventions change, the recent ones count. */
const STYLE_WINDOW = 300;

/** The style of `messages`, given newest first (as git log lists them); only the newest STYLE_WINDOW count. */
export function learnStyle(messages: readonly string[], paths: ReadonlyArray<readonly string[]> = []): CommitStyle {
  const kept = messages
    .map((m, i) => ({ s: m.split('\n')[0]!.trim(), i }))
    .filter(({ s }) => s && !/^(Merge|Revert) /.test(s))
    .slice(0, STYLE_WINDOW);
  const subjects = kept.map(({ s }) => s);
  paths = kept.map(({ i }) => paths[i] ?? []);
  const types = new Map<string, number>();
  const scopeVotes = new Map<string, Map<string, number>>();
  const forms = new Map<string, number>();
  const projects = new Map<string, number>();
  let conventional = 0,
    ticketed = 0,
    capitalized = 0,
    imperative = 0,
    period = 0,
    withWord = 0;
  subjects.forEach((s, i) => {
    const p = parts(s);
    if (p.type) {
      conventional++;
      types.set(p.type, (types.get(p.type) ?? 0) + 1);
      if (p.scope)
        for (const top of new Set((paths[i] ?? []).map((x) => x.split('/')[0]!))) {
          const v = scopeVotes.get(top) ?? new Map<string, number>();
          v.set(p.scope, (v.get(p.scope) ?? 0) + 1);
          scopeVotes.set(top, v);
        }
    }
    if (p.ticket) {
      ticketed++;
      forms.set(p.ticketForm!, (forms.get(p.ticketForm!) ?? 0) + 1);
      const project = /^([A-Z][A-Z0-9]+)-/.exec(p.ticket)?.[1];
      if (project) projects.set(project, (projects.get(project) ?? 0) + 1);
    }
    const first = /^[A-Za-z]+/.exec(p.description)?.[0];
    if (first) {
      withWord++;
      if (first[0] === first[0]!.toUpperCase()) capitalized++;
      if (VERBS.has(first.toLowerCase())) imperative++;
    }
    if (/[^.]\.$/.test(p.description)) period++;
  });
  const top = <K>(m: Map<K, number>) => [...m].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
  return {
    subjects: subjects.length,
    conventional: share(conventional, subjects.length),
    types: [...types].sort((a, b) => b[1] - a[1]),
    scopes: Object.fromEntries([...scopeVotes].map(([dir, v]) => [dir, top(v)!])),
    ticket: { share: share(ticketed, subjects.length), form: top(forms) as CommitStyle['ticket']['form'], project: top(projects) },
    capitalized: share(capitalized, withWord),
    imperative: share(imperative, withWord),
    period: share(period, subjects.length),
  };
}

const ON = 0.6;
const OFF = 0.2;

/** A Conventional Commits type for a change, from the candidate's words and the changed paths, spelled as the repository spells it. */
function guessType(description: string, paths: readonly string[], style: CommitStyle): string | null {
  const known = new Set(style.types.map(([t]) => t));
  const spell = (...names: string[]) => names.find((n) => known.has(n)) ?? null;
  const first = /^[A-Za-z]+/.exec(description)?.[0] ?? '';
  const d = (baseVerb(first) ?? first.toLowerCase()) + description.slice(first.length).toLowerCase();
  const all = (re: RegExp) => paths.length > 0 && paths.every((p) => re.test(p));
  const guess =
    (all(/(^|\/)(docs?|documentation)\/|\.(md|rst|txt|adoc)$/i) && spell('docs', 'doc')) ||
    (all(/(^|\/)(tests?|spec|__tests__)\/|[._-](test|spec)\.[a-z]+$/i) && spell('test', 'tests')) ||
    (/^(bump|upgrade|update dep|pin)\b/.test(d) && spell('deps', 'build', 'chore')) ||
    (/^(fix|correct|resolve|prevent|handle|avoid)\b/.test(d) && spell('fix', 'bugfix')) ||
    (/^(add|introduce|support|implement|allow|enable|create)\b/.test(d) && spell('feat', 'feature')) ||
    (/^(refactor|simplify|clean|extract|rename|move|reorganize|restructure)\b/.test(d) && spell('refactor')) ||
    spell('chore');
  // No type that fits: better none than a wrong one.
  return guess || null;
}

export interface StyleContext {
  /** Changed paths of the change being described. */
  paths?: readonly string[];
  /** The current branch (a ticket id in it is used for the prefix). */
  branch?: string | null;
}

/** A candidate subject rewritten in the repository's style (the body, if any, is kept as it is). */
export function applyStyle(message: string, style: CommitStyle, ctx: StyleContext = {}): string {
  if (style.subjects < 10) return message;
  const [subject0, ...body] = message.split('\n');
  const p = parts(subject0!);
  let d = p.description.trim();
  // Mood and case of the first word, then the trailing period.
  const m = /^([A-Za-z]+)(.*)$/s.exec(d);
  if (m) {
    let first = m[1]!;
    if (style.imperative >= ON) {
      const base = baseVerb(first);
      if (base) first = first[0] === first[0]!.toUpperCase() ? base[0]!.toUpperCase() + base.slice(1) : base;
    }
    if (style.capitalized >= ON) first = first[0]!.toUpperCase() + first.slice(1);
    else if (style.capitalized <= OFF && !/^[A-Z0-9]+$/.test(first.slice(1) || 'x')) first = first[0]!.toLowerCase() + first.slice(1);
    d = first + m[2]!;
  }
  if (style.period >= ON && !d.endsWith('.')) d += '.';
  else if (style.period <= OFF) d = d.replace(/([^.])\.$/, '$1');
  let subject = d;
  // Conventional Commits: added where the history uses it, kept where it is mixed, dropped where it is rare.
  if (style.conventional >= ON || (p.type && style.conventional > OFF)) {
    const type = p.type ?? guessType(d, ctx.paths ?? [], style);
    const tops = [...new Set((ctx.paths ?? []).map((x) => x.split('/')[0]!))];
    // A scope is added only with a type we add: a candidate's own prefix is kept as it was written.
    const scope = p.type ? p.scope : tops.length === 1 ? (style.scopes[tops[0]!] ?? null) : null;
    if (type) subject = `${type}${scope ? `(${scope})` : ''}${p.breaking ? '!' : ''}: ${d}`;
  }
  const branchTicket =
    /([A-Z][A-Z0-9]+-\d+)/.exec(ctx.branch ?? '')?.[1] ??
    (/(?:^|\/)(\d+)[-_]/.exec(ctx.branch ?? '') && style.ticket.form === 'hash'
      ? `#${/(?:^|\/)(\d+)[-_]/.exec(ctx.branch ?? '')![1]}`
      : null);
  const ticket = p.ticket ?? (style.ticket.share >= ON ? branchTicket : null);
  if (ticket)
    subject = style.ticket.form === 'bracket' ? `[${ticket}] ${subject}` : `${ticket}${style.ticket.form === 'hash' ? '' : ':'} ${subject}`;
  return [subject, ...body].join('\n');
}
