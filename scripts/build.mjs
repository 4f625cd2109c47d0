// Builds the extension bundle (CommonJS, as VS Code loads it), the CLI and benchmark bundles (ES modules),
// and with --tests the test bundles. onnxruntime-node (native) and vscode stay external.
import { build } from 'esbuild';
import { readdirSync, readFileSync, statSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

const args = new Set(process.argv.slice(2));
const production = args.has('--production');
const external = ['vscode', 'onnxruntime-node'];
const esmBanner = {
  js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
};
// Cached ONNX graphs are keyed by the code that builds them: a hash of the graph, model and runtime sources.
const builderHash = createHash('sha256');
for (const dir of ['src/graph', 'src/models', 'src/runtime']) {
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.ts')) builderHash.update(f).update(readFileSync(join(dir, f)));
}
const define = { __GRAPH_BUILDER_HASH__: JSON.stringify(builderHash.digest('hex').slice(0, 16)) };
const common = { bundle: true, platform: 'node', target: 'node20', sourcemap: production ? false : 'linked', logLevel: 'warning', define };

function walk(dir, pred) {
  let out = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(walk(p, pred));
    else if (pred(p)) out.push(p);
  }
  return out;
}

const jobs = [
  build({ ...common, entryPoints: ['src/extension.ts'], outfile: 'dist/extension.js', format: 'cjs', external }),
  build({
    ...common,
    entryPoints: ['src/cli.ts'],
    outfile: 'dist/cli.mjs',
    format: 'esm',
    external,
    banner: { js: '#!/usr/bin/env node\n' + esmBanner.js },
  }),
  build({
    ...common,
    entryPoints: ['bench/bench.ts'],
    outfile: 'dist/bench.mjs',
    format: 'esm',
    // node-llama-cpp (the llama.cpp peer, a dev dependency) loads its native binary from its own package.
    external: [...external, 'playwright-core', 'node-llama-cpp'],
    banner: esmBanner,
  }),
];

if (args.has('--tests')) {
  rmSync('out', { recursive: true, force: true });
  const nodeTests = walk('test', (p) => p.endsWith('.test.ts') && !p.startsWith(join('test', 'vscode')));
  jobs.push(
    build({
      ...common,
      entryPoints: nodeTests,
      outdir: 'out/test',
      outbase: 'test',
      outExtension: { '.js': '.mjs' },
      format: 'esm',
      packages: 'external',
      banner: esmBanner,
    }),
    // Tests that run inside the VS Code extension host (mocha, loaded by the smoke-test driver).
    build({
      ...common,
      entryPoints: ['test/vscode/index.ts'],
      outfile: 'out/test/vscode/index.js',
      format: 'cjs',
      external: [...external, 'mocha'],
    }),
  );
}

await Promise.all(jobs);
