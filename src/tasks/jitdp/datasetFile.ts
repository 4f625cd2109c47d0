import { readJsonFile } from '../../util/jsonFile.js';
import { writeBytesAtomic } from '../../util/atomicFile.js';
import { ChangelingError } from '../../util/errors.js';
import type { JitdpCommit, JitdpDataset } from './dataset.js';

/**
 * A JIT-DP dataset on disk (JSON, written atomically): the splits with features, tokens, text and labels,
 * and the SZZ summary, so that models can be trained and compared without walking and blaming the history
 * again. `head` records the commit the dataset was built at.
 */
const FORMAT = 'changeling-jitdp-dataset/1';

type StoredCommit = Omit<JitdpCommit, 'tokens'> & { tokens: Record<string, number> };

export async function writeJitdpDataset(path: string, ds: JitdpDataset, head: string | null): Promise<void> {
  const store = (cs: JitdpCommit[]): StoredCommit[] => cs.map((c) => ({ ...c, tokens: Object.fromEntries(c.tokens) }));
  const szz = { commits: ds.szz.commits, fixes: ds.szz.fixes, droppedFixes: ds.szz.droppedFixes, answered: ds.szz.answered };
  await writeBytesAtomic(
    path,
    Buffer.from(
      JSON.stringify({ format: FORMAT, head, train: store(ds.train), validation: store(ds.validation), test: store(ds.test), szz }),
    ),
  );
}

export async function readJitdpDataset(path: string): Promise<JitdpDataset & { head: string | null }> {
  // A dataset holds every commit's changed lines (capped per commit): a long history is tens of MiB.
  const o = (await readJsonFile(path, { max: 512 << 20, what: 'the JIT-DP dataset' })) as Record<string, unknown>;
  if (o?.format !== FORMAT) throw new ChangelingError('io', `${path} is not a Changeling JIT-DP dataset (format ${String(o?.format)})`);
  const load = (cs: StoredCommit[]): JitdpCommit[] => cs.map((c) => ({ ...c, tokens: new Map(Object.entries(c.tokens)) }));
  const s = o.szz as {
    commits: JitdpDataset['szz']['commits'];
    fixes: JitdpDataset['szz']['fixes'];
    droppedFixes: JitdpDataset['szz']['droppedFixes'];
    answered?: JitdpDataset['szz']['answered'];
  };
  const fixedBy = new Map<string, string[]>();
  for (const f of s.fixes) for (const b of f.blamed) fixedBy.set(b, [...(fixedBy.get(b) ?? []), f.sha]);
  return {
    head: (o.head as string | null) ?? null,
    train: load(o.train as StoredCommit[]),
    validation: load(o.validation as StoredCommit[]),
    test: load(o.test as StoredCommit[]),
    szz: { ...s, answered: s.answered ?? { traced: 0, blamed: 0, mergeDiffs: 0 }, fixedBy },
  };
}
