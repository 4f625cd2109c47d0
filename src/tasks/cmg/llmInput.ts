import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { architectureFor } from '../../models/architectures.js';
import { readConfigJson } from '../../models/config.js';
import { loadChatTemplate, type ChatMessage, type ChatTemplate } from '../../models/chatTemplate.js';
import { parseLlamaConfig, type LlamaConfig } from '../../models/llama.js';
import { CodeTokenizer } from '../../models/tokenizer.js';
import { ChangelingError } from '../../util/errors.js';
import { PROFILE_FILE } from './profile.js';
import { llmPrompt, type LlmPrompt, type LlmPromptOptions } from './llmPrompt.js';
import type { DiffFile } from '../../git/types.js';

/**
 * A code LLM as a message writer's input side: its tokenizer, chat template and context length, read from a
 * decoder-only folder (config.json of the Llama family, a chat template, no changeling.json of another format).
 * The diff budget defaults to 2,000 tokens for models the size of Qwen2.5-Coder-0.5B and 4,000 for larger
 * ones (hidden size 1,536 and up, as the 1.5B), and always leaves the context room for the answer.
 */
export interface LlmFolder extends PromptTarget {
  dir: string;
  config: LlamaConfig;
  tokenizer: CodeTokenizer;
  template: ChatTemplate;
}

/**
 * What the prompt builder (`llmInputFor`) needs of whatever writes from it, a model folder here or a local
 * server (`serverWriter.ts`): its context, the diff's default budget, how long a text is in its tokens and
 * how turns become its input.
 */
export interface PromptTarget {
  contextLength: number;
  defaultBudget: number;
  countTokens(text: string): number;
  render(messages: ChatMessage[], continueFinal: boolean): RenderedPrompt;
}

/** A prompt as the writer gets it: the turns, their rendering, its ids (none for a server) and its length in tokens. */
export interface RenderedPrompt {
  messages: ChatMessage[];
  /** The last turn is the typed start of the answer, to be continued. */
  continueFinal: boolean;
  text: string;
  inputIds: number[];
  tokens: number;
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
  const tokenizer = await CodeTokenizer.fromFolder(dir);
  return {
    dir,
    config,
    tokenizer,
    template,
    contextLength: config.maxPositionEmbeddings,
    defaultBudget: config.hiddenSize >= 1536 ? 4000 : 2000,
    countTokens: (text) => tokenizer.encode(text, { addSpecialTokens: false }).ids.length,
    // The template's rendering and its ids (the tokenizer's, no special tokens added: the template put them in).
    render(messages, continueFinal) {
      const text = template.render(messages, continueFinal ? { continueFinal: true } : { addGenerationPrompt: true });
      const inputIds = tokenizer.encode(text, { addSpecialTokens: false }).ids;
      return { messages, continueFinal, text, inputIds, tokens: inputIds.length };
    },
  };
}

/**
 * The prompt for `files` that fits the writer's context with `maxNewTokens` (default 128) left for the answer:
 * the diff's budget is the one given (else the writer's default), cut to what the context leaves after the
 * instructions and examples, and cut again until the whole rendering fits (pieces counted apart can tokenize a
 * little longer together). Used by ✨ (`llmInputFor`) and by fine-tuning's rows, so both see the same prompt.
 */
export function fitLlmPrompt(
  files: readonly DiffFile[],
  base: Omit<LlmPromptOptions, 'budget'>,
  m: PromptTarget,
  o: { budget?: number; maxNewTokens?: number; typed?: boolean } = {},
): LlmPrompt & RenderedPrompt {
  const answer = o.maxNewTokens ?? 128;
  const bare = m.render(llmPrompt(files, { ...base, budget: 0 }).messages, !!o.typed).tokens;
  const room = m.contextLength - answer - bare;
  if (room <= 0)
    throw new ChangelingError(
      'usage',
      `the model's context (${m.contextLength} tokens) has no room for the diff after the instructions and examples`,
    );
  let budget = Math.min(o.budget ?? m.defaultBudget, room);
  for (;;) {
    const p = llmPrompt(files, { ...base, budget });
    const r = m.render(p.messages, !!o.typed);
    const over = r.tokens - (m.contextLength - answer);
    if (over <= 0 || budget === 0) return { ...p, ...r };
    budget = Math.max(0, budget - over - 8);
  }
}
