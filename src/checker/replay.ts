/**
 * Follows a recorded schedule: at each choice point (more than one task enabled) it runs the
 * recorded task. Steps with one enabled task need no entry. When the schedule runs out it keeps
 * running the current task while it can, then the lowest enabled one (`overran` is set); a recorded
 * task that is not enabled abandons the execution with `error` set.
 */
import { nonPreemptivePick } from './engine.ts';
import type { ExecStatus, SchedContext, Scheduler } from './scheduler.ts';

export class ReplayScheduler implements Scheduler {
  readonly name = 'replay';
  private pos = 0;
  private step = 0;
  /** Set when the schedule named a task that was not enabled. */
  error: string | null = null;
  /** Set when the execution needed more choices than the schedule had. */
  overran = false;

  constructor(private readonly choices: ArrayLike<number>) {}

  /** Choices consumed so far. */
  get used(): number {
    return this.pos;
  }

  begin(_ctx: SchedContext): void {
    this.pos = 0;
    this.step = 0;
    this.error = null;
    this.overran = false;
  }

  next(enabled: number, current: number): number {
    const s = this.step++;
    if ((enabled & (enabled - 1)) === 0) return 31 - Math.clz32(enabled);
    if (this.pos < this.choices.length) {
      const t = this.choices[this.pos++]!;
      if (t < 0 || t > 30 || ((enabled >> t) & 1) === 0) {
        this.error = `choice ${this.pos} (step ${s}) names task ${t}, which is not enabled there`;
        return -1;
      }
      return t;
    }
    this.overran = true;
    return nonPreemptivePick(enabled, current);
  }

  end(_status: ExecStatus): boolean {
    return false;
  }
}
