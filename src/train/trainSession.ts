import { readFile } from 'node:fs/promises';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-node';
import { createSession, ort, type SessionOptions } from '../runtime/session.js';
import { serialize } from '../graph/serialize.js';
import type { GraphBuilder } from '../graph/builder.js';
import { buildTrainStep, stateNames, type AdamWOptions } from '../graph/trainStep.js';
import type { Tensor } from '../graph/ir.js';
import { decodeSafetensors, encodeSafetensors, type NamedTensor } from '../models/safetensors.js';
import { writeBytesAtomic } from '../util/atomicFile.js';
import { ChangelingError, fileError } from '../util/errors.js';
import { regularFile } from '../util/jsonFile.js';

/**
 * A train-step graph in an onnxruntime session: parameters and optimizer state kept between steps, gradient
 * accumulation, checkpoints.
 */

export interface ParamSpec {
  tensor: Tensor;
  init: Float32Array;
  decay: boolean;
}

/**
 * One train-step graph in an onnxruntime session, with the parameters, Adam moments and accumulated
 * gradients held as onnxruntime tensors between steps: each step's outputs are the next step's inputs,
 * never copied through JavaScript arrays.
 */
export class TrainSession {
  /** Optimizer updates made so far. */
  updates = 0;
  /** Micro-batches since the last update (with gradient accumulation). */
  private micro = 0;

  private constructor(
    private readonly session: InferenceSession,
    private state: Record<string, OrtTensor>,
    readonly params: Array<{ name: string; shape: number[] }>,
    readonly accumulate: number,
  ) {}

  static async create(b: GraphBuilder, loss: Tensor, params: ParamSpec[], o: AdamWOptions, so: SessionOptions = {}): Promise<TrainSession> {
    buildTrainStep(b, loss, params, o);
    // The graph's constants (the frozen weights) go to onnxruntime: the builder lets go of them, and the
    // caller's `beforeLoad` drops its own copy, once, before onnxruntime reads them (a large model is not held
    // twice while it loads; a small one, built in memory, right after).
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      b.initializers.splice(0);
      so.beforeLoad?.();
    };
    const session = await createSession(serialize(b), {
      ...so,
      training: true,
      lean: so.lean ?? o.recomputeAttention,
      beforeLoad: release,
    });
    release();
    const rt = await ort();
    const state: Record<string, OrtTensor> = {};
    const k = o.accumulate ?? 1;
    const specs = params.map((p) => ({ name: p.tensor.name, shape: p.tensor.shape as number[] }));
    params.forEach((p, i) => {
      const shape = specs[i]!.shape;
      const n = stateNames(p.tensor.name);
      state[p.tensor.name] = new rt.Tensor('float32', Float32Array.from(p.init), shape);
      state[n.m] = new rt.Tensor('float32', new Float32Array(p.init.length), shape);
      state[n.v] = new rt.Tensor('float32', new Float32Array(p.init.length), shape);
      if (k > 1) state[n.acc] = new rt.Tensor('float32', new Float32Array(p.init.length), shape);
    });
    return new TrainSession(session, state, specs, k);
  }

  /** Runs one micro-batch; the optimizer update is applied on every `accumulate`-th call. */
  async step(batch: Record<string, OrtTensor>): Promise<{ loss: number; gradNorm: number; lr: number; applied: boolean }> {
    const rt = await ort();
    const applied = (this.micro + 1) % this.accumulate === 0;
    const feeds: Record<string, OrtTensor> = {
      ...batch,
      ...this.state,
      step: new rt.Tensor('float32', new Float32Array([this.updates + 1]), []),
    };
    if (this.accumulate > 1) feeds.apply = new rt.Tensor('bool', new Uint8Array([applied ? 1 : 0]), []);
    const out = await this.session.run(feeds);
    for (const p of this.params) {
      const n = stateNames(p.name);
      this.state[p.name] = out[n.newP]!;
      this.state[n.m] = out[n.newM]!;
      this.state[n.v] = out[n.newV]!;
      if (this.accumulate > 1) this.state[n.acc] = out[n.newAcc]!;
    }
    this.micro = applied ? 0 : this.micro + 1;
    if (applied) this.updates++;
    return { loss: Number(out.loss!.data[0]), gradNorm: Number(out.grad_norm!.data[0]), lr: Number(out.lr!.data[0]), applied };
  }

  /** Current value of a state tensor (a parameter, or "adam.m.<name>" and the like). */
  value(name: string): Float32Array {
    const t = this.state[name];
    if (!t) throw new ChangelingError('usage', `no state tensor ${name}`);
    return t.data as Float32Array;
  }

  parameters(): Record<string, NamedTensor> {
    return Object.fromEntries(this.params.map((p) => [p.name, { shape: p.shape, data: this.value(p.name) }]));
  }

  /** Saves parameters, moments and counters atomically (safetensors), with caller metadata. */
  async save(path: string, metadata: Record<string, string> = {}): Promise<void> {
    const tensors: Record<string, NamedTensor> = {};
    for (const [name, t] of Object.entries(this.state)) tensors[name] = { shape: t.dims as number[], data: t.data as Float32Array };
    await writeBytesAtomic(path, encodeSafetensors(tensors, { ...metadata, updates: String(this.updates), micro: String(this.micro) }));
  }

  /** Restores what `save` wrote; returns the caller metadata. */
  async load(path: string): Promise<Record<string, string>> {
    const rt = await ort();
    await regularFile(path, 'the checkpoint');
    let buf: Buffer;
    try {
      buf = await readFile(path);
    } catch (err) {
      throw fileError(err, path, 'reading');
    }
    const { tensors, metadata } = decodeSafetensors(buf, `checkpoint ${path}`);
    for (const name of Object.keys(this.state)) {
      const t = tensors[name];
      const want = this.state[name]!.dims.join(',');
      if (!t || t.shape.join(',') !== want) throw new ChangelingError('io', `checkpoint ${path} does not match this model (${name})`);
      this.state[name] = new rt.Tensor('float32', t.data, t.shape);
    }
    this.updates = Number(metadata.updates ?? 0);
    this.micro = Number(metadata.micro ?? 0);
    return metadata;
  }
}
