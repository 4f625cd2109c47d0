import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { downloadModel, cachedModel, type DownloadEvent, type HubModelSpec } from '../../src/models/hub.js';
import { loadModelFolder } from '../../src/models/modelFolder.js';
import { ChangelingError } from '../../src/util/errors.js';
import { HubServer } from '../helpers/hubServer.js';
import { GOLDENS } from '../helpers/goldens.js';
import { tempDir } from '../helpers/gitRepo.js';

const COMMIT = 'a'.repeat(40);
const ID = 'tiny/t5';
const SPEC: HubModelSpec = {
  id: ID,
  weights: ['model.safetensors', 'pytorch_model.bin'],
  files: ['config.json'],
  optional: ['vocab.json', 'merges.txt', 'tokenizer.json'],
};
const servers: HubServer[] = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function hub(): Promise<HubServer> {
  const s = await new HubServer().start();
  servers.push(s);
  const files = new Map<string, Buffer>();
  for (const f of ['config.json', 'model.safetensors']) files.set(f, readFileSync(join(GOLDENS, 't5-tiny', f)));
  for (const f of ['vocab.json', 'merges.txt']) files.set(f, readFileSync(join(GOLDENS, 'tokenizers', 'codet5', f)));
  s.repos.set(ID, { commit: COMMIT, files });
  return s;
}

test('download: resolves the commit, verifies, caches; the model loads; the second call uses the cache', async () => {
  const s = await hub();
  const cacheDir = tempDir();
  const events: DownloadEvent[] = [];
  const r = await downloadModel(SPEC, { endpoint: s.endpoint, cacheDir, onEvent: (e) => events.push(e) });
  assert.equal(r.commit, COMMIT);
  assert.deepEqual(readdirSync(r.dir).sort(), ['.complete', 'config.json', 'merges.txt', 'model.safetensors', 'vocab.json']);
  const m = await loadModelFolder(r.dir);
  assert.equal(m.kind, 't5');
  assert.ok(events.some((e) => e.kind === 'progress' && e.file === 'model.safetensors' && e.received === e.total));
  assert.equal(await cachedModel(cacheDir, ID), r.dir);
  const before = s.requests.length;
  const again = await downloadModel(SPEC, { endpoint: s.endpoint, cacheDir, onEvent: (e) => events.push(e) });
  assert.equal(again.dir, r.dir);
  assert.deepEqual(
    s.requests.slice(before).map((q) => q.url),
    [`/api/models/${ID}/revision/main`],
  );
  assert.deepEqual(events.at(-1), { kind: 'done', dir: r.dir, commit: COMMIT, cached: true });
});

test('a connection dropped mid-file is resumed with an HTTP Range request', async () => {
  const s = await hub();
  s.dropAfter.set('model.safetensors', 300_000);
  const events: DownloadEvent[] = [];
  const r = await downloadModel(SPEC, { endpoint: s.endpoint, cacheDir: tempDir(), onEvent: (e) => events.push(e) });
  assert.ok(events.some((e) => e.kind === 'retry' && e.file === 'model.safetensors'));
  assert.ok(
    s.requests.some((q) => q.url.endsWith('/model.safetensors') && q.range === 'bytes=300000-'),
    'resumed where it stopped',
  );
  assert.deepEqual(readFileSync(join(r.dir, 'model.safetensors')), readFileSync(join(GOLDENS, 't5-tiny', 'model.safetensors')));
});

test('a wrong checksum fails clearly and leaves no model behind', async () => {
  const s = await hub();
  s.wrongHash.add('model.safetensors');
  const cacheDir = tempDir();
  await assert.rejects(downloadModel(SPEC, { endpoint: s.endpoint, cacheDir }), (e: ChangelingError) =>
    /checksum mismatch for tiny\/t5\/model\.safetensors/.test(e.message),
  );
  assert.equal(await cachedModel(cacheDir, ID), null);
  assert.equal(existsSync(join(cacheDir, 'models--tiny--t5', 'snapshots')), false);
  assert.equal(existsSync(join(cacheDir, 'models--tiny--t5', 'incomplete', COMMIT, 'model.safetensors')), false);
});

