import { stem as porter2 } from 'porter2';
import { trimWhere } from '../util/text.js';

/**
 * METEOR 1.5 as the published commit-message papers run it (`java -jar meteor-1.5.jar test ref -l en -norm`,
 * or its stdio protocol), restated from its source (github:cmu-mtlab/meteor, edu.cmu.meteor.*) for the
 * modules that need no external data: exact and stem matching. Written by hand because no JavaScript
 * library computes METEOR 1.5.
 *
 * - **Normalisation** (`-norm`): the Moses-style tokeniser of Normalizer.normalizeLine for English
 *   (punctuation split off, dots split unless a non-breaking prefix, commas split outside numbers, quotes and
 *   dashes normalised, dashes between words removed, English contractions split right), then lower-casing.
 * - **Alignment** (Aligner): every exact match, then every stem match (Snowball English) between words whose
 *   exact forms differ; matches that are the only ones for their words are fixed first; the rest is resolved
 *   by METEOR's beam search (width 40) ranking partial alignments by weighted matches (integer-truncated as
 *   in its Java), then fewer chunks, then less distance (with the distance bookkeeping exactly as written).
 * - **Statistics and score** (MeteorStats, MeteorScorer.computeMetrics): content and function words (METEOR's
 *   English function-word list) weighted by delta, module weights 1.0 (exact) and 0.6 (stem) of the default
 *   "rank" task (alpha 0.85, beta 0.20, gamma 0.60, delta 0.75), fragmentation chunks / mean matches, no
 *   penalty for a whole match in one chunk.
 * - **The corpus score is METEOR's aggregate**: the statistics of all segments summed (chunks of perfectly
 *   matched segments left out, as MeteorStats.addStats does) and the score computed once from the sums: not
 *   the mean of the segment scores.
 *
 * Not included: the synonym (WordNet) and paraphrase modules of METEOR's default English configuration
 * (weights 0.8 and 0.6); their matches are simply not found, so scores are lower or equal to METEOR's with
 * them (measured in docs/messages.md).
 */
export const METEOR = { alpha: 0.85, beta: 0.2, gamma: 0.6, delta: 0.75, weights: [1.0, 0.6], beam: 40 };

// METEOR 1.5's resources/function/english.words.
const FUNCTION_WORDS = new Set([
  'the',
  ',',
  '.',
  'to',
  'of',
  'and',
  'a',
  'in',
  'that',
  'for',
  '"',
  'is',
  'on',
  "'s",
  'it',
  'with',
  'was',
  'as',
  'said',
  'at',
  'he',
  'by',
  'be',
  'from',
  'have',
  'has',
  'are',
  'his',
  'but',
  'an',
  'this',
  'not',
  'i',
  'will',
  '\u2019',
  'they',
  ')',
  '-rrb-',
  '(',
  '-lrb-',
  'who',
  'their',
  'had',
  'we',
  'which',
  'were',
  'been',
  'more',
  'or',
  's',
  'its',
  'would',
  'about',
  'new',
  'one',
  'after',
  'you',
  ':',
  'also',
  'up',
  'when',
  'there',
  'than',
  '$',
  'all',
  'out',
  'her',
  'people',
  'she',
  'year',
  'two',
  '-',
  'can',
  'if',
  'last',
  'first',
  '\u201c',
  'over',
  'other',
  '\u201d',
  'into',
  'some',
  'what',
  'so',
  '--',
  'no',
  'time',
  'years',
  'could',
  '?',
  "'t",
  '\u2014',
  "'",
]);

// METEOR 1.5's resources/nonbreaking/english.prefixes (from Moses): 'num' ones only before a number.
const NONBREAKING = new Map<string, 'any' | 'num'>(
  'A B C D E F G H I J K L M N O P Q R S T U V W X Y Z Adj Adm Adv Asst Bart Bldg Brig Bros Capt Cmdr Col Comdr \
Con Corp Cpl DR Dr Drs Ens Gen Gov Hon Hr Hosp Insp Lt MM MR MRS MS Maj Messrs Mlle Mme Mr Mrs Ms Msgr Op Ord Pfc \
Ph Prof Pvt Rep Reps Res Rev Rt Sen Sens Sfc Sgt Sr St Supt Surg v vs i.e rev e.g No=num Nos Art=num Nr pp=num'
    .split(' ')
    .map((e) => (e.endsWith('=num') ? [e.slice(0, -4), 'num'] : [e, 'any'])),
);

