import type { ExpertFeatures } from '../../git/expertFeatures.js';

/**
 * A risk reason in words a developer can act on: an expert feature said as what the change does or what the
 * files have been through ("adds 120 lines to 3 files", "the files were last changed 2 days ago, by 4 people
 * before"), or a code token the change adds or removes. `f`, the change's features, gives the context a
 * feature's own value needs; without it the feature's value alone is said.
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

const SAY: Record<keyof ExpertFeatures, (v: number, f: Partial<ExpertFeatures>) => string> = {
  la: (v, f) => `adds ${plural(v, 'line')}${f.nf !== undefined ? ` to ${plural(f.nf, 'file')}` : ''}`,
  ld: (v, f) => `deletes ${plural(v, 'line')}${f.nf !== undefined ? ` from ${plural(f.nf, 'file')}` : ''}`,
  nf: (v, f) => `changes ${plural(v, 'file')}${f.nd !== undefined ? ` in ${plural(f.nd, 'directory', 'directories')}` : ''}`,
  nd: (v) => `changes files in ${plural(v, 'directory', 'directories')}`,
  ns: (v) => `reaches into ${plural(v, 'top-level directory', 'top-level directories')}`,
  entropy: (v, f) =>
    f.nf && f.nf > 1
      ? `spreads its changes over ${plural(f.nf, 'file')} (entropy ${v.toFixed(2)} of at most ${Math.log2(f.nf).toFixed(2)})`
      : `keeps its changes in one file`,
  lt: (v) => `the changed files had ${plural(Math.round(v), 'line')} each before, on average`,
  fix: (v) => (v ? 'is a bug fix (by its message)' : 'is not a bug fix (by its message)'),
  ndev: (v) => (v ? `the files were changed before by ${plural(v, 'person', 'people')}` : 'the files are new: nobody changed them before'),
  age: (v, f) =>
    v
      ? `the files were last changed ${days(v)} ago, on average${f.ndev ? `, by ${plural(f.ndev, 'person', 'people')} before` : ''}`
      : 'the files are new or were changed just now',
  nuc: (v) => `the files were changed ${plural(v, 'time')} before`,
  exp: (v) => (v ? `the author made ${plural(v, 'earlier commit')} to code here` : 'the author has made no commit to code here before'),
  rexp: (v) => `the author's recent experience here: ${fmt(v)} (earlier commits, the older the less they count)`,
  sexp: (v, f) =>
    `the author made ${plural(v, 'earlier commit')} in ${f.ns === undefined ? 'these top-level directories' : f.ns === 1 ? 'this top-level directory' : 'these top-level directories'}`,
};

export function reasonText(name: string, value?: number, f: Partial<ExpertFeatures> = {}): string {
  if (name.startsWith('token ')) return `${name[6] === '+' ? 'adds' : 'removes'} "${name.slice(7)}"`;
  const say = SAY[name as keyof ExpertFeatures];
  if (!say) return value === undefined ? name : `${name}: ${fmt(value)}`;
  const v = value ?? f[name as keyof ExpertFeatures];
  return v === undefined ? name : say(v, f);
}

/** Whether a code token can be a reason: an identifier or a keyword, never punctuation or a number. */
export const isReasonToken = (token: string) => /^[+-][a-z_$][a-z0-9_$]*$/i.test(token);
