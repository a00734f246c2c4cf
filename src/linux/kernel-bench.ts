/**
 * Real-kernel measurements for `dirtyscope kernel bench` and bench/kernel.bench.ts: what the
 * kernel's walks and faults cost per page on this machine, on populated shared memfd memory.
 *
 * - writeProtect: UFFDIO_WRITEPROTECT(mode WP) over N populated, written pages (ns/page).
 * - scanReprotect: one PAGEMAP_SCAN with PM_SCAN_WP_MATCHING over N protected pages of which
 *   0%, 1%, 10% or 100% were written since the last scan (ns/page of the range).
 * - wpFault: the first store to a write-protected page (async uffd-wp fault), timed over many
 *   pages in a tight loop (ns per fault).
 *
 * Each row has a slot for the model's time on the same work (`model`, `ratio` = model/kernel);
 * pass a {@link ModelBenchSide} to fill it, otherwise they stay null.
 */
import { readFileSync } from 'node:fs';
import { arch, cpus, release } from 'node:os';
import { PAGE_IS_WRITTEN, PM_SCAN_WP_MATCHING } from './pagemap-scan.ts';
import { KernelBackend, type KernelRegion } from './real-backend.ts';
import { pagesOf, scanToEnd } from './tracking.ts';

/** The work one row measures (what a model side must reproduce to fill `model`). */
export interface BenchWork {
  op: 'writeProtect' | 'scanReprotect' | 'wpFault';
  /** Pages in the range (for wpFault: pages faulted). */
  pages: number;
  /** For scanReprotect: percent of the range written before the scan. */
  writtenPct?: number;
}

/** The model's side of the comparison: ns per page (per fault) for the same work, or null. */
export interface ModelBenchSide {
  measure(work: BenchWork): number | null;
}

/** One measurement, kernel beside model. */
export interface BenchRow extends BenchWork {
  /** Size of the measured range in bytes. */
  sizeBytes: number;
  unit: 'ns/page' | 'ns/fault';
  /** Kernel time, best of `samples` runs (the cost without interference from other load). */
  kernel: number;
  /** Kernel time, median of the `samples` runs (what a loaded machine sees). */
  kernelMedian: number;
  /** Model time for the same work, or null until a model side is plugged in. */
  model: number | null;
  /** model / kernel, or null. */
  ratio: number | null;
  samples: number;
}

/** The fields docs/kernel-costs.json carries (src/workload/cost-model.ts loads them). */
export interface KernelCosts {
  /** First write to a write-protected page: one async uffd-wp fault, ns. */
  wpFaultNs: number;
  /** UFFDIO_WRITEPROTECT walk over populated pages, ns per page. */
  wpWalkNsPerPage: number;
  /** PAGEMAP_SCAN+WP_MATCHING over protected pages none of which was written, ns per page. */
  scanNsPerPage: number;
  /**
   * Extra scan cost per written page when the written pages are contiguous (100% row minus 0%
   * row of the same size, best over sizes), ns: clearing, recording and protecting one PTE
   * inside a run.
   */
  scanNsPerWrittenPage: number;
  /**
   * Extra scan cost per written page when every written page is its own region (1% row minus 0%
   * row, per written page), ns: includes a region of output and a TLB flush per page. Not a
   * cost-model field (the model prices flushes separately); recorded for comparison.
   */
  scanNsPerIsolatedWrittenPage: number;
  /** `uname -r` and CPU of the machine measured. */
  measuredOn: string;
}

export interface KernelBenchResult {
  version: 1;
  measuredOn: { release: string; arch: string; cpu: string; cpus: number };
  quick: boolean;
  /** Memory notes, e.g. a size reduced because it did not fit. */
  notes: string[];
  rows: BenchRow[];
  costs: KernelCosts;
}

