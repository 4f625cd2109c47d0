import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDiff, DiffParser } from '../../src/git/diffParser.js';
import { LineSplitter } from '../../src/git/lines.js';
import { unquotePath } from '../../src/git/quote.js';

const d = (...lines: string[]) => lines.join('\n') + '\n';

test('two hunks with section headings, counts from bodies', () => {
  const { files } = parseDiff(
    d(
      'diff --git a/src/app.ts b/src/app.ts',
      'index 83db48f..bf269f4 100644',
      '--- a/src/app.ts',
      '+++ b/src/app.ts',
      '@@ -1,3 +1,4 @@ export function main() {',
      ' const a = 1;',
      '-const b = 2;',
      '+const b = 3;',
      '+const c = 4;',
      ' return a;',
      '@@ -10 +11 @@',
      '-x',
      '+y',
    ),
  );
  assert.equal(files.length, 1);
  const f = files[0]!;
  assert.equal(f.status, 'modified');
  assert.equal(f.path, 'src/app.ts');
  assert.equal(f.oldMode, '100644');
  assert.equal(f.additions, 3);
  assert.equal(f.deletions, 2);
  assert.equal(f.hunks.length, 2);
  assert.deepEqual(
    { ...f.hunks[0]!, lines: f.hunks[0]!.lines.length },
    { oldStart: 1, oldLines: 3, newStart: 1, newLines: 4, section: 'export function main() {', lines: 5 },
  );
  assert.deepEqual(f.hunks[1]!, { oldStart: 10, oldLines: 1, newStart: 11, newLines: 1, section: '', lines: ['-x', '+y'] });
});

test('body lines that look like headers are read by the hunk counts', () => {
  const { files } = parseDiff(
    d(
      'diff --git a/notes.md b/notes.md',
      '--- a/notes.md',
      '+++ b/notes.md',
      '@@ -1,4 +1,4 @@',
      '--- a/notes.md',
      '+++ b/other.md',
      ' diff --git a/x b/x',
      '-@@ -1 +1 @@',
      '+index 0000000..1111111',
      'diff --git a/second b/second',
      'new file mode 100644',
      '--- /dev/null',
      '+++ b/second',
      '@@ -0,0 +1 @@',
      '+hello',
    ),
  );
  assert.deepEqual(
    files.map((f) => [f.path, f.status, f.additions, f.deletions]),
    [
      ['notes.md', 'modified', 2, 2],
      ['second', 'added', 1, 0],
    ],
  );
  assert.deepEqual(files[0]!.hunks[0]!.lines, [
    '--- a/notes.md',
    '+++ b/other.md',
    ' diff --git a/x b/x',
    '-@@ -1 +1 @@',
    '+index 0000000..1111111',
  ]);
});

test('renames, copies, mode changes, added and deleted empty files', () => {
  const { files } = parseDiff(
    d(
      'diff --git a/old name.txt b/new name.txt',
      'similarity index 100%',
      'rename from old name.txt',
      'rename to new name.txt',
      'diff --git a/lib/a.c b/lib/b.c',
      'similarity index 90%',
      'copy from lib/a.c',
      'copy to lib/b.c',
      'index 1111111..2222222 100644',
      '--- a/lib/a.c',
      '+++ b/lib/b.c',
      '@@ -1 +1 @@',
      '-int a;',
      '+int b;',
      'diff --git a/run.sh b/run.sh',
      'old mode 100644',
      'new mode 100755',
      'diff --git a/empty b/empty',
      'new file mode 100644',
      'index 0000000..e69de29',
      'diff --git a/gone.txt b/gone.txt',
      'deleted file mode 100644',
      'index 3b18e51..0000000',
      '--- a/gone.txt',
      '+++ /dev/null',
      '@@ -1 +0,0 @@',
      '-bye',
    ),
  );
  assert.deepEqual(
    files.map((f) => [f.status, f.oldPath, f.path, f.similarity]),
    [
      ['renamed', 'old name.txt', 'new name.txt', 100],
      ['copied', 'lib/a.c', 'lib/b.c', 90],
      ['modified', null, 'run.sh', null],
      ['added', null, 'empty', null],
      ['deleted', null, 'gone.txt', null],
    ],
  );
  assert.equal(files[2]!.oldMode, '100644');
  assert.equal(files[2]!.newMode, '100755');
  assert.equal(files[2]!.hunks.length, 0);
  assert.equal(files[3]!.newMode, '100644');
  assert.equal(files[4]!.deletions, 1);
});

