import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDiff } from '../../src/git/diffParser.js';
import { diffWithin, llmPrompt } from '../../src/tasks/cmg/llmPrompt.js';
import type { CommitStyle } from '../../src/tasks/cmg/style.js';

const file = (path: string, lines: string[], section = '') =>
  `diff --git a/${path} b/${path}\nindex 1111111..2222222 100644\n--- a/${path}\n+++ b/${path}\n@@ -1,${lines.length} +1,${lines.length} @@${section ? ` ${section}` : ''}\n${lines.join('\n')}\n`;

const DIFF =
  file('README.md', ['-old words', '+new words']) +
  file('test/parse.test.ts', ['-assert(1)', '+assert(2)']) +
  file('src/parse.ts', ['-a', '+b', '-c', '+d', ' e'], 'function parse()') +
  file('package-lock.json', ['-"x": 1', '+"x": 2']) +
  file(
    'src/big.ts',
    Array.from({ length: 200 }, (_, i) => `+line ${i} of a long new block`),
  );

// One token per word, as a stand-in tokenizer.
const words = (t: string) => t.split(/\s+/).filter(Boolean).length;

test('the diff within a budget: code first, then tests, then the rest; hunks whole; what is left out named', () => {
  const { files } = parseDiff(DIFF);
  const all = diffWithin(files, 100_000, words);
  const order = [...all.text.matchAll(/^diff --git a\/(\S+)/gm)].map((m) => m[1]);
  assert.deepEqual(
    order,
    ['src/big.ts', 'src/parse.ts', 'test/parse.test.ts', 'README.md'],
    'more changed lines first among code; tests; then docs',
  );
  assert.match(all.text, /@@ -1,5 \+1,5 @@ function parse\(\)\n-a\n\+b/, 'the hunk keeps its function-context heading');
  assert.match(all.text, /package-lock\.json: changed \(.+; not shown\)/);
  assert.deepEqual(all.dropped, [{ path: 'package-lock.json', why: 'lock' }]);
  // A budget that holds the small files but not the 200-line block: it is named, not cut mid-hunk.
  const small = diffWithin(files, 60, words);
  assert.doesNotMatch(small.text, /line 5 of a long/);
  assert.match(small.text, /Also changed, not shown: src\/big\.ts/);
  assert.ok(small.dropped.some((d) => d.path === 'src/big.ts' && d.why === 'budget'));
  assert.ok(small.tokens <= 60);
});

test('the turns: instructions with the conventions, examples as earlier answers, recent subjects, the typed start', () => {
  const { files } = parseDiff(DIFF);
  const style: CommitStyle = {
    subjects: 40,
    conventional: 0.9,
    types: [
      ['fix', 20],
      ['feat', 10],
    ],
    scopes: {},
    ticket: { share: 0.8, form: 'colon', project: 'ABC' },
    capitalized: 0.1,
    imperative: 0.9,
    period: 0,
  };
  const example = parseDiff(file('src/x.ts', ['-1', '+2'])).files;
  const p = llmPrompt(files, {
    budget: 1000,
    countTokens: words,
    style,
    branch: 'feature/ABC-42-parser',
    examples: [{ message: 'fix: bump x\n\nBecause.', files: example }],
    recentSubjects: ['feat: a', 'fix: b'],
    typed: 'fix(parse): ',
    body: false,
  });
  assert.deepEqual(
    p.messages.map((m) => m.role),
    ['system', 'user', 'assistant', 'user', 'assistant'],
  );
  const sys = p.messages[0]!.content;
  assert.match(sys, /Conventional Commits: "type\(scope\): description", with the types this repository uses \(fix, feat\)\./);
  assert.match(sys, /starts with a lower-case letter/);
  assert.match(sys, /Start the subject with the ticket ABC-42 \(from the branch name\)\./);
  assert.match(sys, /Reply with the subject line alone\./);
  assert.match(p.messages[1]!.content, /^diff --git a\/src\/x\.ts/);
  assert.equal(p.messages[2]!.content, 'fix: bump x', 'without a body, the example answers with its subject');
  assert.match(
    p.messages[3]!.content,
    /^My recent commit subjects here:\n- feat: a\n- fix: b\n\nThe change:\ndiff --git a\/src\/parse\.ts[\s\S]*\nAlso changed, not shown: src\/big\.ts$/,
  );
  assert.equal(p.messages[4]!.content, 'fix(parse): ');
  // No history to learn from: no conventions are claimed.
  assert.doesNotMatch(llmPrompt(files, { budget: 10, countTokens: words }).messages[0]!.content, /Conventional|ticket|letter/);
});
