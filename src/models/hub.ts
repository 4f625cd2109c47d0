import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/atomicFile.js';
import { JSON_CAP, boundedBody } from '../util/jsonFile.js';
import { basename, dirname, join } from 'node:path';
import { ChangelingError, cancelledError, fileError } from '../util/errors.js';

/**
 * Downloads from a Hugging Face-hub-shaped endpoint: the revision is resolved to a commit through the
 * models API, each file is fetched (resuming with HTTP Range after a dropped connection), large (LFS)
 * files are checked against the SHA-256 the hub advertises, and the snapshot folder appears, by one
 * rename, only when every file is complete and verified: a partial model is never used.
 */
export interface HubModelSpec {
  id: string;
  revision?: string;
  /** Weight files in order of preference; the first the repository has is fetched. */
  weights: string[];
  files: string[];
  optional?: string[];
  /** Files Changeling writes into the snapshot itself (the model's profile, changeling.json). */
  extraFiles?: Record<string, string>;
}

export type DownloadEvent =
  | { kind: 'resolved'; id: string; commit: string; files: Array<{ name: string; size: number | null }> }
  | { kind: 'progress'; file: string; received: number; total: number | null; overall: number; overallTotal: number | null }
  | { kind: 'retry'; file: string; attempt: number; reason: string }
  | { kind: 'resume'; file: string; have: number }
  | { kind: 'done'; dir: string; commit: string; cached: boolean };

export interface DownloadOptions {
  endpoint?: string;
  cacheDir: string;
  signal?: AbortSignal;
  onEvent?: (e: DownloadEvent) => void;
  /** Retries per file after a dropped connection (default 4). */
  retries?: number;
  /** Header for private repositories. */
  token?: string;
  /** Milliseconds to wait for an answer's headers (default 30 s) and between bytes of a file (default 60 s). */
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
}

/** A fetch whose answer must start within `ms`; the caller's signal still cancels. */
async function fetchWithDeadline(
  url: string,
  init: RequestInit,
  o: DownloadOptions,
): Promise<{ response: Response; idle: () => void; done: () => void; stalled: () => TimeoutError | null }> {
  const ac = new AbortController();
  const onAbort = () => ac.abort(o.signal?.reason);
  o.signal?.addEventListener('abort', onAbort, { once: true });
  let timedOut: 'connect' | 'idle' | null = null;
  let timer = setTimeout(() => {
    timedOut = 'connect';
    ac.abort();
  }, o.connectTimeoutMs ?? 30_000);
  const done = () => {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', onAbort);
  };
  const idle = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = 'idle';
      ac.abort();
    }, o.idleTimeoutMs ?? 60_000);
  };
  try {
    const response = await fetch(url, { ...init, signal: ac.signal });
    idle();
    return { response, idle, done: () => done(), stalled: () => (timedOut ? new TimeoutError(timedOut, url, o) : null) };
  } catch (err) {
    done();
    if (timedOut) throw new TimeoutError(timedOut, url, o);
    throw err;
  }
}

const seconds = (ms: number) => (ms < 1000 ? (ms / 1000).toFixed(1) : String(Math.round(ms / 1000)));

class TimeoutError extends Error {
  constructor(
    readonly phase: 'connect' | 'idle',
    url: string,
    o: DownloadOptions,
  ) {
    super(
      phase === 'connect'
        ? `${new URL(url).origin} did not answer within ${seconds(o.connectTimeoutMs ?? 30_000)} s`
        : `the transfer from ${new URL(url).origin} stalled for ${seconds(o.idleTimeoutMs ?? 60_000)} s`,
    );
  }
}

interface Sibling {
  rfilename: string;
  size?: number;
  lfs?: { sha256?: string; oid?: string; size?: number };
}

const repoDir = (cacheDir: string, id: string) => join(cacheDir, `models--${id.replace('/', '--')}`);

function netError(err: unknown, url: string): ChangelingError {
  const e = err as { name?: string; cause?: { code?: string } };
  if (e?.name === 'AbortError') return cancelledError();
  const code = e?.cause?.code ?? '';
  if (['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH'].includes(code)) {
    return new ChangelingError(
      'io',
      `cannot reach ${new URL(url).origin} (${code}): offline? A model can also be copied into a folder by hand and chosen with "Local folder…" in Changeling: Choose models (or --model DIR)`,
    );
  }
  return new ChangelingError('io', `download of ${url} failed: ${(err as Error)?.message ?? String(err)}${code ? ` (${code})` : ''}`);
}

