import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { repoDataDir, type Repository } from '../../git/repository.js';
import { bnormPerItem, cmgMetrics, subjectOf, type CmgMetrics } from '../../eval/cmgMetrics.js';
import { cancelledError } from '../../util/errors.js';
import { decideAdoption } from '../adoption.js';
import { writeFileAtomic } from '../../util/atomicFile.js';
import { withLock } from '../../util/lock.js';
import { runFolder } from './runState.js';
import { subjectHistory, type Pair } from '../cmg/dataset.js';
import { NngenIndex, diffWords } from '../cmg/nngen.js';
import { loadLlmFolder } from '../cmg/llmInput.js';
import { historyContexts, historyPrompt, trainingConversation, type HistoryContext } from '../cmg/llmHistory.js';
import { LlmMessageWriter, diffTextOf, faithfulnessCheck, shapeMessage, treeLookup } from '../cmg/llmWriter.js';
import { editPairs, EDIT_WEIGHT } from '../cmg/editPairs.js';
import { METHODS, savesAdapter } from '../../peft/methods.js';
import { cmgResult, cmgSplits, finishCmgRun, trainCmgRun } from './cmgRun.js';
import type { FinetuneEvent, FinetuneOptions, FinetuneResult } from './types.js';

const QUICK = { train: 60, eval: 8, steps: 12 };
/** Tokens of a training row (prompt and answer) unless --max-length says otherwise; and of the answer. */
const ROW_TOKENS = { full: 1536, quick: 1024, answer: 96 };
/** The rows `changeling export --task cmg` writes for a code LLM: finetune's full rows. */
export const LLM_ROWS = { maxLength: ROW_TOKENS.full, maxAnswer: ROW_TOKENS.answer };
/** LoRA on all seven projections of the top layers (the rest frozen, and in int8-fast computed without gradients). */
const TOP_LAYERS = 8;
const LLM_LORA = { r: 16, alpha: 32 };

/**
 * `changeling finetune --task cmg` with a code LLM (a chat model folder: Qwen2.5-Coder Instruct and the Llama
 * family): the repository's commits become chat rows in the very prompt ✨ builds (`llmHistory.ts`: the diff
 * within the budget, the three most similar earlier commits, the author's subjects), the commit's real message
 * (subject and body) as the answer; the user's own recorded edits (`editPairs.ts`: what ✨ suggested and what
 * they committed) join the training rows with EDIT_WEIGHT times the weight of a history row. Oldest 80%
 * train, next 10% validate, newest 10% test; LoRA r 16 on the top 8 layers with the frozen weights in int8
 * (int8-fast) by default. The untuned and the tuned model write (greedy) for the validation and test
 * commits; EditSim and ChrF of the whole message, B-Norm of the subject and the share of messages naming only
 * what exists (faithfulness) are reported, and adoption is the one decision (`decideAdoption`) on the subjects'
 * B-Norm with its paired bootstrap.
 */
