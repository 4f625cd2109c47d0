import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openRepository } from '../../src/git/repository.js';
import { encodeSafetensors, type NamedTensor } from '../../src/models/safetensors.js';
import { seededRandom } from '../../src/train/batching.js';
import { repositoryProbeTasks } from '../../src/tasks/probe/repoTasks.js';
import { STUDY_TASKS, studyTaskFile } from '../../src/tasks/probe/studyTasks.js';
import { ChangelingError } from '../../src/util/errors.js';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';
import { writeTinyT5 } from '../helpers/tinyModels.js';

const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

/** 20 single-file code commits (file i: "int v = i;" becomes "int v = i + 1;"), and commits that do not qualify. */
function history(): TestRepo {
  const r = TestRepo.init();
  repos.push(r);
  r.write('README.md', 'hello\n').commit('docs only: not a code file');
  for (let i = 0; i < 20; i++) {
    const path = `src/deep/m${i}/F${i}.java`;
    r.write(path, `class F${i} {\n    int v = ${i};\n}\n`).commit(`add F${i}`);
  }
  r.write('src/a/A.java', 'class A {}\n').write('src/b/B.java', 'class B {}\n').commit('two files: not used');
  for (let i = 0; i < 20; i++)
    r.write(`src/deep/m${i}/F${i}.java`, `class F${i} {\n    int v = ${i} + 1;\n}\n`).commit(`bump F${i}\n\nthe body is not the subject`);
  return r;
}

test(
  'CCM and LTP from a history: single-file code commits, newest first, time-ordered 60/20/20, texts and labels as the study writes them',
  { timeout: 60_000 },
  async () => {
    const r = history();
    const t = await repositoryProbeTasks(await openRepository(r.dir), { max: 30 });
    assert.equal(t.used, 30);
    // The newest 30 qualifying commits: the 20 bumps and the last 10 additions (the two-file commit and README are skipped).
    assert.deepEqual(
      ['tr', 'va', 'te'].map((s) => t.ltp.examples.filter((e) => e.split === s).length),
      [18, 6, 6],
    );
    // The newest commit (bump F19) is the last test example; its LTP segments, with one marker masked.
    const last = t.ltp.examples.at(-1)!;
    const segments = ['<del>m19/F19.java', '<add>m19/F19.java', '<del>int v = 19;', '<add>int v = 19 + 1;'];
    const masked = segments.findIndex((s) => last.text === segments.map((x) => (x === s ? `<mask>${s.slice(5)}` : x)).join(''));
    assert.ok(masked >= 0, last.text);
    assert.equal(last.label, segments[masked]!.slice(1, 4));
    assert.equal(
      t.ltp.examples.reduce((n, e) => n + (e.text.split('<mask>').length - 1), 0),
      30,
      'one mask per example',
    );
    // CCM: each split half True, half False; a True text is the subject, the added lines, the removed lines.
    for (const s of ['tr', 'va', 'te']) {
      const ex = t.ccm.examples.filter((e) => e.split === s);
      assert.equal(ex.filter((e) => e.label === 'True').length, ex.length - Math.floor(ex.length / 2), s);
    }
    const own = t.ccm.examples.find((e) => e.label === 'True' && e.text.startsWith('bump F7<'));
    if (own) assert.equal(own.text, 'bump F7<add>m7/F7.java<add>int v = 7 + 1;<del>m7/F7.java<del>int v = 7;');
    for (const e of t.ccm.examples.filter((x) => x.label === 'False')) {
      const subject = e.text.slice(0, e.text.indexOf('<add>'));
      const file = /<add>m(\d+)\/F\d+\.java/.exec(e.text)![1];
      const kind = e.text.includes('<del>') ? 'bump' : 'add';
      assert.notEqual(subject, `${kind} F${file}`, `a False pair has another commit's subject: ${e.text}`);
    }
    assert.deepEqual(t.ccm.labels.sort(), ['False', 'True']);
  },
);

test('a history too thin for probing is a clear error', async () => {
  const r = TestRepo.init();
  repos.push(r);
  r.write('a.c', 'int a;\n').commit('one');
  await assert.rejects(
    repositoryProbeTasks(await openRepository(r.dir)),
    (e: unknown) => e instanceof ChangelingError && /1 commits that change one code file/.test(e.message),
  );
});

