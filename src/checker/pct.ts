/**
 * PCT, probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte, ASPLOS
 * 2010). Each execution gives the n tasks distinct random priorities d..d+n-1 and picks d-1
 * random priority-change points in [1, k] (k = the longest execution seen so far, at least
 * `stepsHint`). The highest-priority enabled task always runs; when step k_j is reached, the task
 * about to run drops to priority d-1-j. A bug of depth d is found with probability at least
 * 1/(n*k^(d-1)) per execution.
 */
import { Prng } from './prng.ts';
import type { ExecStatus, SchedContext, Scheduler } from './scheduler.ts';

export interface PctOptions {
  readonly seed: number;
  /** Bug depth d (>= 1; default 3). */
  readonly depth?: number;
  /** Initial estimate of steps per execution (default 16; grows to the longest seen). */
  readonly stepsHint?: number;
}

export class PctScheduler implements Scheduler {
  readonly name = 'pct';
  private readonly rng: Prng;
  private readonly depth: number;
  private k: number;
  private prio = new Float64Array(32);
  private readonly change: Int32Array;
  private step = 0;

  constructor(opts: PctOptions) {
    this.rng = new Prng(opts.seed);
    this.depth = Math.max(1, Math.floor(opts.depth ?? 3));
    this.k = Math.max(1, opts.stepsHint ?? 16);
    this.change = new Int32Array(this.depth - 1);
  }

  begin(ctx: SchedContext): void {
    const n = ctx.taskCount;
    const d = this.depth;
    // Random permutation of priorities d..d+n-1 (Fisher-Yates).
    for (let i = 0; i < n; i++) this.prio[i] = d + i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.rng.below(i + 1);
      const tmp = this.prio[i]!;
      this.prio[i] = this.prio[j]!;
      this.prio[j] = tmp;
    }
    for (let j = 0; j < d - 1; j++) this.change[j] = 1 + this.rng.below(this.k);
    this.step = 0;
  }

  next(enabled: number, _current: number): number {
    this.step++;
    let t = this.highest(enabled);
    for (let j = 0; j < this.change.length; j++) {
      if (this.change[j] === this.step) {
        this.prio[t] = this.depth - 1 - j;
        t = this.highest(enabled);
      }
    }
    return t;
  }

  end(_status: ExecStatus): boolean {
    if (this.step > this.k) this.k = this.step;
    return true;
  }

  private highest(enabled: number): number {
    let best = -1;
    let bp = Number.NEGATIVE_INFINITY;
    for (let m = enabled; m !== 0; m &= m - 1) {
      const i = 31 - Math.clz32(m & -m);
      if (this.prio[i]! > bp) {
        bp = this.prio[i]!;
        best = i;
      }
    }
    return best;
  }
}
