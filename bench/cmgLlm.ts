import { openRepository } from '../src/git/repository.js';
import { loadLlmFolder } from '../src/tasks/cmg/llmInput.js';
import { LlmMessageWriter } from '../src/tasks/cmg/llmWriter.js';
import { llmInputFor, type SuggestTarget } from '../src/tasks/cmg/suggest.js';
import { qwenShapesDir } from './qwenShapes.js';
import { parsePrecision, type Precision } from '../src/runtime/precision.js';

/**
 * `npm run bench -- cmg-llm REPO [--commit REV] [--budget N] [--new N] [--shapes 0.5b|1.5b]`: how long ✨ takes
 * with a code LLM of Qwen2.5-Coder-0.5B's (or 1.5B's) shapes (`writeTinyQwen2` at those shapes: random f32 weights, its 151,936-token
 * vocabulary and head; the test tokenizer turns text into ids, so the prompt's token count is what the
 * budget allows): building the prompt, the
 * first use (graph built and cached, weights loaded), then a later use's time to the first new token and to
 * the whole candidate (greedy-length sampling of N new tokens), and a second press on the same change (the
 * prompt's key/value cache reused). The change is the staged one, or --commit.
 */
export async function cmgLlmBench(args: string[]): Promise<Record<string, unknown>> {
  const flag = (n: string) => (args.includes(n) ? args[args.indexOf(n) + 1]! : null);
  const repoPath = args.find(
    (a, i) => !a.startsWith('--') && !['--commit', '--budget', '--new', '--shapes', '--precision'].includes(args[i - 1] ?? ''),
  );
  if (!repoPath)
    throw new Error('usage: npm run bench -- cmg-llm REPO [--commit REV] [--budget N] [--new N] [--shapes 0.5b|1.5b] [--precision P,P]');
  const shapes = flag('--shapes') ? [flag('--shapes')!] : ['0.5b', '1.5b'];
  // Full precision beside what `auto` runs (int8 on the CPU for the code LLM), each shape in both.
  const precisions = (flag('--precision') ?? 'fp32,auto').split(',').map((p) => parsePrecision(p));
  const out: Record<string, unknown> = { bench: 'cmg-llm' };
  for (const s of shapes) {
    if (s !== '0.5b' && s !== '1.5b') throw new Error('--shapes is 0.5b or 1.5b');
    // Keyed b05-fp32, b15-int8, ... (the report reads dotted paths).
    for (const p of precisions) {
      const r = await oneShape(repoPath, s === '1.5b', flag, p);
      out[`${s === '1.5b' ? 'b15' : 'b05'}-${String(r.precision)}`] = r;
    }
  }
  return out;
}

async function oneShape(
  repoPath: string,
  large: boolean,
  flag: (n: string) => string | null,
  precision: Precision,
): Promise<Record<string, unknown>> {
  // The default budgets of the two sizes (llmInput.ts): 2,000 diff tokens for the 0.5B, 4,000 for the 1.5B.
  const budget = Number(flag('--budget') ?? (large ? 4000 : 2000));
  const newTokens = Number(flag('--new') ?? 64);
  const dir = qwenShapesDir(large ? '1.5b' : '0.5b');
  const repo = await openRepository(repoPath);
  const target: SuggestTarget = flag('--commit') ? { kind: 'commit', rev: flag('--commit')! } : { kind: 'staged' };
  const t0 = performance.now();
  const prompt = await llmInputFor(repo, target, await loadLlmFolder(dir), { budget, maxNewTokens: newTokens });
  const promptSeconds = (performance.now() - t0) / 1000;
  const t1 = performance.now();
  const writer = await LlmMessageWriter.create(dir, { precision });
  await writer.write({ inputIds: prompt.inputIds.slice(0, 16) }, { n: 1, maxNewTokens: 1 });
  const firstUseSeconds = (performance.now() - t1) / 1000;
  // Random weights rarely stop early; N new tokens are what is timed: to the first of them, and to all.
  const timed = async (seed: number) => {
    let first = 0;
    const t = performance.now();
    await writer.write(prompt, {
      n: 1,
      maxNewTokens: newTokens,
      seed,
      onToken: () => {
        if (!first) first = (performance.now() - t) / 1000;
      },
    });
    return { first, total: (performance.now() - t) / 1000 };
  };
  const { first, total } = await timed(0);
  // A second press on the same change: the prompt's key/value cache is reused, only generation runs.
  const { first: secondFirst, total: secondTotal } = await timed(1);
  const out = {
    shapes: `${large ? 'Qwen2.5-Coder-1.5B (1.54B parameters)' : 'Qwen2.5-Coder-0.5B (494M parameters)'}, ${writer.precision}`,
    precision: writer.precision,
    promptTokens: prompt.inputIds.length,
    diffTokens: prompt.diffTokens,
    promptSeconds,
    firstUseSeconds,
    firstTokenSeconds: first,
    wholeCandidateSeconds: total,
    secondPressFirstTokenSeconds: secondFirst,
    secondPressWholeSeconds: secondTotal,
    newTokens,
    perTokenSeconds: (total - first) / Math.max(1, newTokens - 1),
  };
  process.stderr.write(
    `${large ? '1.5B' : '0.5B'} ${writer.precision}: prompt ${prompt.inputIds.length} tokens (diff ${prompt.diffTokens}) built in ${promptSeconds.toFixed(2)} s; first use ${firstUseSeconds.toFixed(1)} s; ` +
      `first new token after ${first.toFixed(1)} s, ${newTokens} tokens after ${total.toFixed(1)} s (${(out.perTokenSeconds * 1000).toFixed(0)} ms per token); ` +
      `a second press: first token after ${secondFirst.toFixed(2)} s, all after ${secondTotal.toFixed(1)} s\n`,
  );
  return out;
}
