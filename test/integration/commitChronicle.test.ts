import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { commitDiff } from '../../src/git/history.js';
import { openRepository } from '../../src/git/repository.js';
import { CodeTokenizer } from '../../src/models/tokenizer.js';
import { encoderInput } from '../../src/tasks/cmg/encoderInput.js';
import { cleanMessage } from '../../src/tasks/cmg/messageClean.js';
import { decoderContext, PrefixConstraint } from '../../src/tasks/cmg/decoderContext.js';
import { MessageModel, completeTyped } from '../../src/tasks/cmg/generate.js';
import { suggestMessages } from '../../src/tasks/cmg/suggest.js';
import { writeProfile, DEFAULT_PROFILE, type ModelProfile } from '../../src/tasks/cmg/profile.js';
import { GOLDENS } from '../helpers/goldens.js';
import { tempDir } from '../helpers/gitRepo.js';
import { writeTinyT5 } from '../helpers/tinyModels.js';

/**
 * The CommitChronicle input formats against goldens made by the reference code itself
 * (test/fixtures/commitchronicle/make_goldens.py runs saridormi/commit_chronicle's processors and
 * JetBrains-Research/commit_message_generation's preprocessors and test collator on history.bundle).
 */
const FIX = resolve('test/fixtures/commitchronicle');
const G = JSON.parse(readFileSync(join(FIX, 'goldens.json'), 'utf8'));
const CLI = resolve('dist/cli.mjs');

const CHRONICLE: ModelProfile = {
  ...DEFAULT_PROFILE,
  inputFormat: 'commitchronicle',
  history: 'author',
  trainedForTask: true,
  generation: { numBeams: 10, maxNewTokens: 15, noRepeatNgramSize: 3, minNewTokens: 0, lengthPenalty: 1 },
};

function cloneHistory(): string {
  const dir = join(tempDir(), 'history');
  execFileSync('git', ['clone', '-q', '-b', 'main', join(FIX, 'history.bundle'), dir]);
  execFileSync('git', ['-C', dir, 'config', 'user.email', 'ada@example.com']);
  execFileSync('git', ['-C', dir, 'config', 'user.name', 'Ada Lovelace']);
  return dir;
}

async function tokenizers() {
  const plain = await CodeTokenizer.fromFolder(join(GOLDENS, 'tokenizers', 'codet5'));
  const marked = await CodeTokenizer.fromFolder(join(GOLDENS, 'tokenizers', 'codet5'));
  marked.addSpecialTokens(['<add>', '<del>', '<keep>']);
  return { plain, marked };
}

test('Both CommitChronicle formats give the reference text and input ids on every commit of a real history', async () => {
  const repo = await openRepository(cloneHistory());
  const { plain, marked } = await tokenizers();
  assert.equal(G.commits.length, 13);
  for (const c of G.commits) {
    const files = (await commitDiff(repo, c.sha, { ignoreWhitespace: true })).files;
    for (const [format, tok] of [
      ['commitchronicle', plain],
      ['commitchronicle-codereviewer', marked],
    ] as const) {
      const e = encoderInput(files, { format, tokenizer: tok, maxInput: 512 });
      const want = c.formats[format];
      assert.equal(e.text, want.text, `${format} text of ${c.sha.slice(0, 8)} (${c.message.split('\n')[0]})`);
      assert.deepEqual(e.inputIds, want.input_ids, `${format} ids of ${c.sha.slice(0, 8)}`);
    }
  }
  // What was left out says why: the non-ASCII file, the mode-only change, the diff cut at 510 tokens.
  const byMessage = (m: string) => G.commits.find((c: { message: string }) => c.message.startsWith(m)).sha;
  const drop = async (m: string) =>
    encoderInput((await commitDiff(repo, byMessage(m), { ignoreWhitespace: true })).files, {
      format: 'commitchronicle',
      tokenizer: plain,
      maxInput: 512,
    }).dropped;
  assert.deepEqual(await drop('Add a cafe note'), [{ path: 'café.txt', why: 'non-ascii' }]);
  assert.deepEqual(await drop('Make tool executable'), [{ path: 'tool.sh', why: 'mode-only' }]);
  assert.deepEqual(await drop('Add generated values table'), [{ path: 'src/big.js', why: 'cut' }]);
  assert.deepEqual(await drop('Reindent answer'), []);
  const modeOnly = encoderInput((await commitDiff(repo, byMessage('Make tool executable'), { ignoreWhitespace: true })).files, {
    format: 'commitchronicle',
    tokenizer: plain,
    maxInput: 512,
  });
  assert.match(modeOnly.note ?? '', /sees nothing of this change/);
});

test('Messages are cleaned as CommitChronicle cleaned its training messages', () => {
  for (const m of G.messages) assert.equal(cleanMessage(m.message), m.cleaned, JSON.stringify(m.message));
  for (const c of G.commits) assert.equal(cleanMessage(c.message), c.cleaned_message, JSON.stringify(c.message));
});

