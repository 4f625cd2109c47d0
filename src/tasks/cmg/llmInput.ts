import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { architectureFor } from '../../models/architectures.js';
import { readConfigJson } from '../../models/config.js';
import { loadChatTemplate, type ChatMessage, type ChatTemplate } from '../../models/chatTemplate.js';
import { parseLlamaConfig } from '../../models/llama.js';
import { CodeTokenizer } from '../../models/tokenizer.js';
import { ChangelingError } from '../../util/errors.js';
import { PROFILE_FILE } from './profile.js';

/**
 * A code LLM as a message writer's input side: its tokenizer, chat template and context length, read from a
 * decoder-only folder (config.json of the Llama family, a chat template, no changeling.json of another format).
 * The diff budget defaults to 2,000 tokens for models the size of Qwen2.5-Coder-0.5B and 4,000 for larger
 * ones (hidden size 1,536 and up, as the 1.5B), and always leaves the context room for the answer.
 */
export interface LlmFolder {
  dir: string;
  tokenizer: CodeTokenizer;
  template: ChatTemplate;
  contextLength: number;
  defaultBudget: number;
}

/** Whether a folder is a chat LLM that gets the LLM prompt (not a seq2seq message model). */
export async function isChatLlmFolder(dir: string): Promise<boolean> {
  if (existsSync(join(dir, PROFILE_FILE)) || !existsSync(join(dir, 'config.json'))) return false;
  const raw = await readConfigJson(dir);
  let family: string;
  try {
    family = architectureFor(raw.model_type, `${dir}/config.json`).family;
  } catch {
    return false;
  }
  return family === 'decoder' && (await loadChatTemplate(dir)) !== null;
}

export async function loadLlmFolder(dir: string): Promise<LlmFolder> {
  const config = parseLlamaConfig(await readConfigJson(dir), `${dir}/config.json`);
  const template = await loadChatTemplate(dir);
  if (!template) throw new ChangelingError('usage', `${dir} has no chat template (chat_template.jinja or tokenizer_config.json)`);
  return {
    dir,
    tokenizer: await CodeTokenizer.fromFolder(dir),
    template,
    contextLength: config.maxPositionEmbeddings,
    defaultBudget: config.hiddenSize >= 1536 ? 4000 : 2000,
  };
}

/** The rendered prompt and its ids (the tokenizer's, no special tokens added: the template has put them in). */
export function renderLlmPrompt(m: LlmFolder, messages: ChatMessage[], continueFinal: boolean): { text: string; inputIds: number[] } {
  const text = m.template.render(messages, continueFinal ? { continueFinal: true } : { addGenerationPrompt: true });
  return { text, inputIds: m.tokenizer.encode(text, { addSpecialTokens: false }).ids };
}
