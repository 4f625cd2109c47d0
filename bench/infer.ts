import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { encodeSafetensors, type NamedTensor } from '../src/models/safetensors.js';
import { loadModelFolder } from '../src/models/modelFolder.js';
import { Seq2SeqRunner } from '../src/runtime/seq2seq.js';
import { EncoderRunner } from '../src/runtime/encoderRunner.js';
import { beamSearch } from '../src/runtime/beamSearch.js';
import { seededRandom } from '../src/train/batching.js';
import { endProfiling } from '../src/runtime/session.js';
import { parsePrecision } from '../src/runtime/precision.js';

/** Random weights at a real checkpoint's shapes, written as a model folder (config.json + model.safetensors). */
export function writeModel(dir: string, config: Record<string, unknown>, shapes: Array<[string, number[], 'w' | 'ones' | 'zeros']>): void {
  mkdirSync(dir, { recursive: true });
  const r = seededRandom(7);
  const tensors: Record<string, NamedTensor> = {};
  for (const [name, shape, kind] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (kind === 'ones') data.fill(1);
    else if (kind === 'w') for (let i = 0; i < n; i++) data[i] = (r() * 2 - 1) * 0.035; // about N(0, 0.02)
    tensors[name] = { shape, data };
  }
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
}

export function t5Shapes(
  d: number,
  dkv: number,
  heads: number,
  dff: number,
  layers: number,
  vocab: number,
): Array<[string, number[], 'w' | 'ones' | 'zeros']> {
  const inner = dkv * heads;
  const out: Array<[string, number[], 'w' | 'ones' | 'zeros']> = [['shared.weight', [vocab, d], 'w']];
  for (const stack of ['encoder', 'decoder']) {
    for (let i = 0; i < layers; i++) {
      const p = `${stack}.block.${i}.layer`;
      const att = (l: number, n: string) => {
        for (const m of ['q', 'k', 'v']) out.push([`${p}.${l}.${n}.${m}.weight`, [inner, d], 'w']);
        out.push([`${p}.${l}.${n}.o.weight`, [d, inner], 'w'], [`${p}.${l}.layer_norm.weight`, [d], 'ones']);
      };
      att(0, 'SelfAttention');
      if (i === 0) out.push([`${p}.0.SelfAttention.relative_attention_bias.weight`, [32, heads], 'w']);
      if (stack === 'decoder') att(1, 'EncDecAttention');
      const ff = stack === 'decoder' ? 2 : 1;
      out.push(
        [`${p}.${ff}.DenseReluDense.wi.weight`, [dff, d], 'w'],
        [`${p}.${ff}.DenseReluDense.wo.weight`, [d, dff], 'w'],
        [`${p}.${ff}.layer_norm.weight`, [d], 'ones'],
      );
    }
    out.push([`${stack}.final_layer_norm.weight`, [d], 'ones']);
  }
  return out;
}

export function t5Config(d: number, dkv: number, heads: number, dff: number, layers: number, vocab: number) {
  return {
    model_type: 't5',
    architectures: ['T5ForConditionalGeneration'],
    d_model: d,
    d_kv: dkv,
    num_heads: heads,
    d_ff: dff,
    num_layers: layers,
    num_decoder_layers: layers,
    vocab_size: vocab,
    feed_forward_proj: 'relu',
    relative_attention_num_buckets: 32,
    relative_attention_max_distance: 128,
    layer_norm_epsilon: 1e-6,
    tie_word_embeddings: true,
    pad_token_id: 0,
    eos_token_id: 2,
    decoder_start_token_id: 0,
    dropout_rate: 0.1,
    is_encoder_decoder: true,
  };
}

