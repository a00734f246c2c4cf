/**
 * Brute-force Mazurkiewicz trace counter, independent of the checker: it enumerates EVERY
 * interleaving of a program (programs.ts) by explicit-state recursion, records each as its
 * sequence of events (thread, footprint), maps it to its lexicographic normal form (repeatedly
 * take the lowest-numbered thread whose next remaining event has no earlier remaining event it
 * depends on) and counts distinct normal forms. Two events are dependent iff they belong to the
 * same thread, or touch the same object and at least one writes it. Only for small instances.
 */
import { type Action, actionReady, type Program, type Shared, startFootprint } from './programs.ts';

export interface Count {
  interleavings: number;
  traces: number;
  /** Interleavings that ended with threads parked on locks. */
  deadlocks: number;
}

function conflict(a: number, b: number): boolean {
  return Math.floor(a / 2) === Math.floor(b / 2) && (a % 2 === 1 || b % 2 === 1);
}

interface Th {
  l: Int32Array;
  /** The pending action, or null when finished. */
  a: Action | null;
  /** A thread whose first action is a lock first runs a no-op step (as the model does). */
  started: boolean;
}

export function countTraces(p: Program, maxInterleavings = 2_000_000): Count {
  const threads: Th[] = [];
  for (let t = 0; t < p.threads; t++) {
    const l = p.local(t);
    const a = p.next(t, l);
    threads.push({ l, a, started: a === null || a.lock === undefined });
  }
  const evT: number[] = [];
  const evF: number[] = [];
  const forms = new Set<string>();
  const out: Count = { interleavings: 0, traces: 0, deadlocks: 0 };

  const leaf = (deadlock: boolean): void => {
    out.interleavings++;
    if (deadlock) out.deadlocks++;
    if (out.interleavings > maxInterleavings) throw new Error(`more than ${maxInterleavings} interleavings`);
    forms.add(normalForm(evT, evF));
  };

  const rec = (s: Shared, ths: Th[]): void => {
    let any = false;
    let unfinished = false;
    for (let t = 0; t < ths.length; t++) {
      const th = ths[t]!;
      if (!th.started) {
        unfinished = true;
        any = true;
        evT.push(t);
        evF.push(startFootprint(t));
        const next = ths.slice();
        next[t] = { l: th.l, a: th.a, started: true };
        rec(s, next);
        evT.pop();
        evF.pop();
        continue;
      }
      if (th.a === null) continue;
      unfinished = true;
      if (!actionReady(th.a, s)) continue;
      any = true;
      const s2 = s.map((x) => x.slice());
      const l2 = th.l.slice();
      evT.push(t);
      evF.push(th.a.fp);
      p.run(t, l2, s2);
      const next = ths.slice();
      next[t] = { l: l2, a: p.next(t, l2), started: true };
      rec(s2, next);
      evT.pop();
      evF.pop();
    }
    if (!any) leaf(unfinished);
  };
  rec(p.init(), threads);
  out.traces = forms.size;
  return out;
}

function normalForm(evT: number[], evF: number[]): string {
  const n = evT.length;
  const taken = new Uint8Array(n);
  let key = '';
  for (let k = 0; k < n; k++) {
    let best = -1;
    for (let i = 0; i < n; i++) {
      if (taken[i]) continue;
      // i is minimal iff no earlier remaining event is dependent with it.
      let minimal = true;
      for (let j = 0; j < i; j++) {
        if (taken[j]) continue;
        if (evT[j] === evT[i] || conflict(evF[j]!, evF[i]!)) {
          minimal = false;
          break;
        }
      }
      if (minimal && (best < 0 || evT[i]! < evT[best]!)) best = i;
    }
    taken[best] = 1;
    key += String.fromCharCode(65 + evT[best]!);
  }
  return key;
}
