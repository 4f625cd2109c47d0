import { parseArgs } from 'node:util';
import { sortingDemo } from '../train/demo/sorting.js';
import { ChangelingError } from '../util/errors.js';
import { interruptSignal, parseCount, printJson, writeOut, writeErr } from './io.js';

/** `changeling demo`: its options, its help text (DEMO_HELP) and what it prints. */

export const DEMO_HELP = `changeling demo sorting [--quick] [--seed N] [--json]

  Pretrains a small encoder-decoder transformer to sort digit sequences (full training, until 99% exact
  match on held-out sequences), freezes it, and adapts it to sort descending (reuses its attention
  pattern) and to reverse (needs a new one) with full fine-tuning, LoRA, a bottleneck adapter and
  prefix-tuning. Prints method, task, trainable parameters, steps, seconds and exact match.

  --quick   the small form (6 digits, d_model 64, 300 adaptation steps): about a minute on 2 cores
  --seed N  random seed (default 1)
  --json    print JSON`;

export async function demoCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean', default: false }, json: { type: 'boolean', default: false }, seed: { type: 'string' } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals[0] !== 'sorting') throw new ChangelingError('usage', 'the demo is "changeling demo sorting"');
  const result = await sortingDemo({
    quick: values.quick,
    seed: parseCount('seed', values.seed),
    signal: interruptSignal(),
    onLog: values.json ? undefined : (l) => writeErr(l + '\n'),
  });
  if (values.json) {
    await printJson(result);
    return 0;
  }
  const lines = [
    '',
    '| method | task | trainable parameters | steps | seconds | exact match | steps to 90% |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of result.rows)
    lines.push(
      `| ${r.method} | ${r.task} | ${r.trainableParameters.toLocaleString('en')} | ${r.steps} | ${r.seconds.toFixed(1)} | ${(100 * r.exactMatch).toFixed(1)}% | ${r.stepsTo90 ?? 'not reached'} |`,
    );
  await writeOut(lines.join('\n') + '\n');
  return 0;
}
