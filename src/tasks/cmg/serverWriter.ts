import type { ChatMessage } from '../../models/chatTemplate.js';
import { ChangelingError } from '../../util/errors.js';
import { fieldText } from '../../util/text.js';
import { boundedBody } from '../../util/jsonFile.js';
import type { PromptTarget, RenderedPrompt } from './llmInput.js';
import type { ChatWriter, WriteOptions } from './llmWriter.js';

/**
 * A code LLM that the user already runs as a local server (Ollama, or any OpenAI-compatible one: llama.cpp's
 * server, vLLM, LM Studio), as an optional message writer: the same prompt (`llmInputFor`) and the same
 * faithfulness check as a model folder. Only this machine's loopback addresses are accepted (127.0.0.0/8,
 * ::1, localhost), redirects are refused and no credentials are sent: nothing leaves the machine except an
 * explicit model download. Tokens are not counted by the server's tokenizer (it has none here): a text is
 * taken as one token per 3 characters, more than code has per token in the Qwen and Llama vocabularies, so
 * the budget errs on the short side.
 */
export type ServerApi = 'ollama' | 'openai';

export interface ServerOptions {
  url: string;
  /** The server's name for the model (Ollama's tag, e.g. "qwen2.5-coder:1.5b"). */
  model: string;
  /** Which API it speaks; by default Ollama on port 11434 and OpenAI's elsewhere. */
  api?: ServerApi | 'auto';
  /** The context the prompt must fit (Ollama is asked for it as num_ctx); default 8,192 tokens. */
  contextLength?: number;
  /** The diff's default budget in tokens; default 2,000. */
  budget?: number;
  /** The longest wait for one answer, in seconds (default 300: a server may first load the model). */
  timeoutSeconds?: number;
}

/** The model a server is asked for when none is named (Ollama's tag of the 1.5B Qwen2.5-Coder). */
export const DEFAULT_SERVER_MODEL = 'qwen2.5-coder:1.5b';

const CHARS_PER_TOKEN = 3;
/** An answer is a commit message: more than this from the server is not one. */
const MAX_ANSWER_BYTES = 1 << 20;

/**
 * The URL if it names this machine's loopback (the one check for every server address). `localhost` is
 * taken as 127.0.0.1 so that no name lookup can send it elsewhere.
 */
export function loopbackUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ChangelingError('usage', `the message server "${fieldText(raw, 100)}" is not a URL (e.g. http://127.0.0.1:11434)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ChangelingError('usage', `the message server must be an http:// or https:// URL, not ${fieldText(url.protocol, 20)}`);
  if (url.username || url.password) throw new ChangelingError('usage', 'the message server URL must not carry a user name or password');
  const host = url.hostname.toLowerCase();
  if (host === 'localhost') url.hostname = '127.0.0.1';
  else if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) && host !== '[::1]')
    throw new ChangelingError(
      'usage',
      `the message server must be on this machine (127.0.0.1, [::1] or localhost), not ${fieldText(url.hostname, 100)}: ` +
        'nothing leaves the machine except an explicit model download',
    );
  return url;
}

export class ServerMessageWriter implements ChatWriter {
  readonly url: URL;
  readonly api: ServerApi;
  readonly prompt: PromptTarget;

  constructor(private readonly o: ServerOptions) {
    this.url = loopbackUrl(o.url);
    if (!o.model.trim()) throw new ChangelingError('usage', `name the model the message server should use (e.g. ${DEFAULT_SERVER_MODEL})`);
    this.api = !o.api || o.api === 'auto' ? (this.url.port === '11434' ? 'ollama' : 'openai') : o.api;
    const countTokens = (text: string) => Math.ceil(text.length / CHARS_PER_TOKEN);
    this.prompt = {
      contextLength: o.contextLength ?? 8192,
      defaultBudget: o.budget ?? 2000,
      countTokens,
      render: (messages, continueFinal) => {
        const text = messages.map((m) => `${m.role}:\n${m.content}\n`).join('\n');
        // Each turn's role and separators: a few tokens more.
        return { messages, continueFinal, text, inputIds: [], tokens: countTokens(text) + 8 * messages.length };
      },
    };
  }

  get name(): string {
    return `${this.o.model} at ${this.url.origin}`;
  }

  async write(prompt: RenderedPrompt, o: WriteOptions = {}): Promise<string[]> {
    const out: string[] = [];
    const n = o.n ?? 3;
    const typed = prompt.continueFinal ? (prompt.messages.at(-1)?.content ?? '') : '';
    for (let row = 0; row < n; row++) {
      let text = '';
      await this.ask(prompt.messages, prompt.continueFinal, { ...o, seed: (o.seed ?? 0) + row }, (piece) => {
        text += piece;
        o.onToken?.(row, withoutTyped(text, typed));
      });
      out.push(withoutTyped(text, typed));
    }
    return out;
  }