// Normalizer's character classes (Java regular expressions; \p{Digit} and \s are ASCII there).
const ALPHA =
  'A-Za-z\u0160\u017d\u0161\u017e\u0178\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u017e\u0400-\u04ff\u0500-\u0527\ua640-\ua66e\ua67e-\ua697\u1d00-\u1d7f';
const ALNUM = '0-9' + ALPHA;
const JS = ' \\t\\n\\x0b\\f\\r';
const rx = (s: string) => new RegExp(s, 'gu');
const R = {
  sepOther: rx(`([^${ALNUM}${JS}.'\`,\\-\u2018\u2019])`),
  multiDot: rx('\\.([.]+)'),
  multiDot2: rx('DOTMULTI\\.([^.])'),
  comma: rx('([^0-9])[,]([^0-9])'),
  comma2: rx('([0-9])[,]([^0-9])'),
  comma3: rx('([^0-9])[,]([0-9])'),
  quote: rx('([`\u2018\u2019])'),
  quote2: rx("([\u201c\u201d]|'')"),
  rmDash: rx(`([${ALNUM}.])[-]([${ALNUM}])`),
  contEn: rx(`([^${ALPHA}])[']([^${ALPHA}])`),
  contEn2: rx(`([^${ALPHA}0-9])[']([${ALPHA}])`),
  contEn3: rx(`([${ALPHA}])[']([^${ALPHA}])`),
  contEn4: rx(`([${ALPHA}])[']([${ALPHA}])`),
  contEn5: rx("([0-9])[']([s])"),
  white: rx('[  \u2000-\u200a\u202f\u205f\u3000\u00a0]+'),
};
const ALPHA_ONE = new RegExp(`[${ALPHA}]`, 'u');
/** Java's StringTokenizer with its default delimiters. */
const javaTokens = (s: string) => s.split(/[ \t\n\r\f]+/).filter(Boolean);
/** Java's String.trim(): every character up to U+0020 at either end. */
const javaTrim = (s: string) => trimWhere(s, (c) => c <= 0x20);

/** Normalizer.normalizeLine(line, LANG_EN, keepPunctuation = true), then lower-cased as MeteorScorer does. */
export function meteorNormalize(line: string): string {
  let w = ` ${line} `;
  w = w.replace(R.sepOther, ' $1 ');
  w = w.replace(R.multiDot, ' DOTMULTI$1');
  while (w.includes('DOTMULTI.')) {
    w = w.replace(R.multiDot2, 'DOTDOTMULTI $1');
    w = w.replaceAll('DOTMULTI.', 'DOTDOTMULTI');
  }
  w = w.replace(R.comma, '$1 , $2').replace(R.comma2, '$1 , $2').replace(R.comma3, '$1 , $2');
  w = w.replace(R.quote, "'").replace(R.quote2, ' " ');
  w = w.replaceAll('\u2013', '-').replaceAll('--', '-');
  w = w.replace(R.rmDash, '$1 $2');
  w = w
    .replace(R.contEn, "$1 ' $2")
    .replace(R.contEn2, "$1 ' $2")
    .replace(R.contEn3, "$1 ' $2")
    .replace(R.contEn4, "$1 '$2")
    .replace(R.contEn5, "$1 '$2");
  const words = javaTokens(w);
  let out = '';
  words.forEach((word, i) => {
    if (word.length > 1 && word.endsWith('.')) {
      const pre = word.slice(0, -1);
      const type = NONBREAKING.get(pre);
      const next = words[i + 1];
      if (pre.includes('.') && ALPHA_ONE.test(pre)) out += word.replaceAll('.', '');
      else if (type === 'any' || (next !== undefined && /^[a-z]/.test(next))) out += word;
      else if (type === 'num' && next !== undefined && /^[0-9]+/.test(next)) out += word;
      else out += `${pre} .`;
    } else out += word;
    out += ' ';
  });
  w = out;
  while (w.includes('DOTDOTMULTI')) w = w.replaceAll('DOTDOTMULTI', 'DOTMULTI.');
  w = w.replaceAll('DOTMULTI', '.');
  return javaTrim(w.replace(R.white, ' ')).toLowerCase();
}

/** Java's String.hashCode (METEOR's aligner compares words and stems by it). */
function javaHash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0;
  return h;
}

interface Match {
  start: number; // reference position (line2)
  matchStart: number; // hypothesis position (line1)
  module: number;
}

interface Path {
  matches: Array<Match | null>;
  matches1: number;
  matches2: number;
  chunks: number;
  idx: number;
  lastMatchEnd: number;
  distance: number;
  used1: boolean[];
  used2: boolean[];
}

