import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { CodeTokenizer } from '../../src/models/tokenizer.js';
import { GOLDENS, readGoldens } from '../helpers/goldens.js';
import { tempDir } from '../helpers/gitRepo.js';

for (const name of ['codet5', 'roberta-base']) {
  const g = readGoldens(join('tokenizers', name));
  const dir = join(GOLDENS, 'tokenizers', name);

  test(`${name}: ids, tokens and decoding match transformers on all reference strings and pairs`, async () => {
    const t = await CodeTokenizer.fromFolder(dir);
    for (const e of g.entries) {
      const r = t.encode(e.text);
      assert.deepEqual(r.ids, e.ids, e.key);
      // transformers shows an lstrip special token with the whitespace it absorbed (' <mask>'); the id is the same.
      assert.deepEqual(
        r.tokens,
        e.tokens.map((tk: string) => (tk.trimStart() === '<mask>' ? '<mask>' : tk)),
        e.key,
      );
      assert.deepEqual(t.encode(e.text, { addSpecialTokens: false }).ids, e.ids_no_special, e.key);
      assert.equal(t.decode(e.ids_no_special), e.decoded_no_special, e.key);
    }
    for (const p of g.pairs) assert.deepEqual(t.encode(p.text, { pair: p.text_pair }).ids, p.ids, p.key);
  });

  test(`${name}: built from vocab.json + merges.txt it gives the same ids`, async () => {
    const d = tempDir();
    for (const f of ['vocab.json', 'merges.txt']) copyFileSync(join(dir, f), join(d, f));
    const t = await CodeTokenizer.fromFolder(d);
    for (const e of g.entries.filter((x: { key: string }) => !x.key.includes('sentinel')))
      assert.deepEqual(t.encode(e.text).ids, e.ids, e.key);
  });
}

test("the study's markers become single new special tokens", async () => {
  const t = await CodeTokenizer.fromFolder(join(GOLDENS, 'tokenizers', 'roberta-base'));
  const before = t.size;
  const ids = t.addSpecialTokens(['[ADD]', '[DEL]', '<add>', '<del>', '<keep>']);
  assert.deepEqual(ids, [before, before + 1, before + 2, before + 3, before + 4]);
  const r = t.encode('[ADD] int x = 1 ; [DEL] int x = 0 ;');
  assert.equal(r.ids[1], before);
  assert.ok(r.ids.includes(before + 1));
  assert.equal(t.decode(r.ids, { skipSpecialTokens: true }).trim().startsWith('int x = 1'), true);
  assert.deepEqual(t.addSpecialTokens(['[ADD]']), [before], 'adding again changes nothing');
});
