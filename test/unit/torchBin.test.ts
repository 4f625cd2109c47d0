import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readTorchBin } from '../../src/models/torchBin.js';
import { unpickle } from '../../src/models/pickle.js';
import { ChangelingError } from '../../src/util/errors.js';
import { tempDir } from '../helpers/gitRepo.js';

const FIX = resolve('test/fixtures/torch');

test('pytorch_model.bin written by PyTorch 2.13: every dtype, strided views, shared storage, scalars, empty tensors', async () => {
  for (const name of ['state_dict', 'linear']) {
    const expected = JSON.parse(readFileSync(join(FIX, `${name}.expected.json`), 'utf8')) as Record<
      string,
      { dtype: string; shape: number[]; data: number[] }
    >;
    const got = await readTorchBin(join(FIX, `${name}.bin`));
    assert.deepEqual([...got.keys()], Object.keys(expected));
    for (const [k, e] of Object.entries(expected)) {
      const t = got.get(k)!;
      assert.equal(t.dtype, e.dtype, k);
      assert.deepEqual(t.shape, e.shape, k);
      assert.deepEqual(
        Array.from(t.data),
        e.data.map((v) => Math.fround(v)),
        k,
      );
    }
  }
});

test('a checkpoint that calls os.system is refused, naming the global, and nothing runs', async () => {
  await assert.rejects(
    readTorchBin(join(FIX, 'evil.bin')),
    (e: ChangelingError) => e.code === 'io' && /references the Python global "os\.system"/.test(e.message),
  );
  assert.equal(existsSync('/tmp/pwn'), false);
});

test('hand-made malicious pickles: GLOBAL and STACK_GLOBAL, eval, exec, getattr, nested in values', () => {
  const opts = { what: 'test.pkl', allow: { 'collections.OrderedDict': () => new Map() }, persistentLoad: () => null };
  const evil: Array<[string, Buffer]> = [
    ['builtins.eval', Buffer.from('\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1s\x85R.', 'latin1')],
    [
      'builtins.exec',
      Buffer.concat([
        Buffer.from('\x80\x04\x8c\x08builtins\x94\x8c\x04exec\x94\x93', 'latin1'),
        Buffer.from('X\x01\x00\x00\x001\x85R.', 'latin1'),
      ]),
    ],
    ['builtins.getattr', Buffer.from('\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00acbuiltins\ngetattr\nu.', 'latin1')],
    ['subprocess.Popen', Buffer.from('\x80\x02csubprocess\nPopen\n.', 'latin1')],
  ];
  for (const [global, bytes] of evil) assert.throws(() => unpickle(bytes, opts), new RegExp(`"${global.replace('.', '\\.')}"`), global);
  // A harmless pickle of an ordered dict loads.
  const ok = unpickle(Buffer.from('\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00aK\x05u.', 'latin1'), opts) as Map<
    string,
    number
  >;
  assert.deepEqual([...ok], [['a', 5]]);
});

test('truncated and non-zip files fail clearly', async () => {
  const d = tempDir();
  const bytes = readFileSync(join(FIX, 'state_dict.bin'));
  writeFileSync(join(d, 'cut.bin'), bytes.subarray(0, bytes.length - 100));
  await assert.rejects(readTorchBin(join(d, 'cut.bin')), /not a readable PyTorch zip archive|truncated/);
  writeFileSync(join(d, 'legacy.bin'), Buffer.from('\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.', 'latin1'));
  await assert.rejects(readTorchBin(join(d, 'legacy.bin')), /legacy non-zip torch\.save file/);
});

test('a model folder with only pytorch_model.bin loads the same weights as its safetensors twin', async () => {
  const { loadModelFolder } = await import('../../src/models/modelFolder.js');
  const { GOLDENS } = await import('../helpers/goldens.js');
  const bin = await loadModelFolder(join(FIX, 't5-tiny-bin'));
  const st = await loadModelFolder(join(GOLDENS, 't5-tiny'));
  const [bw, sw] = [await bin.loadWeights(), await st.loadWeights()];
  assert.deepEqual([...bw.keys()].sort(), [...sw.keys()].sort());
  for (const [k, v] of sw) assert.deepEqual(bw.get(k)!.data, v.data, k);
});
