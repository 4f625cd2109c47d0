import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDiff } from '../../src/git/diffParser.js';
import { lineInputs, scoreLines, parseLineModel } from '../../src/tasks/jitdp/lineModel.js';

const DIFF = `diff --git a/src/copy.c b/src/copy.c
index 1111111..2222222 100644
--- a/src/copy.c
+++ b/src/copy.c
@@ -1,3 +1,4 @@
 int a;
-int b = 0;
+int b = 1;
+    unsafe_copy(buf, len);
 
diff --git a/test/copy_test.c b/test/copy_test.c
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/test/copy_test.c
@@ -0,0 +1,2 @@
+check(copy(buf));
+
`;

test('line inputs: tokens valued over the whole change, the line’s context, nothing for removed or blank lines', () => {
  const { files } = parseDiff(DIFF);
  const { lines, inputs } = lineInputs(files);
  assert.deepEqual(
    lines.map((l) => `${l.sign}${l.path}:${l.line}`),
    ['-src/copy.c:2', '+src/copy.c:2', '+src/copy.c:3', '+test/copy_test.c:1', '+test/copy_test.c:2'],
  );
  assert.equal(inputs[0], null, 'a removed line is not scored');
  assert.equal(inputs[4], null, 'a blank line is not scored');
  const b = inputs[1]!;
  // "+int" occurs once in the change; "+buf" twice (shared between its lines).
  assert.equal(b.get('+int'), Math.log1p(1));
  assert.equal(inputs[2]!.get('+buf'), Math.log1p(2) / 2);
  assert.equal(b.get('@hunk removes'), Math.log1p(1));
  assert.equal(b.get('@hunk adds'), Math.log1p(2));
  assert.equal(b.get('@test'), undefined);
  assert.equal(inputs[2]!.get('@indent'), 1 / 4, 'four spaces: one level');
  const t = inputs[3]!;
  assert.equal(t.get('@test'), 1);
  assert.equal(t.get('@new file'), 1);
  assert.equal(t.get('@file adds'), Math.log1p(2));
  assert.equal(t.get('@tokens'), Math.log1p(8), 'check ( copy ( buf ) ) ;: 8 tokens');
});

test('scores are probabilities from the weights; the reasons are the tokens that raise a line most', () => {
  const { files } = parseDiff(DIFF);
  const m = parseLineModel({ bias: -1, weights: { '+unsafe_copy': 3, '+buf': 1, '+int': -2, '@test': -5, '(': 9 } }, 'm.json');
  const { scores, why } = scoreLines(m, files);
  assert.equal(scores[0], null);
  const expected = 1 / (1 + Math.exp(-(-1 + 3 * Math.log1p(1) + (Math.log1p(2) / 2) * 1)));
  assert.ok(Math.abs(scores[2]! - expected) < 1e-12);
  assert.deepEqual(why[2], ['token +unsafe_copy', 'token +buf']);
  assert.deepEqual(why[1], [], 'a token that lowers a line is not a reason');
  assert.ok(scores[3]! < scores[2]!, 'the test file’s line ranks below');
  assert.throws(() => parseLineModel({ bias: 'x', weights: {} }, 'm.json'), /m\.json: lines\.bias must be a number/);
  assert.throws(() => parseLineModel({ bias: 0, weights: { '+a': Infinity } }, 'm.json'), /lines\.weights "\+a" must be a number/);
  assert.throws(() => parseLineModel(null, 'm.json'), /lines\.weights must map/);
});
