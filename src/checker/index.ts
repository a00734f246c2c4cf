/** Public surface of the checker. */

export { type AuditStats, FootprintAudit, PROP_FOOTPRINT } from './audit.ts';
export {
  CheckerInputError,
  type CheckOptions,
  check,
  findVariant,
  type ReplayOptions,
  replay,
} from './check.ts';
export { DfsScheduler } from './dfs.ts';
export { DporBase, type DporStats } from './dpor.ts';
export { DEFAULT_MAX_STEPS, Executor, PROP_CRASH, PROP_DEADLOCK, PROP_LIVELOCK } from './engine.ts';
export type { CreateOptions, ModelDef, ModelInstance, ModelTask, VariantDef, Violation } from './model.ts';
export { OptimalDporScheduler } from './optimal-dpor.ts';
export { PctScheduler } from './pct.ts';
export { Prng } from './prng.ts';
export { RandomScheduler } from './random.ts';
export { ReplayScheduler } from './replay.ts';
export type { CheckResult, Counterexample, Progress, ReplayResult, Strategy } from './result.ts';
export { EXHAUSTIVE, STRATEGIES } from './result.ts';
export { decodeSchedule, encodeSchedule, ScheduleFormatError } from './schedule.ts';
export type { SchedContext, Scheduler } from './scheduler.ts';
export { shrinkSchedule } from './shrink.ts';
export { SourceDporScheduler } from './source-dpor.ts';
export { access, FIRST_MULTI_FOOTPRINT, footprint, footprintAccesses } from './task.ts';
