/**
 * The checker API: `check` explores a model variant under a strategy and returns plain data;
 * `replay` re-runs one schedule. Counterexamples are shrunk, then re-run with tracing.
 */
import { FootprintAudit } from './audit.ts';
import { DfsScheduler } from './dfs.ts';
import { DporBase } from './dpor.ts';
import { DEFAULT_MAX_STEPS, releaseExecutor, takeExecutor } from './engine.ts';
import type { ModelDef } from './model.ts';
import { OptimalDporScheduler } from './optimal-dpor.ts';
import { PctScheduler } from './pct.ts';
import { RandomScheduler } from './random.ts';
import { type CheckResult, EXHAUSTIVE, type Progress, type ReplayResult, type Strategy } from './result.ts';
import { decodeSchedule, encodeSchedule, ScheduleFormatError } from './schedule.ts';
import { EXEC_ABANDONED, EXEC_OK, EXEC_VIOLATION, type Scheduler } from './scheduler.ts';
import { shrinkSchedule } from './shrink.ts';
import { SourceDporScheduler } from './source-dpor.ts';
import { runSchedule } from './trace-run.ts';

/** Bad arguments to the checker API (unknown variant, bad option); one-line message. */
export class CheckerInputError extends Error {}

export interface CheckOptions {
  /** Default 'dfs'. */
  readonly strategy?: Strategy;
  /** Default: dfs and DPOR 1,000,000; random and pct 10,000. */
  readonly maxExecutions?: number;
  /** Wall-clock budget in ms (default none). */
  readonly timeMs?: number;
  /** Step bound per execution; exceeding it is a "livelock" failure (default 10,000). */
  readonly maxSteps?: number;
  /** Seed for random and pct (default 1). */
  readonly seed?: number;
  /** dfs: maximum preemptions per execution (default unbounded). */
  readonly preemptionBound?: number;
  /**
   * dfs: iterative preemption bounding (default true): bounds 0, 1, 2, then the full bound
   * (`preemptionBound` or none), so failures with at most 2 preemptions are found first.
   */
  readonly iterativeBounding?: boolean;
  /** dfs: sleep-set partial-order reduction (default true). */
  readonly reduction?: boolean;
  /** pct: bug depth d (default 3). */
  readonly pctDepth?: number;
  /**
   * Footprint audit (audit.ts): models that register their shared state record every access, and
   * a step touching an object outside its declared footprint fails with `footprint-audit`.
   */
  readonly audit?: boolean;
  /** Shrink counterexamples (default true). */
  readonly shrink?: boolean;
  /** Called about every `progressEveryMs` (default 250) with running totals. */
  readonly onProgress?: (p: Progress) => void;
  readonly progressEveryMs?: number;
}

export function findVariant(def: ModelDef, variant: string): void {
  if (!def.variants.some((v) => v.name === variant)) {
    const names = def.variants.map((v) => v.name).join(', ');
    throw new CheckerInputError(`model ${def.name} has no variant '${variant}' (variants: ${names})`);
  }
}

function nonNegInt(name: string, v: number | undefined): void {
  if (v !== undefined && !(Number.isInteger(v) && v >= 0) && v !== Number.POSITIVE_INFINITY) {
    throw new CheckerInputError(`${name} must be a non-negative integer, got ${v}`);
  }
}

function makeScheduler(strategy: Strategy, opts: CheckOptions, seed: number): Scheduler {
  switch (strategy) {
    case 'dfs':
      return new DfsScheduler({
        reduction: opts.reduction ?? true,
        iterative: opts.iterativeBounding ?? true,
        ...(opts.preemptionBound === undefined ? {} : { preemptionBound: opts.preemptionBound }),
      });
    case 'source-dpor':
      return new SourceDporScheduler();
    case 'optimal-dpor':
      return new OptimalDporScheduler();
    case 'random':
      return new RandomScheduler(seed);
    case 'pct':
      return new PctScheduler({ seed, depth: opts.pctDepth ?? 3 });
    default:
      throw new CheckerInputError(
        `unknown strategy '${strategy as string}' (dfs, source-dpor, optimal-dpor, random, pct)`,
      );
  }
}

