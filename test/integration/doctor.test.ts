import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

test('doctor: onnxruntime-node loads, the CPU provider computes the probe correctly, auto finds it', () => {
  const r = spawnSync(process.execPath, [resolve('dist/cli.mjs'), 'doctor', '--provider', 'cpu', '--size', '64', '--json'], {
    encoding: 'utf8',
  });
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

test('execution provider: auto falls back to what works here and says why; cpu is cpu; a typo is an error', async () => {
  const { resolveProvider } = await import('../../src/runtime/providers.js');
  const lines: string[] = [];
  const p = await resolveProvider('auto', (l) => lines.push(l));
  assert.ok(['cuda', 'dml', 'coreml', 'webgpu', 'cpu'].includes(p));
  assert.equal(lines.at(-1), `execution provider: ${p} (auto)`);
  if (p === 'cpu')
    assert.ok(
      lines.some((l) => l.startsWith('execution provider cuda not used')),
      lines.join('\n'),
    );
  assert.equal(await resolveProvider('cpu'), 'cpu');
  await assert.rejects(resolveProvider('tpu'), /unknown execution provider "tpu"/);
});
