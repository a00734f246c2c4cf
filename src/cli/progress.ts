/**
 * Progress on a non-interactive stderr (a log file, CI): plain lines instead of a redrawn bar.
 * Nothing for the first 2 s (a short command stays quiet); then a line each time the work crosses
 * another 10% (at most one per 2 s), and every 10 s when it does not (or the total is unknown).
 *
 *   dirtyscope: study: 40% (120/300 runs, 35 s)
 */
import { err } from './io.ts';

export const QUIET_MS = 2_000;
export const EVERY_MS = 10_000;

export class LineProgress {
  private readonly t0: number;
  private lastAt: number;
  private lastDecile = -1;
  private lastLabel = '';

  constructor(
    private readonly what: string,
    private readonly now: () => number = () => performance.now(),
    private readonly write: (line: string) => void = (l) => err(l),
  ) {
    this.t0 = now();
    this.lastAt = this.t0;
  }

  /** `done` of `total` units (`unit`, e.g. "stores"); total <= 0 means unknown. */
  update(done: number, total: number, unit: string, label = this.what): void {
    const t = this.now();
    if (t - this.t0 < QUIET_MS) return;
    const secs = `${Math.round((t - this.t0) / 1000)} s`;
    if (label !== this.lastLabel) {
      this.lastLabel = label;
      this.lastDecile = -1;
    }
    if (total > 0) {
      const decile = Math.floor((10 * done) / total);
      const crossed = decile > this.lastDecile && t - this.lastAt >= QUIET_MS;
      if (!crossed && this.lastDecile >= 0 && t - this.lastAt < EVERY_MS) return;
      this.lastDecile = decile;
      this.lastAt = t;
      this.write(
        `dirtyscope: ${label}: ${Math.floor((100 * done) / total)}% (${done}/${total} ${unit}, ${secs})\n`,
      );
    } else {
      if (t - this.lastAt < EVERY_MS) return;
      this.lastAt = t;
      this.write(`dirtyscope: ${label}: ${done} ${unit} (${secs})\n`);
    }
  }

  /** A free-form status line, under the same 2 s / 10 s rule. */
  status(text: string): void {
    const t = this.now();
    if (t - this.t0 < QUIET_MS || t - this.lastAt < EVERY_MS) return;
    this.lastAt = t;
    this.write(`dirtyscope: ${this.what}: ${text} (${Math.round((t - this.t0) / 1000)} s)\n`);
  }
}
