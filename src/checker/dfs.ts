/**
 * Exhaustive depth-first search over choice points (stateless, CHESS/loom style: every execution
 * re-runs a fresh instance from the start, following the current branch's prefix).
 *
 * - Preemption bounding (optional): at most `preemptionBound` switches away from a task that is
 *   still enabled per execution. The first execution is the non-preemptive one.
 * - Iterative preemption bounding (CHESS, Musuvathi & Qadeer PLDI 2007), option `iterative`:
 *   explore with bound 0, then 1, then 2, then the full bound (unbounded unless
 *   `preemptionBound` is given), so bugs needing few preemptions are found first. A level
 *   in which the bound never cut a choice was an unbounded search: the exploration is complete.
 *   Executions with fewer preemptions than the current level were already run at a lower level
 *   and are reported as repeats (`isRepeat`).
 * - Partial-order reduction with sleep sets (Godefroid): after exploring task t at a state, t
 *   "sleeps" in the sibling branches until a step dependent with t's pending step runs. Two steps
 *   are dependent unless both footprints are known and they touch different objects or both read.
 *   An execution whose every enabled task sleeps is redundant and abandoned (counted as pruned).
 */
import {
  type ExecStatus,
  independentFp as independentFpImported,
  type SchedContext,
  type Scheduler,
} from './scheduler.ts';

// Module-local copy: imported bindings may be compiled to getters (tsx), read per step.
const independentFp = independentFpImported;

function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

/** Iterative bounding steps through bounds 0..LAST_LEVEL, then runs at the full bound. */
const LAST_LEVEL = 2;
const FRAME = 6;
const ENABLED = 0;
const SLEEP_IN = 1;
const DONE = 2;
const CHOSEN = 3;
const CUR = 4;
const PRE_IN = 5;

export interface DfsOptions {
  /** Sleep-set reduction (default true). */
  readonly reduction?: boolean;
  /** Maximum preemptions per execution (default unbounded). */
  readonly preemptionBound?: number;
  /** Iterative preemption bounding: bounds 0, 1, 2, then `preemptionBound` (default false). */
  readonly iterative?: boolean;
}

export class DfsScheduler implements Scheduler {
  readonly name = 'dfs';
  private readonly reduction: boolean;
  private readonly maxBound: number;
  private readonly iterative: boolean;
  /** Preemption bound of the current level. */
  private bound: number;
  /** Executions with fewer preemptions than this were run at an earlier level. */
  private repeatBelow = 0;
  /** The bound removed a candidate somewhere in the current level. */
  private cut = false;
  /** Highest bound whose level was explored completely (-1: none yet). */
  completedBound = -1;
  /** True when the search ended with the bound still cutting choices (bounded, not complete). */
  boundLimited = false;
  // One frame per step of the current execution, FRAME ints each in one typed array (no object
  // per frame; one allocation per scheduler keeps short checks cheap: bench checker.trivial).
  private f = new Int32Array(FRAME * 32);
  private len = 0;
  private pos = 0;
  private sleep = 0;
  private ctx: SchedContext | null = null;

  constructor(opts: DfsOptions = {}) {
    this.reduction = opts.reduction ?? true;
    this.maxBound = opts.preemptionBound ?? Number.POSITIVE_INFINITY;
    this.iterative = opts.iterative ?? false;
    this.bound = this.iterative ? 0 : this.maxBound;
  }

  /** The execution that just ended was already explored at a lower level (call before `end`). */
  isRepeat(ctx: SchedContext): boolean {
    return ctx.preemptions < this.repeatBelow;
  }

  begin(ctx: SchedContext): void {
    this.ctx = ctx;
    this.pos = 0;
    this.sleep = 0;
  }

  next(enabled: number, current: number): number {
    const p = this.pos;
    let t: number;
    if (p < this.len) {
      t = this.f[p * FRAME + CHOSEN]!;
      if (this.f[p * FRAME + ENABLED] !== enabled || ((enabled >> t) & 1) === 0) {
        throw new Error(
          `model is not deterministic: step ${p} enabled set 0x${enabled.toString(16)} differs from 0x${this.f[p * FRAME + ENABLED]!.toString(16)} on re-execution`,
        );
      }
    } else {
      let cand = enabled & ~this.sleep;
      const pre = this.ctx!.preemptions;
      if (pre >= this.bound && current >= 0 && ((enabled >> current) & 1) !== 0) {
        if ((cand & ~(1 << current)) !== 0) this.cut = true;
        cand &= 1 << current;
      }
      if (cand === 0) return -1;
      t = current >= 0 && ((cand >> current) & 1) !== 0 ? current : lowestBit(cand);
      if ((p + 1) * FRAME > this.f.length) this.grow();
      this.f[p * FRAME + ENABLED] = enabled;
      this.f[p * FRAME + SLEEP_IN] = this.sleep;
      this.f[p * FRAME + DONE] = 0;
      this.f[p * FRAME + CHOSEN] = t;
      this.f[p * FRAME + CUR] = current;
      this.f[p * FRAME + PRE_IN] = pre;
      this.len = p + 1;
    }
    if (this.reduction) {
      let z = (this.f[p * FRAME + SLEEP_IN]! | this.f[p * FRAME + DONE]!) & ~(1 << t);
      if (z !== 0) {
        const fp = this.ctx!.footprints;
        const ft = fp[t]!;
        for (let m = z; m !== 0; m &= m - 1) {
          const u = lowestBit(m);
          if (!independentFp(fp[u]!, ft)) z &= ~(1 << u);
        }
      }
      this.sleep = z;
    }
    this.pos = p + 1;
    return t;
  }

  end(_status: ExecStatus): boolean {
    if (this.len > this.pos) this.len = this.pos;
    for (let d = this.len - 1; d >= 0; d--) {
      this.f[d * FRAME + DONE]! |= 1 << this.f[d * FRAME + CHOSEN]!;
      let cand = this.f[d * FRAME + ENABLED]! & ~(this.f[d * FRAME + SLEEP_IN]! | this.f[d * FRAME + DONE]!);
      const c = this.f[d * FRAME + CUR]!;
      if (
        this.f[d * FRAME + PRE_IN]! >= this.bound &&
        c >= 0 &&
        ((this.f[d * FRAME + ENABLED]! >> c) & 1) !== 0
      ) {
        if ((cand & ~(1 << c)) !== 0) this.cut = true;
        cand &= 1 << c;
      }
      if (cand !== 0) {
        this.f[d * FRAME + CHOSEN] = lowestBit(cand);
        this.len = d + 1;
        return true;
      }
    }
    this.len = 0;
    this.completedBound = this.bound;
    if (this.cut && this.iterative && this.bound < this.maxBound) {
      // Levels 0, 1, 2, then straight to the full bound: most bugs need few preemptions, while
      // every extra level re-runs the ones below (measured 7x the executions of one unbounded
      // pass on a 3-task catalogue model when stepping one level at a time).
      this.repeatBelow = this.bound + 1;
      this.bound = this.bound < LAST_LEVEL ? this.bound + 1 : this.maxBound;
      this.cut = false;
      return true;
    }
    this.boundLimited = this.cut;
    return false;
  }

  private grow(): void {
    const b = new Int32Array(this.f.length * 2);
    b.set(this.f);
    this.f = b;
  }
}
