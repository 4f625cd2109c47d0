import { fitLlmPrompt, type PromptTarget, type RenderedPrompt } from './llmInput.js';
import { diffWithin, llmPrompt, type LlmPrompt, type LlmPromptOptions } from './llmPrompt.js';
import type { ChatMessage } from '../../models/chatTemplate.js';
import { NngenIndex, diffWords } from './nngen.js';
import { learnStyle } from './style.js';
import { withoutReference } from './suggest.js';
import type { Pair } from './dataset.js';
import { ChangelingError } from '../../util/errors.js';

/** What ✨ would have put around a commit's diff when it was made: its examples, the author's subjects, the style. */
export type HistoryContext = Omit<LlmPromptOptions, 'budget' | 'countTokens'>;

/**
 * The code LLM's prompt for each commit of a history, as ✨ (`llmInputFor`) would have built it just before the
 * commit: the three most similar earlier commits (NNGen over the commits before it, their subjects and diffs),
 * the author's earlier subjects, the conventions (`learnStyle`) of the commits before the first one scored
 * (`styleFrom`: the training commits, so evaluation never sees a later convention), no branch (history does not
 * keep it). One pass in time order, so each commit sees only its past. Fine-tuning's rows and its evaluation
 * use these, so the model is tuned on the prompt it will be asked with.
 */
export function historyContexts(all: readonly Pair[], styleFrom: readonly Pair[]): Map<string, HistoryContext> {
  const newestFirst = [...styleFrom].reverse();
  const style = learnStyle(
    newestFirst.map((p) => p.message),
    newestFirst.map((p) => p.files.map((f) => f.path)),
  );
  const index = new NngenIndex();
  const bySha = new Map<string, Pair>();
  const subjectsOf = new Map<string, string[]>();
  const out = new Map<string, HistoryContext>();
  for (const p of all) {
    const words = diffWords(p.files);
    const examples = index.query(words, { k: 3 }).map((c) => ({ message: withoutReference(c.message), files: bySha.get(c.sha)!.files }));
    const earlier = subjectsOf.get(p.author) ?? [];
    out.set(p.sha, { style, body: true, branch: null, examples, recentSubjects: [...earlier].reverse() });
    index.add(p.sha, p.subject, words);
    bySha.set(p.sha, p);
    subjectsOf.set(p.author, [...earlier.slice(-9), p.subject]);
  }
  return out;
}

/**
 * A commit's message as the answer to learn: the subject and as much of the body as fits `maxTokens`, whole lines (a
 * subject longer than that alone is cut at a word).
 */
export function answerWithin(message: string, maxTokens: number, countTokens: (text: string) => number): string {
  const lines = message.trim().split('\n');
  let text = lines[0]!;
  if (countTokens(text) > maxTokens) {
    const words = text.split(' ');
    while (words.length > 1 && countTokens(words.join(' ')) > maxTokens) words.splice(Math.max(1, Math.floor(words.length * 0.9)));
    return words.join(' ');
  }
  for (const line of lines.slice(1)) {
    const next = `${text}\n${line}`;
    if (countTokens(next) > maxTokens) break;
    text = next;
  }
  return text.trimEnd();
}

/**
 * A commit's prompt within `contextLength` tokens with `maxNewTokens` left for the answer: ✨'s prompt where it fits;
 * where the three examples would leave the diff less than half the room (or less than it needs), fewer examples,
 * then none and without the author's subjects: the diff is what the answer describes. Training rows (shorter than
 * ✨'s prompts: memory and time grow with them) and evaluation on small-context models take it.
 */
export function historyPrompt(
  p: Pair,
  context: HistoryContext,
  m: PromptTarget,
  o: { contextLength: number; maxNewTokens: number; what: string },
): LlmPrompt & RenderedPrompt {
  const within: PromptTarget = {
    contextLength: Math.min(m.contextLength, o.contextLength),
    defaultBudget: m.defaultBudget,
    countTokens: (t) => m.countTokens(t),
    render: (messages, continueFinal) => m.render(messages, continueFinal),
  };
  const countTokens = (t: string) => m.countTokens(t);
  const wanted = Math.min(diffWithin(p.files, within.contextLength, countTokens).tokens, within.contextLength / 2);
  const examples = context.examples ?? [];
  // Richest first: every example and the author's subjects, then fewer examples, then without the subjects.
  const tries = [
    ...Array.from({ length: examples.length + 1 }, (_, i) => ({ ...context, examples: examples.slice(0, examples.length - i) })),
    { ...context, examples: [], recentSubjects: [] },
  ];
  for (const [i, t] of tries.entries()) {
    const base = { ...t, countTokens };
    const bare = m.render(llmPrompt(p.files, { ...base, budget: 0 }).messages, false).tokens;
    const room = within.contextLength - o.maxNewTokens - bare;
    if (i < tries.length - 1 && room < wanted) continue;
    if (room <= 0)
      throw new ChangelingError(
        'usage',
        `${o.what} of ${within.contextLength} tokens has no room for commit ${p.sha.slice(0, 10)}'s diff after the instructions ` +
          `(${bare} tokens) and the answer (${o.maxNewTokens})`,
      );
    return fitLlmPrompt(p.files, base, within, { maxNewTokens: o.maxNewTokens });
  }
  throw new Error('unreachable: the last try returns or throws');
}

/**
 * A training row for the code LLM: the commit's prompt cut to fit `maxLength` tokens with its answer (`historyPrompt`),
 * and the answer as the assistant's turn (`chatRows.ts` learns on it alone).
 */
export function trainingConversation(
  p: Pair,
  context: HistoryContext,
  m: PromptTarget,
  o: { maxLength: number; maxAnswer: number },
): { messages: ChatMessage[]; prompt: LlmPrompt & RenderedPrompt } {
  const answer = answerWithin(p.message, o.maxAnswer, (t) => m.countTokens(t));
  const prompt = historyPrompt(p, context, m, {
    contextLength: o.maxLength,
    maxNewTokens: m.countTokens(answer) + 8,
    what: 'a training row (--max-length)',
  });
  return { messages: [...prompt.messages, { role: 'assistant', content: answer }], prompt };
}
