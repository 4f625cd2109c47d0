import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reportHtml } from '../../src/tasks/finetune/report.js';
import { probeHtml } from '../../src/tasks/probe/report.js';
import type { FinetuneResult } from '../../src/tasks/finetune/types.js';
import type { ProbeRun } from '../../src/tasks/probe/probe.js';

/**
 * The words a user should not meet unexplained in VS Code (issue: "the first five minutes"): research names
 * of metrics and tasks, tokenizer internals, and command-line commands (VS Code users have commands and
 * buttons instead). Scanned: every string in src/ui, the manifest's titles, descriptions and walkthrough,
 * and the reports' pages outside their "details" sections (where each metric is explained).
 */
const BANNED: Array<[RegExp, string]> = [
  [/B-Norm/, 'B-Norm'],
  [/\bBLEU\b/, 'BLEU'],
  [/\bcosine\b/i, 'cosine'],
  [/\bPopt\b/, 'Popt'],
  [/\bCCM\b/, 'CCM'],
  [/\bLTP\b/, 'LTP'],
  [/log-odds/i, 'log-odds'],
  [/\[CLS\]/, '[CLS]'],
  [/<unk>/, '<unk>'],
  [/JITLine/, 'JITLine'],
  [
    /\bchangeling (suggest|risk|risk-train|finetune|train|download|hook|input|show|mine|eval|probe|label|export|features|inspect|doctor|demo|overview)\b/,
    'a changeling command',
  ],
];

function offences(where: string, text: string): string[] {
  return BANNED.filter(([re]) => re.test(text)).map(([, w]) => `${where}: "${w}" in ${JSON.stringify(text.slice(0, 160))}`);
}

/** The string literals of a TypeScript file's code (comments dropped). */
function literals(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  // A template's text without its \${...} expressions (code, not words a user reads).
  return [...code.matchAll(/'((?:[^'\\\n]|\\.)*)'|"((?:[^"\\\n]|\\.)*)"|`((?:[^`\\]|\\.)*)`/g)].map(
    (m) => m[1] ?? m[2] ?? (m[3] ?? '').replace(/\$\{[^}]*\}/g, ' '),
  );
}

/** A report page as a reader sees it before opening any "details": tags and the details sections taken out. */
const visible = (html: string) =>
  html
    .replace(/<details>[\s\S]*?<\/details>/g, '')
    .replace(/<style>[\s\S]*?<\/style>/g, '')
    .replace(/<[^>]+>/g, ' ');

test('plain words: no UI string of src/ui names a research metric, a tokenizer internal or a command-line command', () => {
  const found: string[] = [];
  for (const name of readdirSync('src/ui')) {
    const path = join('src/ui', name);
    for (const s of literals(readFileSync(path, 'utf8'))) found.push(...offences(path, s));
  }
  // The extension, and the suggestion details the QuickPick shows.
  for (const path of ['src/extension.ts', 'src/tasks/cmg/suggest.ts'])
    for (const s of literals(readFileSync(path, 'utf8'))) found.push(...offences(path, s));
  assert.deepEqual(found, []);
});

test("plain words: the manifest's commands, settings and walkthrough, and the model catalogue's lines", () => {
  const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
  const found: string[] = [];
  const walk = (where: string, v: unknown): void => {
    if (typeof v === 'string') found.push(...offences(where, v));
    else if (Array.isArray(v)) v.forEach((x, i) => walk(`${where}[${i}]`, x));
    else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(`${where}.${k}`, x);
  };
  walk('contributes', pkg.contributes);
  walk('description', pkg.description);
  // The model catalogue: what the picker shows of each model is its plain line, never the technical description.
  const manifest = JSON.parse(readFileSync('models/manifest.json', 'utf8')) as { models: Array<{ id: string; plain: string }> };
  for (const m of manifest.models) found.push(...offences(`models/manifest.json ${m.id}.plain`, m.plain));
  assert.doesNotMatch(readFileSync('src/ui/models.ts', 'utf8'), /\.description\b/, 'the picker shows m.plain');
  // The walkthrough's pages.
  for (const name of readdirSync('media/walkthrough')) {
    const text = readFileSync(join('media/walkthrough', name), 'utf8');
    found.push(...offences(`media/walkthrough/${name}`, text));
  }
  assert.deepEqual(found, []);
});

test("plain words: the reports' pages say what their figures mean, and keep the study's names in their details", () => {
  const cmg = { bnormBleu: 12.3, rougeL: 20, meteor: 15, editSim: 40, chrF: 30, exactMatch1: 20, exactMatch2: 10 };
  const jitdp = { f1: 0.4, aucRoc: 0.8, recallAt20Effort: 0.5, effortAt20Recall: 0.1, popt: 0.7 };
  const base = {
    method: 'lora',
    model: 'm',
    repo: '/r',
    head: 'a'.repeat(40),
    out: '/o',
    commits: { train: 8, validation: 1, test: 1 },
    steps: 2,
    trainSeconds: 1,
    seconds: 2,
    trainableParameters: 10,
    losses: [
      { step: 1, loss: 1 },
      { step: 2, loss: 0.5 },
    ],
    adoptedRecord: null,
    examples: [],
    adopted: false,
    adoptReason:
      "the tuned model does not beat the untuned one on validation B-Norm BLEU (0.00 against 0.00; the improvement's 95% lower bound (paired bootstrap) is -0.00)",
  };
  for (const [task, m] of [
    ['cmg', cmg],
    ['jitdp', jitdp],
  ] as const) {
    const html = reportHtml({
      ...base,
      task,
      validation: { untuned: m, tuned: m },
      test: { untuned: m, tuned: m },
    } as unknown as FinetuneResult);
    assert.deepEqual(offences(`fine-tuning report (${task})`, visible(html)), []);
    assert.match(html, /<details>/, 'the full metrics are behind a details toggle');
    assert.match(visible(html), task === 'cmg' ? /how much of the message you would not need to change/ : /0\.5 is chance/);
    assert.match(visible(html), /Not adopted\s*: checked on commits held back from training, it does not clearly/);
  }
  const run = (task: string): ProbeRun => ({
    task,
    model: '/m/codet5',
    adapter: null,
    input: 'study',
    seqLength: 64,
    labels: ['0', '1'],
    counts: { train: 8, validation: 2, test: 2 },
    majority: 0.5,
    layers: [0, 1, 2].map((layer) => ({ layer, test: 0.5 + layer / 10, validation: 0.5 }) as unknown as ProbeRun['layers'][number]),
    best: { layer: 2, test: 0.7 },
  });
  const probe = probeHtml([[run('ccm')], [run('LTP of simple-git')]]);
  assert.deepEqual(offences('probing report', visible(probe)), []);
  assert.match(probe, /<svg[^>]*style="max-width: ?100%/, 'the charts fit their column');
});
