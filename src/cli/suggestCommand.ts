import { parseArgs } from 'node:util';
import { parsePrecision } from '../runtime/precision.js';
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { openRepository, type Repository } from '../git/repository.js';
import { MessageModel } from '../tasks/cmg/generate.js';
import { isChatLlmFolder } from '../tasks/cmg/llmInput.js';
import { noteSuggestion } from '../tasks/cmg/editPairs.js';
import { LlmMessageWriter, type ChatWriter } from '../tasks/cmg/llmWriter.js';
import { DEFAULT_SERVER_MODEL, ServerMessageWriter, type ServerApi } from '../tasks/cmg/serverWriter.js';
import { HOOK_WRITER_KEYS } from '../git/hooks.js';
import { adoptedMessageModel } from '../tasks/cmg/adopted.js';
import { parseInputFormat } from '../tasks/cmg/profile.js';
import { suggestMessages, type Suggestion, type SuggestResult, type SuggestTarget } from '../tasks/cmg/suggest.js';
import { writeBytesAtomic } from '../util/atomicFile.js';
import { ChangelingError } from '../util/errors.js';
import { StderrProgress, fieldText, interruptSignal, parseCount, printJson, writeOut } from './io.js';
import { readTextFile } from '../util/jsonFile.js';

/** `changeling suggest`: its options, its help text (SUGGEST_HELP) and what it prints. */

export const SUGGEST_HELP = `changeling suggest [--repo PATH] [--commit REV] [--model DIR [--adapter DIR]] [--prefix TEXT] [-n N] [--no-style] [--json]

  Commit-message candidates for the staged change (or for a commit, from the history before it), ranked:
  with --model (a CodeT5 or PLBART folder, e.g. from "changeling download Salesforce/codet5-base") and
  optionally --adapter (a LoRA adapter), the model's n-best beams; always NNGen's: the messages of the most
  similar changes in the repository's own history (no model needed). Each candidate is rewritten in the
  repository's style (Conventional Commits, ticket prefix from the branch, capitalisation, imperative mood,
  trailing period, as learned from its history) unless --no-style.

  Without --model, the model this repository adopted with "changeling finetune --task cmg" is used, if any
  (--nngen-only: none).

  The model is fed as its profile says it was trained (see "changeling input"); --input-format F overrides.
  --prefix TEXT          text already typed: the model completes it (a partial last word constrains the
                         first generated word; every candidate starts with the text as typed), NNGen's
                         candidates are kept when they start with it; the style rules leave it alone
  -n N                   candidates per source (default 5)
  --subject-limit N      cut longer subject lines at a word (default 72)
  --beams N / --max-new-tokens N   the model's beam width and longest message in tokens (default: the
                         model's profile; 5 and 64 for a model without one)
  --history N            newest commits NNGen and the style learn from (default 5000)
  --exclude G / --include G   the model-input filter's globs (as for "changeling show")
  --precision P          auto (default: int8 weights on the CPU, where the quality gate held), fp32, int8 or int4
  With --model naming a code LLM (a decoder-only folder with a chat template, e.g. Qwen2.5-Coder Instruct):
  n candidates sampled from the chat prompt "changeling input" shows (the whole diff within --budget N
  tokens), each a subject and a body wrapped at 72 columns (--no-body: the subject alone), --seed S for
  other samples; a candidate naming a path or identifier that is neither in the change nor in the tree at
  HEAD is ranked last and marked UNFAITHFUL ("unfaithful" in --json).
  --server URL           a code LLM the user already runs on this machine instead of --model: Ollama
                         (http://127.0.0.1:11434) or an OpenAI-compatible server (llama.cpp, vLLM, LM
                         Studio); loopback addresses only (127.0.0.1, [::1], localhost), the same prompt and
                         faithfulness check; --server-model NAME (e.g. qwen2.5-coder:1.5b), --server-api
                         ollama|openai (default: ollama on port 11434, openai elsewhere)
  --hook-file FILE       for the prepare-commit-msg hook: put the best candidate into FILE and the others as
                         comments, only when FILE has no message yet; never changes a message already there`;

async function commentChar(repo: Repository): Promise<string> {
  const c = (await repo.git.raw(['config', 'core.commentChar']).catch(() => '')).trim();
  return c && c !== 'auto' ? c[0]! : '#';
}

/**
 * The message file of `git commit` with the suggestions added: a model's best as the message when there is
 * none yet, its other candidates as comments; the messages of similar earlier commits (NNGen's) only as
 * comments, said to be what they are, never put in as the user's message.
 */
