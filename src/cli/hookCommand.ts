import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { openRepository } from '../git/repository.js';
import { HOOK_WRITER_KEYS, hookStatus, installHook, uninstallHook, type HookKind } from '../git/hooks.js';
import { ChangelingError } from '../util/errors.js';
import { DEFAULT_SERVER_MODEL, loopbackUrl } from '../tasks/cmg/serverWriter.js';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { printJson, writeOut } from './io.js';

/** `changeling hook`: its options, its help text (HOOK_HELP) and what it prints. */

export const HOOK_HELP = `changeling hook install|uninstall|status --pre-push|--prepare-commit-msg [--repo PATH] [--block | --no-block] [--force] [--json]

  --prepare-commit-msg: for a plain "git commit" (no -m, -F, template, merge, squash or --amend), the best
  "changeling suggest" candidate becomes the message in your editor and the others are listed as comments;
  a message given any other way is never touched. Without a message model only the messages of similar
  earlier commits are known: they are listed as comments, never put in as yours. A post-commit hook comes with
  it: it pairs the suggestion with the message you committed ("changeling edits"; git config
  changeling.messages.learnFromEdits false stops it). --model DIR (a CodeT5
  folder or a code LLM such as Qwen2.5-Coder Instruct) or --server URL [--server-model NAME] (a model server
  on this machine, as for "changeling suggest") choose what writes the message (stored in git config
  changeling.messages.model / .server / .serverModel; uninstall removes them). A code LLM on a CPU takes
  tens of seconds before your editor opens.

  --pre-push:
  install    puts a pre-push hook in the repository (where git looks: core.hooksPath honoured) that scores the
             outgoing commits with "changeling risk" and warns. It blocks a push only when configured:
             --block sets git config changeling.risk.blockPush true (--no-block sets it false); the level that
             counts is changeling.risk.failOn (high by default). An existing pre-push hook is kept and run
             first (saved as pre-push.changeling-chained). Installing again only refreshes Changeling's hook.
             A hooks folder tracked by git (core.hooksPath = .githooks, say) is changed only with --force.
  uninstall  removes Changeling's hook (recognised by its exact text, never by a comment that mentions it) and
             puts back exactly what was there before, if anything (a disabled hook, a symlink).
  status     whether the hook is installed, chains another, and blocks.`;

