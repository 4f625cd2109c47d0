import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { openRepository } from '../git/repository.js';
import { MessageModel } from '../tasks/cmg/generate.js';
import { adoptedMessageModel } from '../tasks/cmg/adopted.js';
import { parseInputFormat } from '../tasks/cmg/profile.js';
import { llmInputFor, modelInputFor, type SuggestTarget } from '../tasks/cmg/suggest.js';
import { isChatLlmFolder, loadLlmFolder } from '../tasks/cmg/llmInput.js';
import { ChangelingError } from '../util/errors.js';
import { interruptSignal, parseCount, printJson, terminalSafe, writeOut } from './io.js';

/** `changeling input`: its options, its help text (INPUT_HELP) and what it prints. */

export const INPUT_HELP = `changeling input [--staged | --commit REV] [--repo PATH] [--model DIR [--adapter DIR]] [--input-format F] [--prefix TEXT] [--json]

  Exactly what a commit-message model gets for the staged change (or a commit): the serialised diff in the
  model's input format, its token ids, the decoder's start (the start token, the author's earlier messages
  for models trained with history, the typed text), and what was left out and why. "changeling suggest"
  feeds the same. The format and generation settings come from the model's profile (changeling.json,
  written at download and by train/finetune); --input-format overrides the format:
    commitchronicle               the CommitChronicle models' diffs (whitespace-insensitive, cleaned, file headers)
    commitchronicle-codereviewer  the same with <add>/<del>/<keep> line marks (CodeReviewer-based models)
    study                         the study's marked diff within the token budget

  Without --model, the model this repository adopted with "changeling finetune --task cmg".
  --prefix TEXT   text already typed in the message box, to be completed (a partial last word constrains the first generated word)
  --json          one object: text, input_ids, decoder_input_ids, prefix, dropped, history, format

  A code LLM (a decoder-only folder with a chat template and no changeling.json, e.g. Qwen2.5-Coder) gets a
  chat prompt instead (format llm-chat): instructions with the repository's conventions, its most similar
  earlier commits as examples, the author's recent subjects, then the whole diff within --budget N tokens
  (default 2,000, or 4,000 for models of 1.5B and up; always leaving the context room for the answer): files
  ranked by changed lines, code before tests before the rest, cut at hunk boundaries, the rest named.
  --prefix is the start of the answer (a final assistant turn, continued). --json gives messages, text
  (the template's rendering) and input_ids (its ids, no special tokens added), dropped [{path, why}].`;

export async function inputCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      repo: { type: 'string' },
      staged: { type: 'boolean', default: false },
      commit: { type: 'string' },
      model: { type: 'string' },
      adapter: { type: 'string' },
      'input-format': { type: 'string' },
      prefix: { type: 'string' },
      json: { type: 'boolean', default: false },
      history: { type: 'string' },
      budget: { type: 'string' },
    },
  });
  if (values.staged && values.commit) throw new ChangelingError('usage', '--staged and --commit exclude each other');
  if (values.adapter && !values.model) throw new ChangelingError('usage', '--adapter needs --model (the base model it was trained on)');
  const inputFormat = values['input-format'] ? parseInputFormat(values['input-format']) : undefined;
  const repo = await openRepository(values.repo ?? process.cwd());
  const adopted = values.model ? null : await adoptedMessageModel(repo);
  if (!values.model && !adopted)
    throw new ChangelingError(
      'usage',
      'name a model with --model DIR (e.g. one from "changeling download"); this repository has adopted none',
    );
  const target: SuggestTarget = values.commit ? { kind: 'commit', rev: values.commit } : { kind: 'staged' };
  if (values.model && (await isChatLlmFolder(resolve(values.model)))) {
    if (inputFormat) throw new ChangelingError('usage', '--input-format is for seq2seq message models; a chat LLM gets its own prompt');
    const m = await loadLlmFolder(resolve(values.model));
    const p = await llmInputFor(repo, target, m, {
      typed: values.prefix ?? '',
      budget: parseCount('budget', values.budget, undefined, 1),
      signal: interruptSignal(),
    });
    if (values.json)
      await printJson({
        format: 'llm-chat',
        model: m.dir,
        messages: p.messages,
        text: p.text,
        input_ids: p.inputIds,
        dropped: p.dropped,
        budget: p.budget,
      });
    else
      await writeOut(
        [
          `input format: llm-chat (${m.dir}); ${p.inputIds.length} tokens of a ${m.contextLength}-token context, the diff ${p.diffTokens} of ${p.budget}`,
          '--- prompt ---',
          terminalSafe(p.text).replace(/\n$/, ''),
          '--- end ---',
          ...(p.dropped.length ? ['left out:', ...p.dropped.map((d) => `  ${terminalSafe(d.path)}: ${d.why}`)] : []),
        ].join('\n') + '\n',
      );
    return 0;
  }
  const model = await MessageModel.create(values.model ? resolve(values.model) : adopted!.model, {
    adapter: values.adapter ? resolve(values.adapter) : (adopted?.adapter ?? undefined),
    inputFormat,
  });
  const p = await modelInputFor(repo, target, model, { typed: values.prefix ?? '', signal: interruptSignal() });
  if (values.json) {
    await printJson({
      format: p.format,
      model: model.model.dir,
      text: p.text,
      input_ids: p.inputIds,
      decoder_input_ids: p.decoderInputIds,
      prefix: p.prefix,
      dropped: p.dropped,
      history: p.history,
      generation: model.profile.generation,
    });
    return 0;
  }
  const g = model.profile.generation;
  await writeOut(
    [
      `input format: ${p.format} (${model.model.dir}); ${p.inputIds.length} of ${model.maxInput} input tokens`,
      '--- text ---',
      terminalSafe(p.text).replace(/\n$/, ''),
      '--- end ---',
      `input_ids: ${p.inputIds.join(' ')}`,
      `decoder_input_ids: ${p.decoderInputIds.join(' ')}${p.prefix ? `  (then a word starting "${terminalSafe(p.prefix)}")` : ''}`,
      `history: ${model.usesHistory ? `${p.history.used} of the author's ${p.history.offered} earlier messages` : 'not used by this model'}`,
      `generation: ${g.numBeams} beams, at most ${g.maxNewTokens} new tokens${g.noRepeatNgramSize ? `, no repeated ${g.noRepeatNgramSize}-grams` : ''}`,
      ...(p.dropped.length ? [`left out: ${p.dropped.map((d) => `${terminalSafe(d.path)} (${d.why})`).join(', ')}`] : []),
    ].join('\n') + '\n',
  );
  return 0;
}
