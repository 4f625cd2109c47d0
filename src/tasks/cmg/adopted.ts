import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { repoDataDir, type Repository } from '../../git/repository.js';
import { writeFileAtomic } from '../../util/atomicFile.js';
import { readBytesBounded, readJsonFile } from '../../util/jsonFile.js';
import { notice } from '../../util/notices.js';
import { METHODS, savesAdapter } from '../../peft/methods.js';

/**
 * The commit-message model a repository has adopted (by `changeling finetune --task cmg` or `changeling adopt
 * --task cmg`): the base model folder and the adapter (or a fully fine-tuned model folder), recorded in
 * `changeling/cmg-model.json` in the git folder. The adapter is Changeling's own copy in that folder (never a
 * user's scratch folder), recorded with a fingerprint of its content: `suggest`, `overview` and the extension
 * use it when no model is given, and say in one line when it is missing or changed (and fall back to NNGen).
 * The record is written atomically after the adapter is complete, so a half-written adapter is never in use.
 */
export interface AdoptedMessageModel {
  model: string;
  adapter: string | null;
  method: string;
  adoptedAt: string;
  validation: Record<string, number>;
  /** Fingerprint of the adapter folder (or of the fine-tuned model folder) when it was adopted. */
  fingerprint?: string;
}

const FILE = 'cmg-model.json';
const recordPath = async (repo: Repository) => join(await repoDataDir(repo), FILE);
/** The folder the record's fingerprint covers: the adapter, or a fully fine-tuned model. */
const fingerprinted = (a: AdoptedMessageModel) =>
  a.adapter ?? (Object.hasOwn(METHODS, a.method) && !savesAdapter(a.method) ? a.model : null);
/** Files up to this size are hashed whole; larger ones (full weights) by name, size and modification time. */
const HASH_WHOLE = 64 * 2 ** 20;

/** A fingerprint of a model or adapter folder's files (content for small files, size and time for weights). */
async function folderFingerprint(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const name of (await readdir(dir)).sort()) {
    if (name.startsWith('.')) continue;
    const p = join(dir, name);
    const st = await stat(p);
    if (!st.isFile()) continue;
    h.update(`${name}\0${st.size}\0`);
    if (st.size <= HASH_WHOLE) h.update(await readBytesBounded(p, HASH_WHOLE));
    else h.update(String(st.mtimeMs));
  }
  return h.digest('hex');
}

/** The adopted model, or null (with a one-line notice when a record exists but its model is gone or changed). */
export async function adoptedMessageModel(repo: Repository, o: { quiet?: boolean } = {}): Promise<AdoptedMessageModel | null> {
  const path = await recordPath(repo);
  if (!existsSync(path)) return null;
  const a = (await readJsonFile(path)) as AdoptedMessageModel;
  const say = (why: string) => {
    if (!o.quiet)
      notice(
        `the adopted commit-message model ${why}: suggestions fall back to this repository's history (NNGen); adopt or fine-tune again`,
      );
    return null;
  };
  if (!a?.model || !existsSync(a.model)) return say(`is missing (${a?.model ?? 'no model recorded'})`);
  if (a.adapter && !existsSync(a.adapter)) return say(`is missing (${a.adapter})`);
  const owned = fingerprinted(a);
  if (a.fingerprint && owned && (await folderFingerprint(owned).catch(() => '')) !== a.fingerprint)
    return say(`has changed since it was adopted (${owned})`);
  return a;
}

/** Records `a` as the adopted model (with the fingerprint of what it points at); returns the record's path. */
export async function adoptMessageModel(repo: Repository, a: AdoptedMessageModel): Promise<string> {
  const dir = await repoDataDir(repo);
  await mkdir(dir, { recursive: true });
  const path = join(dir, FILE);
  const owned = fingerprinted(a);
  const record = { ...a, ...(owned ? { fingerprint: await folderFingerprint(owned) } : {}) };
  await writeFileAtomic(path, JSON.stringify(record, null, 1) + '\n');
  return path;
}

/** Whether the record in use is the one `adoptedAt` wrote (a run says "Adopted" only if its model is in use when it ends). */
export async function stillAdopted(repo: Repository, adoptedAt: string): Promise<boolean> {
  const path = await recordPath(repo);
  const a = existsSync(path) ? ((await readJsonFile(path).catch(() => null)) as AdoptedMessageModel | null) : null;
  return a?.adoptedAt === adoptedAt;
}
