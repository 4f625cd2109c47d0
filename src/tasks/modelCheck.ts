import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadModelFolder } from '../models/modelFolder.js';
import { loadChatTemplate } from '../models/chatTemplate.js';
import { CodeTokenizer } from '../models/tokenizer.js';
import { readLinearModel } from './jitdp/modelFile.js';
import { isCc2VecModelDir } from './jitdp/cc2vec.js';
import { isNeuralModelDir } from './jitdp/neural.js';

/**
 * Whether a folder or file a user picked can serve what it was picked for, checked when it is picked (not at
 * the first ✨, where a failure would leave them with nothing): its config, weights and tokenizer are there
 * and its architecture fits the use. Reads config and tokenizer files, never the weights.
 */
export type ModelUse = 'messages' | 'risk-encoder' | 'risk';

/** The specific problem that keeps `path` from serving `use`, in one sentence; null when there is none. */
export async function modelProblem(path: string, use: ModelUse): Promise<string | null> {
  const name = basename(path);
  try {
    if (!existsSync(path)) return `${name} does not exist`;
    const folder = statSync(path).isDirectory();
    if (use === 'risk') {
      if (folder)
        return isCc2VecModelDir(path) || isNeuralModelDir(path)
          ? null
          : `${name} is not a risk model: a risk model is a file made by risk training, or a folder with jitdp.json or cc2vec.json`;
      await readLinearModel(path);
      return null;
    }
    if (!folder) return `${name} is a file: a model is a folder with config.json, its weights and its tokenizer`;
    if (!existsSync(join(path, 'config.json'))) return `${name} has no config.json: it is not a model folder`;
    const m = await loadModelFolder(path);
    if (use === 'messages') {
      if (m.kind === 'roberta')
        return `${name} is an encoder (RoBERTa family): it cannot write messages; it is for fine-tuning the risk model`;
      if (m.kind === 'llama' && !(await loadChatTemplate(path)))
        return `${name} is a code LLM without a chat template: choose its Instruct version`;
    } else if (m.kind !== 'roberta')
      return `${name} is a ${m.kind === 'llama' ? 'decoder-only' : m.kind} model: fine-tuning the risk model needs a RoBERTa-family encoder (CodeBERT, GraphCodeBERT, UniXcoder)`;
    await CodeTokenizer.fromFolder(path);
    return null;
  } catch (err) {
    // The folder by its name: the whole path would push the problem out of a notification's one line.
    return (err as Error).message
      .replace(/^changeling: /, '')
      .split(path)
      .join(name);
  }
}
