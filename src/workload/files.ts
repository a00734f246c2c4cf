/**
 * Reading input files safely: only regular files (a directory, a device such as /dev/zero, a FIFO
 * or a socket is refused before any byte is read) and at most a stated number of bytes, so a
 * wrong path is a one-line error instead of a hang or an out-of-memory crash.
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { WorkloadInputError } from './errors.ts';

export class InputFileError extends WorkloadInputError {
  override name = 'InputFileError';
}

/** Most bytes of one JSON document we read (scenario, cost file): far above any real one. */
export const MAX_JSON_INPUT_BYTES = 16 * 1024 * 1024;

const MiB = (n: number) => (n >= 1024 * 1024 ? `${n / (1024 * 1024)} MiB` : `${n} bytes`);

/** Refuses anything but an existing regular file (following symlinks); one-line errors. */
export function checkRegularFile(path: string, what: string): void {
  let st: import('node:fs').Stats;
  try {
    st = statSync(path);
  } catch (e) {
    throw new InputFileError(
      `${what} ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  if (st.isDirectory()) throw new InputFileError(`${what} ${path}: is a directory, expected a file`);
  if (!st.isFile())
    throw new InputFileError(`${what} ${path}: not a regular file (a device, FIFO or socket)`);
}

/**
 * The text of regular file `path`, if it holds at most `maxBytes` bytes; else an InputFileError
 * naming `what`, the path and the problem (missing, a directory, a device, too large).
 */
export function readInputFile(path: string, what: string, maxBytes = MAX_JSON_INPUT_BYTES): string {
  checkRegularFile(path, what);
  let fd: number;
  try {
    // O_NONBLOCK: should the path have been swapped for a FIFO since the check, open does not hang.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new InputFileError(
      `${what} ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new InputFileError(`${what} ${path}: not a regular file`);
    if (st.size > maxBytes)
      throw new InputFileError(`${what} ${path}: ${st.size} bytes is over the limit of ${MiB(maxBytes)}`);
    const buf = Buffer.alloc(Math.min(maxBytes + 1, st.size + 1));
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      if (n === buf.length) break;
    }
    if (n > maxBytes) throw new InputFileError(`${what} ${path}: over the limit of ${MiB(maxBytes)}`);
    return buf.toString('utf8', 0, n);
  } catch (e) {
    if (e instanceof InputFileError) throw e;
    throw new InputFileError(
      `${what} ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  } finally {
    closeSync(fd);
  }
}
