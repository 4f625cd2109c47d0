import type { DiffFile } from '../../git/types.js';
import type { FilterOptions } from '../../git/inputFilter.js';
import type { CodeTokenizer } from '../../models/tokenizer.js';
import { chronicleFiles } from './commitChronicle.js';
import { describeShortening, modelInput } from './input.js';
import type { InputFormat } from './profile.js';

/**
 * The change as a model's encoder input, in the model's format: the serialised text, its ids (special
 * tokens included, at most `maxInput`), and what was left out and why, for `changeling input` and for
 * the note people see.
 */
export interface DroppedFile {
  path: string;
  why: 'non-ascii' | 'mode-only' | 'beyond-input' | 'cut' | 'name-only' | 'partial';
}

export interface EncoderInput {
  format: InputFormat;
  text: string;
  inputIds: number[];
  dropped: DroppedFile[];
  /** One line for people when the model did not see all of the change; null when it did. */
  note: string | null;
}

const WHY: Record<DroppedFile['why'], string> = {
  'non-ascii': 'not ASCII, which the model never saw',
  'mode-only': 'a mode change only',
  'beyond-input': 'left out',
  cut: 'cut',
  'name-only': 'name only',
  partial: 'some hunks',
};

function describeDropped(dropped: readonly DroppedFile[], maxInput: number): string | null {
  if (!dropped.length) return null;
  const parts = dropped.slice(0, 4).map((d) => `${d.path} (${WHY[d.why]})`);
  const over = dropped.some((d) => d.why === 'beyond-input' || d.why === 'cut');
  return `${over ? `the change is larger than the model's ${maxInput}-token input: ` : 'not seen by the model: '}${parts.join(', ')}${dropped.length > 4 ? ` and ${dropped.length - 4} more` : ''}`;
}

export function encoderInput(
  files: readonly DiffFile[],
  o: { format: InputFormat; tokenizer: CodeTokenizer; maxInput: number; filter?: FilterOptions },
): EncoderInput {
  const tok = o.tokenizer;
  const bos = tok.tokenId('<s>') ?? 1;
  const eos = tok.tokenId('</s>') ?? 2;
  const encode = (s: string) => tok.encode(s, { addSpecialTokens: false }).ids;
  if (o.format === 'study') {
    const m = modelInput(files, { budget: o.maxInput - 2, countTokens: (t) => encode(t).length, filter: o.filter });
    const dropped: DroppedFile[] = m.files
      .filter((f) => f.kept !== 'whole')
      .map((f) => ({ path: f.path, why: f.kept === 'omitted' ? 'beyond-input' : f.kept === 'header' ? 'name-only' : 'partial' }));
    return { format: o.format, text: m.text, inputIds: tok.encode(m.text).ids.slice(0, o.maxInput), dropped, note: describeShortening(m) };
  }
  // CommitChronicle: each file's text in git's order; tokens counted per file (a file's text ends with a
  // newline and the next starts with its header, so the byte-level pre-tokenizer splits there and counts
  // add up), the whole text tokenized once up to the file that crosses the limit.
  const limit = o.maxInput - 2;
  const pieces = chronicleFiles(files, o.format === 'commitchronicle-codereviewer' ? 'codereviewer' : 'default');
  const dropped: DroppedFile[] = [];
  const kept: string[] = [];
  let count = 0;
  for (const p of pieces) {
    if (p.text === null) {
      dropped.push({ path: p.path, why: p.reason! });
      continue;
    }
    if (count >= limit) {
      dropped.push({ path: p.path, why: 'beyond-input' });
      continue;
    }
    const n = encode(boundedText(p.text, limit - count)).length;
    if (count + n > limit) dropped.push({ path: p.path, why: 'cut' });
    count += n;
    kept.push(p.text);
  }
  const text = kept.join('');
  const ids = encode(boundedText(text, limit)).slice(0, limit);
  const note = text
    ? describeDropped(dropped, o.maxInput)
    : 'the model sees nothing of this change (whitespace only, a mode change, or files it never reads): its suggestions are guesses';
  return { format: o.format, text, inputIds: [bos, ...ids, eos], dropped, note };
}

/**
 * A start of `text` long enough for its first `tokens` tokens to be exactly those of the whole text: cut
 * before a space that follows a non-space (no pre-token spans that point), with room to spare (no token of
 * a byte-level vocabulary is longer than a few dozen characters, and runs of spaces are squeezed).
 */
function boundedText(text: string, tokens: number): string {
  const room = Math.max(1, tokens) * 96 + 256;
  if (text.length <= room) return text;
  for (let i = room; i < text.length; i++) if (text[i] === ' ' && text[i - 1] !== ' ' && text[i - 1] !== '\n') return text.slice(0, i);
  return text;
}
