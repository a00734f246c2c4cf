/**
 * A simulated clock with a tiny event queue (timers), for delayed work (fbdev deferred I/O,
 * spec 5.3). Time is in nanoseconds of simulated time and only moves when the owner advances it
 * (`advance`/`runUntil`); nothing here reads the wall clock, so runs are deterministic.
 *
 * Events at equal times fire in scheduling order. A handler may schedule or cancel timers
 * (including re-arming itself); those fire in the same `runUntil` if they are due.
 */
export type TimerId = number;

interface Timer {
  id: TimerId;
  at: number;
  seq: number;
  fn: () => void;
}

export class SimClock {
  /** Current simulated time (ns). */
  now = 0;
  private timers: Timer[] = [];
  private nextId = 1;
  private seq = 0;
  /** Time of the earliest pending timer, or +Infinity. Kept current so a hot loop can compare. */
  nextAt = Number.POSITIVE_INFINITY;

  /** Schedule `fn` at absolute time `at` (clamped to now). */
  scheduleAt(at: number, fn: () => void): TimerId {
    const t: Timer = { id: this.nextId++, at: Math.max(at, this.now), seq: this.seq++, fn };
    // sorted insert by (at, seq): the queue holds a handful of timers
    let i = this.timers.length;
    while (i > 0 && this.timers[i - 1]!.at > t.at) i--;
    this.timers.splice(i, 0, t);
    this.nextAt = this.timers[0]!.at;
    return t.id;
  }

  /** Schedule `fn` after `delay` ns. */
  schedule(delay: number, fn: () => void): TimerId {
    return this.scheduleAt(this.now + delay, fn);
  }

  /** Cancel a timer; true if it was pending. */
  cancel(id: TimerId): boolean {
    const i = this.timers.findIndex((t) => t.id === id);
    if (i < 0) return false;
    this.timers.splice(i, 1);
    this.nextAt = this.timers.length > 0 ? this.timers[0]!.at : Number.POSITIVE_INFINITY;
    return true;
  }

  /** Whether timer `id` is still pending. */
  pending(id: TimerId): boolean {
    return this.timers.some((t) => t.id === id);
  }

  get size(): number {
    return this.timers.length;
  }

  /** Advance to `t` (>= now), firing every timer due by then in time order. */
  runUntil(t: number): void {
    while (this.timers.length > 0 && this.timers[0]!.at <= t) {
      const ev = this.timers.shift()!;
      this.nextAt = this.timers.length > 0 ? this.timers[0]!.at : Number.POSITIVE_INFINITY;
      if (ev.at > this.now) this.now = ev.at;
      ev.fn();
    }
    if (t > this.now) this.now = t;
  }

  /** Advance by `dt` ns. */
  advance(dt: number): void {
    this.runUntil(this.now + dt);
  }

  /** Fire every pending timer (in time order), advancing time to each. */
  drain(): void {
    while (this.timers.length > 0) this.runUntil(this.timers[0]!.at);
  }
}
