import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { OUTPUT_MARKER, fileTarget, folderTarget, removeOwned, writeOutputFolder } from '../../src/util/outputTarget.js';
import { writeFileAtomic } from '../../src/util/atomicFile.js';

/**
 * What a writer may do with the path it was given: never delete or replace what Changeling did not write.
 * Every command with --out or --report goes through the refusal cases; the policy module itself through
 * the rest (markers, user files beside ours, symlinks, FIFOs, devices).
 */
const CLI = resolve('dist/cli.mjs');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

function repo(): TestRepo {
  const r = TestRepo.init();
  repos.push(r);
  for (let i = 0; i < 4; i++) r.write('a.c', `int a = ${i};\n`).commit(i === 3 ? 'Fix the crash' : `Change ${i}`);
  r.write('work.txt', 'uncommitted work\n');
  return r;
}

const run = (cwd: string, env: Record<string, string>, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', ...env },
  });

/** Every file below `dir` with its content: what must not change. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[p] = readFileSync(p, 'latin1');
    }
  };
  walk(dir);
  return out;
}

test('every command with a folder output refuses ".", a repository, the home folder, a foreign non-empty folder and a file, and removes nothing', () => {
  const r = repo();
  const home = tempDir('changeling-home-');
  writeFileSync(join(home, '.bashrc'), 'keep\n');
  const foreign = tempDir();
  writeFileSync(join(foreign, 'notes.md'), 'my notes\n');
  const file = join(tempDir(), 'notes.md');
  writeFileSync(file, 'a file\n');
  const commands = (out: string) => [
    ['export', '--task', 'jitdp', '--out', out],
    ['train', '--model', '/nonexistent', '--method', 'lora', '--data', '/nonexistent.jsonl', '--out', out],
    ['risk-train', '--model', 'cc2vec', '--out', out],
    ['finetune', '--task', 'cmg', '--method', 'lora', '--report', out],
    ['probe', '--model', '/nonexistent', '--task', 'ccm', '--report', out],
  ];
  const before = snapshot(r.dir);
  const others = { ...snapshot(home), ...snapshot(foreign), ...snapshot(file.replace(/\/notes\.md$/, '')) };
  for (const [out, why] of [
    ['.', /it is a git repository or work tree \(it holds \.git\)/],
    [r.dir, /it is a git repository or work tree/],
    [home, /it is your home folder/],
    [foreign, /it is not empty and Changeling did not write it \(it has no \.changeling-output\.json\)/],
    [file, /it is a file, and a folder is needed here/],
  ] as const) {
    for (const args of commands(out)) {
      const p = run(r.dir, { HOME: home }, ...args);
      assert.equal(p.status, 2, `${args.join(' ')}: ${p.stderr}`);
      const lines = p.stderr.trim().split('\n');
      assert.equal(lines.length, 1, p.stderr);
      assert.match(lines[0]!, /^changeling: refusing to write (--out|--report) into /, args.join(' '));
      assert.match(lines[0]!, why, args.join(' '));
      assert.match(lines[0]!, /nothing was written or removed$/);
    }
  }
  assert.deepEqual(snapshot(r.dir), before, 'the repository and its uncommitted work are untouched');
  assert.deepEqual({ ...snapshot(home), ...snapshot(foreign), ...snapshot(file.replace(/\/notes\.md$/, '')) }, others);
});

test('file outputs: a folder is refused, a symlink is followed (the link stays), a FIFO and /dev/null are written into', () => {
  const r = repo();
  const dir = tempDir();
  for (const args of [
    ['mine', '--quiet', '--out', dir],
    ['risk-train', '--out', dir],
  ]) {
    const p = run(r.dir, {}, ...args);
    assert.equal(p.status, 2, p.stderr);
    assert.match(p.stderr, /^changeling: --out .* is a folder; a file name is needed here \(nothing was written\)\n$/);
  }
  const target = join(dir, 'target.jsonl');
  writeFileSync(target, 'old\n');
  const link = join(dir, 'link.jsonl');
  symlinkSync(target, link);
  assert.equal(run(r.dir, {}, 'mine', '--quiet', '--out', link).status, 0);
  assert.ok(lstatSync(link).isSymbolicLink(), 'the symlink is still a symlink');
  assert.equal(readlinkSync(link), target);
  assert.equal(readFileSync(target, 'utf8').split('\n').filter(Boolean).length, 4, 'the target holds the dataset');
  // A FIFO is written into as a shell redirection would (its reader gets everything), never replaced.
  const fifo = join(dir, 'fifo');
  spawnSync('mkfifo', [fifo]);
  const p = spawnSync('sh', ['-c', `cat "${fifo}" > "${dir}/got" & "${process.execPath}" "${CLI}" mine --quiet --out "${fifo}"; wait`], {
    cwd: r.dir,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });
  assert.equal(p.status, 0, p.stderr);
  assert.ok(lstatSync(fifo).isFIFO(), 'the FIFO is still a FIFO');
  assert.equal(readFileSync(join(dir, 'got'), 'utf8').split('\n').filter(Boolean).length, 4);
  assert.equal(run(r.dir, {}, 'mine', '--quiet', '--out', '/dev/null').status, 0);
  assert.equal(fileTarget('/dev/null').stream, true);
});

test('a folder output: marker lists what Changeling wrote; a file the user adds beside it stays; a stale one of ours goes', async () => {
  const base = tempDir();
  const out = join(base, 'out');
  await writeOutputFolder(out, async (d) => {
    await writeFileAtomic(join(d, 'a.txt'), 'a1\n');
    await writeFileAtomic(join(d, 'b.txt'), 'b1\n');
  });
  assert.deepEqual(JSON.parse(readFileSync(join(out, OUTPUT_MARKER), 'utf8')).files, ['a.txt', 'b.txt']);
  writeFileSync(join(out, 'mine.txt'), 'the user wrote this\n');
  await writeOutputFolder(out, async (d) => {
    await writeFileAtomic(join(d, 'a.txt'), 'a2\n');
    await writeFileAtomic(join(d, 'c.txt'), 'c2\n');
  });
  assert.deepEqual(readdirSync(out).sort(), [OUTPUT_MARKER, 'a.txt', 'c.txt', 'mine.txt']);
  assert.equal(readFileSync(join(out, 'a.txt'), 'utf8'), 'a2\n');
  assert.equal(readFileSync(join(out, 'mine.txt'), 'utf8'), 'the user wrote this\n');
  // Only ours again: the new folder replaces the old one whole.
  writeFileSync(join(out, 'mine.txt'), '');
  await writeOutputFolder(out, async (d) => writeFileAtomic(join(d, 'a.txt'), 'a3\n'));
  assert.ok(existsSync(join(out, 'mine.txt')), 'a user file stays even when empty');
  // A failing writer leaves the folder as it was, and nothing beside it.
  await assert.rejects(
    writeOutputFolder(out, async () => {
      throw new Error('disk full');
    }),
  );
  assert.equal(readFileSync(join(out, 'a.txt'), 'utf8'), 'a3\n');
  assert.deepEqual(readdirSync(base), ['out']);
  // A symlink to a folder is followed: the rules are the target's.
  const real = join(base, 'real');
  mkdirSync(real);
  symlinkSync(real, join(base, 'link'));
  await writeOutputFolder(join(base, 'link'), async (d) => writeFileAtomic(join(d, 'x.txt'), 'x\n'));
  assert.ok(lstatSync(join(base, 'link')).isSymbolicLink());
  assert.equal(readFileSync(join(real, 'x.txt'), 'utf8'), 'x\n');
  // A marker that names paths outside the folder is not a marker.
  writeFileSync(join(out, OUTPUT_MARKER), JSON.stringify({ files: ['../../etc/passwd'] }));
  assert.throws(() => folderTarget(out), /Changeling did not write it/);
  // Removing state: only strictly inside the state folder.
  await assert.rejects(removeOwned(base, join(base, 'out')), /outside/);
  await assert.rejects(removeOwned(join(base, 'out'), join(base, 'out')), /outside/);
});
