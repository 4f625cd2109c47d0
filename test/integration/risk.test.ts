import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openRepository } from '../../src/git/repository.js';
import { hookStatus, installPrePush, uninstallPrePush } from '../../src/git/hooks.js';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { assertReasonsAgree, riskyHistory } from '../helpers/riskyHistory.js';
import type { RiskReason } from '../../src/tasks/jitdp/reasons.js';

const CLI = resolve('dist/cli.mjs');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));
const run = (cwd: string, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });

test(
  "changeling risk-train then risk: the repository's own model scores commits, ranges and the staged change, with reasons and lines",
  { timeout: 180_000 },
  async () => {
    const r = riskyHistory(240);
    repos.push(r);
    const trained = run(r.dir, 'risk-train', '--json', '--min-commits', '150');
    assert.equal(trained.status, 0, trained.stderr);
    const t = JSON.parse(trained.stdout);
    assert.ok(t.saved.endsWith(join('.git', 'changeling', 'risk-model.json')), t.saved);
    assert.ok(t.test.aucRoc > 0.9, `own model AUC ${t.test.aucRoc}`);
    assert.ok('aucRoc' in t.embeddedDefaultOnTest);
    assert.ok(!r.git('status', '--porcelain').trim(), 'the model lives in the git folder, not the work tree');
    assert.equal(t.adopted, true, t.reason);
    assert.match(
      t.reason,
      /^adopted: it is clearly better than the model in use on validation AUC \([\d.]+ against [\d.]+ for the embedded default; the improvement's 95% lower bound \(DeLong\) is 0\.\d+\)/,
    );
    assert.equal(t.interval.method, 'DeLong');
    assert.ok(t.interval.lower > 0 && t.interval.lower < t.interval.difference, JSON.stringify(t.interval));
    assert.equal(t.riskUses, t.saved);
    // Adoption: --adopt never keeps the model in use; the same data again gives the same model, and a tie keeps
    // the one in use too. Nothing in use is touched either way.
    const before = readFileSync(t.saved);
    const never = JSON.parse(run(r.dir, 'risk-train', '--json', '--min-commits', '150', '--adopt', 'never').stdout);
    assert.deepEqual([never.adopted, never.saved], [false, null]);
    assert.match(
      never.reason,
      /^not adopted: --adopt never; it (is clearly better than|does not beat|is not clearly better than) the model in use on validation AUC/,
    );
    const again = run(r.dir, 'risk-train', '--min-commits', '150');
    assert.equal(again.status, 0, again.stderr);
    assert.match(
      again.stdout,
      /the new model: not adopted: it does not beat the model in use on validation AUC \(([\d.]+) against \1 for this repository's earlier model/,
    );
    assert.match(again.stdout, /nothing saved\n"changeling risk" uses this repository's earlier model/);
    assert.deepEqual(readFileSync(t.saved), before);
    assert.equal(run(r.dir, 'risk-train', '--adopt', 'sometimes').status, 2);

    // The newest risky commit and the newest plain one (risky ones add unsafe_copy).
    const log = r.git('log', '--format=%H %s', '-p', '--no-color').split(/^(?=[0-9a-f]{40} )/m);
    const risky = log.find((c) => /^\+unsafe_copy/m.test(c) && !c.includes(' Fix '))!.slice(0, 40);
    const plain = log.find((c) => /^\+safe_copy/m.test(c) && !/unsafe_copy/.test(c) && !c.includes(' Fix '))!.slice(0, 40);
    const score = (sha: string) => {
      const p = run(r.dir, 'risk', '--commit', sha, '--json', '--fail-on', 'never');
      assert.equal(p.status, 0, p.stderr);
      return JSON.parse(p.stdout);
    };
    const a = score(risky);
    const b = score(plain);
    assert.match(a.model, /risk-model\.json$/);
    assert.equal(a.results.length, 1);
    assert.ok(a.results[0].probability > b.results[0].probability, `${a.results[0].probability} vs ${b.results[0].probability}`);
    assert.equal(a.results[0].level, 'high');
    assert.ok(
      a.results[0].reasons.some((x: RiskReason) => x.parts[0]!.name === 'token +unsafe_copy' && x.points > 0),
      JSON.stringify(a.results[0].reasons),
    );
    // Token reasons are identifiers and keywords a developer can read, never punctuation or numbers.
    const many = JSON.parse(run(r.dir, 'risk', '--commit', risky, '--json', '--fail-on', 'never', '--reasons', '40').stdout);
    const tokens = many.results[0].reasons.filter((x: RiskReason) => x.fact === 'token');
    assert.ok(
      tokens.length > 0 && tokens.every((x: RiskReason) => /^token [+-][a-z_][a-z0-9_]*$/.test(x.parts[0]!.name)),
      JSON.stringify(tokens),
    );
    assertReasonsAgree([a.results[0], b.results[0], many.results[0]]);
    const top = a.results[0].lines[0];
    assert.equal(top.sign, '+');
    assert.match(top.text, /^unsafe_copy/);
    const shown = r.git('show', `${risky}:${top.path}`).split('\n')[top.line - 1];
    assert.equal(shown, top.text, 'the line number points at the line in the new file');
    // Exit code 3 for hooks when something is at or above the level; 0 otherwise.
    assert.equal(run(r.dir, 'risk', '--commit', risky).status, 3);
    assert.equal(run(r.dir, 'risk', '--commit', plain, '--fail-on', 'never').status, 0);
    const human = run(r.dir, 'risk', '--commit', risky);
    assert.match(human.stdout, /^HIGH\s+\d+%/);
    assert.match(human.stdout, /adds "unsafe_copy"/);
    assert.match(human.stdout, /riskiest lines:\n\s+\S+\.c:\d+ \+ unsafe_copy/);

    // A range: every non-merge commit in it, newest first.
    const range = JSON.parse(run(r.dir, 'risk', '--range', 'HEAD~5..HEAD', '--json', '--fail-on', 'never').stdout);
    assert.deepEqual(
      range.results.map((x: { sha: string }) => x.sha),
      r.git('rev-list', 'HEAD~5..HEAD').trim().split('\n'),
    );

    // The staged change, as a would-be commit.
    const empty = run(r.dir, 'risk');
    assert.equal(empty.status, 2);
    assert.match(empty.stderr, /nothing is staged/);
    r.write('src/a.c', readFileSync(join(r.dir, 'src/a.c'), 'utf8') + 'unsafe_copy(buf_new, len);\n');
    // Not code: counted in no feature, and never a riskiest line.
    r.write('NOTES.md', 'unsafe_copy(buf_new, len);\n'.repeat(5)).write('package-lock.json', '{}\n');
    r.git('add', '-A');
    const staged = JSON.parse(run(r.dir, 'risk', '--json', '--fail-on', 'never', '--lines', '20').stdout);
    assert.equal(staged.results[0].sha, null);
    assert.deepEqual([staged.results[0].features.la, staged.results[0].features.nf], [1, 1]);
    assert.ok(
      staged.results[0].lines.length > 0 && staged.results[0].lines.every((l: { path: string }) => l.path === 'src/a.c'),
      JSON.stringify(staged.results[0].lines),
    );
    r.git('reset', '-q');
    r.git('checkout', '-q', '--', '.');
    r.git('clean', '-qfd');

    // A merge is not scored as a change of its own: the commits it brings are, and the output says so.
    r.git('checkout', '-q', '-b', 'topic');
    r.write('src/topic.c', 'unsafe_copy(t, 1);\n');
    const brought = r.commit('topic work');
    r.git('checkout', '-q', 'main');
    r.git('merge', '-q', '--no-ff', '-m', "Merge branch 'topic'", 'topic');
    const merge = r.git('rev-parse', 'HEAD').trim();
    const m = JSON.parse(run(r.dir, 'risk', '--commit', merge, '--json', '--fail-on', 'never').stdout);
    assert.deepEqual(
      m.results.map((x: { sha: string; mergedBy: string }) => [x.sha, x.mergedBy]),
      [[brought, merge]],
    );
    assert.match(
      run(r.dir, 'risk', '--commit', merge, '--fail-on', 'never').stdout,
      new RegExp(
        `^${merge.slice(0, 12)} is a merge: a merge is not scored as a change of its own; the commit it brings:\n\\S+\\s+\\d+%\\s+${brought.slice(0, 12)}`,
      ),
    );

    const ranged = run(r.dir, 'risk', '--range', 'HEAD~1..HEAD', '--fail-on', 'never');
    assert.match(
      ranged.stdout,
      new RegExp(
        `${brought.slice(0, 12)}[\\s\\S]*note: 1 merge in the range is not scored as a change of its own; the commits it brings are\\n`,
      ),
    );
    // Concluding a merge: the staged result is scored as the commits the merge brings.
    r.git('checkout', '-q', '-b', 'topic2', 'HEAD~1');
    r.write('src/topic2.c', 'safe_copy(t, 2);\n');
    const brought2 = r.commit('more topic work');
    r.git('checkout', '-q', 'main');
    r.git('merge', '-q', '--no-ff', '--no-commit', 'topic2');
    const concluding = JSON.parse(run(r.dir, 'risk', '--json', '--fail-on', 'never').stdout);
    assert.deepEqual(
      concluding.results.map((x: { sha: string; mergedBy: string | null }) => [x.sha, x.mergedBy]),
      [[brought2, null]],
    );
    r.git('merge', '--abort');

    // Bad input: a bad range, two targets, a corrupt model file.
    assert.match(run(r.dir, 'risk', '--range', 'nope..HEAD').stderr, /bad range nope\.\.HEAD/);
    assert.equal(run(r.dir, 'risk', '--staged', '--commit', 'HEAD').status, 2);
    const bad = join(tempDir(), 'bad.json');
    writeFileSync(bad, '{"format": "changeling-jitdp-linear/1", "features": {}}');
    assert.match(run(r.dir, 'risk', '--model', bad).stderr, /feature "ns" is missing/);
  },
);

test('A thin history keeps the embedded default, which still scores and explains', { timeout: 60_000 }, async () => {
  const r = TestRepo.init();
  repos.push(r);
  for (let i = 0; i < 6; i++) r.write('a.c', `int v = ${i};\n`).commit(i % 2 ? `Fix bug ${i}` : `change ${i}`);
  const t = run(r.dir, 'risk-train');
  assert.equal(t.status, 1);
  assert.match(t.stderr, /too thin to train on \(\d+ training commits.*keeps using embedded default/);
  assert.ok(!existsSync(join(r.dir, '.git', 'changeling')));
  const p = JSON.parse(run(r.dir, 'risk', '--commit', 'HEAD', '--json', '--fail-on', 'never').stdout);
  assert.equal(p.model, 'embedded default');
  assert.ok(p.results[0].reasons.length > 0);
  assert.ok(p.results[0].reasons.every((x: RiskReason) => x.fact !== 'token' && Number.isFinite(x.points)));
  assertReasonsAgree(p.results);
  assert.ok(p.results[0].probability > 0 && p.results[0].probability < 1);
});

test('A linear model with a line model ranks added lines by it and says which tokens make each line risky', () => {
  const r = TestRepo.init();
  repos.push(r);
  r.write('a.c', 'int a;\n').commit('initial');
  r.write('a.c', 'int a;\nunsafe_copy(buf, len);\nint b = a;\n').commit('copy');
  // The embedded default's commit model with a line model of three tokens and one context feature.
  const base = JSON.parse(readFileSync('models/jitdp-default.json', 'utf8'));
  const file = join(r.dir, '.git', 'lines-model.json');
  const lines = { bias: -2, weights: { '+unsafe_copy': 2, '+buf': 0.5, '+int': -1, '@tokens': 0.1 } };
  writeFileSync(file, JSON.stringify({ ...base, lines }));
  const p = JSON.parse(run(r.dir, 'risk', '--commit', 'HEAD', '--model', file, '--json', '--fail-on', 'never').stdout);
  assert.deepEqual(
    p.results[0].lines.map((l: { line: number; why?: string[] }) => [l.line, l.why]),
    [
      [2, ['token +unsafe_copy', 'token +buf']],
      [3, undefined],
    ],
    'the added lines, riskiest first, each with the tokens that raise it',
  );
  const own = JSON.parse(run(r.dir, 'risk', '--commit', 'HEAD', '--json', '--fail-on', 'never').stdout);
  assert.equal(p.results[0].probability, own.results[0].probability, 'the line model does not change the score');
  assert.ok(own.results[0].lines.length > 0, 'the embedded default ranks lines from the first day');
  assert.match(
    run(r.dir, 'risk', '--commit', 'HEAD', '--model', file, '--fail-on', 'never').stdout,
    /a\.c:2 \+ unsafe_copy\(buf, len\);  \(0\.\d{3}; adds "unsafe_copy", adds "buf"\)/,
  );
  writeFileSync(file, JSON.stringify({ ...base, lines: { ...lines, weights: { '+x': 'heavy' } } }));
  assert.match(run(r.dir, 'risk', '--commit', 'HEAD', '--model', file).stderr, /lines\.weights "\+x" must be a number/);
  writeFileSync(file, JSON.stringify({ ...base, lines: { bias: 0, weights: [] } }));
  assert.match(
    run(r.dir, 'risk', '--commit', 'HEAD', '--model', file).stderr,
    /lines\.weights must map code tokens and line features to weights/,
  );
});

test(
  'The pre-push hook scores outgoing commits, chains the hook that was there, blocks only when configured, and uninstalls cleanly',
  { timeout: 120_000 },
  async () => {
    const remote = TestRepo.init({ bare: true });
    const r = TestRepo.init();
    repos.push(remote, r);
    r.git('remote', 'add', 'origin', remote.dir);
    for (let i = 0; i < 3; i++) r.write('a.c', `int a = ${i};\n`).commit(`change ${i}`);
    r.git('push', '-q', 'origin', 'main');
    // A hook the user had: it records its input and lets the push go on.
    const hooks = join(r.dir, '.git', 'hooks');
    const mine = `#!/bin/sh\necho "$1 $(cat)" >> "${join(r.dir, '.git', 'user-hook-ran')}"\nexit 0\n`;
    writeFileSync(join(hooks, 'pre-push'), mine);
    chmodSync(join(hooks, 'pre-push'), 0o755);
    const repo = await openRepository(r.dir);
    const s = await installPrePush(repo, { node: process.execPath, cli: CLI });
    assert.ok(s.installed && s.chained && s.chainedNow && !s.blocking, JSON.stringify(s));

    // Warn only: the push goes through, the user's hook ran first, and the commit was scored.
    const big = Array.from({ length: 400 }, (_, i) => `int v${i} = ${i};`).join('\n');
    r.write('b.c', big + '\n')
      .write('lib/c.c', big + '\n')
      .write('src/d.c', big + '\n');
    const sha = r.commit('a large change');
    const warned = r.gitResult('push', 'origin', 'main');
    assert.equal(warned.status, 0, warned.stderr);
    // Below the level set (high), one line; at or above it, the full report.
    assert.match(
      warned.stderr,
      new RegExp(
        `HIGH\\s+\\d+%\\s+${sha.slice(0, 12)}\\s+a large change|^changeling: 1 commit scored; the riskiest is (low|medium) \\(\\d+%\\): ${sha.slice(0, 10)} a large change$`,
        'm',
      ),
    );
    const brief = run(r.dir, 'risk', '--range', `${sha}~1..${sha}`, '--brief', '--fail-on', 'never');
    assert.equal(brief.status, 0, brief.stderr);
    assert.match(
      brief.stdout,
      new RegExp(`^changeling: 1 commit scored; the riskiest is (low|medium|high) \\(\\d+%\\): ${sha.slice(0, 10)} a large change\\n$`),
    );
    const full = run(r.dir, 'risk', '--range', `${sha}~1..${sha}`, '--brief', '--fail-on', 'low');
    assert.equal(full.status, 3);
    assert.match(full.stdout, /Reasons|raises|lowers/);
    assert.match(readFileSync(join(r.dir, '.git', 'user-hook-ran'), 'utf8'), new RegExp(`^origin refs/heads/main ${sha}`));
    assert.equal(remote.git('rev-parse', 'main').trim(), sha);

    // Block when configured and the level is reached (low: any commit counts, so the test does not depend on the threshold).
    r.git('config', 'changeling.risk.failOn', 'low');
    await installPrePush(repo, { node: process.execPath, cli: CLI, block: true });
    assert.equal((await hookStatus(repo)).blocking, true);
    r.write('e.c', big + '\n');
    const sha2 = r.commit('another large change');
    const blocked = r.gitResult('push', 'origin', 'main');
    assert.notEqual(blocked.status, 0);
    assert.match(blocked.stderr, /push blocked/);
    assert.equal(remote.git('rev-parse', 'main').trim(), sha, 'the remote did not move');
    // A new branch is scored against what the remote already has.
    const nb = r.gitResult('push', 'origin', `${sha2}:refs/heads/topic`);
    assert.notEqual(nb.status, 0);
    assert.match(nb.stderr, new RegExp(sha2.slice(0, 12)));
    assert.doesNotMatch(nb.stderr, new RegExp(sha.slice(0, 12)), 'commits the remote has are not scored again');
    // Scoring that fails never blocks.
    r.git('config', 'changeling.risk.failOn', 'bogus');
    assert.equal(r.gitResult('push', 'origin', 'main').status, 0);

    const u = await uninstallPrePush(repo);
    assert.deepEqual(u, { removed: true, restored: true, path: join(hooks, 'pre-push') });
    assert.equal(readFileSync(join(hooks, 'pre-push'), 'utf8'), mine, "the user's hook is back, byte for byte");
    assert.ok(!existsSync(join(hooks, 'pre-push.changeling-chained')));
    assert.deepEqual(await uninstallPrePush(repo), { removed: false, restored: false, path: join(hooks, 'pre-push') });
    // The CLI wrapper: install honours core.hooksPath.
    r.git('config', 'core.hooksPath', 'my-hooks');
    const inst = run(r.dir, 'hook', 'install', '--pre-push', '--json');
    assert.equal(inst.status, 0, inst.stderr);
    assert.equal(JSON.parse(inst.stdout).path, join(r.dir, 'my-hooks', 'pre-push'));
    assert.match(run(r.dir, 'hook', 'status').stdout, /Changeling's hook; blocks/);
    assert.equal(run(r.dir, 'hook', 'install').status, 2);
  },
);
