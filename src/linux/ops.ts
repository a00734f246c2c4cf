/**
 * Operation sequences as data: one JSON-serialisable vocabulary of {@link Region} operations, a
 * function that applies one to any backend and returns a comparable result, and an observation
 * of everything a scan can see. Differential runs (test/linux/contract.test.ts, and
 * `dirtyscope kernel diff`) apply the same sequence to two backends and compare
 * {@link applyOp} results and {@link observe} snapshots with deep equality.
 */
import { PM_SCAN_CATEGORIES, PM_SCAN_WP_MATCHING } from './pagemap-scan.ts';
import {
  type PageRegion,
  type Prot,
  type Region,
  type ScanOutcome,
  type ScanRequest,
  TrackingAccessError,
} from './tracking.ts';

/**
 * Limits of a scan given relative to its own unlimited answer: before the scan, the same request
 * without WP_MATCHING, `max_pages` and `vec_len` (side-effect free) counts the regions `n` and
 * pages `m` it reports; the scan then uses `vec_len = max(1, n + vec)` and
 * `max_pages = max(1, m + max)`. This is how a generator reaches `vec_len` equal to, one below
 * and one above the result, and a `max_pages` cut at an exact page, without knowing the state.
 */
export interface RelativeLimits {
  vec?: number;
  max?: number;
}

/** One operation on a region; page indices are relative. */
export type TrackingOp =
  | { k: 'store'; p: number; v: number }
  | { k: 'load'; p: number }
  | { k: 'fill'; s: number; n: number }
  /** One store (`write`) or load per page `s, s + step, ...` below `s + n`. */
  | { k: 'touch'; s: number; n: number; step: number; write: boolean }
  | { k: 'wp' | 'unprotect' | 'dontneed' | 'unmap' | 'remap'; s: number; n: number }
  | { k: 'mprotect'; s: number; n: number; prot: Prot }
  /** One PAGEMAP_SCAN call. */
  | { k: 'scan'; req: ScanRequest; rel?: RelativeLimits }
  /**
   * The resumption loop as callers write it: scan `[start, end)`, then again from `walk_end`
   * while `walk_end < end` (at most {@link MAX_RESUME_CALLS} calls).
   */
  | { k: 'scanAll'; req: ScanRequest; rel?: RelativeLimits };

/** Cap on the calls of one `scanAll` (a loop that never ends is reported, not hung on). */
export const MAX_RESUME_CALLS = 50_000;

/** Result of a `scanAll` op. */
export type ScanAllOutcome =
  | { ok: true; calls: number; walkEnds: number[]; regions: PageRegion[]; capped?: true }
  | { ok: false; errno: string; calls: number; walkEnds: number[]; regions: PageRegion[] };

/** What a relative-limit probe found (part of the op's result, so both sides compare it too). */
export interface ProbeInfo {
  regions: number;
  pages: number;
}

/**
 * Side facts of one {@link applyOp} call that are not results (coverage bookkeeping): the probe
 * regions of a relative scan, the per-store fault runs of a store.
 */
export interface OpInfo {
  probe: PageRegion[] | null;
  /** Resolved request of a scan/scanAll (relative limits applied). */
  req: ScanRequest | null;
}

/** Page `p`'s value for a store in a `touch` (different pages get different bytes). */
export const touchValue = (p: number): number => (p * 7 + 1) & 0xff;

/** The page range an op acts on (`[s, e)`), for pagemap comparison and coverage. */
export function opRange(op: TrackingOp): { s: number; e: number } {
  switch (op.k) {
    case 'store':
    case 'load':
      return { s: op.p, e: op.p + 1 };
    case 'scan':
    case 'scanAll':
      return { s: op.req.startPage, e: Math.max(op.req.startPage, op.req.endPage) };
    default:
      return { s: op.s, e: op.s + op.n };
  }
}

function resolve(r: Region, op: { req: ScanRequest; rel?: RelativeLimits }, info: OpInfo | null) {
  const req: ScanRequest = { ...op.req };
  let probe: ProbeInfo | null = null;
  if (op.rel !== undefined) {
    const q: ScanRequest = { ...op.req, flags: (op.req.flags ?? 0) & ~PM_SCAN_WP_MATCHING, maxPages: 0 };
    delete q.vecLen;
    const p = r.scan(q);
    if (p.ok) {
      let pages = 0;
      for (const x of p.regions) pages += x.end - x.start;
      probe = { regions: p.regions.length, pages };
      if (op.rel.vec !== undefined) req.vecLen = Math.max(1, probe.regions + op.rel.vec);
      if (op.rel.max !== undefined) req.maxPages = Math.max(1, probe.pages + op.rel.max);
      if (info !== null) info.probe = p.regions;
    }
  }
  if (info !== null) info.req = req;
  return { req, probe };
}

