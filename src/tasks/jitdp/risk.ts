import { rangeArgs } from '../../git/revisions.js';
import { existsSync, statSync } from 'node:fs';
import { removeOwned, writeOutputFolder } from '../../util/outputTarget.js';
import { dirname, join, resolve } from 'node:path';
import defaultModelJson from '../../../models/jitdp-default.json' with { type: 'json' };
import { FeatureState, changeInput, stagedChangeInput, type ExpertFeatures } from '../../git/expertFeatures.js';
import { featureHistory } from '../../git/featureCache.js';
import { HeadCache } from '../../util/headCache.js';
import { commitDiff } from '../../git/history.js';
import type { Repository } from '../../git/repository.js';
import { repoDataDir, requireCommits, resolveCommit } from '../../git/repository.js';
import { stagedDiff } from '../../git/staged.js';
import type { DiffFile } from '../../git/types.js';
import { changedLines } from '../../git/changedLines.js';
import { decideAdoption, type AdoptionVerdict, type AdoptMode } from '../adoption.js';
import { jitdpMetrics, type JitdpMetrics } from '../../eval/jitdpMetrics.js';
import type { JitdpCommit } from './dataset.js';
import { Cc2VecRisk, isCc2VecModelDir, loadCc2Vec } from './cc2vec.js';
import { codeFiles } from '../../git/codeFiles.js';
import { ChangelingError } from '../../util/errors.js';
import { evaluateBaseline, explainBaseline, lineReasons, lineScoresBaseline, scoreBaseline, type BaselineModel } from './baseline.js';
import { riskReasons, type Reason, type RiskReason } from './reasons.js';
import { deviations } from './scaling.js';
import { scoreLines, type LineModel } from './lineModel.js';
import { changeTokens } from './dataset.js';
import { parseLinearModel, readLinearModel } from './modelFile.js';
import { NeuralRisk, isNeuralModelDir, loadNeural } from './neural.js';

/**
 * `changeling risk`: the defect risk of the staged change, a commit or a range, with the model that knows
 * the repository best: one given with --model, else the repository's own (trained by `changeling
 * risk-train`, kept in the git folder), else the embedded default (expert features only, trained on other
 * public histories; models/jitdp-default.md). Features are computed as of each change, from one pass over
 * the history; the staged change is scored as a would-be commit by the configured git user, now.
 */
export type RiskTarget = { kind: 'staged' } | { kind: 'commit'; rev: string } | { kind: 'range'; range: string };

export type RiskLevel = 'low' | 'medium' | 'high';

export interface LoadedRiskModel {
  kind: 'linear' | 'neural' | 'cc2vec';
  /** Where it came from: a path, or "embedded default". */
  source: string;
  threshold: number;
  info: Record<string, unknown>;
  linear?: BaselineModel;
  /** The line model that ranks added lines, where the file has one (the embedded default's). */
  lines?: LineModel;
  /** The JIT-Fine-style or the CC2Vec-style model (the same scoring and explaining methods). */
  neural?: NeuralRisk | Cc2VecRisk;
}

export interface RiskLine {
  path: string;
  /** The line's number in the new file (added lines) or the old one (removed lines). */
  line: number;
  sign: '+' | '-';
  text: string;
  score: number;
  /** The code tokens that make it risky, as reasons ("token +strcpy"), largest first (linear models). */
  why?: string[];
}

export interface RiskResult {
  /** The commit, or null for the staged change. */
  sha: string | null;
  subject: string;
  probability: number;
  level: RiskLevel;
  threshold: number;
  features: ExpertFeatures;
  /** The largest effects on the probability, one per fact or code token, each agreeing with its feature's direction. */
  reasons: RiskReason[];
  /** The riskiest changed lines, highest first. */
  lines: RiskLine[];
  model: string;
  /** Said with the result: a change with no code file has nothing the features count, so no reasons. */
  note?: string;
  /** Set when the change was brought by a merge: the merge's sha (null for a merge being committed), which is not scored itself. */
  mergedBy?: string | null;
}

/** Where a repository's own model lives: in its (common) git folder, never in the work tree. */
export async function repoModelPath(repo: Repository): Promise<string> {
  return join(await repoDataDir(repo), 'risk-model');
}

