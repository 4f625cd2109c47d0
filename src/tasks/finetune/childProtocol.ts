import type { FinetuneEvent, FinetuneMethod, FinetuneTask } from './types.js';

/**
 * How the extension runs `changeling finetune` in a child process: the options it sets, as the command
 * line's flags (one mapping, here), and the events the child writes back with `--json-events`, one JSON
 * `FinetuneEvent` per line of stderr, parsed and checked here.
 */
export interface FinetuneChildOptions {
  task: FinetuneTask;
  method: FinetuneMethod;
  model: string;
  repo: string;
  report: string;
  quick?: boolean;
  /** 0 or absent: onnxruntime's choice. */
  threads?: number;
  /** Absent or 'auto': the command line's own choice. */
  provider?: string;
}

export function finetuneArgs(o: FinetuneChildOptions): string[] {
  const args = [
    'finetune',
    '--task',
    o.task,
    '--method',
    o.method,
    '--model',
    o.model,
    '--repo',
    o.repo,
    '--report',
    o.report,
    '--json-events',
  ];
  if (o.quick) args.push('--quick');
  if (o.threads && o.threads > 0) args.push('--threads', String(o.threads));
  if (o.provider && o.provider !== 'auto') args.push('--provider', o.provider);
  return args;
}

const STAGES = new Set(['mining', 'dataset', 'training', 'evaluating', 'report']);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** A line the child wrote, as a `FinetuneEvent`; null for anything else (a plain log line). */
export function parseFinetuneEvent(line: string): FinetuneEvent | null {
  let e: Record<string, unknown>;
  try {
    e = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (!e || typeof e !== 'object') return null;
  if (e.kind === 'stage' && typeof e.stage === 'string' && STAGES.has(e.stage) && typeof e.message === 'string')
    return { kind: 'stage', stage: e.stage as Extract<FinetuneEvent, { kind: 'stage' }>['stage'], message: e.message };
  if (e.kind === 'step' && num(e.step) && num(e.steps) && num(e.loss)) return { kind: 'step', step: e.step, steps: e.steps, loss: e.loss };
  if (e.kind === 'eval' && num(e.step) && num(e.metric)) return { kind: 'eval', step: e.step, metric: e.metric };
  return null;
}
