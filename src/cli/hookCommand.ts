import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { openRepository } from '../git/repository.js';
import { hookStatus, installPrePush, uninstallPrePush } from '../git/hooks.js';
import { ChangelingError } from '../util/errors.js';
import { printJson, writeOut } from './io.js';

export const HOOK_HELP = `changeling hook install|uninstall|status --pre-push [--repo PATH] [--block | --no-block] [--json]

  install    puts a pre-push hook in the repository (where git looks: core.hooksPath honoured) that scores the
             outgoing commits with "changeling risk" and warns. It blocks a push only when configured:
             --block sets git config changeling.risk.blockPush true (--no-block sets it false); the level that
             counts is changeling.risk.failOn (high by default). An existing pre-push hook is kept and run
             first (saved as pre-push.changeling-chained). Installing again only refreshes Changeling's hook.
  uninstall  removes Changeling's hook and puts back the one that was there before, if any.
  status     whether the hook is installed, chains another, and blocks.`;

export async function hookCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true, strict: true,
    options: { repo: { type: 'string' }, 'pre-push': { type: 'boolean', default: false }, block: { type: 'boolean' }, 'no-block': { type: 'boolean' }, json: { type: 'boolean', default: false } },
  });
  const action = positionals[0];
  if (!action || !['install', 'uninstall', 'status'].includes(action)) throw new ChangelingError('usage', 'hook needs install, uninstall or status: "changeling hook install --pre-push"');
  if (!values['pre-push'] && action !== 'status') throw new ChangelingError('usage', `say which hook: "changeling hook ${action} --pre-push" (the only one so far)`);
  if (values.block && values['no-block']) throw new ChangelingError('usage', 'choose --block or --no-block');
  const repo = await openRepository(values.repo ?? process.cwd());
  if (action === 'install') {
    const cli = process.argv[1] ? resolve(process.argv[1]) : '';
    if (!cli.endsWith('.mjs') && !cli.endsWith('.js')) throw new ChangelingError('usage', 'run hook install through the changeling command (node dist/cli.mjs), so the hook knows what to call');
    const s = await installPrePush(repo, { node: process.execPath, cli, block: values.block ? true : values['no-block'] ? false : undefined });
    if (values.json) await printJson(s);
    else await writeOut(`installed the pre-push hook at ${s.path}${s.chainedNow ? ' (the hook that was there runs first: pre-push.changeling-chained)' : s.chained ? ' (chaining pre-push.changeling-chained)' : ''}; it ${s.blocking ? 'blocks pushes of high-risk commits (git config changeling.risk.blockPush false to only warn)' : 'warns and never blocks (changeling hook install --pre-push --block to block)'}\n`);
  } else if (action === 'uninstall') {
    const r = await uninstallPrePush(repo);
    if (values.json) await printJson(r);
    else await writeOut(r.removed ? `removed Changeling's pre-push hook${r.restored ? '; the hook that was there before is back' : ''}\n` : `no Changeling pre-push hook at ${r.path}; nothing changed\n`);
  } else {
    const s = await hookStatus(repo);
    if (values.json) await printJson(s);
    else await writeOut(`${s.path}: ${s.installed ? `Changeling's hook${s.chained ? ', chaining the previous one' : ''}; ${s.blocking ? 'blocks' : 'warns only'}` : 'not installed'}\n`);
  }
  return 0;
}
