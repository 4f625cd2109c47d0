import { GraphError, type Dim, type Shape } from './ir.js';

/** NumPy broadcasting of two shapes; symbolic dims are assumed never to be 1. */
export function broadcastShapes(op: string, a: Shape, b: Shape): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else if (typeof x === 'string' && typeof y === 'number') out.push(y);
    else if (typeof y === 'string' && typeof x === 'number') out.push(x);
    else if (typeof x === 'string' && typeof y === 'string') out.push(x);
    else throw new GraphError(`${op}: cannot broadcast [${a.join(', ')}] with [${b.join(', ')}]`);
  }
  return out;
}

/** Axes of `out` that were broadcast from `inp` (leading axes it lacks, and its static 1s). */
export function broadcastAxes(inp: Shape, out: Shape): { lead: number; ones: number[] } {
  const lead = out.length - inp.length;
  const ones: number[] = [];
  for (let i = 0; i < inp.length; i++) if (inp[i] === 1 && out[lead + i] !== 1) ones.push(lead + i);
  return { lead, ones };
}

export function normAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new GraphError(`${op}: axis ${axis} is out of range for rank ${rank}`);
  return a;
}

export function sameDim(a: Dim, b: Dim): boolean {
  return a === b || typeof a === 'string' || typeof b === 'string';
}
