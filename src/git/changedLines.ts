import type { DiffFile } from './types.js';

/** One added or removed line of a diff, with the file and its number there (new file for "+", old for "-"). */
export interface ChangedLineAt {
  path: string;
  line: number;
  sign: '+' | '-';
  /** The text without the sign and without a CRLF file's trailing "\r". */
  text: string;
  /** Which hunk of the change it is in (counted over all files, from 0). */
  hunk: number;
}

/** The added and removed lines of a change, file by file in diff order (binary files and submodules have none). */
export function* changedLines(files: readonly DiffFile[]): Generator<ChangedLineAt> {
  let hunk = -1;
  for (const f of files) {
    if (f.binary || f.submodule) continue;
    for (const h of f.hunks) {
      hunk++;
      let oldNo = h.oldStart;
      let newNo = h.newStart;
      for (const l of h.lines) {
        const sign = l[0];
        const text = l.slice(1).replace(/\r$/, '');
        if (sign === '+') yield { sign, text, path: f.path, line: newNo++, hunk };
        else if (sign === '-') yield { sign, text, path: f.oldPath ?? f.path, line: oldNo++, hunk };
        else if (sign === ' ') {
          oldNo++;
          newNo++;
        }
      }
    }
  }
}