export function check(def: ModelDef, variant: string, opts: CheckOptions = {}): CheckResult {
  findVariant(def, variant);
  const strategy = opts.strategy ?? 'dfs';
  nonNegInt('maxExecutions', opts.maxExecutions);
  if (opts.maxExecutions === 0) throw new CheckerInputError('maxExecutions must be at least 1');
  nonNegInt('maxSteps', opts.maxSteps);
  nonNegInt('preemptionBound', opts.preemptionBound);
  nonNegInt('seed', opts.seed);
  if (opts.pctDepth !== undefined && !(Number.isInteger(opts.pctDepth) && opts.pctDepth >= 1)) {
    throw new CheckerInputError(`pctDepth must be an integer >= 1, got ${opts.pctDepth}`);
  }
  if (opts.timeMs !== undefined && !(opts.timeMs > 0)) {
    throw new CheckerInputError(`time budget must be positive, got ${opts.timeMs} ms`);
  }
  const exhaustive = EXHAUSTIVE.includes(strategy);
  if (exhaustive && strategy !== 'dfs' && opts.preemptionBound !== undefined) {
    throw new CheckerInputError(`a preemption bound applies to dfs only, not ${strategy}`);
  }
  const seed = opts.seed ?? 1;
  const maxExecutions = opts.maxExecutions ?? (exhaustive ? 1_000_000 : 10_000);
  const maxSteps = opts.maxSteps ?? DEFAULT_MAX_STEPS;
  const sched = makeScheduler(strategy, opts, seed);
  const exec = takeExecutor();
  const audit = opts.audit === true ? new FootprintAudit() : null;
  exec.audit = audit;
  const createOpts = audit === null ? { trace: false } : { trace: false, audit };
  const t0 = performance.now();
  const deadline = opts.timeMs === undefined ? Number.POSITIVE_INFINITY : t0 + opts.timeMs;
  const progressEvery = opts.progressEveryMs ?? 250;
  let nextProgress = t0 + progressEvery;
  let states: Set<string> | null = null;
  let executions = 0;
  let pruned = 0;
  let repeated = 0;
  const dfs = sched instanceof DfsScheduler ? sched : null;
  let exhausted = false;
  let reason: string | undefined;
  let failed = false;

  for (;;) {
    const inst = def.create(variant, createOpts);
    if (states === null && executions + pruned === 0 && inst.hashState !== undefined) states = new Set();
    const status = exec.run(inst, sched, maxSteps, states);
    // Iterative bounding re-runs lower levels; count each distinct execution once.
    const repeat = dfs !== null && status === EXEC_OK && dfs.isRepeat(exec);
    const more = sched.end(status);
    if (status === EXEC_ABANDONED) pruned++;
    else if (repeat) repeated++;
    else executions++;
    if (status === EXEC_VIOLATION) {
      failed = true;
      break;
    }
    if (!more) {
      exhausted = true;
      break;
    }
    if (executions >= maxExecutions) {
      reason = `execution budget (${maxExecutions}) exhausted`;
      break;
    }
    // One clock read per execution: ~1% of the trivial model's cost (bench checker.trivial).
    const now = performance.now();
    if (now > deadline) {
      reason = `time budget (${(opts.timeMs! / 1000).toString()} s) exhausted`;
      break;
    }
    if (opts.onProgress !== undefined && now >= nextProgress) {
      nextProgress = now + progressEvery;
      opts.onProgress({ executions, pruned, elapsedMs: now - t0 });
    }
  }

  const searchMs = Math.round((performance.now() - t0) * 1000) / 1000;
  const violation = exec.violation;
  const found = { choices: failed ? exec.choices() : [], steps: exec.steps, preemptions: exec.preemptions };
  exec.audit = null;
  releaseExecutor(exec);
  const result: CheckResult = {
    verdict: failed ? 'fail' : exhausted && exhaustive ? 'pass' : 'incomplete',
    model: def.name,
    variant,
    strategy,
    executions,
    pruned,
    elapsedMs: 0,
    searchMs,
    maxSteps,
  };
  if (states !== null) result.distinctStates = states.size;
  if (dfs !== null) {
    result.reduction = opts.reduction ?? true;
    result.iterativeBounding = opts.iterativeBounding ?? true;
    result.repeated = repeated;
    // Present only if the bound actually cut choices: a pass without it covers every schedule.
    if (opts.preemptionBound !== undefined && (!exhausted || dfs.boundLimited)) {
      result.preemptionBound = opts.preemptionBound;
    }
    if (!exhausted && !failed && dfs.completedBound >= 0)
      result.completedPreemptionBound = dfs.completedBound;
  } else if (sched instanceof DporBase) {
    result.dpor = { races: sched.stats.races, infeasible: sched.stats.infeasible };
  } else {
    result.seed = seed;
    if (strategy === 'pct') result.pctDepth = opts.pctDepth ?? 3;
  }
  if (audit !== null) result.audit = { ...audit.stats };
  if (!failed && result.verdict === 'incomplete') {
    result.reason = reason ?? `${strategy} samples schedules; it cannot prove their absence`;
  }
  if (failed) {
    const v = violation!;
    result.property = v.property;
    result.message = v.message;
    const shrunk =
      opts.shrink === false
        ? { ...found, runs: 0 }
        : shrinkSchedule(def, variant, v.property, found, { maxSteps, audit: audit !== null });
    const traced = runSchedule(def, variant, shrunk.choices, {
      trace: true,
      maxSteps,
      audit: audit !== null,
    });
    if (traced.status !== EXEC_VIOLATION || traced.property !== v.property) {
      throw new Error(
        `model ${def.name}/${variant} is not deterministic: re-running the counterexample gave ${traced.property ?? 'no violation'}`,
      );
    }
    result.property = traced.property;
    result.message = traced.message!;
    result.counterexample = {
      schedule: encodeSchedule(traced.choices),
      steps: traced.steps,
      preemptions: traced.preemptions,
      shrunkFrom: {
        schedule: encodeSchedule(found.choices),
        steps: found.steps,
        preemptions: found.preemptions,
        runs: shrunk.runs,
      },
      trace: traced.trace!,
    };
  }
  result.elapsedMs = Math.round((performance.now() - t0) * 1000) / 1000;
  return result;
}

