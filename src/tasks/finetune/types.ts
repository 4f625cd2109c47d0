import type { AdoptionBasis } from '../adoption.js';
import type { RecomputeMode } from '../../train/memory.js';
import type { CmgMetrics } from '../../eval/cmgMetrics.js';
import type { JitdpMetrics } from '../../eval/jitdpMetrics.js';
import type { Method } from '../../peft/methods.js';
import type { FrozenMode } from '../../peft/trainAdapter.js';

/** The options, progress events and result of a fine-tuning run (`changeling finetune`, the VS Code command). */

export type FinetuneTask = 'cmg' | 'jitdp';
export type FinetuneMethod = Method;

export interface FinetuneOptions {
  task: FinetuneTask;
  method: FinetuneMethod;
  /** Model folder (CodeT5/PLBART for cmg, a RoBERTa-family encoder for jitdp). */
  model?: string;
  /** A smoke run: a small slice of the history and a few steps. */
  quick?: boolean;
  epochs?: number;
  batch?: number;
  lr?: number;
  maxLength?: number;
  seed?: number;
  maxCommits?: number;
  /** Most validation/test commits to generate for (cmg; generation is the slow part). */
  evalCap?: number;
  /** auto: adopt when the tuned model beats the untuned one on validation; always; never. */
  adopt?: 'auto' | 'always' | 'never';
  provider?: string;
  threads?: number;
  /** Attention recomputed in the backward: auto (default), attention or none. */
  recompute?: RecomputeMode;
  /** How a code LLM's frozen weights are held while training (default int8-fast; trainAdapter.ts). */
  frozen?: FrozenMode;
  signal?: AbortSignal;
  onEvent?: (e: FinetuneEvent) => void;
}

export type FinetuneEvent =
  | { kind: 'stage'; stage: 'mining' | 'dataset' | 'training' | 'evaluating' | 'report'; message: string }
  | { kind: 'step'; step: number; steps: number; loss: number }
  | { kind: 'eval'; step: number; metric: number };

export interface FinetuneResult {
  task: FinetuneTask;
  method: string;
  model: string | null;
  /** The model was a code LLM, tuned in its chat prompt (cmgLlm.ts). */
  llm?: boolean;
  repo: string;
  head: string | null;
  /** Where the adapter (or model) was saved. */
  out: string;
  commits: { train: number; validation: number; test: number };
  /** The user's recorded edits of suggestions (a code LLM's run): how many, and EditSim (%) of the suggestions they were
   * given and of the tuned model's, against what they committed. */
  edits?: { pairs: number; before: number; after: number };
  steps: number;
  trainSeconds: number;
  seconds: number;
  trainableParameters: number;
  losses: Array<{ step: number; loss: number }>;
  validationCurve?: Array<{ step: number; metric: number }>;
  /** Metrics per model ("untuned", "tuned", and the baselines) on each split. */
  validation: Record<string, CmgMetrics | JitdpMetrics>;
  test: Record<string, CmgMetrics | JitdpMetrics>;
  adopted: boolean;
  adoptedRecord: string | null;
  adoptReason: string;
  /** What the decision rests on (reports written before it was recorded have none). */
  adoptBasis?: AdoptionBasis;
  examples: Array<Record<string, unknown>>;
}
