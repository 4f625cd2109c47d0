/**
 * Added and special tokens over a SentencePiece vocabulary, shared by the PLBART and T5 SentencePiece
 * tokenizers: the text is cut at each such token, whole (the earliest in the text first, the first listed
 * where two start at the same place), and only the text between goes through SentencePiece.
 */
export function encodeAroundSpecials(
  text: string,
  specials: readonly string[],
  encodeChunk: (chunk: string) => number[],
  idOf: (special: string) => number,
): number[] {
  const ids: number[] = [];
  let rest = text;
  while (rest.length) {
    let at = -1;
    let hit = '';
    for (const s of specials) {
      const k = rest.indexOf(s);
      if (k >= 0 && (at < 0 || k < at)) {
        at = k;
        hit = s;
      }
    }
    const chunk = at < 0 ? rest : rest.slice(0, at);
    if (chunk) ids.push(...encodeChunk(chunk));
    if (at < 0) break;
    ids.push(idOf(hit));
    rest = rest.slice(at + hit.length);
  }
  return ids;
}

/** The ids of `tokens`, each unknown one added to `added` at the next free id (`size()` after the last). */
export function addTokens(
  tokens: readonly string[],
  known: (token: string) => number | undefined,
  added: Map<string, number>,
  size: () => number,
): number[] {
  return tokens.map((t) => {
    const id = known(t);
    if (id !== undefined) return id;
    const next = size();
    added.set(t, next);
    return next;
  });
}
