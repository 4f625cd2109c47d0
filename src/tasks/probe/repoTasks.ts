import { isCodeFile } from '../../git/codeFiles.js';
import { walkHistory } from '../../git/history.js';
import { repositoryName, type Repository } from '../../git/repository.js';
import type { CommitRecord, DiffFile } from '../../git/types.js';
import { seededRandom } from '../../train/batching.js';
import { ChangelingError } from '../../util/errors.js';
import { checkedData, type ProbeData, type ProbeExample, type Split } from './probeData.js';

/**
 * The study's CCM and LTP probing tasks built from a repository's own history, in the form its files have
 * (read from PEFT4CC's CCM_1k.txt and LTP_1k.txt: every example is one commit that changed one file):
 * - a change is its file's short path (parent folder and name) and its changed lines, each stripped of
 *   indentation and trailing space, marked `<add>` or `<del>`;
 * - CCM: `subject<add>path<add>line...<del>path<del>line...` (added lines, then removed lines), labelled
 *   True when the subject is the commit's own and False when it is another commit's of the same split
 *   (half each, drawn with a fixed seed);
 * - LTP: `<del>path<add>path` and the changed lines in diff order, one marker (a line's or a path's) replaced
 *   by `<mask>`, labelled with the marker it hides (`add` or `del`).
 * Qualifying commits: not merges, one changed code file (the extension list of `git/codeFiles.ts`), text,
 * at least one changed line, a subject. The newest `max` of them (default 1,000, the study's size), split by
 * time: the oldest 60% for training, the next 20% for validation, the newest 20% for testing, so a probe is
 * tested on changes later than any it was fitted on.
 */
export interface RepoTaskOptions {
  /** Examples per task (commits used), newest first; default 1000. */
  max?: number;
  /** Changed lines kept per change (the model reads 510 tokens at most anyway); default 200. */
  maxLines?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

export interface RepoTasks {
  ccm: ProbeData;
  ltp: ProbeData;
  /** Commits walked, and those used. */
  walked: number;
  used: number;
}

interface Change {
  subject: string;
  path: string;
  /** Changed lines in diff order. */
  lines: Array<{ kind: 'add' | 'del'; text: string }>;
}

const clean = (s: string) => s.replace(/[\t\r\n]+/g, ' ').trim();

function shortPath(path: string): string {
  const parts = path.split('/');
  return parts.slice(-2).join('/');
}

function changeOf(c: CommitRecord, maxLines: number): Change | null {
  if (c.merge || c.truncated || c.files.length !== 1) return null;
  const f: DiffFile = c.files[0]!;
  if (!isCodeFile(f) || f.submodule || f.combined) return null;
  const subject = clean(c.message.split('\n')[0] ?? '');
  if (!subject) return null;
  const lines: Change['lines'] = [];
  for (const h of f.hunks) {
    for (const l of h.lines) {
      if (l[0] !== '+' && l[0] !== '-') continue;
      if (lines.length < maxLines) lines.push({ kind: l[0] === '+' ? 'add' : 'del', text: clean(l.slice(1)) });
    }
  }
  return lines.length ? { subject, path: shortPath(f.path), lines } : null;
}

function ccmText(subject: string, ch: Change): string {
  const side = (kind: 'add' | 'del') =>
    `<${kind}>${ch.path}` +
    ch.lines
      .filter((l) => l.kind === kind)
      .map((l) => `<${kind}>${l.text}`)
      .join('');
  return subject + side('add') + side('del');
}

/** The LTP segments of a change: the two paths, then the lines in diff order. */
function ltpSegments(ch: Change): Array<{ kind: 'add' | 'del'; text: string }> {
  return [{ kind: 'del', text: ch.path }, { kind: 'add', text: ch.path }, ...ch.lines];
}

const splitOf = (i: number, n: number): Split => (i < Math.round(0.6 * n) ? 'tr' : i < Math.round(0.8 * n) ? 'va' : 'te');

export async function repositoryProbeTasks(repo: Repository, o: RepoTaskOptions = {}): Promise<RepoTasks> {
  const max = o.max ?? 1000;
  const changes: Change[] = [];
  let walked = 0;
  for await (const c of walkHistory(repo, { noMerges: true, maxDiffBytes: 64 << 10, signal: o.signal })) {
    walked++;
    const ch = changeOf(c, o.maxLines ?? 200);
    if (ch) changes.push(ch);
    if (walked % 500 === 0) o.onProgress?.(`reading the history: ${walked} commits, ${changes.length} usable`);
    if (changes.length >= max) break;
  }
  if (changes.length < 10)
    throw new ChangelingError(
      'usage',
      `the history has ${changes.length} commits that change one code file (of ${walked} walked): too few to build probing tasks from (10 at least; the study uses 1,000)`,
    );
  changes.reverse(); // oldest first
  const n = changes.length;
  const rand = seededRandom(o.seed ?? 42);
  const splits = changes.map((_, i) => splitOf(i, n));
  // CCM: within each split, a random half keeps its subject, the other half takes another commit's.
  const ccm: ProbeExample[] = [];
  for (const s of ['tr', 'va', 'te'] as const) {
    const idx = changes.map((_, i) => i).filter((i) => splits[i] === s);
    const order = idx
      .map((i) => ({ i, r: rand() }))
      .sort((a, b) => a.r - b.r)
      .map((x) => x.i);
    const falseSet = new Set(order.slice(0, Math.floor(order.length / 2)));
    for (const i of idx) {
      let subject = changes[i]!.subject;
      if (falseSet.has(i)) {
        const others = idx.filter((j) => changes[j]!.subject !== subject);
        if (others.length === 0) continue;
        subject = changes[others[Math.floor(rand() * others.length)]!]!.subject;
      }
      ccm.push({ split: s, label: falseSet.has(i) ? 'False' : 'True', text: ccmText(subject, changes[i]!) });
    }
  }
  if (!ccm.some((e) => e.label === 'False'))
    throw new ChangelingError(
      'usage',
      `every usable commit has the same subject (${JSON.stringify(changes[0]!.subject.slice(0, 60))}): CCM needs other commits' subjects to pair with`,
    );
  const ltp: ProbeExample[] = changes.map((ch, i) => {
    const segs = ltpSegments(ch);
    const m = Math.floor(rand() * segs.length);
    return { split: splits[i]!, label: segs[m]!.kind, text: segs.map((g, k) => `${k === m ? '<mask>' : `<${g.kind}>`}${g.text}`).join('') };
  });
  const name = repositoryName(repo);
  return { ccm: checkedData(`CCM of ${name}`, ccm), ltp: checkedData(`LTP of ${name}`, ltp), walked, used: n };
}
