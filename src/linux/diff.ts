/**
 * Differential runs of the tracking API (`dirtyscope kernel diff`): seeded random operation
 * sequences applied to two {@link TrackingBackend}s (the real kernel and the model), every result
 * compared, and a mismatch shrunk to a shortest sequence that still shows it (delta debugging).
 *
 * Generated operations (src/linux/ops.ts vocabulary): stores to random pages, loads, fills of
 * short ranges, write-protect and unprotect of ranges, scans with and without WP_MATCHING (the
 * common "written pages" scan, cut-offs by max_pages and vec_len, random masks, inverted and
 * anyof masks, sub-ranges, an unaligned end), mprotect to none/read/rw, MADV_DONTNEED, munmap
 * and re-mmap of sub-ranges, on MAP_SHARED (3 in 4) and MAP_PRIVATE regions of 4..48 pages, and
 * one sequence in 16 on 600..1100 pages (several PTE tables). Never generated: a scan with
 * vec_len 0 and WP_MATCHING (the kernel's page-table-dependent fast path, outside the contract
 * of tracking.ts), huge pages (the real backend excludes THP).
 *
 * Compared: the result of every operation (applyOp) and, at the end of each sequence, the full
 * category map and protections (observe). Same seed, same sequences, same report.
 */
import { Prng } from '../checker/prng.ts';
import { applyOp, isComparable, observe, type TrackingOp } from './ops.ts';
import {
  PAGE_IS_FILE,
  PAGE_IS_PRESENT,
  PAGE_IS_SWAPPED,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PM_SCAN_CATEGORIES,
  PM_SCAN_WP_MATCHING,
} from './pagemap-scan.ts';
import type { Prot, ScanRequest, TrackingBackend } from './tracking.ts';

/** One generated sequence. */
export interface DiffCase {
  /** Index of the sequence in the run (its PRNG seed is `seqSeed(seed, index)`). */
  index: number;
  pages: number;
  shared: boolean;
  ops: TrackingOp[];
}

/** One step where the backends disagree (`step = ops.length` is the final observation). */
export interface StepResult {
  step: number;
  op: TrackingOp | null;
  a: unknown;
  b: unknown;
}

/** A mismatch, shrunk. */
export interface DiffMismatch {
  index: number;
  pages: number;
  shared: boolean;
  /** Length of the sequence as generated. */
  originalLength: number;
  /** The shortest sequence found that still mismatches. */
  ops: TrackingOp[];
  /** Results of every step of `ops` on both backends (a = first backend, b = second). */
  steps: StepResult[];
  /** Index into `steps` of the first disagreement. */
  firstDiff: number;
  /** Sequence runs spent shrinking. */
  shrinkRuns: number;
}

export interface DiffReport {
  version: 1;
  backends: [string, string];
  seed: number;
  sequences: number;
  length: number;
  /** Sequences run (fewer than `sequences` if a mismatch stopped the run). */
  ran: number;
  /** Operations applied per backend. */
  ops: number;
  agreed: boolean;
  mismatch: DiffMismatch | null;
}

export interface DiffOptions {
  sequences: number;
  length: number;
  seed: number;
  /** Fixed region size instead of the random mix. */
  pages?: number;
  /** Called every `progressEvery` sequences (stderr progress in the CLI). */
  onProgress?: (done: number, total: number) => void;
  progressEvery?: number;
}

const PROTS: readonly Prot[] = ['none', 'read', 'rw'];
const CATS = [PAGE_IS_WPALLOWED, PAGE_IS_WRITTEN, PAGE_IS_FILE, PAGE_IS_PRESENT, PAGE_IS_SWAPPED];

/** A random mask over the categories that occur (plus, rarely, any accepted bit). */
function mask(g: Prng): number {
  const r = g.below(8);
  if (r === 0) return 0;
  if (r === 1) return g.below(PM_SCAN_CATEGORIES + 1);
  let m = 0;
  const n = 1 + g.below(2);
  for (let i = 0; i < n; i++) m |= CATS[g.below(CATS.length)]!;
  return m;
}

