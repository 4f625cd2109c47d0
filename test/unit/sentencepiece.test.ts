import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SentencePieceProcessor } from '../../src/models/sentencepiece.js';

/** BPE and unigram models trained by the sentencepiece wheel, and the ids SentencePiece itself gives (test/fixtures/sentencepiece/make_goldens.py). */
const DIR = resolve('test/fixtures/sentencepiece');
const G = JSON.parse(readFileSync(join(DIR, 'goldens.json'), 'utf8'));

for (const kind of ['bpe', 'unigram']) {
  test(`SentencePiece ${kind}: the same ids and pieces as SentencePiece on code, prose, non-ASCII text, whitespace runs and unknown characters`, async () => {
    const sp = await SentencePieceProcessor.fromFile(join(DIR, `${kind}.model`));
    assert.equal(sp.size, G.models[kind].vocab_size);
    G.texts.forEach((t: string, i: number) => {
      const ids = sp.encode(t);
      assert.deepEqual(ids, G.models[kind].ids[i], `${JSON.stringify(t)}: ${JSON.stringify(ids.map((x) => sp.model.pieces[x]!.piece))} vs ${JSON.stringify(G.models[kind].pieces[i])}`);
    });
  });
}

test('PLBART\'s tokenizer: fairseq ids, language codes, <mask>, special tokens and decoding as transformers\' PLBartTokenizer', async () => {
  const { PlbartTokenizer } = await import('../../src/models/plbartTokenizer.js');
  const { CodeTokenizer } = await import('../../src/models/tokenizer.js');
  const { mkdtempSync, copyFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'plbart-'));
  copyFileSync(join(DIR, 'plbart.model'), join(dir, 'sentencepiece.bpe.model'));
  const tok = await CodeTokenizer.fromFolder(dir);
  const P = G.plbart;
  assert.equal(tok.size, P.size);
  for (const [code, id] of Object.entries(P.lang_codes)) assert.equal(tok.tokenId(code), id);
  assert.equal(tok.tokenId('<mask>'), P.mask);
  G.texts.forEach((t: string, i: number) => {
    assert.deepEqual(tok.encode(t, { addSpecialTokens: false }).ids, P.no_special[i], JSON.stringify(t));
    assert.deepEqual(tok.encode(t).ids, P.special[i], JSON.stringify(t));
    assert.equal(tok.decode(P.no_special[i]), P.decoded[i], JSON.stringify(t));
  });
  const java = new PlbartTokenizer(await (await import('../../src/models/sentencepiece.js')).SentencePieceProcessor.fromFile(join(DIR, 'plbart.model')), undefined, '__java__');
  G.texts.forEach((t: string, i: number) => assert.deepEqual(java.encode(t).ids, P.java[i], JSON.stringify(t)));
});
