/**
 * What source-DPOR (source-dpor.ts) and optimal DPOR (optimal-dpor.ts) share: the stateless
 * exploration stack (one frame per step of the current execution, as in dfs.ts), sleep sets, and
 * race detection from footprints with vector clocks (Abdulla, Aronis, Jonsson, Sagonas, "Optimal
 * Dynamic Partial Order Reduction", POPL 2014; "Source Sets", JACM 2017).
 *
 * Events and dependence. Event j of an execution E is one step: its task and its footprint (the
 * footprint the task declared for it, task.ts). Two events are dependent iff they belong to the
 * same task or their footprints conflict (scheduler.ts `independentFp`; unknown conflicts with
 * everything). Happens-before (->) is the transitive closure of "earlier and dependent"; it is kept
 * as one vector clock per event: clock[j][q] = number of q's events that happen before or equal j.
 *
 * Races. e_i and e_j race (e_i <. e_j) iff different tasks, dependent, i < j and no event e_k with
 * e_i -> e_k -> e_j. Only the LAST event of each other task that is dependent with e_j can race
 * with it (earlier ones reach e_j through program order); found with per-object tables of the last
 * read and the last write of each task, and per-task last unknown-footprint event. A candidate is
 * immediate iff it does not happen before the other candidates or e_j's task's previous event.
 *
 * Blocking. A task parked on a Wait is disabled; its pending event is the step it runs when the
 * wait is ready, with the Wait's footprint. The footprint rule (docs/checker.md) says every step
 * that can change `ready()` is dependent with that footprint, so blocking is ordinary dependence
 * plus one case: when e_j is a blocking step (its task q's pending step was a Wait), the immediate
 * race partner e_i may be the step that made the wait ready (a release): e_j cannot be moved
 * before it. Like the papers' lock handling (an acquisition races with the previous acquisition,
 * not with the release), we then also reverse e_j with the earlier conflicting events of other
 * tasks: walking back from e_i, an event before which q was already parked and DISABLED is
 * skipped (reversing there is impossible), one before which q was parked and enabled is reversed
 * and ends the walk (as for any race), and one before q parked (its wait state there is not
 * known) is reversed and the walk goes on. A reversal that turns out impossible (its branch names
 * a task that is parked there) is dropped and counted (`infeasible`): for free when the branch is
 * picked, at the cost of an abandoned execution (counted as pruned) when the replay meets the
 * parked task inside a longer sequence. Events ordered before q's previous step cannot be
 * reversed. For an EXCLUSIVE wait (`Wait.exclusive`: a mutex), the walk knows more, as the papers'
 * lock handling does: steps of a task holding the lock (up to its release) are skipped, and the
 * previous exclusive acquisition is the reversal, which ends the walk; on the benchmark programs
 * no execution is then wasted.
 *
 * Task creation: an instance's tasks all exist from the start; a task "spawned" by another waits
 * (a Wait whose footprint is a write of a spawn object the creator writes) for its creator, which
 * gives the creator's spawn step -> the child's first step, as the papers' spawn events do.
 */
import {
  type ExecStatus,
  independentFp as independentFpImported,
  lowestBit as lowestBitImported,
  MAX_TASKS,
  type SchedContext,
  type Scheduler,
} from './scheduler.ts';
import { footprintAccesses } from './task.ts';

// Module-local copies: imported bindings may be compiled to getters (tsx), read per step.
const independentFp = independentFpImported;
const lowestBit = lowestBitImported;

/** Per-object access table: last read and last write event of each task (-1: none). */
interface ObjTable {
  readonly lastR: Int32Array;
  readonly lastW: Int32Array;
}

export interface DporStats {
  /** Races found (reversal attempts). */
  races: number;
  /** Reversals dropped because the replay met the task still parked (see above). */
  infeasible: number;
}

