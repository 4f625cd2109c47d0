import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parquetReadObjects } from 'hyparquet';
import { parquetBytes, parquetColumns } from '../../src/tasks/team/parquet.js';

test('export as Parquet: the schema inferred from all rows (INT32, INT64, DOUBLE, UTF-8, lists, optional columns), read back as written', async () => {
  const rows = [
    { sha: 'a1', time: 1_700_000_000_000, label: 1, input_ids: [0, 5, 2], features: [0.5, -1.25], decoder_input_ids: [1, 2] },
    { sha: 'b2 ünïcode', time: 1_700_000_360_000, label: 0, input_ids: [], features: [3, 4] },
  ];
  const cols = parquetColumns(rows);
  assert.deepEqual(
    cols.map((c) => `${c.name}:${c.kind}${c.list ? '[]' : ''}${c.optional ? '?' : ''}`),
    ['sha:string', 'time:int64', 'label:int32', 'input_ids:int32[]', 'features:double[]', 'decoder_input_ids:int32[]?'],
  );
  const bytes = parquetBytes(cols, rows);
  const back = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer });
  assert.equal(back.length, 2);
  assert.deepEqual(
    back.map((r) => [r.sha, Number(r.time), r.label, Array.from(r.input_ids as number[]), Array.from(r.features as number[])]),
    rows.map((r) => [r.sha, r.time, r.label, r.input_ids, r.features]),
  );
  assert.deepEqual(Array.from(back[0]!.decoder_input_ids as number[]), [1, 2]);
  assert.equal(back[1]!.decoder_input_ids ?? null, null);
  // An empty split still gets the columns of the others.
  const empty = parquetBytes(cols, []);
  assert.equal(
    (await parquetReadObjects({ file: empty.buffer.slice(empty.byteOffset, empty.byteOffset + empty.byteLength) as ArrayBuffer })).length,
    0,
  );
  assert.throws(() => parquetColumns([{ x: 1 }, { x: 'one' }]), /mixes types/);
});