export async function loadRiskModel(repo: Repository | null, explicit?: string): Promise<LoadedRiskModel> {
  const fromPath = async (p: string): Promise<LoadedRiskModel> => {
    if (!existsSync(p)) throw new ChangelingError('not-found', `no risk model at ${p}`);
    if (statSync(p).isDirectory()) {
      if (isCc2VecModelDir(p)) {
        const m = await loadCc2Vec(p);
        return { kind: 'cc2vec', source: p, threshold: m.threshold, info: m.info, neural: await Cc2VecRisk.create(m) };
      }
      if (!isNeuralModelDir(p))
        throw new ChangelingError('usage', `${p} is a folder without jitdp.json or cc2vec.json: not a Changeling risk model`);
      const m = await loadNeural(p);
      return { kind: 'neural', source: p, threshold: m.threshold, info: m.info, neural: await NeuralRisk.create(m) };
    }
    const f = await readLinearModel(p);
    return {
      kind: 'linear',
      source: p,
      threshold: f.model.threshold,
      info: f.info,
      linear: f.model,
      ...(f.lines ? { lines: f.lines } : {}),
    };
  };
  if (explicit) return fromPath(resolve(explicit));
  if (repo) {
    const own = await repoModelPath(repo);
    for (const p of [own, `${own}.json`]) if (existsSync(p)) return fromPath(p);
  }
  const f = parseLinearModel(defaultModelJson, 'the embedded default model');
  return {
    kind: 'linear',
    source: 'embedded default',
    threshold: f.model.threshold,
    info: f.info,
    linear: f.model,
    ...(f.lines ? { lines: f.lines } : {}),
  };
}

/**
 * Saves a folder model (neural or CC2Vec) to `dest` as a folder output; when `dest` is the repository's own
 * model (`live`, in Changeling's state), the file of an earlier linear model goes once the new folder is complete.
 */
export async function saveFolderModel(dest: string, live: string, write: (tmp: string) => Promise<void>): Promise<void> {
  await writeOutputFolder(dest, write, { what: 'the risk model', owned: dest === live });
  if (dest === live) await removeOwned(`${live}.json`, dirname(live));
}

/** A model's probabilities on a split's commits, and its metrics there. */
export interface ScoredSplit {
  probs: number[];
  metrics: JitdpMetrics;
}

export function scoredSplit(split: readonly JitdpCommit[], probs: number[], threshold: number): ScoredSplit {
  return {
    probs,
    metrics: jitdpMetrics(
      split.map((c, i) => ({ prob: probs[i]!, label: c.label, effort: c.effort })),
      threshold,
    ),
  };
}

/** A loaded model's probabilities and metrics on some dataset commits (a split). */
export async function scoreRiskModel(m: LoadedRiskModel, split: readonly JitdpCommit[], signal?: AbortSignal): Promise<ScoredSplit> {
  const probs = m.linear ? split.map((c) => scoreBaseline(m.linear!, c)) : await m.neural!.score(split, signal);
  return scoredSplit(split, probs, m.threshold);
}

/** A loaded model's metrics on some dataset commits (a split). */
export async function evaluateRiskModel(m: LoadedRiskModel, split: readonly JitdpCommit[], signal?: AbortSignal): Promise<JitdpMetrics> {
  return (await scoreRiskModel(m, split, signal)).metrics;
}

/** A model in use, in words. */
export function describeRiskModel(m: LoadedRiskModel): string {
  return m.source === 'embedded default' ? 'the embedded default' : `this repository's earlier model (${m.source})`;
}

/**
 * Whether a new risk model replaces the one in use (`adoption`'s rule): by DeLong's test of the two models' AUCs
 * on the same validation commits; with too few buggy or clean commits there nothing can be judged and the model
 * in use stays unless forced.
 */
export function riskAdoption(
  mode: AdoptMode,
  validation: readonly JitdpCommit[],
  candidate: ScoredSplit,
  inUseScored: ScoredSplit,
  inUse: LoadedRiskModel,
  flag?: string,
): AdoptionVerdict {
  return decideAdoption(mode, {
    subject: 'it',
    against: 'the model in use',
    metric: 'validation AUC',
    candidate: candidate.metrics.aucRoc,
    inUse: inUseScored.metrics.aucRoc,
    digits: 3,
    after: `for ${describeRiskModel(inUse)}`,
    keeps: describeRiskModel(inUse),
    flag,
    scores: candidate.probs,
    evidence: { kind: 'auc', labels: validation.map((c) => c.label), candidate: candidate.probs, inUse: inUseScored.probs },
  });
}

/** high: at or above the model's threshold (chosen on validation for the best F1); medium: at least half of it. */
function riskLevel(p: number, threshold: number): RiskLevel {
  return p >= threshold ? 'high' : p >= threshold / 2 ? 'medium' : 'low';
}

interface Change {
  sha: string | null;
  message: string;
  features: ExpertFeatures;
  files: readonly DiffFile[];
  mergedBy?: string | null;
}

/** The non-merge commits a merge brings into its first parent's line, newest first. */
async function broughtBy(repo: Repository, merge: string, firstParent: string): Promise<string[]> {
  const out = await repo.git.raw(['rev-list', '--no-merges', merge, `^${firstParent}`, '--']);
  return out.split('\n').filter(Boolean);
}

const histories = new HeadCache<{ state: FeatureState; features: Map<string, ExpertFeatures> }>();

