/**
 * Benchmark contract: every `bench/*.bench.ts` exports `benchmarks: Bench[]`. `npm run bench --
 * --json [--filter PREFIX]` prints one JSON array of `{name, unit, value, params}`.
 * Names are stable once introduced.
 */
export interface BenchResult {
  name: string;
  unit: string;
  value: number;
  params: Record<string, number | string | boolean>;
}

export interface Bench {
  /** Stable name, or prefix when `run` returns several results. */
  name: string;
  run(): BenchResult[] | Promise<BenchResult[]>;
}

/** Time `fn` over `iters` iterations after a warm-up; returns ns per iteration (best of `rounds`). */
export function nsPerIter(fn: (iters: number) => void, iters: number, rounds = 5): number {
  fn(Math.max(1, Math.floor(iters / 10)));
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    fn(iters);
    const dt = Number(process.hrtime.bigint() - t0);
    best = Math.min(best, dt / iters);
  }
  return best;
}
