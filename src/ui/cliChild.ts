import { spawn } from 'node:child_process';

/**
 * Long work (fine-tuning, probing) runs as the command line in a child process, never on the extension
 * host's thread: its stderr arrives line by line (progress, JSON events), its stdout is collected, and
 * cancelling sends SIGINT, on which the command line stops cleanly (exit 130) and keeps what it saved.
 */
export interface CliChild {
  /** Resolves with the exit status and what the command printed on stdout. */
  done: Promise<{ code: number; stdout: string }>;
  cancel(): void;
}

export function runCliChild(
  cli: string,
  args: string[],
  o: { cwd: string; onLine?: (line: string) => void; signal?: AbortSignal },
): CliChild {
  const child = spawn(process.execPath, [cli, ...args], {
    cwd: o.cwd,
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const cancel = () => void child.kill('SIGINT');
  if (o.signal?.aborted) cancel();
  else o.signal?.addEventListener('abort', cancel, { once: true });
  let buffer = '';
  child.stderr.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    let nl: number;
    while ((nl = buffer.search(/[\r\n]/)) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim()) o.onLine?.(line);
    }
  });
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  const done = new Promise<{ code: number; stdout: string }>((resolve) => {
    child.on('error', () => resolve({ code: 1, stdout }));
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
  return { done, cancel };
}
