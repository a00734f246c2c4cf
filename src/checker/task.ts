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
}

export type TaskBody = Generator<Yield, void, undefined>;

/** A generator-based kernel routine that returns a value of type T. */
export type KGen<T> = Generator<Yield, T, undefined>;

/** Footprint of a step on `objectId` (a small non-negative integer). */
export function access(objectId: number, write: boolean): number {
  return objectId * 2 + (write ? 1 : 0);
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
