/** Public surface of the checker. */
export {
  CheckerInputError,
  type CheckOptions,
  check,
  findVariant,
  type ReplayOptions,
  replay,
} from './check.ts';
export { DfsScheduler } from './dfs.ts';
export { DEFAULT_MAX_STEPS, Executor, PROP_CRASH, PROP_DEADLOCK, PROP_LIVELOCK } from './engine.ts';
export type { ModelDef, ModelInstance, ModelTask, VariantDef, Violation } from './model.ts';
export { PctScheduler } from './pct.ts';
export { Prng } from './prng.ts';
export { RandomScheduler } from './random.ts';
export { ReplayScheduler } from './replay.ts';
export type { CheckResult, Counterexample, Progress, ReplayResult, Strategy } from './result.ts';
export { STRATEGIES } from './result.ts';
export { decodeSchedule, encodeSchedule, ScheduleFormatError } from './schedule.ts';
export type { SchedContext, Scheduler } from './scheduler.ts';
export { shrinkSchedule } from './shrink.ts';
