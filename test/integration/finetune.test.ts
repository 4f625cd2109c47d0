import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openRepository } from '../../src/git/repository.js';
import { finetuneCmg } from '../../src/tasks/finetune/cmg.js';
import { readAdapter } from '../../src/peft/files.js';
import { TestRepo, tempDir, twoKindsHistory } from '../helpers/gitRepo.js';
import { riskyHistory } from '../helpers/riskyHistory.js';
import { writeTinyRoberta, writeTinyT5 } from '../helpers/tinyModels.js';
import '../helpers/goldens.js';
import { HubServer } from '../helpers/hubServer.js';
import { readProfile } from '../../src/tasks/cmg/profile.js';

const CLI = resolve('dist/cli.mjs');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));
const emptyCache = tempDir();
const run = (cwd: string, ...args: string[]) =>
  spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', CHANGELING_MODEL_CACHE: emptyCache },
  });

test(
  "finetune --task cmg: LoRA on the repository's history, evaluated against the untuned model and NNGen, adopted, used by suggest; a cancelled run resumes",
  { timeout: 300_000 },
  async () => {
    const r = twoKindsHistory(repos, 60);
    const model = writeTinyT5(join(tempDir(), 'tiny-t5'));
    // Cancelled after a few steps: the checkpoint stays, nothing is adopted.
    const repo = await openRepository(r.dir);
    const ac = new AbortController();
    let seen = 0;
    await assert.rejects(
      finetuneCmg(repo, {
        task: 'cmg',
        method: 'lora',
        model,
        quick: true,
        epochs: 20,
        lr: 5e-3,
        signal: ac.signal,
        adopt: 'always',
        onEvent: (e) => {
          if (e.kind === 'step' && ++seen === 12) ac.abort();
        },
      }),
      /cancel/i,
    );
    const work = join(r.dir, '.git', 'changeling', 'finetune-cmg');
    assert.ok(existsSync(join(work, 'lora.checkpoint.safetensors')), 'a checkpoint was kept');
    assert.ok(!existsSync(join(r.dir, '.git', 'changeling', 'cmg-model.json')), 'nothing adopted');
    const runsDir = join(r.dir, '.git', 'changeling', 'adapters', 'cmg');
    assert.ok(
      !existsSync(runsDir) || readdirSync(runsDir).every((n) => !existsSync(join(runsDir, n, 'adapter_model.safetensors'))),
      'no half-written adapter',
    );

    const report = join(tempDir(), 'report');
    const p = run(
      r.dir,
      'finetune',
      '--task',
      'cmg',
      '--method',
      'lora',
      '--model',
      model,
      '--quick',
      '--epochs',
      '20',
      '--lr',
      '5e-3',
      '--adopt',
      'always',
      '--report',
      report,
      '--json',
      '--json-events',
    );
    assert.equal(p.status, 0, p.stderr.slice(-2000));
    const res = JSON.parse(p.stdout);
    assert.match(
      p.stderr,
      /resumed from the checkpoint at step 12\b/,
      'the second run resumed where the first stopped (checkpoints every 6 steps here)',
    );
    assert.equal(res.adopted, true);
    assert.deepEqual(Object.keys(res.test).sort(), ['nngen', 'tuned', 'untuned']);
    for (const m of Object.values(res.test) as Array<{ bnormBleu: number; rougeL: number; meteor: number }>)
      assert.ok([m.bnormBleu, m.rougeL, m.meteor].every(Number.isFinite));
    assert.ok(res.losses.length > 0 && res.losses.at(-1).loss < res.losses[0].loss, 'the loss went down');
    // The adapter is PEFT's format, the report has every part, the checkpoint is gone.
    const adapter = await readAdapter(res.out);
    assert.equal(adapter.config.peft_type, 'LORA');
    assert.ok([...adapter.weights.keys()].every((k) => /^base_model\.model\..*lora_[AB]\.weight$/.test(k)));
    assert.ok(!existsSync(join(work, 'lora.checkpoint.safetensors')));
    const md = readFileSync(join(report, 'report.md'), 'utf8');
    for (const part of [
      '## Validation',
      '## Test',
      'B-Norm BLEU',
      '| tuned |',
      '| untuned |',
      '| nngen |',
      '## Training loss',
      '## Examples',
      'Adopted',
    ])
      assert.ok(md.includes(part), part);
    assert.match(readFileSync(join(report, 'report.html'), 'utf8'), /<svg[^>]+aria-label="training loss"/);
    assert.equal(JSON.parse(readFileSync(join(report, 'report.json'), 'utf8')).task, 'cmg');

    // suggest now uses the adopted model (and NNGen); --nngen-only does not.
    r.write('src/parser.js', readFileSync(join(r.dir, 'src/parser.js'), 'utf8') + 'const token999 = lexer.next(json);\n');
    r.git('add', '-A');
    const s = JSON.parse(run(r.dir, 'suggest', '--json', '-n', '2').stdout);
    assert.ok(
      s.candidates.some((c: { source: string }) => c.source === 'model+adapter'),
      JSON.stringify(s.candidates),
    );
    assert.ok(
      JSON.parse(run(r.dir, 'suggest', '--json', '--nngen-only').stdout).candidates.every((c: { source: string }) => c.source === 'nngen'),
    );
    // Bottleneck adapters generate too: trained, adopted, and used by suggest.
    const ad = run(
      r.dir,
      'finetune',
      '--task',
      'cmg',
      '--method',
      'adapter',
      '--model',
      model,
      '--quick',
      '--epochs',
      '3',
      '--lr',
      '5e-3',
      '--adopt',
      'always',
      '--json',
    );
    assert.equal(ad.status, 0, ad.stderr.slice(-2000));
    assert.equal((await readAdapter(JSON.parse(ad.stdout).out)).config.peft_type, 'CHANGELING_BOTTLENECK');
    assert.ok(
      JSON.parse(run(r.dir, 'suggest', '--json', '-n', '2').stdout).candidates.some(
        (c: { source: string }) => c.source === 'model+adapter',
      ),
    );
    // Bad input: a method that cannot generate, no model, a thin history.
    // Prefix-tuning (the study's form: every attention) trains, is adopted and generates.
    const pf = run(
      r.dir,
      'finetune',
      '--task',
      'cmg',
      '--method',
      'prefix',
      '--model',
      model,
      '--quick',
      '--epochs',
      '2',
      '--lr',
      '5e-3',
      '--adopt',
      'always',
      '--json',
    );
    assert.equal(pf.status, 0, pf.stderr.slice(-2000));
    assert.equal((await readAdapter(JSON.parse(pf.stdout).out)).config.peft_type, 'CHANGELING_PREFIX');
    assert.ok(
      JSON.parse(run(r.dir, 'suggest', '--json', '-n', '2').stdout).candidates.some(
        (c: { source: string }) => c.source === 'model+adapter',
      ),
    );
    assert.match(
      run(r.dir, 'finetune', '--task', 'cmg').stderr,
      /download the default one first \("changeling download JetBrains-Research\/cmg-codet5-with-history"/,
    );
    const thin = TestRepo.init();
    repos.push(thin);
    thin.write('a', '1\n').commit('one');
    assert.match(run(thin.dir, 'finetune', '--task', 'cmg', '--model', model).stderr, /too thin/);
  },
);

test(
  'finetune --task cmg starts from the downloaded CommitChronicle model and trains in its format, with history, the adapter carrying the profile',
  { timeout: 300_000 },
  async () => {
    const r = twoKindsHistory(repos, 60);
    r.git('config', 'user.email', 'dev@example.com');
    // The catalogue's default message model, served by a local hub (a tiny random T5 stands in for it).
    const hub = await new HubServer().start();
    try {
      const tiny = writeTinyT5(join(tempDir(), 'tiny'));
      hub.repos.set('JetBrains-Research/cmg-codet5-with-history', {
        commit: 'c'.repeat(40),
        files: new Map(
          ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt', 'tokenizer.json'].map((f) => [f, readFileSync(join(tiny, f))]),
        ),
      });
      const cache = tempDir();
      const env = { ...process.env, GIT_CONFIG_GLOBAL: '/dev/null', GIT_CONFIG_NOSYSTEM: '1', CHANGELING_MODEL_CACHE: cache };
      // Asynchronously: the hub answers from this process.
      const dl = await promisify(execFile)(
        process.execPath,
        [CLI, 'download', 'JetBrains-Research/cmg-codet5-with-history', '--endpoint', hub.endpoint],
        { encoding: 'utf8', env },
      );
      assert.equal((await readProfile(dl.stdout.trim()))?.inputFormat, 'commitchronicle');
      const p = spawnSync(process.execPath, [CLI, 'finetune', '--task', 'cmg', '--quick', '--epochs', '2', '--adopt', 'never', '--json'], {
        cwd: r.dir,
        encoding: 'utf8',
        env,
      });
      assert.equal(p.status, 0, p.stderr.slice(-2000));
      const res = JSON.parse(p.stdout);
      assert.equal(res.model, dl.stdout.trim(), 'the downloaded default model');
      assert.equal(res.adopted, false);
      assert.match(p.stderr, /input format commitchronicle/);
      // Training rows in the model's format: CommitChronicle ids, the author's history read but not scored.
      const rows = readFileSync(join(r.dir, '.git', 'changeling', 'finetune-cmg', 'train.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      const later = rows.at(-1);
      assert.equal(later.input_ids[0], 1);
      assert.equal(later.decoder_input_ids.length, later.labels.length);
      assert.ok(later.labels.includes(-100), 'history positions are masked');
      assert.deepEqual(later.decoder_input_ids.slice(0, 2), [0, 1]);
      const profile = await readProfile(res.out);
      assert.equal(profile?.inputFormat, 'commitchronicle');
      assert.equal(profile?.history, 'author');
    } finally {
      await hub.stop();
    }
  },
);

test(
  'finetune is a transaction: a run that is not adopted leaves the adopted adapter alone, one run at a time, a checkpoint of another run is not resumed',
  { timeout: 300_000 },
  async () => {
    const r = twoKindsHistory(repos, 60);
    const model = writeTinyT5(join(tempDir(), 'tiny-t5'));
    const first = run(r.dir, 'finetune', '--task', 'cmg', '--model', model, '--quick', '--epochs', '2', '--adopt', 'always', '--json');
    assert.equal(first.status, 0, first.stderr.slice(-2000));
    const record = join(r.dir, '.git', 'changeling', 'cmg-model.json');
    const adopted = JSON.parse(readFileSync(record, 'utf8'));
    const bytes = () => readFileSync(join(adopted.adapter, 'adapter_model.safetensors')).toString('base64');
    const before = bytes();
    // --adopt never: a new folder of its own; the adopted adapter and its record do not change.
    const second = run(
      r.dir,
      'finetune',
      '--task',
      'cmg',
      '--model',
      model,
      '--quick',
      '--epochs',
      '2',
      '--lr',
      '1e-2',
      '--adopt',
      'never',
      '--json',
    );
    assert.equal(second.status, 0, second.stderr.slice(-2000));
    assert.notEqual(JSON.parse(second.stdout).out, adopted.adapter);
    assert.deepEqual(JSON.parse(readFileSync(record, 'utf8')), adopted);
    assert.equal(bytes(), before);
    // Another run holding the lock (a live process): refused, naming it; a stale lock is taken over.
    const locks = join(r.dir, '.git', 'changeling', 'locks');
    const sleeper = spawn('sleep', ['30']);
    try {
      writeFileSync(
        join(locks, 'cmg.lock'),
        JSON.stringify({ pid: sleeper.pid, what: 'changeling finetune --task cmg --method lora', started: '2026-12-01T00:00:00Z' }),
      );
      const busy = run(r.dir, 'finetune', '--task', 'cmg', '--model', model, '--quick', '--epochs', '1', '--json');
      assert.equal(busy.status, 2);
      assert.match(
        busy.stderr,
        new RegExp(`another run is busy with this repository: changeling finetune --task cmg --method lora \\(process ${sleeper.pid}`),
      );
    } finally {
      sleeper.kill();
    }
    writeFileSync(join(locks, 'cmg.lock'), JSON.stringify({ pid: 999999, what: 'a run that died', started: '2026-12-01T00:00:00Z' }));
    // A checkpoint left by a run with other settings is not resumed: the run says why it starts fresh.
    const work = join(r.dir, '.git', 'changeling', 'finetune-cmg');
    writeFileSync(join(work, 'lora.checkpoint.safetensors'), 'not ours');
    writeFileSync(join(work, 'lora.checkpoint.safetensors.json'), JSON.stringify({ model: '/elsewhere/codet5', method: 'lora' }));
    const fresh = run(
      r.dir,
      'finetune',
      '--task',
      'cmg',
      '--model',
      model,
      '--quick',
      '--epochs',
      '1',
      '--adopt',
      'never',
      '--json',
      '--json-events',
    );
    assert.equal(fresh.status, 0, fresh.stderr.slice(-2000));
    assert.match(
      fresh.stderr,
      /starting fresh: the checkpoint left by an earlier run belongs to another run \(model was \\"\/elsewhere\/codet5\\"/,
    );
    assert.ok(!existsSync(join(locks, 'cmg.lock')), 'the lock is released');
    // Earlier runs' folders are pruned: only the adopted one and the newest remain.
    const left = readdirSync(join(r.dir, '.git', 'changeling', 'adapters', 'cmg')).sort();
    assert.equal(left.length, 2, left.join(', '));
  },
);

test(
  'finetune --task jitdp: LoRA on a RoBERTa encoder with the expert-feature head, against the embedded default and the JITLine-style model; adopted for changeling risk',
  { timeout: 300_000 },
  async () => {
    const r = riskyHistory(240);
    repos.push(r);
    const encoder = writeTinyRoberta(join(tempDir(), 'tiny-roberta'));
    const p = run(
      r.dir,
      'finetune',
      '--task',
      'jitdp',
      '--method',
      'lora',
      '--model',
      encoder,
      '--quick',
      '--epochs',
      '3',
      '--lr',
      '5e-3',
      '--adopt',
      'always',
      '--json',
    );
    assert.equal(p.status, 0, p.stderr.slice(-2000));
    const res = JSON.parse(p.stdout);
    assert.deepEqual(Object.keys(res.test).sort(), ['JITLine-style', 'tuned', 'untuned']);
    assert.ok(res.validationCurve.length >= 2, 'validation AUC during training');
    assert.equal(res.adopted, true);
    assert.ok(existsSync(join(r.dir, '.git', 'changeling', 'risk-model', 'jitdp.json')));
    const md = readFileSync(
      res.report.find((f: string) => f.endsWith('.md')),
      'utf8',
    );
    for (const part of ['AUC-ROC', 'Popt', '| JITLine-style |', '## Validation AUC during training', 'riskiest'])
      assert.ok(md.includes(part), part);
    const risk = JSON.parse(run(r.dir, 'risk', '--commit', 'HEAD', '--json', '--fail-on', 'never').stdout);
    assert.equal(risk.kind, 'neural');
    assert.match(risk.model, /risk-model$/);
    assert.match(
      run(r.dir, 'finetune', '--task', 'jitdp', '--method', 'fmft', '--model', encoder).stderr,
      /--method for risk must be lora, adapter or prefix, not "fmft"/,
    );
  },
);
