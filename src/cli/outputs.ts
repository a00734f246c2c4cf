/**
 * Output files. Every `--out`/`--trace` target is checked before the work starts (its directory
 * exists and is writable; if the target exists it is a regular file, never a device, FIFO,
 * socket or directory), and written to a temporary file in the same directory that is flushed
 * and renamed over the target, so a reader (or a full disk) sees the old file or the whole new
 * one, never a truncated one.
 */
import {
  accessSync,
  closeSync,
  constants,
  fsyncSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from './errors.ts';

const code = (e: unknown) =>
  (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));

function statOrNull(p: string): import('node:fs').Stats | null {
  try {
    return statSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

function checkWritableDir(dir: string, flag: string, target: string): void {
  let st: import('node:fs').Stats | null;
  try {
    st = statOrNull(dir);
  } catch (e) {
    throw new UsageError(`${flag} ${target}: cannot use directory ${dir} (${code(e)})`);
  }
  if (st === null) throw new UsageError(`${flag} ${target}: directory ${dir} does not exist`);
  if (!st.isDirectory()) throw new UsageError(`${flag} ${target}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (e) {
    throw new UsageError(`${flag} ${target}: directory ${dir} is not writable (${code(e)})`);
  }
}

/** Checks an output file path before any work; throws UsageError naming `flag` and the problem. */
export function checkOutputFile(path: string, flag: string): void {
  if (path === '') throw new UsageError(`${flag}: empty path`);
  let st: import('node:fs').Stats | null;
  try {
    st = statOrNull(path);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot use (${code(e)})`);
  }
  if (st?.isDirectory()) throw new UsageError(`${flag} ${path}: is a directory, expected a file`);
  if (st !== null && !st.isFile())
    throw new UsageError(
      `${flag} ${path}: exists and is not a regular file (a device, FIFO or socket); refusing to replace it`,
    );
  checkWritableDir(dirname(resolve(path)), flag, path);
}

/**
 * Checks an output directory before any work: it exists and is a writable directory, or it does
 * not exist and its nearest existing ancestor is one (it will be created); and each of `files`
 * inside it, if present, is a regular file.
 */
export function checkOutputDir(dir: string, flag: string, files: readonly string[]): void {
  if (dir === '') throw new UsageError(`${flag}: empty path`);
  let p = resolve(dir);
  let st: import('node:fs').Stats | null;
  for (;;) {
    try {
      st = statOrNull(p);
    } catch (e) {
      throw new UsageError(`${flag} ${dir}: cannot use (${code(e)})`);
    }
    if (st !== null || dirname(p) === p) break;
    p = dirname(p);
  }
  if (st === null || !st.isDirectory()) throw new UsageError(`${flag} ${dir}: ${p} is not a directory`);
  checkWritableDir(p, flag, dir);
  if (p === resolve(dir)) for (const f of files) checkOutputFile(join(dir, f), flag);
}

let counter = 0;

/** Writes `data` to `path` atomically (temp file in the same directory, fsync, rename). */
export function writeFileAtomic(path: string, data: string | Uint8Array, flag: string): void {
  const tmp = join(dirname(resolve(path)), `.${basename(path)}.tmp-${process.pid}-${counter++}`);
  let fd = -1;
  try {
    fd = openSync(tmp, 'wx', 0o644);
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) {
      try {
        closeSync(fd);
      } catch {
        // already failing: the write error below is the one to report
      }
    }
    try {
      unlinkSync(tmp);
    } catch {
      // the temporary file was never created, or is already gone
    }
    throw new UsageError(
      `${flag} ${path}: cannot write (${code(e)}); the previous file, if any, is unchanged`,
    );
  }
}