export interface KernelBenchOptions {
  /** Small sizes (64 MiB, 256 MiB), fewer samples: for CI and benches. */
  quick?: boolean;
  /** Override the sizes (bytes, multiples of the page size). */
  sizes?: number[];
  model?: ModelBenchSide;
  /** Progress lines (stderr in the CLI). */
  onProgress?: (line: string) => void;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
export const SCAN_PCTS = [0, 1, 10, 100] as const;

function now(): bigint {
  return process.hrtime.bigint();
}

/** MemAvailable from /proc/meminfo in bytes (Infinity if unreadable). */
export function memAvailable(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'));
    return m ? Number(m[1]) * 1024 : Number.POSITIVE_INFINITY;
  } catch {
    return Number.POSITIVE_INFINITY;
  }
}

/**
 * The size to measure when `want` bytes are wanted and `avail` are available: halved until it
 * leaves a quarter of itself plus 512 MiB to everything else, but never below 64 MiB.
 */
export function fitSize(want: number, avail: number): number {
  let size = want;
  while (size > 64 * MiB && size * 1.25 + 512 * MiB > avail) size /= 2;
  return size;
}

/** Pages written for a given percentage: every (100/pct)-th page, spread over the range. */
export function writtenPages(pages: number, pct: number): number {
  if (pct <= 0) return 0;
  const stride = Math.round(100 / pct);
  return Math.ceil(pages / stride);
}

function writePct(r: KernelRegion, pct: number): void {
  if (pct <= 0) return;
  if (pct >= 100) {
    r.fill(0, r.pages, 2);
    return;
  }
  const stride = Math.round(100 / pct);
  for (let p = 0; p < r.pages; p += stride) r.store(p, 0, 3);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
}

function row(work: BenchWork, sizeBytes: number, samples: number[], model?: ModelBenchSide): BenchRow {
  const m = model ? model.measure(work) : null;
  const kernel = Math.min(...samples);
  return {
    ...work,
    sizeBytes,
    unit: work.op === 'wpFault' ? 'ns/fault' : 'ns/page',
    kernel,
    kernelMedian: median(samples),
    model: m,
    ratio: m === null ? null : m / kernel,
    samples: samples.length,
  };
}

function measureSize(bytes: number, quick: boolean, opts: KernelBenchOptions): BenchRow[] {
  const say = opts.onProgress ?? (() => {});
  // Cheap measurements get more samples: the best of several is what survives a loaded machine.
  // The 100% scan needs a write fault per page before each sample, so it gets fewer.
  const samples = quick ? 3 : bytes > GiB ? 4 : 7;
  const r = new KernelBackend().open(bytes / 4096);
  const P = r.pages;
  const rows: BenchRow[] = [];
  try {
    say(`populating ${bytes / MiB} MiB`);
    r.fill(0, P, 1);
    // write-protect: populated, written pages -> uffd-wp. Between samples, mode 0 makes them
    // written again without faults.
    const wpSamples: number[] = [];
    for (let s = 0; s < samples; s++) {
      if (s > 0) r.unprotect(0, P);
      const t0 = now();
      const out = r.armWriteProtect(0, P);
      const dt = Number(now() - t0);
      if (!out.ok) throw new Error(`UFFDIO_WRITEPROTECT failed: ${out.errno}`);
      wpSamples.push(dt / P);
    }
    const wpRow = row({ op: 'writeProtect', pages: P }, bytes, wpSamples, opts.model);
    rows.push(wpRow);
    say(`writeProtect ${bytes / MiB} MiB: ${wpRow.kernel.toFixed(2)} ns/page`);

    // scan-and-reprotect with a fraction written
    for (const pct of SCAN_PCTS) {
      const totals: number[] = [];
      const expect = writtenPages(P, pct);
      const n = pct >= 100 ? Math.min(samples, 5) : samples;
      for (let s = 0; s < n; s++) {
        writePct(r, pct);
        const t0 = now();
        const res = scanToEnd(r, {
          startPage: 0,
          endPage: P,
          flags: PM_SCAN_WP_MATCHING,
          categoryMask: PAGE_IS_WRITTEN,
          returnMask: PAGE_IS_WRITTEN,
        });
        const dt = Number(now() - t0);
        const got = pct >= 100 ? P : pagesOf(res.regions).length;
        if (got !== expect) throw new Error(`scan at ${pct}%: reported ${got} pages, wrote ${expect}`);
        totals.push(dt);
      }
      const sr = row(
        { op: 'scanReprotect', pages: P, writtenPct: pct },
        bytes,
        totals.map((t) => t / P),
        opts.model,
      );
      rows.push(sr);
      say(`scanReprotect ${bytes / MiB} MiB ${pct}%: ${sr.kernel.toFixed(2)} ns/page`);
    }

    // first write to a protected page: all pages are protected after the 100% scan. Timed in
    // batches of 1024 faults so that a preemption spoils one batch, not the figure.
    const F = Math.min(P, 1 << 18); // within one 1 GiB view
    const v = r.bytes(0, F);
    const BATCH = 1024;
    const faultSamples: number[] = [];
    for (let lo = 0; lo + BATCH <= F; lo += BATCH) {
      const t0 = now();
      for (let i = lo; i < lo + BATCH; i++) v[i * 4096] = 4;
      faultSamples.push(Number(now() - t0) / BATCH);
    }
    const fr = row({ op: 'wpFault', pages: faultSamples.length * BATCH }, bytes, faultSamples, opts.model);
    rows.push(fr);
    say(
      `wpFault (${fr.pages} pages): ${fr.kernel.toFixed(1)} ns/fault (median ${fr.kernelMedian.toFixed(1)})`,
    );
    return rows;
  } finally {
    r.close();
  }
}

