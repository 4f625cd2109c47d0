import { readAdapter } from './files.js';
import { loraScaling, parseLoraConfig } from './lora/config.js';
import { readConfigJson } from '../models/config.js';
import { parseLlamaConfig } from '../models/llama.js';
import { encodeGguf, type GgufTensor } from '../models/gguf.js';
import { ChangelingError } from '../util/errors.js';

/**
 * A PEFT LoRA adapter of a Qwen2 or Llama model as a GGUF LoRA for llama.cpp (and Ollama, LM Studio and node-llama-cpp,
 * which load llama.cpp's adapters), with the rules of llama.cpp's convert_lora_to_gguf.py: `general.architecture` the
 * base's (llama.cpp refuses an adapter of another), `general.type` "adapter", `adapter.type` "lora",
 * `adapter.lora.alpha` (llama.cpp scales by alpha / rank: an rsLoRA adapter's alpha becomes alpha x sqrt(rank), the
 * same scale), and for each adapted projection `blk.N.<name>.weight.lora_a` (PEFT's A, [rank, in]) and `.lora_b` (B,
 * [out, rank]) in f32, named as llama.cpp names the base weight. llama.cpp stores a Llama model's query and key rows
 * in the order its rotary embedding reads them (interleaved pairs: convert_hf_to_gguf's permute), so those B rows are
 * permuted the same way; Qwen2's rotary reads halves, as transformers does, and nothing moves.
 */
const GGUF_NAMES: Record<string, string> = {
  'self_attn.q_proj': 'attn_q',
  'self_attn.k_proj': 'attn_k',
  'self_attn.v_proj': 'attn_v',
  'self_attn.o_proj': 'attn_output',
  'mlp.gate_proj': 'ffn_gate',
  'mlp.up_proj': 'ffn_up',
  'mlp.down_proj': 'ffn_down',
};

/** llama.cpp's row order for a Llama query or key projection: within each head, (half, i) becomes (i, half). */
function permuteRows(b: Float32Array, rows: number, cols: number, heads: number): Float32Array {
  const half = rows / heads / 2;
  const out = new Float32Array(b.length);
  for (let h = 0; h < heads; h++)
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < half; j++) {
        const from = h * 2 * half + i * half + j;
        const to = h * 2 * half + j * 2 + i;
        out.set(b.subarray(from * cols, (from + 1) * cols), to * cols);
      }
  return out;
}

export async function loraAsGguf(adapterDir: string, baseDir: string): Promise<{ bytes: Buffer; tensors: number; architecture: string }> {
  const { config: raw, weights, extra } = await readAdapter(adapterDir);
  if (raw.peft_type !== 'LORA')
    throw new ChangelingError('usage', `${adapterDir} is a ${String(raw.peft_type)} adapter; llama.cpp loads LoRA adapters only`);
  if (extra.size)
    throw new ChangelingError(
      'usage',
      `${adapterDir} also trains whole weights (${[...extra.keys()][0]}): llama.cpp's LoRA cannot carry them`,
    );
  const lora = parseLoraConfig(raw, `${adapterDir}/adapter_config.json`);
  const baseRaw = await readConfigJson(baseDir);
  const arch = String(baseRaw.model_type);
  if (arch !== 'qwen2' && arch !== 'llama')
    throw new ChangelingError('usage', `${baseDir}: a GGUF adapter is written for Qwen2 and Llama models, not model_type "${arch}"`);
  const base = parseLlamaConfig(baseRaw, `${baseDir}/config.json`);
  const tensors: GgufTensor[] = [];
  const seen = new Set<string>();
  for (const [name, a] of weights) {
    const m =
      /^base_model\.model\.model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)\.lora_A(?:\.default)?\.weight$/.exec(
        name,
      );
    if (!m) {
      if (/\.lora_B(?:\.default)?\.weight$/.test(name)) continue;
      throw new ChangelingError(
        'usage',
        `${adapterDir}: ${name} is not a LoRA factor of a layer's projection, which llama.cpp's adapters hold`,
      );
    }
    const b = weights.get(name.replace('.lora_A', '.lora_B'));
    if (!b) throw new ChangelingError('io', `${adapterDir}: ${name} has no lora_B beside it`);
    const [layer, module] = [Number(m[1]), m[2]!];
    const [r, inputs] = a.shape as [number, number];
    const [outputs] = b.shape as [number, number];
    let bData = b.data;
    if (arch === 'llama' && (module === 'self_attn.q_proj' || module === 'self_attn.k_proj'))
      bData = permuteRows(b.data, outputs, r, module === 'self_attn.q_proj' ? base.numHeads : base.numKeyValueHeads);
    const gguf = `blk.${layer}.${GGUF_NAMES[module]}.weight`;
    tensors.push(
      { name: `${gguf}.lora_a`, shape: [r, inputs], data: a.data },
      { name: `${gguf}.lora_b`, shape: [outputs, r], data: bData },
    );
    seen.add(gguf);
  }
  if (!tensors.length) throw new ChangelingError('usage', `${adapterDir} has no LoRA factors to export`);
  // llama.cpp's scale is alpha / rank: the adapter's own scale (rsLoRA's alpha / sqrt(rank) too) as that alpha.
  const alpha = loraScaling(lora) * lora.r;
  const bytes = encodeGguf(
    [
      ['general.architecture', { type: 'string', value: arch }],
      ['general.type', { type: 'string', value: 'adapter' }],
      ['general.name', { type: 'string', value: 'changeling LoRA' }],
      ['adapter.type', { type: 'string', value: 'lora' }],
      ['adapter.lora.alpha', { type: 'f32', value: alpha }],
    ],
    tensors,
  );
  return { bytes, tensors: seen.size, architecture: arch };
}
