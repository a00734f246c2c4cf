/**
 * Where the CLI writes: the process's stdout/stderr by default, or the sinks given to `main()`
 * (the fuzz suite and other in-process callers capture them). Commands write through `out()` /
 * `err()` and report their exit code with `setExitCode()`, never `process.*` directly, so one
 * process can run many commands.
 */
export interface CliIo {
  stdout(s: string): void;
  stderr(s: string): void;
  /** stderr is an interactive terminal (progress bars redraw in place; else plain lines). */
  stderrIsTTY: boolean;
  /** The stream progress bars draw on (only used when stderrIsTTY). */
  stderrStream?: NodeJS.WritableStream;
}

export const processIo: CliIo = {
  stdout: (s) => void process.stdout.write(s),
  stderr: (s) => void process.stderr.write(s),
  get stderrIsTTY() {
    return process.stderr.isTTY === true;
  },
  stderrStream: process.stderr,
};

let current: CliIo = processIo;
let exitCode = 0;

export function cliIo(): CliIo {
  return current;
}
export const out = (s: string): void => current.stdout(s);
export const err = (s: string): void => current.stderr(s);

export function setExitCode(code: number): void {
  exitCode = code;
}

/** Runs `fn` with `io` as the CLI's output and a fresh exit code; returns that exit code. */
export async function withIo(io: CliIo, fn: () => Promise<void>): Promise<number> {
  const saved = current;
  const savedCode = exitCode;
  current = io;
  exitCode = 0;
  try {
    await fn();
    return exitCode;
  } finally {
    current = saved;
    exitCode = savedCode;
  }
}
