import { join } from 'node:path';
import type { CmgMetrics } from '../../eval/cmgMetrics.js';
import type { JitdpMetrics } from '../../eval/jitdpMetrics.js';
import { writeBytesAtomic } from '../../util/atomicFile.js';
import { writeOutputFolder } from '../../util/outputTarget.js';
import { terminalSafe } from '../../util/text.js';
import { esc, escAttr, htmlHead, htmlTable, mdTable } from '../../util/reportText.js';
import type { FinetuneResult } from './types.js';

/**
 * The fine-tuning report: `report.json` (everything), `report.md` (the metrics tables, the curves as
 * numbers, examples) and `report.html` (the same with the loss and validation curves drawn as SVG, for a
 * browser or VS Code's webview; no scripts, so it renders under a strict content-security policy).
 */
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '-');
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : '-');

function metricRows(r: FinetuneResult, split: 'validation' | 'test'): { head: string[]; rows: string[][] } {
  const m = r[split];
  if (r.task === 'cmg') {
    // A code LLM's run: B-Norm of the subjects (what adoption compares) and the share of faithful messages.
    const llm = Object.values(m).some((v) => (v as CmgMetrics).faithful !== undefined);
    return {
      head: [
        'model',
        ...(llm ? ['B-Norm BLEU (subject)', 'Faithful (%)'] : []),
        'B-Norm BLEU',
        'ROUGE-L',
        'METEOR',
        'EditSim',
        'ChrF',
        'ExactMatch@1',
        'ExactMatch@2',
      ],
      rows: Object.entries(m).map(([k, v]) => {
        const c = v as CmgMetrics;
        // Reports written before EditSim and ChrF existed show "-" there.
        return [
          k,
          ...(llm ? [f2(c.subject?.bnormBleu ?? c.bnormBleu), f2(c.faithful ?? NaN)] : []),
          f2(c.bnormBleu),
          f2(c.rougeL),
          f2(c.meteor),
          f2(c.editSim ?? NaN),
          f2(c.chrF ?? NaN),
          f2(c.exactMatch1 ?? NaN),
          f2(c.exactMatch2 ?? NaN),
        ];
      }),
    };
  }
  return {
    head: ['model', 'F1', 'AUC-ROC', 'Recall@20%Effort', 'Effort@20%Recall', 'Popt'],
    rows: Object.entries(m).map(([k, v]) => {
      const j = v as JitdpMetrics;
      return [k, f3(j.f1), f3(j.aucRoc), f3(j.recallAt20Effort), f3(j.effortAt20Recall), f3(j.popt)];
    }),
  };
}

/** What each metric of the full tables means, in a line (shown beside them, in the report's details). */
const CMG_METRICS: Array<[string, string]> = [
  ['EditSim', 'how much of the message you would not need to change (the similarity of the two texts, %)'],
  ['ChrF', 'how many of the real message’s character sequences it has (%)'],
  ['ExactMatch@1 / @2', 'how often its first word (two words) are the real message’s (%)'],
  ['B-Norm BLEU', 'the word sequences it shares with the real message, as the commit-message literature computes it'],
  ['Faithful', 'a code LLM’s messages that name only files and identifiers the change or the tree has (%)'],
  ['ROUGE-L', 'the longest run of words in the same order as in the real message (%)'],
  ['METEOR', 'words matched with stems and synonyms, the real message’s order counted (%)'],
];
const JITDP_METRICS: Array<[string, string]> = [
  ['AUC-ROC', 'how well it ranks the commits that later needed a fix above the others (0.5 is chance, 1 is perfect)'],
  ['F1', 'the balance of catching the commits that needed a fix and not flagging the others (0 to 1)'],
  ['Recall@20%Effort', 'the share of those commits found by reviewing the riskiest 20% of changed lines'],
  ['Effort@20%Recall', 'the share of changed lines to review before finding 20% of those commits (lower is better)'],
  ['Popt', 'how close the ranking by risk per line comes to the best possible one (0 to 1)'],
];

/** The figures a reader needs first, in plain words: the test split's headline metric for each model. */
function plainRows(r: FinetuneResult): { head: string[]; rows: string[][] } {
  if (r.task === 'cmg')
    return {
      head: ['model', 'how much of the message you would not need to change (EditSim, %)', 'first word right (%)'],
      rows: Object.entries(r.test).map(([k, v]) => [k, f2((v as CmgMetrics).editSim ?? NaN), f2((v as CmgMetrics).exactMatch1 ?? NaN)]),
    };
  return {
    head: ['model', 'ranks the commits that needed a fix first (AUC: 0.5 is chance, 1 is perfect)', 'F1 (0 to 1)'],
    rows: Object.entries(r.test).map(([k, v]) => [k, f3((v as JitdpMetrics).aucRoc), f3((v as JitdpMetrics).f1)]),
  };
}

