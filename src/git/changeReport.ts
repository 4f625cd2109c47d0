import { fieldText } from '../util/text.js';
import type { ChangeView } from './currentChange.js';
import { diffTotals, type DiffFile } from './types.js';

/** The JSON form: the files without their line bodies (those belong in `mine`), with totals and drops. */
export function viewJson(v: ChangeView) {
  return {
    source: v.source,
    repo: v.repo,
    branch: v.branch,
    commit: v.commit,
    truncated: v.truncated,
    totals: diffTotals(v.files),
    files: v.files.map(({ hunks, ...f }) => ({ ...f, hunks: hunks.length })),
    modelInput: {
      kept: v.filter.kept.map((f) => f.path),
      dropped: v.filter.dropped,
    },
  };
}

const STATUS_LETTER: Record<DiffFile['status'], string> = { added: 'A', deleted: 'D', modified: 'M', renamed: 'R', copied: 'C' };

export function renderView(v: ChangeView): string {
  const out: string[] = [];
  const where = v.branch ? `branch ${v.branch}` : 'detached HEAD';
  if (v.source === 'staged') out.push(`Staged change in ${v.repo} (${where})`);
  else {
    const why =
      v.commit!.reason === 'nothing-staged' ? ', nothing is staged' : v.commit!.reason === 'bare-repository' ? ', bare repository' : '';
    out.push(`Commit ${v.commit!.sha.slice(0, 12)} in ${v.repo} (${where}${why})`);
    out.push(`  ${fieldText(v.commit!.subject, 200)}`);
  }
  const drops = new Map(v.filter.dropped.map((d) => [d.path, d]));
  const names = v.files.map(
    (f) =>
      (f.oldPath ? `${fieldText(f.oldPath, 120)} -> ${fieldText(f.path, 120)}` : fieldText(f.path, 200)) +
      (f.similarity !== null && f.oldPath ? ` (${f.similarity}%)` : ''),
  );
  const width = Math.min(60, Math.max(4, ...names.map((n) => n.length)));
  out.push('');
  out.push(`  st ${'path'.padEnd(width)}  ${'+'.padStart(7)} ${'-'.padStart(7)} ${'hunks'.padStart(6)}`);
  v.files.forEach((f, i) => {
    const flags = [
      f.binary ? 'binary' : '',
      f.submodule ? 'submodule' : '',
      f.oldMode && f.newMode && f.oldMode !== f.newMode ? `mode ${f.oldMode}->${f.newMode}` : '',
      f.truncated ? 'truncated' : '',
      f.nonUtf8 ? 'non-UTF-8' : '',
      f.crlf ? 'CRLF' : '',
    ].filter(Boolean);
    const d = drops.get(f.path);
    if (d)
      flags.splice(
        0,
        flags.length,
        ...flags.filter((x) => x !== d.reason),
        `dropped: ${d.reason}${d.reason === 'binary' ? '' : ` (${d.detail})`}`,
      );
    const count = (n: number) => (f.binary ? '-' : String(n)).padStart(7);
    out.push(
      `  ${STATUS_LETTER[f.status]}  ${names[i]!.padEnd(width)}  ${count(f.additions)} ${count(f.deletions)} ` +
        `${String(f.hunks.length).padStart(6)}${flags.length ? '  ' + flags.join(', ') : ''}`,
    );
  });
  const t = diffTotals(v.files);
  out.push('');
  out.push(
    `${t.files} file${t.files === 1 ? '' : 's'}, ${t.hunks} hunk${t.hunks === 1 ? '' : 's'}, +${t.additions} -${t.deletions}${v.truncated ? ' (diff over the size cap: some hunks not read)' : ''}`,
  );
  if (v.files.length === 0) out.push('The change is empty (no file changes).');
  else if (v.filter.dropped.length === 0) out.push(`Model input: all ${t.files} files kept.`);
  else {
    out.push(`Model input: ${v.filter.kept.length} of ${t.files} files kept; dropped ${v.filter.dropped.length}:`);
    for (const d of v.filter.dropped) out.push(`  ${fieldText(d.path, 200)}: ${d.reason} (${fieldText(d.detail, 200)})`);
  }
  return out.join('\n') + '\n';
}
