import { countCommits, walkHistory, type HistoryOptions } from './history.js';
import type { Repository } from './repository.js';
import { AtomicFile } from '../util/atomicFile.js';

/**
 * `changeling mine`: a history as a JSONL dataset (one commit per line: message, files, diff), streamed to a
 * writer or written atomically to a file.
 */

export interface MineProgress {
  commits: number;
  /** Commits the walk will yield, as counted before it started. */
  total: number;
  elapsedMs: number;
}

export interface MineSummary {
  repo: string;
  out: string | null;
  head: string | null;
  shallow: boolean;
  bare: boolean;
  commits: number;
  merges: number;
  truncated: number;
  files: number;
  additions: number;
  deletions: number;
  bytes: number;
  seconds: number;
  commitsPerSecond: number;
}

export interface MineOptions extends HistoryOptions {
  onProgress?: (p: MineProgress) => void;
  /** Milliseconds between progress events (default 250). */
  progressEveryMs?: number;
}

/**
 * Mines the history into JSON lines (one commit each) handed to `sink`; the history dataset format that
 * `changeling mine` and "Changeling: Export history dataset" write.
 */
export async function mineHistory(
  repo: Repository,
  sink: (line: string) => Promise<void> | void,
  o: MineOptions = {},
): Promise<MineSummary> {
  const start = performance.now();
  const total = await countCommits(repo, o);
  const s: MineSummary = {
    repo: repo.root,
    out: null,
    head: repo.head,
    shallow: repo.shallow,
    bare: repo.bare,
    commits: 0,
    merges: 0,
    truncated: 0,
    files: 0,
    additions: 0,
    deletions: 0,
    bytes: 0,
    seconds: 0,
    commitsPerSecond: 0,
  };
  const every = o.progressEveryMs ?? 250;
  let last = 0;
  o.onProgress?.({ commits: 0, total, elapsedMs: 0 });
  if (total > 0) {
    for await (const c of walkHistory(repo, o)) {
      const line = JSON.stringify(c) + '\n';
      s.bytes += Buffer.byteLength(line);
      await sink(line);
      s.commits++;
      if (c.merge) s.merges++;
      if (c.truncated) s.truncated++;
      s.files += c.files.length;
      for (const f of c.files) {
        s.additions += f.additions;
        s.deletions += f.deletions;
      }
      const now = performance.now();
      if (now - last >= every) {
        last = now;
        o.onProgress?.({ commits: s.commits, total, elapsedMs: now - start });
      }
    }
  }
  s.seconds = (performance.now() - start) / 1000;
  s.commitsPerSecond = s.seconds > 0 ? s.commits / s.seconds : 0;
  o.onProgress?.({ commits: s.commits, total, elapsedMs: s.seconds * 1000 });
  return s;
}

/** Mines into a file, atomically: on failure or cancellation nothing is left at `out`. */
export async function mineToFile(repo: Repository, out: string, o: MineOptions = {}): Promise<MineSummary> {
  const file = await AtomicFile.create(out);
  try {
    const s = await mineHistory(repo, (line) => file.write(line), o);
    await file.commit();
    return { ...s, out };
  } catch (err) {
    await file.abort();
    throw err;
  }
}
