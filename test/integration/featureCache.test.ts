import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openRepository } from '../../src/git/repository.js';
import { featureHistory } from '../../src/git/featureCache.js';
import { TestRepo } from '../helpers/gitRepo.js';

const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

const authors = [
  { name: 'Ada', email: 'ada@x.org' },
  { name: 'Bob', email: 'bob@x.org' },
];
function grow(r: TestRepo, n: number, tag: string): void {
  for (let i = 0; i < n; i++)
    r.write(`src/${tag}${i % 3}.c`, `int ${tag}${i} = ${i};\n`.repeat(i + 1)).commitAs(
      `${i % 4 ? 'change' : 'Fix bug'} ${tag}${i}`,
      authors[i % 2]!,
    );
}

test('the feature history cache: the same HEAD reads it, new commits are walked alone, a rewritten history is walked again, a corrupt cache is rebuilt', async () => {
  const r = TestRepo.init();
  repos.push(r);
  grow(r, 20, 'a');
  const first = await featureHistory(await openRepository(r.dir));
  assert.deepEqual([first.source, first.walked, first.features.size], ['full', 20, 20]);
  const again = await featureHistory(await openRepository(r.dir));
  assert.deepEqual([again.source, again.walked], ['cache', 0]);
  assert.deepEqual([...again.features], [...first.features]);

  grow(r, 3, 'b');
  const inc = await featureHistory(await openRepository(r.dir));
  assert.deepEqual([inc.source, inc.walked, inc.features.size], ['incremental', 3, 23]);
  const fresh = await featureHistory(await openRepository(r.dir), { cache: false });
  assert.deepEqual([...inc.features].sort(), [...fresh.features].sort(), 'a linear history: the same features as a full walk');
  assert.deepEqual(inc.state.toJSON(), fresh.state.toJSON());

  r.git('reset', '-q', '--hard', 'HEAD~5');
  grow(r, 1, 'c');
  const rewritten = await featureHistory(await openRepository(r.dir));
  assert.deepEqual([rewritten.source, rewritten.features.size], ['full', 19]);

  writeFileSync(join(r.dir, '.git', 'changeling', 'features-cache.json'), '{"format": "changeling-feature-history/1", "he');
  const rebuilt = await featureHistory(await openRepository(r.dir));
  assert.deepEqual([rebuilt.source, rebuilt.features.size], ['full', 19]);
  assert.equal((await featureHistory(await openRepository(r.dir))).source, 'cache');
});