test('binary files: "Binary files differ" and GIT binary patch', () => {
  const { files } = parseDiff(
    d(
      'diff --git a/logo.png b/logo.png',
      'index 1234567..89abcde 100644',
      'Binary files a/logo.png and b/logo.png differ',
      'diff --git a/font.woff b/font.woff',
      'new file mode 100644',
      'index 0000000..5f3a1b2',
      'GIT binary patch',
      'literal 12',
      'zcmZ?wbhEHbGe1Ef{@+3-',
      '',
      'literal 0',
      'HcmV?d00001',
      '',
      'diff --git a/after.txt b/after.txt',
      '--- a/after.txt',
      '+++ b/after.txt',
      '@@ -1 +1 @@',
      '-a',
      '+b',
    ),
  );
  assert.deepEqual(
    files.map((f) => [f.path, f.binary, f.status, f.hunks.length]),
    [
      ['logo.png', true, 'modified', 0],
      ['font.woff', true, 'added', 0],
      ['after.txt', false, 'modified', 1],
    ],
  );
});

test('"\\ No newline at end of file" on each side', () => {
  const { files } = parseDiff(
    d(
      'diff --git a/a b/a',
      '--- a/a',
      '+++ b/a',
      '@@ -1 +1 @@',
      '-old',
      '\\ No newline at end of file',
      '+new',
      'diff --git a/b b/b',
      '--- a/b',
      '+++ b/b',
      '@@ -1,2 +1,2 @@',
      '-x',
      '+y',
      ' same',
      '\\ No newline at end of file',
    ),
  );
  assert.equal(files[0]!.oldNoEol, true);
  assert.equal(files[0]!.newNoEol, undefined);
  assert.deepEqual(files[0]!.hunks[0]!.lines, ['-old', '+new']);
  assert.equal(files[1]!.oldNoEol, true);
  assert.equal(files[1]!.newNoEol, true);
  assert.equal(files[1]!.additions, 1);
});

test('CRLF lines keep their carriage return and flag the file', () => {
  const { files } = parseDiff('diff --git a/w.txt b/w.txt\n--- a/w.txt\n+++ b/w.txt\n@@ -1,2 +1,2 @@\n-one\r\n+uno\r\n two\r\n');
  assert.equal(files[0]!.crlf, true);
  assert.deepEqual(files[0]!.hunks[0]!.lines, ['-one\r', '+uno\r', ' two\r']);
});

test('quoted paths with escapes and octal UTF-8, unquoted paths with spaces', () => {
  const { files } = parseDiff(
    d(
      'diff --git "a/caf\\303\\251 \\"x\\".txt" "b/caf\\303\\251 \\"x\\".txt"',
      'new file mode 100644',
      '--- /dev/null',
      '+++ "b/caf\\303\\251 \\"x\\".txt"',
      '@@ -0,0 +1 @@',
      '+hi',
      'diff --git a/with space/f g.txt b/with space/f g.txt',
      '--- a/with space/f g.txt\t',
      '+++ b/with space/f g.txt\t',
      '@@ -1 +1 @@',
      '-1',
      '+2',
      'diff --git a/tab\\there b/tab\\there',
      'deleted file mode 100644',
    ),
  );
  assert.deepEqual(
    files.map((f) => f.path),
    ['café "x".txt', 'with space/f g.txt', 'tab\\there'],
  );
  assert.equal(unquotePath('"a\\tb\\n"'), 'a\tb\n');
});

test('submodule pointer change is a gitlink with Subproject lines', () => {
  const { files } = parseDiff(
    d(
      'diff --git a/libs/dep b/libs/dep',
      'index 1111111..2222222 160000',
      '--- a/libs/dep',
      '+++ b/libs/dep',
      '@@ -1 +1 @@',
      '-Subproject commit 1111111111111111111111111111111111111111',
      '+Subproject commit 2222222222222222222222222222222222222222',
    ),
  );
  assert.equal(files[0]!.submodule, true);
  assert.equal(files[0]!.hunks[0]!.lines.length, 2);
});

test('combined merge diffs are kept as entries without hunks', () => {
  const { files } = parseDiff(
    d(
      'diff --cc conflict.txt',
      'index 1111111,2222222..3333333',
      '--- a/conflict.txt',
      '+++ b/conflict.txt',
      '@@@ -1,1 -1,1 +1,1 @@@',
      '- a',
      ' -b',
      '++c',
      'diff --git a/next.txt b/next.txt',
      '--- a/next.txt',
      '+++ b/next.txt',
      '@@ -1 +1 @@',
      '-p',
      '+q',
    ),
  );
  assert.deepEqual(
    files.map((f) => [f.path, f.combined ?? false, f.hunks.length]),
    [
      ['conflict.txt', true, 0],
      ['next.txt', false, 1],
    ],
  );
});

