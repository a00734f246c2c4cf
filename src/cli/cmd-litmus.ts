/**
 * `dirtyscope litmus [PATH...] [--strategy S] [--max-executions N] [--time S] [--seed N] [--json]`:
 * run litmus files (PATH: a `*.litmus.json` file or a folder of them; default `litmus`) as a
 * regression suite and print a table. Exit 0 when every verdict is as expected, 1 on any
 * mismatch, 2 on bad input (unreadable or invalid file, bad option).
 */
import type { Command } from 'commander';
import { STRATEGIES, type Strategy } from '../checker/result.ts';
import { parseCount } from './cmd-check.ts';
import { EXIT_OK, EXIT_VIOLATION, UsageError } from './errors.ts';
import { formatLitmusTable } from './format/litmus.ts';

export interface LitmusArgs {
  strategy?: string;
  maxExecutions?: string;
  time?: string;
  seed?: string;
  json?: boolean;
}

export async function runLitmusCommand(
  paths: readonly string[],
  args: LitmusArgs,
): Promise<{ stdout: string; exitCode: number }> {
  const { collectLitmusFiles, runLitmusSuite } = await import('../litmus/suite.ts');
  const { LitmusFormatError } = await import('../litmus/schema.ts');
  const strategy = (args.strategy ?? 'dfs') as Strategy;
  if (!STRATEGIES.includes(strategy))
    throw new UsageError(`unknown strategy '${args.strategy}' (${STRATEGIES.join(', ')})`);
  const maxExecutions = parseCount('--max-executions', args.maxExecutions);
  const seed = parseCount('--seed', args.seed);
  let timeMs: number | undefined;
  if (args.time !== undefined) {
    timeMs = Number(args.time) * 1000;
    if (!/^\d+(\.\d+)?$/.test(args.time) || !(timeMs > 0))
      throw new UsageError(`--time must be a positive number of seconds, got '${args.time}'`);
  }
  let rows: Awaited<ReturnType<typeof runLitmusSuite>>;
  try {
    const files = await collectLitmusFiles(paths.length === 0 ? ['litmus'] : paths);
    rows = await runLitmusSuite(files, {
      strategy,
      ...(maxExecutions === undefined ? {} : { maxExecutions }),
      ...(seed === undefined ? {} : { seed }),
      ...(timeMs === undefined ? {} : { timeMs }),
    });
  } catch (e) {
    if (e instanceof LitmusFormatError) throw new UsageError(e.message);
    throw e;
  }
  const bad = rows.some((r) => r.status === 'mismatch');
  return {
    stdout: args.json === true ? `${JSON.stringify({ rows })}\n` : formatLitmusTable(rows),
    exitCode: bad ? EXIT_VIOLATION : EXIT_OK,
  };
}

export function register(program: Command): void {
  program
    .command('litmus')
    .description('run litmus files (a folder or files; default ./litmus) as a regression suite')
    .argument('[paths...]', '*.litmus.json files or folders of them')
    .option('--strategy <name>', 'dfs (exhaustive), random or pct', 'dfs')
    .option('--max-executions <n>', 'execution budget per check')
    .option('--time <seconds>', 'wall-clock budget per check')
    .option('--seed <n>', 'seed for random and pct')
    .option('--json', 'print {rows: [...]} as one JSON document')
    .action(async (paths: string[], args: LitmusArgs) => {
      const out = await runLitmusCommand(paths, args);
      process.stdout.write(out.stdout);
      process.exitCode = out.exitCode;
    });
}
