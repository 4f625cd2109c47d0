import { open, readFile, type FileHandle } from 'node:fs/promises';
import { ChangelingError, fileError } from './errors.js';

/** A text file's content (UTF-8), with an error that names the file when it is missing or unreadable. */
export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw fileError(err, path, 'reading');
  }
}

/** A JSON file's value, with errors that name the file (missing, unreadable, not JSON). */
export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readTextFile(path);
  try {
    return JSON.parse(text);
  } catch {
    throw new ChangelingError('io', `${path} is not valid JSON`);
  }
}

/** Opens a file for reading, with an error that names it. */
export async function openForReading(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    throw fileError(err, path, 'opening');
  }
}