export async function hookCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      repo: { type: 'string' },
      'pre-push': { type: 'boolean', default: false },
      'prepare-commit-msg': { type: 'boolean', default: false },
      block: { type: 'boolean' },
      'no-block': { type: 'boolean' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      model: { type: 'string' },
      server: { type: 'string' },
      'server-model': { type: 'string' },
    },
  });
  const action = positionals[0];
  if (!action || !['install', 'uninstall', 'status'].includes(action))
    throw new ChangelingError('usage', 'hook needs install, uninstall or status: "changeling hook install --pre-push"');
  if (values['pre-push'] && values['prepare-commit-msg'])
    throw new ChangelingError('usage', 'one hook at a time: --pre-push or --prepare-commit-msg');
  if (!values['pre-push'] && !values['prepare-commit-msg'] && action !== 'status')
    throw new ChangelingError('usage', `say which hook: "changeling hook ${action} --pre-push" or "--prepare-commit-msg"`);
  const kind: HookKind = values['prepare-commit-msg'] ? 'prepare-commit-msg' : 'pre-push';
  if (kind !== 'pre-push' && (values.block || values['no-block']))
    throw new ChangelingError('usage', '--block and --no-block are for the pre-push hook');
  if (values.block && values['no-block']) throw new ChangelingError('usage', 'choose --block or --no-block');
  const writer = values.model || values.server || values['server-model'];
  if (writer && (kind !== 'prepare-commit-msg' || action !== 'install'))
    throw new ChangelingError('usage', '--model, --server and --server-model are for "hook install --prepare-commit-msg"');
  if (values.model && values.server) throw new ChangelingError('usage', '--model and --server are two writers: name one');
  if (values['server-model'] && !values.server) throw new ChangelingError('usage', '--server-model needs --server URL');
  const model = values.model ? resolve(values.model) : null;
  if (model && !(existsSync(join(model, 'config.json')) && statSync(model).isDirectory()))
    throw new ChangelingError('usage', `${model} is not a model folder (it has no config.json)`);
  const server = values.server ? loopbackUrl(values.server).href : null;
  const repo = await openRepository(values.repo ?? process.cwd());
  if (action === 'install') {
    const cli = process.argv[1] ? resolve(process.argv[1]) : '';
    if (!cli.endsWith('.mjs') && !cli.endsWith('.js'))
      throw new ChangelingError(
        'usage',
        'run hook install through the changeling command (node dist/cli.mjs), so the hook knows what to call',
      );
    const s = await installHook(repo, kind, {
      node: process.execPath,
      cli,
      block: values.block ? true : values['no-block'] ? false : undefined,
      force: values.force,
    });
    // With the suggestion, its pairing with what is committed (changeling edits).
    if (kind === 'prepare-commit-msg') await installHook(repo, 'post-commit', { node: process.execPath, cli, force: values.force });
    // What writes the hook's message: kept in the repository's own git config (never in its files).
    const set = (key: string, value: string | null) =>
      value ? repo.git.raw(['config', key, value]) : repo.git.raw(['config', '--unset', key]).catch(() => '');
    if (writer) {
      await set(HOOK_WRITER_KEYS.model, model);
      await set(HOOK_WRITER_KEYS.server, server);
      await set(HOOK_WRITER_KEYS.serverModel, server ? (values['server-model'] ?? DEFAULT_SERVER_MODEL) : null);
    }
    if (values.json) await printJson(s);
    else {
      const what =
        kind === 'prepare-commit-msg'
          ? `it suggests messages for plain "git commit"${model ? `, written by ${model}` : server ? `, written by the server at ${server}` : ''}`
          : `it ${
              s.blocking
                ? 'blocks pushes of high-risk commits (git config changeling.risk.blockPush false to only warn)'
                : 'warns and never blocks (changeling hook install --pre-push --block to block)'
            }`;
      await writeOut(
        `installed the ${kind} hook at ${s.path}${
          s.chainedNow
            ? ` (the hook that was there runs first: ${kind}.changeling-chained)`
            : s.chained
              ? ` (chaining ${kind}.changeling-chained)`
              : ''
        }; ${what}\n`,
      );
    }
  } else if (action === 'uninstall') {
    const r = await uninstallHook(repo, kind);
    if (kind === 'prepare-commit-msg') await uninstallHook(repo, 'post-commit');
    if (kind === 'prepare-commit-msg' && r.removed)
      for (const key of Object.values(HOOK_WRITER_KEYS)) await repo.git.raw(['config', '--unset', key]).catch(() => '');
    if (values.json) await printJson(r);
    else
      await writeOut(
        r.removed
          ? `removed Changeling's ${kind} hook${r.restored ? '; the hook that was there before is back' : ''}\n`
          : `no Changeling ${kind} hook at ${r.path}; nothing changed\n`,
      );
  } else {
    const kinds: HookKind[] = values['pre-push']
      ? ['pre-push']
      : values['prepare-commit-msg']
        ? ['prepare-commit-msg', 'post-commit']
        : ['pre-push', 'prepare-commit-msg', 'post-commit'];
    const all = await Promise.all(kinds.map((k) => hookStatus(repo, k)));
    if (values.json) await printJson(all.length === 1 ? all[0] : all);
    else
      await writeOut(
        all
          .map(
            (s) =>
              `${s.path}: ${
                s.installed
                  ? `Changeling's hook${s.chained ? ', chaining the previous one' : ''}${
                      s.kind === 'pre-push' ? `; ${s.blocking ? 'blocks' : 'warns only'}` : ''
                    }`
                  : 'not installed'
              }`,
          )
          .join('\n') + '\n',
      );
  }
  return 0;
}