test('404s and an unreachable endpoint give specific errors', async () => {
  const s = await hub();
  await assert.rejects(
    downloadModel({ ...SPEC, id: 'no/such' }, { endpoint: s.endpoint, cacheDir: tempDir() }),
    (e: ChangelingError) => e.code === 'not-found' && /no\/such/.test(e.message),
  );
  await assert.rejects(
    downloadModel({ ...SPEC, revision: 'v9' }, { endpoint: s.endpoint, cacheDir: tempDir() }),
    (e: ChangelingError) => e.code === 'not-found',
  );
  await assert.rejects(
    downloadModel({ ...SPEC, files: ['config.json', 'missing.txt'] }, { endpoint: s.endpoint, cacheDir: tempDir() }),
    /lacks missing\.txt/,
  );
  const dead = await new HubServer().start();
  const endpoint = dead.endpoint;
  await dead.stop();
  await assert.rejects(
    downloadModel(SPEC, { endpoint, cacheDir: tempDir(), retries: 0 }),
    /cannot reach http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): offline\?/,
  );
});

test('a slow download can be cancelled, and a later call resumes the partial file', async () => {
  const s = await hub();
  s.slowMs = 30;
  const cacheDir = tempDir();
  const ac = new AbortController();
  await assert.rejects(
    downloadModel(SPEC, {
      endpoint: s.endpoint,
      cacheDir,
      signal: ac.signal,
      onEvent: (e) => e.kind === 'progress' && e.file === 'model.safetensors' && e.received > 100_000 && ac.abort(),
    }),
    (e: ChangelingError) => e.code === 'cancelled',
  );
  assert.equal(await cachedModel(cacheDir, ID), null, 'no partial model is used');
  s.slowMs = 0;
  const r = await downloadModel(SPEC, { endpoint: s.endpoint, cacheDir });
  assert.ok(
    s.requests.some((q) => q.url.endsWith('/model.safetensors') && q.range !== undefined),
    'resumed with Range',
  );
  assert.deepEqual(readFileSync(join(r.dir, 'model.safetensors')), readFileSync(join(GOLDENS, 't5-tiny', 'model.safetensors')));
});

test('changeling download fetches into the cache and prints the folder', async () => {
  const { spawn } = await import('node:child_process');
  const s = await hub();
  const cache = tempDir();
  const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, ['dist/cli.mjs', 'download', ID, '--endpoint', s.endpoint, '--cache', cache], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  assert.equal(out.code, 0, out.stderr);
  assert.equal(out.stdout.trim(), join(cache, 'models--tiny--t5', 'snapshots', COMMIT));
});

test('a full disk stops the download with a clear error and no model', async () => {
  const { mkdirSync, symlinkSync } = await import('node:fs');
  const s = await hub();
  const cacheDir = tempDir();
  // /dev/full answers every write with ENOSPC: the partial file of the weights points there.
  const work = join(cacheDir, 'models--tiny--t5', 'incomplete', COMMIT);
  mkdirSync(work, { recursive: true });
  symlinkSync('/dev/full', join(work, 'model.safetensors'));
  await assert.rejects(
    downloadModel(SPEC, { endpoint: s.endpoint, cacheDir, retries: 0 }),
    (e: ChangelingError) => e.code === 'disk-full' && /disk full while writing .*model\.safetensors/.test(e.message),
  );
  assert.equal(await cachedModel(cacheDir, ID), null);
});

