import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OriginsLogParser, applyScript, parseSinglePatch, type PatchedCommit } from '../../src/git/patchOps.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const Z = '0'.repeat(40);

/** Two commits as `git log --raw -p -U0 -w` prints them: a whitespace-only change has a raw line and no patch. */
const LOG = [
  `\x01\x01${A}`,
  '',
  `:000000 100644 ${Z} ${B} A\tnew.c`,
  '',
  'diff --git a/new.c b/new.c',
  'new file mode 100644',
  'index 0000000..bbbbbbb',
  '--- /dev/null',
  '+++ b/new.c',
  '@@ -0,0 +1,3 @@',
  '+one',
  '+two',
  '+three',
  '\\ No newline at end of file',
  `\x01\x01${C} ${A}`,
  '',
  `:100644 100644 ${B} ${C} M\tws only.c`,
  `:100644 100644 ${B} ${C} R090\tnew.c\t"odd\\tname.c"`,
  '',
  'diff --git a/new.c "b/odd\\tname.c"',
  'similarity index 90%',
  'rename from new.c',
  'rename to "odd\\tname.c"',
  '--- a/new.c',
  '+++ "b/odd\\tname.c"',
  '@@ -1,0 +2 @@',
  '+-- a removed-looking added line',
  '@@ -3 +3,0 @@',
  '-three',
  '',
].join('\n');

test('the origins log parser reads raw entries and line scripts, and finds each patch by its header (quoted paths too)', () => {
  const commits: PatchedCommit[] = [];
  const p = new OriginsLogParser((c) => commits.push(c));
  // Fed in small pieces, as a pipe delivers it.
  const bytes = Buffer.from(LOG);
  for (let i = 0; i < bytes.length; i += 7) p.push(bytes.subarray(i, i + 7));
  p.end();
  assert.deepEqual(
    commits.map((c) => [c.sha, c.parents]),
    [
      [A, []],
      [C, [A]],
    ],
  );
  assert.deepEqual(
    commits[1]!.raw.map((e) => [e.status, e.oldPath, e.newPath]),
    [
      ['M', 'ws only.c', 'ws only.c'],
      ['R', 'new.c', 'odd\tname.c'],
    ],
  );
  assert.equal(commits[1]!.raw[0]!.oldBlob, B);
  assert.equal(commits[0]!.raw[0]!.oldBlob, '', 'the null blob of an added file');
  assert.deepEqual([...commits[1]!.patches.keys()], [1], 'the whitespace-only change has no patch');
  const added = commits[0]!.patches.get(0)!;
  const renamed = commits[1]!.patches.get(1)!;
  // Origins: the first commit gives its three lines index 0; the second inserts after line 1 and drops line 3.
  const first = applyScript(new Int32Array(0), added, 0)!;
  assert.deepEqual([...first], [0, 0, 0]);
  assert.deepEqual([...applyScript(first, renamed, 1)!], [0, 1, 0]);
});

test('a line script that does not fit the file it is applied to gives null, never wrong origins', () => {
  const patch = parseSinglePatch(Buffer.from('diff --git a/x b/x\n@@ -5,2 +5 @@\n-a\n-b\n+c\n'))!;
  assert.deepEqual({ adds: patch.adds, drops: patch.drops }, { adds: 1, drops: 2 });
  assert.equal(applyScript(new Int32Array(4), patch, 9), null, 'line 5 and 6 of a 4-line file');
  assert.deepEqual([...applyScript(new Int32Array([1, 2, 3, 4, 5, 6, 7]), patch, 9)!], [1, 2, 3, 4, 9, 7]);
  assert.equal(parseSinglePatch(Buffer.alloc(0)), null, 'no patch: the blobs are equal as -w sees them');
  assert.equal(parseSinglePatch(Buffer.from('diff --git a/x b/x\nBinary files a/x and b/x differ\n'))!.binary, true);
});
