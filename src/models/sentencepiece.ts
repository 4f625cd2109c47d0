import { ChangelingError } from '../util/errors.js';
import { TEXT_CAP, readBytesBounded } from '../util/jsonFile.js';

/**
 * SentencePiece models (`*.model`, the serialized ModelProto) read and run natively, as the sentencepiece
 * library does: the normalizer's precompiled character map (a darts-clone double-array trie with its
 * replacement strings), heading/trailing/extra whitespace, the dummy prefix and "▁" escaping; then BPE
 * (adjacent pieces merged by score, highest first, leftmost on ties) or unigram (the Viterbi best
 * segmentation with float32 scores, unknown characters at min score - 10); runs of unknown pieces merged
 * into one, as SentencePieceProcessor does. Written by hand because no JavaScript library reads these
 * files exactly. PLBART (and T5 checkpoints that ship only a SentencePiece model) need it.
 */
export interface SentencePieceModel {
  pieces: Array<{ piece: string; score: number; type: number }>;
  modelType: 'unigram' | 'bpe' | 'word' | 'char';
  unkId: number;
  normalizer: { charsmap: Uint8Array | null; addDummyPrefix: boolean; removeExtraWhitespaces: boolean; escapeWhitespaces: boolean };
}

const TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 };
const SPACE = '\u2581';

