import { existsSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadModelFolder } from '../src/models/modelFolder.js';
import { Seq2SeqRunner } from '../src/runtime/seq2seq.js';
import { EncoderRunner } from '../src/runtime/encoderRunner.js';
import { CausalLmRunner } from '../src/runtime/causalLm.js';
import { logitAgreement } from '../src/runtime/logitAgreement.js';
import { LLM_INT8_GATE } from '../src/runtime/precision.js';
import { seededRandom } from '../src/train/batching.js';
import { MessageModel } from '../src/tasks/cmg/generate.js';
import { openRepository } from '../src/git/repository.js';
import { walkHistory } from '../src/git/history.js';
import { bnormBleu } from '../src/eval/cmgMetrics.js';
import { robertaModel, t5Config, t5Shapes, writeModel } from './infer.js';

/**
 * The int8 quality gate: int8 graphs against fp32 ones on the same inputs.
 * - full-size random weights (CodeT5-small shapes): greedy sequences identical for at least 95% of inputs;
 * - full-size random weights (CodeBERT-base with a classifier): class probabilities within 0.01;
 * - a tiny Qwen2 trained here, held-out text: the same first token at 95% of positions, mean KL <= 0.01 nats;
 * - with --trained DIR --repo PATH (a T5 trained by `changeling finetune` on that history): greedy messages
 *   identical for at least 95% of its newest commits, and the B-Norm of the beam-search suggestions within 0.5
 *   of fp32's against the real messages.
 */