export async function finetuneCmgLlm(repo: Repository, o: FinetuneOptions, modelDir: string): Promise<FinetuneResult> {
  const t0 = performance.now();
  const emit = (e: FinetuneEvent) => o.onEvent?.(e);
  const llm = await loadLlmFolder(modelDir);
  emit({ kind: 'stage', stage: 'mining', message: 'reading the history (the code LLM learns in the prompt ✨ gives it)' });
  const all = await subjectHistory(repo, o.maxCommits ?? 20000, o.signal);
  const { train, validation, test } = cmgSplits(all, o, { quick: QUICK, evalCap: 100 });
  const contexts = historyContexts(all, train);
  const dataDir = await repoDataDir(repo);
  // The user's edits of earlier suggestions, for commits before the validation ones (never a scored commit's).
  const firstScored = new Set([...validation, ...test].map((p) => p.sha));
  const bySha = new Map(all.map((p) => [p.sha, p]));
  const edits = (await editPairs(dataDir)).filter((e) => bySha.has(e.sha) && !firstScored.has(e.sha));
  emit({
    kind: 'stage',
    stage: 'dataset',
    message: `${train.length} training, ${validation.length} validation, ${test.length} test commits; ${edits.length} of your edited suggestions`,
  });
  return withLock(join(dataDir, 'locks', 'cmg.lock'), `changeling finetune --task cmg --method ${o.method}`, async () => {
    const work = join(dataDir, 'finetune-cmg');
    await mkdir(work, { recursive: true });
    await writeFileAtomic(
      join(work, 'run.json'),
      JSON.stringify({ task: 'cmg', method: o.method, model: modelDir, llm: true, quick: !!o.quick }) + '\n',
    );
    const maxLength = o.maxLength ?? (o.quick ? ROW_TOKENS.quick : ROW_TOKENS.full);
    const row = (p: Pair, message = p.message) =>
      JSON.stringify({
        messages: trainingConversation({ ...p, message }, contexts.get(p.sha)!, llm, { maxLength, maxAnswer: ROW_TOKENS.answer }).messages,
      });
    const lines = train.map((p) => row(p));
    // An edit is the message the user committed after a suggestion: learnt EDIT_WEIGHT times.
    for (const e of edits) for (let k = 0; k < EDIT_WEIGHT; k++) lines.push(row(bySha.get(e.sha)!, e.committed));
    const rows = lines.join('\n') + '\n';
    const data = join(work, 'train.jsonl');
    await writeFileAtomic(data, rows);
    // Rows of up to 1,536 tokens: 4 a batch keeps the 0.5B's step in a laptop's memory (8 took 17 GB here).
    const batch = o.batch ?? 4;
    const perEpoch = Math.ceil(lines.length / batch);
    const epochs = o.epochs ?? Math.min(3, Math.max(1, Math.ceil(200 / perEpoch)));
    const steps = o.quick ? Math.min(QUICK.steps, perEpoch * epochs) : perEpoch * epochs;
    const adapters = join(dataDir, 'adapters', 'cmg');
    const out = runFolder(adapters, o.method);
    // Full fine-tuning trains every weight: nothing is frozen to hold in int8.
    const frozen = o.frozen ?? (savesAdapter(o.method) ? 'int8-fast' : 'fp32');
    const top = Math.min(TOP_LAYERS, llm.config.numLayers);
    const layers = Array.from({ length: top }, (_, i) => llm.config.numLayers - top + i);
    emit({
      kind: 'stage',
      stage: 'training',
      message: `${METHODS[o.method].label} of the code LLM (LoRA's rank ${LLM_LORA.r} on its top ${top} layers), frozen weights ${frozen}: ${steps} steps (${epochs} epochs of ${perEpoch})`,
    });
    const lr = o.lr ?? METHODS[o.method].lr.llm;
    const { trained, losses } = await trainCmgRun(o, {
      modelDir,
      work,
      data,
      rows,
      out,
      steps,
      batch,
      lr,
      owner: { maxLength, frozen, llm: true },
      train: { maxSourceLength: maxLength, lora: { ...LLM_LORA, layers }, frozen: savesAdapter(o.method) ? frozen : undefined },
      emit,
    });
    const base = await LlmMessageWriter.create(modelDir, { provider: o.provider });
    const tuned = savesAdapter(o.method)
      ? await LlmMessageWriter.create(modelDir, { provider: o.provider, adapter: out })
      : await LlmMessageWriter.create(out, { provider: o.provider });
    const index = new NngenIndex();
    for (const p of train) index.add(p.sha, p.subject, diffWords(p.files));
    const evaluate = async (pairs: Pair[], split: string) => {
      const gold = pairs.map((p) => p.message);
      const untuned = await writeFor(base, pairs, contexts, repo, o, (i, n) =>
        emit({ kind: 'stage', stage: 'evaluating', message: `${split}, untuned: ${i} of ${n}` }),
      );
      const tunedOut = await writeFor(tuned, pairs, contexts, repo, o, (i, n) =>
        emit({ kind: 'stage', stage: 'evaluating', message: `${split}, tuned: ${i} of ${n}` }),
      );
      const nngen = pairs.map((p) => index.query(diffWords(p.files), { k: 5 })[0]?.message ?? '');
      const metrics: Record<string, CmgMetrics> = {
        untuned: { ...cmgMetrics(untuned.messages, gold), faithful: untuned.faithful },
        tuned: { ...cmgMetrics(tunedOut.messages, gold), faithful: tunedOut.faithful },
        nngen: cmgMetrics(nngen, gold),
      };
      return { gold, preds: { untuned: untuned.messages, tuned: tunedOut.messages, nngen }, metrics };
    };
    const val = await evaluate(validation, 'validation');
    const tst = await evaluate(test, 'test');
    // Your edits: how far the suggestions were from what you committed, and how far the tuned model's are.
    const editScore =
      edits.length > 0
        ? await (async () => {
            const pairs = edits.map((e) => bySha.get(e.sha)!);
            const after = await writeFor(tuned, pairs, contexts, repo, o, (i, n) =>
              emit({ kind: 'stage', stage: 'evaluating', message: `your edits: ${i} of ${n}` }),
            );
            const committed = edits.map((e) => e.committed);
            return {
              pairs: edits.length,
              before: cmgMetrics(
                edits.map((e) => e.suggested),
                committed,
              ).editSim,
              after: cmgMetrics(after.messages, committed).editSim,
            };
          })()
        : undefined;
    const subjects = (xs: readonly string[]) => xs.map(subjectOf);
    const subjectBnorm = (m: CmgMetrics) => m.subject?.bnormBleu ?? m.bnormBleu;
    const verdict = decideAdoption(o.adopt ?? 'auto', {
      subject: 'the tuned model',
      against: 'the untuned one',
      metric: 'validation B-Norm BLEU of the subjects',
      candidate: subjectBnorm(val.metrics.tuned!),
      inUse: subjectBnorm(val.metrics.untuned!),
      generations: val.preds.tuned,
      evidence: {
        kind: 'items',
        candidate: bnormPerItem(subjects(val.preds.tuned), subjects(val.gold)),
        inUse: bnormPerItem(subjects(val.preds.untuned), subjects(val.gold)),
      },
    });
    const done = await finishCmgRun(repo, {
      verdict,
      method: o.method,
      modelDir,
      out,
      adapters,
      validation: { tunedBnorm: subjectBnorm(val.metrics.tuned!), untunedBnorm: subjectBnorm(val.metrics.untuned!) },
    });
    const result = cmgResult(repo, o, {
      modelDir,
      out,
      t0,
      splits: { train, validation, test },
      trained,
      losses,
      validation: val.metrics,
      test: tst,
      done,
      verdict,
      real: (p) => p.message,
    });
    return { ...result, llm: true, edits: editScore };
  });
}

