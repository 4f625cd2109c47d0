import { chmod, lstat, mkdir, rename, rm } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { readTextFile } from '../util/jsonFile.js';
import { isInside } from '../util/outputTarget.js';
import { writeBytesAtomic } from '../util/atomicFile.js';
import { ChangelingError, fileError } from '../util/errors.js';
import type { Repository } from './repository.js';

/**
 * Changeling's git hooks. pre-push scores the commits being pushed (`changeling risk --range`) and warns;
 * it blocks the push only when `git config changeling.risk.blockPush` is true (set by `hook install
 * --block`), and never when scoring itself fails. prepare-commit-msg suggests a message (below); post-commit,
 * installed with it, pairs that suggestion with the message committed (`tasks/cmg/editPairs.ts`). A hook
 * that was there before is kept beside ours as `<hook>.changeling-chained` and run first, with the same
 * arguments and input; `uninstall` puts it back. Hooks go where git looks for them (core.hooksPath honoured).
 * Changeling's hook is recognised by its exact generated text, never by a marker it mentions; whatever else is
 * there (a disabled hook, a symlink, a dangling one) is chained and restored as it was; a hooks folder tracked
 * by git is changed only with `--force`.
 */
export type HookKind = 'pre-push' | 'prepare-commit-msg' | 'post-commit';

/**
 * Where `hook install --prepare-commit-msg --model DIR | --server URL` keeps what writes the hook's message:
 * the repository's own git config (never its files), read by `suggest --hook-file`, removed on uninstall.
 */
export const HOOK_WRITER_KEYS = {
  model: 'changeling.messages.model',
  server: 'changeling.messages.server',
  serverModel: 'changeling.messages.serverModel',
} as const;
export const HOOK_MARKER = '# changeling hook:';
const chainedName = (kind: HookKind) => `${kind}.changeling-chained`;

async function hooksDir(repo: Repository): Promise<string> {
  const p = (await repo.git.raw(['rev-parse', '--git-path', 'hooks'])).trim();
  return isAbsolute(p) ? p : resolve(repo.root, p);
}

/** A string as one word for the shell, whatever it holds. */
export const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Who installed a hook: the command line, or the VS Code extension (through its launcher, `hookLauncher.ts`). */
export type HookInstaller = 'cli' | 'vscode';

/** How a hook tells its user to put it back: a command they have. */
const reinstall = (kind: HookKind, by: HookInstaller) =>
  by === 'vscode'
    ? kind === 'pre-push'
      ? 'run "Changeling: Install pre-push risk check" in VS Code'
      : 'install it again from VS Code'
    : `reinstall with: changeling hook install --${flagOf(kind)}`;

/** The `changeling hook` option that installs a kind of hook: post-commit comes with prepare-commit-msg. */
export const flagOf = (kind: HookKind) => (kind === 'post-commit' ? 'prepare-commit-msg' : kind);

const header = (kind: HookKind, node: string, cli: string, what: string, electron: boolean, by: HookInstaller) => `#!/bin/sh
${HOOK_MARKER} ${kind} (${
  by === 'vscode'
    ? `installed by the Changeling extension for VS Code; its "Remove" command restores what was here`
    : `changeling hook install --${flagOf(kind)}; "changeling hook uninstall --${flagOf(kind)}" restores what was here`
})
# ${what}
${electron ? "# The editor's own runtime runs the command line as plain Node.js.\nexport ELECTRON_RUN_AS_NODE=1\n" : ''}CHANGELING_NODE=${shellQuote(node)}
CHANGELING_CLI=${shellQuote(cli)}
hookdir=$(dirname "$0")
`;

/**
 * prepare-commit-msg: for a plain \`git commit\` only (no -m/-F message, no template, not a merge, squash or
 * amend: git passes a source in $2 for all of those), the best suggestion becomes the message and the others
 * comments; a message already in the file is never replaced. Any failure leaves the commit as git made it.
 */
function prepareCommitMsgScript(node: string, cli: string, electron = false, by: HookInstaller = 'cli'): string {
  return `${header(
    'prepare-commit-msg',
    node,
    cli,
    'It suggests a message for a plain "git commit" and never replaces one given with -m, -F, a template, a merge or --amend.',
    electron,
    by,
  )}if [ -x "$hookdir/${chainedName('prepare-commit-msg')}" ]; then
  "$hookdir/${chainedName('prepare-commit-msg')}" "$@" || exit $?
fi
[ -n "$2" ] && exit 0
[ -f "$CHANGELING_CLI" ] || exit 0
"$CHANGELING_NODE" "$CHANGELING_CLI" suggest --hook-file "$1" >/dev/null 2>&1 || true
exit 0
`;
}

/**
 * post-commit: when a suggestion is waiting for its commit (a file in the git folder: node is not started
 * otherwise), `changeling edits --record-commit` pairs it with the message just committed. Whatever happens, the
 * commit is made already and the hook says nothing.
 */
