import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isFix, messageWords } from '../../src/git/fixMessage.js';
import { cleanMessage, droppedMessage } from '../../src/tasks/cmg/messageClean.js';
import { applyStyle, learnStyle } from '../../src/tasks/cmg/style.js';
import { nistNormalize, splitPuncts } from '../../src/eval/cmgMetrics.js';
import { meteorNormalize } from '../../src/eval/meteor.js';
import { parseDiff } from '../../src/git/diffParser.js';
import { diffWords } from '../../src/tasks/cmg/nngen.js';
import { fieldText, terminalSafe } from '../../src/util/text.js';

/**
 * Every regular expression applied to text from a repository or a user runs in linear time: each function
 * that applies them gets 1 MB inputs built to make a backtracking pattern go quadratic (a pasted blob as a
 * subject, an address without an end, a URL scheme that never closes). Quadratic on 1 MB is hours; the bound
 * below only catches that (it is not a benchmark).
 */
const MB = 1 << 20;
const inputs: Record<string, string> = {
  'one word': 'x'.repeat(MB),
  'at signs': 'a@'.repeat(MB / 2),
  'an address without an end': `${'a'.repeat(MB)}@${'b.'.repeat(1000)}`,
  'dots and letters': 'a.'.repeat(MB / 2),
  'a scheme that never closes': 'http:'.repeat(MB / 5),
  'www without an end': 'www.'.repeat(MB / 4),
  spaces: ' '.repeat(MB),
  humps: 'aA'.repeat(MB / 2),
  'all capitals then one small': `${'A'.repeat(MB)}a`,
  digits: '1-'.repeat(MB / 2),
  'a trailer': `Bug:${'x '.repeat(MB / 2)}`,
  'merge branch': `Merge branch '${'x'.repeat(MB)}`,
  'dates almost': '12-34-'.repeat(MB / 6),
  quotes: "' ".repeat(MB / 2),
};

const within = (what: string, fn: () => unknown) => {
  const t0 = performance.now();
  fn();
  const s = (performance.now() - t0) / 1000;
  assert.ok(s < 10, `${what} took ${s.toFixed(1)} s on 1 MB: a pattern backtracks`);
};

test('fix words, message cleaning, style, metrics tokenisation and escaping are linear on 1 MB adversarial text', () => {
  const style = learnStyle(['feat(x): add y', 'fix: z']);
  for (const [name, s] of Object.entries(inputs)) {
    within(`messageWords(${name})`, () => messageWords(s));
    within(`isFix(${name})`, () => isFix(s));
    within(`cleanMessage(${name})`, () => cleanMessage(s));
    within(`droppedMessage(${name})`, () => droppedMessage(s));
    within(`learnStyle(${name})`, () => learnStyle([s, s], [[s]]));
    within(`applyStyle(${name})`, () => applyStyle(s, style, { branch: s, paths: [s] }));
    within(`splitPuncts(${name})`, () => splitPuncts(s));
    within(`nistNormalize(${name})`, () => nistNormalize(s));
    within(`meteorNormalize(${name})`, () => meteorNormalize(s));
    within(`terminalSafe(${name})`, () => fieldText(terminalSafe(s), 200));
  }
  assert.equal(isFix('Fix the crash (see https://example.com/fix-it) and mail bob@example.com'), true);
  assert.deepEqual(messageWords(`fix ${'x'.repeat(600)}@y.z done`), ['fix', 'done'], 'a long address still counts as an address');
});

test('the diff parser and NNGen words are linear on a 1 MB line', () => {
  for (const [name, s] of Object.entries(inputs)) {
    const diff = `diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1 +1 @@\n-${s}\n+${s}x\n`;
    within(`parseDiff(${name})`, () => diffWords(parseDiff(diff).files));
  }
});
