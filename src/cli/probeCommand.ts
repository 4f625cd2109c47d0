import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { openRepository, repoDataDir } from '../git/repository.js';
import { readProbeFile, type ProbeData, type ProbeInput } from '../tasks/probe/probeData.js';
import { openProbeModel, runProbe, type ProbeRun } from '../tasks/probe/probe.js';
import { repositoryProbeTasks, type RepoTasks } from '../tasks/probe/repoTasks.js';
import { isStudyTask, studyTaskFile } from '../tasks/probe/studyTasks.js';
import { runLabel, writeProbeReport } from '../tasks/probe/report.js';
import { ChangelingError } from '../util/errors.js';
import { folderTarget, isInside } from '../util/outputTarget.js';
import { StderrProgress, interruptSignal, parseCount, printJson, writeOut } from './io.js';

/** `changeling probe`: its options, its help text (PROBE_HELP) and what it prints. */

export const PROBE_HELP = `changeling probe --model DIR [--adapter DIR]... --task ccm|ltp|typ|FILE[,...] [--repo P] [--input study|model] [--max-length N] [--max N] [--report DIR] [--json]

  What a model's encoder knows about code changes, layer by layer (the study's probing): the first token's
  state at every layer, a linear probe per layer (L2 strength chosen on validation), test accuracy per layer.
  With --adapter (repeatable), the base model and each adapter side by side: what tuning added or erased.
  --task ccm     does the message belong to the change (the study's CCM_1k.txt; with --repo: built from
                 that repository's history, 1,000 single-file commits at most, time-ordered splits)
  --task ltp     is the masked line added or removed (LTP_1k.txt; with --repo: from the history)
  --task typ     does the Java method hold a typo (TYP_ORIG_1k.txt; public file only)
  --task FILE    any file in the study's format: split<TAB>label<TAB>text per line, split tr/va/te
                 (several tasks: comma-separated, e.g. --task ccm,ltp)
  The study's files are downloaded once from GitHub (pinned, checksummed) into the model cache.
  --input study  the study's input (tokens between [CLS] and [SEP], read as <unk>; default) or model (the
                 model's own start and end tokens)
  --max-length N tokens per input (default 512); --max N: examples from --repo (default 1000)
  --report DIR   writes probe.md, probe.html (a chart of accuracy per layer) and probe.json`;

/** A task's data; `fromRepo` builds the repository's tasks (one walk of its history, shared by ccm and ltp). */
async function probeTaskData(
  task: string,
  o: { fromRepo?: () => Promise<RepoTasks>; signal?: AbortSignal; onProgress?: (m: string) => void },
): Promise<ProbeData> {
  if (o.fromRepo) {
    if (task === 'typ')
      throw new ChangelingError(
        'usage',
        "TYP cannot be built from a repository (it needs type-checked code with planted typos): use --task typ without --repo for the study's file",
      );
    if (task !== 'ccm' && task !== 'ltp') throw new ChangelingError('usage', '--repo builds ccm or ltp: give --task ccm or --task ltp');
    const t = await o.fromRepo();
    return task === 'ccm' ? t.ccm : t.ltp;
  }
  if (isStudyTask(task))
    return {
      ...(await readProbeFile(await studyTaskFile(task, { signal: o.signal, onProgress: o.onProgress }))),
      name: task.toUpperCase(),
    };
  return readProbeFile(resolve(task));
}

export async function probeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      model: { type: 'string' },
      adapter: { type: 'string', multiple: true },
      task: { type: 'string' },
      repo: { type: 'string' },
      input: { type: 'string', default: 'study' },
      'max-length': { type: 'string' },
      max: { type: 'string' },
      report: { type: 'string' },
      json: { type: 'boolean', default: false },
      quiet: { type: 'boolean', default: false },
    },
  });
  if (!values.model)
    throw new ChangelingError('usage', '--model DIR is needed (a CodeT5, CodeBERT-family or PLBART folder with its tokenizer)');
  if (!values.task) throw new ChangelingError('usage', '--task ccm|ltp|typ|FILE is needed');
  if (values.input !== 'study' && values.input !== 'model') throw new ChangelingError('usage', '--input must be study or model');
  // A report inside a repository's own Changeling folder (where the extension keeps them) is Changeling's.
  const reportOwned = values.report && values.repo ? isInside(values.report, await repoDataDir(await openRepository(values.repo))) : false;
  if (values.report) folderTarget(values.report, '--report', { owned: reportOwned });
  const signal = interruptSignal();
  const progress = new StderrProgress(values.quiet);
  const onProgress = (m: string) => progress.update(m);
  const seqLength = parseCount('max-length', values['max-length'], 4096, 4);
  const max = parseCount('max', values.max, 100_000, 10);
  let built: Promise<RepoTasks> | undefined;
  const repo = values.repo;
  const fromRepo = repo
    ? () => (built ??= openRepository(repo).then((r) => repositoryProbeTasks(r, { max, signal, onProgress })))
    : undefined;
  const tasks: ProbeData[] = [];
  for (const task of values.task.split(',').filter(Boolean)) tasks.push(await probeTaskData(task, { fromRepo, signal, onProgress }));
  // One run per task and model (the base, then each adapter), each model opened once for all the tasks.
  const groups: ProbeRun[][] = tasks.map(() => []);
  for (const adapter of [undefined, ...(values.adapter ?? [])]) {
    const o = {
      model: resolve(values.model),
      adapter: adapter ? resolve(adapter) : undefined,
      input: values.input as ProbeInput,
      seqLength,
      signal,
      onProgress,
    };
    const opened = await openProbeModel(o);
    for (const [i, data] of tasks.entries()) groups[i]!.push(await runProbe(data, o, opened));
  }
  progress.done();
  const files = values.report ? await writeProbeReport(resolve(values.report), groups, { owned: reportOwned }) : [];
  if (values.json) {
    await printJson({ tasks: groups.map((runs) => ({ task: runs[0]!.task, runs })), report: files });
    return 0;
  }
  const pct = (x: number) => (100 * x).toFixed(1).padStart(6);
  const out: string[] = [];
  for (const runs of groups) {
    const r0 = runs[0]!;
    out.push(
      `${r0.task}: ${r0.counts.train}/${r0.counts.validation}/${r0.counts.test} examples, labels ${r0.labels.join(', ')}; most frequent label ${pct(r0.majority).trim()}% of test`,
      '',
    );
    out.push(`layer ${runs.map((_, i) => `  [${i + 1}]`).join('')}`);
    for (let l = 0; l < r0.layers.length; l++)
      out.push(`${String(l).padStart(5)} ${runs.map((r) => pct(r.layers[l]?.test ?? NaN)).join('')}`);
    out.push('');
    runs.forEach((r, i) =>
      out.push(`[${i + 1}] ${runLabel(r)}: best layer on validation ${r.best.layer}: ${pct(r.best.test).trim()}% test accuracy`),
    );
    out.push('');
  }
  if (files.length) out.push(`report: ${files.join(', ')}`);
  await writeOut(out.join('\n') + '\n');
  return 0;
}
