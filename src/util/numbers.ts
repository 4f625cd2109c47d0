import { ChangelingError, type ErrorCode } from './errors.js';

/**
 * The one policy for numbers before they decide anything: an option, a metric's input, a loss, a value
 * read from a model file. NaN and infinities never reach a comparison (a comparison with NaN is always
 * false, which once made an AUC loop spin and a NaN model look "better").
 */
export interface Bounds {
  /** Smallest allowed value (inclusive unless `minExclusive`). */
  min?: number;
  minExclusive?: boolean;
  /** Largest allowed value (inclusive). */
  max?: number;
  integer?: boolean;
}

const describe = (b: Bounds) => {
  const lo = b.min === undefined ? null : `${b.minExclusive ? 'above' : 'at least'} ${b.min}`;
  const hi = b.max === undefined ? null : `at most ${b.max}`;
  return [b.integer ? 'a whole number' : 'a number', [lo, hi].filter(Boolean).join(' and ')].filter(Boolean).join(' ');
};

/** Whether `v` is a finite number within `b`. */
function inBounds(v: unknown, b: Bounds = {}): v is number {
  if (typeof v !== 'number' || !Number.isFinite(v)) return false;
  if (b.integer && !Number.isInteger(v)) return false;
  if (b.min !== undefined && (b.minExclusive ? v <= b.min : v < b.min)) return false;
  if (b.max !== undefined && v > b.max) return false;
  return true;
}

/** `v` if it is a finite number within `b`, else an error naming `what` and the bounds. */
export function checkNumber(what: string, v: unknown, b: Bounds = {}, code: ErrorCode = 'io'): number {
  if (inBounds(v, b)) return v;
  const shown = typeof v === 'number' ? String(v) : JSON.stringify(v)?.slice(0, 40);
  throw new ChangelingError(code, `${what} must be ${describe(b)}, not ${shown}`);
}

/** A command-line option's number: parsed, then checked (a usage error). */
export function parseOption(name: string, v: string | undefined, b: Bounds = {}): number | undefined {
  if (v === undefined) return undefined;
  const n = v.trim() === '' ? NaN : Number(v);
  if (!Number.isFinite(n)) throw new ChangelingError('usage', `--${name} needs ${describe(b)}, not ${JSON.stringify(v.slice(0, 40))}`);
  return checkNumber(`--${name}`, n, b, 'usage');
}

/** Every value finite: the inputs of a metric, a model's scores. Names the first bad one. */
export function checkAllFinite(what: string, values: ArrayLike<number>): void {
  const i = firstNonFinite(values);
  if (i >= 0) throw new ChangelingError('model', `${what}: value ${i} is ${values[i]} (not a finite number); nothing was decided on it`);
}

/** The index of the first value that is not a finite number, or -1 when all are. */
export function firstNonFinite(values: ArrayLike<number>): number {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/** The bounds of the training options, shared by the command line, the extension and the library. */
export const TRAIN_BOUNDS = {
  lr: { min: 0, minExclusive: true, max: 1 },
  clip: { min: 0 },
  weightDecay: { min: 0, max: 1 },
  steps: { min: 1, integer: true },
  epochs: { min: 1, integer: true },
  batch: { min: 1, max: 4096, integer: true },
} satisfies Record<string, Bounds>;
