/** Reading litmus files from disk (one file, or a folder of `*.litmus.json`). */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { litmusModel } from './build.ts';
import { type LitmusFile, LitmusFormatError, parseLitmus } from './schema.ts';

/** Read and validate one litmus file; problems (unreadable, bad JSON, bad field) are one-line {@link LitmusFormatError}s. */
export async function readLitmusFile(file: string): Promise<LitmusFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new LitmusFormatError(
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return parseLitmus(text, file);
}

/** The `*.litmus.json` files directly in `dir`, sorted by name. */
export async function listLitmusFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new LitmusFormatError(
      `cannot read folder ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return names
    .filter((n) => n.endsWith('.litmus.json'))
    .sort()
    .map((n) => join(dir, n));
}

export { litmusModel };
