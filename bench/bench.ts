// Benchmarks: `npm run bench -- NAME [args] [--json] [--record]`. Each prints a table, or with --json one JSON
// object with every figure of both sides and their ratio. --record also keeps that object, with the date, the
// CPU and the versions, in bench/results/NAME.json, from which `npm run bench -- report` writes
// docs/performance.md. Timings belong here, not in the tests.
import { cpus, totalmem } from 'node:os';
import * as ort from 'onnxruntime-node';
import { writeFileAtomic } from '../src/util/atomicFile.js';
import { performanceReport, RESULTS_DIR, REPORT_PATH, loadResults } from './report.js';
import { mineBench } from './mine.js';
import { engineBench } from './engine.js';
import { inferBench, inferWorker } from './infer.js';
import { trainBench, trainWorker } from './train.js';
import { trainLlmBench, trainLlmWorker } from './trainLlm.js';
import { jitdpBench } from './jitdp.js';
import { szzBench } from './szz.js';
import { gateBench } from './gate.js';
import { trainHistoryBench } from './trainHistory.js';
import { llmBench, llmWorker } from './llm.js';
import { jitdpEvalBench } from './jitdpEval.js';
import { jitdpDefaultBench } from './jitdpDefault.js';
import { jitdpLineModelBench } from './jitdpLineModel.js';
import { jitdpAdoptionBench } from './jitdpAdoption.js';
import { cmgLlmBench } from './cmgLlm.js';
import { vscodeTimesBench } from './vscodeTimes.js';
import { cmgEvalBench } from './cmgEval.js';
import { finetuneEvalBench } from './finetuneEval.js';
import { loadBench, loadWorker } from './load.js';
import { cmgInputCheckBench } from './cmgInputCheck.js';
import { profileBench } from './profile.js';
import { attentionBench } from './attention.js';
import { precisionFormsBench } from './precisionForms.js';

