/**
 * `dirtyscope check <model> [--variant V] [--strategy dfs|source-dpor|optimal-dpor|random|pct] [--max-executions N]
 * [--time S] [--seed N] [--preemption-bound K] [--max-steps N] [--pct-depth D] [--no-reduction]
 * [--no-shrink] [--trace FILE] [--json]`
 *
 * Exit 0: pass, or incomplete (said so); 1: a property failed; 2: bad input. With --json, stdout
 * holds exactly the CheckResult; progress goes to stderr (redrawn on a TTY, else a
 * line every 10 s once the check has taken 2 s).
 * The command logic (`runCheckCommand`) takes the catalogue as a parameter so tests can inject toys.
 */
import type { Command } from 'commander';
import { CheckerInputError, check } from '../checker/check.ts';
import type { ModelDef } from '../checker/model.ts';
import { type CheckResult, STRATEGIES, type Strategy } from '../checker/result.ts';
import { MODELS } from '../models/catalogue.ts';
import { TraceFormatError, writeTraceFileAtomic } from '../trace/io.ts';
import { EXIT_OK, EXIT_VIOLATION, UsageError } from './errors.ts';
import { formatCheck, formatProgress } from './format/check.ts';
import { cliIo, err, setExitCode, out as writeOut } from './io.ts';
import { resolveModelArg } from './model-arg.ts';
import { checkOutputFile } from './outputs.ts';
import { LineProgress } from './progress.ts';

export interface CheckArgs {
  variant?: string;
  strategy?: string;
  maxExecutions?: string;
  time?: string;
  seed?: string;
  preemptionBound?: string;
  maxSteps?: string;
  pctDepth?: string;
  reduction?: boolean;
  iterativeBounding?: boolean;
  shrink?: boolean;
  trace?: string;
  json?: boolean;
}

export interface CommandOutput {
  stdout: string;
  exitCode: number;
}

export interface CommandIo {
  /** Receives progress lines (redrawn on a TTY, else plain lines through LineProgress). */
  progress?: (line: string) => void;
}

export function findModel(catalogue: readonly ModelDef[], name: string): ModelDef {
  const m = catalogue.find((d) => d.name === name);
  if (m !== undefined) return m;
  const names = catalogue.map((d) => d.name).join(', ');
  throw new UsageError(
    `unknown model '${name}' (${names === '' ? 'the catalogue is empty' : `models: ${names}`}; see 'dirtyscope list')`,
  );
}

/** The named variant, or `mainline` (else the first variant) when none is given. */
export function pickVariant(def: ModelDef, variant: string | undefined): string {
  if (variant === undefined) {
    const v = def.variants.find((x) => x.name === 'mainline') ?? def.variants[0];
    if (v === undefined) throw new UsageError(`model ${def.name} has no variants`);
    return v.name;
  }
  if (!def.variants.some((x) => x.name === variant)) {
    throw new UsageError(
      `model ${def.name} has no variant '${variant}' (variants: ${def.variants.map((x) => x.name).join(', ')})`,
    );
  }
  return variant;
}

/**
 * Limits of the numeric options, checked before any work. Each is far above useful values and
 * keeps memory and time bounded: a step costs a few words of DFS state and schedule, a PCT
 * change point is examined at every step, a seed is taken modulo 2^32 by the PRNG.
 */
export const CHECK_LIMITS = {
  maxExecutions: 1_000_000_000,
  maxSteps: 1_000_000,
  preemptionBound: 10_000,
  pctDepth: 64,
  seed: 0xffffffff,
  timeSeconds: 7 * 24 * 3600,
} as const;

/** An integer option in [lo, hi] (decimal digits only); the error names the limit. */
export function parseIntIn(flag: string, s: string | undefined, lo: number, hi: number): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < lo || n > hi) {
    throw new UsageError(`${flag} must be an integer in ${lo}..${hi}, got '${s.slice(0, 40)}'`);
  }
  return n;
}

/** A non-negative integer option (decimal digits only), at most Number.MAX_SAFE_INTEGER. */
export function parseCount(flag: string, s: string | undefined): number | undefined {
  return parseIntIn(flag, s, 0, Number.MAX_SAFE_INTEGER);
}

function parseSeconds(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const x = Number(s);
  if (!/^\d+(\.\d+)?$/.test(s) || !(x > 0) || x > CHECK_LIMITS.timeSeconds)
    throw new UsageError(
      `--time must be a positive number of seconds up to ${CHECK_LIMITS.timeSeconds}, got '${s.slice(0, 40)}'`,
    );
  return x * 1000;
}