/**
 * The adoption decision in plain words, from what it rests on (`adoptBasis`; the study's terms, with the
 * figures, stay in `adoptReason`, which the report keeps behind "details"): whether the tuned model is in use
 * and why, in a line. A report written before the basis was recorded gets the comparison's words.
 */
export function plainVerdict(r: Pick<FinetuneResult, 'adopted' | 'adoptBasis' | 'task'>): string {
  const checked = 'checked on commits held back from training, it';
  const what = r.task === 'cmg' ? 'write messages closer to the real ones' : 'rank the commits that later needed a fix higher';
  switch (r.adoptBasis ?? (r.adopted ? 'better' : 'not-better')) {
    case 'asked-always':
      return 'you asked for it to be used whatever the result';
    case 'asked-never':
      return 'you asked for it not to be used';
    case 'broken':
      return 'the tuned model is broken (its outputs are empty or not numbers), so what you had stays';
    case 'too-few':
      return 'there are too few commits of each kind to check it on, so what you had stays';
    case 'better':
      return r.task === 'cmg'
        ? `${checked} writes messages closer to the real ones than what you had`
        : `${checked} ranks the commits that later needed a fix higher than what you had`;
    case 'not-better':
      return `${checked} does not clearly ${what} than what you had, which stays in use`;
  }
}

/** An example's cell: its first line, at most 80 characters (the full text stays in report.json, and on hover in HTML). */
const EXAMPLE_WIDTH = 80;
function exampleCell(x: unknown): { short: string; full: string } {
  const full = typeof x === 'number' ? f3(x) : String(x ?? '');
  const first = full.split('\n')[0]!.trim();
  const short = first.length > EXAMPLE_WIDTH ? `${first.slice(0, EXAMPLE_WIDTH - 1)}…` : first !== full.trim() ? `${first} …` : first;
  return { short, full };
}

/** The user's edits of suggestions in a line: how far the suggestions were from what was committed, before and after tuning. */
function editsLine(e: NonNullable<FinetuneResult['edits']>): string {
  return (
    `Your edits: ${e.pairs} suggested message${e.pairs === 1 ? '' : 's'} paired with what you committed (learnt from, twice the weight ` +
    `of an older commit). How much of the message you kept (EditSim): ${f2(e.before)}% of the suggestions you were given; ` +
    `${f2(e.after)}% of the tuned model's for the same commits.`
  );
}

/** Every k-th point so that a curve keeps at most `n` points. */
const thin = <T>(xs: T[], n = 40) => (xs.length <= n ? xs : xs.filter((_, i) => i % Math.ceil(xs.length / n) === 0 || i === xs.length - 1));

export function reportMarkdown(r: FinetuneResult): string {
  const v = metricRows(r, 'validation');
  const t = metricRows(r, 'test');
  const ex = r.examples.map((e) => Object.values(e).map((x) => exampleCell(x).short));
  return [
    `# Fine-tuning report: ${r.task === 'cmg' ? 'commit messages' : 'risk'} (${r.method}) on ${r.repo}`,
    '',
    `HEAD ${r.head?.slice(0, 12) ?? '-'}; model ${r.model ?? '-'}; ${r.commits.train} training, ${r.commits.validation} \
validation, ${r.commits.test} test commits (time-ordered); ${r.steps} steps, ${r.trainableParameters.toLocaleString('en')} \
trainable parameters; training ${r.trainSeconds.toFixed(0)} s, all ${r.seconds.toFixed(0)} s.`,
    '',
    `**${r.adopted ? 'Adopted' : 'Not adopted'}**: ${r.adoptReason}. Saved to \`${r.out}\`.`,
    '',
    ...(r.edits ? [editsLine(r.edits), ''] : []),
    '## Validation',
    '',
    mdTable(v.head, v.rows),
    '',
    '## Test (the newest commits)',
    '',
    mdTable(t.head, t.rows),
    '',
    '## Training loss',
    '',
    mdTable(
      ['step', 'loss'],
      thin(r.losses, 20).map((p) => [String(p.step), f3(p.loss)]),
    ),
    '',
    ...(r.validationCurve?.length
      ? [
          '## Validation AUC during training',
          '',
          mdTable(
            ['step', 'AUC'],
            r.validationCurve.map((p) => [String(p.step), f3(p.metric)]),
          ),
          '',
        ]
      : []),
    `## Examples (${r.task === 'cmg' ? 'generated and real messages of test commits' : 'the test commits the tuned model finds riskiest'})`,
    '',
    ex.length ? mdTable(Object.keys(r.examples[0]!), ex) : 'none',
    '',
  ].join('\n');
}