function postCommitScript(node: string, cli: string, electron = false, by: HookInstaller = 'cli'): string {
  return `${header(
    'post-commit',
    node,
    cli,
    'It pairs the message Changeling suggested with the one you committed (kept in the git folder, never sent anywhere).',
    electron,
    by,
  )}if [ -x "$hookdir/${chainedName('post-commit')}" ]; then
  "$hookdir/${chainedName('post-commit')}" "$@"
fi
common=$(git rev-parse --git-common-dir 2>/dev/null) || exit 0
[ -f "$common/changeling/edits-pending.json" ] || exit 0
[ -f "$CHANGELING_CLI" ] || exit 0
"$CHANGELING_NODE" "$CHANGELING_CLI" edits --record-commit >/dev/null 2>&1 || true
exit 0
`;
}

const SCRIPTS: Record<HookKind, (node: string, cli: string, electron?: boolean, by?: HookInstaller) => string> = {
  'pre-push': (...a) => prePushScript(...a),
  'prepare-commit-msg': (...a) => prepareCommitMsgScript(...a),
  'post-commit': (...a) => postCommitScript(...a),
};

/**
 * pre-push: each pushed range scored by `changeling risk --brief`: one line while nothing reaches the level set
 * (changeling.risk.failOn, high by default), the full report when something does.
 */
export function prePushScript(node: string, cli: string, electron = false, by: HookInstaller = 'cli'): string {
  return `${header(
    'pre-push',
    node,
    cli,
    'It warns about risky outgoing commits and blocks the push only when changeling.risk.blockPush is true.',
    electron,
    by,
  )}input=$(cat)
if [ -x "$hookdir/${chainedName('pre-push')}" ]; then
  printf '%s\\n' "$input" | "$hookdir/${chainedName('pre-push')}" "$@" || exit $?
fi
if [ ! -f "$CHANGELING_CLI" ]; then
  echo "changeling: $CHANGELING_CLI is gone; not scoring this push (${reinstall('pre-push', by)})" >&2
  exit 0
fi
failon=$(git config changeling.risk.failOn || echo high)
zero=0000000000000000000000000000000000000000
risky=0
while read -r local_ref local_sha remote_ref remote_sha; do
  [ -n "$local_sha" ] || continue
  [ "$local_sha" = "$zero" ] && continue
  if [ -z "$remote_sha" ] || [ "$remote_sha" = "$zero" ]; then
    range="$local_sha --not --remotes=$1"
  else
    range="$remote_sha..$local_sha"
  fi
  "$CHANGELING_NODE" "$CHANGELING_CLI" risk --range "$range" --fail-on "$failon" --brief >&2
  rc=$?
  if [ $rc -eq 3 ]; then
    risky=1
  elif [ $rc -ne 0 ]; then
    echo "changeling: could not score $local_ref (exit $rc); pushing anyway" >&2
  fi
done <<CHANGELING_EOF
$input
CHANGELING_EOF
if [ $risky -eq 1 ]; then
  if [ "$(git config --bool changeling.risk.blockPush)" = "true" ]; then
    echo "changeling: push blocked: a commit above is at or above '$failon' risk (changeling.risk.blockPush is true)." >&2
    echo "changeling: push anyway with git push --no-verify, or stop blocking with: git config changeling.risk.blockPush false" >&2
    exit 1
  fi
  echo "changeling: risky commits above; pushing anyway (set git config changeling.risk.blockPush true to block)" >&2
fi
exit 0
`;
}

export interface HookStatus {
  kind: HookKind;
  path: string;
  installed: boolean;
  chained: boolean;
  /** pre-push: whether it blocks risky pushes (changeling.risk.blockPush). */
  blocking: boolean;
  /** The command line (or launcher) an installed hook of Changeling's runs; '' when none is installed. */
  cli: string;
}

