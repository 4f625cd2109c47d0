import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Each policy lives in one module; a caller that bypasses it is a defect. These scans fail when code
 * outside a policy's module does what only that module may do (DESIGN.md, "Policies live in one place").
 */
function sources(dir = 'src'): Array<{ path: string; text: string }> {
  const out: Array<{ path: string; text: string }> = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (p.endsWith('.ts')) out.push({ path: p, text: readFileSync(p, 'utf8') });
  }
  return out;
}

/** Names a file imports from node:fs or node:fs/promises. */
const fsImports = (text: string) =>
  [...text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'node:fs(?:\/promises)?'/g)].flatMap((m) =>
    m[1]!.split(',').map(
      (n) =>
        n
          .trim()
          .replace(/^type\s+/, '')
          .split(/\s+as\s+/)[0]!,
    ),
  );

/** Files outside `allowed` that import any of `names` from the file system modules. */
function importers(names: string[], allowed: Record<string, string>): string[] {
  return sources()
    .filter((f) => !(f.path in allowed))
    .flatMap((f) =>
      fsImports(f.text)
        .filter((n) => names.includes(n))
        .map((n) => `${f.path}: ${n}`),
    );
}

/** Lines of code (comments dropped) that match `pattern`, outside the allowed files. */
function offenders(pattern: RegExp, allowed: Record<string, string>): string[] {
  const found: string[] = [];
  for (const { path, text } of sources()) {
    if (path in allowed) continue;
    text.split('\n').forEach((line, i) => {
      const code = line.replace(/\/\/.*$/, '');
      if (/^\s*\*/.test(code)) return;
      if (pattern.test(code)) found.push(`${path}:${i + 1}: ${line.trim()}`);
    });
  }
  return found;
}

test('output paths: only the policy modules and Changeling-owned caches remove, rename or write files directly', () => {
  const allowed = {
    'src/util/outputTarget.ts': 'the policy itself',
    'src/util/atomicFile.ts': 'atomic replacement of a path the policy allowed',
    'src/util/cleanup.ts': 'removes only the temporary paths registered with it',
    'src/util/lock.ts': "the lock file in a repository's changeling/ folder",
    'src/runtime/session.ts': 'a private mkdtemp copy of a graph for onnxruntime',
    'src/models/hub.ts': "the download cache's own partial files",
    'src/tasks/finetune/runState.ts': "checkpoints and run folders in a repository's changeling/ folder",
    'src/tasks/cmg/editPairs.ts': "the recorded edits and the pending suggestion in a repository's changeling/ folder",
    'src/git/hooks.ts': 'the hooks policy (exact text, chain, restore)',
  };
  const found = importers(
    [
      'rm',
      'rmSync',
      'rmdir',
      'rmdirSync',
      'rename',
      'renameSync',
      'unlink',
      'unlinkSync',
      'writeFile',
      'writeFileSync',
      'appendFile',
      'copyFile',
      'cp',
      'createWriteStream',
      'writeSync',
      'openSync',
    ],
    allowed,
  );
  assert.deepEqual(found, [], 'use writeOutputFolder / AtomicFile / removeOwned / withTempDir (src/util/outputTarget.ts)');
});