/** A minimal protobuf reader: (field, wire type, value) triples of one message. */
function* fields(buf: Uint8Array, where: string): Generator<[number, number, number | Uint8Array]> {
  let p = 0;
  const varint = (): number => {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (p >= buf.length) throw new ChangelingError('io', `${where}: truncated protobuf`);
      const b = buf[p++]!;
      v += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return v;
    }
    throw new ChangelingError('io', `${where}: a malformed varint`);
  };
  while (p < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key % 8;
    if (wire === 0) yield [field, wire, varint()];
    else if (wire === 1) {
      if (p + 8 > buf.length) throw new ChangelingError('io', `${where}: truncated protobuf`);
      p += 8;
    } else if (wire === 2) {
      const n = varint();
      if (p + n > buf.length) throw new ChangelingError('io', `${where}: truncated protobuf`);
      yield [field, wire, buf.subarray(p, p + n)];
      p += n;
    } else if (wire === 5) {
      if (p + 4 > buf.length) throw new ChangelingError('io', `${where}: truncated protobuf`);
      yield [field, wire, new DataView(buf.buffer, buf.byteOffset + p, 4).getFloat32(0, true)];
      p += 4;
    } else throw new ChangelingError('io', `${where}: protobuf wire type ${wire} is not supported`);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

export function parseSentencePiece(buf: Uint8Array, where = 'sentencepiece model'): SentencePieceModel {
  try {
    return parseUnchecked(buf, where);
  } catch (err) {
    if (err instanceof ChangelingError) throw err;
    throw new ChangelingError('io', `${where} is not a readable SentencePiece model: ${(err as Error)?.message ?? String(err)}`);
  }
}

function parseUnchecked(buf: Uint8Array, where: string): SentencePieceModel {
  const bytes = (x: number | Uint8Array) => {
    if (!(x instanceof Uint8Array)) throw new ChangelingError('io', `${where}: a string field is not length-delimited (corrupt model?)`);
    return x;
  };
  const num = (x: number | Uint8Array) => {
    if (typeof x !== 'number') throw new ChangelingError('io', `${where}: a number field is length-delimited (corrupt model?)`);
    return x;
  };
  const m: SentencePieceModel = {
    pieces: [],
    modelType: 'unigram',
    unkId: 0,
    normalizer: { charsmap: null, addDummyPrefix: true, removeExtraWhitespaces: true, escapeWhitespaces: true },
  };
  let unk: number | null = null;
  for (const [f, w, v] of fields(buf, where)) {
    if (f === 1 && w === 2) {
      const piece = { piece: '', score: 0, type: TYPE.NORMAL };
      for (const [g, , x] of fields(v as Uint8Array, where)) {
        if (g === 1) piece.piece = utf8.decode(bytes(x));
        else if (g === 2) piece.score = num(x);
        else if (g === 3) piece.type = num(x);
      }
      m.pieces.push(piece);
    } else if (f === 2 && w === 2) {
      for (const [g, , x] of fields(v as Uint8Array, where)) {
        if (g === 3)
          m.modelType =
            ({ 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' } as Record<number, SentencePieceModel['modelType']>)[num(x)] ?? 'unigram';
        else if (g === 40) unk = num(x);
      }
    } else if (f === 3 && w === 2) {
      for (const [g, , x] of fields(v as Uint8Array, where)) {
        if (g === 2) m.normalizer.charsmap = bytes(x).length ? bytes(x) : null;
        else if (g === 3) m.normalizer.addDummyPrefix = num(x) !== 0;
        else if (g === 4) m.normalizer.removeExtraWhitespaces = num(x) !== 0;
        else if (g === 5) m.normalizer.escapeWhitespaces = num(x) !== 0;
      }
    }
  }
  if (m.pieces.length === 0) throw new ChangelingError('io', `${where} has no pieces: not a SentencePiece model`);
  m.unkId =
    unk ??
    Math.max(
      0,
      m.pieces.findIndex((p) => p.type === TYPE.UNKNOWN),
    );
  if (!Number.isInteger(m.unkId) || m.unkId < 0 || m.unkId >= m.pieces.length)
    throw new ChangelingError('io', `${where}: the unknown piece id ${m.unkId} is not a piece`);
  if (m.normalizer.charsmap) new CharsMap(m.normalizer.charsmap); // checked here, once
  if (m.modelType !== 'unigram' && m.modelType !== 'bpe')
    throw new ChangelingError('io', `${where}: ${m.modelType} SentencePiece models are not supported (unigram, bpe)`);
  return m;
}

/** The normalizer's character map: longest-prefix rules over UTF-8 bytes (a darts-clone trie) to replacement strings. */
class CharsMap {
  private readonly units: Uint32Array;
  private readonly strings: Uint8Array;

  constructor(blob: Uint8Array) {
    if (blob.length < 4) throw new ChangelingError('io', 'a corrupt precompiled character map');
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const size = view.getUint32(0, true);
    if (size % 4 !== 0 || 4 + size > blob.length) throw new ChangelingError('io', 'a corrupt precompiled character map');
    this.units = new Uint32Array(size / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.strings = blob.subarray(4 + size);
  }

  /** The longest rule matching at `at`: [bytes consumed, replacement bytes], or null. */
  match(input: Uint8Array, at: number): [number, Uint8Array] | null {
    const u = this.units;
    const offset = (unit: number) => (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
    const label = (unit: number) => unit & (((1 << 31) >>> 0) | 0xff);
    const hasLeaf = (unit: number) => ((unit >>> 8) & 1) === 1;
    const value = (unit: number) => unit & 0x7fffffff;
    let pos = 0;
    if (u.length === 0) return null;
    pos ^= offset(u[pos]!);
    let best: [number, number] | null = null;
    for (let i = at; i < input.length; i++) {
      if (input[i] === 0) break;
      pos ^= input[i]!;
      if (pos >= u.length) break;
      const unit = u[pos]!;
      if (label(unit) !== input[i]) break;
      pos ^= offset(unit);
      if (pos >= u.length) break;
      if (hasLeaf(unit)) best = [i - at + 1, value(u[pos]!)];
    }
    if (!best) return null;
    const start = best[1];
    let end = start;
    while (end < this.strings.length && this.strings[end] !== 0) end++;
    return [best[0], this.strings.subarray(start, end)];
  }
}

/** The length in bytes of the UTF-8 character at `at` (0 when the bytes there are not valid UTF-8). */
function charLength(b: Uint8Array, at: number): number {
  const c = b[at]!;
  const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
  if (n === 0 || at + n > b.length) return 0;
  for (let k = 1; k < n; k++) if ((b[at + k]! & 0xc0) !== 0x80) return 0;
  // Overlong and surrogate forms are not valid either.
  if (n === 3 && ((c === 0xe0 && b[at + 1]! < 0xa0) || (c === 0xed && b[at + 1]! >= 0xa0))) return 0;
  if (n === 4 && ((c === 0xf0 && b[at + 1]! < 0x90) || (c === 0xf4 && b[at + 1]! >= 0x90))) return 0;
  return n;
}

const REPLACEMENT = new Uint8Array([0xef, 0xbf, 0xbd]);
const SPACE_BYTES = new TextEncoder().encode(SPACE);

export class SentencePieceProcessor {
  private readonly charsmap: CharsMap | null;
  private readonly ids = new Map<string, number>();
  private readonly minScore: number;

  constructor(readonly model: SentencePieceModel) {
    this.charsmap = model.normalizer.charsmap ? new CharsMap(model.normalizer.charsmap) : null;
    model.pieces.forEach((p, i) => {
      if (p.type === TYPE.NORMAL || p.type === TYPE.USER_DEFINED || p.type === TYPE.UNUSED) this.ids.set(p.piece, i);
    });
    let min = Infinity;
    for (const p of model.pieces) if (p.type === TYPE.NORMAL) min = Math.min(min, p.score);
    this.minScore = Number.isFinite(min) ? min : 0;
  }

  static async fromFile(path: string): Promise<SentencePieceProcessor> {
    const buf = await readBytesBounded(path, TEXT_CAP, 'the SentencePiece model');
    return new SentencePieceProcessor(parseSentencePiece(buf, path));
  }

  /** Normalizer::Normalize: the text as the model sees it ("▁" for spaces, a dummy prefix). */
  normalize(text: string): string {
    const input = new TextEncoder().encode(text);
    const n = this.model.normalizer;
    const prefix = (at: number): [Uint8Array, number] => {
      const hit = this.charsmap?.match(input, at);
      if (hit) return [hit[1], hit[0]];
      const len = charLength(input, at);
      return len === 0 ? [REPLACEMENT, 1] : [input.subarray(at, at + len), len];
    };
    const isSpaceOnly = (b: Uint8Array) => b.length === 1 && b[0] === 0x20;
    let at = 0;
    if (n.removeExtraWhitespaces) {
      while (at < input.length) {
        const [s, len] = prefix(at);
        if (!isSpaceOnly(s)) break;
        at += len;
      }
    }
    if (at >= input.length) return '';
    const out: number[] = [];
    const addSpace = () => out.push(...(n.escapeWhitespaces ? SPACE_BYTES : [0x20]));
    if (n.addDummyPrefix) addSpace();
    let prevSpace = n.removeExtraWhitespaces;
    while (at < input.length) {
      const [s0, len] = prefix(at);
      let s = s0;
      while (prevSpace && s.length && s[0] === 0x20) s = s.subarray(1);
      if (s.length) {
        for (const byte of s) {
          if (n.escapeWhitespaces && byte === 0x20) out.push(...SPACE_BYTES);
          else out.push(byte);
        }
        prevSpace = s[s.length - 1] === 0x20;
      }
      at += len;
    }
    let text2 = utf8.decode(Uint8Array.from(out));
    if (n.removeExtraWhitespaces) {
      const sp = n.escapeWhitespaces ? SPACE : ' ';
      while (text2.endsWith(sp)) text2 = text2.slice(0, -sp.length);
    }
    return text2;
  }

  private byFirst: Map<number, Array<{ bytes: Uint8Array; id: number }>> | null = null;
  private maxScore = -Infinity;

  /** Candidate pieces by their first UTF-8 byte (a prefix search over the vocabulary), built once. */
  private piecesByFirstByte(): Map<number, Array<{ bytes: Uint8Array; id: number }>> {
    if (this.byFirst) return this.byFirst;
    const map = new Map<number, Array<{ bytes: Uint8Array; id: number }>>();
    const enc = new TextEncoder();
    this.model.pieces.forEach((p, id) => {
      if (p.type === TYPE.NORMAL) this.maxScore = Math.max(this.maxScore, p.score);
      if (!(p.type === TYPE.NORMAL || p.type === TYPE.USER_DEFINED)) return;
      const b = enc.encode(p.piece);
      if (!b.length) return;
      const list = map.get(b[0]!) ?? [];
      list.push({ bytes: b, id });
      map.set(b[0]!, list);
    });
    return (this.byFirst = map);
  }

  private id(piece: string): number {
    return this.ids.get(piece) ?? this.model.unkId;
  }

  private isUnused(id: number): boolean {
    return this.model.pieces[id]?.type === TYPE.UNUSED;
  }

  /** SentencePiece ids of a text (no BOS/EOS). */
  encode(text: string): number[] {
    const norm = this.normalize(text);
    if (!norm) return [];
    const ids = this.model.modelType === 'bpe' ? this.bpe(norm) : this.unigram(norm);
    // Runs of unknown pieces become one, as SentencePieceProcessor merges them.
    const out: number[] = [];
    for (const id of ids) if (!(id === this.model.unkId && out.at(-1) === this.model.unkId)) out.push(id);
    return out;
  }

  private bpe(norm: string): number[] {
    const sym = [...norm];
    // Merge the adjacent pair with the best score (a piece in the vocabulary), leftmost on ties, until none is left.
    for (;;) {
      let best = -1;
      let bestScore = -Infinity;
      for (let i = 0; i + 1 < sym.length; i++) {
        const id = this.ids.get(sym[i]! + sym[i + 1]!);
        if (id === undefined || this.isUnused(id)) continue;
        const score = this.model.pieces[id]!.score;
        if (score > bestScore) {
          bestScore = score;
          best = i;
        }
      }
      if (best < 0) break;
      sym.splice(best, 2, sym[best]! + sym[best + 1]!);
    }
    return sym.map((s) => this.id(s));
  }

  private unigram(norm: string): number[] {
    const bytes = new TextEncoder().encode(norm);
    const size = bytes.length;
    const unkScore = Math.fround(this.minScore - 10);
    const best = Array.from({ length: size + 1 }, () => ({ score: 0, start: -1, id: -1 }));
    const byFirst = this.piecesByFirstByte();
    const maxScore = this.maxScore;
    for (let start = 0; start < size;) {
      const here = best[start]!.score;
      const mblen = Math.max(1, Math.min(charLength(bytes, start) || 1, size - start));
      let single = false;
      const matches: Array<[number, number]> = [];
      for (const c of byFirst.get(bytes[start]!) ?? []) {
        const end = start + c.bytes.length;
        if (end > size) continue;
        let ok = true;
        for (let k = 1; k < c.bytes.length; k++)
          if (bytes[start + k] !== c.bytes[k]) {
            ok = false;
            break;
          }
        if (ok) matches.push([end, c.id]);
      }
      matches.sort((a, b) => a[0] - b[0]);
      for (const [end, id] of matches) {
        const len = end - start;
        const score = this.model.pieces[id]!.type === TYPE.USER_DEFINED ? Math.fround(len * maxScore - 0.1) : this.model.pieces[id]!.score;
        const cand = Math.fround(score + here);
        const t = best[end]!;
        if (t.start === -1 || cand > t.score) {
          t.score = cand;
          t.start = start;
          t.id = id;
        }
        if (len === mblen) single = true;
      }
      if (!single) {
        const t = best[start + mblen]!;
        const cand = Math.fround(unkScore + here);
        if (t.start === -1 || cand > t.score) {
          t.score = cand;
          t.start = start;
          t.id = this.model.unkId;
        }
      }
      start += mblen;
    }
    const out: number[] = [];
    for (let end = size; end > 0;) {
      const node = best[end]!;
      if (node.start < 0) break;
      out.push(node.id);
      end = node.start;
    }
    return out.reverse();
  }

  /** Pieces back to text: "▁" read as a space, the dummy prefix dropped. */
  decode(ids: readonly number[]): string {
    const text = ids
      .map((i) => {
        const p = this.model.pieces[i];
        if (!p || p.type === TYPE.CONTROL) return '';
        if (p.type === TYPE.UNKNOWN) return ' \u2047 ';
        return p.piece;
      })
      .join('')
      .replaceAll(SPACE, ' ');
    return this.model.normalizer.addDummyPrefix && text.startsWith(' ') ? text.slice(1) : text;
  }

  get size(): number {
    return this.model.pieces.length;
  }
}
