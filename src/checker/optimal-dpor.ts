/**
 * Optimal DPOR with wakeup trees (Abdulla, Aronis, Jonsson, Sagonas, POPL 2014, Algorithm 2;
 * JACM 2017), stateless: every execution re-runs a fresh instance, replaying its prefix.
 *
 * Each position E of the current execution has a sleep set and a wakeup tree wut(E): an ordered
 * tree of event sequences still to explore from E (its leaves; the first child is the branch being
 * explored). When an execution ends, every race e <. e' whose later event is new is reversed: with
 * E' = pre(E, e) and v = notdep(e, E).e', if no task asleep at E' is a weak initial of v (a task
 * whose next step can start v, or commutes with all of it), v is inserted into wut(E'): walk down
 * from the root, at each node entering the first child whose event is a weak initial of what is
 * left of v (removing that event from v); stop if a leaf is reached (an equivalent sequence will
 * be explored already), else append the rest of v as a new branch. Then the deepest position whose
 * tree has another child is the next branch, and the execution follows that child's sequence
 * before continuing freely. Sleep sets as in dfs.ts. Every Mazurkiewicz trace is explored exactly
 * once and no execution is cut off by the sleep sets (with exact footprints and no blocking
 * surprises; see dpor.ts for how blocking is handled and counted).
 */
import { DporBase } from './dpor.ts';
import { independentFp as independentFpImported, lowestBit as lowestBitImported } from './scheduler.ts';

// Module-local copies: imported bindings may be compiled to getters (tsx).
const independentFp = independentFpImported;
const lowestBit = lowestBitImported;

class WNode {
  readonly children: WNode[] = [];
  constructor(
    readonly proc: number,
    readonly fp: number,
  ) {}
}

const NOT_WI = -2;

export class OptimalDporScheduler extends DporBase {
  readonly name = 'optimal-dpor';
  private readonly top = new WNode(-1, -1);
  private roots: WNode[] = [];
  private readonly wp: number[] = [];
  private readonly wf: number[] = [];

  protected choose(p: number, enabled: number, current: number): number {
    const root = p === 0 ? this.top : this.roots[p - 1]!.children[0]!;
    this.roots[p] = root;
    if (root.children.length === 0) {
      const cand = enabled & ~this.sleep;
      if (cand === 0) return -1;
      const t = current >= 0 && ((cand >> current) & 1) !== 0 ? current : lowestBit(cand);
      root.children.push(new WNode(t, this.ctx!.footprints[t]!));
      return t;
    }
    return this.pick(p, enabled, this.sleep);
  }

  /** First child of roots[p] that is enabled and awake; branches naming a parked task are dropped. */
  private pick(p: number, enabled: number, asleep: number): number {
    const kids = this.roots[p]!.children;
    while (kids.length > 0) {
      const t = kids[0]!.proc;
      if (((enabled >> t) & 1) !== 0 && ((asleep >> t) & 1) === 0) return t;
      this.stats.infeasible++;
      kids.shift();
    }
    return -1;
  }

  protected fallback(p: number, enabled: number): number {
    const t = this.pick(p, enabled, this.sleepingAt(p));
    if (t >= 0) this.chosen[p] = t;
    else this.len = p;
    return t;
  }

  protected reverse(i: number, seq: Int32Array, len: number): void {
    const wp = this.wp;
    const wf = this.wf;
    wp.length = 0;
    wf.length = 0;
    for (let a = 0; a < len; a++) {
      wp.push(this.procOf(seq[a]!));
      wf.push(this.fpOf(seq[a]!));
    }
    // A sleeping task that is a weak initial of v: v's trace (or an extension) is covered.
    for (let m = this.sleepingAt(i); m !== 0; m &= m - 1) {
      const q = lowestBit(m);
      if (weakInitial(q, this.pendingAt(i, q), wp, wf) !== NOT_WI) return;
    }
    const root = this.roots[i]!;
    let node = root;
    for (;;) {
      if (wp.length === 0) return;
      if (node !== root && node.children.length === 0) return;
      let next: WNode | null = null;
      for (const c of node.children) {
        const k = weakInitial(c.proc, c.fp, wp, wf);
        if (k === NOT_WI) continue;
        if (k >= 0) {
          wp.splice(k, 1);
          wf.splice(k, 1);
        }
        next = c;
        break;
      }
      if (next === null) break;
      node = next;
    }
    for (let a = 0; a < wp.length; a++) {
      const c = new WNode(wp[a]!, wf[a]!);
      node.children.push(c);
      node = c;
    }
  }

  protected backtrack(): boolean {
    for (let d = this.len - 1; d >= 0; d--) {
      this.done[d]! |= 1 << this.chosen[d]!;
      const kids = this.roots[d]!.children;
      kids.shift();
      if (kids.length === 0) continue;
      const t = this.pick(d, this.enabledAt[d]!, this.sleepingAt(d));
      if (t < 0) continue;
      this.chosen[d] = t;
      this.len = d + 1;
      this.newFrom = d;
      return true;
    }
    return false;
  }
}

/**
 * Is the event (task `proc`, footprint `fp`) a weak initial of the sequence (wp, wf)? Returns the
 * index of proc's first event in it (an initial: nothing before it is dependent), -1 if proc has
 * no event in it and fp commutes with all of it, else NOT_WI.
 */
function weakInitial(proc: number, fp: number, wp: number[], wf: number[]): number {
  for (let a = 0; a < wp.length; a++) {
    if (wp[a] === proc) return a;
    if (!independentFp(wf[a]!, fp)) return NOT_WI;
  }
  return -1;
}