/**
 * The cost-model figures from measured rows: each is the best (lowest) over the sizes measured,
 * since a per-page cost should not depend on the size and the best is the one least disturbed by
 * other load. Differences use rows of the same size.
 */
export function costsFromRows(rows: readonly BenchRow[], measuredOn: string): KernelCosts {
  const min = (xs: number[]) => (xs.length ? Math.min(...xs) : Number.NaN);
  const of = (op: BenchWork['op'], pct?: number) => rows.filter((x) => x.op === op && x.writtenPct === pct);
  const sizes = [...new Set(rows.map((x) => x.sizeBytes))];
  const scan = (size: number, pct: number) => of('scanReprotect', pct).find((x) => x.sizeBytes === size);
  const perWritten = (pct: number) =>
    sizes.flatMap((sz) => {
      const a = scan(sz, pct);
      const z = scan(sz, 0);
      return a && z ? [((a.kernel - z.kernel) * a.pages) / writtenPages(a.pages, pct)] : [];
    });
  return {
    wpFaultNs: round3(min(of('wpFault').map((x) => x.kernel))),
    wpWalkNsPerPage: round3(min(of('writeProtect').map((x) => x.kernel))),
    scanNsPerPage: round3(min(of('scanReprotect', 0).map((x) => x.kernel))),
    scanNsPerWrittenPage: round3(Math.max(0, min(perWritten(100)))),
    scanNsPerIsolatedWrittenPage: round3(Math.max(0, min(perWritten(1)))),
    measuredOn,
  };
}

/** Run the measurements. Call probeKernel() first; this throws if the kernel lacks the features. */
export function runKernelBench(opts: KernelBenchOptions = {}): KernelBenchResult {
  const quick = opts.quick ?? false;
  const wanted = opts.sizes ?? (quick ? [64 * MiB, 256 * MiB] : [GiB, 4 * GiB]);
  const notes: string[] = [];
  const cpu = cpus()[0]?.model ?? 'unknown';
  const measuredOn = { release: release(), arch: arch(), cpu, cpus: cpus().length };
  const rows: BenchRow[] = [];
  for (const want of wanted) {
    const avail = memAvailable();
    const size = fitSize(want, avail);
    if (size !== want) {
      notes.push(
        `memory short: ${want / MiB} MiB wanted, ${Math.floor(avail / MiB)} MiB available; measured ${size / MiB} MiB`,
      );
    }
    rows.push(...measureSize(size, quick, opts));
  }
  if (rows.length === 0) throw new Error('no sizes to measure');
  const costs = costsFromRows(
    rows,
    `Linux ${measuredOn.release} ${measuredOn.arch}, ${cpu} (${measuredOn.cpus} CPUs)`,
  );
  return { version: 1, measuredOn, quick, notes, rows, costs };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
