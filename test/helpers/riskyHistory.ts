import assert from 'node:assert/strict';
import type { FeatureName } from '../../src/git/expertFeatures.js';
import { FACTS, agreesWithDirection, type RiskReason } from '../../src/tasks/jitdp/reasons.js';
import { TestRepo } from './gitRepo.js';
import { seededRandom } from '../../src/train/batching.js';

/** A history where some commits add a risky call that a later "Fix ..." commit removes. */
export function riskyHistory(n: number): TestRepo {
  const r = TestRepo.init();
  const rand = seededRandom(3);
  const files = ['src/a.c', 'src/b.c', 'lib/c.c', 'lib/d.c'];
  const content = new Map(files.map((f) => [f, [`// ${f}`]]));
  const pending: Array<{ file: string; line: string; due: number }> = [];
  const authors = [
    { name: 'Ada', email: 'ada@x.org' },
    { name: 'Bob', email: 'bob@x.org' },
  ];
  for (let i = 0; i < n; i++) {
    const due = pending.filter((p) => p.due <= i);
    if (due.length) {
      for (const p of due)
        content.set(
          p.file,
          content.get(p.file)!.map((l) => (l === p.line ? `safe_copy(buf${i}, len);` : l)),
        );
      pending.splice(0, pending.length, ...pending.filter((p) => p.due > i));
      for (const f of files) r.write(f, content.get(f)!.join('\n') + '\n');
      r.commitAs(`Fix overflow in copy (#${100 + i})`, authors[i % 2]!);
      continue;
    }
    const file = files[Math.floor(rand() * files.length)]!;
    const risky = rand() < 0.3;
    const line = risky ? `unsafe_copy(buf${i}, len);` : `safe_copy(buf${i}, len);`;
    content.get(file)!.push(line, `int v${i} = ${i};`);
    if (risky) pending.push({ file, line, due: i + 1 + Math.floor(rand() * 4) });
    for (const f of files) r.write(f, content.get(f)!.join('\n') + '\n');
    r.commitAs(`update ${file} step ${i}`, authors[Math.floor(rand() * 2)]!);
  }
  return r;
}

/**
 * The reasons of every result agree: no two from the same fact, and no feature among them whose effect here
 * goes against its established direction (what `riskReasons` promises, checked on its output wherever a
 * report comes from: the linear, neural and CC2Vec models, the CLI's JSON).
 */
export function assertReasonsAgree(results: ReadonlyArray<{ reasons: readonly RiskReason[] }>): void {
  for (const r of results) {
    const facts = r.reasons.filter((x) => x.fact !== 'token').map((x) => x.fact);
    assert.equal(new Set(facts).size, facts.length, `two reasons from one fact: ${JSON.stringify(r.reasons)}`);
    for (const x of r.reasons) {
      if (x.fact === 'token') {
        assert.match(x.parts[0]!.name, /^token [+-]/);
        continue;
      }
      assert.ok(x.parts.length > 0);
      for (const p of x.parts) {
        assert.ok(FACTS[x.fact]!.includes(p.name as FeatureName), `${p.name} is not a measure of ${x.fact}`);
        assert.ok(agreesWithDirection(p.name, p.contribution, p.deviation!), `${p.name} goes against its direction: ${JSON.stringify(x)}`);
      }
      assert.ok(Math.abs(x.contribution - x.parts.reduce((s, p) => s + p.contribution, 0)) < 1e-9);
    }
  }
}