export interface ReplayOptions {
  /** Produce the trace (default false). */
  readonly trace?: boolean;
  readonly maxSteps?: number;
}

/**
 * Re-run one schedule. A schedule shorter than the execution is completed non-preemptively (the
 * result's `schedule` is the full one); a schedule that does not fit (a choice names a task that
 * is not enabled, or choices are left over) is a {@link ScheduleFormatError}.
 */
export function replay(
  def: ModelDef,
  variant: string,
  schedule: string,
  opts: ReplayOptions = {},
): ReplayResult {
  findVariant(def, variant);
  const choices = decodeSchedule(schedule);
  const r = runSchedule(def, variant, choices, {
    trace: opts.trace ?? false,
    maxSteps: opts.maxSteps ?? DEFAULT_MAX_STEPS,
  });
  if (r.error !== null) {
    throw new ScheduleFormatError(`schedule does not fit ${def.name}/${variant}: ${r.error}`);
  }
  if (r.unused > 0) {
    throw new ScheduleFormatError(
      `schedule does not fit ${def.name}/${variant}: ${r.unused} choice(s) left after the execution ended`,
    );
  }
  const out: ReplayResult = {
    verdict: r.status === EXEC_VIOLATION ? 'fail' : 'pass',
    model: def.name,
    variant,
    schedule: encodeSchedule(r.choices),
    steps: r.steps,
    preemptions: r.preemptions,
  };
  if (r.property !== undefined) out.property = r.property;
  if (r.message !== undefined) out.message = r.message;
  if (r.trace !== null) out.trace = r.trace;
  return out;
}
