import { basename, join } from 'node:path';
import { writeBytesAtomic } from '../../util/atomicFile.js';
import { writeOutputFolder } from '../../util/outputTarget.js';
import { terminalSafe } from '../../util/text.js';
import { esc, escAttr, htmlHead, mdTable } from '../../util/reportText.js';
import type { ProbeRun } from './probe.js';

/**
 * The probing report: per task, the test accuracy per layer of each model run side by side (the base model
 * and its tuned adapters, the study's tables VI-VII for the user's own models), in `probe.md`, `probe.html`
 * (with the accuracies drawn as one line per run in SVG; no scripts) and `probe.json`. A report holds one
 * group of runs per task.
 */
export function runLabel(r: Pick<ProbeRun, 'model' | 'adapter'>): string {
  return r.adapter ? `${basename(r.adapter)} (adapter on ${basename(r.model)})` : `${basename(r.model)} (base)`;
}

const pct = (x: number) => (100 * x).toFixed(1);

function accuracyTable(runs: readonly ProbeRun[]): { head: string[]; rows: string[][] } {
  const layers = Math.max(...runs.map((r) => r.layers.length));
  const head = ['layer', ...runs.map(runLabel)];
  const rows = Array.from({ length: layers }, (_, l) => [
    l === 0 ? '0 (embeddings)' : String(l),
    ...runs.map((r) => {
      const x = r.layers[l];
      if (!x) return '-';
      return r.best.layer === l ? `**${pct(x.test)}**` : pct(x.test);
    }),
  ]);
  return { head, rows };
}

function summary(runs: readonly ProbeRun[]): string[] {
  const r0 = runs[0]!;
  return [
    `${r0.counts.train} training, ${r0.counts.validation} validation and ${r0.counts.test} test examples; labels ${r0.labels.join(', ')}; \
a probe that learns nothing scores ${pct(r0.majority)}% (the test split's most frequent label).`,
    `Features: the first token's state at every layer (${
      r0.input === 'study'
        ? "the study's input: the tokens between [CLS] and [SEP], which these vocabularies read as <unk>"
        : "the model's own start and end tokens around the tokens"
    }, ${r0.seqLength} tokens at most); a linear probe per layer with its L2 strength chosen on validation. \
Test accuracy in %; the best layer of each run (chosen on validation) in bold.`,
  ];
}

function probeMarkdown(groups: ReadonlyArray<readonly ProbeRun[]>): string {
  return [`# Probing report: ${groups.map((g) => g[0]!.task).join(', ')}`, '', ...groups.map(taskMarkdown)].join('\n');
}

function taskMarkdown(runs: readonly ProbeRun[]): string {
  const t = accuracyTable(runs);
  return [
    `## ${runs[0]!.task}`,
    '',
    ...summary(runs).flatMap((s) => [s, '']),
    mdTable(t.head, t.rows),
    '',
    ...runs.map((r) => `- ${runLabel(r)}: best layer on validation ${r.best.layer}, ${pct(r.best.test)}% on test`),
    '',
  ].join('\n');
}

const COLOURS = ['#3794ff', '#e5534b', '#57ab5a', '#c69026', '#986ee2', '#39c5cf'];

function probeSvg(runs: readonly ProbeRun[]): string {
  const W = 560,
    H = 220,
    P = 40;
  const layers = Math.max(...runs.map((r) => r.layers.length));
  const ys = runs.flatMap((r) => r.layers.map((l) => l.test)).concat(runs[0]!.majority);
  const y0 = Math.max(0, Math.floor(Math.min(...ys) * 10) / 10);
  const y1 = Math.min(1, Math.ceil(Math.max(...ys) * 10) / 10);
  const X = (l: number) => P + (l / Math.max(1, layers - 1)) * (W - 2 * P);
  const Y = (y: number) => H - P - ((y - y0) / (y1 - y0 || 1)) * (H - 2 * P);
  const lines = runs
    .map(
      (r, i) =>
        `<path d="${r.layers.map((l, k) => `${k ? 'L' : 'M'}${X(l.layer).toFixed(1)},${Y(l.test).toFixed(1)}`).join(' ')}" \
fill="none" stroke="${COLOURS[i % COLOURS.length]}" stroke-width="2"><title>${esc(runLabel(r))}</title></path>`,
    )
    .join('');
  const chance = `<line x1="${P}" y1="${Y(runs[0]!.majority).toFixed(1)}" x2="${W - P}" y2="${Y(runs[0]!.majority).toFixed(1)}" stroke="currentColor" stroke-opacity="0.35" stroke-dasharray="4 3"/>`;
  const ticks = Array.from(
    { length: layers },
    (_, l) => `<text x="${X(l).toFixed(1)}" y="${H - P + 14}" font-size="11" fill="currentColor" text-anchor="middle">${l}</text>`,
  ).join('');
  const legend = runs.map((r, i) => `<tspan fill="${COLOURS[i % COLOURS.length]}">■</tspan> ${esc(runLabel(r))}`).join('   ');
  const label = escAttr(`test accuracy per layer: ${runs[0]!.task}`);
  return `<figure><svg width="${W}" height="${H + 20}" viewBox="0 0 ${W} ${H + 20}" style="max-width: 100%; height: auto" role="img" aria-label="${label}">
<line x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}" stroke="currentColor" stroke-opacity="0.4"/><line x1="${P}" y1="${P}" x2="${P}" y2="${H - P}" stroke="currentColor" stroke-opacity="0.4"/>
${chance}${lines}${ticks}
<text x="${P - 6}" y="${Y(y1) + 4}" font-size="11" fill="currentColor" text-anchor="end">${pct(y1)}</text><text \
x="${P - 6}" y="${Y(y0) + 4}" font-size="11" fill="currentColor" text-anchor="end">${pct(y0)}</text>
<text x="${W / 2}" y="${H - P + 28}" font-size="11" fill="currentColor" text-anchor="middle">layer</text>
<text x="${P}" y="${H + 14}" font-size="11" fill="currentColor">${legend}</text></svg>
<figcaption>Test accuracy (%) per layer; dashed: the most frequent label's share.</figcaption></figure>`;
}

