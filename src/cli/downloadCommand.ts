import { parseArgs } from 'node:util';
import { downloadModel } from '../models/hub.js';
import {
  DEFAULT_MESSAGE_MODEL,
  KNOWN_MODELS,
  defaultModelCache,
  describeKnownModel,
  codeLlms,
  messageModels,
  modelSpec,
} from '../models/manifest.js';
import { ChangelingError } from '../util/errors.js';
import { StderrProgress, interruptSignal, printJson, writeOut } from './io.js';

/** `changeling download`: its options, its help text (DOWNLOAD_HELP) and what it prints. */

export const DOWNLOAD_HELP = `changeling download MODEL_ID [--revision R] [--endpoint URL] [--cache DIR] [--json]
changeling download --list

  Downloads a model from the Hugging Face hub (or a mirror: --endpoint, or HF_ENDPOINT) into the cache
  (default ~/.cache/changeling/models; CHANGELING_MODEL_CACHE), resuming interrupted downloads and checking
  SHA-256, after checking that the disk has room. Ctrl-C stops it; the next call resumes. Prints the
  snapshot folder, which "changeling suggest --model", "input" and the tasks take. A catalogued model's
  folder gets its profile (changeling.json: input format, generation settings, history), so it is fed as
  it was trained.
  --list shows the models Changeling knows: those trained to write commit messages first (the default,
  ${DEFAULT_MESSAGE_MODEL}, marked *), then base checkpoints, which need fine-tuning first.`;

export async function downloadCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      revision: { type: 'string' },
      endpoint: { type: 'string' },
      cache: { type: 'string' },
      json: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.list) {
    const risk = KNOWN_MODELS.filter((m) => !messageModels().includes(m) && !codeLlms().includes(m));
    const row = (m: (typeof KNOWN_MODELS)[number]) =>
      `${m.id === DEFAULT_MESSAGE_MODEL ? '*' : ' '} ${m.id.padEnd(52)} ${m.architecture.padEnd(8)} ${describeKnownModel(m)}`;
    await writeOut(
      [
        'Commit messages:',
        ...messageModels().map(row),
        'Risk (encoders for changeling risk-train --encoder):',
        ...risk.map(row),
        'Code LLMs (a subject and a body from the whole diff: changeling suggest --model DIR):',
        ...codeLlms().map(row),
      ].join('\n') + '\n',
    );
    return 0;
  }
  const id = positionals[0];
  if (!id || !/^[\w.-]+\/[\w.-]+$/.test(id))
    throw new ChangelingError('usage', 'download needs a model id like Salesforce/codet5-small (see --list)');
  const progress = new StderrProgress(values.json);
  const endpoint = values.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co';
  progress.update(`${id}: asking ${endpoint}...`, true);
  const r = await downloadModel(modelSpec(id, values.revision), {
    endpoint,
    cacheDir: values.cache ?? defaultModelCache(),
    token: process.env.HF_TOKEN,
    signal: interruptSignal(),
    onEvent: (e) => {
      if (e.kind === 'progress' && !e.overallTotal)
        progress.update(`${e.file}: ${(e.received / 2 ** 20).toFixed(1)}${e.total ? ` of ${(e.total / 2 ** 20).toFixed(1)}` : ''} MiB`);
      if (e.kind === 'retry') progress.update(`${e.file}: connection lost, resuming (attempt ${e.attempt})`, true);
      if (e.kind === 'resume') progress.update(`resuming: ${(e.have / 2 ** 20).toFixed(1)} MiB already here`, true);
      if (e.kind === 'progress' && e.overallTotal)
        progress.update(
          `${e.file}: ${(e.received / 2 ** 20).toFixed(1)}${e.total ? ` of ${(e.total / 2 ** 20).toFixed(1)}` : ''} \
MiB (${((100 * e.overall) / e.overallTotal).toFixed(0)}% of ${(e.overallTotal / 2 ** 20).toFixed(0)} MiB)`,
        );
    },
  });
  progress.done();
  if (values.json) await printJson(r);
  else await writeOut(`${r.dir}\n`);
  return 0;
}
