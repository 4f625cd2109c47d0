/** A risk reason in words: an expert feature with its value, or a code token the change adds or removes. */
const FEATURE_TEXT: Record<string, string> = {
  ns: 'top-level directories touched', nd: 'directories touched', nf: 'files touched', entropy: 'spread of the change over files',
  la: 'lines added', ld: 'lines deleted', lt: 'lines in the touched files before', fix: 'a bug fix', ndev: 'earlier developers of the files',
  age: 'days since the files last changed', nuc: 'earlier changes to the files', exp: "author's earlier commits", rexp: "author's recent commits", sexp: "author's commits to these subsystems",
};

export function reasonText(name: string, value?: number): string {
  if (name.startsWith('token ')) return `${name[6] === '+' ? 'adds' : 'removes'} "${name.slice(7)}"`;
  return `${FEATURE_TEXT[name] ?? name}${value === undefined ? '' : `: ${Number.isInteger(value) ? value : value.toFixed(2)}`}`;
}
