import { copyFileSync, rmSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeSafetensors, type NamedTensor } from '../../src/models/safetensors.js';
import { seededRandom } from '../../src/train/batching.js';
import { GOLDENS } from './goldens.js';

/**
 * A tiny random RoBERTa (CodeBERT's tokenizer and vocabulary, hidden 64, 2 layers, 4 heads, 514 positions),
 * initialised as transformers does (normal(0, 0.02), layer norms 1 and 0): the stand-in for CodeBERT where
 * pretrained weights cannot be downloaded. Written to `dir`; returns it.
 */
export function writeTinyRoberta(dir: string, o: { hidden?: number; layers?: number; seed?: number } = {}): string {
  const d = o.hidden ?? 64;
  const L = o.layers ?? 2;
  const V = 50265;
  const P = 514;
  const ff = 2 * d;
  const rand = seededRandom(o.seed ?? 1);
  const normal = (n: number) =>
    Float32Array.from({ length: n }, () => 0.02 * Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand()));
  const t: Record<string, NamedTensor> = {};
  const lin = (name: string, out: number, inF: number) => {
    t[`${name}.weight`] = { shape: [out, inF], data: normal(out * inF) };
    t[`${name}.bias`] = { shape: [out], data: new Float32Array(out) };
  };
  const ln = (name: string) => {
    t[`${name}.weight`] = { shape: [d], data: new Float32Array(d).fill(1) };
    t[`${name}.bias`] = { shape: [d], data: new Float32Array(d) };
  };
  t['embeddings.word_embeddings.weight'] = { shape: [V, d], data: normal(V * d) };
  t['embeddings.position_embeddings.weight'] = { shape: [P, d], data: normal(P * d) };
  t['embeddings.token_type_embeddings.weight'] = { shape: [1, d], data: normal(d) };
  ln('embeddings.LayerNorm');
  for (let i = 0; i < L; i++) {
    const l = `encoder.layer.${i}`;
    for (const m of ['query', 'key', 'value']) lin(`${l}.attention.self.${m}`, d, d);
    lin(`${l}.attention.output.dense`, d, d);
    ln(`${l}.attention.output.LayerNorm`);
    lin(`${l}.intermediate.dense`, ff, d);
    lin(`${l}.output.dense`, d, ff);
    ln(`${l}.output.LayerNorm`);
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(t, { format: 'pt' }));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify(
      {
        architectures: ['RobertaModel'],
        model_type: 'roberta',
        vocab_size: V,
        hidden_size: d,
        num_hidden_layers: L,
        num_attention_heads: 4,
        intermediate_size: ff,
        max_position_embeddings: P,
        type_vocab_size: 1,
        layer_norm_eps: 1e-5,
        hidden_act: 'gelu',
        pad_token_id: 1,
        bos_token_id: 0,
        eos_token_id: 2,
      },
      null,
      1,
    ),
  );
  for (const f of ['tokenizer.json', 'vocab.json', 'merges.txt'])
    copyFileSync(join(GOLDENS, 'tokenizers', 'roberta-base', f), join(dir, f));
  return dir;
}

/**
 * A tiny random T5 with CodeT5's tokenizer and vocabulary (d_model 64, 2+2 layers, 4 heads, tied
 * embeddings), initialised as transformers does for T5: the stand-in for CodeT5 where pretrained weights
 * cannot be downloaded. Written to `dir`; returns it.
 */
