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
 * The model's memory holds every written page's bytes in typed arrays (4 KiB each), so the model
 * measures at most `maxPages` pages (default 262,144 = 1 GiB, the kernel bench's smallest size;
 * about 1.4 GB of RSS and 4 s to populate) whatever size the kernel row has: a per-page cost,
 * compared per page. One populated region per size is shared by every op (populating it is the
 * slow part). Each figure is the best (and the median) of `samples` runs after warm passes and
 * `warmup` untimed runs that let the JIT compile the walk; CPU time of the process is measured
 * beside wall time.
 */
import type { BenchWork, ModelBenchSide } from './kernel-bench.ts';
import { ModelRegion } from './model-backend.ts';
import { PAGE_IS_WRITTEN, PM_SCAN_WP_MATCHING } from './pagemap-scan.ts';
import { pagesOf, scanToEnd } from './tracking.ts';

/** Default cap on the pages the model measures (1 GiB of 4 KiB pages). */
export const MODEL_BENCH_MAX_PAGES = 262144;
/** Timed runs per figure. */
export const MODEL_BENCH_SAMPLES = 7;
/** Untimed runs of the measured work before the timed ones (JIT warm-up). */
export const MODEL_BENCH_WARMUP = 5;
/**
 * Extra untimed passes before an op's runs: write-protect / unprotect cycles over the region, or
 * the scan row's own work (writes at its percentage, then the scan) over its first WARM_SPAN
 * pages (the whole region at 0%). The walk's generators cannot be optimized on stack
 * replacement, so they reach optimized code only after a few dozen calls (measured: the first
 * scans of 1 GiB take 3-15 ns/page, later ones 0.9).
 */
export const MODEL_BENCH_WARM_PASSES = 200;
/** Pages a warm pass of a scan row covers (16 PTE tables). */
const WARM_SPAN = 8192;

/** One model figure. */
export interface ModelMeasurement {
  /** Pages measured. */
  pages: number;
  /** Best wall time, ns per page (per fault). */
  best: number;
  /** Median wall time, ns per page (per fault). */
  median: number;
  /** Best process CPU time (user + system), ns per page (per fault). */
  cpuBest: number;
  samples: number;
}

function now(): bigint {
  return process.hrtime.bigint();
}

function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

/** Write `pct`% of pages [0, upto) (every (100/pct)-th); the number of pages written. */
function writePct(r: ModelRegion, pct: number, upto = r.pages): number {
  if (pct <= 0) return 0;
  if (pct >= 100) {
    for (let p = 0; p < upto; p++) r.store(p, 0, 2);
    return upto;
  }
  const stride = Math.round(100 / pct);
  let n = 0;
  for (let p = 0; p < upto; p += stride, n++) r.store(p, 0, 3);
  return n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[(s.length - 1) >> 1]!;
}

/** A populated, uffd-registered model region of `pages` pages (every page written once). */
export function benchRegion(pages: number): ModelRegion {
  const r = new ModelRegion(pages, true);
  r.fill(0, pages, 1);
  return r;
}

/**
 * Measure `work` on `r` (populated by {@link benchRegion}; any uffd-wp state): `warmup` untimed
 * runs, then `samples` timed ones. Leaves every page present.
 */
