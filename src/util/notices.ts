import { terminalSafe } from './text.js';

/**
 * Things a user should know that are not errors (a cache that cannot be written, an input cut to the
 * model's limits): library code says them here once each; the command line prints them on stderr and the
 * extension writes them to its log.
 */
type Listener = (text: string) => void;
const listeners = new Set<Listener>();
const said = new Set<string>();

export function onNotice(fn: Listener): () => void {
  listeners.add(fn);
  return () => void listeners.delete(fn);
}

/** Says `text` once per process (escaped: it may name paths). */
export function notice(text: string): void {
  if (said.has(text)) return;
  said.add(text);
  for (const fn of listeners) fn(terminalSafe(text));
}
