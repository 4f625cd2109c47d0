/** The parsed form of git's unified diffs and commits: what the rest of Changeling reads. */

export type FileStatus = 'added' | 'deleted' | 'modified' | 'renamed' | 'copied';

export interface DiffHunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** The text after the second "@@" (git's function-name heading), without the leading space. */
  section: string;
  /** Body lines exactly as git printed them: each starts with "+", "-" or " "; a "\r" before the newline is kept. */
  lines: string[];
  /** Where git printed "\\ No newline at end of file": each entry is the number of body lines before the marker. */
  noEolAt?: number[];
}

export interface DiffFile {
  status: FileStatus;
  /** Repository-relative path after the change (for a deletion: the deleted path). */
  path: string;
  /** Path before the change, for renames and copies; otherwise null. */
  oldPath: string | null;
  oldMode: string | null;
  newMode: string | null;
  /** Rename or copy similarity in percent, when git reported one. */
  similarity: number | null;
  binary: boolean;
  /** A gitlink (mode 160000): the "lines" are "Subproject commit <sha>". */
  submodule: boolean;
  additions: number;
  deletions: number;
  hunks: DiffHunk[];
  /** The old side has no newline at end of file ("\ No newline at end of file"). */
  oldNoEol?: true;
  newNoEol?: true;
  /** Some changed or context lines end with "\r\n". */
  crlf?: true;
  /** Some lines were not valid UTF-8 and were decoded byte-per-character (Latin-1). */
  nonUtf8?: true;
  /** Hunks were left out because the commit's diff was over the size cap (counts are still complete). */
  truncated?: true;
  /** A combined diff of a merge (diff --cc), whose hunks are not kept. */
  combined?: true;
}

export interface CommitRecord {
  sha: string;
  parents: string[];
  author: { name: string; email: string };
  authorDate: string;
  commitDate: string;
  message: string;
  /** More than one parent; the files are the diff against the first parent. */
  merge?: true;
  /** A shallow clone's boundary commit: its parents are missing, so its diff is the whole tree. */
  shallowBoundary?: true;
  files: DiffFile[];
  /** The diff was over the size cap; some hunks are left out (file list and counts are complete). */
  truncated: boolean;
}

export interface DiffTotals {
  files: number;
  hunks: number;
  additions: number;
  deletions: number;
}

export function diffTotals(files: readonly DiffFile[]): DiffTotals {
  let hunks = 0;
  let additions = 0;
  let deletions = 0;
  for (const f of files) {
    hunks += f.hunks.length;
    additions += f.additions;
    deletions += f.deletions;
  }
  return { files: files.length, hunks, additions, deletions };
}
