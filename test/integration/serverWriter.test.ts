import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { openRepository } from '../../src/git/repository.js';
import { llmInputFor } from '../../src/tasks/cmg/suggest.js';
import { ServerMessageWriter, loopbackUrl } from '../../src/tasks/cmg/serverWriter.js';
import { TestRepo, parseLineHistory } from '../helpers/gitRepo.js';
import { startChatStub } from '../helpers/chatServer.js';

/** The optional local message server: loopback only, the same prompt, both APIs, against a stub on 127.0.0.1. */
const CLI = resolve('dist/cli.mjs');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

const history = () => parseLineHistory(repos);

/** The CLI, run without blocking this process (the stub answers from here). */
function cli(...args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { encoding: 'utf8' }, (err, stdout, stderr) =>
      done({ status: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('the message server must be on this machine: loopback addresses pass, every other address is refused before any connection', async () => {
  for (const ok of ['http://127.0.0.1:11434', 'http://127.1.2.3:8080/', 'http://[::1]:11434', 'https://127.0.0.1'])
    assert.equal(loopbackUrl(ok).protocol.startsWith('http'), true, ok);
  assert.equal(loopbackUrl('http://localhost:11434').hostname, '127.0.0.1', 'localhost is taken as 127.0.0.1, not looked up');
  assert.equal(loopbackUrl('http://2130706433:80').hostname, '127.0.0.1', 'numeric forms are normalised first');
  for (const [bad, why] of [
    ['http://10.0.0.5:11434', /must be on this machine .* not 10\.0\.0\.5/],
    ['http://example.com', /not example\.com/],
    ['http://localhost.example.com:11434', /not localhost\.example\.com/],
    ['http://0.0.0.0:11434', /not 0\.0\.0\.0/],
    ['http://[::ffff:10.0.0.1]:1', /must be on this machine/],
    ['http://user:pw@127.0.0.1:11434', /user name or password/],
    ['file:///etc/passwd', /http:\/\/ or https:\/\//],
    ['127.0.0.1:11434', /http:\/\/ or https:\/\/|not a URL/],
    ['not a url', /not a URL/],
  ] as Array<[string, RegExp]>)
    assert.throws(() => loopbackUrl(bad), why, bad);
  const r = history();
  const t0 = Date.now();
  const refused = await cli('suggest', '--repo', r.dir, '--server', 'http://192.0.2.7:11434', '--server-model', 'm');
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, /^changeling: the message server must be on this machine .*not 192\.0\.2\.7: nothing leaves the machine/m);
  assert.ok(Date.now() - t0 < 20_000);
});

test('Ollama on loopback: the same prompt as a model folder gets, streamed answers shaped into subject and body, one seed per candidate', async () => {
  const r = history();
  const answers = [
    'Strip the trailing carriage return in `parseLine`\n\nWindows line endings left a stray \\r at the end of every parsed line, which the callers then had to trim themselves.',
    'fix: parse lines from files with CRLF endings',
    'Call normalize_input() from lib/norm.ts',
  ];
  const stub = await startChatStub((_, i) => answers[i % answers.length]!);
  try {
    const out = await cli(
      'suggest',
      '--repo',
      r.dir,
      '--server',
      stub.url,
      '--server-api',
      'ollama',
      '--server-model',
      'qwen2.5-coder:1.5b',
      '-n',
      '3',
      '--json',
    );
    assert.equal(out.status, 0, out.stderr);
    const j = JSON.parse(out.stdout);
    const llm = j.candidates.filter((c: { source: string }) => c.source === 'llm');
    assert.equal(llm.length, 3);
    assert.match(llm[0].message, /^Strip the trailing carriage return in `parseLine`\n\nWindows line endings left a stray/);
    for (const line of llm[0].message.split('\n')) assert.ok(line.length <= 72, line);
    assert.equal(llm[2].message, 'Call normalize_input() from lib/norm.ts', 'the invented names rank last');
    assert.deepEqual(llm[2].unfaithful.sort(), ['lib/norm.ts', 'normalize_input']);
    assert.match(llm[0].detail, /qwen2\.5-coder:1\.5b at http:\/\/127\.0\.0\.1:\d+/);
    // Three requests, one per candidate, each its own seed; what was asked is the prompt llmInputFor builds.
    assert.equal(stub.requests.length, 3);
    assert.deepEqual(
      stub.requests.map((q) => q.path),
      ['/api/chat', '/api/chat', '/api/chat'],
    );
    const opts = stub.requests.map((q) => q.body.options as Record<string, number>);
    assert.deepEqual(
      opts.map((x) => x.seed),
      [0, 1, 2],
    );
    assert.equal(opts[0]!.num_ctx, 8192);
    const writer = new ServerMessageWriter({ url: stub.url, model: 'qwen2.5-coder:1.5b' });
    const expected = await llmInputFor(await openRepository(r.dir), { kind: 'staged' }, writer.prompt, {});
    assert.deepEqual(stub.requests[0]!.body.messages, expected.messages);
    assert.equal(stub.requests[0]!.body.stream, true);
    const last = expected.messages.at(-1)!;
    assert.equal(last.role, 'user');
    assert.match(last.content, /return s\.replace/);
  } finally {
    await stub.close();
  }
});

test('an OpenAI-compatible server: typed text is the start of the answer and is kept once; errors are one clear line', async () => {
  const r = history();
  // A server that ignores continue_final_message and repeats the typed start is handled too.
  const stub = await startChatStub((b) => (b.messages as Array<{ content: string }>).at(-1)!.content + 'handle CRLF in parseLine');
  try {
    const out = await cli(
      'suggest',
      '--repo',
      r.dir,
      '--server',
      `${stub.url}/`,
      '--server-model',
      'coder',
      '--prefix',
      'fix(parse): ',
      '--no-body',
      '-n',
      '1',
      '--json',
    );
    assert.equal(out.status, 0, out.stderr);
    const llm = JSON.parse(out.stdout).candidates.filter((c: { source: string }) => c.source === 'llm');
    assert.equal(llm[0].message, 'fix(parse): handle CRLF in parseLine');
    const body = stub.requests[0]!.body;
    assert.equal(stub.requests[0]!.path, '/v1/chat/completions', 'not port 11434: the OpenAI API');
    assert.equal(body.continue_final_message, true);
    assert.equal(body.add_generation_prompt, false);
    assert.deepEqual((body.messages as Array<{ role: string; content: string }>).at(-1), { role: 'assistant', content: 'fix(parse): ' });
    const missing = await cli('suggest', '--repo', r.dir, '--server', stub.url, '--server-model', 'missing');
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /^changeling: the message server at http:\/\/127\.0\.0\.1:\d+ has no model "missing"$/m);
  } finally {
    await stub.close();
  }
  const redirecting = await startChatStub(() => '', { redirect: true });
  try {
    const out = await cli('suggest', '--repo', r.dir, '--server', redirecting.url, '--server-model', 'm', '--server-api', 'ollama');
    assert.equal(out.status, 2);
    assert.match(out.stderr, /answered with a redirect \(302\), which is not followed/);
  } finally {
    await redirecting.close();
  }
  // Nothing listening: said as such (the port of the closed stub).
  const gone = await cli('suggest', '--repo', r.dir, '--server', redirecting.url, '--server-model', 'm', '--server-api', 'ollama');
  assert.equal(gone.status, 1);
  assert.match(gone.stderr, /nothing answers at http:\/\/127\.0\.0\.1:\d+ \(is Ollama running\? "ollama serve"\)/);
});
