import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { writeBytesAtomic } from '../util/atomicFile.js';
import { shellQuote as quote } from './hooks.js';

/**
 * The launcher that git hooks installed from VS Code call (`/bin/sh LAUNCHER risk ...`), kept in the
 * extension's global storage and rewritten at every start. An update moves the extension to a new folder
 * (`changeling.changeling-0.2.0` beside `-0.1.0`) and may move the editor's own runtime; a hook that named
 * them would break. The launcher finds them when it runs: the extension folder of the last start, else the
 * newest `changeling.changeling-*` beside it; the editor's runtime of the last start, else `node` on PATH.
 * With no extension or no runtime it says so in one line and exits 0, so the push goes through.
 */
export const LAUNCHER_NAME = 'hook-launcher.sh';

export function launcherScript(o: { extensionPath: string; node: string; electron: boolean }): string {
  return `#!/bin/sh
# Changeling's hook launcher, written by the VS Code extension at each start: it runs the installed
# extension's command line, wherever an update has put it.
ext=${quote(o.extensionPath)}
runtime=${quote(o.node)}
cli="$ext/dist/cli.mjs"
if [ ! -f "$cli" ]; then
  if printf '1\n' | sort -V >/dev/null 2>&1; then order="sort -V"; else order="sort"; fi
  cli=$(ls -d "$(dirname "$ext")"/changeling.changeling-*/dist/cli.mjs 2>/dev/null | $order | tail -n 1)
fi
if [ -z "$cli" ] || [ ! -f "$cli" ]; then
  echo "changeling: the Changeling extension is not installed any more; nothing was checked" >&2
  exit 0
fi
if [ -x "$runtime" ]; then
${o.electron ? '  export ELECTRON_RUN_AS_NODE=1\n' : ''}  exec "$runtime" "$cli" "$@"
fi
if command -v node >/dev/null 2>&1; then
  exec node "$cli" "$@"
fi
echo "changeling: no runtime to run Changeling with (the editor's has moved and node is not on PATH); nothing was checked" >&2
exit 0
`;
}

/** Writes the launcher into `dir` (the extension's global storage); returns its path. */
export async function writeLauncher(dir: string, o: { extensionPath: string; node: string; electron: boolean }): Promise<string> {
  await mkdir(dir, { recursive: true });
  const path = join(dir, LAUNCHER_NAME);
  await writeBytesAtomic(path, Buffer.from(launcherScript(o)));
  await chmod(path, 0o755);
  return path;
}
