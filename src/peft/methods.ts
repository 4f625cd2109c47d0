import { parseChoice } from '../util/text.js';

/**
 * The tuning methods, one record each, as models/architectures.ts holds the architectures: what a method is
 * called, whether it saves an adapter beside a frozen model or a whole model, whether the risk model can use it,
 * and its learning rates by use. Every command, task and surface reads its method names, checks and defaults here.
 * (How a method enters a graph is the method's own folder: lora/, adapter/, prefix/.)
 */
export const METHODS = {
  lora: {
    label: 'LoRA',
    savesAdapter: true,
    forRisk: true,
    /** `changeling train`; commit-message fine-tuning (a seq2seq model; a code LLM); the risk model (r 8, its shorter runs). */
    lr: { train: 1e-4, cmg: 5e-4, llm: 2e-4, jitdp: 1e-3 },
  },
  adapter: { label: 'adapter', savesAdapter: true, forRisk: true, lr: { train: 5e-4, cmg: 5e-4, llm: 2e-4, jitdp: 5e-4 } },
  prefix: { label: 'prefix-tuning', savesAdapter: true, forRisk: true, lr: { train: 5e-4, cmg: 5e-4, llm: 5e-4, jitdp: 5e-4 } },
  fmft: { label: 'full fine-tuning', savesAdapter: false, forRisk: false, lr: { train: 2e-5, cmg: 2e-5, llm: 1e-5, jitdp: 2e-5 } },
} as const;

export type Method = keyof typeof METHODS;
/** The methods that save an adapter (every one but full fine-tuning). */
export type AdapterMethod = { [K in Method]: (typeof METHODS)[K]['savesAdapter'] extends true ? K : never }[Method];
/** The methods the risk model trains with. */
export type RiskMethod = { [K in Method]: (typeof METHODS)[K]['forRisk'] extends true ? K : never }[Method];

export const METHOD_NAMES = Object.keys(METHODS) as Method[];
export const RISK_METHODS = METHOD_NAMES.filter((m) => METHODS[m].forRisk) as RiskMethod[];

/** Whether a method (a name read from a file too) saves an adapter rather than a whole model. */
export function savesAdapter(m: Method): m is AdapterMethod;
export function savesAdapter(m: string): boolean;
export function savesAdapter(m: string): boolean {
  return Object.hasOwn(METHODS, m) && METHODS[m as Method].savesAdapter;
}

/** A method name from the command line or a file, or one error naming the choices (`what`: where it came from). */
export function parseMethod<M extends Method>(
  value: unknown,
  allowed: readonly M[] = METHOD_NAMES as M[],
  what = '--method',
  kind: 'usage' | 'io' = 'usage',
): M {
  return parseChoice(value, allowed, what, kind);
}
