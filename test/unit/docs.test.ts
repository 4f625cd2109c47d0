import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadResults, performanceReport, REPORT_PATH } from '../../bench/report.js';

/** The README is a user's guide and the rest lives in docs/: links that resolve, and figures that come from runs. */
const pages = [
  'README.md',
  ...readdirSync('docs')
    .filter((f) => f.endsWith('.md'))
    .map((f) => join('docs', f)),
];

/** GitHub's heading anchors: lower case, punctuation other than '-' and '_' dropped, spaces to '-'. */
function anchors(markdown: string): Set<string> {
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (m)
      out.add(
        m[1]!
          .toLowerCase()
          .replace(/[^\p{L}\p{N}\s_-]/gu, '')
          .replace(/ /g, '-'),
      );
  }
  return out;
}

test('the README stays a short guide (at most 250 lines) and names every page in docs/', () => {
  const readme = readFileSync('README.md', 'utf8');
  assert.ok(readme.split('\n').length <= 250, `README.md has ${readme.split('\n').length} lines`);
  for (const page of pages.filter((p) => p.startsWith('docs/') && p !== 'docs/marketplace.md'))
    assert.ok(readme.includes(`](${page})`), `README.md does not link ${page}`);
});

test('every relative link in the README and docs/ points at a file that exists, and at a heading it has', () => {
  const broken: string[] = [];
  for (const page of pages) {
    const text = readFileSync(page, 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [file, anchor] = target!.split('#') as [string, string | undefined];
      // vsce resolves the Marketplace page's links against the repository's root, not its folder.
      const base = page === 'docs/marketplace.md' ? '.' : dirname(page);
      const path = file ? join(base, file) : page;
      if (!existsSync(path)) {
        broken.push(`${page}: ${target} (no such file)`);
        continue;
      }
      if (anchor && path.endsWith('.md') && statSync(path).isFile() && !anchors(readFileSync(path, 'utf8')).has(anchor))
        broken.push(`${page}: ${target} (no such heading)`);
    }
  }
  assert.deepEqual(broken, []);
});

test('docs/performance.md is what `npm run bench -- report` writes from the recorded runs (no figure by hand)', () => {
  const expected = performanceReport(loadResults());
  assert.equal(readFileSync(REPORT_PATH, 'utf8'), expected, 'run `npm run bench -- report` after recording benchmarks');
  for (const r of loadResults().values()) {
    assert.match(r.date, /^\d{4}-\d\d-\d\dT/);
    assert.ok(r.machine.cpu && r.machine.cores > 0, `${r.bench}: the CPU is recorded`);
  }
});

test('the anchors rule follows GitHub', () => {
  assert.deepEqual(
    [
      ...anchors(
        '# The history dataset (`changeling mine`, "Export history dataset")\n## Teams: train on a cluster, use it in every editor',
      ),
    ],
    ['the-history-dataset-changeling-mine-export-history-dataset', 'teams-train-on-a-cluster-use-it-in-every-editor'],
  );
});

test('npm commands in this folder print no warning about the project configuration (.npmrc has only npm settings)', async () => {
  const { spawnSync } = await import('node:child_process');
  const r = spawnSync('npm', ['config', 'get', 'ignore-scripts'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'true', "dependencies' install scripts stay off");
  assert.doesNotMatch(r.stderr, /warn/i);
});
