import { parseArgs } from 'node:util';
import { openRepository } from '../git/repository.js';
import { rangeArgs } from '../git/revisions.js';
import { configuredAuthor } from '../git/expertFeatures.js';
import { assessRisk, loadRiskModel, type RiskLevel, type RiskResult, type RiskTarget } from '../tasks/jitdp/risk.js';
import { ChangelingError } from '../util/errors.js';
import { REASONS_HEADING, reasonLine, tokenText } from '../tasks/jitdp/reasons.js';
import { fieldText, interruptSignal, parseCount, printJson, writeOut } from './io.js';

/** `changeling risk`: its options, its help text (RISK_HELP) and what it prints. */

export const RISK_HELP = `changeling risk [--repo PATH] [--staged | --commit REV | --range A..B] [--model PATH] [--fail-on high|medium|low|never] [--json]

  The defect risk of the staged change (default), a commit, or a range such as @{u}..HEAD: probability,
  level, the top reasons and the riskiest changed lines (of code files). A merge is not a change of its own:
  a range skips merges, --commit MERGE and a merge being concluded score the commits the merge brings. The model is --model (a
  .json linear model or a neural model folder), else the repository's own (changeling risk-train), else the
  embedded default (expert features only). Levels: high at or above the model's threshold, medium at half
  of it, low below.

  --reasons N / --lines N   how many reasons and lines to show (default 5 each)
  --fail-on LEVEL           exit 3 when a change is at or above LEVEL (default high; low: any change; never: always 0)
  --brief                   below --fail-on, one line for all the changes (the pre-push hook's form); the full report only at or above it
  --json                    {"model", "threshold", "results": [{sha, subject, probability, level, reasons, lines, features}]}

  Exit codes: 0 nothing at or above --fail-on, 3 something is, 1 error, 2 bad usage.`;

const ORDER: Record<RiskLevel, number> = { low: 0, medium: 1, high: 2 };

const RISKY_EXIT = 3;

function formatRisk(r: RiskResult): string {
  const head = `${r.level.toUpperCase().padEnd(6)} ${(r.probability * 100).toFixed(0).padStart(3)}%  ${r.sha ? r.sha.slice(0, 12) : 'staged'}  ${r.subject.slice(0, 72)}`;
  const reasons = r.reasons.map((x) => `      ${reasonLine(x)}`);
  const lines = r.lines.map(
    (l) =>
      `      ${l.path}:${l.line} ${l.sign} ${l.text.trim().slice(0, 80)}  (${l.score.toFixed(3)}${l.why ? `; ${l.why.map(tokenText).join(', ')}` : ''})`,
  );
  return [
    head,
    ...(r.note ? [`    note: ${r.note}`] : []),
    ...(reasons.length ? [`    ${REASONS_HEADING}:`, ...reasons] : []),
    ...(lines.length ? ['    riskiest lines:', ...lines] : []),
  ].join('\n');
}

export async function riskCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      repo: { type: 'string' },
      staged: { type: 'boolean', default: false },
      commit: { type: 'string' },
      range: { type: 'string' },
      model: { type: 'string' },
      'fail-on': { type: 'string', default: 'high' },
      brief: { type: 'boolean', default: false },
      reasons: { type: 'string' },
      lines: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const picked = [values.staged, values.commit !== undefined, values.range !== undefined].filter(Boolean).length;
  if (picked > 1) throw new ChangelingError('usage', 'choose one of --staged, --commit REV and --range A..B');
  const failOn = values['fail-on']!;
  if (!['high', 'medium', 'low', 'never'].includes(failOn))
    throw new ChangelingError('usage', `--fail-on must be high, medium, low or never, not "${failOn}"`);
  const target: RiskTarget =
    values.commit !== undefined
      ? { kind: 'commit', rev: values.commit }
      : values.range !== undefined
        ? { kind: 'range', range: values.range }
        : { kind: 'staged' };
  const repo = await openRepository(values.repo ?? process.cwd());
  const model = await loadRiskModel(repo, values.model);
  const results = await assessRisk(repo, target, model, {
    reasons: parseCount('reasons', values.reasons),
    lines: parseCount('lines', values.lines),
    signal: interruptSignal(),
  });
  if (values.json) await printJson({ model: model.source, kind: model.kind, threshold: model.threshold, results });
  else if (results.length === 0)
    await writeOut(
      target.kind === 'range' ? `no commits in ${values.range}\n` : 'a merge that brings no commit of its own: nothing to score\n',
    );
  else if (values.brief && !atOrAbove(results, failOn)) {
    const top = results.reduce((a, b) => (b.probability > a.probability ? b : a));
    const what = results.length === 1 ? '1 commit' : `${results.length} commits`;
    await writeOut(
      `changeling: ${what} scored; the riskiest is ${top.level} (${Math.round(top.probability * 100)}%)${
        top.sha ? `: ${top.sha.slice(0, 10)} ${fieldText(top.subject, 60)}` : ''
      }\n`,
    );
  } else {
    // The staged change is scored as a commit by the configured user: without one, as a newcomer's.
    const noUser = target.kind === 'staged' && !(await configuredAuthor(repo));
    const note = noUser
      ? "note: git has no user.name here, so the staged change is scored as a first-time author's (the experience features are 0); set it with git config user.name\n"
      : '';
    const merge = results[0]!.mergedBy;
    const mergeNote =
      merge === undefined
        ? ''
        : `${merge ? `${merge.slice(0, 12)} is a merge` : 'a merge is being concluded'}: a merge is not scored \
as a change of its own; the ${results.length === 1 ? 'commit' : `${results.length} commits`} it brings:\n`;
    // A range skips its merges: say how many, so that nobody wonders where they went.
    const merges =
      target.kind === 'range'
        ? Number((await repo.git.raw(['rev-list', '--merges', '--count', ...rangeArgs(target.range), '--']).catch(() => '0')).trim()) || 0
        : 0;
    const rangeNote =
      merges === 1
        ? 'note: 1 merge in the range is not scored as a change of its own; the commits it brings are\n'
        : merges > 1
          ? `note: ${merges} merges in the range are not scored as changes of their own; the commits they bring are\n`
          : '';
    await writeOut(
      `${mergeNote}${results.map(formatRisk).join('\n')}\n${rangeNote}(model: ${model.source}, ${model.kind}; threshold ${(model.threshold * 100).toFixed(0)}%)\n${note}`,
    );
  }
  return atOrAbove(results, failOn) ? RISKY_EXIT : 0;
}

/** Whether a result is at or above the --fail-on level. */
const atOrAbove = (results: readonly RiskResult[], failOn: string) =>
  failOn !== 'never' && results.some((r) => ORDER[r.level] >= ORDER[failOn as RiskLevel]);