/** The study's probing tasks in plain words: a title, and the question each asks. */
const TASK_WORDS: Record<string, [string, string]> = {
  ccm: ['does the message belong to the change?', 'whether a commit message belongs to the change beside it'],
  ltp: ['added or removed line?', 'whether a line was added or removed, with its mark hidden'],
};
/** The study's tasks ("ccm", "CCM of REPO") by their question; any other task by its name. */
const taskKey = (task: string) => /^(ccm|ltp)\b/i.exec(task)?.[1]?.toLowerCase() ?? '';
const question = (task: string) => TASK_WORDS[taskKey(task)]?.[1] ?? 'a question about the changes, answered from what each layer holds';
const taskTitle = (task: string) => {
  const words = TASK_WORDS[taskKey(task)]?.[0];
  const of = / of (.+)$/.exec(task)?.[1];
  return words ? `${words}${of ? ` (${of})` : ''}` : task;
};

/** A table cell; `**text**` (the best layer) in bold. */
const cell = (c: string) => (c.startsWith('**') ? `<td><strong>${esc(c.slice(2, -2))}</strong></td>` : `<td>${esc(c)}</td>`);

export function probeHtml(groups: ReadonlyArray<readonly ProbeRun[]>, cspSource = ''): string {
  const section = (runs: readonly ProbeRun[]) => {
    const t = accuracyTable(runs);
    return `<h2>${esc(taskTitle(runs[0]!.task))}</h2>
<p>${esc(question(runs[0]!.task))}; the higher the line, the more the layer knows. \
Dashed: what guessing the most frequent answer gets.</p>
${probeSvg(runs)}
<details><summary>How this is measured</summary>
<p>The task: ${esc(runs[0]!.task)}${taskKey(runs[0]!.task) ? ` (${taskKey(runs[0]!.task).toUpperCase()} in the study)` : ''}.</p>
${summary(runs)
  .map((s) => `<p>${esc(s)}</p>`)
  .join('\n')}
</details>
<table><tr>${t.head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>${t.rows.map((row) => `<tr>${row.map(cell).join('')}</tr>`).join('')}</table>
<ul>${runs.map((r) => `<li>${esc(runLabel(r))}: best layer on validation ${r.best.layer}, ${pct(r.best.test)}% on test</li>`).join('')}</ul>`;
  };
  const titles = groups.map((g) => taskTitle(g[0]!.task)).join(', ');
  return `${htmlHead(`Changeling: probing report (${titles})`, cspSource)}
<h1>What the model knows about your changes</h1>
${groups.map(section).join('\n')}
</body></html>`;
}

/** Writes probe.json, probe.md and probe.html into `dir` (each atomically); returns their paths. */
export async function writeProbeReport(
  dir: string,
  groups: ReadonlyArray<readonly ProbeRun[]>,
  o: { owned?: boolean } = {},
): Promise<string[]> {
  const files = {
    'probe.json': JSON.stringify(groups, null, 1) + '\n',
    // Labels and paths from files and folders cannot reach a reader's terminal or page raw.
    'probe.md': terminalSafe(probeMarkdown(groups)),
    'probe.html': terminalSafe(probeHtml(groups)),
  };
  const dest = await writeOutputFolder(
    dir,
    async (tmp) => {
      for (const [name, text] of Object.entries(files)) await writeBytesAtomic(join(tmp, name), Buffer.from(text));
    },
    { what: 'the report', ...o },
  );
  return Object.keys(files).map((n) => join(dest, n));
}