function range(g: Prng, pages: number, maxLen: number): { s: number; n: number } {
  const s = g.below(pages);
  const n = Math.min(pages - s, g.below(Math.min(maxLen, pages) + 1));
  return { s, n };
}

function scanOp(g: Prng, pages: number): TrackingOp {
  const wp = g.below(2) === 0;
  const whole = g.below(3) !== 0;
  const r = whole ? { s: 0, n: pages } : range(g, pages, pages);
  const req: ScanRequest = { startPage: r.s, endPage: r.s + r.n };
  if (wp) req.flags = PM_SCAN_WP_MATCHING;
  const kind = g.below(10);
  if (kind >= 6) {
    // random masks: which categories, which returned
    req.categoryMask = mask(g);
    if (g.below(3) === 0) req.categoryInverted = mask(g);
    if (g.below(3) === 0) req.categoryAnyofMask = mask(g);
    req.returnMask = g.below(2) === 0 ? PM_SCAN_CATEGORIES : mask(g);
  }
  const cut = g.below(4);
  if (cut === 1) req.maxPages = 1 + g.below(Math.max(1, Math.min(pages, 24)));
  else if (cut === 2)
    req.vecLen = g.below(6); // 0 only without WP (filtered below)
  else if (cut === 3) {
    req.maxPages = 1 + g.below(8);
    req.vecLen = 1 + g.below(4);
  }
  if (g.below(16) === 0 && r.n > 0) req.endByteOffset = -(1 + g.below(4095)); // end rounds up
  const op: TrackingOp = { k: 'scan', req };
  if (!isComparable(op)) req.vecLen = 1;
  return op;
}

/** One random operation on a region of `pages` pages. */
export function randomOp(g: Prng, pages: number): TrackingOp {
  const w = g.below(100);
  if (w < 30) return { k: 'store', p: g.below(pages), v: g.below(256) };
  if (w < 35) return { k: 'load', p: g.below(pages) };
  if (w < 39) return { k: 'fill', ...range(g, pages, 8) };
  if (w < 51) return g.below(4) === 0 ? { k: 'wp', ...range(g, pages, pages) } : { k: 'wp', s: 0, n: pages };
  if (w < 54) return { k: 'unprotect', ...range(g, pages, pages) };
  if (w < 80) return scanOp(g, pages);
  if (w < 87) return { k: 'mprotect', ...range(g, pages, pages), prot: PROTS[g.below(3)]! };
  if (w < 92) return { k: 'dontneed', ...range(g, pages, pages) };
  if (w < 96) return { k: 'unmap', ...range(g, pages, Math.max(1, pages >> 2)) };
  return { k: 'remap', ...range(g, pages, Math.max(1, pages >> 2)) };
}