test("Decoder inputs with history and typed text, and the prefix constraint, are the reference collator's", async () => {
  const { plain } = await tokenizers();
  const earlier = new Map<string, string[]>();
  for (const c of G.commits) {
    const history = earlier.get(c.author) ?? [];
    for (const d of c.decoder) {
      const got = decoderContext(plain, {
        startTokenId: 0,
        sepTokenId: 2,
        history: history.map(cleanMessage).filter(Boolean),
        typed: d.typed,
        maxLength: 512,
        maxNewTokens: 15,
      });
      assert.deepEqual(got.ids, d.decoder_input_ids, `${c.sha.slice(0, 8)} typed ${JSON.stringify(d.typed)}`);
      assert.equal(got.prefix, d.prefix);
    }
    assert.deepEqual(decoderContext(plain, { startTokenId: 0, sepTokenId: 2, typed: '' }).ids, c.decoder_without_history);
    earlier.set(c.author, [...history, c.message]);
  }
  // A long history is cut from its oldest end so that 1 + typed + 15 new tokens fit in 512.
  const long = Array.from({ length: 200 }, (_, i) => `Change number ${i} of the parser and the lexer`);
  const ctx = decoderContext(plain, { startTokenId: 0, sepTokenId: 2, history: long, typed: 'Fix', maxNewTokens: 15 });
  assert.ok(ctx.ids.length + 15 <= 512 && ctx.ids.length > 400, String(ctx.ids.length));
  assert.equal(ctx.history.offered, 200);
  assert.equal(plain.decode(ctx.ids.slice(1, 12)).startsWith(`Change number ${200 - ctx.history.used}`), true);
  for (const p of G.prefix_allowed) {
    const allowed = new PrefixConstraint(plain, p.prefix).allowed(p.generated);
    assert.deepEqual(
      allowed === null ? 'all' : [...allowed].sort((a, b) => a - b),
      p.allowed,
      `${JSON.stringify(p.prefix)} after ${JSON.stringify(p.generated)}`,
    );
  }
  assert.equal(completeTyped('Add mul; che', ' che', ' cheer in greet'), 'Add mul; cheer in greet');
  assert.equal(completeTyped('Add  mul ', '', 'and div'), 'Add  mul and div', 'typed text kept exactly as typed');
});

test(
  'changeling input and suggest feed a CommitChronicle model exactly the reference input, with history and typed text',
  { timeout: 180_000 },
  async () => {
    const dir = cloneHistory();
    const model = writeTinyT5(join(tempDir(), 'cmg-codet5'));
    await writeProfile(model, CHRONICLE);
    const marked = writeTinyT5(join(tempDir(), 'cmg-codereviewer'), { extraTokens: ['<add>', '<del>', '<keep>'] });
    await writeProfile(marked, { ...CHRONICLE, inputFormat: 'commitchronicle-codereviewer', history: 'none' });
    const input = (...args: string[]) => {
      const r = spawnSync(process.execPath, [CLI, 'input', '--repo', dir, '--json', ...args], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const last = G.commits.at(-1);
    const a = input('--commit', last.sha, '--model', model, '--prefix', 'Add mul; che');
    assert.equal(a.format, 'commitchronicle');
    assert.deepEqual(a.input_ids, last.formats.commitchronicle.input_ids);
    assert.deepEqual(a.decoder_input_ids, last.decoder.find((d: { typed: string }) => d.typed === 'Add mul; che').decoder_input_ids);
    assert.equal(a.prefix, ' che');
    const b = input('--commit', last.sha, '--model', marked);
    assert.equal(b.format, 'commitchronicle-codereviewer');
    assert.deepEqual(b.input_ids, last.formats['commitchronicle-codereviewer'].input_ids);
    assert.deepEqual(b.decoder_input_ids, [0], 'no history for a model trained without it');
    // --input-format overrides the profile; a bad one is a usage error.
    assert.equal(input('--commit', last.sha, '--model', model, '--input-format', 'study').format, 'study');
    assert.equal(
      spawnSync(process.execPath, [CLI, 'input', '--repo', dir, '--model', model, '--input-format', 'bogus'], { encoding: 'utf8' }).status,
      2,
    );

    // The staged change: the same commit's change staged again is fed the same encoder ids (git diff --cached -w).
    execFileSync('git', ['-C', dir, 'reset', '-q', '--soft', 'HEAD~1']);
    const staged = input('--model', model);
    assert.deepEqual(staged.input_ids, last.formats.commitchronicle.input_ids);
    // The author is the configured user (ada@example.com): her earlier messages, cleaned, are the history.
    assert.deepEqual(staged.decoder_input_ids, last.decoder.find((d: { typed: string }) => d.typed === '').decoder_input_ids);

    // suggest completes typed text: every model candidate starts with it as typed and continues the word.
    const m = await MessageModel.create(model);
    const r = await suggestMessages(await openRepository(dir), { kind: 'staged' }, { model: m, n: 3, typed: 'Add mul; che' });
    const fromModel = r.candidates.filter((c) => c.source === 'model');
    assert.ok(fromModel.length >= 1);
    for (const c of fromModel) assert.match(c.message, /^Add mul; che\S/, c.message);
    writeFileSync(join(dir, 'note.txt'), 'x\n');
  },
);
