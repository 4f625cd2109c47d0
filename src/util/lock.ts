import { readFileSync } from 'node:fs';
import { mkdir, open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ChangelingError, fileError } from './errors.js';
import { removeAtExit } from './cleanup.js';

/**
 * One long job of a kind at a time per repository (fine-tuning for a task, training its risk model): a
 * lock file created exclusively, holding the owner's pid, what it does and when it started. A lock whose
 * process is gone (killed, crashed) is taken over; a live one is a clear error naming the other run.
 */
interface LockInfo {
  pid: number;
  what: string;
  started: string;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

export async function withLock<T>(path: string, what: string, fn: () => Promise<T>): Promise<T> {
  await mkdir(dirname(path), { recursive: true }).catch((err) => {
    throw fileError(err, dirname(path), 'creating');
  });
  const mine: LockInfo = { pid: process.pid, what, started: new Date().toISOString() };
  for (let attempt = 0; ; attempt++) {
    try {
      const h = await open(path, 'wx');
      await h.writeFile(JSON.stringify(mine));
      await h.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 2) throw fileError(err, path, 'locking');
      let other: LockInfo | null = null;
      try {
        other = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
      } catch {
        other = null; // half-written by a process that died: stale
      }
      if (other && Number.isInteger(other.pid) && other.pid !== process.pid && alive(other.pid)) {
        throw new ChangelingError(
          'usage',
          `another run is busy with this repository: ${other.what} (process ${other.pid}, since ${other.started}); wait for it to finish or stop it`,
        );
      }
      await rm(path, { force: true });
    }
  }
  const release = removeAtExit(path);
  try {
    return await fn();
  } finally {
    await rm(path, { force: true });
    release();
  }
}
