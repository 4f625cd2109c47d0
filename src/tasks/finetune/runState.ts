import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomicFile.js';
import type { FinetuneEvent } from './types.js';
import { readJsonFile } from '../../util/jsonFile.js';

/**
 * What a fine-tuning run leaves behind, kept honest: each run writes its own new folder (what is in use
 * changes only when the adoption record does), and a checkpoint records what it belongs to (base model,
 * data, settings) so that a later run resumes from it only when they match.
 */

/** A new folder name for this run's output: `<method>-<UTC time>`. */
export const runFolder = (root: string, method: string) =>
  join(root, `${method}-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${process.pid}`);

export const hashOf = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

/**
 * Keeps a checkpoint only if it belongs to `owner` (same model, data and settings); otherwise removes it
 * and says why the run starts fresh. Then records `owner` beside the checkpoint for the next run.
 */
export async function claimCheckpoint(checkpoint: string, owner: Record<string, unknown>, emit: (e: FinetuneEvent) => void): Promise<void> {
  const meta = `${checkpoint}.json`;
  if (existsSync(checkpoint)) {
    let had: Record<string, unknown> | null = null;
    try {
      had = (await readJsonFile(meta)) as Record<string, unknown>;
    } catch {
      had = null;
    }
    const differs =
      had === null
        ? ['its record is missing']
        : Object.keys(owner)
            .filter((k) => JSON.stringify(had![k]) !== JSON.stringify(owner[k]))
            .map((k) => `${k} was ${JSON.stringify(had![k]) ?? 'not recorded'}, now ${JSON.stringify(owner[k])}`);
    if (differs.length) {
      await rm(checkpoint, { force: true });
      emit({
        kind: 'stage',
        stage: 'training',
        message: `starting fresh: the checkpoint left by an earlier run belongs to another run (${differs.slice(0, 2).join('; ')})`,
      });
    }
  }
  await writeFileAtomic(meta, JSON.stringify(owner) + '\n');
}

export async function dropCheckpoint(checkpoint: string): Promise<void> {
  await rm(checkpoint, { force: true });
  await rm(`${checkpoint}.json`, { force: true });
}

/** Removes earlier runs' folders for `method` under `root`, except those named in `keep`. */
export async function pruneRuns(root: string, method: string, keep: Array<string | null | undefined>): Promise<void> {
  if (!existsSync(root)) return;
  const kept = new Set(keep.filter((k): k is string => !!k).map((k) => resolve(k)));
  for (const name of readdirSync(root)) {
    if (name !== method && !name.startsWith(`${method}-`)) continue;
    const p = resolve(root, name);
    if (!kept.has(p)) await rm(p, { recursive: true, force: true });
  }
}

/** The checkpoints an interrupted run left in a task's work folder (`finetune-<task>` in the repository's git folder). */
export function pendingCheckpoints(work: string): string[] {
  return existsSync(work)
    ? readdirSync(work)
        .filter((n) => n.endsWith('.checkpoint.safetensors'))
        .map((n) => join(work, n))
    : [];
}

/** Discards an interrupted run (its checkpoints, their records and the run's choice), so that it is never offered again. */
export async function discardRun(work: string): Promise<number> {
  const found = pendingCheckpoints(work);
  for (const c of found) await dropCheckpoint(c);
  await rm(join(work, 'run.json'), { force: true });
  return found.length;
}
