import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { Template } from '@huggingface/jinja';
import { ChangelingError } from '../util/errors.js';
import { readJsonFile, readTextFile } from '../util/jsonFile.js';

/**
 * A model's chat template, rendered as transformers' apply_chat_template renders it: the template from
 * chat_template.jinja (what transformers 5 saves), else tokenizer_config.json's `chat_template` (a string, or a
 * list of named templates, of which `default` is taken), rendered by @huggingface/jinja with the messages, the
 * generation prompt flag and the tokenizer's special tokens. A template is untrusted input: Jinja cannot reach
 * JavaScript, and its size, its render time and the size of what it renders are bounded here.
 */
export interface ChatMessage {
  role: string;
  content: string;
}

export const TEMPLATE_CAP = 256 * 1024;
/** transformers' marker for the end of a message to continue. */
const CONTINUE_TAG = 'CONTINUE_FINAL_MESSAGE_TAG ';
const RENDER_MS = 2000;
const OUTPUT_CAP = 8 * 1024 * 1024;

export interface ChatTemplate {
  source: string;
  /** Special tokens the template may name (bos_token, eos_token, ...), as strings. */
  tokens: Record<string, string>;
  /**
   * With `continueFinal`, the last message is left open for the model to continue, as transformers'
   * continue_final_message does (the text ends where that message's content ends).
   */
  render(messages: ChatMessage[], o?: { addGenerationPrompt?: boolean; continueFinal?: boolean }): string;
}

/** The folder's chat template, or null when it has none. */
export async function loadChatTemplate(dir: string): Promise<ChatTemplate | null> {
  const configPath = join(dir, 'tokenizer_config.json');
  const config = existsSync(configPath)
    ? ((await readJsonFile(configPath, { what: 'the tokenizer config' })) as Record<string, unknown>)
    : {};
  const file = join(dir, 'chat_template.jinja');
  let source: unknown;
  let where: string;
  if (existsSync(file)) {
    source = await readTextFile(file, { max: TEMPLATE_CAP, what: 'the chat template' });
    where = file;
  } else {
    source = config.chat_template;
    where = `${configPath}: chat_template`;
    if (Array.isArray(source)) {
      const named = source.find((t) => t && typeof t === 'object' && (t as { name?: unknown }).name === 'default') as
        { template?: unknown } | undefined;
      if (!named) throw new ChangelingError('io', `${where} lists templates but none is named "default"`);
      source = named.template;
    }
  }
  if (source === undefined || source === null) return null;
  if (typeof source !== 'string') throw new ChangelingError('io', `${where} must be a string`);
  if (source.length > TEMPLATE_CAP) throw new ChangelingError('io', `${where} is over ${TEMPLATE_CAP / 1024} KiB`);
  return chatTemplate(source, specialTokens(config), where);
}

/** bos_token, eos_token, pad_token, unk_token, sep_token, cls_token, mask_token: strings or AddedToken objects. */
function specialTokens(config: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['bos_token', 'eos_token', 'pad_token', 'unk_token', 'sep_token', 'cls_token', 'mask_token']) {
    const v = config[k];
    if (typeof v === 'string') out[k] = v;
    else if (v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string')
      out[k] = (v as { content: string }).content;
  }
  return out;
}

export function chatTemplate(source: string, tokens: Record<string, string>, where = 'the chat template'): ChatTemplate {
  let template: Template;
  try {
    template = new Template(source);
  } catch (err) {
    throw new ChangelingError(
      'io',
      `${where} is not a template Changeling can read: ${String((err as Error)?.message ?? err).split('\n')[0]}`,
    );
  }
  return {
    source,
    tokens,
    render(messages, o = {}) {
      for (const m of messages)
        if (!m || typeof m.role !== 'string' || typeof m.content !== 'string')
          throw new ChangelingError('usage', 'chat messages need a role and a content, both strings');
      if (o.continueFinal && o.addGenerationPrompt)
        throw new ChangelingError('usage', 'a final message is continued or a new one started, not both');
      const last = messages.at(-1);
      if (o.continueFinal && !last) throw new ChangelingError('usage', 'there is no final message to continue');
      const shown = o.continueFinal ? [...messages.slice(0, -1), { ...last!, content: last!.content + CONTINUE_TAG }] : messages;
      const context = { messages: shown, add_generation_prompt: o.addGenerationPrompt ?? false, ...tokens };
      let text: unknown;
      try {
        // The render runs under a watchdog: a template that loops for ever is stopped, not waited on.
        text = runInNewContext('render()', { render: () => template.render(context) }, { timeout: RENDER_MS });
      } catch (err) {
        if (/timed out/.test(String((err as Error)?.message)))
          throw new ChangelingError('io', `${where} did not finish rendering in ${RENDER_MS / 1000} s`);
        throw new ChangelingError('io', `${where} failed to render: ${String((err as Error)?.message ?? err).split('\n')[0]}`);
      }
      if (typeof text !== 'string') throw new ChangelingError('io', `${where} did not render text`);
      if (text.length > OUTPUT_CAP) throw new ChangelingError('io', `${where} rendered over ${OUTPUT_CAP / 2 ** 20} MiB of text`);
      if (!o.continueFinal) return text;
      // transformers: the tag marks where the final message ends; a template that trimmed the message's
      // trailing space is cut there and trimmed too.
      const at = text.lastIndexOf(CONTINUE_TAG.trim());
      if (at < 0 || !text.includes(last!.content.trim()))
        throw new ChangelingError('io', `${where} does not keep the final message as it is, so it cannot be continued`);
      return text.slice(at, at + CONTINUE_TAG.length) === CONTINUE_TAG ? text.slice(0, at) : text.slice(0, at).trimEnd();
    },
  };
}
