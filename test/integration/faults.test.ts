import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { encodeSafetensors } from '../../src/models/safetensors.js';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { GOLDENS } from '../helpers/goldens.js';
import { writeTinyT5 } from '../helpers/tinyModels.js';

/**
 * The hostile user's fault table, as tests: each row is something a user can do to the CLI that once
 * went wrong (truncated files, options smuggled in as values, escape sequences, absurd settings, models
 * that do not fit together, a closed pipe, a full disk). Each must end in one clear line (or quietly),
 * with nothing written that should not be.
 */
const CLI = resolve('dist/cli.mjs');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));
const run = (cwd: string, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });
const oneLine = (stderr: string) => stderr.trim().split('\n').filter(Boolean);

function repo(): TestRepo {
  const r = TestRepo.init();
  repos.push(r);
  for (let i = 0; i < 3; i++) r.write('a.txt', `${i}\n`).commit(`Change ${i}`);
  return r;
}

test('revisions and ranges are values, never options: a file named in them is never written', () => {
  const r = repo();
  const victim = join(tempDir(), 'victim.txt');
  writeFileSync(victim, 'keep me\n');
  for (const args of [
    ['mine', '--repo', r.dir, '--quiet', '--rev=--output=' + victim],
    ['risk', '--range', `HEAD~1..HEAD --output=${victim}`],
    ['features', `--range=--output=${victim}`],
    ['show', `--commit=--output=${victim}`],
  ]) {
    const p = run(r.dir, ...args);
    assert.notEqual(p.status, 0, args.join(' '));
    assert.equal(oneLine(p.stderr).length, 1, p.stderr);
    assert.match(p.stderr, /^changeling: not a revision/, args.join(' '));
    assert.equal(readFileSync(victim, 'utf8'), 'keep me\n', args.join(' '));
  }
  assert.match(
    run(r.dir, 'show', '--commit', 'HEAD~2..HEAD').stderr,
    /one commit is needed here, not the range "HEAD~2\.\.HEAD" \(for a range use --range\)/,
  );
  const since = run(r.dir, 'mine', '--since', 'garbage', '--out', join(tempDir(), 'x.jsonl'));
  assert.equal(since.status, 2);
  assert.match(since.stderr, /--since needs a date/);
  // What a range may name: revisions, and --not/--remotes as the pre-push hook uses them.
  assert.equal(run(r.dir, 'risk', '--range', 'HEAD --not --remotes=origin', '--json').status, 0);
  // Scoring the staged change without a git user says what that means; a change without code says so too.
  r.write('a.txt', 'staged\n').write('a.c', 'int staged;\n');
  r.git('add', '-A');
  r.git('config', 'user.email', '');
  r.git('config', 'user.name', '');
  assert.match(run(r.dir, 'risk').stdout, /no user\.name here, so the staged change is scored as a first-time author's/);
  r.git('rm', '-q', '--cached', 'a.c');
  const docs = run(r.dir, 'risk', '--fail-on', 'never').stdout;
  assert.match(
    docs,
    /note: it changes no code file \(only documentation, data, configuration or generated files\), so nothing in it counts towards risk\n/,
  );
  assert.doesNotMatch(docs, /reasons \(/);
});

test('names and messages with escape sequences, tabs and huge subjects are shown escaped and cut; JSON keeps them whole', () => {
  const r = repo();
  const evil = 'evil\x1b[2J\x1b]0;pwned\x07\tname.txt';
  r.write(evil, 'x\n');
  const subject = `Subject with \x1b[31mred\x1b[0m and ${'x'.repeat(5000)}`;
  r.commit(subject);
  const show = run(r.dir, 'show', '--commit', 'HEAD');
  assert.equal(show.status, 0, show.stderr);
  assert.ok(!show.stdout.includes('\x1b') && !show.stdout.includes('\x07'), JSON.stringify(show.stdout.slice(0, 300)));
  assert.match(show.stdout, /evil\\x1b\[2J\\x1b\]0;pwned\\x07\\tname\.txt/);
  assert.ok(
    show.stdout.split('\n').every((l) => l.length < 400),
    'no line runs on',
  );
  const json = JSON.parse(run(r.dir, 'show', '--commit', 'HEAD', '--json').stdout);
  assert.ok(JSON.stringify(json).includes('pwned'));
  const sug = run(r.dir, 'suggest', '--commit', 'HEAD');
  assert.ok(!sug.stdout.includes('\x1b'));
  // An error message that quotes a value quotes it safely.
  const bad = run(r.dir, 'show', '--commit', 'no\x1b[2Jsuch');
  assert.ok(!bad.stderr.includes('\x1b'), JSON.stringify(bad.stderr));
});

test('a closed pipe ends the output quietly', () => {
  const r = repo();
  for (let i = 0; i < 300; i++) r.write(`f${i % 7}.txt`, `${i}\n`).commit(`Commit number ${i}`);
  const out = execSync(
    `node ${JSON.stringify(CLI)} mine --repo ${JSON.stringify(r.dir)} --quiet 2>&1 | head -c 100; echo " status=\${PIPESTATUS[0]}"`,
    { shell: '/bin/bash', encoding: 'utf8' },
  );
  assert.match(out, / status=0\s*$/);
  assert.ok(!/EPIPE|Error/.test(out), out);
});

test('absurd settings and token ids are refused in one line, before anything is allocated', () => {
  const spec = join(tempDir(), 'spec.json');
  const model = join(GOLDENS, 't5-tiny');
  for (const [body, want] of [
    [{ input_ids: [[5, 99999]] }, /outside this model's vocabulary/],
    [{ input_ids: [[5, -3]] }, /outside this model's vocabulary/],
    [{ input_ids: [[5, 6]], generate: { num_beams: 1000000 } }, /num_beams must be a whole number from 1 to 64/],
    [{ input_ids: [[5, 6]], generate: { max_new_tokens: 1e9 } }, /max_new_tokens must be a whole number from 1 to 1024/],
  ] as const) {
    writeFileSync(spec, JSON.stringify(body));
    const p = run(process.cwd(), 'inspect', '--model', model, '--input', spec);
    assert.equal(p.status, 2, p.stderr);
    assert.equal(oneLine(p.stderr).length, 1, p.stderr);
    assert.match(p.stderr, want);
  }
  const r = repo();
  assert.match(run(r.dir, 'suggest', '--beams', '1000000').stderr, /--beams must be from 1 to 64/);
});

test('models that do not fit together are refused with the reason: sizes, weight shapes, tokenizers, adapters', async () => {
  const base = join(tempDir(), 'broken');
  const copy = (to: string) => {
    mkdirSync(to, { recursive: true });
    for (const f of readdirSync(join(GOLDENS, 't5-tiny'))) copyFileSync(join(GOLDENS, 't5-tiny', f), join(to, f));
    return to;
  };
  const r = repo();
  r.write('b.txt', 'b\n');
  r.git('add', '-A');
  // A config with a zero size.
  const zero = copy(join(base, 'zero'));
  writeFileSync(join(zero, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(zero, 'config.json'), 'utf8')), d_model: 0 }));
  let p = run(r.dir, 'suggest', '--model', zero);
  assert.match(p.stderr, /d_model must be a whole number from 1/);
  // Weights of another size than the config says.
  const shape = copy(join(base, 'shape'));
  writeFileSync(join(shape, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(shape, 'config.json'), 'utf8')), d_ff: 256 }));
  const spec = join(tempDir(), 's.json');
  writeFileSync(spec, JSON.stringify({ input_ids: [[5, 6, 7]] }));
  p = run(r.dir, 'inspect', '--model', shape, '--input', spec);
  assert.match(p.stderr, /has shape \[128, 64\] but config\.json says \[256, 64\]/);
  assert.equal(oneLine(p.stderr).length, 1);
  // A tokenizer with more ids than the model has embeddings (the tiny T5 with CodeT5's tokenizer files).
  const mixed = copy(join(base, 'mixed'));
  for (const f of ['tokenizer.json', 'vocab.json', 'merges.txt']) copyFileSync(join(GOLDENS, 'tokenizers', 'codet5', f), join(mixed, f));
  p = run(r.dir, 'suggest', '--model', mixed);
  assert.match(p.stderr, /the tokenizer has 32100 ids but the model only 512 embeddings/);
  // A LoRA adapter for another model size, and one whose rank disagrees with its tensors.
  const t5 = writeTinyT5(join(base, 'tiny'));
  const lora = join(base, 'lora');
  mkdirSync(lora, { recursive: true });
  const tensors: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const m of ['q', 'v']) {
    tensors[`base_model.model.encoder.block.0.layer.0.SelfAttention.${m}.lora_A.weight`] = { shape: [4, 32], data: new Float32Array(128) };
    tensors[`base_model.model.encoder.block.0.layer.0.SelfAttention.${m}.lora_B.weight`] = { shape: [32, 4], data: new Float32Array(128) };
  }
  writeFileSync(join(lora, 'adapter_model.safetensors'), encodeSafetensors(tensors, { format: 'pt' }));
  writeFileSync(
    join(lora, 'adapter_config.json'),
    JSON.stringify({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q', 'v'], task_type: 'SEQ_2_SEQ_LM' }),
  );
  p = run(r.dir, 'suggest', '--model', t5, '--adapter', lora);
  assert.match(p.stderr, /has LoRA shapes A \[4, 32\], B \[32, 4\] but this model and the adapter's rank 4 need A \[4, 64\], B \[64, 4\]/);
  writeFileSync(
    join(lora, 'adapter_config.json'),
    JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 8, target_modules: ['q', 'v'], task_type: 'SEQ_2_SEQ_LM' }),
  );
  p = run(r.dir, 'suggest', '--model', t5, '--adapter', lora);
  assert.match(p.stderr, /rank 8 need/);
  // An ONNX Runtime failure never reaches the user raw.
  assert.ok(!/Non-zero status code|at .*backend\.js/.test(p.stderr));
});