/** The hub's JSON answer, with a deadline and a few retries; a broken answer is a clear error. */
async function getJson(url: string, o: DownloadOptions): Promise<unknown> {
  const retries = o.retries ?? 4;
  for (let attempt = 0; ; attempt++) {
    if (o.signal?.aborted) throw cancelledError();
    let text: string;
    let status: number;
    try {
      const { response, done } = await fetchWithDeadline(url, { headers: o.token ? { authorization: `Bearer ${o.token}` } : {} }, o);
      try {
        status = response.status;
        // A hub answer is small: one that never ends or inflates is not one, and is not retried.
        text = await boundedBody(
          response,
          JSON_CAP,
          () =>
            new ChangelingError(
              'io',
              `the hub's answer for ${url} is over ${JSON_CAP / 2 ** 20} MiB: not a hub answer (a proxy or a broken mirror?)`,
            ),
        );
      } finally {
        done();
      }
    } catch (err) {
      if (err instanceof ChangelingError) throw err;
      if (o.signal?.aborted) throw cancelledError();
      if (attempt >= Math.min(retries, 2))
        throw err instanceof TimeoutError
          ? new ChangelingError('io', `${err.message} (tried ${attempt + 1} times): offline, or a slow mirror? (HF_ENDPOINT, --endpoint)`)
          : netError(err, url);
      o.onEvent?.({ kind: 'retry', file: 'the model list', attempt: attempt + 1, reason: (err as Error).message });
      await new Promise((res) => setTimeout(res, Math.min(2000, 200 * 2 ** attempt)));
      continue;
    }
    if (status === 404 || status === 401)
      throw new ChangelingError('not-found', `not found on the hub: ${url} (HTTP ${status}): check the model id and revision`);
    if (status >= 500 && attempt < Math.min(retries, 2)) continue;
    if (status < 200 || status >= 300) throw new ChangelingError('io', `the hub answered HTTP ${status} for ${url}`);
    try {
      return JSON.parse(text);
    } catch {
      throw new ChangelingError(
        'io',
        `the hub's answer for ${url} is not valid JSON (${text.length} bytes${text.length ? `, starting ${JSON.stringify(text.slice(0, 40))}` : ''}): a proxy or a broken mirror?`,
      );
    }
  }
}