const BENCHES: Record<string, { usage: string; run: (args: string[]) => Promise<Record<string, unknown>> }> = {
  mine: { usage: 'mine REPO_PATH [--runs N]', run: mineBench },
  engine: { usage: 'engine [--small]', run: engineBench },
  infer: {
    usage: 'infer [codet5-small|codet5-base|codebert-base] (greedy, beam 5, and the CommitChronicle setting: beam 10, 15 new tokens)',
    run: inferBench,
  },
  train: { usage: 'train [lora-codet5-small|lora-codebert-base|fmft-codet5-small]', run: trainBench },
  jitdp: { usage: 'jitdp REPO_PATH [--cache DIR]', run: jitdpBench },
  'train-history': {
    usage:
      'train-history REPO [--max N] [--llm 0.5b|1.5b]: one epoch of LoRA on a real history (CodeT5-small shapes, or a code LLM tuned as finetune tunes it), changeling train vs recipes/train_lora.py (wall time, peak RSS)',
    run: trainHistoryBench,
  },
  llm: {
    usage:
      'llm [--shapes 0.5b|1.5b] [--prompt N] [--new N] [--threads 1,2] [--no-torch]: the code LLM against llama.cpp (Q8_0, Q4_0) and PyTorch on the same weights: prefill, decode, end to end, load, RSS',
    run: llmBench,
  },
  'llm-worker': { usage: 'llm-worker ... (internal)', run: llmWorker },
  'precision-forms': {
    usage: "precision-forms: one weight product at Qwen2.5-Coder-0.5B's shapes in fp32, int8 (both forms) and int4 (ms)",
    run: precisionFormsBench,
  },
  gate: {
    usage:
      'gate [--inputs N] [--trained DIR --repo PATH [--adapter DIR]]: int8 against fp32 (greedy sequences, risk probabilities, B-Norm on a real history)',
    run: gateBench,
  },
  szz: { usage: 'szz REPO_PATH [--no-blame]: SZZ by the line walk and by git blame on every fix, timed, labels compared', run: szzBench },
  'jitdp-eval': {
    usage:
      'jitdp-eval REPO REPO... [--cache DIR] [--epochs N] [--max-length N] [--cc2vec-epochs N] [--no-neural] [--no-cc2vec] [--only-cc2vec]',
    run: jitdpEvalBench,
  },
  'jitdp-default': { usage: 'jitdp-default REPO REPO... --out FILE [--cache DIR]', run: jitdpDefaultBench },
  'jitdp-line-model': {
    usage: "jitdp-line-model REPO REPO REPO... --out FILE [--cache DIR]: the default's bag-of-tokens line model",
    run: jitdpLineModelBench,
  },
  'jitdp-adoption': {
    usage:
      "jitdp-adoption REPO... [--cache DIR] [--no-lines]: the default and risk-train's decision on each history (test AUC, interval, line Top-10)",
    run: jitdpAdoptionBench,
  },
  'cmg-llm': {
    usage:
      'cmg-llm REPO [--commit REV] [--budget N] [--new N] [--shapes 0.5b|1.5b] [--precision fp32,auto]: ✨ with a code LLM of Qwen2.5-Coder 0.5B and 1.5B shapes: time to the first token and the whole candidate',
    run: cmgLlmBench,
  },
  vscode: {
    usage:
      'vscode REPO: in a real VS Code (code-server), the risk item and the first ✨ list after opening a clone of REPO with a staged line',
    run: vscodeTimesBench,
  },
  'cmg-eval': { usage: 'cmg-eval REPO... [--max N] [--train REPO_NAME [--epochs N]] [--nngen-only]', run: cmgEvalBench },
  'cmg-input-check': {
    usage: 'cmg-input-check REPO [--n N]: CommitChronicle inputs against the reference code on any history',
    run: cmgInputCheckBench,
  },
  attention: {
    usage: "attention: T5 attention composed vs onnxruntime's fused MultiHeadAttention (encoder and beam-step shapes)",
    run: attentionBench,
  },
  profile: {
    usage:
      "profile infer MODEL [CASE] [fp32|int8] | profile train CASE: onnxruntime's kernel time by operator (attention apart from weight products)",
    run: profileBench,
  },
  'finetune-eval': { usage: 'finetune-eval REPO... [--eval-cap N]', run: finetuneEvalBench },
  'train-worker': { usage: 'train-worker ... (internal)', run: trainWorker },
  'train-llm': {
    usage:
      'train-llm [--shapes 0.5b|1.5b] [--labelled N] [--frozen int8] [--recompute blocks|attention|lean] [--tokens N] [--batch N] [--r N] [--layers A-B] [--steps N]: LoRA on a code LLM at Qwen2.5-Coder shapes, against transformers + PEFT',
    run: trainLlmBench,
  },
  'train-llm-worker': { usage: 'train-llm-worker ... (internal)', run: trainLlmWorker },
  load: { usage: 'load [DIR]: first use of a full-size CodeT5-base pytorch_model.bin (time, peak RSS)', run: loadBench },
  'load-worker': { usage: 'load-worker DIR (internal)', run: loadWorker },
  'infer-worker': { usage: 'infer-worker DIR CASE SRC NEW RUNS (internal)', run: inferWorker },
  report: {
    usage: 'report: writes docs/performance.md from the recorded results in bench/results/ (run benches with --record)',
    run: async () => {
      const text = performanceReport(loadResults());
      await writeFileAtomic(REPORT_PATH, text);
      process.stderr.write(`wrote ${REPORT_PATH}\n`);
      return { report: REPORT_PATH };
    },
  },
};

const [name, ...rest] = process.argv.slice(2);
const json = rest.includes('--json');
const record = rest.includes('--record');
const args = rest.filter((a) => a !== '--json' && a !== '--record');
const bench = name ? BENCHES[name] : undefined;
if (!bench) {
  process.stderr.write(
    `usage: npm run bench -- NAME [args] [--json]\n${Object.values(BENCHES)
      .map((b) => '  ' + b.usage)
      .join('\n')}\n`,
  );
  process.exit(2);
}
bench.run(args).then(
  async (result) => {
    if (json) process.stdout.write(JSON.stringify(result) + '\n');
    if (record) {
      const machine = {
        cpu: cpus()[0]?.model ?? '?',
        cores: cpus().length,
        memGiB: Math.round(totalmem() / 2 ** 30),
        node: process.version,
        onnxruntime: ort.env.versions?.common ?? '?',
      };
      // A bench with variants names its own record (train-history --llm: train-history-llm).
      const named = (result as { bench?: unknown }).bench;
      const recorded = typeof named === 'string' && /^[a-z0-9]+([.-][a-z0-9]+)*$/.test(named) ? named : name;
      const file = `${RESULTS_DIR}/${recorded}.json`;
      await writeFileAtomic(
        file,
        JSON.stringify(
          { bench: recorded, ...(recorded !== name ? { command: name } : {}), args, date: new Date().toISOString(), machine, result },
          null,
          1,
        ) + '\n',
      );
      process.stderr.write(`recorded ${file}\n`);
    }
  },
  (err) => {
    process.stderr.write(`bench ${name}: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
