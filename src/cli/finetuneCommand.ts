import { parseArgs } from 'node:util';
import { join, resolve } from 'node:path';
import { openRepository, repoDataDir } from '../git/repository.js';
import { finetuneCmg } from '../tasks/finetune/cmg.js';
import { finetuneJitdp } from '../tasks/finetune/jitdp.js';
import { reportMarkdown, writeReport } from '../tasks/finetune/report.js';
import type { FinetuneOptions, FinetuneTask } from '../tasks/finetune/types.js';
import { parseRecomputeMode } from '../train/memory.js';
import { ChangelingError } from '../util/errors.js';
import { TRAIN_BOUNDS, parseOption } from '../util/numbers.js';
import { folderTarget, isInside } from '../util/outputTarget.js';
import { StderrProgress, interruptSignal, parseCount, printJson, writeOut, writeVerbatim } from './io.js';
import { parseMethod } from '../peft/methods.js';
import { FROZEN_MODES } from '../peft/trainAdapter.js';
import { parseChoice } from '../util/text.js';

/** `changeling finetune`: its options, its help text (FINETUNE_HELP) and what it prints. */

export const FINETUNE_HELP = `changeling finetune --task cmg|jitdp [--method lora|adapter|prefix|fmft] [--model DIR] [--repo PATH] [--report DIR] [--quick] [--json]

  Fine-tunes a model on the repository's own history and adopts it when it helps: mines the history,
  splits it by time (oldest 80% train, next 10% validation, newest 10% test), trains with the study's
  settings scaled to the data, evaluates on the newest commits the untuned model, the tuned one and the
  baselines (NNGen for messages, the JITLine-style model for risk), saves the adapter in PEFT's format in the
  repository's git folder, and adopts it ("changeling suggest" and "changeling risk" use it from then on) only
  if it beats the untuned model on validation. A report (Markdown, HTML with the curves, JSON) goes to --report
  (default: the git folder's changeling/reports/). A cancelled run (Ctrl-C) resumes from its checkpoint.

  --task cmg     commit messages: --model a CodeT5/PLBART folder, by default the downloaded
                 CommitChronicle model (a model already trained for messages; see "changeling download
                 --list"); --method lora (default), adapter, prefix (every attention, as Li and Liang) or fmft. Trains and evaluates in the model's
                 own input format (its changeling.json); the adapter carries that profile.
                 With a code LLM (--model a chat model folder such as Qwen2.5-Coder Instruct): each commit becomes
                 a chat row in the prompt ✨ gives the model (the diff within the budget, similar earlier commits,
                 your recent subjects) with the real message (subject and body) as the answer, and your recorded
                 edits of suggestions ("changeling edits") count twice; LoRA r 16 on the top 8 layers, the frozen
                 weights in int8 (--frozen int8-fast, the default; fp32 or int8 to choose); rows of at most 1,536 tokens
                 (--max-length). The tuned and untuned model write for held-out commits: EditSim, ChrF, B-Norm of
                 the subject and the share of messages naming only what exists (faithful) are reported.
  --task jitdp   risk: --model a RoBERTa-family encoder (CodeBERT...); --method lora, adapter or prefix
  --quick        a smoke run: a slice of the history and a few steps (minutes)
  --adopt auto|always|never   (default auto: only when it beats the untuned model on validation)
  --epochs N --batch N --lr X --max-length N --seed N --eval-cap N --threads N --provider NAME
  --recompute auto|blocks|attention|lean|none   recomputed in the backward instead of kept (blocks: whole
                 transformer blocks from their inputs; attention: attention probabilities; lean: those and no
                 memory arena): less memory, the same gradients, a slower step; default auto: blocks when memory
                 is short (see "changeling train --help")
  --json         the whole result as JSON (progress stays on stderr)`;

export async function finetuneCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      repo: { type: 'string' },
      task: { type: 'string' },
      method: { type: 'string', default: 'lora' },
      model: { type: 'string' },
      report: { type: 'string' },
      quick: { type: 'boolean', default: false },
      adopt: { type: 'string', default: 'auto' },
      epochs: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      'max-length': { type: 'string' },
      seed: { type: 'string' },
      'eval-cap': { type: 'string' },
      threads: { type: 'string' },
      provider: { type: 'string' },
      recompute: { type: 'string' },
      frozen: { type: 'string' },
      json: { type: 'boolean', default: false },
      'json-events': { type: 'boolean', default: false },
    },
  });
  if (values.task !== 'cmg' && values.task !== 'jitdp') throw new ChangelingError('usage', 'finetune needs --task cmg or --task jitdp');
  const method = parseMethod(values.method);
  if (!['auto', 'always', 'never'].includes(values.adopt!)) throw new ChangelingError('usage', '--adopt must be auto, always or never');
  const lr = parseOption('lr', values.lr, TRAIN_BOUNDS.lr);
  const repo = await openRepository(values.repo ?? process.cwd());
  const dataDir = await repoDataDir(repo);
  if (values.report) folderTarget(values.report, '--report', { owned: isInside(values.report, dataDir) });
  const progress = new StderrProgress(values['json-events']);
  const o: FinetuneOptions = {
    task: values.task as FinetuneTask,
    method,
    model: values.model ? resolve(values.model) : undefined,
    quick: values.quick,
    adopt: values.adopt as FinetuneOptions['adopt'],
    epochs: parseCount('epochs', values.epochs, 1000, 1),
    batch: parseCount('batch', values.batch, 4096, 1),
    lr,
    maxLength: parseCount('max-length', values['max-length'], 4096, 8),
    seed: parseCount('seed', values.seed),
    evalCap: parseCount('eval-cap', values['eval-cap'], undefined, 1),
    threads: parseCount('threads', values.threads),
    provider: values.provider,
    recompute: parseRecomputeMode(values.recompute),
    frozen: values.frozen === undefined ? undefined : parseChoice(values.frozen, FROZEN_MODES, '--frozen'),
    signal: interruptSignal(),
    onEvent: (e) => {
      // --json-events: one JSON line per event on stderr, for the extension's progress.
      if (values['json-events']) void writeVerbatim(JSON.stringify(e) + '\n', 'stderr');
      else if (e.kind === 'stage') progress.update(`${e.stage}: ${e.message}`, true);
      else if (e.kind === 'step') progress.update(`training: step ${e.step} of ${e.steps}, loss ${e.loss.toFixed(4)}`);
      else progress.update(`validation AUC ${e.metric.toFixed(3)} at step ${e.step}`, true);
    },
  };
  const r = o.task === 'cmg' ? await finetuneCmg(repo, o) : await finetuneJitdp(repo, o);
  const reportDir = values.report ? resolve(values.report) : join(dataDir, 'reports', `${o.task}-${o.method}`);
  const files = await writeReport(reportDir, r, { owned: isInside(reportDir, dataDir) });
  progress.done();
  if (values.json) await printJson({ ...r, report: files });
  else await writeOut(`${reportMarkdown(r)}\nreport: ${files.join(', ')}\n`);
  return 0;
}