/** The resumption loop (see {@link TrackingOp} `scanAll`). */
export function scanResumed(r: Region, req: ScanRequest): ScanAllOutcome {
  const walkEnds: number[] = [];
  const regions: PageRegion[] = [];
  let start = req.startPage;
  for (let calls = 1; ; calls++) {
    const x: ScanOutcome = r.scan({ ...req, startPage: start });
    if (!x.ok) return { ok: false, errno: x.errno, calls, walkEnds, regions };
    walkEnds.push(x.walkEnd);
    for (const g of x.regions) regions.push(g);
    if (x.walkEnd >= req.endPage) return { ok: true, calls, walkEnds, regions };
    if (calls >= MAX_RESUME_CALLS) return { ok: true, calls, walkEnds, regions, capped: true };
    start = x.walkEnd;
  }
}

/**
 * Apply `op`. Results: `'ok'` for store/fill/written touch, the byte for load, a checksum for a
 * read touch, the OpOutcome/ScanOutcome of the other operations (with `probe` for relative
 * limits), and `{access: page}` where the real machine would raise SIGSEGV (a touch stops
 * there). Stores go to byte `p % pageSize` of page `p` (so different pages get different
 * offsets); fill writes 7. `info`, if given, receives side facts for coverage.
 */
export function applyOp(r: Region, op: TrackingOp, info: OpInfo | null = null): unknown {
  try {
    switch (op.k) {
      case 'store':
        r.store(op.p, op.p % r.pageSize, op.v);
        return 'ok';
      case 'load':
        return r.load(op.p, op.p % r.pageSize);
      case 'fill':
        r.fill(op.s, op.n, 7);
        return 'ok';
      case 'touch': {
        let sum = 0;
        for (let p = op.s; p < op.s + op.n; p += op.step) {
          if (op.write) r.store(p, p % r.pageSize, touchValue(p));
          else sum = (sum * 31 + r.load(p, p % r.pageSize)) % 2147483647;
        }
        return op.write ? 'ok' : { sum };
      }
      case 'wp':
        return r.armWriteProtect(op.s, op.n);
      case 'unprotect':
        return r.unprotect(op.s, op.n);
      case 'dontneed':
        return r.dontneed(op.s, op.n);
      case 'unmap':
        return r.unmap(op.s, op.n);
      case 'remap':
        return r.remap(op.s, op.n);
      case 'mprotect':
        return r.mprotect(op.s, op.n, op.prot);
      case 'scan': {
        const { req, probe } = resolve(r, op, info);
        const x = r.scan(req);
        return probe === null ? x : { ...x, probe };
      }
      case 'scanAll': {
        const { req, probe } = resolve(r, op, info);
        const x = scanResumed(r, req);
        return probe === null ? x : { ...x, probe };
      }
    }
  } catch (e) {
    if (e instanceof TrackingAccessError) return { access: e.page };
    throw e;
  }
}

/** A run `[start, end)` of pages with one protection (`null`: unmapped). */
export interface ProtRun {
  start: number;
  end: number;
  prot: Prot | null;
}

/**
 * Everything observable without changing state: all categories (one full scan) and the
 * protections, run-length encoded.
 */
export function observe(r: Region): { scan: unknown; prots: ProtRun[] } {
  const scan = r.scan({ startPage: 0, endPage: r.pages, categoryMask: 0, returnMask: PM_SCAN_CATEGORIES });
  const prots: ProtRun[] = [];
  for (let p = 0; p < r.pages; p++) {
    const x = r.protOf(p);
    const last = prots[prots.length - 1];
    if (last !== undefined && last.prot === x) last.end = p + 1;
    else prots.push({ start: p, end: p + 1, prot: x });
  }
  return { scan, prots };
}

/**
 * True if `op` is inside the comparable contract (tracking.ts): everything except a scan with
 * `vecLen = 0` and PM_SCAN_WP_MATCHING (the kernel's page-table-dependent fast path).
 */
export function isComparable(op: TrackingOp): boolean {
  if (op.k !== 'scan' && op.k !== 'scanAll') return true;
  return !(op.req.vecLen === 0 && ((op.req.flags ?? 0) & PM_SCAN_WP_MATCHING) !== 0);
}
