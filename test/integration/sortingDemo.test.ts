import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sortingDemo } from '../../src/train/demo/sorting.js';

test(
  'demo sorting --quick: pretraining reaches 99%, every method adapts, prefix-tuning falls furthest behind where a new attention pattern is needed',
  { timeout: 300_000 },
  async () => {
    const { rows } = await sortingDemo({ quick: true, seed: 1 });
    const row = (method: string, task: string) => rows.find((r) => r.method === method && r.task === task)!;
    assert.ok(row('pretrain', 'sort-asc').exactMatch >= 0.99, `pretraining: ${row('pretrain', 'sort-asc').exactMatch}`);
    for (const task of ['sort-desc', 'reverse']) {
      for (const m of ['fmft', 'adapter']) assert.ok(row(m, task).exactMatch >= 0.95, `${m} ${task}: ${row(m, task).exactMatch}`);
      assert.ok(row('lora', task).exactMatch >= 0.9, `lora ${task}: ${row('lora', task).exactMatch}`);
    }
    // Prefixes only add keys and values to attend to: with the same small budget, reversing (attend by
    // position) stays out of their reach, and is harder for them than a task that reuses sorting's attention.
    assert.ok(row('prefix', 'reverse').exactMatch < 0.5, `prefix reverse: ${row('prefix', 'reverse').exactMatch}`);
    assert.ok(row('prefix', 'reverse').exactMatch < row('prefix', 'sort-desc').exactMatch);
    const n = (m: string) => row(m, 'reverse').trainableParameters;
    assert.ok(n('prefix') < n('lora') && n('lora') < n('adapter') && n('adapter') < n('fmft'));
  },
);