test('a full disk during mine leaves no partial file and says so (tmpfs where root can mount one)', (t) => {
  const mnt = join(tempDir(), 'small');
  mkdirSync(mnt);
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]).status === 0;
  if (!mounted) {
    t.skip('cannot mount a tmpfs here (needs root): the full-disk case is covered by the hub test with a reported free space');
    return;
  }
  try {
    const r = repo();
    for (let i = 0; i < 200; i++) r.write('big.txt', `${'line '.repeat(50)}${i}\n`.repeat(5)).commit(`Big ${i}`);
    const out = join(mnt, 'history.jsonl');
    const p = run(r.dir, 'mine', '--repo', r.dir, '--quiet', '--out', out);
    assert.equal(p.status, 1, p.stderr);
    assert.match(p.stderr, /disk full|disk is full/);
    assert.equal(oneLine(p.stderr).length, 1, p.stderr);
    assert.deepEqual(readdirSync(mnt), [], 'no partial or temporary file');
    assert.ok(!existsSync(out));
  } finally {
    spawnSync('umount', [mnt]);
  }
});

/** A risk model file as the embedded default is, with `patch` applied (a crafted or corrupt one). */
function craftedRiskModel(dir: string, patch: (m: Record<string, any>) => void): string {
  const m = JSON.parse(readFileSync(resolve('models/jitdp-default.json'), 'utf8')) as Record<string, any>;
  patch(m);
  const p = join(dir, `model-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, JSON.stringify(m).replace(/"__NaN__"/g, 'NaN'));
  return p;
}

test('numbers: a crafted risk model (NaN threshold, inverted Platt slope, threshold above 1) is refused in one line; bad options are usage errors', () => {
  const r = repo();
  r.write('a.c', 'int x;\n');
  r.git('add', '-A');
  const dir = tempDir();
  for (const [patch, why] of [
    [(m: Record<string, any>) => (m.threshold = 1.5), /the decision threshold must be a number above 0 and at most/],
    [(m: Record<string, any>) => (m.platt = { a: -2, b: 0 }), /the Platt slope must be a number above 0, not -2/],
    [(m: Record<string, any>) => (m.threshold = 0), /the decision threshold must be/],
    [(m: Record<string, any>) => (m.features.ns.std = -1), /the scaling deviations\[0\] must be a number at least 0, not -1/],
  ] as const) {
    const p = run(r.dir, 'risk', '--model', craftedRiskModel(dir, patch));
    assert.equal(p.status, 1, p.stderr);
    assert.equal(oneLine(p.stderr).length, 1, p.stderr);
    assert.match(p.stderr, why);
    assert.doesNotMatch(p.stdout, /NaN/);
  }
  // JSON has no NaN: a NaN written by another tool reads as null.
  const nan = craftedRiskModel(dir, (m) => (m.threshold = null));
  assert.match(run(r.dir, 'risk', '--model', nan).stderr, /the decision threshold must be a number .*, not null/);
  for (const [args, why] of [
    [['export', '--task', 'jitdp', '--out', join(dir, 'x'), '--max', '0'], /--max must be from 1/],
    [['export', '--task', 'jitdp', '--out', join(dir, 'y'), '--repo', r.dir, '--repo', r.dir], /is given twice \(--repo\)/],
    [
      ['train', '--model', dir, '--method', 'lora', '--data', nan, '--out', join(dir, 'z'), '--lr', '5'],
      /--lr must be a number above 0 and at most 1, not 5/,
    ],
    [
      ['train', '--model', dir, '--method', 'lora', '--data', nan, '--out', join(dir, 'z'), '--clip=-1'],
      /--clip must be a number at least 0/,
    ],
    [['finetune', '--task', 'cmg', '--lr', 'NaN'], /--lr needs a number above 0 and at most 1, not "NaN"/],
  ] as const) {
    const p = run(r.dir, ...args);
    assert.equal(p.status, 2, `${args.join(' ')}: ${p.stderr}`);
    assert.match(p.stderr, why);
  }
});

test('numbers: an adapter whose scale overflows or whose weights are NaN is refused on load, never run', () => {
  const r = repo();
  const base = tempDir();
  const t5 = writeTinyT5(join(base, 'tiny'));
  const lora = join(base, 'lora');
  mkdirSync(lora);
  const t = (n: number, fill = 0) => ({ shape: n === 0 ? [8, 64] : [64, 8], data: new Float32Array(512).fill(fill) });
  writeFileSync(
    join(lora, 'adapter_model.safetensors'),
    encodeSafetensors(
      {
        'base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight': t(0),
        'base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_B.weight': t(1),
      },
      { format: 'pt' },
    ),
  );
  writeFileSync(join(lora, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 1e39, target_modules: ['q'] }));
  let p = run(r.dir, 'suggest', '--model', t5, '--adapter', lora);
  assert.equal(p.status, 1, p.stderr);
  assert.match(p.stderr, /"lora_alpha" must be a number above 0 and at most 1000000, not 1e\+39/);
  writeFileSync(join(lora, 'adapter_config.json'), JSON.stringify({ peft_type: 'LORA', r: 8, lora_alpha: 16, target_modules: ['q'] }));
  writeFileSync(
    join(lora, 'adapter_model.safetensors'),
    encodeSafetensors(
      {
        'base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_A.weight': t(0, NaN),
        'base_model.model.encoder.block.0.layer.0.SelfAttention.q.lora_B.weight': t(1),
      },
      { format: 'pt' },
    ),
  );
  p = run(r.dir, 'suggest', '--model', t5, '--adapter', lora);
  assert.equal(p.status, 1, p.stderr);
  assert.match(p.stderr, /holds NaN at 0; the adapter is broken/);
});

test('reads: a FIFO, /dev/zero or a folder given as a file is refused in one line (no hang, no unbounded read)', () => {
  const r = repo();
  r.write('a.txt', 'staged\n');
  r.git('add', '-A');
  const dir = tempDir();
  const fifo = join(dir, 'fifo');
  spawnSync('mkfifo', [fifo]);
  for (const args of [
    ['eval', 'jitdp', '--pred', '/dev/zero'],
    ['eval', 'jitdp', '--pred', fifo],
    ['features', '--commits', fifo],
    ['risk', '--model', '/dev/zero'],
    ['train', '--model', writeTinyT5(join(dir, 'tiny')), '--method', 'lora', '--data', fifo, '--out', join(dir, 'o')],
    ['probe', '--model', dir, '--task', '/dev/zero'],
    ['suggest', '--hook-file', fifo],
  ]) {
    const p = spawnSync(process.execPath, [CLI, ...args], {
      cwd: r.dir,
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
    });
    assert.notEqual(p.signal, 'SIGTERM', `${args.join(' ')} hung`);
    assert.equal(p.status, 1, `${args.join(' ')}: ${p.stderr}`);
    assert.equal(oneLine(p.stderr).length, 1, p.stderr);
    assert.match(p.stderr, /is (a FIFO \(named pipe\)|a device|a folder|not a regular file)/, args.join(' '));
  }
});

test('output: stdout on a full disk ends with exit 1 and one line; a bidi override from a repository reaches the terminal escaped', () => {
  const r = repo();
  const full = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" mine --quiet > /dev/full`], {
    cwd: r.dir,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });
  assert.equal(full.status, 1, full.stderr);
  assert.match(full.stderr, /^changeling: could not write the output \(the disk is full\); what was printed is incomplete\n$/);
  // EPIPE into head stays quiet and successful.
  const head = spawnSync('sh', ['-c', `"${process.execPath}" "${CLI}" mine --quiet | head -c 10 >/dev/null`], {
    cwd: r.dir,
    encoding: 'utf8',
  });
  assert.equal(head.stderr, '');
  r.write('b.txt', 'x\n').commit('Fix \u202egnp.exe\u202c and \x1b]0;title\x07');
  const show = run(r.dir, 'show', '--commit', 'HEAD');
  assert.equal(show.status, 0, show.stderr);
  assert.doesNotMatch(show.stdout, /[\u202a-\u202e\u2066-\u2069\x1b\x07]/);
  assert.match(show.stdout, /Fix \\u202egnp\.exe\\u202c and \\x1b\]0;title\\x07/);
});

