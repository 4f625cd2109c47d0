import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loraAsGguf } from '../peft/ggufLora.js';
import { readJsonFile } from '../util/jsonFile.js';
import { writeBytesAtomic } from '../util/atomicFile.js';
import { fileTarget } from '../util/outputTarget.js';
import { ChangelingError } from '../util/errors.js';
import { printJson, writeOut } from './io.js';

/** `changeling export-adapter`: a PEFT LoRA adapter in another runtime's format (GGUF, for llama.cpp and Ollama). */

export const EXPORT_ADAPTER_HELP = `changeling export-adapter --adapter DIR --format gguf --out FILE [--model DIR] [--json]

  Writes a LoRA adapter of a code LLM (Qwen2, Llama: "changeling finetune --task cmg" or "changeling train") as
  a GGUF LoRA that llama.cpp loads over the same base model in GGUF (llama-cli --lora FILE; Ollama's ADAPTER
  line; node-llama-cpp's lora option): the same factors in f32, named as llama.cpp names the weights, its
  alpha such that llama.cpp's scale equals PEFT's. --model is the base model folder (its config.json); by
  default the adapter's base_model_name_or_path when that is a folder here.`;

export async function exportAdapterCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      adapter: { type: 'string' },
      format: { type: 'string' },
      out: { type: 'string' },
      model: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (!values.adapter || !values.out) throw new ChangelingError('usage', 'export-adapter needs --adapter DIR and --out FILE');
  if (values.format !== 'gguf')
    throw new ChangelingError(
      'usage',
      `--format must be gguf${values.format ? `, not ${JSON.stringify(values.format.slice(0, 40))}` : ''}`,
    );
  fileTarget(values.out, '--out');
  const adapter = resolve(values.adapter);
  let model = values.model ? resolve(values.model) : null;
  if (!model) {
    const cfg = join(adapter, 'adapter_config.json');
    const named = existsSync(cfg) ? ((await readJsonFile(cfg)) as { base_model_name_or_path?: unknown }) : {};
    const base = typeof named.base_model_name_or_path === 'string' ? named.base_model_name_or_path : '';
    if (!base || !existsSync(join(base, 'config.json')))
      throw new ChangelingError(
        'usage',
        `give --model DIR: the base model folder of ${adapter} (its adapter_config.json names none found here)`,
      );
    model = base;
  }
  const r = await loraAsGguf(adapter, model);
  await writeBytesAtomic(values.out, r.bytes);
  if (values.json)
    await printJson({ out: resolve(values.out), bytes: r.bytes.length, projections: r.tensors, architecture: r.architecture });
  else
    await writeOut(
      `wrote ${resolve(values.out)} (${r.tensors} projections, ${r.architecture}, ${(r.bytes.length / 2 ** 20).toFixed(1)} MiB)\n`,
    );
  return 0;
}