/** The PRNG seed of sequence `index`: a mix of the run's seed and the index (splitmix32). */
export function seqSeed(seed: number, index: number): number {
  let z = (seed ^ Math.imul(index + 1, 0x9e3779b9)) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** Sequence `index` of a run with `seed` (independent of every other sequence). */
export function generateCase(seed: number, index: number, length: number, pages?: number): DiffCase {
  const g = new Prng(seqSeed(seed, index));
  const shared = g.below(4) !== 0;
  const n = pages ?? (g.below(16) === 0 ? 600 + g.below(501) : 4 + g.below(45));
  const ops: TrackingOp[] = new Array(length);
  for (let i = 0; i < length; i++) ops[i] = randomOp(g, n);
  return { index, pages: n, shared, ops };
}

/** Structural equality of plain data (JSON-like values). */
export function sameData(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x)) {
    if (!Array.isArray(y) || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!sameData(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(y)) return false;
  const kx = Object.keys(x);
  const ky = Object.keys(y);
  if (kx.length !== ky.length) return false;
  for (const key of kx) {
    if (!Object.hasOwn(y, key)) return false;
    if (!sameData((x as Record<string, unknown>)[key], (y as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/** A backend error (not a result): carried as data so it can be compared and shown. */
function guarded(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    return { threw: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

/**
 * Run `ops` on a fresh region of each backend. Returns the index of the first disagreeing step
 * (ops.length = the final observation), or -1; with `record`, every step's results.
 */
export function runCase(
  a: TrackingBackend,
  b: TrackingBackend,
  c: { pages: number; shared: boolean; ops: readonly TrackingOp[] },
  record: StepResult[] | null = null,
): number {
  const ra = a.open(c.pages, { shared: c.shared });
  const rb = b.open(c.pages, { shared: c.shared });
  try {
    let first = -1;
    for (let i = 0; i <= c.ops.length; i++) {
      const op = i < c.ops.length ? c.ops[i]! : null;
      const xa = guarded(() => (op === null ? observe(ra) : applyOp(ra, op)));
      const xb = guarded(() => (op === null ? observe(rb) : applyOp(rb, op)));
      if (record !== null) record.push({ step: i, op, a: xa, b: xb });
      if (!sameData(xa, xb)) {
        first = i;
        if (record === null) break;
        if (op === null || (typeof xa === 'object' && xa !== null && 'threw' in xa)) break;
      }
    }
    return first;
  } finally {
    ra.close();
    rb.close();
  }
}

/**
 * Delta debugging (ddmin, complement removal): drop chunks of the sequence, halving the chunk
 * size, keeping every removal after which the backends still disagree, until no single operation
 * can be dropped. Returns the shrunk sequence and the number of runs spent.
 */
export function shrink(
  a: TrackingBackend,
  b: TrackingBackend,
  c: DiffCase,
): { ops: TrackingOp[]; runs: number } {
  let ops = c.ops.slice();
  let runs = 0;
  const fails = (xs: TrackingOp[]): boolean => {
    runs++;
    return runCase(a, b, { pages: c.pages, shared: c.shared, ops: xs }) >= 0;
  };
  // first cut: everything after the first disagreement is irrelevant
  const first = runCase(a, b, c);
  runs++;
  if (first >= 0 && first < ops.length) ops = ops.slice(0, first + 1);
  let chunk = Math.max(1, ops.length >> 1);
  for (;;) {
    let removed = false;
    for (let at = 0; at < ops.length; ) {
      const cand = ops.slice(0, at).concat(ops.slice(at + chunk));
      if (cand.length < ops.length && fails(cand)) {
        ops = cand;
        removed = true;
      } else at += chunk;
    }
    if (chunk === 1 && !removed) break;
    if (!removed) chunk = Math.max(1, chunk >> 1);
  }
  return { ops, runs };
}

/** Run `opts.sequences` sequences on `a` and `b`; stop at the first mismatch and shrink it. */
export function runDiff(a: TrackingBackend, b: TrackingBackend, opts: DiffOptions): DiffReport {
  const report: DiffReport = {
    version: 1,
    backends: [a.name, b.name],
    seed: opts.seed,
    sequences: opts.sequences,
    length: opts.length,
    ran: 0,
    ops: 0,
    agreed: true,
    mismatch: null,
  };
  const every = opts.progressEvery ?? 500;
  for (let i = 0; i < opts.sequences; i++) {
    const c = generateCase(opts.seed, i, opts.length, opts.pages);
    const first = runCase(a, b, c);
    report.ran++;
    report.ops += first < 0 ? c.ops.length : Math.min(first + 1, c.ops.length);
    if (first >= 0) {
      const { ops, runs } = shrink(a, b, c);
      const steps: StepResult[] = [];
      runCase(a, b, { pages: c.pages, shared: c.shared, ops }, steps);
      const firstDiff = steps.findIndex((s) => !sameData(s.a, s.b));
      report.agreed = false;
      report.mismatch = {
        index: i,
        pages: c.pages,
        shared: c.shared,
        originalLength: c.ops.length,
        ops,
        steps,
        firstDiff,
        shrinkRuns: runs,
      };
      break;
    }
    if (opts.onProgress !== undefined && (i + 1) % every === 0) opts.onProgress(i + 1, opts.sequences);
  }
  return report;
}
