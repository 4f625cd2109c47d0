import { walkHistory } from '../../git/history.js';
import type { Repository } from '../../git/repository.js';
import type { DiffFile } from '../../git/types.js';
import { cancelledError } from '../../util/errors.js';
import type { MessageModel } from './generate.js';
import { cleanMessage } from './messageClean.js';

/**
 * The commit-message dataset of a repository: its (diff, message) pairs in a model's own format, the author
 * history each pair carries, the time-ordered splits, and a model's messages for a split. Used by
 * `finetune --task cmg`, `export --task cmg` and `adopt --task cmg` (the JIT-DP dataset is `jitdp/dataset.ts`).
 */
export interface Pair {
  sha: string;
  subject: string;
  /** The whole message. */
  message: string;
  /** The author's e-mail, lower-cased. */
  author: string;
  files: DiffFile[];
}

/** The non-merge commits with a subject and a diff, oldest first (the newest `max`): commit-message pairs. */
export async function subjectHistory(
  repo: Repository,
  max: number,
  signal?: AbortSignal,
  o: { ignoreWhitespace?: boolean } = {},
): Promise<Pair[]> {
  const out: Pair[] = [];
  for await (const c of walkHistory(repo, { max, noMerges: true, maxDiffBytes: 64 << 10, signal, ignoreWhitespace: o.ignoreWhitespace })) {
    const subject = c.message.split('\n')[0]!.trim();
    if (subject && c.files.length)
      out.push({ sha: c.sha, subject, message: c.message.trim(), author: c.author.email.toLowerCase(), files: c.files });
  }
  return out.reverse(); // oldest first
}

/**
 * A history's commit-message pairs in a model's own format: CommitChronicle models read whitespace-insensitive
 * diffs and were trained on whole messages cleaned as the dataset cleaned them (commits whose message the
 * cleaning drops are left out, as the dataset left them out); other models on subject lines. With each
 * commit, its author's earlier messages (for models trained with history). Used by finetune, export and adopt.
 */
export async function cmgPairs(
  repo: Repository,
  base: MessageModel,
  o: { maxCommits?: number; signal?: AbortSignal } = {},
): Promise<{ all: Pair[]; historyOf: Map<string, string[]> }> {
  const chronicle = base.profile.inputFormat !== 'study';
  const mined = await subjectHistory(repo, o.maxCommits ?? 20000, o.signal, { ignoreWhitespace: chronicle });
  const all = chronicle ? mined.map((p) => ({ ...p, subject: cleanMessage(p.message) })).filter((p) => p.subject) : mined;
  const earlier = new Map<string, string[]>();
  const historyOf = new Map<string, string[]>();
  for (const p of all) {
    const h = earlier.get(p.author) ?? [];
    historyOf.set(p.sha, base.usesHistory ? h.slice(-64) : []);
    earlier.set(p.author, [...h.slice(-63), p.message]);
  }
  return { all, historyOf };
}

/** Oldest 80% to train, next 10% to validate, newest 10% to test. */
export function timeSplits<T>(all: readonly T[]): { train: T[]; validation: T[]; test: T[] } {
  const a = Math.floor(all.length * 0.8);
  const b = Math.floor(all.length * 0.9);
  return { train: all.slice(0, a), validation: all.slice(a, b), test: all.slice(b) };
}

/** The model's best message for each pair, with the generation settings finetune evaluates with. */
export async function generateFor(
  m: MessageModel,
  pairs: readonly Pair[],
  historyOf: ReadonlyMap<string, string[]>,
  o: { quick?: boolean; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {},
): Promise<string[]> {
  const chronicle = m.profile.inputFormat !== 'study';
  const preds: string[] = [];
  for (const [i, p] of pairs.entries()) {
    if (o.signal?.aborted) throw cancelledError();
    // The profile's generation settings (CommitChronicle: 10 beams, 15 new tokens), fewer beams when quick.
    preds.push(
      (
        await m.generate(m.prepare(p.files, { history: historyOf.get(p.sha) }), {
          beams: o.quick ? 2 : chronicle ? undefined : 5,
          n: 1,
          maxNewTokens: chronicle ? undefined : 32,
        })
      )[0]?.message ?? '',
    );
    if (i % 10 === 0) o.onProgress?.(i + 1, pairs.length);
  }
  return preds;
}
