import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { getLlama } from 'node-llama-cpp';
import { loadModelFolder } from '../../src/models/modelFolder.js';
import { withAdapter } from '../../src/peft/apply.js';
import { readAdapter } from '../../src/peft/files.js';
import { CausalLmRunner } from '../../src/runtime/causalLm.js';
import { encodeSafetensors } from '../../src/models/safetensors.js';
import { loadSafetensors } from '../../src/models/weights.js';
import { tempDir } from '../helpers/gitRepo.js';
import '../helpers/goldens.js';

const CLI = resolve('dist/cli.mjs');
const FIX = join('test', 'fixtures', 'decoder');
const BASE = join(FIX, 'qwen2-trained');
/** Written by make_gguf_base.py with llama.cpp's gguf package: the same weights as BASE, f32. */
const BASE_GGUF = join(FIX, 'qwen2-trained.gguf');
const NEW = 12;

/** PEFT's initial LoRA of the trained model (all seven projections, r 4) with B made large enough to change its choices. */
async function strongAdapter(): Promise<string> {
  const dir = join(tempDir(), 'adapter');
  mkdirSync(dir);
  const src = join(FIX, 'qwen2-trained-lora-init');
  const { weights } = await readAdapter(src);
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [k, t] of weights) out[k] = { shape: t.shape, data: k.includes('lora_B') ? t.data.map((x) => x * 40) : t.data };
  writeFileSync(join(dir, 'adapter_model.safetensors'), encodeSafetensors(out));
  copyFileSync(join(src, 'adapter_config.json'), join(dir, 'adapter_config.json'));
  return dir;
}

async function ours(prompt: number[], adapter: string | null, dir = BASE): Promise<number[]> {
  const base = await loadModelFolder(dir);
  const runner = await CausalLmRunner.create(adapter ? await withAdapter(base, adapter) : base, { precision: 'fp32' });
  const r = await runner.greedy({ ids: [prompt], mask: [prompt.map(() => 1)] }, { maxNewTokens: NEW });
  return r.sequences[0]!.slice(prompt.length);
}

test(
  'export-adapter --format gguf: llama.cpp (node-llama-cpp) with the exported LoRA over the same base picks the tokens Changeling picks',
  { timeout: 180_000 },
  async () => {
    const adapter = await strongAdapter();
    const file = join(tempDir(), 'adapter.gguf');
    const p = spawnSync(
      process.execPath,
      [CLI, 'export-adapter', '--adapter', adapter, '--model', BASE, '--format', 'gguf', '--out', file, '--json'],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(p.status, 0, p.stderr);
    const j = JSON.parse(p.stdout);
    assert.equal(j.architecture, 'qwen2');
    assert.equal(j.projections, 14, 'seven projections in each of two layers');
    const bytes = readFileSync(file);
    assert.equal(bytes.subarray(0, 4).toString('latin1'), 'GGUF');
    for (const key of ['general.type', 'adapter.type', 'adapter.lora.alpha', 'blk.1.ffn_down.weight.lora_b'])
      assert.ok(bytes.includes(key), key);

    const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
    const model = await llama.loadModel({ modelPath: BASE_GGUF });
    const run = async (prompt: number[], lora: string | null) => {
      const context = await model.createContext({
        contextSize: 256,
        threads: 1,
        ...(lora ? { lora: { adapters: [{ filePath: lora }] } } : {}),
      });
      const out: number[] = [];
      for await (const t of context.getSequence().evaluate(prompt as never, { temperature: 0 })) {
        out.push(t as unknown as number);
        if (out.length === NEW) break;
      }
      await context.dispose();
      return out;
    };
    const rows = (JSON.parse(readFileSync(join(BASE, 'heldout.json'), 'utf8')) as { rows: number[][] }).rows;
    let differs = 0;
    for (const row of rows.slice(0, 3)) {
      const prompt = row.slice(0, 24);
      const withLora = await ours(prompt, adapter);
      assert.deepEqual(
        await run(prompt, null),
        (await ours(prompt, null)).slice(0, NEW),
        'the base alike (the GGUF base is the same model)',
      );
      assert.deepEqual(await run(prompt, file), withLora.slice(0, NEW), 'with the adapter: the same greedy tokens');
      if (JSON.stringify(withLora) !== JSON.stringify(await ours(prompt, null))) differs++;
    }
    assert.ok(differs > 0, 'the adapter changes what the model writes (so the comparison means something)');
    await model.dispose();
    await llama.dispose();
    // Refusals: a prefix adapter, a missing base.
    const bad = spawnSync(
      process.execPath,
      [CLI, 'export-adapter', '--adapter', join(FIX, 'qwen2-tiny-prefix-init'), '--model', BASE, '--format', 'gguf', '--out', file],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /llama\.cpp loads LoRA adapters only/);
    const noBase = spawnSync(process.execPath, [CLI, 'export-adapter', '--adapter', adapter, '--format', 'gguf', '--out', file], {
      encoding: 'utf8',
    });
    assert.match(noBase.stderr, /give --model DIR/);
  },
);

/** qwen2-trained as transformers' Llama (attention_bias, a zero output-projection bias): the same network, Llama's names. */
function asLlama(): string {
  const dir = join(tempDir(), 'llama');
  mkdirSync(dir);
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja', 'generation_config.json'])
    copyFileSync(join(BASE, f), join(dir, f));
  const cfg = JSON.parse(readFileSync(join(BASE, 'config.json'), 'utf8'));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({ ...cfg, model_type: 'llama', architectures: ['LlamaForCausalLM'], attention_bias: true, mlp_bias: false }),
  );
  return dir;
}

test(
  "export-adapter --format gguf for a Llama: the query and key rows follow llama.cpp's rotary order, and llama.cpp picks our tokens",
  { timeout: 180_000 },
  async () => {
    const dir = asLlama();
    const weights = await loadSafetensors(join(BASE, 'model.safetensors'));
    const out: Record<string, { shape: number[]; data: Float32Array }> = Object.fromEntries(weights);
    const cfg = JSON.parse(readFileSync(join(BASE, 'config.json'), 'utf8'));
    for (let i = 0; i < cfg.num_hidden_layers; i++)
      out[`model.layers.${i}.self_attn.o_proj.bias`] = { shape: [cfg.hidden_size], data: new Float32Array(cfg.hidden_size) };
    writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(out));
    const adapter = await strongAdapter();
    const file = join(tempDir(), 'llama-adapter.gguf');
    const p = spawnSync(
      process.execPath,
      [CLI, 'export-adapter', '--adapter', adapter, '--model', dir, '--format', 'gguf', '--out', file, '--json'],
      { encoding: 'utf8' },
    );
    assert.equal(p.status, 0, p.stderr);
    assert.equal(JSON.parse(p.stdout).architecture, 'llama');
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' as never });
    const model = await llama.loadModel({ modelPath: join(FIX, 'qwen2-trained-as-llama.gguf') });
    const rows = (JSON.parse(readFileSync(join(BASE, 'heldout.json'), 'utf8')) as { rows: number[][] }).rows;
    for (const row of rows.slice(0, 3)) {
      const prompt = row.slice(0, 24);
      const context = await model.createContext({ contextSize: 256, threads: 1, lora: { adapters: [{ filePath: file }] } });
      const theirs: number[] = [];
      for await (const t of context.getSequence().evaluate(prompt as never, { temperature: 0 })) {
        theirs.push(t as unknown as number);
        if (theirs.length === NEW) break;
      }
      await context.dispose();
      assert.deepEqual(theirs, (await ours(prompt, adapter, dir)).slice(0, NEW));
    }
    await model.dispose();
    await llama.dispose();
  },
);