/**
 * A writer's message for each commit (greedy, the subject and body shaped as ✨ shapes them) from the commit's
 * prompt as ✨ would have built it, and the share (%) of messages that name only paths and identifiers found in
 * the change or the tree at HEAD.
 */
export async function writeFor(
  w: LlmMessageWriter,
  pairs: readonly Pair[],
  contexts: ReadonlyMap<string, HistoryContext>,
  repo: Repository,
  o: Pick<FinetuneOptions, 'signal'>,
  progress: (done: number, total: number) => void,
): Promise<{ messages: string[]; faithful: number }> {
  const messages: string[] = [];
  let faithful = 0;
  // One listing of the tree at HEAD for every commit checked.
  const tree = treeLookup(repo, o.signal);
  for (const [i, p] of pairs.entries()) {
    if (o.signal?.aborted) throw cancelledError();
    const prompt = historyPrompt(p, contexts.get(p.sha)!, w.prompt, {
      contextLength: w.prompt.contextLength,
      maxNewTokens: ROW_TOKENS.answer,
      what: "the model's context",
    });
    const raw = (await w.write(prompt, { greedy: true, maxNewTokens: ROW_TOKENS.answer, signal: o.signal }))[0] ?? '';
    const message = shapeMessage(raw, '', { body: true });
    messages.push(message);
    if ((await faithfulnessCheck(diffTextOf(p.files), repo, o.signal, tree)(message)).length === 0) faithful++;
    if (i % 5 === 0) progress(i + 1, pairs.length);
  }
  return { messages, faithful: pairs.length ? (100 * faithful) / pairs.length : 0 };
}