export abstract class DporBase implements Scheduler {
  abstract readonly name: string;
  readonly stats: DporStats = { races: 0, infeasible: 0 };
  protected ctx: SchedContext | null = null;
  protected n = 0;
  /** Steps of the current execution so far. */
  protected pos = 0;
  /** Frames valid on the stack (the prefix the next execution replays). */
  protected len = 0;
  /** First position whose event is new in the current execution (races before it are known). */
  protected newFrom = 0;
  protected sleep = 0;
  // Per position (grown on demand).
  protected enabledAt = new Int32Array(64);
  protected sleepIn = new Int32Array(64);
  /** Tasks explored at this position (they sleep in later siblings). */
  protected done = new Int32Array(64);
  protected chosen = new Int32Array(64);
  protected evFp = new Float64Array(64);
  /** 1 if the event was a blocking step (its task's pending step was a Wait), 3 if exclusive. */
  protected evWait = new Uint8Array(64);
  /** Pending footprint of every task at each position (n per position). */
  protected pend = new Float64Array(64 * MAX_TASKS);
  // Happens-before (filled by analyse()).
  private clock = new Int32Array(64 * MAX_TASKS);
  private local = new Int32Array(64);
  private prevOf = new Int32Array(64);
  private readonly objects = new Map<number, ObjTable>();
  private readonly lastAny = new Int32Array(MAX_TASKS).fill(-1);
  private readonly lastUnk = new Int32Array(MAX_TASKS).fill(-1);
  // Undo log of table writes; undoStart[j] = log length before event j was applied.
  private readonly undoArr: Int32Array[] = [];
  private readonly undoIdx: number[] = [];
  private readonly undoOld: number[] = [];
  private undoStart = new Int32Array(64);
  private analysed = 0;
  private readonly count = new Int32Array(MAX_TASKS);
  private readonly dep = new Int32Array(MAX_TASKS);
  private readonly firstLocal = new Int32Array(MAX_TASKS);
  private seq = new Int32Array(64);
  private readonly one: number[] = [0];

  begin(ctx: SchedContext): void {
    this.ctx = ctx;
    this.n = ctx.taskCount;
    this.pos = 0;
    this.sleep = 0;
  }

  /**
   * Choose the task to run at a NEW position `p` (not on the replayed prefix), -1 to abandon. The
   * frame arrays at `p` (enabledAt, sleepIn, pend) are already filled.
   */
  protected abstract choose(p: number, enabled: number, current: number): number;
  /** A race was found: reverse it (v = the events `seq`, all at positions > i, last one j). */
  protected abstract reverse(i: number, seq: Int32Array, len: number): void;
  /** Pick the next branch after the current execution, or false when the search is complete. */
  protected abstract backtrack(): boolean;

  next(enabled: number, current: number): number {
    const p = this.pos;
    let t: number;
    if (p < this.len) {
      t = this.chosen[p]!;
      if (this.enabledAt[p] !== enabled) {
        throw new Error(
          `model is not deterministic: step ${p} enabled set 0x${enabled.toString(16)} differs from 0x${this.enabledAt[p]!.toString(16)} on re-execution`,
        );
      }
      if (((enabled >> t) & 1) === 0) {
        // A branch chosen by race reversal meets a parked task: drop it, take the next one.
        t = this.fallback(p, enabled);
        if (t < 0) return -1;
      }
    } else {
      if (p + 1 > this.chosen.length) this.grow();
      const n = this.n;
      const fp = this.ctx!.footprints;
      this.enabledAt[p] = enabled;
      this.sleepIn[p] = this.sleep;
      this.done[p] = 0;
      for (let q = 0; q < n; q++) this.pend[p * n + q] = fp[q]!;
      this.len = p + 1;
      t = this.choose(p, enabled, current);
      if (t < 0) {
        this.len = p;
        return -1;
      }
      this.chosen[p] = t;
    }
    const fp = this.ctx!.footprints;
    const ft = fp[t]!;
    this.evFp[p] = ft;
    this.evWait[p] = ((this.ctx!.waiting >> t) & 1) | (((this.ctx!.exclusive >> t) & 1) << 1);
    let z = (this.sleepIn[p]! | this.done[p]!) & ~(1 << t);
    for (let m = z; m !== 0; m &= m - 1) {
      const u = lowestBit(m);
      if (!independentFp(fp[u]!, ft)) z &= ~(1 << u);
    }
    this.sleep = z;
    this.pos = p + 1;
    return t;
  }

  /** `chosen[p]` is parked: drop that branch and pick another one at p (-1: abandon). */
  protected abstract fallback(p: number, enabled: number): number;

  end(_status: ExecStatus): boolean {
    if (this.len > this.pos) this.len = this.pos;
    this.analyse(this.pos);
    const more = this.backtrack();
    if (!more) this.len = 0;
    return more;
  }

  /** Tasks sleeping at position i (asleep on entry, or explored there already). */
  protected sleepingAt(i: number): number {
    return this.sleepIn[i]! | this.done[i]!;
  }