const copyPath = (p: Path): Path => ({ ...p, matches: [...p.matches], used1: [...p.used1], used2: [...p.used2] });
// PARTIAL_COMPARE_TOTAL: more (integer) weighted matches, then fewer chunks, then less distance.
const compare = (x: Path, y: Path) => {
  const d = y.matches1 + y.matches2 - (x.matches1 + x.matches2);
  if (d !== 0) return d > 0 ? 1 : -1;
  return x.chunks - y.chunks || x.distance - y.distance;
};

export interface MeteorStats {
  testLength: number;
  referenceLength: number;
  testFunctionWords: number;
  referenceFunctionWords: number;
  /** Per module: [test content, reference content, test function, reference function] matches. */
  stages: Array<[number, number, number, number]>;
  chunks: number;
  testWordMatches: number;
  referenceWordMatches: number;
}

/** One segment's statistics (hypothesis = METEOR's "test", reference = its "reference"). */
function meteorStats(hypothesis: string, reference: string): MeteorStats {
  const words1 = javaTokens(meteorNormalize(hypothesis));
  const words2 = javaTokens(meteorNormalize(reference));
  const k1 = words1.map(javaHash);
  const k2 = words2.map(javaHash);
  const candidates: Match[][] = words2.map(() => []);
  const cover1 = new Array<number>(words1.length).fill(0);
  const cover2 = new Array<number>(words2.length).fill(0);
  const same = k1.length === k2.length && k1.every((k, i) => k === k2[i]);
  const s1 = words1.map((w) => javaHash(porter2(w)));
  const s2 = words2.map((w) => javaHash(porter2(w)));
  const modules = same ? 1 : METEOR.weights.length;
  for (let mod = 0; mod < modules; mod++) {
    for (let j = 0; j < words2.length; j++) {
      for (let i = 0; i < words1.length; i++) {
        const hit = mod === 0 ? k1[i] === k2[j] : s1[i] === s2[j] && k1[i] !== k2[j];
        if (!hit) continue;
        candidates[j]!.push({ start: j, matchStart: i, module: mod });
        cover1[i]!++;
        cover2[j]!++;
      }
    }
  }
  // Matches that are the only ones for both their words are fixed before the search.
  const start: Path = {
    matches: words2.map(() => null),
    matches1: 0,
    matches2: 0,
    chunks: 0,
    idx: 0,
    lastMatchEnd: -1,
    distance: 0,
    used1: words1.map(() => false),
    used2: words2.map(() => false),
  };
  candidates.forEach((ms, i) => {
    if (ms.length !== 1) return;
    const m = ms[0]!;
    if (cover2[i] !== 1 || cover1[m.matchStart] !== 1) return;
    start.matches[i] = m;
    start.used2[i] = true;
    start.used1[m.matchStart] = true;
  });
  const w = METEOR.weights;
  const take = (p: Path, m: Match) => {
    // int += double in Java: the sum is truncated.
    p.matches1 = Math.trunc(p.matches1 + w[m.module]!);
    p.matches2 = Math.trunc(p.matches2 + w[m.module]!);
    if (p.lastMatchEnd !== -1 && m.matchStart !== p.lastMatchEnd) p.chunks++;
    p.idx = m.start + 1;
    p.lastMatchEnd = m.matchStart + 1;
  };
  let next: Path[] = [start];
  let paths: Path[] = [];
  for (let current = 0; current <= words2.length; current++) {
    paths = next;
    next = [];
    paths.sort(compare);
    for (let rank = 0; rank < METEOR.beam && rank < paths.length; rank++) {
      const path = paths[rank]!;
      if (current === words2.length) {
        if (path.lastMatchEnd !== -1) path.chunks++;
        next.push(path);
        continue;
      }
      if (path.used2[current]) {
        if (current < path.idx) next.push(path);
        else if (path.matches[path.idx]) {
          const m = path.matches[path.idx]!;
          take(path, m);
          path.distance += Math.abs(m.start - m.matchStart);
          next.push(path);
        }
        continue;
      }
      for (const m of candidates[current]!) {
        if (path.used2[m.start] || path.used1[m.matchStart]) continue;
        const np = copyPath(path);
        np.used2[m.start] = np.used1[m.matchStart] = true;
        np.matches[current] = m;
        take(np, m);
        // As METEOR's Aligner writes it: the distance goes to the path the match was not added to.
        path.distance += Math.abs(m.start - m.matchStart);
        next.push(np);
      }
      if (path.lastMatchEnd !== -1) {
        path.chunks++;
        path.lastMatchEnd = -1;
      }
      path.idx++;
      next.push(path);
    }
    if (next.length === 0) next.push(paths[0]!);
  }
  next.sort(compare);
  const best = next[0]!;
  const fn1 = words1.map((x) => FUNCTION_WORDS.has(x.toLowerCase()));
  const fn2 = words2.map((x) => FUNCTION_WORDS.has(x.toLowerCase()));
  const stages = METEOR.weights.map(() => [0, 0, 0, 0] as [number, number, number, number]);
  for (const m of best.matches) {
    if (!m) continue;
    stages[m.module]![fn1[m.matchStart] ? 2 : 0]++;
    stages[m.module]![fn2[m.start] ? 3 : 1]++;
  }
  // Chunks of the chosen alignment, counted along the reference.
  let chunks = 0;
  let last = -1;
  for (let idx = 0; idx < best.matches.length;) {
    const m = best.matches[idx];
    if (!m) {
      if (last !== -1) chunks++;
      last = -1;
      idx++;
    } else {
      if (last !== -1 && m.matchStart !== last) chunks++;
      idx = m.start + 1;
      last = m.matchStart + 1;
    }
  }
  if (last !== -1) chunks++;
  const matched = stages.reduce((a, s) => a + s[0] + s[2], 0);
  const matchedRef = stages.reduce((a, s) => a + s[1] + s[3], 0);
  return {
    testLength: words1.length,
    referenceLength: words2.length,
    testFunctionWords: fn1.filter(Boolean).length,
    referenceFunctionWords: fn2.filter(Boolean).length,
    stages,
    chunks,
    testWordMatches: matched,
    referenceWordMatches: matchedRef,
  };
}