test('download of a catalogued model writes its profile into the snapshot; the catalogue lists message-trained models first', async () => {
  const { modelSpec, messageModels, DEFAULT_MESSAGE_MODEL, describeKnownModel } = await import('../../src/models/manifest.js');
  const { readProfile } = await import('../../src/tasks/cmg/profile.js');
  const s = await hub();
  const id = 'JetBrains-Research/cmg-codet5-with-history';
  s.repos.set(id, s.repos.get(ID)!);
  const r = await downloadModel(modelSpec(id), { endpoint: s.endpoint, cacheDir: tempDir() });
  const p = await readProfile(r.dir);
  assert.equal(p?.inputFormat, 'commitchronicle');
  assert.equal(p?.history, 'author');
  assert.deepEqual(p?.generation, { numBeams: 10, maxNewTokens: 15, noRepeatNgramSize: 3, minNewTokens: 0, lengthPenalty: 1 });
  const list = messageModels();
  assert.equal(list[0]!.id, DEFAULT_MESSAGE_MODEL);
  assert.equal(
    list.slice(0, 4).every((m) => m.trainedFor === 'cmg' && m.id.startsWith('JetBrains-Research/cmg-')),
    true,
  );
  assert.ok(
    list.slice(4).length >= 3 && list.slice(4).every((m) => m.trainedFor === null && /needs fine-tuning first/.test(describeKnownModel(m))),
  );
  // The code LLMs: catalogued with licence and size, listed apart from the seq2seq message models.
  const { codeLlms, recommendedMessageModel, DEFAULT_LLM_MESSAGE_MODEL } = await import('../../src/models/manifest.js');
  // The download offered: the 0.5B code LLM where a GPU runs it or there are 8 cores, else the fast CodeT5 one.
  assert.equal(DEFAULT_LLM_MESSAGE_MODEL, 'Qwen/Qwen2.5-Coder-0.5B-Instruct');
  assert.equal(recommendedMessageModel({ cores: 2, gpu: false }), DEFAULT_MESSAGE_MODEL);
  assert.equal(recommendedMessageModel({ cores: 7, gpu: false }), DEFAULT_MESSAGE_MODEL);
  assert.equal(recommendedMessageModel({ cores: 8, gpu: false }), DEFAULT_LLM_MESSAGE_MODEL);
  assert.equal(recommendedMessageModel({ cores: 2, gpu: true }), DEFAULT_LLM_MESSAGE_MODEL);
  assert.deepEqual(
    codeLlms().map((m) => [m.id, m.license, describeKnownModel(m)]),
    [
      ['Qwen/Qwen2.5-Coder-0.5B-Instruct', 'Apache-2.0', 'code LLM, 494M parameters; Apache-2.0; ~988 MB'],
      ['Qwen/Qwen2.5-Coder-1.5B-Instruct', 'Apache-2.0', 'code LLM, 1.54B parameters; Apache-2.0; ~3087 MB'],
    ],
  );
  assert.ok(codeLlms().every((m) => !list.includes(m) && modelSpec(m.id).weights.includes('model.safetensors.index.json')));
});

test('download refuses a hub answer whose commit id or file names would escape the cache, and checks free disk space first', async () => {
  const s = await hub();
  const cacheDir = tempDir();
  s.repos.set('evil/sha', { commit: '../../../../victim', files: s.repos.get(ID)!.files });
  await assert.rejects(
    downloadModel({ ...SPEC, id: 'evil/sha', revision: 'main' }, { endpoint: s.endpoint, cacheDir }),
    /invalid commit id/,
  );
  const files = new Map(s.repos.get(ID)!.files);
  files.set('../outside.json', Buffer.from('{}'));
  s.repos.set('evil/name', { commit: 'b'.repeat(40), files });
  await assert.rejects(downloadModel({ ...SPEC, id: 'evil/name' }, { endpoint: s.endpoint, cacheDir }), /unsafe file/);
  assert.deepEqual(readdirSync(cacheDir), [], 'nothing written');
  process.env.CHANGELING_FREE_BYTES = String(1 << 20);
  try {
    await assert.rejects(
      downloadModel(SPEC, { endpoint: s.endpoint, cacheDir }),
      (e: unknown) => e instanceof ChangelingError && e.code === 'disk-full' && /MiB free/.test(e.message),
    );
  } finally {
    delete process.env.CHANGELING_FREE_BYTES;
  }
  assert.equal(await cachedModel(cacheDir, ID), null, 'nothing presented as complete');
  const r = await downloadModel(SPEC, { endpoint: s.endpoint, cacheDir });
  assert.ok(existsSync(join(r.dir, '.complete')));
});

test('a hub that never answers, a stalled transfer and a broken answer end in clear errors within their deadlines', async () => {
  const s = await hub();
  const cacheDir = tempDir();
  const fast = { endpoint: s.endpoint, cacheDir, connectTimeoutMs: 300, idleTimeoutMs: 300, retries: 1 };
  s.hangApi = true;
  const t0 = Date.now();
  await assert.rejects(
    downloadModel(SPEC, fast),
    (e: unknown) => e instanceof ChangelingError && /did not answer within 0\.3 s \(tried \d times\)/.test(e.message),
  );
  assert.ok(Date.now() - t0 < 5000, 'gave up in time');
  s.hangApi = false;
  // A file that stops arriving (connection open, nothing sent): retried, then a clear error; the next call resumes.
  s.stallAfter.set('model.safetensors', 2000);
  const events: DownloadEvent[] = [];
  const r = await downloadModel(SPEC, { ...fast, onEvent: (e) => events.push(e) });
  assert.ok(
    events.some((e) => e.kind === 'retry' && e.file === 'model.safetensors' && /stalled/.test(e.reason)),
    JSON.stringify(events.filter((e) => e.kind === 'retry')),
  );
  assert.ok(existsSync(join(r.dir, '.complete')));
  // Truncated JSON from the hub: one line that says so.
  s.apiBody = '{"sha": "aaaa';
  await assert.rejects(downloadModel({ ...SPEC, id: 'tiny/t5' }, { ...fast, cacheDir: tempDir() }), /not valid JSON/);
});

