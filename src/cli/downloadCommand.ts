import { parseArgs } from 'node:util';
import { downloadModel } from '../models/hub.js';
import { KNOWN_MODELS, defaultModelCache, modelSpec } from '../models/manifest.js';
import { ChangelingError } from '../util/errors.js';
import { StderrProgress, interruptSignal, printJson, writeOut } from './io.js';

export const DOWNLOAD_HELP = `changeling download MODEL_ID [--revision R] [--endpoint URL] [--cache DIR] [--json]
changeling download --list

  Downloads a model from the Hugging Face hub (or a mirror: --endpoint, or HF_ENDPOINT) into the cache
  (default ~/.cache/changeling/models; CHANGELING_MODEL_CACHE), resuming interrupted downloads and checking
  SHA-256. Prints the snapshot folder, which "changeling inspect --model" and the tasks take.
  --list shows the models Changeling knows.`;

export async function downloadCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { revision: { type: 'string' }, endpoint: { type: 'string' }, cache: { type: 'string' }, json: { type: 'boolean', default: false }, list: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (values.list) {
    await writeOut(KNOWN_MODELS.map((m) => `${m.id.padEnd(32)} ${m.architecture.padEnd(8)} ${m.tasks.join(', ')}`).join('\n') + '\n');
    return 0;
  }
  const id = positionals[0];
  if (!id || !/^[\w.-]+\/[\w.-]+$/.test(id)) throw new ChangelingError('usage', 'download needs a model id like Salesforce/codet5-small (see --list)');
  const progress = new StderrProgress(values.json);
  const r = await downloadModel(modelSpec(id, values.revision), {
    endpoint: values.endpoint ?? process.env.HF_ENDPOINT,
    cacheDir: values.cache ?? defaultModelCache(),
    token: process.env.HF_TOKEN,
    signal: interruptSignal(),
    onEvent: (e) => {
      if (e.kind === 'progress') progress.update(`${e.file}: ${(e.received / 2 ** 20).toFixed(1)}${e.total ? ` of ${(e.total / 2 ** 20).toFixed(1)}` : ''} MiB`);
      if (e.kind === 'retry') progress.update(`${e.file}: connection lost, resuming (attempt ${e.attempt})`, true);
    },
  });
  progress.done();
  if (values.json) await printJson(r);
  else await writeOut(`${r.dir}\n`);
  return 0;
}