test('limits: a 42 KB typed prefix is cut to what the model reads and said so; a 1 MB one-word subject is scored in linear time', () => {
  const r = repo();
  const t5 = writeTinyT5(join(tempDir(), 'tiny'));
  r.write('a.c', 'int y;\n');
  r.git('add', '-A');
  const p = run(r.dir, 'suggest', '--model', t5, '--prefix', 'fix '.repeat(10_500), '--no-style');
  assert.equal(p.status, 0, p.stderr);
  assert.match(p.stderr, /note: the typed message is longer than the model reads \(\d+ tokens\): the model sees its last \d+ tokens/);
  // A graph cache that cannot be written (EPERM under /sys, even for root): runs without caching and says "read-only".
  const ro = spawnSync(process.execPath, [CLI, 'suggest', '--model', t5, '--no-style'], {
    cwd: r.dir,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', CHANGELING_GRAPH_CACHE: '/sys/changeling-graphs' },
  });
  assert.equal(ro.status, 0, ro.stderr);
  assert.match(ro.stderr, /note: the graph cache \/sys\/changeling-graphs is read-only: running without caching/);
  assert.doesNotMatch(ro.stderr, /no such file/);
  r.git('reset', '-q');
  // Messages too long for a command line: committed from a file.
  for (const [i, msg] of [`${'a'.repeat(1 << 20)}@b${'.c'.repeat(1000)}`, 'x'.repeat(1 << 20)].entries()) {
    const file = join(tempDir(), 'message');
    writeFileSync(file, msg);
    r.write('a.c', `int w${i};\n`);
    r.git('add', '-A');
    r.git('commit', '-q', '-F', file);
  }
  for (const rev of ['HEAD', 'HEAD~1']) {
    const q = spawnSync(process.execPath, [CLI, 'risk', '--commit', rev, '--json'], {
      cwd: r.dir,
      encoding: 'utf8',
      timeout: 60_000,
      maxBuffer: 1 << 26,
    });
    assert.equal(q.status, 0, q.stderr);
  }
});

test('signals: SIGTERM stops a long run like Ctrl-C: exit 143, no temporary file or lock left behind', async () => {
  const r = TestRepo.init();
  repos.push(r);
  r.fastHistory(3000, 40);
  const out = join(tempDir(), 'h.jsonl');
  const child = spawn(process.execPath, [CLI, 'mine', '--quiet', '--out', out], {
    cwd: r.dir,
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1' },
  });
  let stderr = '';
  child.stderr.on('data', (b) => (stderr += b));
  // Wait for the temporary file to appear, then stop the run.
  for (let i = 0; i < 200 && !readdirSync(join(out, '..')).some((n) => n.endsWith('.tmp')); i++)
    await new Promise((res) => setTimeout(res, 25));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  assert.equal(code, 143, stderr);
  assert.match(stderr, /changeling: cancelled; nothing was written/);
  assert.deepEqual(readdirSync(join(out, '..')), [], 'no partial or temporary file');
});
