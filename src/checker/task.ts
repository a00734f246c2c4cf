/**
 * The contract between code under test and the checker: a task is a generator that yields at
 * every point where another task could observe or change shared state.
 *
 * A yield is one of:
 * - `undefined`: a preemption point; the next step's footprint is unknown (it conflicts with
 *   every other step for partial-order reduction);
 * - a number: the footprint of the task's NEXT step, `objectId * 2 + (write ? 1 : 0)`, for
 *   partial-order reduction (two steps commute iff their objects differ or both only read);
 *   use {@link access} to build it;
 * - a {@link Wait}: the task is blocked until `ready()` returns true (a lock, a completion).
 *   The scheduler will not resume it before then; all tasks waiting is a deadlock.
 *
 * In fast mode (`run`, `bench`) kernel code does not yield at preemption points at all (the
 * yields are guarded by an `explore` flag); generators are drained by {@link runToCompletion}.
 */
export type Yield = undefined | number | Wait;

export interface Wait {
  /** Human label: what it waits for ("lock i_mmap_rwsem", "page lock pfn 3"). */
  readonly waitingFor: string;
  ready(): boolean;
  /**
   * Optional footprint (see {@link access}) of the step the task runs once `ready()` holds, for
   * partial-order reduction (e.g. `access(lockId, true)` for a lock). Absent: unknown, which
   * conflicts with every other step.
   */
  readonly footprint?: number;
  /**
   * Optional: this wait is an EXCLUSIVE acquisition (a mutex, a write lock, a page lock): from the
   * step that runs when it is ready until the task's next step that conflicts with the footprint
   * (the release), no wait whose footprint conflicts with it is ready. DPOR then reverses a
   * blocked acquisition with the previous acquisition, as the papers do for locks, instead of
   * trying (and dropping) a reversal with the release (dpor.ts). Absent: no such promise.
   */
  readonly exclusive?: boolean;
}

export type TaskBody = Generator<Yield, void, undefined>;

/** A generator-based kernel routine that returns a value of type T. */
export type KGen<T> = Generator<Yield, T, undefined>;

/** Footprint of a step on `objectId` (a small non-negative integer). */
export function access(objectId: number, write: boolean): number {
  return objectId * 2 + (write ? 1 : 0);
}

/**
 * Registry of multi-object footprints: `footprint(...)` returns `-2 - k` for entry k. Entries are
 * interned (the same access set always gives the same number) so a footprint can be declared as
 * data, once, and yielded for free in fast mode.
 */
const MULTI: (readonly number[])[] = [];
const MULTI_INDEX = new Map<string, number>();

/** Lowest footprint value that is a single access or unknown; below it: {@link footprint} sets. */
export const FIRST_MULTI_FOOTPRINT = -2;

/**
 * Footprint of a step on SEVERAL objects, each read or written, e.g.
 * `footprint(access(pteTable, true), access(tlb0, true), access(ptl, false))`: a number (below
 * -1) to yield, give as `ModelTask.footprint` or as `Wait.footprint`. Two steps commute iff every
 * pair of their accesses does. A write of an object covers a read of it. Interned: call it once
 * per distinct set (module or model setup), not once per step.
 */
export function footprint(...accesses: number[]): number {
  const byObj = new Map<number, number>();
  for (const a of accesses) {
    if (!Number.isInteger(a) || a < 0) throw new RangeError(`bad access code ${a} (use access())`);
    byObj.set(Math.floor(a / 2), (byObj.get(Math.floor(a / 2)) ?? 0) | (a % 2));
  }
  const list = [...byObj].sort((x, y) => x[0] - y[0]).map(([o, w]) => o * 2 + w);
  if (list.length === 1) return list[0]!;
  const key = list.join(',');
  let k = MULTI_INDEX.get(key);
  if (k === undefined) {
    k = MULTI.length;
    MULTI.push(Object.freeze(list));
    MULTI_INDEX.set(key, k);
  }
  return FIRST_MULTI_FOOTPRINT - k;
}

/**
 * The accesses of a footprint value: `[fp]` for a single access, the set for a {@link footprint}
 * value, null for unknown (-1) or a value that was never registered.
 */
export function footprintAccesses(fp: number): readonly number[] | null {
  if (fp >= 0) return [fp];
  if (fp > FIRST_MULTI_FOOTPRINT) return null;
  return MULTI[FIRST_MULTI_FOOTPRINT - fp] ?? null;
}

/** The registered set of a multi footprint value (internal: dependence checks). */
export function multiAccesses(fp: number): readonly number[] | undefined {
  return MULTI[FIRST_MULTI_FOOTPRINT - fp];
}

export class DeadlockError extends Error {
  constructor(readonly waitingFor: string) {
    super(`deadlock: blocked on ${waitingFor} with no other task to run`);
  }
}

/**
 * Drain a generator in fast mode (a single task, no scheduler). A `Wait` that is not ready is a
 * deadlock: nothing else can run to release it.
 */
export function runToCompletion<T>(g: KGen<T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
    const y = r.value;
    if (typeof y === 'object' && !y.ready()) throw new DeadlockError(y.waitingFor);
  }
}