test('git: every git process comes from git/run.ts (no other child processes but the extension running its own CLI)', () => {
  const found = offenders(/from 'node:child_process'|require\('child_process'\)|simple-git/, {
    'src/git/run.ts': 'the git runner',
    'src/ui/cliChild.ts': "runs Changeling's own CLI with the editor's Node (process.execPath), never git",
    'src/cli/longArguments.ts': 'runs the command line program itself again (process.execPath), never git',
  });
  assert.deepEqual(found, []);
  const child = readFileSync('src/ui/cliChild.ts', 'utf8');
  assert.match(child, /spawn\(process\.execPath,/, 'cliChild runs only Node');
});

test('network: only the model download and the loopback-only message server open connections, and the server only after the loopback check', () => {
  const found = offenders(/\bfetch\(|from 'node:(https?|http2|net|tls|dgram)'|new WebSocket\(|XMLHttpRequest/, {
    'src/models/hub.ts': 'the explicit model download',
    'src/tasks/cmg/serverWriter.ts': 'a message server on a loopback address (loopbackUrl)',
  });
  assert.deepEqual(found, []);
  const server = readFileSync('src/tasks/cmg/serverWriter.ts', 'utf8');
  assert.match(server, /this\.url = loopbackUrl\(o\.url\)/, 'the server address goes through loopbackUrl');
  assert.equal(server.match(/\bfetch\(/g)?.length, 1, 'one request site');
  assert.match(server, /fetch\(endpoint, \{[\s\S]{0,300}?redirect: 'manual',\s*signal,\s*\}\)/, 'no redirect is followed');
  assert.match(server, /const endpoint = new URL\([^)]*withSlash\(this\.url\)\)/, 'requests go to the checked URL');
});

test('printing: stdout and stderr are written through cli/io.ts only (escaped; write failures end with exit 1)', () => {
  const found = offenders(/process\.(stdout|stderr)\.write\(/, { 'src/cli/io.ts': 'the printing policy' });
  assert.deepEqual(found, []);
});

test('reading: files are read through util/jsonFile.ts (regular files only, bounded), but for Changeling-owned ones', () => {
  const allowed = {
    'src/util/jsonFile.ts': 'the reading policy',
    'src/util/lock.ts': 'its own lock file',
    'src/util/outputTarget.ts': 'its own marker, after lstat says it is a regular file',
    'src/models/hub.ts': 'hashes its own cache files',
    'src/train/trainSession.ts': 'a checkpoint checked by regularFile first',
    'src/git/repository.ts': "git's own shallow file",
  };
  const found = importers(['readFile', 'readFileSync', 'createReadStream'], allowed);
  assert.deepEqual(found, []);
});

test('layout: no line in src/ is over 200 characters, every file opens with a comment, only src/ui and extension.ts import vscode', () => {
  const long = sources().flatMap((f) => f.text.split('\n').flatMap((l, i) => (l.length > 200 ? [`${f.path}:${i + 1} (${l.length})`] : [])));
  assert.deepEqual(long, [], 'split these lines by hand (prettier does not wrap strings or comments)');
  const uncommented = sources().filter(
    (f) => !/^(import[^\n]*\n)*\s*(\/\*\*|\/\/)/.test(f.text) && !/^\s*\/\*\*/m.test(f.text.split('\n').slice(0, 40).join('\n')),
  );
  assert.deepEqual(
    uncommented.map((f) => f.path),
    [],
  );
  const vscodeUsers = sources().filter(
    (f) => /from 'vscode'/.test(f.text) && !f.path.startsWith('src/ui/') && f.path !== 'src/extension.ts',
  );
  assert.deepEqual(
    vscodeUsers.map((f) => f.path),
    [],
  );
});

test('methods: the tuning methods are listed, checked and defaulted in peft/methods.ts only (no list, union or lr default of them elsewhere)', () => {
  // A list or union of method names, a comparison with full fine-tuning's name, a learning rate chosen by method.
  const pattern =
    /'lora' \| 'adapter'|\['lora', 'adapter'|method [!=]== 'fmft'|method [!=]== 'lora' [?&|]|\.method !== 'lora' &&|=== 'lora' \? [0-9]/;
  assert.deepEqual(
    offenders(pattern, {
      'src/peft/methods.ts': 'the record',
      'src/peft/tuningGraph.ts': "the graph's Tuning union, whose tags include formats (PEFT's prefix) as well as methods",
      'src/train/demo/tinyTransformer.ts': "the demo's own toy methods",
    }),
    [],
  );
});

test('int8 products: every DynamicQuantizeMatMul takes its weight from dynamicWeightInputs (signed or unsigned as this CPU needs)', () => {
  // Its weights, built anywhere else, would be signed int8 on a CPU whose signed kernel saturates (runtime/int8Kernel.ts).
  assert.deepEqual(
    offenders(/'DynamicQuantizeMatMul'/, {
      'src/graph/quantize.ts': 'dynamicWeightInputs and its two callers',
      'src/runtime/int8Kernel.ts': 'the probe that measures the signed kernel',
    }),
    [],
  );
  const q = readFileSync('src/graph/quantize.ts', 'utf8');
  assert.equal(q.match(/op = 'DynamicQuantizeMatMul'/g)?.length, 2);
  assert.equal(q.match(/\.\.\.dynamicWeightInputs\(|weight = dynamicWeightInputs\(/g)?.length, 2);
});