test("the study's files: fetched from the endpoint once, checked against their SHA-256; a changed file is refused and not kept", async () => {
  const body = Buffer.from('tr\tTrue\tfix it<add>a/B.java<add>x;\n');
  // The real file's size with other bytes: it arrives whole and must still be refused.
  let served = Buffer.alloc(STUDY_TASKS.ccm.size, 'x');
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    if (req.url === `/${STUDY_TASKS.ccm.path}`) {
      res.writeHead(200, { 'content-length': served.length });
      res.end(served);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const cacheDir = tempDir();
    await assert.rejects(
      studyTaskFile('ccm', { endpoint, cacheDir }),
      (e: unknown) => e instanceof ChangelingError && /SHA-256/.test(e.message),
    );
    assert.equal(existsSync(join(cacheDir, 'CCM_1k.txt')), false);
    assert.equal(existsSync(join(cacheDir, 'CCM_1k.txt.part')), false);
    await assert.rejects(
      studyTaskFile('ltp', { endpoint, cacheDir }),
      (e: unknown) => e instanceof ChangelingError && e.code === 'not-found',
    );
    // A file already in the cache with the right hash is used without a request.
    served = body;
    const { downloadVerifiedFile } = await import('../../src/models/hub.js');
    const sha = createHash('sha256').update(body).digest('hex');
    const dest = join(cacheDir, 'x.txt');
    await downloadVerifiedFile(`${endpoint}/${STUDY_TASKS.ccm.path}`, dest, sha, {});
    assert.deepEqual(readFileSync(dest), body);
    const before = requests;
    await downloadVerifiedFile(`${endpoint}/${STUDY_TASKS.ccm.path}`, dest, sha, {});
    assert.equal(requests, before);
  } finally {
    server.close();
  }
});

/** A PEFT LoRA adapter (q, v of every attention) with random factors for a tiny T5 of d_model 64. */
function loraFor(dir: string, model: string): string {
  const rand = seededRandom(9);
  const t: Record<string, NamedTensor> = {};
  const r = 4;
  const mod = (m: string) => {
    t[`base_model.model.${m}.lora_A.weight`] = { shape: [r, 64], data: Float32Array.from({ length: r * 64 }, () => rand() - 0.5) };
    t[`base_model.model.${m}.lora_B.weight`] = { shape: [64, r], data: Float32Array.from({ length: 64 * r }, () => rand() - 0.5) };
  };
  for (let i = 0; i < 2; i++) for (const p of ['q', 'v']) mod(`encoder.block.${i}.layer.0.SelfAttention.${p}`);
  writeFileSync(join(dir, 'adapter_model.safetensors'), encodeSafetensors(t, { format: 'pt' }));
  writeFileSync(
    join(dir, 'adapter_config.json'),
    JSON.stringify({
      peft_type: 'LORA',
      task_type: 'SEQ_2_SEQ_LM',
      r,
      lora_alpha: 8,
      lora_dropout: 0,
      target_modules: ['q', 'v'],
      base_model_name_or_path: model,
      bias: 'none',
      fan_in_fan_out: false,
    }),
  );
  return dir;
}

test(
  'changeling probe FILE --adapter --report --json: base and adapter side by side; LoRA on attention leaves layer 0 as it was',
  { timeout: 120_000 },
  async () => {
    const dir = tempDir();
    const model = writeTinyT5(join(dir, 't5'), { seed: 5 });
    const adapter = join(dir, 'lora');
    (await import('node:fs')).mkdirSync(adapter);
    loraFor(adapter, model);
    const lines = Array.from(
      { length: 60 },
      (_, i) =>
        `${i < 36 ? 'tr' : i < 48 ? 'va' : 'te'}\t${i % 3 === 0 ? 'loop' : 'plain'}\t${i % 3 === 0 ? `for ( int i = 0 ; i < ${i} ; i ++ ) { }` : `int x = ${i} ;`}`,
    );
    writeFileSync(join(dir, 'task.txt'), lines.join('\n'));
    const r = spawnSync(
      process.execPath,
      [
        resolve('dist/cli.mjs'),
        'probe',
        '--model',
        model,
        '--adapter',
        adapter,
        '--task',
        join(dir, 'task.txt'),
        '--report',
        join(dir, 'report'),
        '--json',
        '--quiet',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const [{ runs }] = JSON.parse(r.stdout).tasks;
    assert.equal(runs.length, 2);
    assert.equal(runs[0].adapter, null);
    assert.equal(runs[1].adapter, adapter);
    assert.equal(runs[0].layers[0].test, runs[1].layers[0].test);
    assert.ok(runs.every((x: { layers: unknown[] }) => x.layers.length === 3));
    const md = readFileSync(join(dir, 'report', 'probe.md'), 'utf8');
    assert.match(md, /\| layer \| t5 \(base\) \| lora \(adapter on t5\) \|/);
    const html = readFileSync(join(dir, 'report', 'probe.html'), 'utf8');
    assert.equal((html.match(/<path d="M/g) ?? []).length, 2, 'one line per run');
    assert.doesNotMatch(html, /<script/);
    const bad = spawnSync(process.execPath, [resolve('dist/cli.mjs'), 'probe', '--model', model, '--task', 'typ', '--repo', dir], {
      encoding: 'utf8',
    });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /changeling: TYP cannot be built from a repository/);
  },
);
