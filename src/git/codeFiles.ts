import { createHash } from 'node:crypto';
import { posix } from 'node:path';
import { BUILTIN_RULES, globMatcher } from './inputFilter.js';
import type { DiffFile } from './types.js';

/**
 * Which changed files are code, for the expert features, SZZ and the risk model's tokens and lines. Commit
 * Guru (whose features JIT-Defects4J and the study use) whitelists source-code extensions (its SZZ reads
 * `code_file_extentions.txt`), because documentation, build files and data have huge changes that say little
 * about defects: a dependency bump that rewrites a lock file is not a large change.
 *
 * A file is code when its extension (the part after the last dot, any case) is in `CODE_EXTENSIONS` and the
 * input filter's lock, generated, vendored and minified rules (by path) do not drop it. The list covers Commit
 * Guru's and every common language since; markup, styles, data and configuration (html, css, json, yaml, xml,
 * md, txt, toml, ini, properties) are not code here, as there.
 */
const CODE_EXTENSIONS: ReadonlySet<string> = new Set([
  // JVM
  'java',
  'kt',
  'kts',
  'scala',
  'sc',
  'groovy',
  'gvy',
  'clj',
  'cljs',
  'cljc',
  // C family
  'c',
  'h',
  'cc',
  'cpp',
  'cxx',
  'c++',
  'hh',
  'hpp',
  'hxx',
  'h++',
  'ipp',
  'inl',
  'm',
  'mm',
  'cs',
  'fs',
  'fsx',
  'vb',
  'd',
  'zig',
  'cu',
  'cuh',
  // scripting
  'py',
  'pyi',
  'pyx',
  'rb',
  'rake',
  'php',
  'php3',
  'php4',
  'php5',
  'phtml',
  'pl',
  'pm',
  'lua',
  'r',
  'jl',
  'tcl',
  'awk',
  // JavaScript / TypeScript and their component files
  'js',
  'jsx',
  'mjs',
  'cjs',
  'ts',
  'tsx',
  'mts',
  'cts',
  'vue',
  'svelte',
  'coffee',
  // systems and functional
  'go',
  'rs',
  'swift',
  'dart',
  'ex',
  'exs',
  'erl',
  'hrl',
  'hs',
  'lhs',
  'ml',
  'mli',
  'elm',
  'nim',
  'cr',
  'v',
  'sol',
  'rkt',
  'scm',
  'lisp',
  'el',
  // shells
  'sh',
  'bash',
  'zsh',
  'fish',
  'ps1',
  'psm1',
  'bat',
  'cmd',
  // older languages Commit Guru lists
  'f',
  'for',
  'f77',
  'f90',
  'f95',
  'ftn',
  'ada',
  'adb',
  'ads',
  'pas',
  'pp',
  'asm',
  's',
  'cob',
  'cbl',
  'bas',
  'sql',
]);

const dropped = globMatcher([...BUILTIN_RULES.lock, ...BUILTIN_RULES.generated, ...BUILTIN_RULES.vendored, ...BUILTIN_RULES.minified]);

/** A short fingerprint of the rules: caches of features computed under other rules are not reused. */
export const CODE_RULES_ID = createHash('sha256')
  .update(JSON.stringify([[...CODE_EXTENSIONS], BUILTIN_RULES]))
  .digest('hex')
  .slice(0, 12);

function isCodePath(path: string): boolean {
  const ext = posix.extname(path).slice(1).toLowerCase();
  return CODE_EXTENSIONS.has(ext) && !dropped(path);
}

/** A changed file counts when it is code on either side of a rename (a .js renamed to .ts, say). */
export function isCodeFile(f: Pick<DiffFile, 'path' | 'oldPath' | 'binary'>): boolean {
  return !f.binary && (isCodePath(f.path) || (f.oldPath !== null && isCodePath(f.oldPath)));
}

export function codeFiles<F extends Pick<DiffFile, 'path' | 'oldPath' | 'binary'>>(files: readonly F[]): F[] {
  return files.filter(isCodeFile);
}

/** A test file by its path (test/ and spec/ folders, *.test.*, *_test.go, *Test.java and the like). */
export const isTestPath = (path: string) =>
  /(^|\/)(tests?|spec|specs|__tests__|testdata)\/|[._-](test|spec)s?\.[a-z]+$|_test\.go$|Tests?\.(java|kt)$/i.test(path);