function withSuggestions(text: string, r: SuggestResult, comment: string): { text: string; best: Suggestion | null } | null {
  if (r.candidates.length === 0) return null;
  const hasMessage = text.split('\n').some((l) => l.trim() && !l.startsWith(comment));
  const written = r.candidates.filter((c) => c.source !== 'nngen');
  const past = r.candidates.filter((c) => c.source === 'nngen');
  const best = !hasMessage && written[0] && !written[0].unfaithful?.length ? written[0] : null;
  const others = written.filter((c) => c !== best);
  const block = [
    ...(others.length
      ? [
          `${comment} Changeling suggestions${best ? ' (the first is above; edit or replace it)' : ''}:`,
          ...others.map(
            (c, i) =>
              `${comment}   ${i + 1}. ${c.message.split('\n')[0]}${c.unfaithful?.length ? '   (names something the change does not have)' : ''}`,
          ),
        ]
      : best
        ? [`${comment} Changeling wrote the message above; edit or replace it.`]
        : []),
    ...(past.length
      ? [
          `${comment} Messages of similar earlier commits (theirs, not a description of this change):`,
          ...past.map((c) => `${comment}   ${c.commit ? `${c.commit.sha.slice(0, 10)} ` : ''}${c.message.split('\n')[0]}`),
        ]
      : []),
  ].join('\n');
  if (hasMessage || !best) return { text: `${text.replace(/\n*$/, '\n')}${block}\n`, best: null };
  return { text: `${best.message}\n\n${block}\n${text}`, best };
}