  /** Pending footprint of task q at position i. */
  protected pendingAt(i: number, q: number): number {
    return this.pend[i * this.n + q]!;
  }

  protected procOf(j: number): number {
    return this.chosen[j]!;
  }

  protected fpOf(j: number): number {
    return this.evFp[j]!;
  }

  /**
   * Initials of the event sequence `seq` as a task mask: tasks whose first event in `seq` has no
   * event of `seq` happening before it.
   */
  protected initials(seq: Int32Array, len: number): number {
    const n = this.n;
    let seen = 0;
    let out = 0;
    // firstLocal[r]: local index of r's first event in seq.
    const first = this.firstLocal;
    for (let a = 0; a < len; a++) {
      const x = seq[a]!;
      const r = this.chosen[x]!;
      if ((seen >> r) & 1) continue;
      let initial = true;
      for (let m = seen; m !== 0; m &= m - 1) {
        const s = lowestBit(m);
        if (this.clock[x * n + s]! >= first[s]! + 1) {
          initial = false;
          break;
        }
      }
      seen |= 1 << r;
      first[r] = this.local[x]!;
      if (initial) out |= 1 << r;
    }
    return out;
  }

  /**
   * Compute vector clocks for positions [0, upto) (only [newFrom, upto) are new) and report every
   * race whose later event is new.
   */
  private analyse(upto: number): void {
    const n = this.n;
    if (this.clock.length < upto * n) this.growClocks(upto);
    // Roll the tables back to the state before position newFrom (undo log), then go forward.
    const from = Math.min(this.newFrom, this.analysed);
    if (from < this.analysed) {
      const keep = this.undoStart[from]!;
      const ua = this.undoArr;
      while (ua.length > keep) ua.pop()![this.undoIdx.pop()!] = this.undoOld.pop()!;
    }
    if (this.seq.length < upto + 1) this.seq = new Int32Array(2 * upto + 2);
    const seq = this.seq;
    const one = this.one;
    for (let j = from; j < upto; j++) {
      this.undoStart[j] = this.undoArr.length;
      const p = this.chosen[j]!;
      const fj = this.evFp[j]!;
      let acc: readonly number[] | null;
      if (fj >= 0) {
        one[0] = fj;
        acc = one;
      } else acc = footprintAccesses(fj);
      {
        const dep = this.dep;
        for (let q = 0; q < n; q++) {
          if (q === p) {
            dep[q] = -1;
            continue;
          }
          let d = this.lastUnk[q]!;
          if (acc === null) d = this.lastAny[q]!;
          else {
            for (const a of acc) {
              const tb = this.objects.get(Math.floor(a / 2));
              if (tb === undefined) continue;
              const w = tb.lastW[q]!;
              if (w > d) d = w;
              if (a % 2 === 1) {
                const r = tb.lastR[q]!;
                if (r > d) d = r;
              }
            }
          }
          dep[q] = d;
        }
        const prev = this.lastAny[p]!;
        const c = j * n;
        if (prev >= 0) this.clock.copyWithin(c, prev * n, prev * n + n);
        else this.clock.fill(0, c, c + n);
        for (let q = 0; q < n; q++) {
          const d = dep[q]!;
          if (d < 0) continue;
          for (let r = 0; r < n; r++) {
            const v = this.clock[d * n + r]!;
            if (v > this.clock[c + r]!) this.clock[c + r] = v;
          }
        }
        this.clock[c + p] = this.count[p]! + 1;
        this.local[j] = this.count[p]!;
        this.prevOf[j] = prev;
        // Races: immediate candidates.
        for (let q = 0; q < n; q++) {
          const i = dep[q]!;
          if (i < 0) continue;
          const li = this.local[i]! + 1;
          let immediate = !(prev >= 0 && this.clock[prev * n + q]! >= li);
          for (let r = 0; immediate && r < n; r++) {
            const o = dep[r]!;
            if (r === q || o < 0) continue;
            if (this.clock[o * n + q]! >= li) immediate = false;
          }
          if (immediate) this.race(i, j, seq);
        }
      }
      // Update the tables (logged, so the next execution can roll them back).
      this.put(this.count, p, this.count[p]! + 1);
      this.put(this.lastAny, p, j);
      if (acc === null) this.put(this.lastUnk, p, j);
      else {
        for (const a of acc) {
          const o = Math.floor(a / 2);
          let tb = this.objects.get(o);
          if (tb === undefined) {
            tb = { lastR: new Int32Array(MAX_TASKS).fill(-1), lastW: new Int32Array(MAX_TASKS).fill(-1) };
            this.objects.set(o, tb);
          }
          this.put(a % 2 === 1 ? tb.lastW : tb.lastR, p, j);
        }
      }
    }
    this.analysed = upto;
    this.newFrom = upto;
  }

