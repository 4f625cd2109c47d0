import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CodeTokenizer } from '../../../src/models/tokenizer.js';
import { chatTemplate, loadChatTemplate } from '../../../src/models/chatTemplate.js';
import { tempDir } from '../../helpers/gitRepo.js';

/**
 * A Qwen2-style tokenizer.json (NFC, Qwen2's split regex, byte-level BPE, added tokens) and a ChatML template,
 * against transformers' encode/decode and apply_chat_template (test/fixtures/decoder/make_tokenizer_goldens.py).
 */
const DIR = resolve('test/fixtures/decoder/tokenizer');
const G = JSON.parse(readFileSync(join(DIR, 'goldens.json'), 'utf8'));

test("a Qwen2-style tokenizer.json: ids of code, diffs, CRLF, tabs, emoji, NFC and added tokens equal transformers'", async () => {
  const tok = await CodeTokenizer.fromFolder(DIR);
  for (const t of G.tokens) {
    assert.deepEqual(tok.encode(t.text, { addSpecialTokens: false }).ids, t.ids, JSON.stringify(t.text).slice(0, 60));
    assert.equal(tok.decode(t.ids), t.decoded);
    assert.equal(tok.decode(t.ids, { skipSpecialTokens: true }), t.decoded_skip_special);
  }
});

test('chat templates render as apply_chat_template does, from chat_template.jinja or tokenizer_config.json', async () => {
  const tok = await CodeTokenizer.fromFolder(DIR);
  // The fixture has both files: chat_template.jinja wins (it is the same template here).
  const fromFile = await loadChatTemplate(DIR);
  const only = tempDir();
  copyFileSync(join(DIR, 'tokenizer_config.json'), join(only, 'tokenizer_config.json'));
  const fromConfig = await loadChatTemplate(only);
  for (const t of [fromFile!, fromConfig!])
    for (const c of G.chat) {
      const text = t.render(c.messages, { addGenerationPrompt: c.add_generation_prompt });
      assert.equal(text, c.text);
      assert.deepEqual(tok.encode(text, { addSpecialTokens: false }).ids, c.ids);
    }
  // A named list: the "default" one is taken.
  const config = JSON.parse(readFileSync(join(DIR, 'tokenizer_config.json'), 'utf8'));
  writeFileSync(
    join(only, 'tokenizer_config.json'),
    JSON.stringify({
      ...config,
      chat_template: [
        { name: 'tool_use', template: 'x' },
        { name: 'default', template: config.chat_template },
      ],
    }),
  );
  assert.equal((await loadChatTemplate(only))!.render(G.chat[1].messages, { addGenerationPrompt: true }), G.chat[1].text);
  rmSync(join(only, 'tokenizer_config.json'));
  assert.equal(await loadChatTemplate(only), null);
});

test('a template is untrusted: a loop for ever is stopped, a huge output refused, a broken one named', () => {
  const endless = chatTemplate('{% for i in range(1000000000) %}{{ i }}{% endfor %}', {});
  const t0 = Date.now();
  assert.throws(() => endless.render([]), /did not finish rendering in 2 s/);
  assert.ok(Date.now() - t0 < 10000);
  assert.throws(() => chatTemplate('{% for %}', {}, 'bad.jinja'), /bad\.jinja is not a template Changeling can read/);
  assert.throws(
    () =>
      chatTemplate('{% for i in range(3) %}{{ messages[0].content }}{% endfor %}', {}).render([
        { role: 'user', content: 'x'.repeat(4 * 2 ** 20) },
      ]),
    /rendered over 8 MiB/,
  );
  // The messages are values: template syntax inside them is text.
  const echo = chatTemplate('{{ messages[0].content }}', {});
  assert.equal(echo.render([{ role: 'user', content: '{{ 7 * 7 }}{% raw %}' }]), '{{ 7 * 7 }}{% raw %}');
});
