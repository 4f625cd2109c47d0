// Packages the extension: one VSIX per platform onnxruntime-node ships a binary for (each with only its own
// binary), a target-less VSIX (no binary: history-based suggestions and the built-in risk model work, and it
// says on activation that models need the platform's package), and with --proposed the flavour for VS Code
// Insiders or `--enable-proposed-api`: the same with the ✨ button inside the commit message box (a menu that
// is still a proposed API, which the Marketplace does not accept).
//
//   node scripts/package.mjs [--target T]... [--universal] [--proposed T]... [--no-standard] [--no-build]
//
// With no --target: every target and the target-less package; --proposed T adds the flavour for T. Output: dist/changeling-<target>.vsix,
// dist/changeling-universal.vsix, dist/changeling-<target>-proposed.vsix.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const TARGETS = {
  'linux-x64': 'linux/x64',
  'linux-arm64': 'linux/arm64',
  'win32-x64': 'win32/x64',
  'win32-arm64': 'win32/arm64',
  'darwin-arm64': 'darwin/arm64',
};
const BINARIES = 'node_modules/onnxruntime-node/bin/napi-v6';

/** What the proposed-API flavour adds to the published manifest. */
export function proposedManifest(pkg) {
  const m = structuredClone(pkg);
  m.enabledApiProposals = ['contribSourceControlInputBoxMenu'];
  m.contributes.menus['scm/inputBox'] = [
    { command: 'changeling.suggestMessage', when: 'scmProvider == git && config.changeling.messages.inputBoxButton' },
  ];
  const props =
    m.contributes.configuration.properties ?? m.contributes.configuration.find((c) => c.properties['changeling.messages.model']).properties;
  props['changeling.messages.inputBoxButton'] = {
    type: 'boolean',
    default: true,
    markdownDescription:
      'Show the ✨ button inside the commit message box (this build uses the proposed menu for it; the button in the Source Control title bar works everywhere).',
  };
  return m;
}

const args = process.argv.slice(2);
const valuesOf = (flag) => args.flatMap((a, i) => (a === flag ? [args[i + 1]] : []));
const targets = valuesOf('--target');
const proposed = valuesOf('--proposed');
for (const t of [...targets, ...proposed])
  if (!(t in TARGETS)) throw new Error(`unknown target ${t} (one of ${Object.keys(TARGETS).join(', ')})`);
// --no-standard: only the proposed flavours asked for.
const standard = !args.includes('--no-standard');
const all = standard && targets.length === 0 && !args.includes('--universal');
const chosen = !standard ? [] : all ? Object.keys(TARGETS) : targets;
const universal = standard && (all || args.includes('--universal'));

if (!args.includes('--no-build')) execFileSync(process.execPath, ['scripts/build.mjs', '--production'], { stdio: 'inherit' });
const baseIgnore = readFileSync('.vscodeignore', 'utf8');
const vsce = join('node_modules', '.bin', process.platform === 'win32' ? 'vsce.cmd' : 'vsce');

/** vsce package with no --allow-* flag; a warning (what `vsce publish` would stop and ask about) fails the build. */
function pack(target, out, ignoreExtra, { warningsAllowed = false } = {}) {
  const ignoreFile = join('dist', `.vscodeignore-${target ?? 'universal'}`);
  writeFileSync(ignoreFile, baseIgnore + ignoreExtra);
  const t0 = Date.now();
  const r = spawnSync(
    vsce,
    ['package', ...(target ? ['--target', target] : []), '--ignoreFile', ignoreFile, '--readme-path', 'docs/marketplace.md', '-o', out],
    { encoding: 'utf8' },
  );
  rmSync(ignoreFile);
  if (r.status !== 0) throw new Error(`vsce package failed for ${out}:\n${r.stderr}${r.stdout}`);
  if (!warningsAllowed && /WARNING/.test(r.stderr + r.stdout))
    throw new Error(`vsce warned while packaging ${out} (vsce publish would stop there):\n${r.stderr}${r.stdout}`);
  console.log(`${out}: ${(statSync(out).size / 2 ** 20).toFixed(1)} MiB (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}

const binaryOf = (target) => `\n!${BINARIES}/${TARGETS[target]}/**\n`;
for (const t of chosen) pack(t, `dist/changeling-${t}.vsix`, binaryOf(t));
if (universal) pack(null, 'dist/changeling-universal.vsix', '');

if (proposed.length) {
  // vsce reads ./package.json: the flavour's manifest stands in for it while packaging, then the original is back.
  const original = readFileSync('package.json', 'utf8');
  const backup = 'package.json.packaging-backup';
  writeFileSync(backup, original);
  try {
    writeFileSync('package.json', JSON.stringify(proposedManifest(JSON.parse(original)), null, 2) + '\n');
    for (const t of proposed) pack(t, `dist/changeling-${t}-proposed.vsix`, binaryOf(t), { warningsAllowed: true });
  } finally {
    writeFileSync('package.json', original);
    rmSync(backup);
  }
}
