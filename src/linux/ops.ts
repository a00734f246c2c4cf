/**
 * Operation sequences as data: one JSON-serialisable vocabulary of {@link Region} operations, a
 * function that applies one to any backend and returns a comparable result, and an observation
 * of everything a scan can see. Differential runs (test/linux/contract.test.ts, and
 * `dirtyscope kernel diff`) apply the same sequence to two backends and compare
 * {@link applyOp} results and {@link observe} snapshots with deep equality.
 */
import { PM_SCAN_CATEGORIES, PM_SCAN_WP_MATCHING } from './pagemap-scan.ts';
import { type Prot, type Region, type ScanRequest, TrackingAccessError } from './tracking.ts';

/** One operation on a region; page indices are relative. */
export type TrackingOp =
  | { k: 'store'; p: number; v: number }
  | { k: 'load'; p: number }
  | { k: 'fill'; s: number; n: number }
  | { k: 'wp' | 'unprotect' | 'dontneed' | 'unmap' | 'remap'; s: number; n: number }
  | { k: 'mprotect'; s: number; n: number; prot: Prot }
  | { k: 'scan'; req: ScanRequest };

/**
 * Apply `op`. Results: `'ok'` for store/fill, the byte for load, the OpOutcome/ScanOutcome of
 * the other operations, and `{access: page}` where the real machine would raise SIGSEGV.
 * Stores go to byte `p % pageSize` of page `p` (so different pages get different offsets); fill
 * writes 7.
 */
export function applyOp(r: Region, op: TrackingOp): unknown {
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
      case 'scan':
        return r.scan(op.req);
    }
  } catch (e) {
    if (e instanceof TrackingAccessError) return { access: e.page };
    throw e;
  }
}

/** Everything observable without changing state: all categories (one full scan) and protections. */
export function observe(r: Region): { scan: unknown; prots: (Prot | null)[] } {
  const scan = r.scan({ startPage: 0, endPage: r.pages, categoryMask: 0, returnMask: PM_SCAN_CATEGORIES });
  const prots: (Prot | null)[] = new Array(r.pages);
  for (let p = 0; p < r.pages; p++) prots[p] = r.protOf(p);
  return { scan, prots };
}

/**
 * True if `op` is inside the comparable contract (tracking.ts): everything except a scan with
 * `vecLen = 0` and PM_SCAN_WP_MATCHING (the kernel's page-table-dependent fast path).
 */
export function isComparable(op: TrackingOp): boolean {
  return !(op.k === 'scan' && op.req.vecLen === 0 && ((op.req.flags ?? 0) & PM_SCAN_WP_MATCHING) !== 0);
}
