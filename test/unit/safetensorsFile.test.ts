import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile, halfToFloat } from '../../src/models/safetensorsFile.js';
import { encodeSafetensors } from '../../src/models/safetensors.js';
import { ChangelingError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/gitRepo.js';

function file(header: object, data: Buffer): string {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const p = join(tempDir(), 'x.safetensors');
  writeFileSync(p, Buffer.concat([len, h, data]));
  return p;
}

test('reads F32, F16, BF16 and F64 tensors as float32', async () => {
  const f16 = Buffer.alloc(6);
  [0x3c00, 0xc000, 0x3555].forEach((v, i) => f16.writeUInt16LE(v, i * 2)); // 1, -2, ~0.333
  const bf16 = Buffer.alloc(4);
  [0x3f80, 0x4049].forEach((v, i) => bf16.writeUInt16LE(v, i * 2)); // 1, ~3.14
  const f64 = Buffer.alloc(16);
  f64.writeDoubleLE(0.1, 0);
  f64.writeDoubleLE(-7, 8);
  const f32 = Buffer.from(new Float32Array([1.5, 2.5]).buffer);
  const p = file(
    {
      a: { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
      b: { dtype: 'BF16', shape: [2], data_offsets: [6, 10] },
      c: { dtype: 'F64', shape: [2], data_offsets: [10, 26] },
      d: { dtype: 'F32', shape: [2, 1], data_offsets: [26, 34] },
      __metadata__: { format: 'pt' },
    },
    Buffer.concat([f16, bf16, f64, f32]),
  );
  const s = await SafetensorsFile.open(p);
  assert.deepEqual(Array.from((await s.float32('a')).data), [1, -2, Math.fround(halfToFloat(0x3555))]);
  assert.ok(Math.abs(halfToFloat(0x3555) - 1 / 3) < 1e-3);
  assert.deepEqual(Array.from((await s.float32('b')).data), [1, 3.140625]);
  assert.deepEqual(Array.from((await s.float32('c')).data), [Math.fround(0.1), -7]);
  assert.deepEqual(await s.float32('d'), { shape: [2, 1], data: new Float32Array([1.5, 2.5]) });
  assert.deepEqual(s.metadata, { format: 'pt' });
  await s.close();
});

test('corrupt and truncated files fail clearly', async () => {
  const bad = async (p: string, re: RegExp) =>
    assert.rejects(SafetensorsFile.open(p), (e: ChangelingError) => e.code === 'io' && re.test(e.message));
  const d = tempDir();
  writeFileSync(join(d, 'tiny'), Buffer.from([1, 2, 3]));
  await bad(join(d, 'tiny'), /only 3 bytes/);
  const huge = Buffer.alloc(16);
  huge.writeBigUInt64LE(1000n);
  writeFileSync(join(d, 'huge'), huge);
  await bad(join(d, 'huge'), /header length 1000 exceeds the file/);
  await bad(file({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(8)), /ends at byte .* \(truncated\?\)/);
  await bad(file({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8)), /do not fit F32\[3\]/);
  await bad(file({ a: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, Buffer.alloc(1)), /unsupported dtype Q4/);
  const notJson = Buffer.concat([Buffer.from([4, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{{{{')]);
  writeFileSync(join(d, 'nj'), notJson);
  await bad(join(d, 'nj'), /not JSON/);
});

test('what encodeSafetensors writes, the reader reads', async () => {
  const p = join(tempDir(), 'rt.safetensors');
  writeFileSync(p, encodeSafetensors({ w: { shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } }, { step: '3' }));
  const s = await SafetensorsFile.open(p);
  assert.deepEqual(Array.from((await s.float32('w')).data), [1, 2, 3, 4]);
  assert.equal(s.metadata.step, '3');
  await s.close();
});
