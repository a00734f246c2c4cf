/**
 * The model's side of `dirtyscope kernel bench` ({@link ModelBenchSide} of kernel-bench.ts) and
 * of bench/kernel-model.bench.ts: the same work as the kernel rows, on the simulated kernel
 * (model-backend.ts), in ns per page (per fault).
 *
 * - writeProtect: UFFDIO_WRITEPROTECT over N populated, written pages (unprotect in between).
 * - scanReprotect: PAGEMAP_SCAN + WP_MATCHING (resumed to the end) over N protected pages of which
 *   every (100/pct)-th was written since the last scan.
 * - wpFault: the first store to a write-protected page, timed in batches of 1024 faults.
 *
 * The model's memory holds every written page's bytes in the JS heap, so the model measures at
 * most `maxPages` pages (default 16384 = 64 MiB) whatever size the kernel row has: a per-page
 * cost, compared per page. Each figure is the best of several samples, cached per (op, pct).
 */
import type { BenchWork, ModelBenchSide } from './kernel-bench.ts';
import { ModelRegion } from './model-backend.ts';
import { PAGE_IS_WRITTEN, PM_SCAN_WP_MATCHING } from './pagemap-scan.ts';
import { pagesOf, scanToEnd } from './tracking.ts';

/** Default cap on the pages the model measures. */
export const MODEL_BENCH_MAX_PAGES = 16384;

function now(): bigint {
  return process.hrtime.bigint();
}

function writePct(r: ModelRegion, pct: number): number {
  if (pct <= 0) return 0;
  if (pct >= 100) {
    for (let p = 0; p < r.pages; p++) r.store(p, 0, 2);
    return r.pages;
  }
  const stride = Math.round(100 / pct);
  let n = 0;
  for (let p = 0; p < r.pages; p += stride, n++) r.store(p, 0, 3);
  return n;
}

/** Model ns per page (ns per fault for wpFault) for `work`, on at most `maxPages` pages. */
export function measureModel(work: BenchWork, maxPages = MODEL_BENCH_MAX_PAGES, samples = 5): number {
  const P = Math.max(1, Math.min(work.pages, maxPages));
  const r = new ModelRegion(P, true);
  try {
    r.fill(0, P, 1);
    let best = Number.POSITIVE_INFINITY;
    if (work.op === 'writeProtect') {
      for (let s = 0; s < samples; s++) {
        if (s > 0) r.unprotect(0, P);
        const t0 = now();
        const out = r.armWriteProtect(0, P);
        const dt = Number(now() - t0);
        if (!out.ok) throw new Error(`model UFFDIO_WRITEPROTECT failed: ${out.errno}`);
        best = Math.min(best, dt / P);
      }
      return best;
    }
    r.armWriteProtect(0, P);
    if (work.op === 'scanReprotect') {
      const pct = work.writtenPct ?? 0;
      for (let s = 0; s < samples; s++) {
        const wrote = writePct(r, pct);
        const t0 = now();
        const res = scanToEnd(r, {
          startPage: 0,
          endPage: P,
          flags: PM_SCAN_WP_MATCHING,
          categoryMask: PAGE_IS_WRITTEN,
          returnMask: PAGE_IS_WRITTEN,
        });
        const dt = Number(now() - t0);
        const got = pagesOf(res.regions).length;
        if (got !== wrote) throw new Error(`model scan at ${pct}%: reported ${got} pages, wrote ${wrote}`);
        best = Math.min(best, dt / P);
      }
      return best;
    }
    // wpFault: every page is protected; time first stores in batches
    const BATCH = 1024;
    for (let lo = 0; lo + BATCH <= P; lo += BATCH) {
      const t0 = now();
      for (let p = lo; p < lo + BATCH; p++) r.store(p, 0, 4);
      best = Math.min(best, Number(now() - t0) / BATCH);
    }
    if (best === Number.POSITIVE_INFINITY) {
      const t0 = now();
      for (let p = 0; p < P; p++) r.store(p, 0, 4);
      best = Number(now() - t0) / P;
    }
    return best;
  } finally {
    r.close();
  }
}

/** A {@link ModelBenchSide} for runKernelBench: measures each (op, pct) once and reuses it. */
export function modelBenchSide(maxPages = MODEL_BENCH_MAX_PAGES): ModelBenchSide {
  const cache = new Map<string, number>();
  return {
    measure(work: BenchWork): number {
      const key = `${work.op}:${work.writtenPct ?? ''}`;
      let v = cache.get(key);
      if (v === undefined) {
        v = measureModel(work, maxPages);
        cache.set(key, v);
      }
      return v;
    },
  };
}
