import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { matmulProbeModel } from './probeModel.js';

/** The execution providers onnxruntime-node can have, in the order `auto` tries them. */
export const PROVIDER_ORDER = ['cuda', 'dml', 'coreml', 'webgpu', 'cpu'] as const;
export type ProviderName = (typeof PROVIDER_ORDER)[number];

export interface ProviderProbe {
  provider: ProviderName;
  /** Listed by onnxruntime-node for this platform, and whether its binaries ship in the package. */
  listed: boolean;
  bundled: boolean;
  ok: boolean;
  error?: string;
  /** Milliseconds per run of a 512x512 MatMul+Relu, after a warm-up. */
  msPerRun?: number;
  /** Largest difference from a reference computed in JavaScript (float64). */
  maxAbsError?: number;
}

export interface RuntimeInfo {
  onnxruntime: string;
  platform: string;
  providers: ProviderProbe[];
  /** What `auto` would pick: the first provider that works. */
  auto: ProviderName | null;
}

type Ort = typeof import('onnxruntime-node');

async function loadOrt(): Promise<Ort> {
  try {
    return await import('onnxruntime-node');
  } catch (err) {
    throw new Error(`onnxruntime-node could not be loaded: ${(err as Error).message}`);
  }
}

/** Tries each provider on a small model and checks its numbers against a float64 reference. */
export async function probeProviders(o: { n?: number; runs?: number; only?: ProviderName[] } = {}): Promise<RuntimeInfo> {
  const ort = await loadOrt();
  ort.env.logLevel = 'fatal'; // failures are reported below, with what to do about them
  const n = o.n ?? 512;
  const runs = o.runs ?? 10;
  const listed = new Map(ort.listSupportedBackends().map((b) => [b.name, b.bundled]));
  const model = matmulProbeModel(n);
  const a = new Float32Array(n * n);
  const b = new Float32Array(n * n);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  for (let i = 0; i < a.length; i++) {
    a[i] = rnd();
    b[i] = rnd();
  }
  // Reference for a sample of rows (full n^3 in JS would be slow for no gain).
  const rows = [0, 1, n >> 1, n - 1];
  const ref = rows.map((r) => {
    const out = new Float64Array(n);
    for (let k = 0; k < n; k++) {
      const av = a[r * n + k]!;
      for (let j = 0; j < n; j++) out[j]! += av * b[k * n + j]!;
    }
    return out.map((v) => Math.max(0, v));
  });
  const providers: ProviderProbe[] = [];
  for (const provider of o.only ?? PROVIDER_ORDER) {
    const p: ProviderProbe = { provider, listed: listed.has(provider), bundled: listed.get(provider) ?? false, ok: false };
    providers.push(p);
    if (!p.listed) {
      p.error = 'not available for this platform in onnxruntime-node';
      continue;
    }
    // Without a Vulkan loader, Dawn prints a warning with a native stack frame when asked for an adapter:
    // the answer is known without asking.
    if (provider === 'webgpu' && process.platform === 'linux' && !hasVulkanLoader()) {
      p.error = explain('webgpu', p.bundled, 'no adapter');
      continue;
    }
    let session: Awaited<ReturnType<Ort['InferenceSession']['create']>> | null = null;
    try {
      session = await ort.InferenceSession.create(model, { executionProviders: [provider], graphOptimizationLevel: 'all' });
      const feeds = { A: new ort.Tensor('float32', a, [n, n]), B: new ort.Tensor('float32', b, [n, n]) };
      let y = (await session.run(feeds)).Y!.data as Float32Array;
      const t0 = performance.now();
      for (let i = 0; i < runs; i++) y = (await session.run(feeds)).Y!.data as Float32Array;
      p.msPerRun = (performance.now() - t0) / runs;
      let err = 0;
      rows.forEach((r, i) => {
        for (let j = 0; j < n; j++) err = Math.max(err, Math.abs(y[r * n + j]! - ref[i]![j]!));
      });
      p.maxAbsError = err;
      p.ok = err < 1e-2;
      if (!p.ok) p.error = `wrong results (max error ${err})`;
    } catch (err) {
      p.error = explain(provider, p.bundled, (err as Error).message.split('\n')[0] ?? '');
    } finally {
      await session?.release().catch(() => {});
    }
  }
  return {
    onnxruntime: ort.env.versions?.common ?? 'unknown',
    platform: `${process.platform}-${process.arch}`,
    providers,
    auto: providers.find((p) => p.ok)?.provider ?? null,
  };
}

/** Whether a Vulkan loader (libvulkan.so.1) is where the dynamic linker looks. */
function hasVulkanLoader(): boolean {
  const dirs = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean),
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu',
    '/usr/lib64',
    '/usr/lib',
    '/lib/x86_64-linux-gnu',
    '/lib64',
    '/usr/local/lib',
  ];
  return dirs.some((d) => existsSync(join(d, 'libvulkan.so.1')));
}

/** What a user can do about a provider that failed. */
function explain(provider: ProviderName, bundled: boolean, message: string): string {
  if (provider === 'cuda' && !bundled && /load shared library/i.test(message)) {
    return `${message}: the CUDA provider is not installed (with CUDA 12: ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node --ignore-scripts=false)`;
  }
  if (provider === 'webgpu' && /adapter/i.test(message)) {
    return "no WebGPU adapter: no GPU, or no Vulkan loader and driver (Linux: the libvulkan1 package and the GPU vendor's Vulkan driver)";
  }
  return message;
}

const resolved = new Map<string, ProviderName>();

/**
 * The execution provider to use for a setting: "auto" tries CUDA, DirectML, CoreML, WebGPU, then CPU,
 * keeping the first that runs a small checked graph; a named provider must work or it is an error.
 * The choice is made once per process and reported through `log`.
 */
export async function resolveProvider(setting: string = 'auto', log?: (line: string) => void): Promise<ProviderName> {
  const seen = resolved.get(setting);
  if (seen) return seen;
  if (setting !== 'auto' && !(PROVIDER_ORDER as readonly string[]).includes(setting)) {
    throw new Error(`unknown execution provider "${setting}" (auto, ${PROVIDER_ORDER.join(', ')})`);
  }
  const order = setting === 'auto' ? PROVIDER_ORDER : [setting as ProviderName];
  const info = await probeProviders({ n: 16, runs: 1, only: [...order] });
  for (const p of info.providers) {
    if (p.ok) {
      log?.(`execution provider: ${p.provider}${setting === 'auto' ? ' (auto)' : ''}`);
      resolved.set(setting, p.provider);
      return p.provider;
    }
    if (setting === 'auto') log?.(`execution provider ${p.provider} not used: ${p.error}`);
  }
  throw new Error(`execution provider "${setting}" does not work here: ${info.providers[0]?.error ?? 'unknown error'}`);
}
