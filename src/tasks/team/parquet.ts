import { ByteWriter, parquetWrite } from 'hyparquet-writer';
import { ChangelingError } from '../../util/errors.js';

/**
 * Rows (objects of strings, numbers and number lists) as a Parquet file, written by hyparquet-writer (MIT,
 * no dependencies beyond its reader): the export's second format. The schema is inferred from all the splits'
 * rows together, so that every split has the same columns even when one is empty: strings are UTF-8, whole
 * numbers INT32 (INT64 when one does not fit), other numbers DOUBLE, arrays of numbers LISTs of those; a column
 * that some rows lack is OPTIONAL.
 */
type Kind = 'string' | 'int32' | 'int64' | 'double';
export interface ParquetColumn {
  name: string;
  kind: Kind;
  list: boolean;
  optional: boolean;
}

const INT32 = 2 ** 31;

function kindOf(values: unknown[], name: string): Kind {
  if (values.every((v) => typeof v === 'string')) return 'string';
  if (!values.every((v) => typeof v === 'number' && Number.isFinite(v)))
    throw new ChangelingError('io', `the export's column ${name} mixes types: Parquet needs one`);
  const nums = values as number[];
  if (!nums.every(Number.isInteger)) return 'double';
  return nums.every((v) => v >= -INT32 && v < INT32) ? 'int32' : 'int64';
}

export function parquetColumns(rows: ReadonlyArray<Record<string, unknown>>): ParquetColumn[] {
  const names = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return names.map((name) => {
    const present = rows.filter((r) => r[name] !== undefined && r[name] !== null).map((r) => r[name]);
    const list = present.length > 0 && present.every(Array.isArray);
    if (!list && present.some(Array.isArray)) throw new ChangelingError('io', `the export's column ${name} mixes lists and values`);
    const values = list ? (present as unknown[][]).flat() : present;
    return { name, kind: values.length ? kindOf(values, name) : 'int32', list, optional: present.length < rows.length };
  });
}

const PHYSICAL: Record<Kind, { type: 'BYTE_ARRAY' | 'INT32' | 'INT64' | 'DOUBLE'; converted_type?: 'UTF8' }> = {
  string: { type: 'BYTE_ARRAY', converted_type: 'UTF8' },
  int32: { type: 'INT32' },
  int64: { type: 'INT64' },
  double: { type: 'DOUBLE' },
};

export function parquetBytes(columns: readonly ParquetColumn[], rows: ReadonlyArray<Record<string, unknown>>): Uint8Array {
  const schema: Array<Record<string, unknown>> = [{ name: 'root', num_children: columns.length }];
  for (const c of columns) {
    const repetition = c.optional ? 'OPTIONAL' : 'REQUIRED';
    if (c.list) {
      schema.push(
        { name: c.name, repetition_type: repetition, converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', ...PHYSICAL[c.kind], repetition_type: 'REQUIRED' },
      );
    } else schema.push({ name: c.name, ...PHYSICAL[c.kind], repetition_type: repetition });
  }
  const value = (c: ParquetColumn, v: unknown): unknown => {
    if (v === undefined || v === null) return null;
    if (c.kind !== 'int64') return v;
    return Array.isArray(v) ? v.map((x) => BigInt(x as number)) : BigInt(v as number);
  };
  const writer = new ByteWriter();
  parquetWrite({
    writer,
    columnData: columns.map((c) => ({ name: c.name, data: rows.map((r) => value(c, r[c.name])) })),
    schema: schema as never,
  });
  return new Uint8Array(writer.getBuffer());
}
