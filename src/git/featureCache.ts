import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { FEATURE_NAMES, FeatureState, walkFeatures, type ExpertFeatures, type FeatureStateJson } from './expertFeatures.js';
import { repoDataDir, type Repository } from './repository.js';
import { CODE_RULES_ID } from './codeFiles.js';
import { writeBytesAtomic } from '../util/atomicFile.js';
import { TEXT_CAP, readJsonFile } from '../util/jsonFile.js';

/**
 * Every commit's expert features and the state after HEAD, kept on disk in the git folder
 * (`changeling/features-cache.json`) so that `changeling risk` (and the pre-push hook) does not walk a large
 * history on every call: the same HEAD reads the cache; a HEAD that descends from the cached one walks only
 * the new commits (applied after the cached ones); anything else (a rewritten history) walks it all again.
 * A cache that cannot be read is rebuilt; one that cannot be written (a read-only repository) is skipped.
 */
// The features depend on which files are code: a cache made under other rules is walked again.
const FORMAT = `changeling-feature-history/2+${CODE_RULES_ID}`;

export interface FeatureHistory {
  state: FeatureState;
  features: Map<string, ExpertFeatures>;
  /** How it was obtained: from the cache as it was, by walking the new commits, or the whole history. */
  source: 'cache' | 'incremental' | 'full';
  walked: number;
}

interface CacheJson {
  format: string;
  head: string;
  state: FeatureStateJson;
  features: Array<[string, number[]]>;
}

async function load(path: string): Promise<CacheJson | null> {
  try {
    const j = (await readJsonFile(path, { max: TEXT_CAP })) as CacheJson;
    return j?.format === FORMAT && typeof j.head === 'string' ? j : null;
  } catch {
    return null;
  }
}

const toFeatures = (v: number[]) => Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, v[i] ?? 0])) as ExpertFeatures;

export async function featureHistory(repo: Repository, o: { signal?: AbortSignal; cache?: boolean } = {}): Promise<FeatureHistory> {
  const features = new Map<string, ExpertFeatures>();
  if (repo.head === null) return { state: new FeatureState(), features, source: 'full', walked: 0 };
  const dir = await repoDataDir(repo);
  const path = join(dir, 'features-cache.json');
  const cached = o.cache === false || !existsSync(path) ? null : await load(path);
  let from: FeatureState | undefined;
  let rev: string | undefined;
  let source: FeatureHistory['source'] = 'full';
  if (cached) {
    // The cached HEAD is an ancestor of HEAD when it is their merge base.
    const base =
      cached.head === repo.head ? cached.head : (await repo.git.raw(['merge-base', cached.head, repo.head]).catch(() => '')).trim();
    if (base === cached.head) {
      for (const [sha, v] of cached.features) features.set(sha, toFeatures(v));
      from = FeatureState.fromJSON(cached.state);
      if (cached.head === repo.head) return { state: from, features, source: 'cache', walked: 0 };
      rev = `${cached.head}..${repo.head}`;
      source = 'incremental';
    }
  }
  let walked = 0;
  const state = await walkFeatures(
    repo,
    (sha, f) => {
      features.set(sha, f);
      walked++;
    },
    { signal: o.signal, rev, from },
  );
  if (o.cache !== false) {
    const json: CacheJson = {
      format: FORMAT,
      head: repo.head,
      state: state.toJSON(),
      features: [...features].map(([sha, f]) => [sha, FEATURE_NAMES.map((n) => f[n])]),
    };
    await mkdir(dir, { recursive: true })
      .then(() => writeBytesAtomic(path, Buffer.from(JSON.stringify(json))))
      .catch(() => {});
  }
  return { state, features, source, walked };
}
