import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mentionedNames, shapeMessage, wrap } from '../../src/tasks/cmg/llmWriter.js';

test('a model answer as a commit message: fences, labels and quotes gone, the typed start kept, the body wrapped at 72', () => {
  assert.equal(shapeMessage('```\nFix the parser\n```', ''), 'Fix the parser');
  assert.equal(shapeMessage('Commit message: "Fix the parser"\n\nMore', '', { body: false }), 'Fix the parser');
  assert.equal(shapeMessage(' the CRLF case\r\n', 'fix(parse):'), 'fix(parse): the CRLF case');
  const long = 'This body line is long enough that it has to be wrapped somewhere before the seventy-third column.';
  const m = shapeMessage(`Strip CR\n\n${long}\n- a bullet that is also far too long to stay on one line of seventy-two columns`, '', {
    body: true,
  });
  const lines = m.split('\n');
  assert.equal(lines[0], 'Strip CR');
  assert.equal(lines[1], '');
  assert.ok(
    lines.every((l) => l.length <= 72),
    m,
  );
  assert.match(m, /\n- a bullet that[^\n]*\n  [a-z]/, 'a bullet continues indented');
  assert.equal(wrap('', 72), '');
});

test('the names a message mentions: backticks, snake_case, dotted, paths, camelCase, calls; not plain words', () => {
  assert.deepEqual(
    mentionedNames('Fix `parse_input` in src/parse.ts: call readLine() and os.path.join, as the docs say.').sort(),
    ['os.path.join', 'parse_input', 'readLine', 'src/parse.ts'].sort(),
  );
  assert.deepEqual(mentionedNames('Update dependencies. Fix typo in README.'), []);
});