export async function gateBench(args: string[]): Promise<Record<string, unknown>> {
  const n = args.includes('--inputs') ? Number(args[args.indexOf('--inputs') + 1]) : 40;
  const root = join(tmpdir(), 'changeling-bench-gate');
  process.env.CHANGELING_GRAPH_CACHE = join(root, 'graphs');
  const r = seededRandom(3);
  const result: Record<string, unknown> = { bench: 'gate', cpu: cpus()[0]?.model, inputs: n };

  // CodeT5-small shapes, random weights: greedy 20 tokens from random 256-token inputs.
  const t5dir = join(root, 'codet5-small');
  if (!existsSync(join(t5dir, 'model.safetensors')))
    writeModel(t5dir, t5Config(512, 64, 8, 2048, 6, 32100), t5Shapes(512, 64, 8, 2048, 6, 32100));
  const t5 = await loadModelFolder(t5dir);
  const [f32, i8] = await Promise.all([
    Seq2SeqRunner.create(t5, { maxLength: 1024, precision: 'fp32' }),
    Seq2SeqRunner.create(t5, { maxLength: 1024, precision: 'int8' }),
  ]);
  let same = 0;
  let tokensSame = 0;
  for (let i = 0; i < n; i++) {
    const len = 256;
    const ids = new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: len }, () => BigInt(5 + Math.floor(r() * 32000))),
      [1, len],
    );
    const mask = new ort.Tensor('int64', new BigInt64Array(len).fill(1n), [1, len]);
    const a = (await f32.greedy(ids, mask, 20, { minNewTokens: 20 })).sequences[0]!;
    const b = (await i8.greedy(ids, mask, 20, { minNewTokens: 20 })).sequences[0]!;
    if (a.join() === b.join()) same++;
    let k = 0;
    while (k < a.length && a[k] === b[k]) k++;
    tokensSame += k / a.length;
  }
  result.randomT5 = {
    model: 'codet5-small shapes, random weights',
    greedyIdentical: same / n,
    meanIdenticalPrefix: tokensSame / n,
    gate: '>= 0.95',
  };
  process.stderr.write(
    `random codet5-small: greedy sequences identical ${same}/${n} (${((100 * same) / n).toFixed(0)}%), mean identical prefix ${((100 * tokensSame) / n).toFixed(0)}%\n`,
  );

  // CodeBERT-base shapes with a classifier, random weights: probability of the positive class.
  const rbdir = join(root, 'codebert-base');
  if (!existsSync(join(rbdir, 'model.safetensors'))) robertaModel(rbdir);
  const rb = await loadModelFolder(rbdir);
  if (rb.kind !== 'roberta') throw new Error('not a RoBERTa folder');
  const [e32, e8] = await Promise.all([EncoderRunner.create(rb, { precision: 'fp32' }), EncoderRunner.create(rb, { precision: 'int8' })]);
  let maxDiff = 0;
  const prob = (l: Float32Array) => 1 / (1 + Math.exp(l[0]! - l[1]!));
  for (let i = 0; i < n; i++) {
    const len = 512;
    const ids = new ort.Tensor(
      'int64',
      BigInt64Array.from({ length: len }, (_, j) => (j === 0 ? 0n : BigInt(3 + Math.floor(r() * 50000)))),
      [1, len],
    );
    const mask = new ort.Tensor('int64', new BigInt64Array(len).fill(1n), [1, len]);
    const p = prob((await e32.run(ids, mask)).logits!.data as Float32Array);
    const q = prob((await e8.run(ids, mask)).logits!.data as Float32Array);
    maxDiff = Math.max(maxDiff, Math.abs(p - q));
  }
  result.randomRoberta = {
    model: 'codebert-base shapes with a classifier, random weights',
    maxProbabilityDifference: maxDiff,
    gate: '<= 0.01',
  };
  process.stderr.write(`random codebert-base classifier: largest probability difference ${maxDiff.toFixed(4)}\n`);

  // The code LLM: a tiny Qwen2 trained here (test/fixtures/decoder/make_trained_qwen2.py) on held-out text, int8 and
  // int4 next-token distributions against fp32's (the same check as test/integration/models/llmPrecisionGate.test.ts).
  const llmDir = resolve('test/fixtures/decoder/qwen2-trained');
  const held = JSON.parse(readFileSync(join(llmDir, 'heldout.json'), 'utf8')) as { rows: number[][] };
  const llm = await loadModelFolder(llmDir);
  const batch = { ids: held.rows, mask: held.rows.map((row) => row.map(() => 1)) };
  const logitsAt = async (precision: 'fp32' | 'int8' | 'int4') =>
    (await (await CausalLmRunner.create(llm, { precision })).forward(batch)).data as Float32Array;
  const ref = await logitsAt('fp32');
  for (const p of ['int8', 'int4'] as const) {
    const a = logitAgreement(ref, await logitsAt(p), llm.config.vocabSize);
    result[`trainedQwen2${p}`] = { ...a, gate: `top-1 >= ${LLM_INT8_GATE.top1}, KL <= ${LLM_INT8_GATE.kl}` };
    process.stderr.write(
      `trained tiny Qwen2, ${p}: the same first token at ${(100 * a.top1).toFixed(1)}% of ${a.positions} positions, mean KL ${a.kl.toFixed(5)}\n`,
    );
  }

  // A T5 trained on a real history, fed its newest commits.
  const trained = args.includes('--trained') ? args[args.indexOf('--trained') + 1]! : null;
  const repoPath = args.includes('--repo') ? args[args.indexOf('--repo') + 1]! : null;
  if (trained && repoPath) {
    const adapter = args.includes('--adapter') ? args[args.indexOf('--adapter') + 1] : undefined;
    const [m32, m8] = await Promise.all([
      MessageModel.create(trained, { adapter, precision: 'fp32' }),
      MessageModel.create(trained, { adapter, precision: 'int8' }),
    ]);
    const repo = await openRepository(repoPath);
    const refs: string[] = [];
    const beam32: string[] = [];
    const beam8: string[] = [];
    let greedySame = 0;
    for await (const c of walkHistory(repo, { max: n * 2, noMerges: true, ignoreWhitespace: m32.wantsWhitespaceInsensitiveDiff })) {
      if (refs.length === n || c.files.length === 0) continue;
      const input = m32.prepare(c.files);
      const [g32, g8] = [await m32.generate(input, { beams: 1, n: 1 }), await m8.generate(input, { beams: 1, n: 1 })];
      if ((g32[0]?.message ?? '') === (g8[0]?.message ?? '')) greedySame++;
      beam32.push((await m32.generate(input))[0]?.message ?? '');
      beam8.push((await m8.generate(input))[0]?.message ?? '');
      refs.push(c.message.split('\n')[0]!);
    }
    const b32 = bnormBleu(beam32, refs);
    const b8 = bnormBleu(beam8, refs);
    result.trained = {
      model: trained,
      repo: repo.root,
      commits: refs.length,
      greedyIdentical: greedySame / refs.length,
      bnormFp32: b32,
      bnormInt8: b8,
      bnormDifference: b8 - b32,
      gate: 'greedy >= 0.95, |B-Norm difference| <= 0.5',
    };
    process.stderr.write(
      `trained T5 on ${repo.root}: greedy messages identical ${greedySame}/${refs.length}; B-Norm of the beam suggestions fp32 ${b32.toFixed(2)}, int8 ${b8.toFixed(2)} (difference ${(b8 - b32).toFixed(2)})\n`,
    );
  }
  if (!process.env.CHANGELING_KEEP_BENCH_MODELS) rmSync(root, { recursive: true, force: true });
  return result;
}