function svgCurve(points: Array<{ step: number; y: number }>, label: string): string {
  if (points.length < 2) return '';
  const W = 560,
    H = 180,
    P = 36;
  const xs = points.map((p) => p.step);
  const ys = points.map((p) => p.y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const X = (x: number) => P + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * P);
  const Y = (y: number) => H - P + (-(y - y0) / (y1 - y0 || 1)) * (H - 2 * P);
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${X(p.step).toFixed(1)},${Y(p.y).toFixed(1)}`).join(' ');
  return `<figure><svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" style="max-width: 100%; height: auto" role="img" aria-label="${esc(label)}">
<line x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}" stroke="currentColor" stroke-opacity="0.4"/><line x1="${P}" y1="${P}" x2="${P}" y2="${H - P}" stroke="currentColor" stroke-opacity="0.4"/>
<path d="${path}" fill="none" stroke="#3794ff" stroke-width="2"/>
<text x="${P}" y="${P - 8}" font-size="11" fill="currentColor">${f3(y1)}</text><text x="${P}" y="${H - P + 14}" font-size="11" fill="currentColor">${f3(y0)} · step ${x0}</text>
<text x="${W - P}" y="${H - P + 14}" font-size="11" fill="currentColor" text-anchor="end">step ${x1}</text></svg><figcaption>${esc(label)}</figcaption></figure>`;
}

export function reportHtml(r: FinetuneResult, cspSource = ''): string {
  const table = (x: { head: string[]; rows: string[][] }) => htmlTable(x.head, x.rows);
  const cell = (x: unknown) => {
    const c = exampleCell(x);
    return `<td${c.short !== c.full ? ` title="${escAttr(c.full)}"` : ''}>${esc(c.short)}</td>`;
  };
  const ex = r.examples.length
    ? `<table><tr>${Object.keys(r.examples[0]!)
        .map((h) => `<th>${esc(h)}</th>`)
        .join('')}</tr>${r.examples.map((e) => `<tr>${Object.values(e).map(cell).join('')}</tr>`).join('')}</table>`
    : '<p>none</p>';
  return `${htmlHead('Changeling: fine-tuning report', cspSource)}
<h1>Fine-tuning report: ${r.task === 'cmg' ? 'commit messages' : 'risk'} (${esc(r.method)})</h1>
<p>${esc(r.repo)} at ${esc(r.head?.slice(0, 12) ?? '-')}; ${r.commits.train} training, ${r.commits.validation} \
validation, ${r.commits.test} test commits; ${r.steps} steps in ${r.trainSeconds.toFixed(0)} s.</p>
<p><strong>${r.adopted ? 'Adopted' : 'Not adopted'}</strong>: ${esc(plainVerdict(r))}.</p>${r.edits ? `<p>${esc(editsLine(r.edits))}</p>` : ''}
<details><summary>The decision, with its figures</summary><p>${esc(r.adoptReason)}.</p></details>
<h2>On the newest commits (held out)</h2>${table(plainRows(r))}
<details><summary>Every metric, as the study reports them</summary>
<ul>${(r.task === 'cmg' ? CMG_METRICS : JITDP_METRICS).map(([n, what]) => `<li><strong>${esc(n)}</strong>: ${esc(what)}</li>`).join('')}</ul>
<h3>Validation</h3>${table(metricRows(r, 'validation'))}
<h3>Test</h3>${table(metricRows(r, 'test'))}
</details>
<h2>Curves</h2>${svgCurve(
    r.losses.map((p) => ({ step: p.step, y: p.loss })),
    'training loss',
  )}${svgCurve(
    (r.validationCurve ?? []).map((p) => ({ step: p.step, y: p.metric })),
    'validation AUC',
  )}
<h2>Examples</h2>${ex}
</body></html>`;
}

/** Writes report.json, report.md, report.html and losses.csv as a folder output; returns the three reports' paths. */
export async function writeReport(dir: string, r: FinetuneResult, o: { owned?: boolean } = {}): Promise<string[]> {
  const files = {
    'report.json': JSON.stringify(r, null, 1) + '\n',
    // Names and messages from the repository cannot reach a reader's terminal or page raw.
    'report.md': terminalSafe(reportMarkdown(r)),
    'report.html': terminalSafe(reportHtml(r)),
    'losses.csv': 'step,loss\n' + r.losses.map((p) => `${p.step},${p.loss}`).join('\n') + '\n',
  };
  const dest = await writeOutputFolder(
    dir,
    async (tmp) => {
      for (const [name, text] of Object.entries(files)) await writeBytesAtomic(join(tmp, name), Buffer.from(text));
    },
    { what: 'the report', ...o },
  );
  return ['report.json', 'report.md', 'report.html'].map((n) => join(dest, n));
}
