/**
 * Source-DPOR with sleep sets (Abdulla, Aronis, Jonsson, Sagonas, POPL 2014, Algorithm 1), stateless:
 * every execution re-runs a fresh instance, replaying the prefix of the current branch.
 *
 * At each position E the strategy keeps a backtrack set (tasks to explore there) and a sleep set.
 * The first execution runs non-preemptively. When an execution ends, every race e <. e' whose later
 * event is new is reversed: with E' = pre(E, e) and v = notdep(e, E).e' (the events after e that do
 * not happen after it, then e'), if no initial of v is in backtrack(E') yet, one is added (e''s
 * task if it is an initial). Then the deepest position with a backtrack task that is neither
 * explored nor asleep is the next branch. Sleep sets as in dfs.ts: after exploring task t at E, t
 * sleeps in the later branches of E until a step dependent with its pending step runs. An
 * execution in which every enabled task sleeps is redundant and is abandoned (counted as pruned):
 * source sets plus sleep sets explore at least one execution per Mazurkiewicz trace, and
 * sometimes start executions that the sleep sets then cut off; optimal-dpor.ts removes those.
 * Race detection and blocking: dpor.ts.
 */
import { DporBase } from './dpor.ts';
import { lowestBit as lowestBitImported } from './scheduler.ts';

const lowestBit = lowestBitImported;

export class SourceDporScheduler extends DporBase {
  readonly name = 'source-dpor';
  private backtrackSet = new Int32Array(64);

  protected override growHooks(size: number): void {
    const b = new Int32Array(size);
    b.set(this.backtrackSet);
    this.backtrackSet = b;
  }

  protected choose(p: number, enabled: number, current: number): number {
    const cand = enabled & ~this.sleep;
    if (cand === 0) return -1;
    const t = current >= 0 && ((cand >> current) & 1) !== 0 ? current : lowestBit(cand);
    this.backtrackSet[p] = 1 << t;
    return t;
  }

  protected reverse(i: number, seq: Int32Array, len: number): void {
    const init = this.initials(seq, len);
    if ((this.backtrackSet[i]! & init) !== 0) return;
    const last = this.procOf(seq[len - 1]!);
    this.backtrackSet[i]! |= 1 << (((init >> last) & 1) !== 0 ? last : lowestBit(init));
  }

  protected fallback(_p: number, _enabled: number): number {
    // backtrack() only picks tasks enabled at their position, so a replay never gets here.
    return -1;
  }

  protected backtrack(): boolean {
    for (let d = this.len - 1; d >= 0; d--) {
      this.done[d]! |= 1 << this.chosen[d]!;
      for (;;) {
        const cand = this.backtrackSet[d]! & ~this.sleepingAt(d);
        if (cand === 0) break;
        const t = lowestBit(cand);
        if (((this.enabledAt[d]! >> t) & 1) === 0) {
          // A reversal named a task that is parked here: impossible, drop it (dpor.ts).
          this.stats.infeasible++;
          this.done[d]! |= 1 << t;
          continue;
        }
        this.chosen[d] = t;
        this.len = d + 1;
        this.newFrom = d;
        return true;
      }
    }
    return false;
  }
}
