import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execSync, spawnSync } from 'node:child_process';
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
  assert.doesNotMatch(docs, /reasons \(effect/);
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
