import { parseArgs } from 'node:util';
import { openRepository, repoDataDir } from '../git/repository.js';
import { EDIT_CAP, LEARN_KEY, clearEdits, editPairs, learningFromEdits, recordCommit } from '../tasks/cmg/editPairs.js';
import { cmgMetrics } from '../eval/cmgMetrics.js';
import { ChangelingError } from '../util/errors.js';
import { fieldText } from '../util/text.js';
import { printJson, writeOut } from './io.js';

/** `changeling edits`: what was recorded of your edits of suggested messages; --clear forgets them. */

export const EDITS_HELP = `changeling edits [--repo PATH] [--clear] [--json]

  The messages Changeling suggested (in VS Code, or through the prepare-commit-msg hook) paired with the messages
  you committed: kept in the repository's git folder (changeling/edits.jsonl, shared by its worktrees; the newest
  ${EDIT_CAP.toLocaleString('en-US')}), never sent anywhere. "changeling finetune --task cmg" with a code LLM learns from them, with
  twice the weight of an older commit. Without options: how many there are and how close the suggestions were.
  --clear        forget them all
  Recording stops with: git config ${LEARN_KEY} false (or VS Code's "Learn from my edits" setting).`;

export async function editsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      repo: { type: 'string' },
      clear: { type: 'boolean', default: false },
      // The post-commit hook's step: pair the pending suggestion with the commit just made (quiet, never fails a commit).
      'record-commit': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  });
  if (values.clear && values['record-commit']) throw new ChangelingError('usage', '--clear and --record-commit are two actions: give one');
  const repo = await openRepository(values.repo ?? process.cwd());
  if (values['record-commit']) {
    const pair = await recordCommit(repo);
    if (values.json) await printJson({ recorded: pair });
    return 0;
  }
  if (values.clear) {
    const n = await clearEdits(repo);
    if (values.json) await printJson({ cleared: n });
    else await writeOut(`forgot ${n} recorded edit${n === 1 ? '' : 's'} of suggested messages\n`);
    return 0;
  }
  const pairs = await editPairs(await repoDataDir(repo));
  const on = await learningFromEdits(repo);
  const unchanged = pairs.filter((p) => p.suggested.trim() === p.committed.trim()).length;
  const editSim = pairs.length
    ? cmgMetrics(
        pairs.map((p) => p.suggested),
        pairs.map((p) => p.committed),
      ).editSim
    : null;
  if (values.json) {
    await printJson({ recording: on, pairs: pairs.length, unchanged, editSim, recent: pairs.slice(-5) });
    return 0;
  }
  await writeOut(
    [
      `${pairs.length} suggested message${pairs.length === 1 ? '' : 's'} paired with what you committed${
        pairs.length ? `: ${unchanged} committed as suggested; EditSim ${editSim!.toFixed(1)}% (how much of a suggestion you kept)` : ''
      }`,
      ...pairs
        .slice(-5)
        .map(
          (p) =>
            `  ${p.sha.slice(0, 10)}  suggested "${fieldText(p.suggested.split('\n')[0]!, 60)}" -> committed "${fieldText(p.committed.split('\n')[0]!, 60)}"`,
        ),
      on ? `recording is on (stop it with: git config ${LEARN_KEY} false)` : `recording is off (git config ${LEARN_KEY} is false)`,
    ].join('\n') + '\n',
  );
  return 0;
}
