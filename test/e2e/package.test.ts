import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { ZipFile } from '../../src/models/zipFile.js';
import { RUNTIME_TARGETS } from '../../src/runtime/platformRuntime.js';

// The packages `npm run package -- --proposed linux-x64` wrote (the e2e command runs it first).
const DIST = resolve('dist');
const BINARIES = 'extension/node_modules/onnxruntime-node/bin/napi-v6/';

async function contents(file: string) {
  const z = await ZipFile.open(resolve(DIST, file));
  try {
    const names = [...z.entries.keys()];
    const manifest = JSON.parse((await z.read('extension/package.json')).toString('utf8')) as Record<string, any>;
    const vsix = (await z.read('extension.vsixmanifest')).toString('utf8');
    return { names, manifest, vsix };
  } finally {
    await z.close();
  }
}

function commonChecks(file: string, c: Awaited<ReturnType<typeof contents>>) {
  for (const n of c.names) {
    assert.ok(!/^extension\/(out|test|src|bench|scripts|\.ci)\//.test(n), `${file}: ${n} is not part of the extension`);
    assert.ok(!/\.(map|ts|py)$/.test(n), `${file}: ${n} (sources, maps and scripts stay out)`);
  }
  for (const m of readdirSync('models')) assert.ok(c.names.includes(`extension/models/${m}`), `${file}: the embedded ${m} is missing`);
  for (const f of [
    'extension/dist/extension.js',
    'extension/dist/cli.mjs',
    'extension/media/icon.png',
    'extension/LICENSE.txt',
    'extension/CHANGELOG.md',
    'extension/readme.md',
  ]) {
    assert.ok(
      c.names.some((n) => n.toLowerCase() === f.toLowerCase()),
      `${file}: ${f} is missing`,
    );
  }
}

test('one package per platform, each with only its own onnxruntime binary, publishable as it is (no proposed API)', async () => {
  for (const target of RUNTIME_TARGETS) {
    const file = `changeling-${target}.vsix`;
    const c = await contents(file);
    commonChecks(file, c);
    const [platform, arch] = target.split('-');
    const binaries = c.names.filter((n) => n.startsWith(BINARIES));
    assert.ok(
      binaries.some((n) => n === `${BINARIES}${platform}/${arch}/onnxruntime_binding.node`),
      `${file} has its binary`,
    );
    assert.deepEqual(
      binaries.filter((n) => !n.startsWith(`${BINARIES}${platform}/${arch}/`)),
      [],
      `${file} has no other platform's binary`,
    );
    assert.equal(c.manifest.enabledApiProposals, undefined, `${file} declares no proposed API`);
    assert.equal(c.manifest.contributes.menus['scm/inputBox'], undefined);
    assert.match(c.vsix, new RegExp(`TargetPlatform="${target}"`));
    assert.ok(c.manifest.repository?.url && c.manifest.icon && !c.manifest.icon.endsWith('.svg'), 'what vsce publish asks for');
  }
});

test('the target-less package has no binary; the proposed-API flavour adds the ✨ inside the message box', async () => {
  const u = await contents('changeling-universal.vsix');
  commonChecks('changeling-universal.vsix', u);
  assert.deepEqual(
    u.names.filter((n) => n.startsWith(BINARIES)),
    [],
  );
  assert.doesNotMatch(u.vsix, /TargetPlatform=/);
  const p = await contents('changeling-linux-x64-proposed.vsix');
  commonChecks('changeling-linux-x64-proposed.vsix', p);
  assert.deepEqual(p.manifest.enabledApiProposals, ['contribSourceControlInputBoxMenu']);
  assert.ok(p.manifest.contributes.menus['scm/inputBox']);
});
