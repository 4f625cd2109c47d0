import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseLlamaConfig, ropeInvFreq } from '../../src/models/llama.js';

/** The Llama family's config.json in the forms transformers 4 and 5 write, and the rotary frequencies it computes. */
const ROPE = JSON.parse(readFileSync('test/fixtures/decoder/rope.json', 'utf8'));

// Qwen2.5-Coder-0.5B-Instruct's config.json as the hub ships it (transformers 4 form).
const QWEN25_CODER_05B = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  hidden_act: 'silu',
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 24,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.44.0',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

test("rotary frequencies equal transformers' for the real models' settings (default, llama3, linear)", () => {
  for (const [name, r] of Object.entries(ROPE) as Array<[string, { config: Record<string, unknown>; inv_freq: number[] }]>) {
    const c = r.config;
    const headDim = (c.head_dim as number | undefined) ?? (c.hidden_size as number) / (c.num_attention_heads as number);
    const inv = ropeInvFreq(c, headDim, name);
    const err = Math.max(...r.inv_freq.map((v, i) => Math.abs(inv[i]! - v) / v));
    assert.ok(err < 1e-6, `${name}: ${err}`);
  }
});

test('a transformers 4 config (rope_theta, rope_scaling) reads as its transformers 5 form (rope_parameters)', () => {
  const t5form = ROPE['llama-3.2-1b'].config;
  const { rope_parameters: p, ...rest } = t5form;
  const { rope_theta, ...scaling } = p;
  const t4form = {
    ...rest,
    model_type: 'llama',
    vocab_size: 128256,
    intermediate_size: 8192,
    num_hidden_layers: 16,
    rope_theta,
    rope_scaling: scaling,
  };
  const a = parseLlamaConfig({ ...t5form, model_type: 'llama', vocab_size: 128256, intermediate_size: 8192, num_hidden_layers: 16 });
  const b = parseLlamaConfig(t4form);
  assert.deepEqual(Array.from(a.invFreq), Array.from(b.invFreq));
  assert.equal(b.headDim, 64);
});

test("Qwen2.5-Coder-0.5B's config: GQA 14/2, head size 64, q/k/v bias, tied head, one EOS id", () => {
  const c = parseLlamaConfig(QWEN25_CODER_05B);
  assert.equal(c.modelType, 'qwen2');
  assert.deepEqual([c.numHeads, c.numKeyValueHeads, c.headDim, c.numLayers], [14, 2, 64, 24]);
  assert.ok(c.qkvBias && !c.oBias && !c.mlpBias && c.tieWordEmbeddings);
  assert.deepEqual(c.eosTokenIds, [151645]);
  assert.equal(c.bosTokenId, 151643);
  assert.equal(c.padTokenId, null);
});

test('configs the engine cannot run are refused with the reason', () => {
  const bad = (patch: Record<string, unknown>, re: RegExp) => assert.throws(() => parseLlamaConfig({ ...QWEN25_CODER_05B, ...patch }), re);
  bad({ use_sliding_window: true }, /sliding-window attention is not supported/);
  bad({ layer_types: ['full_attention', 'sliding_attention'] }, /sliding-window attention is not supported/);
  bad({ num_key_value_heads: 3 }, /not a multiple of num_key_value_heads/);
  bad({ rope_scaling: { rope_type: 'yarn', factor: 4 } }, /rope type "yarn" is not supported/);
  bad({ hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/);
  bad({ eos_token_id: [151645, 200000] }, /eos_token_id must be token ids/);
  bad({ hidden_size: 0 }, /hidden_size must be a whole number/);
  bad({ head_dim: 63 }, /head_dim|head size/);
  bad({ rms_norm_eps: 2 }, /rms_norm_eps/);
});
