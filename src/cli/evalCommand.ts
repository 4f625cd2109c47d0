import { parseArgs } from 'node:util';
import { jitdpMetrics, type Scored } from '../eval/jitdpMetrics.js';
import { cmgMetrics, type CmgMetrics } from '../eval/cmgMetrics.js';
import { lineMetrics, parseScoredLines } from '../eval/lineMetrics.js';
import { parseOption } from '../util/numbers.js';
import { ChangelingError } from '../util/errors.js';
import { printJson, writeOut } from './io.js';
import { readTextFile } from '../util/jsonFile.js';

/** `changeling eval`: its options, its help text (EVAL_HELP) and what it prints. */

export const EVAL_HELP = `changeling eval jitdp [--pred FILE] [--lines FILE] [--threshold 0.5] [--json] | eval cmg --pred FILE --gold FILE [--json]

  cmg: commit-message metrics of predictions against references, one message per line (line i of --pred
  against line i of --gold), or JSON Lines {"pred", "gold"} in --pred alone (multi-line messages): B-Norm
  BLEU (CodeXGLUE smooth_bleu), ROUGE-L (beta 1.2) and METEOR (exact and Porter2 stem modules; no
  synonyms), each the mean over messages x 100; EditSim, ExactMatch@1 and @2 (CommitChronicle's, on stripped
  messages, empty references left out) and ChrF (sacrebleu's corpus chrF), x 100; with multi-line messages,
  the same on the subjects alone.

  jitdp:
  just-in-time defect prediction metrics of a prediction file: F1, precision and recall of the buggy class
  at the threshold, AUC-ROC, Recall@20%Effort, Effort@20%Recall and Popt (effort = lines added + deleted;
  inspection in order of predicted defect density). FILE: one prediction per line, either JSON
  {"prob": 0.83, "label": 1, "effort": 42} or "prob label [effort]" separated by spaces, tabs or commas.
  --lines FILE: line-level localisation of scored changed lines, JSON Lines {"commit", "path", "line",
  "score", "label"} ("changeling label --lines" writes the labels): per buggy commit, its lines ranked by
  score, then averaged: Top-5 and Top-10 accuracy (share of defective lines among the 5 or 10 highest),
  IFA (clean lines ranked above the first defective one), Recall@20%Effort and Effort@20%Recall at line
  level, as JITLine, JIT-Fine and JIT-Smart define them.`;

export function parsePredictions(text: string, where: string): Scored[] {
  const out: Scored[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    let prob: number, label: number, effort: number;
    if (line.startsWith('{')) {
      let o: Record<string, unknown>;
      try {
        o = JSON.parse(line);
      } catch {
        throw new ChangelingError('usage', `${where}:${i + 1}: not valid JSON`);
      }
      [prob, label, effort] = [Number(o.prob), Number(o.label), o.effort === undefined ? 1 : Number(o.effort)];
    } else {
      const f = line.split(/[\s,]+/).map(Number);
      if (f.length < 2) throw new ChangelingError('usage', `${where}:${i + 1}: expected "prob label [effort]"`);
      [prob, label, effort] = [f[0]!, f[1]!, f[2] ?? 1];
    }
    if (!(prob >= 0 && prob <= 1)) throw new ChangelingError('usage', `${where}:${i + 1}: probability ${prob} is not in [0, 1]`);
    if (label !== 0 && label !== 1) throw new ChangelingError('usage', `${where}:${i + 1}: label must be 0 or 1`);
    if (!(effort >= 0)) throw new ChangelingError('usage', `${where}:${i + 1}: effort must be a non-negative number`);
    out.push({ prob, label: label as 0 | 1, effort });
  }
  if (out.length === 0) throw new ChangelingError('usage', `${where} has no predictions`);
  return out;
}

