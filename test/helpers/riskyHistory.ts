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
