import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { openRepository } from '../../src/git/repository.js';
import { FEATURE_NAMES, type ExpertFeatures } from '../../src/git/expertFeatures.js';
import { jitdpDataset } from '../../src/tasks/jitdp/dataset.js';
import { linesOfText } from '../../src/tasks/jitdp/input.js';
import { NeuralRisk, loadNeural, saveNeural, trainNeural } from '../../src/tasks/jitdp/neural.js';
import { assessRisk, loadRiskModel } from '../../src/tasks/jitdp/risk.js';
import { tempDir, type TestRepo } from '../helpers/gitRepo.js';
import { assertReasonsAgree, riskyHistory } from '../helpers/riskyHistory.js';
import { writeTinyRoberta } from '../helpers/tinyModels.js';
import '../helpers/goldens.js';
import { writeOutputFolder } from '../../src/util/outputTarget.js';

const repos: TestRepo[] = [];
after(() => repos.forEach((r) => r.cleanup()));

test(
  'JIT-Fine-style neural model: LoRA on a RoBERTa encoder learns a real history, calibrates, saves, explains',
  { timeout: 300_000 },
  async () => {
    const r = riskyHistory(300);
    repos.push(r);
    const data = await jitdpDataset(await openRepository(r.dir));
    const encoder = writeTinyRoberta(join(tempDir(), 'tiny-roberta'));
    const events: string[] = [];
    const m = await trainNeural(data.train, data.validation, {
      encoder,
      epochs: 6,
      maxLength: 48,
      batch: 16,
      lr: 5e-3,
      onEvent: (e) => events.push(e.kind),
    });
    assert.ok(events.includes('step') && events.includes('eval') && events.includes('encoded'), events.join());
    assert.ok(m.threshold > 0 && m.threshold < 1);
    assert.ok(m.platt.a > 0, 'calibration keeps the ranking');
    const risk = await NeuralRisk.create(m);
    const metrics = await risk.evaluate(data.test);
    assert.ok(metrics.aucRoc > 0.75, `test AUC ${metrics.aucRoc}`);

    // Saved and loaded: the same probabilities, from PEFT-format files.
    const dir = join(tempDir(), 'model');
    await writeOutputFolder(dir, (tmp) => saveNeural(tmp, m, { repo: r.dir }));
    for (const f of ['adapter_config.json', 'adapter_model.safetensors', 'extra_trainable.safetensors', 'jitdp.json'])
      assert.ok(existsSync(join(dir, f)), f);
    const loaded = await loadNeural(dir);
    assert.deepEqual(loaded.info, { repo: r.dir });
    const again = await NeuralRisk.create(loaded);
    const [p1, p2] = [await risk.score(data.test.slice(0, 5)), await again.score(data.test.slice(0, 5))];
    p1.forEach((p, i) => assert.ok(Math.abs(p - p2[i]!) < 1e-6, `${p} vs ${p2[i]}`));

    const c = data.test.find((x) => x.label === 1)!;
    // `changeling risk` with the saved folder: a commit scored with reasons and attention-ranked lines.
    const repo = await openRepository(r.dir);
    const rm = await loadRiskModel(repo, dir);
    assert.equal(rm.kind, 'neural');
    const [res] = await assessRisk(repo, { kind: 'commit', rev: c.sha }, rm, { lines: 3 });
    assert.ok(Math.abs(res!.probability - (await again.score([c]))[0]!) < 1e-5, 'the same score from the repository as from the dataset');
    assert.ok(res!.reasons.length > 0 && res!.reasons.length <= 5);
    assertReasonsAgree([res!]);
    assert.ok(res!.lines.length > 0 && res!.lines.every((l) => l.score > 0 && l.path.endsWith('.c')));

    // Explanations: occlusion contributions are exactly the logit changes; the typical commit (the training medians) has none.
    const lines = linesOfText(c.added, c.removed);
    const e = await risk.explain(c, lines);
    assert.ok(Math.abs(e.prob - (await risk.score([c]))[0]!) < 1e-6);
    assert.equal(e.reasons.length, 14);
    assert.equal(e.lineScores.length, lines.length);
    assert.ok(
      e.lineScores.every((s) => s !== null && s > 0),
      'every line of a short change is scored',
    );
    assert.ok(e.lineScores.reduce<number>((s, x) => s + x!, 0) < 1, 'attention shares sum to less than one');
    const typical = Object.fromEntries(FEATURE_NAMES.map((n, i) => [n, m.median![i]!])) as ExpertFeatures;
    const flat = await risk.explain({ message: c.message, features: typical }, lines);
    assert.ok(
      flat.reasons.every((x) => Math.abs(x.contribution) < 1e-4),
      JSON.stringify(flat.reasons),
    );

    // Cancellation stops training with a clear error.
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(trainNeural(data.train, data.validation, { encoder, epochs: 1, maxLength: 32, signal: ac.signal }), /cancel/i);
    // A T5 folder is refused with a reason.
    await assert.rejects(trainNeural(data.train, data.validation, { encoder: join('test/fixtures/goldens', 't5-tiny') }), /RoBERTa-family/);
  },
);

test(
  'JIT-Fine-style neural model with prefix-tuning: trains, saves and loads the same probabilities, and its line scores still index the lines',
  { timeout: 300_000 },
  async () => {
    const r = riskyHistory(200);
    repos.push(r);
    const data = await jitdpDataset(await openRepository(r.dir));
    const encoder = writeTinyRoberta(join(tempDir(), 'tiny-roberta'));
    const m = await trainNeural(data.train, data.validation, { encoder, method: 'prefix', epochs: 3, maxLength: 48, batch: 16, lr: 5e-3 });
    assert.equal(m.method, 'prefix');
    assert.ok([...m.params.keys()].some((k) => /prefix_key$/.test(k)));
    const risk = await NeuralRisk.create(m);
    const metrics = await risk.evaluate(data.test);
    assert.ok(metrics.aucRoc > 0.6, `test AUC ${metrics.aucRoc}`);
    const dir = join(tempDir(), 'prefix-model');
    await writeOutputFolder(dir, (tmp) => saveNeural(tmp, m, {}));
    const again = await NeuralRisk.create(await loadNeural(dir));
    const [p1, p2] = [await risk.score(data.test.slice(0, 4)), await again.score(data.test.slice(0, 4))];
    p1.forEach((p, i) => assert.ok(Math.abs(p - p2[i]!) < 1e-6, `${p} vs ${p2[i]}`));
    const c = data.test.find((x) => x.label === 1)!;
    const lines = linesOfText(c.added, c.removed);
    const e = await risk.explain(c, lines);
    assert.equal(e.lineScores.length, lines.length);
    assert.ok(
      e.lineScores.reduce<number>((s, x) => s + (x ?? 0), 0) < 1,
      'attention shares (without the prefix slots) sum to less than one',
    );
  },
);
