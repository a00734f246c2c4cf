/**
 * The execution engine: runs one {@link ModelInstance} under a {@link Scheduler}, one step at a
 * time. A step is one `gen.next()` of one task. Before each step the engine works out which tasks
 * are enabled (not finished, not parked on a `Wait` whose `ready()` is false), asks the scheduler
 * for one, points the trace at it, resumes it, records the footprint it yields for its next step
 * and runs `checkStep`. When every task is done it runs `checkFinal`.
 *
 * Failures are data, never hangs: all unfinished tasks parked -> "deadlock"; more than `maxSteps`
 * steps -> "livelock"; an exception from a task or a check -> "crash".
 *
 * One Executor is reused for every execution of a check run: its arrays are allocated once, so the
 * loop allocates nothing per step (perf: bench `checker.trivial.execsPerSec`).
 */

import type { FootprintAudit } from './audit.ts';
import type { ModelInstance, Violation } from './model.ts';
import {
  EXEC_ABANDONED,
  EXEC_OK,
  EXEC_VIOLATION,
  type ExecStatus,
  lowestBit,
  MAX_TASKS,
  type SchedContext,
  type Scheduler,
  UNKNOWN_FOOTPRINT,
} from './scheduler.ts';
import type { TaskBody, Wait } from './task.ts';

export const DEFAULT_MAX_STEPS = 10_000;

// Module-local copy: imported bindings may be compiled to getters (tsx), read on every step.
const UNKNOWN = UNKNOWN_FOOTPRINT;

/** Property ids the engine itself reports. */
export const PROP_DEADLOCK = 'deadlock';
export const PROP_LIVELOCK = 'livelock';
export const PROP_CRASH = 'crash';

export class Executor implements SchedContext {
  taskCount = 0;
  waiting = 0;
  exclusive = 0;
  readonly footprints = new Float64Array(MAX_TASKS);
  /** Set for a footprint-audit run (check option `audit`): every step is audited. */
  audit: FootprintAudit | null = null;
  steps = 0;
  preemptions = 0;
  /** Why the last execution failed (EXEC_VIOLATION), else null. */
  violation: Violation | null = null;
  /** Task that ran the step during which the violation was found (-1: final check / deadlock). */
  violationTask = -1;
  /** Choices made at choice points (steps with more than one enabled task), in order. */
  private choiceBuf = new Int32Array(64);
  choiceCount = 0;

  private readonly gens: (TaskBody | null)[] = [];
  private readonly waits: (Wait | null)[] = [];

  /** The choices of the last execution, as a fresh array. */
  choices(): number[] {
    return Array.from(this.choiceBuf.subarray(0, this.choiceCount));
  }