export async function suggestCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      repo: { type: 'string' },
      commit: { type: 'string' },
      model: { type: 'string' },
      adapter: { type: 'string' },
      n: { type: 'string', short: 'n' },
      'no-style': { type: 'boolean', default: false },
      beams: { type: 'string' },
      'max-new-tokens': { type: 'string' },
      'no-body': { type: 'boolean', default: false },
      seed: { type: 'string' },
      budget: { type: 'string' },
      'subject-limit': { type: 'string' },
      history: { type: 'string' },
      exclude: { type: 'string', multiple: true },
      include: { type: 'string', multiple: true },
      'hook-file': { type: 'string' },
      json: { type: 'boolean', default: false },
      'nngen-only': { type: 'boolean', default: false },
      prefix: { type: 'string' },
      'input-format': { type: 'string' },
      precision: { type: 'string' },
      server: { type: 'string' },
      'server-model': { type: 'string' },
      'server-api': { type: 'string' },
    },
  });
  const precision = parsePrecision(values.precision);
  if (values.adapter && !values.model) throw new ChangelingError('usage', '--adapter needs --model (the base model it was trained on)');
  if (values['hook-file'] && values.commit) throw new ChangelingError('usage', '--hook-file is for the staged change');
  const repo = await openRepository(values.repo ?? process.cwd());
  if (values['hook-file'] && !values.model && !values.server) {
    // The hook's writer, as "hook install --prepare-commit-msg --model/--server" stored it (a folder that is
    // gone or not absolute is passed over: the hook must never stop a commit).
    const config = async (key: string) => (await repo.git.raw(['config', '--get', key]).catch(() => '')).trim();
    const dir = await config(HOOK_WRITER_KEYS.model);
    if (dir && isAbsolute(dir) && existsSync(join(dir, 'config.json'))) values.model = dir;
    const server = await config(HOOK_WRITER_KEYS.server);
    if (!values.model && server) {
      values.server = server;
      values['server-model'] = (await config(HOOK_WRITER_KEYS.serverModel)) || DEFAULT_SERVER_MODEL;
    }
  }
  const target: SuggestTarget = values.commit ? { kind: 'commit', rev: values.commit } : { kind: 'staged' };
  const progress = new StderrProgress(values.json || !!values['hook-file']);
  // An explicit --model, else the model this repository adopted (changeling finetune), unless --nngen-only.
  const adopted = values.model || values.server || values['nngen-only'] ? null : await adoptedMessageModel(repo);
  const inputFormat = values['input-format'] ? parseInputFormat(values['input-format']) : undefined;
  if (values.server && values.model) throw new ChangelingError('usage', '--server and --model are two writers: name one');
  if ((values['server-model'] || values['server-api']) && !values.server)
    throw new ChangelingError('usage', '--server-model and --server-api need --server URL');
  const api = values['server-api'];
  if (api && api !== 'ollama' && api !== 'openai') throw new ChangelingError('usage', '--server-api is ollama or openai');
  // A code LLM: a chat model folder given (with its tuned adapter, if any), or the one this repository adopted.
  const llmDir = values.model && (await isChatLlmFolder(resolve(values.model))) ? resolve(values.model) : null;
  const adoptedLlm = !llmDir && adopted && (await isChatLlmFolder(adopted.model)) ? adopted : null;
  const llm: ChatWriter | null = values.server
    ? new ServerMessageWriter({ url: values.server, model: values['server-model'] ?? '', api: api as ServerApi | undefined })
    : llmDir
      ? await LlmMessageWriter.create(llmDir, { precision, adapter: values.adapter ? resolve(values.adapter) : undefined })
      : adoptedLlm
        ? await LlmMessageWriter.create(adoptedLlm.model, { precision, adapter: adoptedLlm.adapter ?? undefined })
        : null;
  if (llm && inputFormat) throw new ChangelingError('usage', '--input-format is for seq2seq message models, not a chat LLM');
  if (values.server && values.adapter) throw new ChangelingError('usage', '--adapter is for a model folder (--model), not a server');
  const model = llm
    ? null
    : values.model
      ? await MessageModel.create(resolve(values.model), {
          adapter: values.adapter ? resolve(values.adapter) : undefined,
          inputFormat,
          precision,
        })
      : adopted
        ? await MessageModel.create(adopted.model, { adapter: adopted.adapter ?? undefined, inputFormat, precision })
        : null;
  const r = await suggestMessages(repo, target, {
    model,
    llm,
    body: !values['no-body'],
    seed: parseCount('seed', values.seed, 2 ** 31, 0),
    budget: parseCount('budget', values.budget, 1_000_000, 1),
    n: parseCount('n', values.n, 100, 1),
    beams: parseCount('beams', values.beams, 64, 1),
    maxNewTokens: parseCount('max-new-tokens', values['max-new-tokens'], 1024, 1),
    style: !values['no-style'],
    subjectLimit: parseCount('subject-limit', values['subject-limit'], 10000, 10),
    history: parseCount('history', values.history, 10_000_000, 1),
    typed: values.prefix,
    filter: { exclude: values.exclude, include: values.include },
    signal: interruptSignal(),
    onProgress: (t) => progress.update(t),
  });
  progress.done();
  if (values['hook-file']) {
    const file = values['hook-file'];
    const text = await readTextFile(file, { max: 16 * 2 ** 20, what: 'the commit message file' });
    const next = withSuggestions(text, r, await commentChar(repo));
    if (next !== null) await writeBytesAtomic(file, Buffer.from(next.text));
    // The message put in for the user: the post-commit hook pairs it with what they commit (changeling edits).
    if (next?.best) await noteSuggestion(repo, { suggested: next.best.message, via: 'hook', writer: llm?.name ?? model?.model.dir ?? '' });
    return 0;
  }
  if (values.json) {
    await printJson(r);
    return 0;
  }
  const lines = r.candidates.map((c, i) => {
    const body = c.message.split('\n').slice(1).join('\n').trim();
    return `${String(i + 1).padStart(3)}. ${fieldText(c.message.split('\n')[0]!, 200)}${
      body
        ? `\n${body
            .split('\n')
            .slice(0, 12)
            .map((l) => `       ${fieldText(l, 200)}`)
            .join('\n')}`
        : ''
    }\n       ${c.unfaithful?.length ? 'UNFAITHFUL ' : ''}${c.source}: ${c.detail}${
      c.original && c.original !== c.message ? `; styled from "${fieldText(c.original.split('\n')[0]!, 100)}"` : ''
    }`;
  });
  const s = r.style;
  const styleLine =
    s && s.subjects >= 10
      ? `style (from ${s.subjects} subjects): Conventional Commits ${(s.conventional * 100).toFixed(0)}%, capitalised ${(s.capitalized * 100).toFixed(0)}%, \
imperative ${(s.imperative * 100).toFixed(0)}%, trailing period ${(s.period * 100).toFixed(0)}%${
          s.ticket.share > 0.1 ? `, ticket ids ${(s.ticket.share * 100).toFixed(0)}%` : ''
        }`
      : s
        ? `style: too little history to learn from (${s.subjects} subjects)`
        : 'style: off';
  await writeOut(
    [
      `Suggestions for ${r.target === 'staged' ? 'the staged change' : r.target === 'worktree' ? 'all changes to tracked files' : `commit ${r.target.slice(0, 12)}`} (${r.files} \
files; NNGen over ${r.indexed} earlier commits${model ? `; ${model.label} ${model.model.dir}` : ''}${llm ? `; code LLM ${llm.name}` : ''}):`,
      ...(lines.length ? lines : ['  none: the history has no similar change yet (and no model is configured)']),
      ...(r.inputNote ? [`note: ${r.inputNote}`] : []),
      styleLine,
    ].join('\n') + '\n',
  );
  return 0;
}
