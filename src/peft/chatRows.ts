import type { ChatMessage, ChatTemplate } from '../models/chatTemplate.js';
import type { CodeTokenizer } from '../models/tokenizer.js';
import { ChangelingError } from '../util/errors.js';

/**
 * A chat conversation as a causal LM's training row: rendered by the model's own chat template, with labels
 * on the assistant turns only. Each assistant span is found by rendering the conversation up to that turn
 * with its content and without it: where the two renderings part is where the content starts; the span is
 * the content and the token after it, the turn's closing token (`<|im_end|>` for Qwen), which the model must
 * learn to write to stop. Everything else (system, user turns, the template's markup) is -100.
 */
export function chatRow(
  messages: ChatMessage[],
  template: ChatTemplate,
  tok: CodeTokenizer,
  where: string,
): { inputIds: number[]; labels: number[] } {
  if (!messages.some((m) => m.role === 'assistant'))
    throw new ChangelingError('usage', `${where}: a chat row needs at least one assistant turn to learn from`);
  const encode = (text: string) => tok.encode(text, { addSpecialTokens: false }).ids;
  const full = template.render(messages);
  const inputIds = encode(full);
  const labels = new Array<number>(inputIds.length).fill(-100);
  messages.forEach((m, i) => {
    if (m.role !== 'assistant' || !m.content) return;
    const upTo = template.render(messages.slice(0, i + 1));
    const without = template.render([...messages.slice(0, i), { role: 'assistant', content: '' }]);
    let start = 0;
    while (start < upTo.length && upTo[start] === without[start]) start++;
    if (!full.startsWith(upTo) || upTo.slice(start, start + m.content.length) !== m.content)
      throw new ChangelingError('usage', `${where}: the chat template does not render assistant turn ${i + 1} as it was written`);
    // Token positions of the content's start and end (the text before each, tokenized), then the closing token.
    const from = encode(full.slice(0, start)).length;
    const to = Math.min(inputIds.length, encode(full.slice(0, start + m.content.length)).length + 1);
    for (let t = from; t < to; t++) labels[t] = inputIds[t]!;
  });
  return { inputIds, labels };
}
