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
