import { parseArgs } from 'node:util';
import { parsePrecision } from '../runtime/precision.js';
import { openRepository } from '../git/repository.js';
import { currentChange } from '../git/currentChange.js';
import { diffTotals } from '../git/types.js';
import { InputFilter } from '../git/inputFilter.js';
import { MessageModel } from '../tasks/cmg/generate.js';
import { adoptedMessageModel } from '../tasks/cmg/adopted.js';
import { suggestMessages } from '../tasks/cmg/suggest.js';
import { assessRisk, loadRiskModel } from '../tasks/jitdp/risk.js';
import { reasonLine } from '../tasks/jitdp/reasons.js';
import { DEFAULT_MESSAGE_MODEL, defaultModelCache } from '../models/manifest.js';
import { cachedModel } from '../models/hub.js';
import { fieldText, interruptSignal, parseCount, printJson, StderrProgress, writeOut } from './io.js';

/** `changeling overview`: its options, its help text (OVERVIEW_HELP) and what it prints. */

export const OVERVIEW_HELP = `changeling [overview] [--repo PATH] [--commit REV] [-n N] [--precision P] [--json]

  The main job on one screen, for the staged change (or the last commit when nothing is staged): what
  changed, the suggested commit messages (the model this repository adopted, else NNGen from its own
  history: no model needed), and the risk of the change with its top reasons (the repository's own risk
  model, else the embedded default). It runs when changeling is given no command. Each part has its own
  command for more: changeling show, changeling suggest, changeling risk.

  --commit REV   this commit instead (its messages suggested from the history before it)
  -n N           how many messages to suggest (default 3)
  --precision P  the message model's weights: auto (default: int8 on the CPU), fp32 or int8
  --json         {"change", "suggestions", "risk"} as those commands print them`;

export async function overviewCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      repo: { type: 'string' },
      commit: { type: 'string' },
      n: { type: 'string', short: 'n' },
      precision: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const precision = parsePrecision(values.precision);
  const n = parseCount('n', values.n, 20, 1) ?? 3;
  const repo = await openRepository(values.repo ?? process.cwd());
  const signal = interruptSignal();
  const progress = new StderrProgress(values.json);
  const view = await currentChange(repo, { rev: values.commit, filter: new InputFilter(), signal });
  const staged = view.source === 'staged';
  const sha = view.commit?.sha ?? null;
  const target = staged ? { kind: 'staged' as const } : { kind: 'commit' as const, rev: sha! };
  // The same models the separate commands use by default.
  progress.update('suggesting messages...');
  const adopted = await adoptedMessageModel(repo);
  const model = adopted ? await MessageModel.create(adopted.model, { adapter: adopted.adapter ?? undefined, precision }) : null;
  const suggestions = view.files.length
    ? await suggestMessages(repo, target, { model, n, signal, onProgress: (t) => progress.update(t) })
    : null;
  progress.update('scoring the risk...');
  const riskModel = await loadRiskModel(repo);
  const risk = view.files.length ? await assessRisk(repo, target, riskModel, { reasons: 3, lines: 3, signal }) : [];
  progress.done();
  const messageModel = (await cachedModel(defaultModelCache(), DEFAULT_MESSAGE_MODEL).catch(() => null)) ?? null;
  if (values.json) {
    await printJson({
      change: {
        source: view.source,
        commit: sha,
        totals: diffTotals(view.files),
        files: view.files.map((f) => ({ path: f.path, additions: f.additions, deletions: f.deletions })),
      },
      suggestions,
      risk: { model: riskModel.source, threshold: riskModel.threshold, results: risk },
    });
    return 0;
  }
  const t = diffTotals(view.files);
  const names = view.files.slice(0, 4).map((f) => fieldText(f.path, 60));
  const out: string[] = [];
  out.push(
    staged
      ? 'The staged change'
      : values.commit
        ? `The commit ${sha!.slice(0, 12)} "${fieldText(view.commit!.subject, 60)}"`
        : `The last commit, ${sha!.slice(0, 12)} "${fieldText(view.commit!.subject, 60)}" (nothing is staged)`,
  );
  out.push(
    `  ${t.files} file${t.files === 1 ? '' : 's'}, +${t.additions} -${t.deletions}${
      names.length ? `: ${names.join(', ')}${view.files.length > names.length ? `, and ${view.files.length - names.length} more` : ''}` : ''
    }`,
  );
  if (!view.files.length) {
    out.push('  nothing changed: no message or risk to show');
    await writeOut(out.join('\n') + '\n');
    return 0;
  }
  out.push('');
  out.push(
    `Suggested messages (${model ? 'the model this repository adopted, and ' : ''}NNGen: the messages of the most similar changes in this history)`,
  );
  if (suggestions!.candidates.length === 0) out.push('  none: the history has no change like this one yet');
  suggestions!.candidates
    .slice(0, n * 2)
    .forEach((c, i) => out.push(`  ${i + 1}. ${fieldText(c.message.split('\n')[0]!, 100)}   (${c.source})`));
  out.push('');
  for (const r of risk) {
    const what = r.mergedBy !== undefined ? ` for ${r.sha!.slice(0, 12)}, which the merge brings` : '';
    out.push(
      `Risk: ${r.level.toUpperCase()} ${(r.probability * 100).toFixed(0)}%${what} (${
        riskModel.source === 'embedded default' ? 'the embedded default model' : `this repository's model`
      }; high from ${(riskModel.threshold * 100).toFixed(0)}%)`,
    );
    if (r.note) out.push(`  ${r.note}`);
    for (const x of r.reasons) out.push(`  ${reasonLine(x)}`);
  }
  out.push('');
  out.push(
    model
      ? 'More: changeling suggest, changeling risk, changeling help.'
      : messageModel
        ? `A message model is downloaded (${DEFAULT_MESSAGE_MODEL}): "changeling suggest --model ${messageModel}" uses it; "changeling finetune --task cmg" tunes it on this history.`
        : `For messages written by a model: "changeling download ${DEFAULT_MESSAGE_MODEL}" (about 900 MB), then "changeling suggest". More: changeling help.`,
  );
  await writeOut(out.join('\n') + '\n');
  return 0;
}
