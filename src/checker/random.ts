/** Uniform random walk: at every choice point pick an enabled task uniformly (seeded). */
import { Prng } from './prng.ts';
import { type ExecStatus, nthSetBit, popcount, type SchedContext, type Scheduler } from './scheduler.ts';

export class RandomScheduler implements Scheduler {
  readonly name = 'random';
  private readonly rng: Prng;

  constructor(seed: number) {
    this.rng = new Prng(seed);
  }

  begin(_ctx: SchedContext): void {}

  next(enabled: number, _current: number): number {
    if ((enabled & (enabled - 1)) === 0) return 31 - Math.clz32(enabled);
    return nthSetBit(enabled, this.rng.below(popcount(enabled)));
  }

  end(_status: ExecStatus): boolean {
    return true;
  }
}