export function writeTinyT5(dir: string, o: { dModel?: number; layers?: number; seed?: number; extraTokens?: string[] } = {}): string {
  const d = o.dModel ?? 64;
  const L = o.layers ?? 2;
  const H = 4;
  const dkv = d / H;
  const ff = 2 * d;
  const tokenizer = JSON.parse(readFileSync(join(GOLDENS, 'tokenizers', 'codet5', 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number> };
    added_tokens: Array<{ id: number }>;
  };
  const base = Math.max(...Object.values(tokenizer.model.vocab), ...tokenizer.added_tokens.map((a) => a.id)) + 1;
  const V = base + (o.extraTokens?.length ?? 0);
  const rand = seededRandom(o.seed ?? 1);
  const normal = (n: number, std: number) =>
    Float32Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand()));
  const t: Record<string, NamedTensor> = {};
  const w = (name: string, shape: number[], std: number) => (t[name] = { shape, data: normal(shape[0]! * (shape[1] ?? 1), std) });
  const ones = (name: string) => (t[name] = { shape: [d], data: new Float32Array(d).fill(1) });
  w('shared.weight', [V, d], 1.0);
  for (const stack of ['encoder', 'decoder']) {
    for (let i = 0; i < L; i++) {
      const b = `${stack}.block.${i}.layer`;
      const attn = (l: number, kind: string) => {
        w(`${b}.${l}.${kind}.q.weight`, [H * dkv, d], (d * dkv) ** -0.5);
        w(`${b}.${l}.${kind}.k.weight`, [H * dkv, d], d ** -0.5);
        w(`${b}.${l}.${kind}.v.weight`, [H * dkv, d], d ** -0.5);
        w(`${b}.${l}.${kind}.o.weight`, [d, H * dkv], (H * dkv) ** -0.5);
        ones(`${b}.${l}.layer_norm.weight`);
      };
      attn(0, 'SelfAttention');
      if (i === 0) w(`${b}.0.SelfAttention.relative_attention_bias.weight`, [32, H], d ** -0.5);
      if (stack === 'decoder') attn(1, 'EncDecAttention');
      const f = stack === 'decoder' ? 2 : 1;
      w(`${b}.${f}.DenseReluDense.wi.weight`, [ff, d], d ** -0.5);
      w(`${b}.${f}.DenseReluDense.wo.weight`, [d, ff], ff ** -0.5);
      ones(`${b}.${f}.layer_norm.weight`);
    }
    ones(`${stack}.final_layer_norm.weight`);
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(t, { format: 'pt' }));
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify(
      {
        architectures: ['T5ForConditionalGeneration'],
        model_type: 't5',
        vocab_size: V,
        d_model: d,
        d_kv: dkv,
        d_ff: ff,
        num_layers: L,
        num_decoder_layers: L,
        num_heads: H,
        relative_attention_num_buckets: 32,
        relative_attention_max_distance: 128,
        layer_norm_epsilon: 1e-6,
        feed_forward_proj: 'relu',
        tie_word_embeddings: true,
        pad_token_id: 0,
        bos_token_id: 1,
        eos_token_id: 2,
        decoder_start_token_id: 0,
      },
      null,
      1,
    ),
  );
  for (const f of ['tokenizer.json', 'vocab.json', 'merges.txt']) copyFileSync(join(GOLDENS, 'tokenizers', 'codet5', f), join(dir, f));
  if (o.extraTokens?.length) {
    // As a hub folder carries them (CodeReviewer's added_tokens.json): vocab.json + merges.txt + the added tokens.
    rmSync(join(dir, 'tokenizer.json'));
    const added = Object.fromEntries(
      tokenizer.added_tokens.map((a) => [(a as { content?: string }).content, a.id]).filter(([c, id]) => c && (id as number) >= 32000),
    );
    o.extraTokens.forEach((t, i) => (added[t] = base + i));
    writeFileSync(join(dir, 'added_tokens.json'), JSON.stringify(added));
  }
  return dir;
}

/**
 * A random Qwen2 chat model with the Qwen2-style tokenizer and ChatML template of test/fixtures/decoder/tokenizer:
 * by default tiny (vocabulary 2,003, hidden 64, 2 layers, 4 heads over 2 KV heads, q/k/v bias, tied head, a
 * 4,096-token context, <|im_end|> as EOS), what the code-LLM message path runs on here, since real weights
 * cannot be downloaded; other shapes for the benchmarks (Qwen2.5-Coder-0.5B's in `cmg-llm`).
 */
