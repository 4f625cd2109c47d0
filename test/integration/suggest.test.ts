import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openRepository } from '../../src/git/repository.js';
import { installHook, uninstallHook, hookStatus } from '../../src/git/hooks.js';
import { MessageModel } from '../../src/tasks/cmg/generate.js';
import { sentenceBleu, splitPuncts } from '../../src/eval/cmgMetrics.js';
import { suggestMessages } from '../../src/tasks/cmg/suggest.js';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { writeTinyQwen2, writeTinyT5 } from '../helpers/tinyModels.js';
import '../helpers/goldens.js';

const CLI = resolve('dist/cli.mjs');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));
const run = (cwd: string, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });

/** A history of distinct kinds of change, each kind with its own files, words and message. */
function history(): TestRepo {
  const r = TestRepo.init();
  repos.push(r);
  const kinds = [
    { file: 'src/parser.js', line: (i: number) => `const token${i} = lexer.next(json, depth);`, msg: 'Add JSON token to the parser' },
    {
      file: 'src/render.js',
      line: (i: number) => `canvas.drawRect(x${i}, y${i}, width, height);`,
      msg: 'Fix rectangle drawing in the renderer',
    },
    {
      file: 'docs/guide.md',
      line: (i: number) => `See the section on configuration option ${i} for details.`,
      msg: 'Document configuration options',
    },
  ];
  for (let i = 0; i < 15; i++) {
    const k = kinds[i % 3]!;
    r.write(k.file, `${readOr(r, k.file)}${k.line(i)}\n`).commit(`${k.msg} (${i})`);
  }
  return r;
}
const readOr = (r: TestRepo, f: string) => {
  try {
    return readFileSync(join(r.dir, f), 'utf8');
  } catch {
    return '';
  }
};

test(
  'changeling suggest with no model: NNGen finds the most similar change in the history and the style is applied',
  { timeout: 60_000 },
  async () => {
    const r = history();
    r.write('src/render.js', readOr(r, 'src/render.js') + 'canvas.drawRect(x99, y99, width, height);\n');
    r.git('add', '-A');
    const p = run(r.dir, 'suggest', '--json', '-n', '3');
    assert.equal(p.status, 0, p.stderr);
    const s = JSON.parse(p.stdout);
    assert.equal(s.target, 'staged');
    assert.equal(s.indexed, 15);
    assert.equal(s.candidates[0].source, 'nngen');
    assert.match(s.candidates[0].message, /^Fix rectangle drawing in the renderer \(\d+\)$/);
    assert.ok(
      s.candidates.length <= 3 && new Set(s.candidates.map((c: { message: string }) => c.message)).size === s.candidates.length,
      'distinct',
    );
    const human = run(r.dir, 'suggest', '-n', '2');
    assert.match(
      human.stdout,
      /^Suggestions for the staged change \(1 files; NNGen over 15 earlier commits\):\n {2}1\. Fix rectangle drawing/,
    );
    assert.match(human.stdout, /nngen: like [0-9a-f]{10} \(words of the diffs \d+% alike, their lines \d+%\)/);
    assert.match(human.stdout, /style \(from 15 subjects\): Conventional Commits 0%, capitalised 100%, imperative 100%/);

    // A commit is described from the history before it, never by its own message.
    const head = r.git('rev-parse', 'HEAD').trim();
    const c = JSON.parse(run(r.dir, 'suggest', '--commit', 'HEAD', '--json').stdout);
    assert.ok(c.candidates.every((x: { detail: string }) => !x.detail.includes(head.slice(0, 10))));
    assert.equal(c.indexed, 14);
    assert.match(c.candidates[0].message, /^Document configuration options/);

    // Nothing staged: a clear error; a one-commit repository: no neighbours yet, still a clean answer.
    r.git('reset', '-q');
    const empty = run(r.dir, 'suggest');
    assert.equal(empty.status, 2);
    assert.match(empty.stderr, /nothing is staged/);
    const one = TestRepo.init();
    repos.push(one);
    one.write('a.txt', 'a\n').commit('Initial commit');
    one.write('b.txt', 'b\n');
    one.git('add', '-A');
    const lone = run(one.dir, 'suggest', '--json');
    assert.equal(lone.status, 0, lone.stderr);
    assert.equal(JSON.parse(lone.stdout).indexed, 1);
  },
);

