import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ARCHITECTURES, architectureFor } from '../../src/models/architectures.js';

/** One record per architecture, listed once: what reads config.json's model_type and where the rules live. */
test('each model_type is read by exactly one record, and an unknown one names those supported', () => {
  const types = ARCHITECTURES.flatMap((a) => a.modelTypes);
  assert.equal(new Set(types).size, types.length);
  assert.equal(architectureFor('qwen2', 'x').kind, 'llama');
  assert.equal(architectureFor('plbart', 'x').kind, 'bart');
  assert.throws(
    () => architectureFor('gpt2', 'config.json'),
    /model_type "gpt2" is not supported \(t5, bart, plbart, roberta, llama, qwen2\)/,
  );
});

test('every record parses the configs of its goldens', () => {
  const configs = [
    ...['t5-tiny', 'plbart-tiny', 'roberta-tiny'].map((f) => join('test/fixtures/goldens', f, 'config.json')),
    ...['qwen2-tiny', 'llama-tiny', 'qwen2-hd64'].map((f) => join('test/fixtures/decoder', f, 'config.json')),
  ];
  for (const path of configs) {
    const raw = JSON.parse(readFileSync(path, 'utf8'));
    const arch = architectureFor(raw.model_type, path);
    assert.ok(arch.parseConfig(raw, path), path);
    assert.ok(arch.shapeRules(arch.parseConfig(raw, path) as never).length > 0);
  }
});

test("no code outside the records dispatches on config.json's model_type", () => {
  const offenders: string[] = [];
  const walk = (dir: string) => {
    for (const n of readdirSync(dir)) {
      const p = join(dir, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (
        p.endsWith('.ts') &&
        !p.endsWith('architectures.ts') &&
        /case '(t5|bart|plbart|roberta|llama|qwen2)':/.test(readFileSync(p, 'utf8'))
      )
        offenders.push(p);
    }
  };
  walk('src');
  assert.deepEqual(offenders, []);
});
