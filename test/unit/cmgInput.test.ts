import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeShortening, modelInput } from '../../src/tasks/cmg/input.js';
import { applyStyle, baseVerb, learnStyle } from '../../src/tasks/cmg/style.js';
import { limitSubject, withoutReference } from '../../src/tasks/cmg/suggest.js';
import type { DiffFile } from '../../src/git/types.js';

const words = (s: string) => s.split(/\s+/).filter(Boolean).length;
const file = (path: string, hunks: string[][], extra: Partial<DiffFile> = {}): DiffFile =>
  ({
    status: 'modified',
    path,
    oldPath: null,
    oldMode: '100644',
    newMode: '100644',
    similarity: null,
    binary: false,
    submodule: false,
    additions: hunks.flat().filter((l) => l[0] === '+').length,
    deletions: hunks.flat().filter((l) => l[0] === '-').length,
    hunks: hunks.map((lines) => ({ oldStart: 1, oldLines: 1, newStart: 1, newLines: 1, section: '', lines })),
    ...extra,
  }) as DiffFile;

test("model input: the study's markers, file headers, and everything kept when it fits", () => {
  const m = modelInput([file('src/app.js', [[' function answer() {', '-  return 41;', '+  return 42;']])], {
    budget: 100,
    countTokens: words,
  });
  assert.equal(m.text, '<file> modified src/app.js\n<keep> function answer() {\n<del> return 41;\n<add> return 42;');
  assert.equal(m.shortened, false);
  assert.equal(describeShortening(m), null);
  assert.equal(m.tokens, words(m.text));
});

test('model input within a budget: lock files scored down to their name, whole hunks kept, the user told what was left out', () => {
  const big = Array.from({ length: 30 }, (_, i) => `+ line ${i}`);
  const files = [
    file('package-lock.json', [Array.from({ length: 50 }, (_, i) => `+ "dep${i}": "1.0.0",`)]),
    file('src/a.js', [['+ small change here'], big, ['- another small one']]),
    file('logo.png', [], { binary: true, additions: 0, deletions: 0 }),
  ];
  const m = modelInput(files, { budget: 40, countTokens: words });
  assert.ok(m.tokens <= 40, `${m.tokens}`);
  const lines = m.text.split('\n');
  assert.deepEqual(
    lines.filter((l) => l.startsWith('<file>')),
    ['<file> modified src/a.js', '<file> binary modified logo.png', '<file> modified package-lock.json'],
    'the lock file comes last',
  );
  assert.ok(
    m.text.includes('<add> small change here') && m.text.includes('<del> another small one'),
    'the small hunks on both sides of the big one are kept',
  );
  assert.ok(!m.text.includes('line 0'), 'the hunk that does not fit is left out whole');
  const a = m.files.find((f) => f.path === 'src/a.js')!;
  assert.deepEqual([a.kept, a.hunks], ['partial', { kept: 2, total: 3 }]);
  const lock = m.files.find((f) => f.path === 'package-lock.json')!;
  assert.deepEqual([lock.kept, lock.filtered], ['header', 'lock']);
  assert.match(
    describeShortening(m)!,
    /larger than the model's 40-token input: src\/a\.js \(2 of 3 hunks\), package-lock\.json \(name only, lock\)/,
  );
  // One huge hunk and nothing else: cut line by line rather than sending nothing.
  const cut = modelInput([file('src/b.js', [big])], { budget: 20, countTokens: words });
  assert.ok(cut.text.includes('<add> line 0') && cut.tokens <= 20);
  assert.equal(cut.files[0]!.kept, 'partial');
});

test('style: learned shares, and the rules applied by post-processing', () => {
  const conventional = [
    'feat(parser): add streaming mode',
    'fix(cli): handle empty input',
    'docs: explain flags',
    'fix(parser): keep trailing newline',
    'feat(cli): colour output',
    'chore: bump deps',
    'fix(cli): exit code on error',
    'feat(parser): accept BOM',
    'refactor(parser): split lexer',
    'fix: typo in readme',
    'Merge branch x',
  ];
  const paths = conventional.map((s) => [/parser/.test(s) ? 'parser/lex.ts' : /cli/.test(s) ? 'cli/main.ts' : 'README.md']);
  const s = learnStyle(conventional, paths);
  assert.equal(s.subjects, 10, 'merges are not style');
  assert.equal(s.conventional, 1);
  assert.equal(s.types[0]![0], 'fix');
  assert.equal(s.scopes.parser, 'parser');
  assert.equal(s.capitalized, 0);
  assert.equal(s.imperative, 0.9, 'every first word but "typo" is a verb');
  assert.equal(applyStyle('Added streaming to the parser.', s, { paths: ['parser/x.ts'] }), 'feat(parser): add streaming to the parser');
  assert.equal(
    applyStyle('fix: keep the newline', s, { paths: ['parser/x.ts'] }),
    'fix: keep the newline',
    'a prefix written by someone is kept as it is',
  );
  assert.equal(applyStyle('Fixes crash on empty file', s, { paths: ['cli/main.ts'] }), 'fix(cli): fix crash on empty file');
  assert.equal(applyStyle('Update docs', s, { paths: ['docs/guide.md'] }), 'docs: update docs');

  const plain = Array.from({ length: 12 }, (_, i) => `[PROJ-${i}] ${['Add', 'Fix', 'Remove', 'Update'][i % 4]} thing ${i}.`);
  const p = learnStyle(plain);
  assert.deepEqual([p.ticket.form, p.ticket.project, p.period, p.capitalized, p.conventional], ['bracket', 'PROJ', 1, 1, 0]);
  assert.equal(applyStyle('fixed the widget', p, { branch: 'feature/PROJ-77-widget' }), '[PROJ-77] Fix the widget.');
  assert.equal(
    applyStyle('fix: remove the widget', p, { branch: 'main' }),
    'Remove the widget.',
    'no ticket invented; a rare Conventional prefix dropped',
  );
  assert.equal(applyStyle('anything', learnStyle(['one', 'two'])), 'anything', 'too little history: unchanged');
  assert.deepEqual(
    ['Added', 'adds', 'Fixing', 'applied', 'copies', 'stopped', 'frobnicated'].map((w) => baseVerb(w)),
    ['add', 'add', 'fix', 'apply', 'copy', 'stop', null],
  );
});

test('subject limit: cut at a word, body kept', () => {
  assert.equal(limitSubject('short', 72), 'short');
  assert.equal(
    limitSubject('Make the parser accept very long inputs without, running out of memory', 40),
    'Make the parser accept very long inputs',
  );
  assert.equal(limitSubject('a'.repeat(50) + '\n\nbody', 20), 'a'.repeat(20) + '\n\nbody');
  assert.equal(
    limitSubject('fix(res.send): add Content-Length header only if Transfer-Encoding is not present', 72),
    'fix(res.send): add Content-Length header only if Transfer-Encoding',
  );
  assert.equal(withoutReference('Add the thing (#4893)'), 'Add the thing');
  assert.equal(withoutReference('Fix crash #12'), 'Fix crash');
  assert.equal(withoutReference('Bump to 1.2 (#3) now'), 'Bump to 1.2 (#3) now');
});
