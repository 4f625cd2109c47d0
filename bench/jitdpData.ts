import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { openRepository, type Repository } from '../src/git/repository.js';
import { jitdpDataset, type JitdpDataset } from '../src/tasks/jitdp/dataset.js';
import { readJitdpDataset, writeJitdpDataset } from '../src/tasks/jitdp/datasetFile.js';

/** A repository's display name: owner+name mirrors and bare `repo` folders are named by their parent. */
export function repoName(repo: Repository): string {
  const b = basename(repo.root);
  return b === 'repo' || b === '.git' ? basename(dirname(repo.root)) : b;
}

/** The JIT-DP dataset of a repository, from `cache` when one was built at the same HEAD. */
export async function cachedDataset(
  path: string,
  cache: string | null,
): Promise<{ repo: Repository; data: JitdpDataset; seconds: number }> {
  const repo = await openRepository(path);
  const file = cache ? join(cache, `${repoName(repo)}-${(repo.head ?? 'empty').slice(0, 12)}.json`) : null;
  const t0 = performance.now();
  if (file && existsSync(file)) return { repo, data: await readJitdpDataset(file), seconds: 0 };
  const data = await jitdpDataset(repo);
  if (file) {
    await mkdir(dirname(file), { recursive: true });
    await writeJitdpDataset(file, data, repo.head);
  }
  return { repo, data, seconds: (performance.now() - t0) / 1000 };
}