/** JSON Lines {"pred": "...", "gold": "..."}: multi-line messages (subject and body), one pair per line. */
export function parsePairs(text: string, where: string): { pred: string[]; gold: string[] } {
  const pred: string[] = [];
  const gold: string[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    if (!raw.trim()) continue;
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(raw);
    } catch {
      throw new ChangelingError('usage', `${where}:${i + 1}: not valid JSON (one {"pred", "gold"} per line)`);
    }
    if (typeof o?.pred !== 'string' || typeof o.gold !== 'string')
      throw new ChangelingError('usage', `${where}:${i + 1}: "pred" and "gold" must be strings`);
    pred.push(o.pred);
    gold.push(o.gold);
  }
  if (!pred.length) throw new ChangelingError('usage', `${where} has no pairs`);
  return { pred, gold };
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      pred: { type: 'string' },
      gold: { type: 'string' },
      threshold: { type: 'string' },
      lines: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals[0] !== 'jitdp' && positionals[0] !== 'cmg')
    throw new ChangelingError(
      'usage',
      'eval needs a task: "changeling eval jitdp --pred FILE" or "changeling eval cmg --pred FILE --gold FILE"',
    );
  const read = (path: string) => readTextFile(path);
  if (positionals[0] === 'jitdp' && values.lines) return evalJitdp(values.pred, values.lines, values.threshold, values.json);
  if (!values.pred) throw new ChangelingError('usage', `eval ${positionals[0]} needs --pred FILE`);
  const text = await read(values.pred);
  if (positionals[0] === 'cmg') {
    let pred: string[];
    let gold: string[];
    if (!values.gold && /^\s*\{/.test(text)) ({ pred, gold } = parsePairs(text, values.pred));
    else {
      if (!values.gold)
        throw new ChangelingError(
          'usage',
          'eval cmg needs --gold FILE (the reference messages, one per line), or JSON Lines {"pred", "gold"} in --pred',
        );
      const lines = (t: string) => t.replace(/\r?\n$/, '').split(/\r?\n/);
      pred = lines(text);
      gold = lines(await read(values.gold));
      if (pred.length !== gold.length)
        throw new ChangelingError(
          'usage',
          `${values.pred} has ${pred.length} lines but ${values.gold} has ${gold.length}: one prediction per reference`,
        );
    }
    const m = cmgMetrics(pred, gold);
    if (values.json) await printJson(m);
    else {
      const rows = (x: Omit<CmgMetrics, 'subject'>, what: string) =>
        [
          ['B-Norm', x.bnormBleu],
          ['ROUGE-L', x.rougeL],
          ['METEOR', x.meteor],
          ['EditSim', x.editSim],
          ['ChrF', x.chrF],
          ['ExactMatch@1', x.exactMatch1],
          ['ExactMatch@2', x.exactMatch2],
        ].map(([k, v]) => `${`${what}${k}`.padEnd(22)} ${(v as number).toFixed(2)}`);
      await writeOut(
        [`messages               ${m.n}`, ...rows(m, ''), ...(m.subject ? rows(m.subject, 'subject ') : [])].join('\n') + '\n',
      );
    }
    return 0;
  }
  return evalJitdp(values.pred, undefined, values.threshold, values.json);
}

/** Commit-level metrics of --pred, line-level ones of --lines, or both (under "commits" and "lines" in JSON). */
async function evalJitdp(
  pred: string | undefined,
  lines: string | undefined,
  threshold: string | undefined,
  json: boolean,
): Promise<number> {
  const commits = pred
    ? jitdpMetrics(parsePredictions(await readTextFile(pred), pred), parseOption('threshold', threshold, { min: 0, max: 1 }) ?? 0.5)
    : null;
  const located = lines ? lineMetrics(parseScoredLines(await readTextFile(lines), lines)) : null;
  if (json) await printJson(commits && located ? { commits, lines: located } : (commits ?? located));
  else
    await writeOut(
      [...Object.entries(commits ?? {}), ...Object.entries(located ?? {}).map(([k, v]) => [`line ${k}`, v] as const)]
        .map(([k, v]) => `${k.padEnd(20)} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : v}`)
        .join('\n') + '\n',
    );
  return 0;
}
