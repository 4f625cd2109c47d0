import { basename, join } from 'node:path';
import { repositoryName, type Repository } from '../../git/repository.js';
import { MessageModel } from '../cmg/generate.js';
import { cmgPairs, subjectHistory, timeSplits } from '../cmg/dataset.js';
import { isChatLlmFolder, loadLlmFolder } from '../cmg/llmInput.js';
import { historyContexts, trainingConversation } from '../cmg/llmHistory.js';
import { chatRow } from '../../peft/chatRows.js';
import { LLM_ROWS } from '../finetune/cmgLlm.js';
import { jitdpDataset } from '../jitdp/dataset.js';
import { parquetBytes, parquetColumns } from './parquet.js';
import { encodeChange, linesOfText } from '../jitdp/input.js';
import { fitScaling, scaleFeatures } from '../jitdp/scaling.js';
import { encoderTokenizer } from '../jitdp/neural.js';
import { FEATURE_NAMES } from '../../git/expertFeatures.js';
import { writeBytesAtomic, writeFileAtomic } from '../../util/atomicFile.js';
import { ChangelingError } from '../../util/errors.js';
import { writeOutputFolder } from '../../util/outputTarget.js';

/**
 * `changeling export`: the time-ordered splits of one or more repositories as JSON Lines that Hugging Face
 * `datasets` loads as they are (`load_dataset("json", data_dir=OUT)` finds train/validation/test.jsonl), with
 * a dataset card (README.md) saying what each field is. For commit messages the rows carry the token ids
 * exactly as `changeling finetune` trains on them (the model's own input format, truncation and labels), so a
 * script on a cluster trains on what Changeling would, without re-implementing the format (recipes/).
 */
