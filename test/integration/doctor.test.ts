import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

test('doctor: onnxruntime-node loads, the CPU provider computes the probe correctly, auto finds it', () => {
  const r = spawnSync(process.execPath, [resolve('dist/cli.mjs'), 'doctor', '--provider', 'cpu', '--size', '64', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.onnxruntime, '1.30.0');
  assert.equal(info.probeSize, 64);
  assert.equal(info.providers.length, 1);
  assert.equal(info.providers[0].provider, 'cpu');
  assert.equal(info.providers[0].ok, true);
  assert.ok(info.providers[0].maxAbsError < 1e-4);
  assert.equal(info.auto, 'cpu');
  const bad = spawnSync(process.execPath, [resolve('dist/cli.mjs'), 'doctor', '--provider', 'tpu'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /unknown provider "tpu"/);
});
