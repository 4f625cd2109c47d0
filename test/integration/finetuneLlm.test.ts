import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openRepository } from '../../src/git/repository.js';
import { finetuneCmg } from '../../src/tasks/finetune/cmg.js';
import { readAdapter } from '../../src/peft/files.js';
import { adoptMessageModel } from '../../src/tasks/cmg/adopted.js';
import { TestRepo, tempDir, twoKindsHistory } from '../helpers/gitRepo.js';
import { writeTinyQwen2 } from '../helpers/tinyModels.js';
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

test(
  'finetune --task cmg with a code LLM: chat rows in the prompt ✨ gives, your edits twice, top-layer LoRA over int8, evaluated, adopted, used by suggest; a cancelled run resumes',
  { timeout: 400_000 },
  async () => {
    const r = twoKindsHistory(repos, 60, { body: true });
    const model = writeTinyQwen2(join(tempDir(), 'qwen2-chat'), { layers: 10 });
    // Two recorded edits of suggestions for training commits (as `changeling edits` keeps them).
    const data = join(r.dir, '.git', 'changeling');
    mkdirSync(data, { recursive: true });
    const shas = r.git('log', '--format=%H', '--reverse').trim().split('\n');
    const edits = [shas[20]!, shas[21]!].map((sha) => ({
      sha,
      suggested: 'Change things',
      committed: 'Add parser token (edited)',
      at: '',
      via: 'vscode',
      writer: 't',
    }));
    writeFileSync(join(data, 'edits.jsonl'), edits.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const repo = await openRepository(r.dir);
    const ac = new AbortController();
    let seen = 0;
    await assert.rejects(
      finetuneCmg(repo, {
        task: 'cmg',
        method: 'lora',
        model,
        quick: true,
        lr: 5e-3,
        signal: ac.signal,
        adopt: 'always',
        onEvent: (e) => {
          if (e.kind === 'step' && ++seen === 6) ac.abort();
        },
      }),
      /cancel/i,
    );
    const work = join(data, 'finetune-cmg');
    assert.ok(existsSync(join(work, 'lora.checkpoint.safetensors')), 'a checkpoint was kept');
    assert.ok(!existsSync(join(data, 'cmg-model.json')), 'nothing adopted');
    // The rows: chat turns ending with the commit's real message as the assistant's answer; the edits twice.
    const rows = readFileSync(join(work, 'train.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(rows.length, 48 + 2 * 2, 'the 48 training commits and each edit twice');
    for (const row of rows) {
      assert.equal(row.messages.at(-1).role, 'assistant');
      assert.equal(row.messages.at(-2).role, 'user');
      assert.match(row.messages.at(-2).content, /diff --git a\//, 'the diff is in the prompt');
    }
    assert.ok(
      rows.some((x) => x.messages.at(-1).content === 'Add parser token\n\nThe lexer reads one more.'),
      'subject and body learnt',
    );
    assert.equal(rows.filter((x) => x.messages.at(-1).content === 'Add parser token (edited)').length, 4);
    assert.ok(
      rows.some((x) => x.messages.some((m: { content: string }) => /Update the guide/.test(m.content) && m !== x.messages.at(-1))),
      'earlier commits as examples',
    );

    const report = join(tempDir(), 'report');
    const p = run(
      r.dir,
      'finetune',
      '--task',
      'cmg',
      '--model',
      model,
      '--quick',
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
    assert.match(p.stderr, /resumed from the checkpoint at step \d+/);
    assert.match(p.stderr, /LoRA of the code LLM \(LoRA's rank 16 on its top 8 layers\), frozen weights int8-fast/);
    const res = JSON.parse(p.stdout);
    assert.equal(res.llm, true);
    // --adopt always adopts unless the tuned model is broken (its validation messages mostly empty): a tiny random
    // model tuned for 12 steps may be; either way the verdict says which.
    assert.ok(res.adopted || /broken/.test(res.adoptReason), res.adoptReason);
    assert.deepEqual(Object.keys(res.test).sort(), ['nngen', 'tuned', 'untuned']);
    for (const k of ['tuned', 'untuned']) {
      const m = res.test[k];
      assert.ok([m.editSim, m.chrF, m.faithful].every(Number.isFinite), JSON.stringify(m));
      assert.ok(m.faithful >= 0 && m.faithful <= 100);
    }
    if (!/broken/.test(res.adoptReason)) assert.match(res.adoptReason, /validation B-Norm BLEU of the subjects/);
    assert.equal(res.edits.pairs, 2);
    assert.ok(Number.isFinite(res.edits.before) && Number.isFinite(res.edits.after));
    assert.ok(res.losses.at(-1).loss < res.losses[0].loss, 'the loss went down');
    const adapter = await readAdapter(res.out);
    assert.equal(adapter.config.peft_type, 'LORA');
    assert.equal(adapter.config.r, 16);
    assert.deepEqual(adapter.config.layers_to_transform, [2, 3, 4, 5, 6, 7, 8, 9]);
    const md = readFileSync(join(report, 'report.md'), 'utf8');
    assert.match(md, /B-Norm BLEU \(subject\) \| Faithful \(%\)/);
    assert.match(md, /Your edits: 2 suggested messages paired with what you committed/);
    // The code LLM with the run's adapter, as the adoption record names them: suggest uses it with no --model.
    await adoptMessageModel(repo, { model, adapter: res.out, method: 'lora', adoptedAt: new Date().toISOString(), validation: {} });
    r.write('src/parser.js', 'const tokenX = lexer.next(json);\n');
    r.git('add', '-A');
    const s = run(r.dir, 'suggest', '--json', '-n', '2', '--max-new-tokens', '12');
    assert.equal(s.status, 0, s.stderr);
    const llm = JSON.parse(s.stdout).candidates.filter((c: { source: string }) => c.source === 'llm');
    assert.ok(llm.length > 0, s.stdout);
    assert.ok(
      llm.every((c: { detail: string; unfaithful: string[] }) => c.unfaithful.length > 0 || /with the adapter/.test(c.detail)),
      JSON.stringify(llm),
    );
    // Refused when not better: a run that changes nothing (a learning rate of 1e-9) is not adopted with --adopt auto.
    r.git('reset', '-q', 'HEAD');
    const same = run(r.dir, 'finetune', '--task', 'cmg', '--model', model, '--quick', '--lr', '1e-9', '--adopt', 'auto', '--json');
    assert.equal(same.status, 0, same.stderr.slice(-2000));
    const unchanged = JSON.parse(same.stdout);
    assert.equal(unchanged.adopted, false);
    assert.match(unchanged.adoptReason, /does not beat|not clearly better/);
  },
);
