import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GraphBuilder } from '../graph/builder.js';
import { serialize } from '../graph/serialize.js';
import { writeModelFiles } from './session.js';
import { JSON_CAP, readBytesBoundedSync, readJsonFile } from '../util/jsonFile.js';
import { writeFileAtomic } from '../util/atomicFile.js';
import { removeAtExit } from '../util/cleanup.js';
import { notice } from '../util/notices.js';
import { errnoOf } from '../util/errors.js';
import { writeOutputFolder } from '../util/outputTarget.js';

/**
 * The ONNX graphs of a model, built on first use and cached on disk, keyed by the model's files (config,
 * weights path, size and modification time) and by the code that builds graphs, so that later runs load
 * them directly: no weights read into JavaScript, no graph building, no serialization.
 */
const BUILDER_VERSION = typeof __GRAPH_BUILDER_HASH__ === 'string' ? __GRAPH_BUILDER_HASH__ : 'dev';

/** Where graphs (and what was measured of this machine for them) are cached: CHANGELING_GRAPH_CACHE, else the user's cache folder. */
export function graphCacheDir(): string {
  return process.env.CHANGELING_GRAPH_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'changeling', 'graphs');
}

export function modelFingerprint(dir: string, weightsPath: string, extra: unknown): string {
  const st = statSync(weightsPath);
  const h = createHash('sha256');
  h.update(readBytesBoundedSync(join(dir, 'config.json'), JSON_CAP, 'the model config'));
  h.update(JSON.stringify({ weightsPath, size: st.size, mtime: st.mtimeMs, builder: BUILDER_VERSION, extra }));
  return h.digest('hex').slice(0, 24);
}

export interface CachedGraphs<M> {
  /** Model file per graph name. */
  files: Record<string, string>;
  meta: M;
  /** True when the graphs were built now, false when they came from the cache. */
  built: boolean;
}

/** The graphs for `key`, building them (all at once) with `build` when the cache lacks them. */
export async function cachedGraphs<M>(
  key: string,
  build: () => Promise<{ graphs: Record<string, GraphBuilder>; meta: M }>,
): Promise<CachedGraphs<M>> {
  const dir = join(graphCacheDir(), key);
  const manifest = join(dir, 'graphs.json');
  if (existsSync(manifest)) {
    const m = (await readJsonFile(manifest)) as { names: string[]; meta: M };
    return { files: Object.fromEntries(m.names.map((n) => [n, join(dir, `${n}.onnx`)])), meta: m.meta, built: false };
  }
  const { graphs, meta } = await build();
  const fill = async (tmp: string) => {
    for (const [name, b] of Object.entries(graphs))
      writeModelFiles(tmp, serialize(b, { externalName: `${name}.onnx.data` }), `${name}.onnx`);
    await writeFileAtomic(join(tmp, 'graphs.json'), JSON.stringify({ names: Object.keys(graphs), meta, builder: BUILDER_VERSION }));
  };
  const filesIn = (d: string) => Object.fromEntries(Object.keys(graphs).map((n) => [n, join(d, `${n}.onnx`)]));
  try {
    await writeOutputFolder(dir, fill, { what: 'the graph cache', owned: true });
    return { files: filesIn(dir), meta, built: true };
  } catch (err) {
    const code = errnoOf(err);
    if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw err;
  }
  // A cache that cannot be written (read-only): the graphs run from a private temporary folder instead.
  notice(`the graph cache ${graphCacheDir()} is read-only: running without caching (set CHANGELING_GRAPH_CACHE to a writable folder)`);
  const tmp = mkdtempSync(join(tmpdir(), 'changeling-graphs-'));
  removeAtExit(tmp);
  await fill(tmp);
  return { files: filesIn(tmp), meta, built: true };
}