test('maxBytes drops whole hunks, keeps exact counts, flags truncation; one huge file does not starve the files after it', () => {
  const body = Array.from({ length: 100 }, (_, i) => `+line ${i}`);
  const text = d(
    'diff --git a/a b/a',
    '--- a/a',
    '+++ b/a',
    '@@ -1 +1 @@',
    '-x',
    '+y',
    'diff --git a/big b/big',
    'new file mode 100644',
    '--- /dev/null',
    '+++ b/big',
    '@@ -0,0 +1,100 @@',
    ...body,
    'diff --git a/c b/c',
    '--- a/c',
    '+++ b/c',
    '@@ -1 +1 @@',
    '-m',
    '+n',
  );
  const { files, truncated } = parseDiff(text, { maxBytes: 200 });
  assert.equal(truncated, true);
  assert.deepEqual(
    files.map((f) => [f.path, f.additions, f.deletions, f.hunks.length, f.truncated ?? false]),
    [
      ['a', 1, 1, 1, false],
      ['big', 100, 0, 0, true],
      ['c', 1, 1, 1, false],
    ],
  );
  assert.deepEqual(files[2]!.hunks[0]!.lines, ['-m', '+n']);
  assert.equal(parseDiff(text).truncated, false);
  // A file keeps its hunks up to half the cap, then none; the next file is read again.
  const hunks = (n: number) =>
    Array.from({ length: n }, (_, i) => [
      `@@ -${i * 10 + 1} +${i * 10 + 1} @@`,
      `-old ${i} ${'x'.repeat(20)}`,
      `+new ${i} ${'y'.repeat(20)}`,
    ]).flat();
  const many = parseDiff(
    d('diff --git a/m b/m', '--- a/m', '+++ b/m', ...hunks(6), 'diff --git a/z b/z', '--- a/z', '+++ b/z', ...hunks(1)),
    { maxBytes: 200 },
  );
  assert.deepEqual(
    many.files.map((f) => [f.path, f.hunks.length, f.additions, f.truncated ?? false]),
    [
      ['m', 1, 6, true],
      ['z', 1, 1, false],
    ],
  );
});

test('non-UTF-8 bytes survive as Latin-1 and flag the file', () => {
  const latin = Buffer.concat([
    Buffer.from('diff --git a/l.txt b/l.txt\n--- a/l.txt\n+++ b/l.txt\n@@ -1 +1 @@\n-caf'),
    Buffer.from([0xe9, 0x0a]), // Latin-1 é
    Buffer.from('+caf\u00e9\n', 'utf8'), // UTF-8 é
  ]);
  const { files } = parseDiff(latin);
  assert.equal(files[0]!.nonUtf8, true);
  assert.deepEqual(files[0]!.hunks[0]!.lines, ['-caf\u00e9', '+café']);
  assert.equal(Buffer.from(files[0]!.hunks[0]!.lines[0]!, 'latin1').at(-1), 0xe9);
});

test('hunk counts without commas, and a blank context line without its space', () => {
  const { files } = parseDiff('diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n');
  assert.deepEqual(files[0]!.hunks[0]!.lines, [' a', ' ', '-b', '+c']);
  assert.equal(files[0]!.additions, 1);
});

test('a diff cut off mid-hunk ends cleanly and the next header is still read', () => {
  const p = new DiffParser();
  for (const l of ['diff --git a/x b/x', '--- a/x', '+++ b/x', '@@ -1,5 +1,5 @@', ' a', 'diff --git a/y b/y', 'new file mode 100644'])
    p.line(l);
  assert.deepEqual(
    p.finish().map((f) => [f.path, f.status]),
    [
      ['x', 'modified'],
      ['y', 'added'],
    ],
  );
});

test('the line splitter joins lines and multi-byte characters across chunks', () => {
  const got: Array<[string, boolean]> = [];
  const s = new LineSplitter((t, n) => got.push([t, n]));
  const bytes = Buffer.from('héllo\nwörld\r\nlast');
  for (let i = 0; i < bytes.length; i++) s.push(bytes.subarray(i, i + 1));
  s.end();
  assert.deepEqual(got, [
    ['héllo', false],
    ['wörld\r', false],
    ['last', false],
  ]);
});
