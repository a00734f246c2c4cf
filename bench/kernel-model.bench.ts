/**
 * The model's side of the kernel benchmarks (src/linux/model-bench.ts), same work and same size
 * as bench/kernel.bench.ts: 262,144 populated shared pages (1 GiB; the model keeps each page's
 * bytes in a typed array, ~1.4 GB RSS, ~4 s to populate once for all rows):
 * - kernel.model.wp.nsPerPage: UFFDIO_WRITEPROTECT on the model, ns/page.
 * - kernel.model.scan.nsPerPage.<pct>: PAGEMAP_SCAN + WP_MATCHING with <pct> = 0, 1, 10, 100
 *   percent of the pages written since the last scan, ns/page.
 * - kernel.model.wpFault.ns: first store to a write-protected page (async uffd-wp), ns per fault.
 * Runs everywhere (no real kernel needed). Values are the best of 7 samples after 2 warm-up
 * runs; params carry the median and the best CPU time (process user + system) per page.
 */
import type { BenchWork } from '../src/linux/kernel-bench.ts';
import type { ModelRegion } from '../src/linux/model-backend.ts';
import { benchRegion, MODEL_BENCH_MAX_PAGES, measureOn } from '../src/linux/model-bench.ts';
import type { Bench, BenchResult } from './harness.ts';

const P = MODEL_BENCH_MAX_PAGES;
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

function one(r: ModelRegion, name: string, work: BenchWork, unit: string): BenchResult {
  const m = measureOn(r, work);
  const params: Record<string, number> = {
    pages: m.pages,
    sizeBytes: m.pages * 4096,
    samples: m.samples,
    median: r3(m.median),
    cpuBest: r3(m.cpuBest),
  };
  if (work.writtenPct !== undefined) params.writtenPct = work.writtenPct;
  return { name, unit, value: r3(m.best), params };
}

export const benchmarks: Bench[] = [
  {
    name: 'kernel.model',
    run(): BenchResult[] {
      const r = benchRegion(P);
      try {
        const out = [one(r, 'kernel.model.wp.nsPerPage', { op: 'writeProtect', pages: P }, 'ns/page')];
        for (const pct of [0, 1, 10, 100])
          out.push(
            one(
              r,
              `kernel.model.scan.nsPerPage.${pct}`,
              { op: 'scanReprotect', pages: P, writtenPct: pct },
              'ns/page',
            ),
          );
        out.push(one(r, 'kernel.model.wpFault.ns', { op: 'wpFault', pages: P }, 'ns/fault'));
        return out;
      } finally {
        r.close();
      }
    },
  },
];
