import { join } from 'node:path';
import { defaultModelCache } from '../../models/manifest.js';
import { downloadVerifiedFile } from '../../models/hub.js';

/**
 * The study's three probing tasks, fetched on first use from the repositories that publish them (pinned to a
 * commit and checked against their SHA-256; never shipped in the extension) into the cache beside the models:
 * - `ccm` (code-change/message matching, PEFT4CC datasets/probing/CCM_1k.txt): does the message belong to the
 *   change? 1,000 examples, True/False balanced;
 * - `ltp` (line type prediction, LTP_1k.txt): is the line shown as <mask> an added or a removed line?
 *   1,000 examples, 586 add / 414 del;
 * - `typ` (typo detection, giganticode/probes data/datasets_TYP/TYP_ORIG_1k.txt): does the Java method
 *   have a misspelt token? 1,000 examples, ORIG/FAULT balanced.
 * Each has 600 training, 200 validation and 200 test examples.
 */
export type StudyTask = 'ccm' | 'ltp' | 'typ';

interface StudyTaskFile {
  file: string;
  /** Path under the raw-file endpoint: owner/repository/commit/path. */
  path: string;
  sha256: string;
  size: number;
  what: string;
}

export const STUDY_TASKS: Record<StudyTask, StudyTaskFile> = {
  ccm: {
    file: 'CCM_1k.txt',
    path: 'ishuoliu/PEFT4CC/0b1dff2a42cc835804ca867b2ef7b44b28efad69/datasets/probing/CCM_1k.txt',
    sha256: 'fdc4b08575dc52b571dbe4be32cb117384ddac4f57a15a95464dfae06dafa8c0',
    size: 351010,
    what: 'does the message belong to the change',
  },
  ltp: {
    file: 'LTP_1k.txt',
    path: 'ishuoliu/PEFT4CC/0b1dff2a42cc835804ca867b2ef7b44b28efad69/datasets/probing/LTP_1k.txt',
    sha256: 'dcd70a84193a5c00f45ad7be704a837a697064ba7f32e5e664c2ac57eb9e4315',
    size: 302264,
    what: 'is the masked line added or removed',
  },
  typ: {
    file: 'TYP_ORIG_1k.txt',
    path: 'giganticode/probes/935f0b239a9219b8e00cb00ff3663dfdf2aa4679/data/datasets_TYP/TYP_ORIG_1k.txt',
    sha256: 'f274a92261df3b1366862ef44de8891d815a0a0db2584435240913ceffee06b2',
    size: 1467301,
    what: 'does the method hold a typo',
  },
};

export const isStudyTask = (t: string): t is StudyTask => t === 'ccm' || t === 'ltp' || t === 'typ';

/** The task's file in the cache, downloaded and verified first when it is not there. */
export async function studyTaskFile(
  task: StudyTask,
  o: { endpoint?: string; cacheDir?: string; signal?: AbortSignal; onProgress?: (message: string) => void } = {},
): Promise<string> {
  const t = STUDY_TASKS[task];
  const endpoint = (o.endpoint ?? process.env.CHANGELING_PROBE_DATA_ENDPOINT ?? 'https://raw.githubusercontent.com').replace(/\/+$/, '');
  const dest = join(o.cacheDir ?? join(defaultModelCache(), '..', 'probing'), t.file);
  return downloadVerifiedFile(`${endpoint}/${t.path}`, dest, t.sha256, {
    size: t.size,
    signal: o.signal,
    onProgress: (n) => o.onProgress?.(`downloading ${t.file}: ${Math.round((100 * n) / t.size)}%`),
  });
}
