import { test } from 'node:test';
import assert from 'node:assert/strict';
import { finetuneArgs, parseFinetuneEvent } from '../../src/tasks/finetune/childProtocol.js';
import type { FinetuneEvent } from '../../src/tasks/finetune/types.js';

test("the fine-tune child: the extension's options as the command line's flags, its events parsed and checked", () => {
  const base = { task: 'cmg', method: 'lora', model: '/m', repo: '/r', report: '/r/.git/changeling/reports/cmg-lora' } as const;
  assert.deepEqual(finetuneArgs(base), [
    'finetune',
    '--task',
    'cmg',
    '--method',
    'lora',
    '--model',
    '/m',
    '--repo',
    '/r',
    '--report',
    '/r/.git/changeling/reports/cmg-lora',
    '--json-events',
  ]);
  assert.deepEqual(finetuneArgs({ ...base, quick: true, threads: 2, provider: 'cpu' }).slice(-5), [
    '--quick',
    '--threads',
    '2',
    '--provider',
    'cpu',
  ]);
  assert.deepEqual(finetuneArgs({ ...base, threads: 0, provider: 'auto' }).slice(-1), ['--json-events']);
  const events: FinetuneEvent[] = [
    { kind: 'stage', stage: 'training', message: 'lora: 20 steps' },
    { kind: 'step', step: 3, steps: 20, loss: 1.25 },
    { kind: 'eval', step: 10, metric: 0.71 },
  ];
  for (const e of events) assert.deepEqual(parseFinetuneEvent(JSON.stringify(e)), e);
  for (const junk of [
    'not json',
    '{"kind":"step","step":"3"}',
    '{"kind":"stage","stage":"bogus","message":"x"}',
    'null',
    '{"kind":"eval","step":1,"metric":null}',
  ])
    assert.equal(parseFinetuneEvent(junk), null, junk);
});
