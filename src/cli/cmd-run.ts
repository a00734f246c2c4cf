/**
 * `dirtyscope run <scenario.json | builtin-name> [--method auto|mkwrite|pagetable|all] [--json]
 * [--processes shared|per-cpu] [--resources N] [--bo-variant V] [--helper-variant V]
 * [--defio-variant V]`
 *
 * Exit 0: every method tracked every write and the consumer copies are coherent; 1: a write was
 * missed or a copy is stale; 2: bad input (scenario errors name the field; an unknown built-in
 * lists the built-ins). With --json, stdout holds exactly the RunResult (a run report the
 * visualizer can load); progress goes to stderr (a bar on a TTY, else a line per 10%
 * once the run has taken 2 s).
 */
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { BO_VARIANTS, type BoVariant } from '../drivers/bo-dirty.ts';
import { DEFIO_VARIANTS, type DefioVariant } from '../drivers/deferred-io.ts';
import { HELPER_VARIANT_NAMES, type HelperVariantName } from '../mm/mapping-dirty-helpers.ts';
import { loadCostFile } from '../workload/cost-model.ts';
import { WorkloadInputError } from '../workload/errors.ts';
import { RUN_METHODS, type RunMethod, type RunOptions, type RunResult, runNamed } from '../workload/run.ts';
import { EXIT_OK, EXIT_VIOLATION, UsageError } from './errors.ts';
import { formatRun } from './format/run.ts';
import { cliIo, setExitCode, out as writeOut } from './io.ts';
import { LineProgress } from './progress.ts';

export interface RunArgs {
  method?: string;
  processes?: string;
  resources?: string;
  boVariant?: string;
  helperVariant?: string;
  defioVariant?: string;
  costs?: string;
  json?: boolean;
}

function oneOf<T extends string>(what: string, v: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(v))
    throw new UsageError(`--${what}: expected one of ${allowed.join(', ')}, got '${v}'`);
  return v as T;
}

/** Command-line arguments -> run options (UsageError on bad values). */
export function runOptions(a: RunArgs): RunOptions {
  const o: RunOptions = {};
  const m = a.method ?? 'all';
  o.methods = m === 'all' ? RUN_METHODS : [oneOf('method', m, [...RUN_METHODS, 'all'] as const) as RunMethod];
  if (a.processes !== undefined)
    o.processes = oneOf('processes', a.processes, ['shared', 'per-cpu'] as const);
  if (a.resources !== undefined) {
    const n = Number(a.resources);
    if (!/^\d+$/.test(a.resources) || n < 1 || n > 4096)
      throw new UsageError(`--resources: expected an integer in [1, 4096], got '${a.resources}'`);
    o.resourcesPerBo = n;
  }
  if (a.boVariant !== undefined) o.boVariant = oneOf<BoVariant>('bo-variant', a.boVariant, BO_VARIANTS);
  if (a.helperVariant !== undefined)
    o.helperVariant = oneOf<HelperVariantName>('helper-variant', a.helperVariant, HELPER_VARIANT_NAMES);
  if (a.defioVariant !== undefined)
    o.defioVariant = oneOf<DefioVariant>('defio-variant', a.defioVariant, DEFIO_VARIANTS);
  // Prices measured on this machine by `dirtyscope kernel bench` (docs/kernel-costs.json), over the scenario's.
  if (a.costs !== undefined) {
    try {
      o.costs = loadCostFile(a.costs).costs;
    } catch (e) {
      throw new UsageError(`--costs: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return o;
}

/** Run and format; input errors become UsageError (exit 2). */
export async function runRunCommand(
  scenario: string,
  a: RunArgs,
  progress?: RunOptions['onProgress'],
): Promise<{ stdout: string; exitCode: number; result: RunResult }> {
  const o = runOptions(a);
  if (progress !== undefined) o.onProgress = progress;
  let r: RunResult;
  try {
    r = await runNamed(scenario, o);
  } catch (e) {
    if (e instanceof WorkloadInputError) throw new UsageError(e.message);
    throw e;
  }
  const stdout = a.json === true ? `${JSON.stringify(r)}\n` : formatRun(r);
  return { stdout, exitCode: r.ok ? EXIT_OK : EXIT_VIOLATION, result: r };
}

/**
 * Progress on stderr: a cli-progress bar per method run on a TTY, else a plain line per 10% (or
 * 10 s) once the run has taken 2 s.
 */
export function progressBar(): { update: RunOptions['onProgress']; stop: () => void } | null {
  if (!cliIo().stderrIsTTY) {
    const lp = new LineProgress('run');
    return {
      update: (done, total, method) => lp.update(done, total, 'stores', `run ${method}`),
      stop: () => {},
    };
  }
  let bar: SingleBar | null = null;
  let cur = '';
  return {
    update: (done, total, method) => {
      if (total <= 0) return;
      if (method !== cur) {
        bar?.stop();
        cur = method;
        bar = new SingleBar({
          stream: cliIo().stderrStream ?? process.stderr,
          format: `${method.padEnd(11)} [{bar}] {percentage}% | {value}/{total} stores`,
          hideCursor: true,
          clearOnComplete: true,
        });
        bar.start(total, 0);
      }
      bar!.update(done);
    },
    stop: () => bar?.stop(),
  };
}

export function register(program: Command): void {
  program
    .command('run')
    .description(
      'run a scenario (file or built-in name) through the model; report tracking and cost per method',
    )
    .argument(
      '<scenario>',
      'scenario JSON file or built-in name (coherent-gpu, framebuffer, phase-change, sparse-large)',
    )
    .option('--method <m>', 'auto | mkwrite | pagetable | all (gpu scenarios)', 'all')
    .option('--processes <p>', 'shared (one process, a thread per CPU) | per-cpu (a process per CPU)')
    .option('--resources <n>', 'GPU resources per buffer object (default 1)')
    .option('--bo-variant <v>', `driver variant: ${BO_VARIANTS.join(' | ')}`)
    .option('--helper-variant <v>', 'mapping-dirty-helpers variant (default mainline)')
    .option('--defio-variant <v>', `deferred I/O variant: ${DEFIO_VARIANTS.join(' | ')}`)
    .option(
      '--costs <file>',
      'cost parameters measured by `dirtyscope kernel bench` (e.g. docs/kernel-costs.json)',
    )
    .option('--json', 'print the run report as one JSON document')
    .action(async (scenario: string, a: RunArgs) => {
      const bar = progressBar();
      try {
        const out = await runRunCommand(scenario, a, bar?.update);
        bar?.stop();
        writeOut(out.stdout);
        setExitCode(out.exitCode);
      } finally {
        bar?.stop();
      }
    });
}
