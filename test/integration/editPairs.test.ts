import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openRepository } from '../../src/git/repository.js';
import { EDIT_CAP, clearEdits, editPairs, noteSuggestion, recordCommit } from '../../src/tasks/cmg/editPairs.js';
import { TestRepo, parseLineHistory, tempDir } from '../helpers/gitRepo.js';
import { writeTinyQwen2 } from '../helpers/tinyModels.js';

const CLI = resolve('dist/cli.mjs');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));
const run = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { cwd, encoding: 'utf8' });

test('edit pairs: a noted suggestion pairs with the next commit on top of its HEAD, once; elsewhere or unasked it does not', async () => {
  const r = TestRepo.init();
  repos.push(r);
  r.write('a.txt', 'one\n').commit('First');
  const data = join(r.dir, '.git', 'changeling');
  let repo = await openRepository(r.dir);
  assert.equal(await noteSuggestion(repo, { suggested: 'Add two', via: 'vscode', writer: 'test' }), true);
  assert.equal(await recordCommit(repo), null, 'not committed yet: nothing to pair');
  assert.ok(existsSync(join(data, 'edits-pending.json')), 'the note waits');
  r.write('a.txt', 'one\ntwo\n').commit('Add the second line\n\nBecause two.');
  const pair = await recordCommit(repo);
  assert.equal(pair?.suggested, 'Add two');
  assert.equal(pair?.committed, 'Add the second line\n\nBecause two.');
  assert.equal(pair?.sha, r.git('rev-parse', 'HEAD').trim());
  assert.equal(await recordCommit(repo), null, 'recorded once');
  assert.equal((await editPairs(data)).length, 1);
  // A commit that is not on top of the HEAD it was suggested for (the user switched branches): dropped.
  repo = await openRepository(r.dir);
  await noteSuggestion(repo, { suggested: 'Something', via: 'hook', writer: 'test' });
  r.git('checkout', '-q', '-b', 'other', 'HEAD~1');
  r.write('b.txt', 'b\n').commit('Elsewhere');
  assert.equal(await recordCommit(repo), null);
  assert.ok(!existsSync(join(data, 'edits-pending.json')), 'the stale note is gone');
  // Off by git config: nothing is noted.
  r.git('config', 'changeling.messages.learnFromEdits', 'false');
  assert.equal(await noteSuggestion(await openRepository(r.dir), { suggested: 'x', via: 'hook', writer: 't' }), false);
  r.git('config', '--unset', 'changeling.messages.learnFromEdits');
  // The cap: the newest EDIT_CAP kept, the oldest dropped; a damaged line is skipped.
  const old = Array.from({ length: EDIT_CAP }, (_, i) =>
    JSON.stringify({ sha: `s${i}`, suggested: 'a', committed: 'b', at: '', via: 'hook', writer: '' }),
  );
  writeFileSync(join(data, 'edits.jsonl'), ['{broken', ...old].join('\n') + '\n');
  repo = await openRepository(r.dir);
  await noteSuggestion(repo, { suggested: 'Add c', via: 'vscode', writer: 'test' });
  r.write('c.txt', 'c\n').commit('Add c');
  assert.ok(await recordCommit(repo));
  const kept = await editPairs(data);
  assert.equal(kept.length, EDIT_CAP);
  assert.equal(kept[0]!.sha, 's1', 'the oldest went');
  assert.equal(kept.at(-1)!.committed, 'Add c');
  assert.equal(await clearEdits(repo), EDIT_CAP);
  assert.deepEqual(await editPairs(data), []);
});