export function robertaModel(dir: string, numLabels = 2): void {
  const d = 768,
    layers = 12,
    ff = 3072,
    vocab = 50265;
  const s: Array<[string, number[], 'w' | 'ones' | 'zeros']> = [
    ['roberta.embeddings.word_embeddings.weight', [vocab, d], 'w'],
    ['roberta.embeddings.position_embeddings.weight', [514, d], 'w'],
    ['roberta.embeddings.token_type_embeddings.weight', [1, d], 'w'],
    ['roberta.embeddings.LayerNorm.weight', [d], 'ones'],
    ['roberta.embeddings.LayerNorm.bias', [d], 'zeros'],
  ];
  for (let i = 0; i < layers; i++) {
    const p = `roberta.encoder.layer.${i}`;
    for (const m of ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense'])
      s.push([`${p}.${m}.weight`, [d, d], 'w'], [`${p}.${m}.bias`, [d], 'zeros']);
    s.push([`${p}.attention.output.LayerNorm.weight`, [d], 'ones'], [`${p}.attention.output.LayerNorm.bias`, [d], 'zeros']);
    s.push(
      [`${p}.intermediate.dense.weight`, [ff, d], 'w'],
      [`${p}.intermediate.dense.bias`, [ff], 'zeros'],
      [`${p}.output.dense.weight`, [d, ff], 'w'],
      [`${p}.output.dense.bias`, [d], 'zeros'],
    );
    s.push([`${p}.output.LayerNorm.weight`, [d], 'ones'], [`${p}.output.LayerNorm.bias`, [d], 'zeros']);
  }
  s.push(
    ['classifier.dense.weight', [d, d], 'w'],
    ['classifier.dense.bias', [d], 'zeros'],
    ['classifier.out_proj.weight', [numLabels, d], 'w'],
    ['classifier.out_proj.bias', [numLabels], 'zeros'],
  );
  writeModel(
    dir,
    {
      model_type: 'roberta',
      architectures: ['RobertaForSequenceClassification'],
      vocab_size: vocab,
      hidden_size: d,
      num_hidden_layers: layers,
      num_attention_heads: 12,
      intermediate_size: ff,
      max_position_embeddings: 514,
      type_vocab_size: 1,
      layer_norm_eps: 1e-5,
      hidden_act: 'gelu',
      pad_token_id: 1,
      bos_token_id: 0,
      eos_token_id: 2,
      num_labels: numLabels,
    },
    s,
  );
}

/** One measurement of Changeling's side, in its own process (so its peak RSS is its own). */
export async function inferWorker(args: string[]): Promise<Record<string, unknown>> {
  const [dir, kase, srcLen, newTokens, runs] = [args[0]!, args[1]!, Number(args[2]), Number(args[3]), Number(args[4])];
  const precision = parsePrecision(args[5] ?? 'fp32');
  const model = await loadModelFolder(dir);
  const r = seededRandom(0);
  const vocab = model.kind === 'roberta' ? model.config.vocabSize : model.config.vocabSize;
  const ids = new ort.Tensor(
    'int64',
    BigInt64Array.from({ length: srcLen }, () => BigInt(5 + Math.floor(r() * (vocab - 6)))),
    [1, srcLen],
  );
  const mask = new ort.Tensor('int64', new BigInt64Array(srcLen).fill(1n), [1, srcLen]);
  let fn: () => Promise<unknown>;
  if (model.kind === 'roberta') {
    const e = await EncoderRunner.create(model, { precision });
    fn = () => e.run(ids, mask);
  } else {
    const s = await Seq2SeqRunner.create(model, { maxLength: 1024, precision });
    fn =
      kase === 'greedy'
        ? () => s.greedy(ids, mask, newTokens, { minNewTokens: newTokens })
        : kase === 'beam10'
          ? () => beamSearch(s, ids, mask, { numBeams: 10, maxNewTokens: newTokens, minNewTokens: newTokens, noRepeatNgramSize: 3 })
          : () => beamSearch(s, ids, mask, { numBeams: 5, maxNewTokens: newTokens, minNewTokens: newTokens });
  }
  await fn();
  let best = runs > 0 ? Infinity : 0;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  const out = { seconds: best, peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) };
  endProfiling();
  process.stdout.write(JSON.stringify(out) + '\n');
  return out;
}

