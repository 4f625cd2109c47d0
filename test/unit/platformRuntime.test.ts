import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runtimeStatus } from '../../src/runtime/platformRuntime.js';

test("the runtime check: present where onnxruntime-node has this platform's binary; otherwise a sentence saying what works and what to install", () => {
  assert.equal(runtimeStatus(process.cwd()).present, true, 'the development checkout has every binary');
  const empty = mkdtempSync(join(tmpdir(), 'changeling-universal-'));
  const missing = runtimeStatus(empty, 'win32', 'x64');
  assert.equal(missing.present, false);
  assert.match(missing.message!, /no model runtime for win32-x64 in this package: .* need changeling-win32-x64\.vsix/);
  assert.match(runtimeStatus(empty, 'freebsd', 'x64').message!, /onnxruntime has no build for freebsd-x64/);
  rmSync(empty, { recursive: true });
});
