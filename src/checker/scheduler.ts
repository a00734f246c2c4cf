/**
 * The one interface every exploration strategy implements (dfs.ts, random.ts, pct.ts, replay.ts).
 *
 * Task sets are bitmasks: bit i set = task i (so an instance has at most {@link MAX_TASKS} tasks).
 * The engine calls `begin` once per execution, `next` before EVERY step (also when only one task
 * is enabled, so reducing strategies can track sleep sets), and `end` when the execution stops.
 */

/** Most tasks one instance may have (task sets are 31-bit masks). */
export const MAX_TASKS = 31;

import { FIRST_MULTI_FOOTPRINT, multiAccesses } from './task.ts';

/** Footprint value meaning "unknown": dependent with every step. */
export const UNKNOWN_FOOTPRINT = -1;

/** How one execution ended: {@link EXEC_OK}, {@link EXEC_VIOLATION} or {@link EXEC_ABANDONED}. */
export type ExecStatus = 0 | 1 | 2;
/** All tasks finished and `checkFinal` passed. */
export const EXEC_OK = 0;
/** A property failed (including deadlock, livelock, crash). */
export const EXEC_VIOLATION = 1;
/** The scheduler abandoned the execution (redundant under reduction, or a replay mismatch). */
export const EXEC_ABANDONED = 2;

/** What a scheduler may read about the running execution (owned by the engine, reused). */
export interface SchedContext {
  readonly taskCount: number;
  /** Footprint of each task's pending step (see task.ts `access`), or {@link UNKNOWN_FOOTPRINT}. */
  readonly footprints: Float64Array;
  /**
   * Tasks whose pending step is a Wait (ready or not): its step is a blocking step, which DPOR
   * reverses with more care (dpor.ts).
   */
  readonly waiting: number;
  /** Tasks whose pending step is an exclusive Wait (`Wait.exclusive`). */
  readonly exclusive: number;
  /** Steps taken so far in this execution. */
  readonly steps: number;
  /** Preemptions so far: switches away from a task that was still enabled. */
  readonly preemptions: number;
}

export interface Scheduler {
  /** Strategy name as shown in results ("dfs", "random", "pct", "replay"). */
  readonly name: string;
  /** A new execution starts (fresh instance, nothing run yet). */
  begin(ctx: SchedContext): void;
  /**
   * Pick the task to run next among `enabled` (non-empty mask). `current` is the task that ran the
   * previous step (-1 before the first). Return -1 to abandon this execution.
   */
  next(enabled: number, current: number): number;
  /** The execution stopped; return true if the strategy wants another one. */
  end(status: ExecStatus): boolean;
}

/** Number of set bits of a 32-bit mask. */
export function popcount(x: number): number {
  x -= (x >>> 1) & 0x55555555;
  x = (x & 0x33333333) + ((x >>> 2) & 0x33333333);
  return (((x + (x >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** Index of the lowest set bit (mask must be non-zero). */
export function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Index of the k-th (0-based) set bit of `mask`. */
export function nthSetBit(mask: number, k: number): number {
  for (; k > 0; k--) mask &= mask - 1;
  return lowestBit(mask);
}

/**
 * Two pending steps commute iff both footprints are known and they touch different objects or
 * both only read. Footprints are `objectId * 2 + write`.
 */
export function independent(a: number, b: number): boolean {
  if (a < 0 || b < 0) return false;
  if (Math.floor(a / 2) !== Math.floor(b / 2)) return true;
  return a % 2 === 0 && b % 2 === 0;
}

/**
 * {@link independent} for any footprint values, including multi-object ones (task.ts
 * `footprint`, values below -1): independent iff every pair of accesses is.
 */
export function independentFp(a: number, b: number): boolean {
  if (a >= 0 && b >= 0) return independent(a, b);
  if (a === UNKNOWN_FOOTPRINT || b === UNKNOWN_FOOTPRINT) return false;
  const la = a <= FIRST_MULTI_FOOTPRINT ? multiAccesses(a) : undefined;
  const lb = b <= FIRST_MULTI_FOOTPRINT ? multiAccesses(b) : undefined;
  if ((a < 0 && la === undefined) || (b < 0 && lb === undefined)) return false;
  const na = la === undefined ? 1 : la.length;
  const nb = lb === undefined ? 1 : lb.length;
  for (let i = 0; i < na; i++) {
    const x = la === undefined ? a : la[i]!;
    for (let j = 0; j < nb; j++) if (!independent(x, lb === undefined ? b : lb[j]!)) return false;
  }
  return true;
}