export function measureOn(
  r: ModelRegion,
  work: BenchWork,
  samples = MODEL_BENCH_SAMPLES,
  warmup = MODEL_BENCH_WARMUP,
): ModelMeasurement {
  const P = r.pages;
  const wall: number[] = [];
  const cpu: number[] = [];
  const runs = warmup + samples;
  const passes = warmup > 0 ? MODEL_BENCH_WARM_PASSES : 0;
  const scanAll = () =>
    scanToEnd(r, {
      startPage: 0,
      endPage: P,
      flags: PM_SCAN_WP_MATCHING,
      categoryMask: PAGE_IS_WRITTEN,
      returnMask: PAGE_IS_WRITTEN,
    });
  if (work.op === 'writeProtect') {
    for (let s = 0; s < passes; s++) {
      r.unprotect(0, P);
      r.armWriteProtect(0, P);
    }
    for (let s = 0; s < runs; s++) {
      r.unprotect(0, P);
      const c0 = cpuNs();
      const t0 = now();
      const out = r.armWriteProtect(0, P);
      const dt = Number(now() - t0);
      const dc = cpuNs() - c0;
      if (!out.ok) throw new Error(`model UFFDIO_WRITEPROTECT failed: ${out.errno}`);
      if (s >= warmup) {
        wall.push(dt / P);
        cpu.push(dc / P);
      }
    }
  } else if (work.op === 'scanReprotect') {
    r.armWriteProtect(0, P);
    const pct = work.writtenPct ?? 0;
    // warm passes do the measured work on the first WARM_SPAN pages only (cheap, and the JIT
    // sees the same branches as in the timed runs: a warm-up on unwritten pages alone leaves
    // the reporting path cold and measured 14-22 instead of 10 ns/page at 10%)
    const span = pct > 0 ? Math.min(P, WARM_SPAN) : P; // with nothing to write, the whole range
    for (let s = 0; s < passes; s++) {
      writePct(r, pct, span);
      scanToEnd(r, {
        startPage: 0,
        endPage: span,
        flags: PM_SCAN_WP_MATCHING,
        categoryMask: PAGE_IS_WRITTEN,
        returnMask: PAGE_IS_WRITTEN,
      });
    }
    for (let s = 0; s < runs; s++) {
      const wrote = writePct(r, pct);
      const c0 = cpuNs();
      const t0 = now();
      const res = scanAll();
      const dt = Number(now() - t0);
      const dc = cpuNs() - c0;
      const got = pagesOf(res.regions).length;
      if (got !== wrote) throw new Error(`model scan at ${pct}%: reported ${got} pages, wrote ${wrote}`);
      if (s >= warmup) {
        wall.push(dt / P);
        cpu.push(dc / P);
      }
    }
  } else {
    // wpFault: every page protected; first stores timed in batches of 1024
    r.armWriteProtect(0, P);
    const BATCH = Math.min(1024, P);
    for (let lo = 0; lo + BATCH <= P; lo += BATCH) {
      const c0 = cpuNs();
      const t0 = now();
      for (let p = lo; p < lo + BATCH; p++) r.store(p, 0, 4);
      const dt = Number(now() - t0);
      const dc = cpuNs() - c0;
      if (lo >= warmup * BATCH) {
        wall.push(dt / BATCH);
        cpu.push(dc / BATCH);
      }
    }
    if (wall.length === 0) {
      r.armWriteProtect(0, P);
      const c0 = cpuNs();
      const t0 = now();
      for (let p = 0; p < P; p++) r.store(p, 0, 4);
      wall.push(Number(now() - t0) / P);
      cpu.push((cpuNs() - c0) / P);
    }
  }
  return {
    pages: P,
    best: Math.min(...wall),
    median: median(wall),
    cpuBest: Math.min(...cpu),
    samples: wall.length,
  };
}

/** Model ns per page (ns per fault for wpFault) for `work`, on at most `maxPages` pages. */
export function measureModel(
  work: BenchWork,
  maxPages = MODEL_BENCH_MAX_PAGES,
  samples = MODEL_BENCH_SAMPLES,
): number {
  const r = benchRegion(Math.max(1, Math.min(work.pages, maxPages)));
  try {
    return measureOn(r, work, samples).best;
  } finally {
    r.close();
  }
}

/**
 * A {@link ModelBenchSide} for runKernelBench: measures each (op, pct) once on one shared region
 * (per size) and reuses the figure.
 */
export function modelBenchSide(maxPages = MODEL_BENCH_MAX_PAGES): ModelBenchSide {
  const cache = new Map<string, number>();
  let region: ModelRegion | null = null;
  return {
    measure(work: BenchWork): number {
      const P = Math.max(1, Math.min(work.pages, maxPages));
      const key = `${P}:${work.op}:${work.writtenPct ?? ''}`;
      let v = cache.get(key);
      if (v === undefined) {
        if (region === null || region.pages !== P) {
          region?.close();
          region = benchRegion(P);
        }
        v = measureOn(region, work).best;
        cache.set(key, v);
      }
      return v;
    },
  };
}
