import type { CodeTokenizer } from '../../models/tokenizer.js';
import { ChangelingError } from '../../util/errors.js';
import { readTextFile } from '../../util/jsonFile.js';
import { fieldText, pyStrip } from '../../util/text.js';

/**
 * Probing data in the study's format (PEFT4CC datasets/probing, giganticode/probes data/datasets_*): one
 * example per line, `split<TAB>label<TAB>text`, split `tr`, `va` or `te`. Labels are strings; their class
 * numbers follow first appearance, as the reference classifier numbers them.
 */
export type Split = 'tr' | 'va' | 'te';

export interface ProbeExample {
  split: Split;
  label: string;
  text: string;
}

export interface ProbeData {
  /** Where it came from (a file, or the task built from a repository). */
  name: string;
  examples: ProbeExample[];
  /** Class names, in first-appearance order. */
  labels: string[];
}

const SPLITS = new Set<string>(['tr', 'va', 'te']);

export function parseProbeData(text: string, name: string): ProbeData {
  return checkedData(name, parseProbeLines(text, name));
}

/** The examples of a file in the study's format, each line checked (the splits and labels are not). */
export function parseProbeLines(text: string, name: string): ProbeExample[] {
  const examples: ProbeExample[] = [];
  // Python's universal newlines, as the reference reads its files.
  const lines = text.split(/\r\n|\r|\n/);
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const a = line.indexOf('\t');
    const b = a < 0 ? -1 : line.indexOf('\t', a + 1);
    if (b < 0)
      throw new ChangelingError(
        'usage',
        `${name} line ${i + 1}: expected split<TAB>label<TAB>text (the study's probing format), found ${fieldText(line.slice(0, 60))}`,
      );
    const split = line.slice(0, a);
    if (!SPLITS.has(split))
      throw new ChangelingError('usage', `${name} line ${i + 1}: the split must be tr, va or te, not ${fieldText(split.slice(0, 20))}`);
    // As the reference reads it: the split and label from the line, the text as the last tab-separated field of
    // the line stripped of surrounding white space (Python's str.strip), so a text holding a tab keeps its end.
    const stripped = pyStrip(line);
    examples.push({ split: split as Split, label: line.slice(a + 1, b), text: stripped.slice(stripped.lastIndexOf('\t') + 1) });
  });
  return examples;
}

export function checkedData(name: string, examples: ProbeExample[]): ProbeData {
  for (const s of ['tr', 'va', 'te'] as const)
    if (!examples.some((e) => e.split === s))
      throw new ChangelingError(
        'usage',
        `${name} has no ${s === 'tr' ? 'training' : s === 'va' ? 'validation' : 'test'} examples (split ${s}): a probe needs all three`,
      );
  const labels = [...new Set(examples.map((e) => e.label))];
  if (labels.length < 2) throw new ChangelingError('usage', `${name} has one label only (${fieldText(labels[0] ?? '')}): nothing to probe`);
  return { name, examples, labels };
}

export async function readProbeFile(path: string): Promise<ProbeData> {
  return parseProbeData(await readTextFile(path), path);
}

/**
 * The study's probe input (PEFT4CC probe_extractor.py, convert_examples_to_features): the text's tokens cut
 * to seq_length - 2, between the literal tokens "[CLS]" and "[SEP]", which no CodeT5, CodeBERT or PLBART
 * vocabulary holds, so both become the unknown token's id; the features are that first token's states.
 * `model` instead frames the tokens with the model's own start and end tokens, as its pre-training did.
 */
export type ProbeInput = 'study' | 'model';

export function probeInputIds(tok: CodeTokenizer, text: string, o: { input: ProbeInput; seqLength: number }): number[] {
  const tokens = tok.encode(text, { addSpecialTokens: false }).ids;
  if (o.input === 'model') {
    // The model's own framing (what encode adds around the tokens), kept whole; the tokens cut to fit.
    const framed = tok.encode(text, { addSpecialTokens: true }).ids;
    let p = 0;
    while (p + tokens.length <= framed.length && !tokens.every((t, i) => framed[p + i] === t)) p++;
    if (p + tokens.length > framed.length) p = 0;
    const before = framed.slice(0, p);
    const after = framed.slice(p + tokens.length);
    return [...before, ...tokens.slice(0, Math.max(0, o.seqLength - before.length - after.length)), ...after];
  }
  const unk = tok.tokenId('<unk>');
  if (unk === undefined)
    throw new ChangelingError(
      'model',
      "the tokenizer has no <unk> token, which the study's probe input needs for its [CLS] and [SEP] (use --input model)",
    );
  return [tok.tokenId('[CLS]') ?? unk, ...tokens.slice(0, Math.max(0, o.seqLength - 2)), tok.tokenId('[SEP]') ?? unk];
}
