/**
 * `dirtyscope replay <model> --variant V --schedule S [--trace FILE] [--max-steps N] [--json]`:
 * re-run one schedule (from `check`). Exit 1 if the execution violates a property, 0 if not, 2 on
 * bad input (unknown model/variant, malformed schedule or one that does not fit the model). The
 * trace file is written atomically (temporary file, then rename).
 */
import type { Command } from 'commander';
import { CheckerInputError, replay } from '../checker/check.ts';
import type { ModelDef } from '../checker/model.ts';
import type { ReplayResult } from '../checker/result.ts';
import { ScheduleFormatError } from '../checker/schedule.ts';
import { MODELS } from '../models/catalogue.ts';
import { TraceFormatError, writeTraceFileAtomic } from '../trace/io.ts';
import { CHECK_LIMITS, type CommandOutput, findModel, parseIntIn, pickVariant } from './cmd-check.ts';
import { EXIT_OK, EXIT_VIOLATION, UsageError } from './errors.ts';
import { formatReplay } from './format/check.ts';
import { setExitCode, out as writeOut } from './io.ts';
import { resolveModelArg } from './model-arg.ts';
import { checkOutputFile } from './outputs.ts';

export interface ReplayArgs {
  variant?: string;
  schedule: string;
  trace?: string;
  maxSteps?: string;
  json?: boolean;
}

export async function runReplayCommand(
  catalogue: readonly ModelDef[],
  modelName: string,
  args: ReplayArgs,
): Promise<CommandOutput & { result: ReplayResult }> {
  const def = findModel(catalogue, modelName);
  const variant = pickVariant(def, args.variant);
  if (args.trace !== undefined) checkOutputFile(args.trace, '--trace');
  const maxSteps = parseIntIn('--max-steps', args.maxSteps, 1, CHECK_LIMITS.maxSteps);
  let result: ReplayResult;
  try {
    result = replay(def, variant, args.schedule, {
      trace: args.trace !== undefined,
      ...(maxSteps === undefined ? {} : { maxSteps }),
    });
  } catch (e) {
    if (e instanceof ScheduleFormatError || e instanceof CheckerInputError) throw new UsageError(e.message);
    throw e;
  }
  const { trace, ...summary } = result;
  if (args.trace !== undefined && trace !== undefined) {
    try {
      await writeTraceFileAtomic(args.trace, trace);
    } catch (e) {
      if (e instanceof TraceFormatError) throw new UsageError(e.message);
      throw e;
    }
  }
  const json = args.trace === undefined ? summary : { ...summary, traceFile: args.trace };
  const stdout = args.json === true ? `${JSON.stringify(json)}\n` : formatReplay(summary, args.trace);
  return { stdout, exitCode: result.verdict === 'fail' ? EXIT_VIOLATION : EXIT_OK, result };
}

export function register(program: Command): void {
  program
    .command('replay <model>')
    .description('re-run one schedule of a model variant, optionally writing its trace')
    .option('--variant <name>', 'variant (default: mainline)')
    .requiredOption('--schedule <s>', "schedule string from 'check' (v1:...)")
    .option('--trace <file>', 'write the trace JSON to FILE (atomically)')
    .option('--max-steps <n>', 'step bound (default 10000)')
    .option('--json', 'print the result as one JSON document')
    .action(async (model: string, args: ReplayArgs) => {
      const m = await resolveModelArg(MODELS, model);
      const out = await runReplayCommand(m.catalogue, m.name, args);
      writeOut(out.stdout);
      setExitCode(out.exitCode);
    });
}
