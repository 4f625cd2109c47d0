import { parseArgs } from 'node:util';
import { jitdpMetrics, type Scored } from '../eval/jitdpMetrics.js';
import { cmgMetrics } from '../eval/cmgMetrics.js';
import { ChangelingError } from '../util/errors.js';
import { printJson, writeOut } from './io.js';
import { readTextFile } from '../util/jsonFile.js';

/** `changeling eval`: its options, its help text (EVAL_HELP) and what it prints. */

export const EVAL_HELP = `changeling eval jitdp --pred FILE [--threshold 0.5] [--json] | eval cmg --pred FILE --gold FILE [--json]

  cmg: commit-message metrics of predictions against references, one message per line (line i of --pred
  against line i of --gold): B-Norm BLEU (CodeXGLUE smooth_bleu), ROUGE-L (beta 1.2) and METEOR (exact and
  Porter2 stem modules; no synonyms), each the mean over lines x 100.

  jitdp:
  just-in-time defect prediction metrics of a prediction file: F1, precision and recall of the buggy class
  at the threshold, AUC-ROC, Recall@20%Effort, Effort@20%Recall and Popt (effort = lines added + deleted;
  inspection in order of predicted defect density). FILE: one prediction per line, either JSON
  {"prob": 0.83, "label": 1, "effort": 42} or "prob label [effort]" separated by spaces, tabs or commas.`;

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

export async function evalCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      pred: { type: 'string' },
      gold: { type: 'string' },
      threshold: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  if (positionals[0] !== 'jitdp' && positionals[0] !== 'cmg')
    throw new ChangelingError(
      'usage',
      'eval needs a task: "changeling eval jitdp --pred FILE" or "changeling eval cmg --pred FILE --gold FILE"',
    );
  if (!values.pred) throw new ChangelingError('usage', `eval ${positionals[0]} needs --pred FILE`);
  const read = (path: string) => readTextFile(path);
  const text = await read(values.pred);
  if (positionals[0] === 'cmg') {
    if (!values.gold) throw new ChangelingError('usage', 'eval cmg needs --gold FILE (the reference messages, one per line)');
    const lines = (t: string) => t.replace(/\r?\n$/, '').split(/\r?\n/);
    const pred = lines(text);
    const gold = lines(await read(values.gold));
    if (pred.length !== gold.length)
      throw new ChangelingError(
        'usage',
        `${values.pred} has ${pred.length} lines but ${values.gold} has ${gold.length}: one prediction per reference`,
      );
    const m = cmgMetrics(pred, gold);
    if (values.json) await printJson(m);
    else
      await writeOut(
        `messages   ${m.n}\nB-Norm     ${m.bnormBleu.toFixed(2)}\nROUGE-L    ${m.rougeL.toFixed(2)}\nMETEOR     ${m.meteor.toFixed(2)}\n`,
      );
    return 0;
  }
  const m = jitdpMetrics(parsePredictions(text, values.pred), values.threshold ? Number(values.threshold) : 0.5);
  if (values.json) await printJson(m);
  else
    await writeOut(
      Object.entries(m)
        .map(([k, v]) => `${k.padEnd(17)} ${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(4) : v}`)
        .join('\n') + '\n',
    );
  return 0;
}