const perfect = (s: MeteorStats) => {
  const t = s.stages.reduce((a, x) => a + x[0] + x[2], 0);
  const r = s.stages.reduce((a, x) => a + x[1] + x[3], 0);
  return t === s.testLength && r === s.referenceLength && s.chunks === 1;
};

/** MeteorScorer.computeMetrics: the score in [0, 1] from (possibly summed) statistics. */
function meteorScore(s: MeteorStats): number {
  const { alpha, beta, gamma, delta, weights } = METEOR;
  const tLen = delta * (s.testLength - s.testFunctionWords) + (1 - delta) * s.testFunctionWords;
  const rLen = delta * (s.referenceLength - s.referenceFunctionWords) + (1 - delta) * s.referenceFunctionWords;
  let tw = 0;
  let rw = 0;
  weights.forEach((wt, i) => {
    const [tc, rc, tf, rf] = s.stages[i] ?? [0, 0, 0, 0];
    tw += tc * wt * delta + tf * wt * (1 - delta);
    rw += rc * wt * delta + rf * wt * (1 - delta);
  });
  const P = tw / tLen;
  const Rc = rw / rLen;
  const fMean = 1 / ((1 - alpha) / P + alpha / Rc);
  const frag = perfect(s) ? 0 : s.chunks / ((s.testWordMatches + s.referenceWordMatches) / 2);
  const score = fMean * (1 - gamma * frag ** beta);
  return Number.isNaN(score) ? 0 : Math.max(score, 0);
}

/** MeteorStats.addStats over segments (a perfectly matched segment's chunk is not added). */
function sumMeteorStats(all: readonly MeteorStats[]): MeteorStats {
  const out: MeteorStats = {
    testLength: 0,
    referenceLength: 0,
    testFunctionWords: 0,
    referenceFunctionWords: 0,
    stages: METEOR.weights.map(() => [0, 0, 0, 0]),
    chunks: 0,
    testWordMatches: 0,
    referenceWordMatches: 0,
  };
  for (const s of all) {
    out.testLength += s.testLength;
    out.referenceLength += s.referenceLength;
    out.testFunctionWords += s.testFunctionWords;
    out.referenceFunctionWords += s.referenceFunctionWords;
    s.stages.forEach((st, i) => st.forEach((v, k) => (out.stages[i]![k]! += v)));
    if (!perfect(s)) out.chunks += s.chunks;
    out.testWordMatches += s.testWordMatches;
    out.referenceWordMatches += s.referenceWordMatches;
  }
  return out;
}

/** METEOR of one segment, in [0, 1]. */
export function segmentMeteor(reference: string, hypothesis: string): number {
  return meteorScore(meteorStats(hypothesis, reference));
}

/** The corpus METEOR as METEOR 1.5 reports it (the aggregate of summed statistics), x 100. */
export function corpusMeteor(predictions: readonly string[], references: readonly string[]): number {
  return meteorScore(sumMeteorStats(predictions.map((p, i) => meteorStats(p, references[i]!)))) * 100;
}
