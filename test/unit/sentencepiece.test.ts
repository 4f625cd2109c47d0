import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { SentencePieceProcessor } from '../../src/models/sentencepiece.js';
import { CodeTokenizer } from '../../src/models/tokenizer.js';

/** BPE and unigram models trained by the sentencepiece wheel, and the ids SentencePiece itself gives (test/fixtures/sentencepiece/make_goldens.py). */
const DIR = resolve('test/fixtures/sentencepiece');
const G = JSON.parse(readFileSync(join(DIR, 'goldens.json'), 'utf8'));

/** The tokenizer of a model folder that holds only `model` from the fixtures, under the name a checkpoint gives it. */
function tokenizerOfFolderWith(model: string, name: string): Promise<CodeTokenizer> {
  const dir = mkdtempSync(join(tmpdir(), 'spm-folder-'));
  copyFileSync(join(DIR, model), join(dir, name));
  return CodeTokenizer.fromFolder(dir);
}

for (const kind of ['bpe', 'unigram']) {
  test(`SentencePiece ${kind}: the same ids and pieces as SentencePiece on code, prose, non-ASCII text, whitespace runs and unknown characters`, async () => {
    const sp = await SentencePieceProcessor.fromFile(join(DIR, `${kind}.model`));
    assert.equal(sp.size, G.models[kind].vocab_size);
    G.texts.forEach((t: string, i: number) => {
      const ids = sp.encode(t);
      assert.deepEqual(
        ids,
        G.models[kind].ids[i],
        `${JSON.stringify(t)}: ${JSON.stringify(ids.map((x) => sp.model.pieces[x]!.piece))} vs ${JSON.stringify(G.models[kind].pieces[i])}`,
      );
    });
  });
}

test("PLBART's tokenizer: fairseq ids, language codes, <mask>, special tokens and decoding as transformers' PLBartTokenizer", async () => {
  const { PlbartTokenizer } = await import('../../src/models/plbartTokenizer.js');
  const tok = await tokenizerOfFolderWith('plbart.model', 'sentencepiece.bpe.model');
  const P = G.plbart;
  assert.equal(tok.size, P.size);
  for (const [code, id] of Object.entries(P.lang_codes)) assert.equal(tok.tokenId(code), id);
  assert.equal(tok.tokenId('<mask>'), P.mask);
  G.texts.forEach((t: string, i: number) => {
    assert.deepEqual(tok.encode(t, { addSpecialTokens: false }).ids, P.no_special[i], JSON.stringify(t));
    assert.deepEqual(tok.encode(t).ids, P.special[i], JSON.stringify(t));
    assert.equal(tok.decode(P.no_special[i]), P.decoded[i], JSON.stringify(t));
  });
  const java = new PlbartTokenizer(await SentencePieceProcessor.fromFile(join(DIR, 'plbart.model')), undefined, '__java__');
  G.texts.forEach((t: string, i: number) => assert.deepEqual(java.encode(t).ids, P.java[i], JSON.stringify(t)));
});

test('a PLBART folder with only sentencepiece.bpe.model tokenizes, generates as transformers does, and suggests messages', async () => {
  const { loadModelFolder } = await import('../../src/models/modelFolder.js');
  const { Seq2SeqRunner } = await import('../../src/runtime/seq2seq.js');
  const ort = await import('onnxruntime-node');
  const dir = join(DIR, 'plbart-tiny-spm');
  const M = G.plbart_model;
  const tok = await CodeTokenizer.fromFolder(dir);
  assert.deepEqual(tok.encode(M.text).ids, M.input_ids);
  const runner = await Seq2SeqRunner.create(await loadModelFolder(dir));
  const t = (a: number[]) => new ort.Tensor('int64', BigInt64Array.from(a.map(BigInt)), [1, a.length]);
  const r = await runner.greedy(t(M.input_ids), t(M.input_ids.map(() => 1)), 6, { minNewTokens: 5 });
  assert.deepEqual(r.sequences[0], M.greedy);
  const { MessageModel } = await import('../../src/tasks/cmg/generate.js');
  const m = await MessageModel.create(dir);
  const { parseDiff } = await import('../../src/git/diffParser.js');
  const files = parseDiff('diff --git a/a.js b/a.js\nindex 1..2 100644\n--- a/a.js\n+++ b/a.js\n@@ -1 +1 @@\n-x\n+y\n').files;
  const out = await m.generate(m.prepare(files), { beams: 2, n: 2, maxNewTokens: 4 });
  assert.ok(out.length >= 1);
});

test("T5 over a SentencePiece model (spiece.model): ids, sentinels, </s> and decoding as transformers' T5Tokenizer", async () => {
  const tok = await tokenizerOfFolderWith('t5.model', 'spiece.model');
  const T = G.t5;
  assert.equal(tok.size, T.size);
  assert.equal(tok.tokenId('<extra_id_0>'), T.extra_id_0);
  assert.equal(tok.tokenId('<extra_id_99>'), T.extra_id_99);
  G.texts.forEach((t: string, i: number) => {
    assert.deepEqual(tok.encode(t, { addSpecialTokens: false }).ids, T.no_special[i], JSON.stringify(t));
    assert.deepEqual(tok.encode(t).ids, T.special[i], JSON.stringify(t));
    assert.equal(tok.decode(T.special[i], { skipSpecialTokens: true }), T.decoded[i], JSON.stringify(t));
  });
});

test('added tokens over a SentencePiece vocabulary (PLBART and T5): new ids after the last, known ones kept, split out whole when encoding', async () => {
  for (const [model, name] of [
    ['plbart.model', 'sentencepiece.bpe.model'],
    ['t5.model', 'spiece.model'],
  ] as const) {
    const tok = await tokenizerOfFolderWith(model, name);
    const before = tok.size;
    const plain = tok.encode('x = 1', { addSpecialTokens: false }).ids;
    assert.deepEqual(tok.addSpecialTokens(['<add>', '<del>', '</s>']), [before, before + 1, tok.tokenId('</s>')], model);
    assert.equal(tok.size, before + 2, model);
    assert.deepEqual(tok.addSpecialTokens(['<del>']), [before + 1], `${model}: adding again changes nothing`);
    assert.deepEqual(tok.encode('<add>x = 1<del>', { addSpecialTokens: false }).ids, [before, ...plain, before + 1], model);
  }
});
