import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import type { SerializedModel } from '../graph/serialize.js';
import { removeAtExit } from '../util/cleanup.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * onnxruntime-node sessions: loading the runtime, session options (threads, memory arena, profiling), sessions
 * from files or serialized graphs (external weights written beside them), and the tracking that frees them.
 */

export type Ort = typeof import('onnxruntime-node');
let ortModule: Ort | null = null;

/** onnxruntime-node, loaded on first use (it is a native module: the CLI's other commands skip it). */
export async function ort(): Promise<Ort> {
  if (!ortModule) {
    ortModule = await import('onnxruntime-node');
    ortModule.env.logLevel = 'error';
  }
  return ortModule;
}

export interface SessionOptions {
  provider?: string;
  /** Threads for one operator (default: onnxruntime's choice). */
  intraOpThreads?: number;
  /** A train-step graph (allocation tuned for it). */
  training?: boolean;
  /** With `training`: allocate without onnxruntime's memory arena (a lower peak, a slower step). */
  lean?: boolean;
  /** Where to write a model with external data (default: a temporary folder removed after loading). */
  dir?: string;
  /** Inference precision of the model runners (`precision.ts`); default `auto`. */
  precision?: import('./precision.js').Precision;
  /**
   * Called once a model with external weights is written and before onnxruntime reads it: the caller drops
   * its own copy of the weights there, so that they are not held twice while the session loads them.
   */
  beforeLoad?: () => void;
}

/**
 * onnxruntime's own profiler, for benchmarks (`npm run bench -- profile`): with CHANGELING_ORT_PROFILE set to a
 * folder, every session records each kernel's time there, written when `endProfiling()` is called.
 */
const profiled: InferenceSession[] = [];
const profileDir = () => process.env.CHANGELING_ORT_PROFILE;

export function endProfiling(): void {
  for (const s of profiled.splice(0)) s.endProfiling();
}

function tracked(s: InferenceSession): InferenceSession {
  if (profileDir()) profiled.push(s);
  return s;
}

function sessionOptions(o: SessionOptions): InferenceSession.SessionOptions {
  const dir = profileDir();
  return {
    ...(dir ? { enableProfiling: true, profileFilePrefix: join(dir, 'ort') } : {}),
    executionProviders: [o.provider ?? 'cpu'],
    graphOptimizationLevel: 'all',
    ...(o.intraOpThreads ? { intraOpNumThreads: o.intraOpThreads } : {}),
    // A train step keeps many short-lived tensors of many sizes: onnxruntime's pre-planned memory pattern
    // reserves one block for all of them (much more memory, and slower: docs/performance.md), so training
    // sessions allocate from the arena as they go.
    // `lean`: without the arena as well. The arena is faster (no page faults for fresh memory), but its
    // best-fit regions fragment from the second step on and grow back to the same size whatever the step's
    // live peak; malloc returns large blocks to the system when they are freed (figures: docs/performance.md).
    ...(o.training ? { enableMemPattern: false, ...(o.lean ? { enableCpuMemArena: false } : {}) } : {}),
  };
}

/** An inference session for a model file (its external data beside it). */
export async function createSessionFromFile(path: string, o: SessionOptions = {}): Promise<InferenceSession> {
  return tracked(await (await ort()).InferenceSession.create(path, sessionOptions(o)));
}

/** Writes a serialized graph into `dir` as `fileName` with its external data beside it; returns the model path. */
export function writeModelFiles(dir: string, m: SerializedModel, fileName = 'model.onnx'): string {
  writeFileSync(join(dir, fileName), m.model);
  if (m.externalParts.length) writeExternal(join(dir, m.externalName), m.externalParts);
  return join(dir, fileName);
}

/** An inference session for a serialized graph; models with external weights are loaded from files. */
export async function createSession(m: SerializedModel, o: SessionOptions = {}): Promise<InferenceSession> {
  if (m.externalParts.length === 0) return tracked(await (await ort()).InferenceSession.create(m.model, sessionOptions(o)));
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'changeling-model-'));
  // A temporary copy of the weights: removed when the session holds them, or at exit on a signal.
  const release = o.dir ? () => {} : removeAtExit(dir);
  try {
    const path = writeModelFiles(dir, m);
    if (o.beforeLoad) {
      m.externalParts.length = 0;
      o.beforeLoad();
      collectGarbage();
    }
    return await createSessionFromFile(path, o);
  } finally {
    if (!o.dir) rmSync(dir, { recursive: true, force: true });
    release();
  }
}

/** Writes the external data part by part (the parts are views of the weights: no combined copy). */
function writeExternal(path: string, parts: Buffer[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const p of parts) {
      let off = 0;
      while (off < p.length) off += writeSync(fd, p, off);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * After a model's graphs were built, its weights (read into JavaScript for that) are garbage; the sessions
 * about to open allocate their own copies outside V8's sight, so V8 would not collect them in time and a
 * first use would hold the weights twice. This asks for a full collection (V8's gc, exposed for this call).
 */
export function collectGarbage(): void {
  try {
    const g = (globalThis as { gc?: () => void }).gc ?? (setFlagsFromString('--expose-gc'), runInNewContext('gc') as () => void);
    g();
  } catch {
    // Not available on this runtime: the weights are collected later instead.
  }
}