export async function inferBench(args: string[]): Promise<Record<string, unknown>> {
  const python = process.env.CHANGELING_PYTHON ?? join(homedir(), '.cache', 'changeling-py', 'bin', 'python');
  if (!existsSync(python))
    throw new Error(
      `no Python with torch and transformers at ${python}; make one with the image's wheels (see docs/development.md) or set CHANGELING_PYTHON`,
    );
  const only = args.find((a) => !a.startsWith('--'));
  const runs = 2;
  const root = join(tmpdir(), 'changeling-bench-infer');
  const models: Record<string, () => void> = {
    'codet5-small': () =>
      writeModel(join(root, 'codet5-small'), t5Config(512, 64, 8, 2048, 6, 32100), t5Shapes(512, 64, 8, 2048, 6, 32100)),
    'codet5-base': () =>
      writeModel(join(root, 'codet5-base'), t5Config(768, 64, 12, 3072, 12, 32100), t5Shapes(768, 64, 12, 3072, 12, 32100)),
    'codebert-base': () => robertaModel(join(root, 'codebert-base')),
  };
  // beam10: the CommitChronicle models' setting (10 beams, no repeated 3-grams, 15 new tokens).
  const cases: Array<[string, string]> = [
    ['codet5-base', 'greedy'],
    ['codet5-base', 'beam5'],
    ['codet5-base', 'beam10'],
    ['codet5-small', 'greedy'],
    ['codet5-small', 'beam5'],
    ['codebert-base', 'classify'],
  ];
  const newTokensOf = (kase: string) => (kase === 'beam10' ? 15 : 32);
  const results: Record<string, unknown>[] = [];
  for (const [name, kase] of cases.filter(([n]) => !only || n === only)) {
    const dir = join(root, name);
    if (!existsSync(join(dir, 'model.safetensors'))) models[name]!();
    // First use builds and caches the model's graphs; the measured run is a later one, which loads them.
    const env = { ...process.env, CHANGELING_GRAPH_CACHE: join(root, 'graphs') };
    const side = (precision: string) => {
      const t0 = performance.now();
      const firstUse = spawnSync(
        process.execPath,
        [resolve('dist/bench.mjs'), 'infer-worker', dir, kase, '512', String(newTokensOf(kase)), '0', precision],
        { encoding: 'utf8', maxBuffer: 1 << 24, env },
      );
      if (firstUse.status !== 0) throw new Error(`changeling side failed: ${firstUse.stderr}`);
      const firstUseSeconds = (performance.now() - t0) / 1000;
      const worker = spawnSync(
        process.execPath,
        [resolve('dist/bench.mjs'), 'infer-worker', dir, kase, '512', String(newTokensOf(kase)), String(runs), precision],
        { encoding: 'utf8', maxBuffer: 1 << 24, env },
      );
      if (worker.status !== 0) throw new Error(`changeling side failed: ${worker.stderr}`);
      return { ...JSON.parse(worker.stdout.trim().split('\n').at(-1)!), firstUseSeconds };
    };
    const fp32 = side('fp32');
    const int8 = side('int8');
    const py = spawnSync(
      python,
      [
        resolve('bench/torch_infer.py'),
        dir,
        kase === 'beam5' ? 'beam' : kase,
        '512',
        String(newTokensOf(kase)),
        String(runs),
        String(cpus().length),
      ],
      { encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    if (py.status !== 0) throw new Error(`PyTorch side failed: ${py.stderr.slice(-2000)}`);
    const torch = JSON.parse(py.stdout.trim().split('\n').at(-1)!);
    const row = {
      model: name,
      case: kase,
      newTokens: newTokensOf(kase),
      changeling: fp32,
      changelingInt8: int8,
      pytorch: torch,
      ratio: fp32.seconds / torch.seconds,
      ratioInt8: int8.seconds / torch.seconds,
    };
    results.push(row);
    process.stderr.write(
      `${name.padEnd(14)} ${kase.padEnd(8)} fp32 ${fp32.seconds.toFixed(2)} s (${fp32.peakRssMiB} MiB)  int8 ${int8.seconds.toFixed(2)} s (${int8.peakRssMiB} MiB)  pytorch ${torch.seconds.toFixed(2)} s (${Math.round(torch.peakRssMiB)} MiB)  ratio fp32 ${row.ratio.toFixed(2)}x, int8 ${row.ratioInt8.toFixed(2)}x\n`,
    );
  }
  if (!process.env.CHANGELING_KEEP_BENCH_MODELS) rmSync(root, { recursive: true, force: true });
  return {
    bench: 'infer',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? '?', node: process.version },
    inputTokens: 512,
    newTokens: 32,
    runs,
    results,
    goal: 'ratio <= 0.3',
  };
}