  /** One streamed answer; `onText` gets each piece as it comes. */
  private async ask(
    messages: ChatMessage[],
    continueFinal: boolean,
    o: WriteOptions & { seed: number },
    onText: (piece: string) => void,
  ): Promise<void> {
    const maxTokens = o.maxNewTokens ?? 128;
    const ollama = this.api === 'ollama';
    const endpoint = new URL(ollama ? 'api/chat' : 'v1/chat/completions', withSlash(this.url));
    const body = ollama
      ? {
          model: this.o.model,
          messages,
          stream: true,
          options: { seed: o.seed, temperature: 0.7, top_p: 0.95, num_predict: maxTokens, num_ctx: this.prompt.contextLength },
        }
      : {
          model: this.o.model,
          messages,
          stream: true,
          max_tokens: maxTokens,
          temperature: 0.7,
          top_p: 0.95,
          seed: o.seed,
          n: 1,
          // vLLM's and llama.cpp's way of continuing the typed start; other servers ignore them.
          ...(continueFinal ? { continue_final_message: true, add_generation_prompt: false } : {}),
        };
    const timeout = AbortSignal.timeout((this.o.timeoutSeconds ?? 300) * 1000);
    const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
    let res: Response;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: ollama ? 'application/x-ndjson' : 'text/event-stream' },
        body: JSON.stringify(body),
        redirect: 'manual',
        signal,
      });
    } catch (err) {
      throw this.failure(err, timeout, o.signal);
    }
    if (res.status >= 300 && res.status < 400)
      throw new ChangelingError(
        'usage',
        `the message server at ${this.url.origin} answered with a redirect (${res.status}), which is not followed`,
      );
    if (!res.ok) {
      const detail = await boundedBody(res, 2000, null).catch(() => '');
      const missing = res.status === 404 && /model/i.test(detail);
      throw new ChangelingError(
        missing ? 'not-found' : 'usage',
        missing
          ? `the message server at ${this.url.origin} has no model "${fieldText(this.o.model, 80)}"${ollama ? ` (ollama pull ${fieldText(this.o.model, 80)})` : ''}`
          : `the message server at ${this.url.origin} answered ${res.status}: ${fieldText(detail || res.statusText, 300)}`,
      );
    }
    try {
      await readStream(res, ollama, onText);
    } catch (err) {
      throw this.failure(err, timeout, o.signal);
    }
  }

  private failure(err: unknown, timeout: AbortSignal, signal: AbortSignal | undefined): Error {
    if (err instanceof ChangelingError) return err;
    if (signal?.aborted) return new ChangelingError('cancelled', 'writing the message was cancelled');
    if (timeout.aborted)
      return new ChangelingError(
        'usage',
        `the message server at ${this.url.origin} did not answer within ${this.o.timeoutSeconds ?? 300} s`,
      );
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    if (cause === 'ECONNREFUSED')
      return new ChangelingError(
        'not-found',
        `nothing answers at ${this.url.origin}${this.api === 'ollama' ? ' (is Ollama running? "ollama serve")' : ''}`,
      );
    return new ChangelingError('usage', `the message server at ${this.url.origin} failed: ${fieldText((err as Error).message, 200)}`);
  }
}

const withSlash = (u: URL) => new URL(u.href.endsWith('/') ? u.href : `${u.href}/`);

/** A server that repeats the typed start gives it once. */
function withoutTyped(text: string, typed: string): string {
  return typed && text.startsWith(typed) ? text.slice(typed.length) : text;
}

/** Ollama's NDJSON lines ({message: {content}, done}) or OpenAI's server-sent events (data: {choices: [{delta: {content}}]}). */
async function readStream(res: Response, ollama: boolean, onText: (piece: string) => void): Promise<void> {
  if (!res.body) return;
  const decoder = new TextDecoder();
  let buffered = '';
  let bytes = 0;
  const line = (l: string): boolean => {
    const s = l.trim();
    if (!s) return false;
    let payload = s;
    if (!ollama) {
      if (!s.startsWith('data:')) return false;
      payload = s.slice(5).trim();
      if (payload === '[DONE]') return true;
    }
    let j: Record<string, unknown>;
    try {
      j = JSON.parse(payload) as Record<string, unknown>;
    } catch {
      throw new ChangelingError('usage', `the message server sent a line that is not JSON: ${fieldText(payload, 120)}`);
    }
    if (typeof j.error === 'string' || (j.error && typeof j.error === 'object'))
      throw new ChangelingError(
        'usage',
        `the message server failed: ${fieldText(typeof j.error === 'string' ? j.error : JSON.stringify(j.error), 300)}`,
      );
    const piece = ollama
      ? (j.message as { content?: unknown } | undefined)?.content
      : ((j.choices as Array<{ delta?: { content?: unknown } }> | undefined)?.[0]?.delta?.content ?? null);
    if (typeof piece === 'string' && piece) onText(piece);
    return ollama && j.done === true;
  };
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    if (bytes > MAX_ANSWER_BYTES) throw new ChangelingError('usage', 'the message server sent more than 1 MiB for one message');
    buffered += decoder.decode(chunk, { stream: true });
    let at: number;
    while ((at = buffered.indexOf('\n')) >= 0) {
      const l = buffered.slice(0, at);
      buffered = buffered.slice(at + 1);
      if (line(l)) return;
    }
  }
  line(buffered + decoder.decode());
}