  /**
   * Run `inst` to the end under `sched`. `states`, if given, collects `hashState()` after every
   * step. Returns how the execution ended; details in `violation`, `steps`, `choices()`.
   */
  run(inst: ModelInstance, sched: Scheduler, maxSteps: number, states: Set<string> | null): ExecStatus {
    const tasks = inst.tasks;
    const n = tasks.length;
    if (n > MAX_TASKS) throw new RangeError(`a model instance may have at most ${MAX_TASKS} tasks, got ${n}`);
    const gens = this.gens;
    const waits = this.waits;
    const fp = this.footprints;
    while (gens.length < n) {
      gens.push(null);
      waits.push(null);
    }
    for (let i = 0; i < n; i++) {
      const t = tasks[i]!;
      gens[i] = t.body;
      waits[i] = null;
      fp[i] = t.footprint ?? UNKNOWN;
    }
    this.taskCount = n;
    this.steps = 0;
    this.preemptions = 0;
    this.violation = null;
    this.violationTask = -1;
    this.choiceCount = 0;
    const trace = inst.trace;
    const hasStepCheck = inst.checkStep !== undefined;
    const hash = states !== null && inst.hashState !== undefined;
    const audit = this.audit;
    let done = 0;
    const all = n === 31 ? 0x7fffffff : (1 << n) - 1;
    let current = -1;
    if (hash) states!.add(inst.hashState!());
    sched.begin(this);
    for (;;) {
      if (done === all) break;
      let enabled = 0;
      let waiting = 0;
      let exclusive = 0;
      for (let i = 0; i < n; i++) {
        if ((done >> i) & 1) continue;
        const w = waits[i];
        if (w === null) enabled |= 1 << i;
        else {
          waiting |= 1 << i;
          if (w.exclusive === true) exclusive |= 1 << i;
          if (w.ready()) enabled |= 1 << i;
        }
      }
      this.waiting = waiting;
      this.exclusive = exclusive;
      if (enabled === 0) return this.fail(inst, this.deadlock(inst, done), -1);
      if (this.steps >= maxSteps) {
        return this.fail(
          inst,
          {
            property: PROP_LIVELOCK,
            message: `no progress: tasks still running after ${maxSteps} steps (step bound)`,
          },
          -1,
        );
      }
      const t = sched.next(enabled, current);
      if (t < 0) return EXEC_ABANDONED;
      if (((enabled >> t) & 1) === 0)
        throw new Error(`scheduler ${sched.name} picked task ${t}, which is not enabled`);
      if ((enabled & (enabled - 1)) !== 0) {
        if (this.choiceCount === this.choiceBuf.length) {
          const bigger = new Int32Array(this.choiceBuf.length * 2);
          bigger.set(this.choiceBuf);
          this.choiceBuf = bigger;
        }
        this.choiceBuf[this.choiceCount++] = t;
      }
      if (current >= 0 && t !== current && ((enabled >> current) & 1) !== 0) this.preemptions++;
      if (trace !== null) {
        trace.ctx = tasks[t]!.ctx;
        trace.step = this.steps;
      }
      waits[t] = null;
      if (audit !== null) audit.beginStep(tasks[t]!.name, this.steps, fp[t]!);
      let r: IteratorResult<unknown, void>;
      try {
        r = gens[t]!.next();
      } catch (e) {
        this.steps++;
        audit?.endStep();
        return this.fail(inst, crash(e), t);
      }
      if (audit !== null) {
        const v = audit.endStep();
        if (v !== null) {
          this.steps++;
          return this.fail(inst, v, t);
        }
      }
      this.steps++;
      current = t;
      if (r.done === true) {
        done |= 1 << t;
        gens[t] = null;
      } else {
        const y = r.value;
        if (y === undefined) fp[t] = UNKNOWN;
        else if (typeof y === 'number') fp[t] = y;
        else {
          const w = y as Wait;
          waits[t] = w;
          fp[t] = w.footprint ?? UNKNOWN;
        }
      }
      if (hasStepCheck) {
        let v: Violation | null;
        try {
          v = inst.checkStep!();
        } catch (e) {
          v = crash(e);
        }
        if (v !== null) return this.fail(inst, v, t);
      }
      if (hash) states!.add(inst.hashState!());
    }
    let v: Violation | null;
    try {
      v = inst.checkFinal();
    } catch (e) {
      v = crash(e);
    }
    if (v !== null) return this.fail(inst, v, -1);
    this.release(n);
    return EXEC_OK;
  }

  private fail(inst: ModelInstance, v: Violation, task: number): ExecStatus {
    this.violation = v;
    this.violationTask = task;
    this.release(inst.tasks.length);
    return EXEC_VIOLATION;
  }

  private release(n: number): void {
    for (let i = 0; i < n; i++) {
      this.gens[i] = null;
      this.waits[i] = null;
    }
  }

  private deadlock(inst: ModelInstance, done: number): Violation {
    const parts: string[] = [];
    for (let i = 0; i < inst.tasks.length; i++) {
      if ((done >> i) & 1) continue;
      parts.push(`${inst.tasks[i]!.name} waits for ${this.waits[i]?.waitingFor ?? '?'}`);
    }
    return { property: PROP_DEADLOCK, message: `deadlock: ${parts.join(', ')}` };
  }
}

function crash(e: unknown): Violation {
  const message = e instanceof Error ? e.message : String(e);
  return { property: PROP_CRASH, message };
}

let spare: Executor | null = null;

/**
 * An Executor from a one-slot pool (short checks are dominated by setup otherwise: bench
 * checker.trivial). Give it back with {@link releaseExecutor}.
 */
export function takeExecutor(): Executor {
  const e = spare ?? new Executor();
  spare = null;
  return e;
}

export function releaseExecutor(e: Executor): void {
  spare = e;
}

/** Default pick when no strategy decides: keep running the current task, else the lowest enabled. */
export function nonPreemptivePick(enabled: number, current: number): number {
  return current >= 0 && ((enabled >> current) & 1) !== 0 ? current : lowestBit(enabled);
}