export interface ExportOptions {
  task: 'cmg' | 'jitdp';
  /** For cmg: the model whose format and tokenizer the rows are in. */
  model?: string;
  out: string;
  maxCommits?: number;
  /** JSON Lines (default) or Parquet. */
  format?: 'jsonl' | 'parquet';
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

export interface ExportSummary {
  task: 'cmg' | 'jitdp';
  out: string;
  repositories: Array<{ repo: string; head: string | null; train: number; validation: number; test: number }>;
  format: string | null;
}

const SPLITS = ['train', 'validation', 'test'] as const;
/** finetune's cap on label tokens. */
const MAX_TARGET = 64;

export async function exportDatasets(repos: readonly Repository[], o: ExportOptions): Promise<ExportSummary> {
  if (repos.length === 0) throw new ChangelingError('usage', 'export needs at least one repository (--repo P, repeatable)');
  if (o.task === 'cmg' && !o.model)
    throw new ChangelingError('usage', "export --task cmg needs --model DIR: the rows are token ids in that model's input format");
  const rows: Record<(typeof SPLITS)[number], Array<Record<string, unknown>>> = { train: [], validation: [], test: [] };
  const summary: ExportSummary = { task: o.task, out: o.out, repositories: [], format: null };
  // A code LLM's rows are chat conversations in ✨'s prompt, with the ids and labels finetune trains on (cmgLlm.ts).
  const llm = o.task === 'cmg' && (await isChatLlmFolder(o.model!)) ? await loadLlmFolder(o.model!) : null;
  const base = o.task === 'cmg' && !llm ? await MessageModel.create(o.model!) : null;
  const risk: Array<{ name: string; ds: Awaited<ReturnType<typeof jitdpDataset>> }> = [];
  if (base) summary.format = base.profile.inputFormat;
  if (llm) summary.format = 'chat';
  for (const repo of repos) {
    const name = repositoryName(repo);
    o.onProgress?.(`${name}: reading the history`);
    let counts: Record<(typeof SPLITS)[number], number>;
    if (llm) {
      const all = await subjectHistory(repo, o.maxCommits ?? 20000, o.signal);
      const splits = timeSplits(all);
      const contexts = historyContexts(all, splits.train);
      counts = { train: splits.train.length, validation: splits.validation.length, test: splits.test.length };
      for (const split of SPLITS)
        for (const p of splits[split]) {
          const { messages } = trainingConversation(p, contexts.get(p.sha)!, llm, LLM_ROWS);
          const ids = chatRow(messages, llm.template, llm.tokenizer, `${name} ${p.sha.slice(0, 10)}`);
          rows[split].push({
            repo: name,
            sha: p.sha,
            target: messages.at(-1)!.content,
            messages,
            input_ids: ids.inputIds,
            labels: ids.labels,
          });
        }
    } else if (base) {
      const { all, historyOf } = await cmgPairs(repo, base, { maxCommits: o.maxCommits, signal: o.signal });
      const splits = timeSplits(all);
      counts = { train: splits.train.length, validation: splits.validation.length, test: splits.test.length };
      for (const split of SPLITS) {
        for (const p of splits[split]) {
          const e = base.trainingExample(p.files, p.subject, historyOf.get(p.sha));
          // Labels capped as finetune caps them (history models keep theirs whole: the decoder inputs line up with them).
          const ex = e.decoder_input_ids ? e : { ...e, labels: e.labels.slice(0, MAX_TARGET) };
          rows[split].push({ repo: name, sha: p.sha, target: p.subject, ...ex });
        }
      }
    } else {
      const ds = await jitdpDataset(repo, { signal: o.signal });
      counts = { train: ds.train.length, validation: ds.validation.length, test: ds.test.length };
      risk.push({ name, ds });
    }
    summary.repositories.push({ repo: repo.root, head: repo.head, ...counts });
    o.onProgress?.(`${name}: ${counts.train} train, ${counts.validation} validation, ${counts.test} test`);
  }
  // Risk rows: with an encoder, also its input ids (the neural model's input, as risk-train builds it) and the
  // features scaled with the training split's statistics (all repositories together), kept in scaling.json.
  const extra: Record<string, string> = {};
  if (risk.length) {
    const tok = o.model ? await encoderTokenizer(o.model) : null;
    const scaling = fitScaling(risk.flatMap((r) => r.ds.train));
    if (tok)
      extra['scaling.json'] =
        JSON.stringify({ features: FEATURE_NAMES, ...scaling, encoder: o.model, maxLength: tok.maxLength }, null, 1) + '\n';
    for (const { name, ds } of risk) {
      for (const split of SPLITS) {
        for (const c of ds[split]) {
          const ids = tok
            ? {
                input_ids: encodeChange(tok.tok, c.message, linesOfText(c.added, c.removed), tok.maxLength).ids,
                scaled_features: scaleFeatures(c.features, scaling),
              }
            : {};
          rows[split].push({
            repo: name,
            sha: c.sha,
            time: c.time,
            label: c.label,
            message: c.message,
            added: c.added,
            removed: c.removed,
            features: FEATURE_NAMES.map((f) => c.features[f]),
            effort: c.effort,
            ...ids,
          });
        }
      }
    }
  }
  // Written whole or not at all, and only where Changeling may write (see writeOutputFolder).
  await writeOutputFolder(
    o.out,
    async (tmp) => {
      if (o.format === 'parquet') {
        const columns = parquetColumns(SPLITS.flatMap((split) => rows[split]));
        for (const split of SPLITS) await writeBytesAtomic(join(tmp, `${split}.parquet`), parquetBytes(columns, rows[split]));
      } else {
        for (const split of SPLITS)
          await writeFileAtomic(
            join(tmp, `${split}.jsonl`),
            rows[split].map((r) => JSON.stringify(r)).join('\n') + (rows[split].length ? '\n' : ''),
          );
      }
      await writeFileAtomic(join(tmp, 'README.md'), datasetCard(summary, o));
      for (const [name, text] of Object.entries(extra)) await writeFileAtomic(join(tmp, name), text);
    },
    { what: 'the dataset' },
  );
  return summary;
}

function datasetCard(s: ExportSummary, o: ExportOptions): string {
  const ext = o.format === 'parquet' ? 'parquet' : 'jsonl';
  const table = s.repositories
    .map((r) => `| ${r.repo} | ${r.head?.slice(0, 12) ?? '-'} | ${r.train} | ${r.validation} | ${r.test} |`)
    .join('\n');
  const fields =
    s.task === 'cmg' && s.format === 'chat'
      ? `- \`repo\`, \`sha\`: where the commit comes from; \`target\`: its message (subject and as much body as fits), the answer learnt.
- \`messages\`: the chat conversation a code LLM is tuned on: the prompt ✨ gives it for the commit (instructions, \
similar earlier commits, the author's subjects, the diff within the row) and the message as the assistant's turn.
- \`input_ids\`, \`labels\`: the conversation rendered by the model's chat template and tokenized, labels -100 except \
on the answer and its closing token, exactly as \`changeling finetune\` trains (rows of at most ${LLM_ROWS.maxLength} tokens).
- Model: \`${o.model}\` (its tokenizer and chat template; train the same base model on these rows).`
      : s.task === 'cmg'
        ? `- \`repo\`, \`sha\`: where the commit comes from; \`target\`: the message it was trained towards (subject line, or the cleaned message for CommitChronicle models).
- \`input_ids\`: the encoder input, the change in the model's input format (\`${s.format}\`), tokenized and truncated exactly as \`changeling finetune\` does.
- \`labels\`: the target token ids (\`<s> message </s>\`); with-history models also have \`decoder_input_ids\` (the decoder reads the author's earlier messages first; their label positions are -100).
- Model: \`${o.model}\` (its tokenizer and format; train the same base model on these rows).`
        : `- \`repo\`, \`sha\`, \`time\` (ms since 1970), \`message\`: the commit.
- \`label\`: 1 when SZZ marks it buggy, using only fixes made before its split's end (time-ordered, no later information).
- \`added\`, \`removed\`: the changed lines' text in code files (each side capped at 6,000 characters).
- \`features\`: the 14 expert features in this order: ${FEATURE_NAMES.join(', ')}; \`effort\`: lines added + deleted.${
            o.model
              ? `
- \`input_ids\`: the neural model's input for \`${o.model}\` (\`<s> message </s></s> added lines </s></s> removed \
lines </s>\`, as \`changeling risk-train --encoder\` builds it); \`scaled_features\`: the features as the model \
reads them (log1p, then z-scored with the training split's mean and standard deviation, in \`scaling.json\`).`
              : ''
          }`;
  return `---
task_categories:
- ${s.task === 'cmg' ? (s.format === 'chat' ? 'text-generation' : 'text2text-generation') : 'text-classification'}
configs:
- config_name: default
  data_files:
  - split: train
    path: train.${ext}
  - split: validation
    path: validation.${ext}
  - split: test
    path: test.${ext}
---

# ${s.task === 'cmg' ? 'Commit messages' : 'Just-in-time defect prediction'}: exported by Changeling

Time-ordered splits of each repository (oldest 80% train, next 10% validation, newest 10% test), the same
splits \`changeling ${s.task === 'cmg' ? 'finetune --task cmg' : 'risk-train'}\` uses. Load with
\`datasets.load_dataset("${o.format === 'parquet' ? 'parquet' : 'json'}", data_dir="${basename(s.out)}")\`.

| repository | HEAD | train | validation | test |
|---|---|---|---|---|
${table}

Fields:
${fields}

A training recipe for a GPU cluster (PEFT under accelerate) is \`recipes/${s.task === 'cmg' ? 'train_lora.py' : 'train_jitfine.py'}\` in Changeling's
repository; bring the ${s.task === 'cmg' ? 'adapter' : 'model'} back with \`changeling adopt --task ${s.task} --adapter DIR\`.
`;
}
