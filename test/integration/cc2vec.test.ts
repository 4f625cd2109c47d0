import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { openRepository } from '../../src/git/repository.js';
import { gradients } from '../../src/graph/grad.js';
import { serialize } from '../../src/graph/serialize.js';
import { jitdpDataset } from '../../src/tasks/jitdp/dataset.js';
import { linesOfText } from '../../src/tasks/jitdp/input.js';
import {
  Cc2VecRisk,
  cc2vecGraph,
  encodeForCc2Vec,
  initParams,
  loadCc2Vec,
  saveCc2Vec,
  trainCc2Vec,
  type Cc2VecConfig,
} from '../../src/tasks/jitdp/cc2vec.js';
import { assessRisk, loadRiskModel } from '../../src/tasks/jitdp/risk.js';
import { tempDir, type TestRepo } from '../helpers/gitRepo.js';
import { assertReasonsAgree, riskyHistory } from '../helpers/riskyHistory.js';
import { rng } from '../helpers/gradCheck.js';
import { writeOutputFolder } from '../../src/util/outputTarget.js';

const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

test("CC2Vec's graph: the autodiff gradient of every parameter agrees with central finite differences", { timeout: 120_000 }, async () => {
  const config: Cc2VecConfig = {
    vocab: ['<pad>', '<unk>', ...Array.from({ length: 18 }, (_, i) => `w${i}`)],
    embed: 6,
    hidden: 5,
    hunks: 2,
    lines: 3,
    words: 4,
    ntn: 2,
    featureDim: 3,
  };
  const g = cc2vecGraph(config, true);
  for (const [i, gr] of gradients(
    g.b,
    g.loss!,
    g.params.map((p) => p.tensor),
  ).entries())
    g.b.output(gr, `grad${i}`);
  g.b.output(g.loss!, 'loss');
  const s = await ort.InferenceSession.create(serialize(g.b).model);
  const r = rng(3);
  const params = initParams(g.params, 5);
  // Larger values than the initialisation, so that every term moves the loss.
  for (const v of params.values()) for (let i = 0; i < v.length; i++) v[i] = v[i]! * 3 + 0.2 * r();
  const index = new Map(config.vocab.map((w, i) => [w, i]));
  const rows = [
    linesOfText('w1 w2 w3\nw4 w5', 'w6 w7', { added: [1, 1], removed: [1] }),
    linesOfText('w8 w9 nope', '', { added: [1], removed: [] }),
    linesOfText('w10\nw11 w12\nw13\nw14', 'w15 w16\nw17', { added: [2, 2], removed: [1, 1] }),
  ].map((l) => encodeForCc2Vec(config, index, l));
  const B = rows.length;
  const per = config.hunks * config.lines * config.words;
  const stack = (pick: (e: (typeof rows)[number]) => BigInt64Array) => {
    const out = new BigInt64Array(B * per);
    rows.forEach((e, i) => out.set(pick(e), i * per));
    return new ort.Tensor('int64', out, [B, config.hunks, config.lines, config.words]);
  };
  const data = {
    added_ids: stack((e) => e.added),
    removed_ids: stack((e) => e.removed),
    expert_features: new ort.Tensor(
      'float32',
      Float32Array.from({ length: B * 14 }, () => r()),
      [B, 14],
    ),
    labels: new ort.Tensor('float32', Float32Array.from([1, 0, 1]), [B]),
  };
  const run = async (vals: Map<string, Float32Array>) =>
    s.run({
      ...data,
      ...Object.fromEntries(g.params.map((p) => [p.tensor.name, new ort.Tensor('float32', vals.get(p.tensor.name)!, p.shape)])),
    });
  const out = await run(params);
  let checked = 0;
  for (const [i, p] of g.params.entries()) {
    const grad = out[`grad${i}`]!.data as Float32Array;
    // The three largest components of each parameter (the pad embedding row has none).
    const top = [...grad.keys()]
      .sort((a, b) => Math.abs(grad[b]!) - Math.abs(grad[a]!))
      .slice(0, 3)
      .filter((k) => Math.abs(grad[k]!) > 1e-4);
    assert.ok(top.length > 0, `${p.tensor.name} gets no gradient`);
    for (const k of top) {
      const h = 5e-3;
      const at = (d: number) => {
        const v = new Map(params);
        const x = Float32Array.from(params.get(p.tensor.name)!);
        x[k] = x[k]! + d;
        v.set(p.tensor.name, x);
        return run(v).then((o) => Number(o.loss!.data[0]));
      };
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      const err = Math.abs(fd - grad[k]!) / Math.max(1e-3, Math.abs(grad[k]!));
      assert.ok(err < 0.05, `${p.tensor.name}[${k}]: autodiff ${grad[k]} vs finite difference ${fd}`);
      checked++;
    }
  }
  assert.ok(checked >= 40, `${checked} components checked`);
});

test(
  'CC2Vec-style model on a generated history: finds the risky change, saves, loads, explains with the risky line first',
  { timeout: 300_000 },
  async () => {
    const r = riskyHistory(300);
    repos.push(r);
    const data = await jitdpDataset(await openRepository(r.dir));
    assert.ok(
      data.train.every((c) => c.hunks !== undefined),
      'the dataset records hunks',
    );
    const m = await trainCc2Vec(data.train, data.validation, { epochs: 20, seed: 1 });
    assert.ok(m.steps > 0 && m.validationAuc !== null);
    const risk = await Cc2VecRisk.create(m);
    const metrics = await risk.evaluate(data.test);
    assert.ok(metrics.aucRoc > 0.85, `test AUC ${metrics.aucRoc}`);

    const dir = join(tempDir(), 'cc2vec');
    await writeOutputFolder(dir, (tmp) => saveCc2Vec(tmp, m, { repo: r.dir }));
    assert.ok(existsSync(join(dir, 'cc2vec.json')) && existsSync(join(dir, 'cc2vec.safetensors')));
    const again = await Cc2VecRisk.create(await loadCc2Vec(dir));
    const [p1, p2] = [await risk.score(data.test.slice(0, 8)), await again.score(data.test.slice(0, 8))];
    p1.forEach((p, i) => assert.ok(Math.abs(p - p2[i]!) < 1e-6, `${p} vs ${p2[i]}`));

    // `changeling risk` with the saved folder: a buggy commit scored from the repository, its risky line ranked first.
    const repo = await openRepository(r.dir);
    const rm = await loadRiskModel(repo, dir);
    assert.equal(rm.kind, 'cc2vec');
    const c = data.test.find((x) => x.label === 1 && x.added.includes('unsafe_copy'))!;
    const [res] = await assessRisk(repo, { kind: 'commit', rev: c.sha }, rm, { lines: 3 });
    assert.ok(Math.abs(res!.probability - (await again.score([c]))[0]!) < 1e-4, 'the same score from the repository as from the dataset');
    assert.ok(res!.reasons.length > 0 && res!.reasons.length <= 5);
    assertReasonsAgree([res!]);
    assert.match(res!.lines[0]!.text, /unsafe_copy/);
    const e = await risk.explain(c, linesOfText(c.added, c.removed, c.hunks));
    const total = e.lineScores.reduce<number>((s, x) => s + (x ?? 0), 0);
    assert.ok(total > 0.49 && total <= 1.0001, `line weights sum to ${total}`);
  },
);