/** Every commit's features and the state after HEAD: the on-disk cache (featureCache.ts), kept in memory while HEAD stays. */
function historyState(repo: Repository, signal?: AbortSignal) {
  return histories.get(repo.root, repo.head, '', () => featureHistory(repo, { signal }));
}

/** The changes a target names, each with its features as of just before it. */
async function changesOf(repo: Repository, target: RiskTarget, signal?: AbortSignal): Promise<Change[]> {
  let wanted: string[] = [];
  let mergedBy: string | null | undefined;
  if (target.kind === 'commit') {
    requireCommits(repo);
    const sha = await resolveCommit(repo, target.rev);
    const parents = (await repo.git.raw(['rev-list', '--parents', '-n', '1', sha, '--'])).trim().split(' ').slice(1);
    // A merge is not a change of its own: the commits it brings are scored instead.
    if (parents.length > 1) {
      wanted = await broughtBy(repo, sha, parents[0]!);
      mergedBy = sha;
    } else wanted = [sha];
  } else if (target.kind === 'range') {
    requireCommits(repo);
    const out = await repo.git.raw(['rev-list', '--no-merges', ...rangeArgs(target.range), '--']).catch((e: Error) => {
      throw new ChangelingError('bad-revision', `bad range ${target.range}: ${e.message.trim().split('\n')[0]}`);
    });
    wanted = out.split('\n').filter(Boolean);
  }
  const { state, features } = await historyState(repo, signal);
  if (target.kind === 'staged') {
    // A merge being concluded: its staged result is the merged commits' work, scored as those commits.
    const mergeHead = repo.head ? (await repo.git.raw(['rev-parse', '-q', '--verify', 'MERGE_HEAD^{commit}']).catch(() => '')).trim() : '';
    if (mergeHead) {
      wanted = await broughtBy(repo, mergeHead, repo.head!);
      mergedBy = null;
    } else {
      const staged = await stagedDiff(repo, { signal });
      if (staged.files.length === 0)
        throw new ChangelingError(
          'nothing-staged',
          'nothing is staged: stage a change, or name a commit (--commit REV) or a range (--range A..B)',
        );
      return [{ sha: null, message: '', features: state.features(await stagedChangeInput(repo, staged.files)), files: staged.files }];
    }
  }
  const out: Change[] = [];
  // Newest first, as git lists them.
  for (const sha of wanted) {
    const c = await commitDiff(repo, sha, { signal });
    out.push({
      sha,
      message: c.message,
      features: features.get(sha) ?? state.features(changeInput(c)),
      files: c.files,
      ...(mergedBy !== undefined ? { mergedBy } : {}),
    });
  }
  return out;
}

export async function assessRisk(
  repo: Repository,
  target: RiskTarget,
  model: LoadedRiskModel,
  o: { reasons?: number; lines?: number; signal?: AbortSignal } = {},
): Promise<RiskResult[]> {
  const results: RiskResult[] = [];
  for (const c of await changesOf(repo, target, o.signal)) {
    // Tokens and lines of code files only, as the features count them.
    const code = codeFiles(c.files);
    const lines = [...changedLines(code)];
    let probability: number;
    let all: Reason[];
    let scores: Array<number | null>;
    let why: string[][] = [];
    if (model.linear) {
      const input = { features: c.features, tokens: changeTokens(code) };
      probability = scoreBaseline(model.linear, input);
      all = explainBaseline(model.linear, input);
      if (model.lines) ({ scores, why } = scoreLines(model.lines, code));
      else {
        scores = lineScoresBaseline(model.linear, lines);
        why = lineReasons(model.linear, lines);
      }
    } else {
      const e = await model.neural!.explain({ message: c.message, features: c.features }, lines);
      probability = e.prob;
      all = e.reasons;
      scores = e.lineScores;
    }
    const deviation = deviations(c.features, model.linear ?? model.neural!.model);
    const ranked = lines
      .map((l, i) => ({
        path: l.path,
        line: l.line,
        sign: l.sign,
        text: l.text,
        score: scores[i] ?? 0,
        ...(why[i]?.length ? { why: why[i] } : {}),
      }))
      .filter((l, i) => scores[i] !== null && l.score > 0 && l.text.trim())
      .sort((a, b) => b.score - a.score)
      .slice(0, o.lines ?? 5);
    results.push({
      sha: c.sha,
      subject: c.sha === null ? '(staged change)' : c.message.split('\n')[0]!,
      probability,
      level: riskLevel(probability, model.threshold),
      threshold: model.threshold,
      features: c.features,
      reasons: code.length === 0 ? [] : riskReasons(all, c.features, deviation, probability, o.reasons ?? 5),
      ...(code.length === 0
        ? {
            note: 'it changes no code file (only documentation, data, configuration or generated files), so nothing in it counts towards risk',
          }
        : {}),
      lines: ranked,
      model: model.source,
      ...(c.mergedBy !== undefined ? { mergedBy: c.mergedBy } : {}),
    });
  }
  return results;
}
