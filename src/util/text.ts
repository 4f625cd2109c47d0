/** Text from repositories, users and the network, made safe to show on a terminal. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f\x80-\x9f]/g;
/**
 * Text for a terminal: control characters (escape sequences that could clear the screen or set the
 * title, carriage returns, C1 controls) written as \xNN, as git quotes unusual paths. Newlines and tabs stay.
 */
export const terminalSafe = (s: string) => s.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
/** One field of a table or line: tabs and newlines escaped too, and cut at `max` characters. */
export function fieldText(s: string, max = 200): string {
  const t = terminalSafe(s).replace(/\t/g, '\\t').replace(/\n/g, '\\n');
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}
