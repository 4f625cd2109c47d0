import { parseArgs } from 'node:util';
import { tmpdir } from 'node:os';
import { gitText } from '../git/run.js';
import { PROVIDER_ORDER, probeProviders, type ProviderName } from '../runtime/providers.js';
import { ChangelingError } from '../util/errors.js';
import { parseCount, printJson, writeOut } from './io.js';

/** `changeling doctor`: its options, its help text (DOCTOR_HELP) and what it prints. */

export const DOCTOR_HELP = `changeling doctor [--provider NAME]... [--json]

  What this machine offers Changeling: Node, git, onnxruntime-node, and for each execution provider
  (${PROVIDER_ORDER.join(', ')}) whether it loads, computes an N x N MatMul correctly, and how fast.

  --provider NAME  probe only these providers (repeatable)
  --size N         the probe's matrix size (default 512)
  --json           print JSON`;

export async function doctorCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { provider: { type: 'string', multiple: true }, size: { type: 'string' }, json: { type: 'boolean', default: false } },
    strict: true,
  });
  const only = values.provider?.map((p) => {
    if (!(PROVIDER_ORDER as readonly string[]).includes(p))
      throw new ChangelingError('usage', `unknown provider "${p}" (one of ${PROVIDER_ORDER.join(', ')})`);
    return p as ProviderName;
  });
  let git = 'not found';
  try {
    git = (await gitText(tmpdir(), ['--version'])).trim();
  } catch {
    // reported as not found
  }
  const n = parseCount('size', values.size) ?? 512;
  const runtime = await probeProviders({ only, n });
  const info = { node: process.version, git, probeSize: n, ...runtime };
  if (values.json) {
    await printJson(info);
    return 0;
  }
  const lines = [
    `Node ${info.node}, ${git}, onnxruntime-node ${info.onnxruntime} (${info.platform})`,
    '',
    ...info.providers.map(
      (p) =>
        `  ${p.provider.padEnd(7)} ${p.ok ? 'works' : 'no   '}  ${p.ok ? `${p.msPerRun!.toFixed(2)} ms per ${n}x${n} MatMul, max error ${p.maxAbsError!.toExponential(1)}` : (p.error ?? '')}`,
    ),
    '',
    `auto picks: ${info.auto ?? 'nothing works'}`,
  ];
  await writeOut(lines.join('\n') + '\n');
  return info.auto ? 0 : 1;
}
