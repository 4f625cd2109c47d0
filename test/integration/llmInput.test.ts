import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CodeTokenizer } from '../../src/models/tokenizer.js';
import { loadChatTemplate } from '../../src/models/chatTemplate.js';
import { TestRepo, tempDir } from '../helpers/gitRepo.js';

const CLI = resolve('dist/cli.mjs');
const TOK = resolve('test/fixtures/decoder/tokenizer');
const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

/** A chat LLM folder as far as the prompt needs it: the tiny Qwen2 config (its context widened) and the tokenizer files. */
function llmFolder(context: number): string {
  const dir = tempDir();
  const config = JSON.parse(readFileSync('test/fixtures/decoder/qwen2-tiny/config.json', 'utf8'));
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, max_position_embeddings: context }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja']) copyFileSync(join(TOK, f), join(dir, f));
  return dir;
}

test('chat prompts render as apply_chat_template does, with a generation prompt or the final turn continued', async () => {
  const template = (await loadChatTemplate(TOK))!;
  const tok = await CodeTokenizer.fromFolder(TOK);
  const cases = JSON.parse(readFileSync(join(TOK, 'prompt_goldens.json'), 'utf8'));
  for (const c of cases) {
    const text = template.render(c.messages, c.continue ? { continueFinal: true } : { addGenerationPrompt: true });
    assert.equal(text, c.text);
    assert.deepEqual(tok.encode(text, { addSpecialTokens: false }).ids, c.ids);
  }
  assert.throws(() => template.render(cases[1].messages, { continueFinal: true, addGenerationPrompt: true }), /not both/);
});

test('changeling input --model <chat LLM>: the turns, their rendering and ids, within the context, what was left out', async () => {
  const r = TestRepo.init();
  repos.push(r);
  for (let i = 0; i < 8; i++)
    r.write('src/parse.js', `function parse() {\n  return ${i};\n}\n`).commit(i % 2 ? `fix: return ${i} from parse` : `feat: parse ${i}`);
  r.write('src/parse.js', 'function parse() {\n  return 42;\n}\n').write('package-lock.json', '{"lockfileVersion": 3}\n');
  r.git('add', '-A');
  const dir = llmFolder(4096);
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, 'input', '--repo', r.dir, '--model', dir, ...args], { encoding: 'utf8' });
  const p = run('--json');
  assert.equal(p.status, 0, p.stderr);
  const j = JSON.parse(p.stdout);
  assert.equal(j.format, 'llm-chat');
  const template = (await loadChatTemplate(TOK))!;
  const tok = await CodeTokenizer.fromFolder(TOK);
  assert.equal(j.text, template.render(j.messages, { addGenerationPrompt: true }), "the text is the template's rendering of the turns");
  assert.deepEqual(j.input_ids, tok.encode(j.text, { addSpecialTokens: false }).ids);
  assert.deepEqual(
    j.messages.map((m: { role: string }) => m.role),
    ['system', 'user', 'assistant', 'user', 'assistant', 'user', 'assistant', 'user'],
    'three similar earlier commits as examples',
  );
  assert.match(j.messages[0].content, /Conventional Commits/);
  assert.match(
    j.messages.at(-1).content,
    /The change:\ndiff --git a\/src\/parse\.js b\/src\/parse\.js\n@@ -1,3 \+1,3 @@ function parse\(\) \{|The change:\ndiff --git a\/src\/parse\.js/,
  );
  assert.match(j.messages.at(-1).content, /package-lock\.json: changed \(.*not shown\)/);
  assert.deepEqual(j.dropped, [{ path: 'package-lock.json', why: 'lock' }]);
  assert.match(j.text, /<\|im_start\|>assistant\n$/, 'rendered with the generation prompt');
  assert.equal(j.budget, 2000);
  // --prefix: the answer's start, continued.
  const t = JSON.parse(run('--json', '--prefix', 'fix(parse): ').stdout);
  assert.deepEqual(t.messages.at(-1), { role: 'assistant', content: 'fix(parse): ' });
  assert.match(t.text, /<\|im_start\|>assistant\nfix\(parse\):$/);
  // A small context: the diff's budget shrinks so that the prompt leaves 128 tokens for the answer.
  const small = JSON.parse(
    spawnSync(process.execPath, [CLI, 'input', '--repo', r.dir, '--model', llmFolder(900), '--json'], { encoding: 'utf8' }).stdout,
  );
  assert.ok(small.input_ids.length <= 900 - 128, `${small.input_ids.length}`);
  assert.ok(small.budget < 2000);
  const none = spawnSync(process.execPath, [CLI, 'input', '--repo', r.dir, '--model', llmFolder(200)], { encoding: 'utf8' });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /context \(200 tokens\) has no room for the diff/);
  // Human output says what it is.
  assert.match(
    run().stdout,
    /^input format: llm-chat \(.+\); \d+ tokens of a 4096-token context, the diff \d+ of 2000\n--- prompt ---\n<\|im_start\|>system\n/,
  );
});