test("A CodeT5-style model adds n-best beam candidates (tiny random T5 with CodeT5's tokenizer)", { timeout: 180_000 }, async () => {
  const r = history();
  r.write('src/parser.js', readOr(r, 'src/parser.js') + 'const token99 = lexer.next(json, depth);\n');
  r.git('add', '-A');
  const dir = writeTinyT5(join(tempDir(), 'tiny-t5'));
  const model = await MessageModel.create(dir, { maxInput: 64 });
  const input = model.prepare((await (await import('../../src/git/staged.js')).stagedDiff(await openRepository(r.dir))).files);
  assert.ok(input.inputIds.length <= 64 && input.text.startsWith('<file> modified src/parser.js\n'));
  const gen = await model.generate(input, { beams: 4, n: 3, maxNewTokens: 8 });
  assert.ok(gen.length >= 1 && gen.length <= 3);
  assert.equal(new Set(gen.map((g) => g.message.toLowerCase())).size, gen.length, 'distinct');
  for (let i = 1; i < gen.length; i++) assert.ok(gen[i - 1]!.score >= gen[i]!.score, 'ranked by beam score');
  const s = await suggestMessages(await openRepository(r.dir), { kind: 'staged' }, { model, n: 3, style: false });
  assert.ok(s.candidates.some((c) => c.source === 'model') && s.candidates.some((c) => c.source === 'nngen'));
  assert.equal(s.candidates.find((c) => c.source === 'nngen')!.message.replace(/ \(\d+\)$/, ''), 'Add JSON token to the parser');
  // The CLI runs the same model.
  const p = run(r.dir, 'suggest', '--model', dir, '-n', '2', '--json', '--no-style');
  assert.equal(p.status, 0, p.stderr);
  assert.ok(JSON.parse(p.stdout).candidates.some((c: { source: string }) => c.source === 'model'));
  assert.equal(run(r.dir, 'suggest', '--adapter', dir).status, 2);
});

test(
  "The prepare-commit-msg hook: a model writes a plain git commit's message; without one, earlier messages are only comments; -m is never touched; the hook that was there is chained",
  { timeout: 180_000 },
  async () => {
    const r = history();
    const hooks = join(r.dir, '.git', 'hooks');
    writeFileSync(join(hooks, 'prepare-commit-msg'), `#!/bin/sh\necho "$2" >> "${join(r.dir, '.git', 'user-hook-ran')}"\n`);
    chmodSync(join(hooks, 'prepare-commit-msg'), 0o755);
    const repo = await openRepository(r.dir);
    const s = await installHook(repo, 'prepare-commit-msg', { node: process.execPath, cli: CLI });
    assert.ok(s.installed && s.chainedNow);
    r.write('src/render.js', readOr(r, 'src/render.js') + 'canvas.drawRect(x77, y77, width, height);\n');
    r.git('add', '-A');
    // No model: the editor opens on no message, with the earlier commits' messages as comments said to be theirs.
    const seen = join(r.dir, '.git', 'seen-message');
    const editor = join(r.dir, '.git', 'editor.sh');
    writeFileSync(editor, `#!/bin/sh\ncp "$1" "${seen}"\n`);
    chmodSync(editor, 0o755);
    const empty = r.gitResult('-c', `core.editor=${editor}`, 'commit', '-q');
    assert.notEqual(empty.status, 0, 'git refuses the empty message');
    const file = readFileSync(seen, 'utf8');
    assert.equal(file.split('\n')[0], '', 'no message was put in');
    assert.match(
      file,
      /^# Messages of similar earlier commits \(theirs, not a description of this change\):\n#   [0-9a-f]{10} Fix rectangle drawing in the renderer \(\d+\)$/m,
    );
    // With a message model (here a tiny random code LLM, chosen at install): its message is the commit's.
    const llm = writeTinyQwen2(join(tempDir(), 'qwen2-chat'));
    const withModel = run(r.dir, 'hook', 'install', '--prepare-commit-msg', '--model', llm);
    assert.equal(withModel.status, 0, withModel.stderr);
    assert.match(withModel.stdout, /written by .*qwen2-chat/);
    assert.equal(r.git('config', 'changeling.messages.model').trim(), llm);
    const done = r.gitResult('-c', `core.editor=${editor}`, 'commit', '-q');
    assert.equal(done.status, 0, done.stderr);
    const message = r.git('log', '-1', '--format=%B');
    assert.ok(message.trim().length > 0);
    assert.equal(message.split('\n')[0], readFileSync(seen, 'utf8').split('\n')[0], "the model's subject, as the editor showed it");
    assert.doesNotMatch(message, /Changeling|earlier commits/, 'the alternatives were comments, stripped by git');
    r.write('src/render.js', readOr(r, 'src/render.js') + 'canvas.drawRect(x78, y78, width, height);\n');
    r.git('add', '-A');
    r.git('-c', 'core.editor=true', 'commit', '-q', '-m', 'My own words');
    assert.equal(r.git('log', '-1', '--format=%B').trim(), 'My own words');
    assert.equal(readFileSync(join(r.dir, '.git', 'user-hook-ran'), 'utf8'), '\n\nmessage\n', "the user's hook ran first every time");
    assert.equal(run(r.dir, 'hook', 'uninstall', '--prepare-commit-msg').status, 0);
    assert.equal(r.gitResult('config', 'changeling.messages.model').status, 1, 'uninstall forgets the model');
    assert.match(readFileSync(join(hooks, 'prepare-commit-msg'), 'utf8'), /user-hook-ran/);
    assert.equal((await hookStatus(repo, 'prepare-commit-msg')).installed, false);
    const cli = run(r.dir, 'hook', 'install', '--prepare-commit-msg');
    assert.equal(cli.status, 0, cli.stderr);
    assert.match(cli.stdout, /installed the prepare-commit-msg hook .*the hook that was there runs first/);
    assert.equal(run(r.dir, 'hook', 'install', '--prepare-commit-msg', '--block').status, 2);
    assert.match(
      run(r.dir, 'hook', 'install', '--prepare-commit-msg', '--server', 'http://10.0.0.1:11434').stderr,
      /must be on this machine/,
    );
    assert.match(run(r.dir, 'hook', 'install', '--prepare-commit-msg', '--model', r.dir).stderr, /is not a model folder/);
  },
);

