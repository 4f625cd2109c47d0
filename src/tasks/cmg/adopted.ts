import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { repoDataDir, type Repository } from '../../git/repository.js';
import { writeBytesAtomic } from '../../util/atomicFile.js';
import { readJsonFile } from '../../util/jsonFile.js';

/**
 * The commit-message model a repository has adopted (by `changeling finetune --task cmg`): the base model
 * folder and the adapter (or a fully fine-tuned model folder), recorded in `changeling/cmg-model.json` in
 * the git folder. `changeling suggest` and the extension use it when no model is given explicitly. The
 * record is written atomically after the adapter is complete, so a half-written adapter is never in use.
 */
export interface AdoptedMessageModel {
  model: string;
  adapter: string | null;
  method: string;
  adoptedAt: string;
  validation: Record<string, number>;
}

const FILE = 'cmg-model.json';

export async function adoptedMessageModel(repo: Repository): Promise<AdoptedMessageModel | null> {
  const path = join(await repoDataDir(repo), FILE);
  if (!existsSync(path)) return null;
  const a = (await readJsonFile(path)) as AdoptedMessageModel;
  if (!a?.model || !existsSync(a.model) || (a.adapter && !existsSync(a.adapter))) return null;
  return a;
}

export async function adoptMessageModel(repo: Repository, a: AdoptedMessageModel): Promise<string> {
  const dir = await repoDataDir(repo);
  await mkdir(dir, { recursive: true });
  const path = join(dir, FILE);
  await writeBytesAtomic(path, Buffer.from(JSON.stringify(a, null, 1) + '\n'));
  return path;
}