  private put(a: Int32Array, i: number, v: number): void {
    this.undoArr.push(a);
    this.undoIdx.push(i);
    this.undoOld.push(a[i]!);
    a[i] = v;
  }

  private race(i: number, j: number, seq: Int32Array): void {
    const q = this.chosen[j]!;
    const prevQ = this.prevOf[j]!;
    if (this.evWait[j] === 0 || (i > prevQ && ((this.enabledAt[i]! >> q) & 1) !== 0)) {
      this.reverseAt(i, j, seq);
      return;
    }
    // A blocking step whose immediate race may be with the step that let it run (top of file).
    const n = this.n;
    const fj = this.evFp[j]!;
    const excl = this.evWait[j] === 3;
    for (let k = i; k >= 0; k--) {
      const r = this.chosen[k]!;
      if (r === q || independentFp(this.evFp[k]!, fj)) continue;
      if (prevQ >= 0 && this.clock[prevQ * n + r]! >= this.local[k]! + 1) continue;
      if (k > prevQ) {
        if (((this.enabledAt[k]! >> q) & 1) === 0) continue;
        this.reverseAt(k, j, seq);
        return;
      }
      if (excl) {
        // The previous exclusive acquisition: reverse with it, and nothing earlier (it was ready
        // there, as e_j's acquisition would have been).
        if (this.evWait[k] === 3) {
          this.reverseAt(k, j, seq);
          return;
        }
        // A step of a task holding the lock (its release, or a step under it): e_j was not ready.
        if (this.holding(r, k, fj)) continue;
      }
      this.reverseAt(k, j, seq);
    }
  }

  /** Is event k of task r inside (or the release of) an exclusive hold conflicting with fj? */
  private holding(r: number, k: number, fj: number): boolean {
    for (let m = k - 1; m >= 0; m--) {
      if (this.chosen[m] !== r || independentFp(this.evFp[m]!, fj)) continue;
      return this.evWait[m] === 3;
    }
    return false;
  }

  /** Reverse e_i and e_j: v = notdep(e_i, E) . e_j, to explore from pre(E, e_i). */
  private reverseAt(i: number, j: number, seq: Int32Array): void {
    const n = this.n;
    this.stats.races++;
    const pi = this.chosen[i]!;
    const li = this.local[i]! + 1;
    let len = 0;
    for (let k = i + 1; k < j; k++) {
      if (this.clock[k * n + pi]! < li) seq[len++] = k;
    }
    seq[len++] = j;
    this.reverse(i, seq, len);
  }

  private grow(): void {
    const size = this.chosen.length * 2;
    const g32 = (a: Int32Array): Int32Array<ArrayBuffer> => {
      const b = new Int32Array(size);
      b.set(a);
      return b;
    };
    this.enabledAt = g32(this.enabledAt);
    this.sleepIn = g32(this.sleepIn);
    this.done = g32(this.done);
    this.chosen = g32(this.chosen);
    const f = new Float64Array(size);
    f.set(this.evFp);
    this.evFp = f;
    const ew = new Uint8Array(size);
    ew.set(this.evWait);
    this.evWait = ew;
    const pd = new Float64Array(size * MAX_TASKS);
    pd.set(this.pend);
    this.pend = pd;
    this.growHooks(size);
  }

  /** Subclasses with their own per-position arrays grow them here. */
  protected growHooks(_size: number): void {}

  private growClocks(upto: number): void {
    let size = this.local.length;
    while (size < upto) size *= 2;
    const c = new Int32Array(size * MAX_TASKS);
    c.set(this.clock);
    this.clock = c;
    const l = new Int32Array(size);
    l.set(this.local);
    this.local = l;
    const pv = new Int32Array(size);
    pv.set(this.prevOf);
    this.prevOf = pv;
    const us = new Int32Array(size);
    us.set(this.undoStart);
    this.undoStart = us;
  }
}