test('changeling eval cmg: metrics of one message per line, with clear errors', () => {
  const d = tempDir();
  writeFileSync(join(d, 'pred.txt'), 'Fix bug\nfixes crash widgets\n');
  writeFileSync(join(d, 'gold.txt'), 'fix the bug\nfix crash for widgets\n');
  const p = run(d, 'eval', 'cmg', '--pred', 'pred.txt', '--gold', 'gold.txt', '--json');
  assert.equal(p.status, 0, p.stderr);
  const m = JSON.parse(p.stdout);
  assert.equal(m.n, 2);
  const second = sentenceBleu([splitPuncts('fix crash for widgets')], splitPuncts('fixes crash widgets'));
  assert.ok(Math.abs(m.bnormBleu - (100 * (Math.exp(Math.log(0.5) / 4 - 1 / 3) + second)) / 2) < 1e-9, `${m.bnormBleu}`);
  assert.match(
    run(d, 'eval', 'cmg', '--pred', 'pred.txt', '--gold', 'pred.txt').stdout,
    /B-Norm\s+100\.00\nROUGE-L\s+100\.00\nMETEOR\s+100\.00/,
  );
  writeFileSync(join(d, 'short.txt'), 'one line\n');
  const bad = run(d, 'eval', 'cmg', '--pred', 'pred.txt', '--gold', 'short.txt');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /pred\.txt has 2 lines but short\.txt has 1/);
  assert.match(run(d, 'eval', 'cmg', '--pred', 'pred.txt').stderr, /needs --gold FILE/);
  // JSON Lines pairs: messages with a body, scored whole and by their subjects.
  const pairs = [
    { pred: 'Fix crash\n\nThe parser read past the end.', gold: 'Fix crash in parser\n\nIt read past the end of input.' },
    { pred: 'Add tests', gold: 'Add tests' },
  ];
  writeFileSync(join(d, 'pairs.jsonl'), pairs.map((x) => JSON.stringify(x)).join('\n') + '\n');
  const j = JSON.parse(run(d, 'eval', 'cmg', '--pred', 'pairs.jsonl', '--json').stdout);
  assert.equal(j.n, 2);
  assert.equal(j.exactMatch2, 100, 'both references start with the same two words as their predictions');
  assert.ok(j.editSim > 50 && j.editSim < 100 && j.chrF > 0 && j.subject.editSim !== j.editSim, JSON.stringify(j));
  assert.match(run(d, 'eval', 'cmg', '--pred', 'pairs.jsonl').stdout, /EditSim\s+\d+\.\d\d\n[\s\S]*subject ExactMatch@2\s+100\.00\n/);
  writeFileSync(join(d, 'bad.jsonl'), '{"pred": "x", "gold": 3}\n');
  assert.match(run(d, 'eval', 'cmg', '--pred', 'bad.jsonl').stderr, /bad\.jsonl:1: "pred" and "gold" must be strings/);
});