/** A download that went past its size: what arrived is removed, and it is not retried. */
class OversizeError extends ChangelingError {}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Fetches one file into `dest`, resuming from what `dest` already holds. */
async function fetchFile(
  url: string,
  dest: string,
  name: string,
  size: number | null,
  o: DownloadOptions,
  report: (received: number) => void,
): Promise<void> {
  const retries = o.retries ?? 4;
  for (let attempt = 0; ; attempt++) {
    if (o.signal?.aborted) throw cancelledError();
    const have = existsSync(dest) ? (await stat(dest)).size : 0;
    if (size !== null && have === size) return;
    if (size !== null && have > size) await rm(dest);
    const start = size !== null && have > size ? 0 : have;
    let stalled: (() => TimeoutError | null) | null = null;
    try {
      const headers: Record<string, string> = start > 0 ? { range: `bytes=${start}-` } : {};
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      const deadline = await fetchWithDeadline(url, { headers }, o);
      const { response: r, idle, done } = deadline;
      stalled = deadline.stalled;
      let received: number;
      try {
        if (r.status === 404) throw new ChangelingError('not-found', `not found (HTTP 404): ${url}`);
        if (!r.ok) throw new Error(`HTTP ${r.status}`);
        const resumed = r.status === 206;
        // The most this file may hold: its listed size, else what the server announced for it.
        const announced = Number(r.headers.get('content-length'));
        const limit = size ?? (Number.isFinite(announced) && announced >= 0 ? (resumed ? start : 0) + announced : Infinity);
        const fh = await open(dest, resumed ? 'a' : 'w').catch((err) => {
          throw fileError(err, dest, 'creating');
        });
        received = resumed ? start : 0;
        try {
          for await (const chunk of r.body as unknown as AsyncIterable<Uint8Array>) {
            idle();
            if (received + chunk.length > limit) {
              await r.body?.cancel().catch(() => {});
              throw new OversizeError(
                'io',
                `${name} from ${url} is larger than ${size !== null ? 'its listed size' : 'the size the server announced'} (${limit} bytes): stopped there and removed; a broken mirror or proxy?`,
              );
            }
            await fh.write(chunk).catch((err) => {
              throw fileError(err, dest, 'writing');
            });
            received += chunk.length;
            report(received);
          }
        } finally {
          await fh.close();
        }
      } finally {
        done();
      }
      if (size !== null && received !== size) throw new Error(`connection closed after ${received} of ${size} bytes`);
      return;
    } catch (err) {
      if (err instanceof OversizeError) await rm(dest, { force: true });
      if (err instanceof ChangelingError) throw err;
      if (o.signal?.aborted) throw cancelledError();
      err = stalled?.() ?? err;
      if (attempt >= retries)
        throw err instanceof TimeoutError
          ? new ChangelingError(
              'io',
              `${err.message} while downloading ${name} (tried ${attempt + 1} times; the next call resumes what arrived)`,
            )
          : netError(err, url);
      o.onEvent?.({ kind: 'retry', file: name, attempt: attempt + 1, reason: (err as Error).message });
      await new Promise((res) => setTimeout(res, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
}

/**
 * One file from a plain URL (no hub API): fetched beside `dest` (resuming a partial one), checked against its
 * SHA-256, then renamed into place; a file that does not match is removed and is an error.
 */
export async function downloadVerifiedFile(
  url: string,
  dest: string,
  sha256: string,
  o: Omit<DownloadOptions, 'cacheDir'> & { size?: number; onProgress?: (received: number) => void },
): Promise<string> {
  if (existsSync(dest) && (await sha256File(dest)) === sha256) return dest;
  await mkdir(dirname(dest), { recursive: true }).catch((err) => {
    throw fileError(err, dirname(dest), 'creating');
  });
  const part = `${dest}.part`;
  const name = basename(dest);
  await fetchFile(url, part, name, o.size ?? null, { ...o, cacheDir: dirname(dest) }, (n) => o.onProgress?.(n));
  const got = await sha256File(part);
  if (got !== sha256) {
    await rm(part, { force: true });
    throw new ChangelingError(
      'io',
      `${name} from ${url} has SHA-256 ${got}, not the expected ${sha256}: a changed or corrupted file (removed)`,
    );
  }
  await rename(part, dest).catch((err) => {
    throw fileError(err, dest, 'saving');
  });
  return dest;
}

/** Downloads (or finds in the cache) a model snapshot; returns its folder. */
export async function downloadModel(spec: HubModelSpec, o: DownloadOptions): Promise<{ dir: string; commit: string }> {
  const endpoint = (o.endpoint ?? 'https://huggingface.co').replace(/\/+$/, '');
  const revision = spec.revision ?? 'main';
  const answer = await getJson(`${endpoint}/api/models/${spec.id}/revision/${encodeURIComponent(revision)}?blobs=true`, o);
  const info = (answer && typeof answer === 'object' && !Array.isArray(answer) ? answer : {}) as { sha?: string; siblings?: Sibling[] };
  if (!info.sha || !Array.isArray(info.siblings))
    throw new ChangelingError('io', `the hub's answer for ${spec.id} has no commit or file list`);
  const commit = info.sha;
  // The commit id becomes a folder name: only a real one (40 hex digits) is accepted.
  if (typeof commit !== 'string' || !/^[0-9a-f]{40}$/.test(commit))
    throw new ChangelingError(
      'io',
      `the hub's answer for ${spec.id} has an invalid commit id ${JSON.stringify(String(commit).slice(0, 60))}`,
    );
  for (const s of info.siblings) {
    const n = s && typeof s === 'object' ? s.rfilename : undefined;
    if (
      typeof n !== 'string' ||
      !n ||
      n.startsWith('/') ||
      n.split('/').some((p) => p === '..' || p === '.' || p === '') ||
      n.includes('\\') ||
      n.includes('\0')
    ) {
      throw new ChangelingError('io', `the hub's answer for ${spec.id} names an unsafe file ${JSON.stringify(String(n).slice(0, 60))}`);
    }
  }
  const base = repoDir(o.cacheDir, spec.id);
  const final = join(base, 'snapshots', commit);
  const have = new Map(info.siblings.map((s) => [s.rfilename, s]));
  const weight = spec.weights.find((w) => have.has(w));
  if (!weight) throw new ChangelingError('not-found', `${spec.id}@${revision} has none of ${spec.weights.join(', ')}`);
  const missing = spec.files.filter((f) => !have.has(f));
  if (missing.length) throw new ChangelingError('not-found', `${spec.id}@${revision} lacks ${missing.join(', ')}`);
  // A sharded checkpoint: the index and every shard file the repository has (model-00001-of-0000N.safetensors).
  const shards =
    weight === 'model.safetensors.index.json' ? [...have.keys()].filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).sort() : [];
  if (weight === 'model.safetensors.index.json' && shards.length === 0)
    throw new ChangelingError(
      'not-found',
      `${spec.id}@${revision} has model.safetensors.index.json but no model-NNNNN-of-NNNNN.safetensors shards`,
    );
  const wanted = [weight, ...shards, ...spec.files, ...(spec.optional ?? []).filter((f) => have.has(f))];
  const sizeOf = (x: unknown) => (Number.isSafeInteger(x) && (x as number) >= 0 ? (x as number) : null);
  const sizes = wanted.map((name) => ({ name, size: sizeOf(have.get(name)!.lfs?.size) ?? sizeOf(have.get(name)!.size) }));
  o.onEvent?.({ kind: 'resolved', id: spec.id, commit, files: sizes });
  if (existsSync(join(final, '.complete'))) {
    // A snapshot from before its profile was catalogued gets it now (written atomically beside the files).
    for (const [name, text] of Object.entries(spec.extraFiles ?? {}))
      if (!existsSync(join(final, name))) await writeFileAtomic(join(final, name), text);
    o.onEvent?.({ kind: 'done', dir: final, commit, cached: true });
    return { dir: final, commit };
  }
  // Partial downloads live in "incomplete/<commit>" and survive a restart (resumed with Range).
  const work = join(base, 'incomplete', commit);
  await mkdir(work, { recursive: true }).catch((err) => {
    throw fileError(err, work, 'creating');
  });
  const overallTotal = sizes.every((s) => s.size !== null) ? sizes.reduce((a, s) => a + s.size!, 0) : null;
  // Free disk first: what is still to come, plus room for the graphs built at first use (about the
  // weights' size again), so that a full disk is reported before the download, not in the middle of it.
  if (overallTotal !== null) {
    let have = 0;
    for (const { name } of sizes)
      have += await stat(join(work, name)).then(
        (x) => x.size,
        () => 0,
      );
    if (have > 0) o.onEvent?.({ kind: 'resume', file: sizes.find((s) => existsSync(join(work, s.name)))?.name ?? '', have });
    const needed = overallTotal - have;
    const free = await freeBytes(work);
    if (free !== null && free < needed + (64 << 20)) {
      throw new ChangelingError(
        'disk-full',
        `not enough free disk space for ${spec.id}: ${mib(needed)} MiB still to download, ${mib(free)} MiB free in ${o.cacheDir}${
          free < needed + overallTotal ? ` (its first use also caches about ${mib(overallTotal)} MiB of graphs)` : ''
        }; free some space and try again (what was downloaded so far is kept)`,
      );
    }
  }
  let done = 0;
  for (const { name, size } of sizes) {
    const dest = join(work, name);
    const url = `${endpoint}/${spec.id}/resolve/${commit}/${encodeURIComponent(name)}`;
    await fetchFile(url, dest, name, size, o, (received) =>
      o.onEvent?.({ kind: 'progress', file: name, received, total: size, overall: done + received, overallTotal }),
    );
    const expected = have.get(name)!.lfs?.sha256 ?? have.get(name)!.lfs?.oid;
    if (expected) {
      const got = await sha256File(dest);
      if (got !== expected) {
        await rm(dest, { force: true });
        throw new ChangelingError(
          'io',
          `checksum mismatch for ${spec.id}/${name}: the hub advertises sha256 ${expected}, the download has ${got}; the file was deleted, try again`,
        );
      }
    }
    done += size ?? (await stat(dest)).size;
  }
  for (const [name, text] of Object.entries(spec.extraFiles ?? {})) await writeFile(join(work, name), text);
  await writeFile(join(work, '.complete'), JSON.stringify({ id: spec.id, revision, commit, files: wanted, at: new Date().toISOString() }));
  await mkdir(join(base, 'snapshots'), { recursive: true });
  await rm(final, { recursive: true, force: true });
  await rename(work, final).catch((err) => {
    throw fileError(err, final, 'saving');
  });
  await mkdir(join(base, 'refs'), { recursive: true });
  await writeFile(join(base, 'refs', revision.replace(/\//g, '_')), commit);
  o.onEvent?.({ kind: 'done', dir: final, commit, cached: false });
  return { dir: final, commit };
}

const mib = (n: number) => (n / 2 ** 20).toFixed(0);

/** Free bytes on the file system holding `dir` (null when the platform cannot tell). */
async function freeBytes(dir: string): Promise<number | null> {
  if (process.env.CHANGELING_FREE_BYTES) return Number(process.env.CHANGELING_FREE_BYTES);
  try {
    const s = await statfs(dir);
    return Number(s.bavail) * Number(s.bsize);
  } catch {
    return null;
  }
}

/** The complete cached snapshot for a model id and revision, if any (never a partial one). */
export async function cachedModel(cacheDir: string, id: string, revision = 'main'): Promise<string | null> {
  const base = repoDir(cacheDir, id);
  const ref = await readFile(join(base, 'refs', revision.replace(/\//g, '_')), 'utf8').catch(() => null);
  const candidates = ref ? [ref.trim()] : await readdir(join(base, 'snapshots')).catch(() => []);
  for (const c of candidates) if (existsSync(join(base, 'snapshots', c, '.complete'))) return join(base, 'snapshots', c);
  return null;
}
