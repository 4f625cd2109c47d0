import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
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
  const normal = (n: number) => Float32Array.from({ length: n }, () => 0.02 * Math.sqrt(-2 * Math.log(Math.max(rand(), 1e-12))) * Math.cos(2 * Math.PI * rand()));
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
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['RobertaModel'], model_type: 'roberta', vocab_size: V, hidden_size: d, num_hidden_layers: L, num_attention_heads: 4,
    intermediate_size: ff, max_position_embeddings: P, type_vocab_size: 1, layer_norm_eps: 1e-5, hidden_act: 'gelu', pad_token_id: 1, bos_token_id: 0, eos_token_id: 2,
  }, null, 1));
  for (const f of ['tokenizer.json', 'vocab.json', 'merges.txt']) copyFileSync(join(GOLDENS, 'tokenizers', 'roberta-base', f), join(dir, f));
  return dir;
}