export function writeTinyQwen2(
  dir: string,
  o: {
    seed?: number;
    context?: number;
    hidden?: number;
    layers?: number;
    heads?: number;
    kvHeads?: number;
    intermediate?: number;
    vocab?: number;
    eos?: number;
  } = {},
): string {
  const tokDir = join('test', 'fixtures', 'decoder', 'tokenizer');
  const tokenizer = JSON.parse(readFileSync(join(tokDir, 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number> };
    added_tokens: Array<{ id: number }>;
  };
  const V = o.vocab ?? Math.max(...Object.values(tokenizer.model.vocab), ...tokenizer.added_tokens.map((a) => a.id)) + 1;
  const d = o.hidden ?? 64;
  const H = o.heads ?? 4;
  const KV = o.kvHeads ?? 2;
  const hd = d / H;
  const ff = o.intermediate ?? 112;
  const L = o.layers ?? 2;
  const eos = o.eos ?? 2;
  const rand = seededRandom(o.seed ?? 2);
  const normal = (n: number, std: number) =>
    Float32Array.from({ length: n }, () => std * Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand()));
  const t: Record<string, NamedTensor> = {};
  const w = (name: string, shape: number[], std: number) =>
    (t[name] = {
      shape,
      data: normal(
        shape.reduce((a, b) => a * b, 1),
        std,
      ),
    });
  const ones = (name: string) => (t[name] = { shape: [d], data: new Float32Array(d).fill(1) });
  w('model.embed_tokens.weight', [V, d], 0.5);
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}`;
    w(`${p}.self_attn.q_proj.weight`, [H * hd, d], d ** -0.5);
    w(`${p}.self_attn.q_proj.bias`, [H * hd], 0.02);
    w(`${p}.self_attn.k_proj.weight`, [KV * hd, d], d ** -0.5);
    w(`${p}.self_attn.k_proj.bias`, [KV * hd], 0.02);
    w(`${p}.self_attn.v_proj.weight`, [KV * hd, d], d ** -0.5);
    w(`${p}.self_attn.v_proj.bias`, [KV * hd], 0.02);
    w(`${p}.self_attn.o_proj.weight`, [d, H * hd], (H * hd) ** -0.5);
    w(`${p}.mlp.gate_proj.weight`, [ff, d], d ** -0.5);
    w(`${p}.mlp.up_proj.weight`, [ff, d], d ** -0.5);
    w(`${p}.mlp.down_proj.weight`, [d, ff], ff ** -0.5);
    ones(`${p}.input_layernorm.weight`);
    ones(`${p}.post_attention_layernorm.weight`);
  }
  ones('model.norm.weight');
  mkdirSync(dir, { recursive: true });
  // Over 2 GiB (the shapes of a 1.5B model), as the hub has them: shards and their index (a Buffer holds 4 GiB at most).
  const names = Object.keys(t);
  const total = names.reduce((n, k) => n + t[k]!.data.byteLength, 0);
  if (total <= 2 ** 31) writeFileSync(join(dir, 'model.safetensors'), encodeSafetensors(t, { format: 'pt' }));
  else {
    const shards: string[][] = [[]];
    let size = 0;
    for (const k of names) {
      if (size + t[k]!.data.byteLength > 2 ** 31 && shards.at(-1)!.length) (shards.push([]), (size = 0));
      shards.at(-1)!.push(k);
      size += t[k]!.data.byteLength;
    }
    const file = (i: number) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const weightMap: Record<string, string> = {};
    shards.forEach((ks, i) => {
      writeFileSync(join(dir, file(i)), encodeSafetensors(Object.fromEntries(ks.map((k) => [k, t[k]!])), { format: 'pt' }));
      for (const k of ks) weightMap[k] = file(i);
    });
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }));
  }
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify({
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      vocab_size: V,
      hidden_size: d,
      intermediate_size: ff,
      num_hidden_layers: L,
      num_attention_heads: H,
      num_key_value_heads: KV,
      hidden_act: 'silu',
      max_position_embeddings: o.context ?? 4096,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      tie_word_embeddings: true,
      bos_token_id: null,
      eos_token_id: 2,
      torch_dtype: 'float32',
    }),
  );
  writeFileSync(
    join(dir, 'generation_config.json'),
    JSON.stringify({ eos_token_id: [2, 0], pad_token_id: 0, temperature: 0.7, top_p: 0.9 }),
  );
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja']) copyFileSync(join(tokDir, f), join(dir, f));
  return dir;
}