const unquote = (s: string) => (s.startsWith("'") && s.endsWith("'") ? s.slice(1, -1).replace(/'\\''/g, "'") : null);
/** A hook's CHANGELING_NODE or CHANGELING_CLI, as the shell reads it; null when it is not one quoted word. */
const hookVariable = (text: string, name: 'CHANGELING_NODE' | 'CHANGELING_CLI') =>
  unquote(new RegExp(`^${name}=(.*)$`, 'm').exec(text)?.[1] ?? '');

/**
 * Whether `text` is a hook Changeling wrote: exactly the script `install` generates for some node and command
 * line path, never a file that merely mentions the marker (a user's hook with the marker text in a comment).
 */
export function isChangelingHook(text: string, kind: HookKind): boolean {
  if (!text.startsWith(`#!/bin/sh\n${HOOK_MARKER} ${kind} `)) return false;
  const node = hookVariable(text, 'CHANGELING_NODE');
  const cli = hookVariable(text, 'CHANGELING_CLI');
  if (node === null || cli === null) return false;
  const script = SCRIPTS[kind];
  return (['cli', 'vscode'] as const).some((by) => text === script(node, cli, false, by) || text === script(node, cli, true, by));
}

/** What is at `path` without following a symlink: null when nothing (a dangling symlink is something). */
async function entryAt(path: string): Promise<{ link: boolean; file: boolean } | null> {
  const st = await lstat(path).catch(() => null);
  return st ? { link: st.isSymbolicLink(), file: st.isFile() } : null;
}

/** A hook's text, when it is a regular file (or a symlink to one) of a sane size; else null. */
async function hookText(path: string): Promise<string | null> {
  try {
    return await readTextFile(path, { max: 1 << 20 });
  } catch {
    return null;
  }
}

export async function hookStatus(repo: Repository, kind: HookKind = 'pre-push'): Promise<HookStatus> {
  const dir = await hooksDir(repo);
  const path = join(dir, kind);
  const text = (await entryAt(path))?.link === false ? await hookText(path) : null;
  const blocking =
    kind === 'pre-push' && (await repo.git.raw(['config', '--bool', 'changeling.risk.blockPush']).catch(() => '')).trim() === 'true';
  const installed = text !== null && isChangelingHook(text, kind);
  return {
    kind,
    path,
    cli: installed ? (hookVariable(text!, 'CHANGELING_CLI') ?? '') : '',
    installed,
    chained: !!(await entryAt(join(dir, chainedName(kind)))),
    blocking,
  };
}

/** Whether the hooks folder is part of the work tree and tracked by git (a `core.hooksPath` such as `.githooks/`). */
async function trackedHooksDir(repo: Repository, dir: string): Promise<boolean> {
  if (repo.bare || !isInside(dir, repo.root)) return false;
  const out = await repo.git.raw(['ls-files', '-z', '--', relative(repo.root, dir)]).catch(() => '');
  return out.length > 0;
}

export async function installHook(
  repo: Repository,
  kind: HookKind,
  o: {
    node: string;
    cli: string;
    block?: boolean;
    /** node is an Electron binary (VS Code's): run it as Node. */ electron?: boolean;
    /** Who installs it (what its messages tell the user to do); default the command line. */ by?: HookInstaller;
    /** Install even into a hooks folder tracked by git. */ force?: boolean;
  },
): Promise<HookStatus & { chainedNow: boolean }> {
  const dir = await hooksDir(repo);
  const path = join(dir, kind);
  const chained = join(dir, chainedName(kind));
  if (!o.force && (await trackedHooksDir(repo, dir)))
    throw new ChangelingError(
      'usage',
      `the hooks folder ${dir} is tracked by git (core.hooksPath): installing would change a file everyone who clones gets; use --force to install there anyway`,
    );
  let chainedNow = false;
  try {
    await mkdir(dir, { recursive: true });
    const there = await entryAt(path);
    const ours = there !== null && !there.link && there.file && isChangelingHook((await hookText(path)) ?? '', kind);
    if (there !== null && !ours) {
      // Whatever was there (a script, a disabled one, a symlink, even a dangling one) is kept as it is, beside ours.
      if (await entryAt(chained)) throw new ChangelingError('usage', `${chained} already exists; move it away before installing again`);
      await rename(path, chained);
      chainedNow = true;
    }
    await writeBytesAtomic(path, Buffer.from(SCRIPTS[kind](o.node, o.cli, o.electron ?? false, o.by ?? 'cli')));
    await chmod(path, 0o755);
  } catch (err) {
    if (err instanceof ChangelingError) throw err;
    throw fileError(err, path, 'installing the hook at');
  }
  if (kind === 'pre-push' && o.block !== undefined) await repo.git.raw(['config', 'changeling.risk.blockPush', String(o.block)]);
  return { ...(await hookStatus(repo, kind)), chainedNow };
}

export async function uninstallHook(repo: Repository, kind: HookKind): Promise<{ removed: boolean; restored: boolean; path: string }> {
  const dir = await hooksDir(repo);
  const path = join(dir, kind);
  const chained = join(dir, chainedName(kind));
  const there = await entryAt(path);
  // Only a hook Changeling wrote, unchanged, is removed; anything else stays as it is.
  if (!there || there.link || !isChangelingHook((await hookText(path)) ?? '', kind)) return { removed: false, restored: false, path };
  try {
    await rm(path);
    if (await entryAt(chained)) {
      await rename(chained, path);
      return { removed: true, restored: true, path };
    }
  } catch (err) {
    throw fileError(err, path, 'removing the hook at');
  }
  return { removed: true, restored: false, path };
}

export const installPrePush = (repo: Repository, o: { node: string; cli: string; block?: boolean }) => installHook(repo, 'pre-push', o);
export const uninstallPrePush = (repo: Repository) => uninstallHook(repo, 'pre-push');
