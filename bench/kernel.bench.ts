/**
 * Real-kernel benchmarks (src/linux/kernel-bench.ts) on one 1 GiB populated shared memfd mapping:
 * - kernel.real.wp.nsPerPage: UFFDIO_WRITEPROTECT over the populated range, ns/page.
 * - kernel.real.scan.nsPerPage.<pct>: PAGEMAP_SCAN + PM_SCAN_WP_MATCHING over the range with
 *   <pct> = 0, 1, 10, 100 percent of the pages written since the last scan, ns/page.
 * - kernel.real.wpFault.ns: first store to a write-protected page (async uffd-wp), ns per fault.
 * Values are the best of several samples (params.median carries the median). On a machine where
 * the probe says SKIP, the benchmarks report nothing and say why on stderr.
 */
import { type BenchRow, runKernelBench } from '../src/linux/kernel-bench.ts';
import { probeKernel, skipReason } from '../src/linux/probe.ts';
import type { Bench, BenchResult } from './harness.ts';

const SIZE = 1024 ** 3;

function result(name: string, r: BenchRow): BenchResult {
  const params: Record<string, number | string | boolean> = {
    sizeBytes: r.sizeBytes,
    pages: r.pages,
    samples: r.samples,
    median: Math.round(r.kernelMedian * 1000) / 1000,
  };
  if (r.writtenPct !== undefined) params.writtenPct = r.writtenPct;
  return { name, unit: r.unit, value: Math.round(r.kernel * 1000) / 1000, params };
}

export const benchmarks: Bench[] = [
  {
    name: 'kernel.real',
    run(): BenchResult[] {
      const skip = skipReason(probeKernel());
      if (skip !== null) {
        process.stderr.write(`kernel.real: SKIP: ${skip}\n`);
        return [];
      }
      const out: BenchResult[] = [];
      for (const r of runKernelBench({ sizes: [SIZE] }).rows) {
        if (r.op === 'writeProtect') out.push(result('kernel.real.wp.nsPerPage', r));
        else if (r.op === 'scanReprotect') out.push(result(`kernel.real.scan.nsPerPage.${r.writtenPct}`, r));
        else out.push(result('kernel.real.wpFault.ns', r));
      }
      return out;
    },
  },
];
