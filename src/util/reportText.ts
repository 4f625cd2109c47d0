import { terminalSafe } from './text.js';

/** What the Markdown and HTML reports share: escaping (markup, and control and bidi characters as on the terminal), and tables. */
export const esc = (s: string) => terminalSafe(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export const escAttr = (s: string) => esc(s).replace(/"/g, '&quot;');

export const mdTable = (head: string[], rows: string[][]) =>
  [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map((c) => terminalSafe(c).replace(/\|/g, '\\|').replace(/\n/g, ' ')).join(' | ')} |`),
  ].join('\n');

export const htmlTable = (head: string[], rows: string[][]) =>
  `<table><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${rows.map((row) => `<tr>${row.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</table>`;

/** The head of a report page: no scripts, so it renders under a strict content-security policy (VS Code's webview). */
export const htmlHead = (title: string, cspSource = '') => `<!DOCTYPE html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src ${cspSource} 'unsafe-inline'; img-src ${cspSource} data:;">
<title>${esc(title)}</title>
<style>body{font-family:var(--vscode-font-family,sans-serif);color:var(--vscode-foreground,#222);padding:0 1em}table{border-collapse:collapse;margin:0.5em \
0 1em}td,th{padding:2px 12px 2px 0;text-align:left}figure{margin:0.5em 0}figcaption{font-size:0.9em;opacity:0.8}</style>
</head><body>`;
