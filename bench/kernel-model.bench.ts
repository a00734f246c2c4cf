/**
 * The model's side of the kernel benchmarks (src/linux/model-bench.ts), same work as
 * bench/kernel.bench.ts on 16384 populated shared pages (64 MiB; the model keeps written bytes
 * in the JS heap, and the cost is per page):
 * - kernel.model.wp.nsPerPage: UFFDIO_WRITEPROTECT on the model, ns/page.
 * - kernel.model.scan.nsPerPage.<pct>: PAGEMAP_SCAN + WP_MATCHING with <pct> = 0, 1, 10, 100
 *   percent of the pages written since the last scan, ns/page.
 * - kernel.model.wpFault.ns: first store to a write-protected page (async uffd-wp), ns per fault.
 * Runs everywhere (no real kernel needed). Values are the best of 5 samples.
 */
import type { BenchWork } from '../src/linux/kernel-bench.ts';
import { MODEL_BENCH_MAX_PAGES, measureModel } from '../src/linux/model-bench.ts';
import type { Bench, BenchResult } from './harness.ts';

const P = MODEL_BENCH_MAX_PAGES;

function one(name: string, work: BenchWork, unit: string): BenchResult {
  const params: Record<string, number> = { pages: P };
  if (work.writtenPct !== undefined) params.writtenPct = work.writtenPct;
  return { name, unit, value: Math.round(measureModel(work, P) * 1000) / 1000, params };
}

export const benchmarks: Bench[] = [
  {
    name: 'kernel.model',
    run(): BenchResult[] {
      const out = [one('kernel.model.wp.nsPerPage', { op: 'writeProtect', pages: P }, 'ns/page')];
      for (const pct of [0, 1, 10, 100])
        out.push(
          one(
            `kernel.model.scan.nsPerPage.${pct}`,
            { op: 'scanReprotect', pages: P, writtenPct: pct },
            'ns/page',
          ),
        );
      out.push(one('kernel.model.wpFault.ns', { op: 'wpFault', pages: P }, 'ns/fault'));
      return out;
    },
  },
];