test("fuzz: any answer from the hub's models API gives a snapshot inside the cache or a clear error, and nothing outside the cache is written", async () => {
  const fc = (await import('fast-check')).default;
  const s = await hub();
  const root = tempDir();
  const cacheDir = join(root, 'cache');
  const hex40 = fc.stringMatching(/^[0-9a-f]{40}$/);
  const name = fc.oneof(
    fc.constantFrom('config.json', 'model.safetensors', '../x', '/etc/passwd', 'a/../../b', 'ok/file.json', '', '.', 'a\\b'),
    fc.string({ maxLength: 20 }),
  );
  const answer = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }).map((j) => JSON.stringify(j)),
    fc
      .record(
        {
          sha: fc.oneof(hex40, fc.string({ maxLength: 45 }), fc.integer()),
          siblings: fc.array(
            fc.record({ rfilename: name, size: fc.oneof(fc.nat(), fc.integer(), fc.string()) }, { requiredKeys: ['rfilename'] }),
            { maxLength: 6 },
          ),
        },
        { requiredKeys: [] },
      )
      .map((j) => JSON.stringify(j)),
    fc.string({ maxLength: 60 }),
  );
  await fc.assert(
    fc.asyncProperty(answer, async (body) => {
      s.apiBody = body;
      try {
        const r = await downloadModel(SPEC, { endpoint: s.endpoint, cacheDir, retries: 0, connectTimeoutMs: 2000, idleTimeoutMs: 2000 });
        assert.ok(r.dir.startsWith(cacheDir + '/'), r.dir);
      } catch (err) {
        assert.ok(err instanceof ChangelingError, String((err as Error)?.stack ?? err));
      }
      assert.deepEqual(readdirSync(root), existsSync(cacheDir) ? ['cache'] : [], 'nothing beside the cache');
    }),
    {
      numRuns: 120,
      ...(process.env.CHANGELING_FUZZ_SEED === 'random' ? {} : { seed: Number(process.env.CHANGELING_FUZZ_SEED ?? 20261202) }),
    },
  );
});

test('a file that never ends stops at its listed size (removed, not retried); a gzip bomb of an answer stops at 8 MiB', async () => {
  const s = await hub();
  s.endless.add('model.safetensors');
  const cacheDir = tempDir();
  const before = s.requests.length;
  await assert.rejects(
    downloadModel(SPEC, { endpoint: s.endpoint, cacheDir }),
    (err: unknown) =>
      err instanceof ChangelingError &&
      /model\.safetensors from .* is larger than its listed size \(\d+ bytes\): stopped there and removed/.test(err.message),
  );
  assert.equal(s.requests.slice(before).filter((q) => q.url.endsWith('/model.safetensors')).length, 1, 'not retried');
  const left = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce(
      (n, e) => n + (e.isDirectory() ? left(join(dir, e.name)) : statSync(join(dir, e.name)).size),
      0,
    );
  assert.ok(left(cacheDir) < 1 << 20, 'nothing large is left in the cache');
  const b = await hub();
  b.gzipBomb = true;
  await assert.rejects(
    downloadModel(SPEC, { endpoint: b.endpoint, cacheDir: tempDir() }),
    /the hub's answer for .* is over 8 MiB: not a hub answer/,
  );
});

test('a sharded checkpoint downloads with its index and every shard, and loads', async () => {
  const s = await new HubServer().start();
  servers.push(s);
  const src = join('test', 'fixtures', 'decoder', 'qwen2-hd64');
  const files = new Map<string, Buffer>();
  for (const f of readdirSync(src).filter((f) => f !== 'goldens.json')) files.set(f, readFileSync(join(src, f)));
  s.repos.set('tiny/qwen2', { commit: COMMIT, files });
  const spec: HubModelSpec = {
    id: 'tiny/qwen2',
    weights: ['model.safetensors', 'model.safetensors.index.json'],
    files: ['config.json'],
    optional: ['generation_config.json'],
  };
  const r = await downloadModel(spec, { endpoint: s.endpoint, cacheDir: tempDir() });
  assert.equal(readdirSync(r.dir).filter((f) => /^model-\d{5}-of-00011\.safetensors$/.test(f)).length, 11);
  const m = await loadModelFolder(r.dir);
  assert.equal(m.kind, 'llama');
  assert.equal((await m.loadWeights()).size, 26);
});
