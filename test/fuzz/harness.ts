/**
 * Runs the CLI in-process (`main(argv, io)` from src/cli/main.ts) with captured stdout/stderr, and
 * judges a bad-input outcome: exit 2, exactly one stderr line, no stack trace, no internal error.
 * Spawning tsx costs about a second per run on this machine; in-process a run costs milliseconds,
 * so the fuzz suites can afford hundreds of inputs.
 */
import { main } from '../../src/cli/main.ts';

export interface CliRun {
  argv: string[];
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export async function runCli(argv: string[]): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const t0 = performance.now();
  const code = await main(argv, {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    stderrIsTTY: false,
  });
  return { argv, code, stdout, stderr, ms: performance.now() - t0 };
}

/** A stack frame as V8 prints it. */
const STACK = /^\s+at .+[(:]\d+/m;

/** Why `r` is not a clean bad-input outcome, or null if it is. */
export function badInputProblem(r: CliRun): string | null {
  if (STACK.test(r.stderr) || STACK.test(r.stdout)) return 'stack trace printed';
  if (r.stderr.includes('internal error')) return `internal error: ${r.stderr.trim()}`;
  if (r.code !== 2) return `exit ${r.code}, expected 2 (stderr: ${JSON.stringify(r.stderr.slice(0, 200))})`;
  if (!r.stderr.endsWith('\n') || r.stderr.indexOf('\n') !== r.stderr.length - 1)
    return `stderr is not exactly one line: ${JSON.stringify(r.stderr.slice(0, 300))}`;
  if (r.stderr.trim().length < 8) return `stderr does not name the problem: ${JSON.stringify(r.stderr)}`;
  return null;
}

/** Runs every argv, returns the failures as readable lines (empty = all clean). */
export async function fuzzAll(
  cases: readonly string[][],
  maxMs = 20_000,
): Promise<{ failures: string[]; ran: number }> {
  const failures: string[] = [];
  for (const argv of cases) {
    const r = await runCli(argv);
    if (process.env.DIRTYSCOPE_FUZZ_TIMES === '1' && r.ms > 200)
      process.stderr.write(`fuzz: ${Math.round(r.ms)} ms ${JSON.stringify(argv).slice(0, 120)}\n`);
    const p = badInputProblem(r) ?? (r.ms > maxMs ? `took ${Math.round(r.ms)} ms (limit ${maxMs})` : null);
    if (p !== null) failures.push(`${JSON.stringify(argv).slice(0, 300)}: ${p}`);
  }
  return { failures, ran: cases.length };
}
