// Benchmarks: `npm run bench -- NAME [args] [--json]`. Each prints a table, or with --json one JSON object
// with every figure of both sides and their ratio. Timings belong here, not in the tests.
import { mineBench } from './mine.js';
import { engineBench } from './engine.js';
import { inferBench, inferWorker } from './infer.js';
import { trainBench, trainWorker } from './train.js';
import { jitdpBench } from './jitdp.js';
import { szzBench } from './szz.js';
import { gateBench } from './gate.js';
import { trainHistoryBench } from './trainHistory.js';
import { jitdpEvalBench } from './jitdpEval.js';
import { jitdpDefaultBench } from './jitdpDefault.js';
import { cmgEvalBench } from './cmgEval.js';
import { finetuneEvalBench } from './finetuneEval.js';
import { loadBench, loadWorker } from './load.js';
import { cmgInputCheckBench } from './cmgInputCheck.js';
import { profileBench } from './profile.js';
import { attentionBench } from './attention.js';

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
      'train-history REPO [--max N]: one epoch of LoRA on a real history, changeling train vs recipes/train_lora.py (wall time, peak RSS)',
    run: trainHistoryBench,
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
  load: { usage: 'load [DIR]: first use of a full-size CodeT5-base pytorch_model.bin (time, peak RSS)', run: loadBench },
  'load-worker': { usage: 'load-worker DIR (internal)', run: loadWorker },
  'infer-worker': { usage: 'infer-worker DIR CASE SRC NEW RUNS (internal)', run: inferWorker },
};

const [name, ...rest] = process.argv.slice(2);
const json = rest.includes('--json');
const args = rest.filter((a) => a !== '--json');
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
  (result) => {
    if (json) process.stdout.write(JSON.stringify(result) + '\n');
  },
  (err) => {
    process.stderr.write(`bench ${name}: ${(err as Error).message}\n`);
    process.exit(1);
  },
);
