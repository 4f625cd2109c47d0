import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gitText } from '../../git/run.js';
import { repoDataDir, type Repository } from '../../git/repository.js';
import { writeFileAtomic } from '../../util/atomicFile.js';
import { readJsonFile, readTextFile } from '../../util/jsonFile.js';
import { withLock } from '../../util/lock.js';

/**
 * What the user did with a suggestion: the message ✨ (or the prepare-commit-msg hook) put in, paired with the
 * message they committed. Both paths note the suggestion as pending (`noteSuggestion`); when the next commit
 * lands on top of the HEAD it was suggested for (VS Code sees HEAD move; the post-commit hook runs `changeling
 * edits --record-commit`), `recordCommit` pairs the two. Pairs are JSON Lines in the repository's git common
 * folder (`changeling/edits.jsonl`, so linked worktrees share them), the newest EDIT_CAP kept, never sent
 * anywhere; `git config changeling.messages.learnFromEdits false` (or VS Code's setting) stops recording and
 * `clearEdits` forgets them. Fine-tuning a code LLM learns from them (`finetune/cmgLlm.ts`).
 */
export interface EditPair {
  /** The commit the message was written for. */
  sha: string;
  suggested: string;
  committed: string;
  /** When it was committed (ISO). */
  at: string;
  /** Where the suggestion came from: VS Code's ✨ or the prepare-commit-msg hook. */
  via: 'vscode' | 'hook';
  /** What wrote the suggestion (a model folder, "history" for another commit's message). */
  writer: string;
}

interface Pending {
  suggested: string;
  /** HEAD when it was suggested; null before the first commit. */
  head: string | null;
  at: string;
  via: EditPair['via'];
  writer: string;
}

/** At most this many pairs are kept, the oldest dropped first. */
export const EDIT_CAP = 10_000;
/** An edit pair counts this many times a history commit in fine-tuning's rows. */
export const EDIT_WEIGHT = 2;
/** A suggestion older than this is not paired with a commit (the user moved on). */
const PENDING_HOURS = 24;
/** The git config key that turns recording off (false) for a repository. */
export const LEARN_KEY = 'changeling.messages.learnFromEdits';

const files = async (repo: Repository) => {
  const dir = await repoDataDir(repo);
  return { dir, pairs: join(dir, 'edits.jsonl'), pending: join(dir, 'edits-pending.json'), lock: join(dir, 'locks', 'edits.lock') };
};

/** Whether this repository records edits: not when a setting says no, nor when `git config changeling.messages.learnFromEdits` is false. */
export async function learningFromEdits(repo: Repository, setting?: boolean): Promise<boolean> {
  if (setting === false) return false;
  const v = (await gitText(repo.root, ['config', '--bool', LEARN_KEY]).catch(() => '')).trim();
  return v !== 'false';
}

/** Notes the message just suggested for the staged change (replacing an earlier note): the next commit may pair with it. */
export async function noteSuggestion(
  repo: Repository,
  s: { suggested: string; via: EditPair['via']; writer: string; setting?: boolean },
): Promise<boolean> {
  if (!s.suggested.trim() || !(await learningFromEdits(repo, s.setting))) return false;
  const f = await files(repo);
  await mkdir(f.dir, { recursive: true });
  const p: Pending = { suggested: s.suggested.trim(), head: repo.head, at: new Date().toISOString(), via: s.via, writer: s.writer };
  await writeFileAtomic(f.pending, JSON.stringify(p) + '\n');
  return true;
}

/** Whether a suggestion is waiting for its commit (cheap: one file's existence). */
export async function hasPendingSuggestion(repo: Repository): Promise<boolean> {
  return existsSync((await files(repo)).pending);
}

/**
 * Pairs the pending suggestion with the commit now at HEAD, when that commit was made on top of the HEAD the
 * suggestion was for, within a day of the note: returns the pair, or null (nothing pending, no new commit yet: the note
 * stays; a commit elsewhere, an old note: it goes). Only one caller claims a note (it is renamed away first), so
 * VS Code and the hook never record a commit twice.
 */
export async function recordCommit(repo: Repository, o: { setting?: boolean } = {}): Promise<EditPair | null> {
  const f = await files(repo);
  if (!existsSync(f.pending)) return null;
  const pending = (await readJsonFile(f.pending, { max: 1 << 20 }).catch(() => null)) as Pending | null;
  const drop = () => rm(f.pending, { force: true }).then(() => null);
  if (!pending || typeof pending.suggested !== 'string' || !(await learningFromEdits(repo, o.setting))) return drop();
  const head = (await gitText(repo.root, ['rev-parse', '--verify', '-q', 'HEAD^{commit}']).catch(() => '')).trim();
  if (!head || head === pending.head) return null; // not committed yet
  const [sha, parents, time, ...rest] = (await gitText(repo.root, ['log', '-1', '--format=%H%x00%P%x00%cI%x00%B', head, '--'])).split('\0');
  const first = parents!.trim().split(' ')[0] || null;
  const age = Date.now() - Date.parse(pending.at);
  // The commit's own dates are the user's to set (rebase, GIT_COMMITTER_DATE): only its parent and the note's age count.
  if (first !== pending.head || !(age >= 0 && age < PENDING_HOURS * 3600_000)) return drop();
  // Claimed by renaming: whoever renames it records it.
  const claimed = `${f.pending}.${process.pid}`;
  try {
    await rename(f.pending, claimed);
  } catch {
    return null;
  }
  const pair: EditPair = {
    sha: sha!.trim(),
    suggested: pending.suggested,
    committed: rest.join('\0').trim(),
    at: time!.trim(),
    via: pending.via === 'hook' ? 'hook' : 'vscode',
    writer: String(pending.writer ?? ''),
  };
  try {
    await withLock(f.lock, 'recording a message edit', async () => {
      const kept = [...(await editPairsAt(f.pairs)), pair].slice(-EDIT_CAP);
      await writeFileAtomic(f.pairs, kept.map((x) => JSON.stringify(x)).join('\n') + '\n');
    });
  } catch (err) {
    // Not recorded (another writer holds the lock, a full disk): the note goes back for the next try.
    await rename(claimed, f.pending).catch(() => undefined);
    throw err;
  }
  await rm(claimed, { force: true });
  return pair;
}

async function editPairsAt(path: string): Promise<EditPair[]> {
  if (!existsSync(path)) return [];
  const out: EditPair[] = [];
  for (const line of (await readTextFile(path, { max: 256 * 2 ** 20, what: 'the recorded edits' })).split('\n')) {
    if (!line.trim()) continue;
    try {
      const x = JSON.parse(line) as EditPair;
      if (typeof x.sha === 'string' && typeof x.suggested === 'string' && typeof x.committed === 'string') out.push(x);
    } catch {
      // a damaged line is skipped; the others stay
    }
  }
  return out;
}

/** The recorded pairs of a repository's data folder (`repoDataDir`), oldest first. */
export async function editPairs(dataDir: string): Promise<EditPair[]> {
  return editPairsAt(join(dataDir, 'edits.jsonl'));
}

/** Forgets every recorded pair and the pending note; returns how many pairs there were. */
export async function clearEdits(repo: Repository): Promise<number> {
  const f = await files(repo);
  const n = (await editPairsAt(f.pairs)).length;
  await withLock(f.lock, 'forgetting the recorded message edits', async () => {
    await rm(f.pairs, { force: true });
    await rm(f.pending, { force: true });
  });
  return n;
}