test(
  'edit pairs through the hooks: the suggestion the prepare-commit-msg hook put in and the message committed, in every worktree; chained, off, cleared, uninstalled',
  { timeout: 240_000 },
  async () => {
    const r = parseLineHistory(repos);
    const hooks = join(r.dir, '.git', 'hooks');
    const marker = join(r.dir, '.git', 'user-post-commit-ran');
    writeFileSync(join(hooks, 'post-commit'), `#!/bin/sh\necho ran >> "${marker}"\n`);
    chmodSync(join(hooks, 'post-commit'), 0o755);
    const llm = writeTinyQwen2(join(tempDir(), 'qwen2-chat'));
    const installed = run(r.dir, 'hook', 'install', '--prepare-commit-msg', '--model', llm);
    assert.equal(installed.status, 0, installed.stderr);
    assert.match(run(r.dir, 'hook', 'status').stdout, /post-commit: Changeling's hook, chaining the previous one/);
    // The editor replaces the suggested subject with the user's own words.
    const editor = join(r.dir, '.git', 'editor.sh');
    const seen = join(r.dir, '.git', 'seen');
    writeFileSync(editor, `#!/bin/sh\nhead -n 1 "$1" > "${seen}"\nsed -i '1s/.*/Draw wide rectangles in the renderer/' "$1"\n`);
    chmodSync(editor, 0o755);
    r.write('src/render.js', 'canvas.drawRect(x1, y1, width, height);\n');
    r.git('add', '-A');
    const c = r.gitResult('-c', `core.editor=${editor}`, 'commit', '-q');
    assert.equal(c.status, 0, c.stderr);
    const suggested = readFileSync(seen, 'utf8').trim();
    assert.ok(suggested.length > 0, 'the model put a message in');
    const j = JSON.parse(run(r.dir, 'edits', '--json').stdout);
    assert.equal(j.pairs, 1);
    assert.equal(j.recent[0].suggested.split('\n')[0], suggested);
    assert.equal(j.recent[0].committed, 'Draw wide rectangles in the renderer');
    assert.equal(j.recent[0].via, 'hook');
    assert.equal(readFileSync(marker, 'utf8'), 'ran\n', "the user's post-commit hook ran");
    // -m: no suggestion, no pair.
    r.write('src/render.js', 'canvas.drawRect(x2, y2, width, height);\n');
    r.git('add', '-A');
    r.git('commit', '-q', '-m', 'My own words');
    assert.equal(JSON.parse(run(r.dir, 'edits', '--json').stdout).pairs, 1);
    // A linked worktree shares the pairs (the git common folder).
    const wt = join(tempDir(), 'wt');
    r.git('worktree', 'add', '-q', '-b', 'side', wt);
    writeFileSync(join(wt, 'notes.txt'), 'side work\n');
    spawnSync('git', ['add', '-A'], { cwd: wt });
    const w = spawnSync('git', ['-c', `core.editor=${editor}`, 'commit', '-q'], { cwd: wt, encoding: 'utf8' });
    assert.equal(w.status, 0, w.stderr);
    assert.equal(JSON.parse(run(wt, 'edits', '--json').stdout).pairs, 2);
    assert.equal(JSON.parse(run(r.dir, 'edits', '--json').stdout).pairs, 2);
    // Off: the commit is made, nothing is recorded.
    r.git('config', 'changeling.messages.learnFromEdits', 'false');
    r.write('src/render.js', 'canvas.drawRect(x3, y3, width, height);\n');
    r.git('add', '-A');
    assert.equal(r.gitResult('-c', `core.editor=${editor}`, 'commit', '-q').status, 0);
    const off = run(r.dir, 'edits');
    assert.match(off.stdout, /^2 suggested messages paired with what you committed/);
    assert.match(off.stdout, /recording is off/);
    assert.match(run(r.dir, 'edits', '--clear').stdout, /forgot 2 recorded edits/);
    assert.equal(JSON.parse(run(r.dir, 'edits', '--json').stdout).pairs, 0);
    // Uninstalling puts the user's post-commit hook back, exactly.
    assert.equal(run(r.dir, 'hook', 'uninstall', '--prepare-commit-msg').status, 0);
    assert.equal(readFileSync(join(hooks, 'post-commit'), 'utf8'), `#!/bin/sh\necho ran >> "${marker}"\n`);
  },
);