export async function runCheckCommand(
  catalogue: readonly ModelDef[],
  modelName: string,
  args: CheckArgs,
  io: CommandIo = {},
): Promise<CommandOutput & { result: CheckResult }> {
  const def = findModel(catalogue, modelName);
  const variant = pickVariant(def, args.variant);
  if (args.trace !== undefined) checkOutputFile(args.trace, '--trace');
  const strategy = (args.strategy ?? 'dfs') as Strategy;
  if (!STRATEGIES.includes(strategy)) {
    throw new UsageError(`unknown strategy '${args.strategy!.slice(0, 40)}' (${STRATEGIES.join(', ')})`);
  }
  const L = CHECK_LIMITS;
  const pctDepth = parseIntIn('--pct-depth', args.pctDepth, 1, L.pctDepth);
  const opts = {
    strategy,
    ...optional('maxExecutions', parseIntIn('--max-executions', args.maxExecutions, 1, L.maxExecutions)),
    ...optional('timeMs', parseSeconds(args.time)),
    ...optional('seed', parseIntIn('--seed', args.seed, 0, L.seed)),
    // A model may recommend a preemption bound for exhaustive dfs (large state spaces); the result says so.
    ...optional(
      'preemptionBound',
      parseIntIn('--preemption-bound', args.preemptionBound, 0, L.preemptionBound) ??
        (strategy === 'dfs' ? def.checkDefaults?.preemptionBound : undefined),
    ),
    ...optional('maxSteps', parseIntIn('--max-steps', args.maxSteps, 1, L.maxSteps)),
    ...optional('pctDepth', pctDepth),
    reduction: args.reduction ?? true,
    iterativeBounding: args.iterativeBounding ?? true,
    shrink: args.shrink ?? true,
    ...(io.progress === undefined
      ? {}
      : {
          progressEveryMs: 500,
          onProgress: (p: { executions: number; pruned: number; elapsedMs: number }) =>
            io.progress!(formatProgress(p)),
        }),
  };
  let result: CheckResult;
  try {
    result = check(def, variant, opts);
  } catch (e) {
    if (e instanceof CheckerInputError) throw new UsageError(e.message);
    throw e;
  }
  if (args.trace !== undefined && result.counterexample !== undefined) {
    try {
      await writeTraceFileAtomic(args.trace, result.counterexample.trace);
    } catch (e) {
      if (e instanceof TraceFormatError) throw new UsageError(e.message);
      throw e;
    }
  }
  const stdout = args.json === true ? `${JSON.stringify(result)}\n` : formatCheck(result);
  return { stdout, exitCode: result.verdict === 'fail' ? EXIT_VIOLATION : EXIT_OK, result };
}

function optional<K extends string>(key: K, v: number | undefined): { [P in K]?: number } {
  return (v === undefined ? {} : { [key]: v }) as { [P in K]?: number };
}

/**
 * A progress writer for stderr: on a TTY it overwrites one line; otherwise a plain line every
 * 10 s once the check has taken 2 s.
 */
export function ttyProgress(): { io: CommandIo; done: () => void } {
  if (!cliIo().stderrIsTTY) {
    const lp = new LineProgress('check');
    return { io: { progress: (line) => lp.status(line) }, done: () => undefined };
  }
  let shown = false;
  return {
    io: {
      progress: (line) => {
        shown = true;
        err(`\r${line}\x1b[K`);
      },
    },
    done: () => {
      if (shown) err('\r\x1b[K');
    },
  };
}

export function register(program: Command): void {
  program
    .command('check <model>')
    .description(
      'explore the interleavings of a model variant and check its properties (model: a catalogue name, a model module .ts/.js, or a .litmus.json file)',
    )
    .option('--variant <name>', 'variant to check (default: mainline)')
    .option('--strategy <name>', 'dfs, source-dpor or optimal-dpor (exhaustive), random or pct', 'dfs')
    .option('--max-executions <n>', 'execution budget (default: dfs 1000000, random/pct 10000)')
    .option('--time <seconds>', 'wall-clock budget')
    .option('--seed <n>', 'seed for random and pct (default 1)')
    .option('--preemption-bound <k>', 'dfs: at most K preemptions per execution')
    .option('--max-steps <n>', 'steps per execution before reporting a livelock (default 10000)')
    .option('--pct-depth <d>', 'pct: bug depth (default 3)')
    .option('--no-reduction', 'dfs: disable sleep-set partial-order reduction')
    .option('--no-iterative-bounding', 'dfs: one pass at the full bound instead of bounds 0, 1, 2 first')
    .option('--no-shrink', 'report the counterexample as found, unshrunk')
    .option('--trace <file>', 'write the counterexample trace JSON to FILE')
    .option('--json', 'print the result as one JSON document')
    .action(async (model: string, args: CheckArgs) => {
      const p = ttyProgress();
      try {
        const m = await resolveModelArg(MODELS, model);
        const out = await runCheckCommand(m.catalogue, m.name, args, p.io);
        p.done();
        writeOut(out.stdout);
        setExitCode(out.exitCode);
      } finally {
        p.done();
      }
    });
}
