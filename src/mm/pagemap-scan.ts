/**
 * The PAGEMAP_SCAN ioctl (spec §10.2) on the simulated kernel: walk [start, end) of one mm with
 * walkPageRange, classify every page into categories, report runs of matching pages as regions,
 * and with PM_SCAN_WP_MATCHING write-protect (uffd-wp) the written pages it reports, under the
 * PTE table's lock, with the TLB flush for the modified span done before that lock is dropped.
 *
 * Categories per entry (what the kernel derives from the page tables):
 * - present PTE: PRESENT; WRITTEN unless it has the uffd-wp bit; FILE if it maps a page-cache
 *   page (a normal page that is not anonymous);
 * - uffd-wp marker (userfaultfd.ts): SWAPPED (a marker is a swap-format entry), not WRITTEN;
 * - empty PTE, or no PTE table at all, in a VMA registered for uffd-wp: WRITTEN (Linux 6.18 with
 *   the 2026 fixes for unpopulated PTEs and PMD holes; spec §10.2 describes the older behaviour);
 * - a huge PMD leaf: PRESENT | HUGE, WRITTEN unless uffd-wp, FILE as above;
 * - every page of a VMA that is WP-async capable with markers: WPALLOWED.
 * PFNZERO never occurs (the model has no shared zero page), nor SOFT_DIRTY (not compiled in on
 * the reference machine) or GUARD.
 *
 * Output follows the kernel's bounce-buffer logic exactly: a region extends the previous one if
 * it starts where that ends with equal reported categories; `max_pages` truncates the output and
 * stops the walk; a region that does not fit in `vec_len` stops it; `walk_end` is where the
 * output stopped (else `end`). `vec_len = 0` reports nothing, and with PM_SCAN_WP_MATCHING takes
 * the kernel's "exclusive WP" fast path (every entry of an existing PTE table is protected).
 *
 * Validation, in the kernel's order: size (-EINVAL), unknown flags (-EINVAL), unknown category
 * bits in any mask (-EINVAL), unaligned start (-EINVAL), end < start (-EFAULT), NULL vec with a
 * non-zero vec_len (-EINVAL). CHECK_WPASYNC on a VMA that is not WP-async capable: -EPERM.
 */
import { type KGen, runToCompletion } from '../checker/task.ts';
import { entryIndexAt } from '../hw/pagetable.ts';
import {
  entryHuge,
  LEVEL_PTE,
  PTE_PRESENT,
  PTE_UFFD_WP,
  pfn2m,
  wrprotectHi,
  wrprotectLo,
} from '../hw/pte.ts';
import type { Kernel } from './kernel.ts';
import { setPteAt, vmNormalPage } from './memory.ts';
import { type MmStruct, VM_HUGETLB, VM_PFNMAP, type Vma } from './mm-types.ts';
import {
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { type MmWalk, type MmWalkOps, PageWalkAction, walkPageRange } from './pagewalk.ts';
import { flushTlbRange } from './tlbflush.ts';
import {
  isUffdWpMarker,
  PTE_MARKER_UFFD_WP_LO,
  uffdCtxOf,
  uffdWpRange,
  userfaultfdWpAsync,
  userfaultfdWpUseMarkers,
} from './userfaultfd.ts';

// Imported constants are read through module-namespace getters when tsx loads modules as CJS
// (measured: ~12% of a scan); hot loops read these module-local copies instead.
const P_PRESENT = PTE_PRESENT;
const P_UFFD_WP = PTE_UFFD_WP;
const MARKER_LO = PTE_MARKER_UFFD_WP_LO;
// Imported functions too (each call through a namespace getter otherwise): used per written page.
const wrLo = wrprotectLo;
const wrHi = wrprotectHi;
const setPte = setPteAt;

// Category bits and flags (linux/fs.h values; src/linux/pagemap-scan.ts has the same for the ABI).
export const PAGE_IS_WPALLOWED = 1 << 0;
export const PAGE_IS_WRITTEN = 1 << 1;
export const PAGE_IS_FILE = 1 << 2;
export const PAGE_IS_PRESENT = 1 << 3;
export const PAGE_IS_SWAPPED = 1 << 4;
export const PAGE_IS_PFNZERO = 1 << 5;
export const PAGE_IS_HUGE = 1 << 6;
export const PAGE_IS_SOFT_DIRTY = 1 << 7;
export const PAGE_IS_GUARD = 1 << 8;
/** Category bits the 6.18 kernel accepts in masks. */
export const PM_SCAN_CATEGORIES = 0x1ff;
export const PM_SCAN_WP_MATCHING = 1 << 0;
export const PM_SCAN_CHECK_WPASYNC = 1 << 1;
export const PM_SCAN_FLAGS = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
/** sizeof(struct pm_scan_arg). */
export const PM_SCAN_ARG_SIZE = 96;
/** Regions in the kernel's bounce buffer (PAGEMAP_WALK_SIZE >> PAGE_SHIFT). */
export const PM_SCAN_BOUNCE_REGIONS = 512;

const EINVAL = 22;
const EFAULT = 14;
const EPERM = 1;
/** The walk's internal "output full" stop code (-ENOSPC). */
const ENOSPC = 28;

/** struct pm_scan_arg (inputs). Addresses are plain numbers (user virtual addresses). */
export interface PmScanArg {
  size: number;
  flags: number;
  start: number;
  end: number;
  /** `vec` is NULL. */
  vecNull: boolean;
  vecLen: number;
  /** 0 = unlimited. */
  maxPages: number;
  categoryInverted: number;
  categoryMask: number;
  categoryAnyofMask: number;
  returnMask: number;
}

/** Defaults for a "which pages were written" scan of [start, end). */
export function pmScanArg(start: number, end: number, over: Partial<PmScanArg> = {}): PmScanArg {
  return {
    size: PM_SCAN_ARG_SIZE,
    flags: 0,
    start,
    end,
    vecNull: false,
    vecLen: Math.max(1, Math.ceil((end - start) / 4096)),
    maxPages: 0,
    categoryInverted: 0,
    categoryMask: PAGE_IS_WRITTEN,
    categoryAnyofMask: 0,
    returnMask: PAGE_IS_WRITTEN,
    ...over,
  };
}

/**
 * Result: `ret` is the number of regions (>= 0) or -errno. `starts`/`ends`/`categories` hold the
 * regions (addresses); `walkEnd` is the address the walk got to (`end` if complete).
 */
export interface PmScanResult {
  ret: number;
  walkEnd: number;
  starts: number[];
  ends: number[];
  categories: number[];
}

/**
 * {@link PmScanResult} with the regions in typed arrays (the first `ret` entries; empty on an
 * error): what {@link pagemapScanRaw} returns, no per-region array growth.
 */
export interface PmScanRawResult {
  ret: number;
  walkEnd: number;
  starts: Float64Array;
  ends: Float64Array;
  categories: Int32Array;
}

/** Per-call state (struct pagemap_scan_private); one object per ioctl, none per page. */
interface ScanState {
  k: Kernel;
  arg: PmScanArg;
  wp: boolean;
  maxPages: number;
  /** Regions still allowed in total (vec_len left). */
  vecLeft: number;
  /** Bounce buffer capacity for the current chunk. */
  bufCap: number;
  /** Regions in the current chunk. */
  bufN: number;
  /** The open region (last of the output), or curEnd = 0 if none. */
  curStart: number;
  curEnd: number;
  curCat: number;
  foundPages: number;
  /**
   * `walk_end`: where the last full batch (or the max_pages cut) stopped; 0 if none did. Like
   * the kernel's `p.arg.walk_end` it is NOT reset between batches (see {@link pagemapScanRaw}).
   */
  walkEnd: number;
  /** The current batch is full (the walk stops with -ENOSPC). */
  stop: boolean;
  curVmaCategory: number;
  /** The VMA is registered for uffd-wp: empty entries are WRITTEN. */
  curVmaUffd: boolean;
  /** FILE is in a mask (masks_of_interest): only then is the page looked up. */
  wantFile: boolean;
  /** The plain "written pages" request (mask = return = WRITTEN, no anyof/inverted). */
  writtenOnly: boolean;
  /** End of the clipped range of the VMA being walked. */
  vmaEnd: number;
  /** Span modified under the current PTL, to flush before it is dropped (0/0 = none). */
  flushStart: number;
  flushEnd: number;
  /** Output: `nOut` regions in growable typed arrays (perf: ~3x cheaper than three pushes). */
  starts: Float64Array;
  ends: Float64Array;
  cats: Int32Array;
  nOut: number;
}

/** Double the output arrays of `st`. */
function growOut(st: ScanState): void {
  const cap = Math.max(16, st.starts.length * 2);
  const s = new Float64Array(cap);
  s.set(st.starts);
  st.starts = s;
  const e = new Float64Array(cap);
  e.set(st.ends);
  st.ends = e;
  const c = new Int32Array(cap);
  c.set(st.cats);
  st.cats = c;
}

function isInterestingPage(c: number, a: PmScanArg): boolean {
  c ^= a.categoryInverted;
  if ((c & a.categoryMask) !== a.categoryMask) return false;
  return a.categoryAnyofMask === 0 || (c & a.categoryAnyofMask) !== 0;
}

/** Append [addr, end) to the bounce buffer; false if a new region is needed and none is left. */
function pushRange(st: ScanState, cat: number, addr: number, end: number): boolean {
  if (st.curEnd !== 0 && addr === st.curEnd && cat === st.curCat) {
    st.curEnd = end;
    return true;
  }
  if (st.curEnd !== 0) {
    if (st.bufN + 1 >= st.bufCap) return false; // the open region is the last slot
    flushCur(st);
  }
  st.curStart = addr;
  st.curEnd = end;
  st.curCat = cat;
  return true;
}

/** Move the open region (if non-empty) to the output. */
function flushCur(st: ScanState): void {
  if (st.curEnd !== 0 && st.curEnd !== st.curStart) {
    const n = st.nOut;
    if (n === st.starts.length) growOut(st);
    st.starts[n] = st.curStart;
    st.ends[n] = st.curEnd;
    st.cats[n] = st.curCat;
    st.nOut = n + 1;
  }
  st.curEnd = 0;
  st.curStart = 0;
  st.bufN++;
}

/**
 * pagemap_scan_output: report [addr, end) with categories `cat`; returns the end actually
 * reported (== addr if nothing) and sets `st.stop` semantics via the return code through
 * `st.walkEnd` and `st.stop` (set once the output is full).
 */
function output(st: ScanState, cat: number, addr: number, end: number): number {
  if (st.arg.vecLen === 0) return end; // no bounce buffer: nothing is reported
  cat &= st.arg.returnMask;
  let nPages = (end - addr) / 4096;
  let full = false;
  const total = st.foundPages + nPages;
  if (total > st.maxPages) {
    const tooMuch = total - st.maxPages;
    end -= tooMuch * 4096;
    nPages -= tooMuch;
    full = true;
  }
  if (!pushRange(st, cat, addr, end)) {
    end = addr;
    nPages = 0;
    full = true;
  }
  st.foundPages += nPages;
  if (full) {
    st.walkEnd = end;
    st.stop = true;
  }
  return end;
}

/** Categories of the PTE at flat index `i` (pagemap_page_category plus the VMA's). */
function pteCategories(st: ScanState, lo: number, hi: number): number {
  const k = st.k;
  let c = st.curVmaCategory;
  if ((lo & P_PRESENT) !== 0) {
    c |= PAGE_IS_PRESENT;
    if ((lo & P_UFFD_WP) === 0) c |= PAGE_IS_WRITTEN;
    if (st.wantFile) {
      const page = vmNormalPage(k, lo, hi);
      if (page >= 0 && !k.anonPages.has(page)) c |= PAGE_IS_FILE;
    }
  } else if (lo !== 0 || hi !== 0) {
    c |= PAGE_IS_SWAPPED; // the only non-present entry the model has is the uffd-wp marker
  } else if (st.curVmaUffd) {
    c |= PAGE_IS_WRITTEN;
  }
  return c;
}

/**
 * make_uffd_wp_pte for the PTE at `i` (caller holds the PTL). Without a trace the entry is stored
 * directly (what setPteAt does then).
 */
function makeUffdWpPte(st: ScanState, vma: Vma, addr: number, i: number): void {
  const k = st.k;
  const mem = k.mem;
  const lo = mem.ptLo[i]!;
  if ((lo & P_PRESENT) !== 0) {
    const hi = mem.ptHi[i]!;
    // pte_mkuffd_wp: write-protect and set the bit (ptep_modify_prot_start/commit, atomic here)
    const nlo = (wrLo(lo, k.shadowStack) | P_UFFD_WP) >>> 0;
    const nhi = wrHi(lo, hi, k.shadowStack);
    if (k.trace !== null) setPte(k, vma, addr, i, nlo, nhi);
    else {
      mem.ptLo[i] = nlo;
      mem.ptHi[i] = nhi;
    }
  } else if (lo === 0 && mem.ptHi[i] === 0) setPte(k, vma, addr, i, MARKER_LO, 0);
  if (st.flushEnd === 0) st.flushStart = addr;
  st.flushEnd = addr + 4096;
}

/** flush_tlb_range of the span modified under the current PTL (called before the PTL drops). */
function flushModified(st: ScanState, vma: Vma): void {
  if (st.flushEnd !== 0) {
    flushTlbRange(st.k, vma.mm, st.flushStart, st.flushEnd);
    st.flushEnd = 0;
  }
}

/**
 * One PTE (the body of pagemap_scan_pmd_entry's loop). Returns 0 to go on, ENOSPC to stop. Does
 * not flush.
 */
function scanPte(st: ScanState, vma: Vma, i: number, addr: number): number {
  const mem = st.k.mem;
  const lo = mem.ptLo[i]!;
  const hi = mem.ptHi[i]!;
  if (st.wp && st.arg.vecLen === 0) {
    // exclusive WP fast path (no output vector): protect everything not protected yet
    if ((lo & P_PRESENT) !== 0 ? (lo & P_UFFD_WP) === 0 : !isUffdWpMarker(lo, hi))
      makeUffdWpPte(st, vma, addr, i);
    return 0;
  }
  const c = pteCategories(st, lo, hi);
  if (!isInterestingPage(c, st.arg)) return 0;
  const next = output(st, c, addr, addr + 4096);
  if (next === addr) return ENOSPC;
  if (st.wp && (c & PAGE_IS_WRITTEN) !== 0) makeUffdWpPte(st, vma, addr, i);
  return st.stop ? ENOSPC : 0;
}

/** PRESENT | UFFD_WP: a present entry that is write-protected (not WRITTEN). */
const PRESENT_WP = P_PRESENT | P_UFFD_WP;

/**
 * pteRun body for the plain "written pages" request (see {@link ScanState.writtenOnly}): PTEs
 * `i0`.. of one table covering [addr, end), PTL held. Integer-indexed (the address is derived
 * only for reported entries), and eight protected present entries are rejected with one test
 * (perf: the common case of an idle table; measured by kernel.model.scan.nsPerPage.0). Returns
 * 0 or ENOSPC; does not flush. Same effect as {@link scanPte} on each entry in order.
 */
function scanWrittenRun(st: ScanState, vma: Vma, i0: number, addr: number, end: number): number {
  const lo32 = st.k.mem.ptLo;
  const hi32 = st.k.mem.ptHi;
  const emptyWritten = st.curVmaUffd;
  const cat = st.curVmaCategory | PAGE_IS_WRITTEN;
  const catOut = cat & st.arg.returnMask;
  const wp = st.wp;
  const traced = st.k.trace !== null;
  const ss = st.k.shadowStack;
  const PW = PRESENT_WP;
  const PR = P_PRESENT;
  const iEnd = i0 + (end - addr) / 4096;
  const base = addr - i0 * 4096; // address of entry j is base + j * 4096
  let j = i0;
  while (j < iEnd) {
    if (j + 8 <= iEnd) {
      // zero iff all eight entries are present and carry the uffd-wp bit
      const m =
        ((lo32[j]! ^ PW) |
          (lo32[j + 1]! ^ PW) |
          (lo32[j + 2]! ^ PW) |
          (lo32[j + 3]! ^ PW) |
          (lo32[j + 4]! ^ PW) |
          (lo32[j + 5]! ^ PW) |
          (lo32[j + 6]! ^ PW) |
          (lo32[j + 7]! ^ PW)) &
        PW;
      if (m === 0) {
        j += 8;
        continue;
      }
    }
    const lo = lo32[j]!;
    if ((lo & PR) !== 0 ? (lo & PW) !== PR : lo !== 0 || hi32[j] !== 0 || !emptyWritten) {
      j++;
      continue;
    }
    const a = base + j * 4096;
    // output(st, cat, a, a + 4096) for one page, inline when it neither reaches max_pages nor
    // needs a region beyond the bounce buffer (then the general output() decides)
    const extend = st.curEnd === a && st.curCat === catOut;
    if (st.foundPages + 1 > st.maxPages || (!extend && st.curEnd !== 0 && st.bufN + 1 >= st.bufCap)) {
      if (output(st, cat, a, a + 4096) === a) return ENOSPC;
    } else {
      if (extend) st.curEnd = a + 4096;
      else {
        if (st.curEnd !== 0) flushCur(st);
        st.curStart = a;
        st.curEnd = a + 4096;
        st.curCat = catOut;
      }
      st.foundPages++;
    }
    if (wp) {
      if ((lo & PR) !== 0 && !traced) {
        // make_uffd_wp_pte on a present entry, stored directly (no trace wants it)
        hi32[j] = wrHi(lo, hi32[j]!, ss);
        lo32[j] = (wrLo(lo, ss) | P_UFFD_WP) >>> 0;
        if (st.flushEnd === 0) st.flushStart = a;
        st.flushEnd = a + 4096;
      } else makeUffdWpPte(st, vma, a, j);
    }
    if (st.stop) return ENOSPC;
    j++;
  }
  return 0;
}

const scanOps: MmWalkOps<ScanState> = {
  testWalk(_start: number, end: number, walk: MmWalk<ScanState>): number {
    const st = walk.private;
    const vma = walk.vma!;
    const wpAllowed = userfaultfdWpAsync(vma) && userfaultfdWpUseMarkers(vma);
    if (!wpAllowed) {
      if ((st.arg.flags & PM_SCAN_CHECK_WPASYNC) !== 0) return -EPERM;
      if (st.wp) return 1;
    }
    if ((vma.flags & VM_PFNMAP) !== 0) return 1;
    const cat = wpAllowed ? PAGE_IS_WPALLOWED : 0;
    const required = st.arg.categoryMask & PAGE_IS_WPALLOWED;
    if (((cat ^ st.arg.categoryInverted) & required) !== required) return 1;
    st.curVmaCategory = cat;
    st.curVmaUffd = uffdCtxOf(vma) !== null && (vma.flags & VM_HUGETLB) === 0;
    st.vmaEnd = end;
    return 0;
  },

  pteHole(addr: number, end: number, depth: number, walk: MmWalk<ScanState>): number {
    if (depth < 0) return 0; // outside any VMA
    const st = walk.private;
    const vma = walk.vma!;
    const c = st.curVmaCategory | (st.curVmaUffd ? PAGE_IS_WRITTEN : 0);
    if (!isInterestingPage(c, st.arg)) return 0;
    const reportedEnd = output(st, c, addr, end);
    if (reportedEnd !== addr && st.wp) {
      // uffd_wp_range over the reported hole: allocates the table and installs markers. The
      // model runs it to completion inside the callback, without scheduling points (a hole has
      // no PTE anyone else could hold; a contended PTL here would be reported as a deadlock).
      runToCompletion(uffdWpRange(st.k, vma, addr, reportedEnd, true));
    }
    return st.stop ? ENOSPC : 0;
  },

  pmdEntry(i: number, addr: number, next: number, walk: MmWalk<ScanState>): number {
    const st = walk.private;
    const k = st.k;
    const lo = k.mem.ptLo[i]!;
    if (!entryHuge(lo)) return 0; // a PTE table: descend
    const vma = walk.vma!;
    const hi = k.mem.ptHi[i]!;
    let c = st.curVmaCategory | PAGE_IS_PRESENT | PAGE_IS_HUGE;
    if ((lo & P_UFFD_WP) === 0) c |= PAGE_IS_WRITTEN;
    const pfn = pfn2m(lo, hi);
    if (k.mem.hasStructPage(pfn) && !k.anonPages.has(pfn)) c |= PAGE_IS_FILE;
    if (!isInterestingPage(c, st.arg)) {
      walk.action = PageWalkAction.Continue;
      return 0;
    }
    const whole = next - addr === 512 * 4096;
    const wpThis = st.wp && (c & PAGE_IS_WRITTEN) !== 0;
    if (wpThis && (!whole || st.foundPages + 512 > st.maxPages)) {
      // partial write-protect of a huge leaf: split it and redo at PTE level (the walker splits
      // when descending; the model's split zaps the leaf, see huge.ts)
      walk.action = PageWalkAction.Subtree;
      return 0;
    }
    walk.action = PageWalkAction.Continue;
    const end = output(st, c, addr, next);
    if (end !== addr && wpThis) {
      setPteAt(
        k,
        vma,
        addr,
        i,
        (wrprotectLo(lo, k.shadowStack) | P_UFFD_WP) >>> 0,
        wrprotectHi(lo, hi, k.shadowStack),
      );
      flushTlbRange(k, vma.mm, addr, next);
    }
    return st.stop ? ENOSPC : 0;
  },

  // explore mode: one PTE at a time, the walker holds the PTL
  pteEntry(i: number, addr: number, next: number, walk: MmWalk<ScanState>): number {
    const st = walk.private;
    const vma = walk.vma!;
    const err = scanPte(st, vma, i, addr);
    // last PTE of this table run, or the walk stops here: flush before the walker unlocks
    if (err !== 0 || next % (512 * 4096) === 0 || next >= st.vmaEnd) flushModified(st, vma);
    return err;
  },

  // fast mode: a whole PTE run of one table, PTL held by the walker
  pteRun(i: number, addr: number, end: number, walk: MmWalk<ScanState>): number {
    const st = walk.private;
    const vma = walk.vma!;
    let err = 0;
    if (st.writtenOnly && st.arg.vecLen !== 0) {
      // the kernel's PAGE_IS_WRITTEN fast path: skip entries that are not WRITTEN without
      // computing their other categories (same output as the general loop)
      err = scanWrittenRun(st, vma, i, addr, end);
    } else {
      for (; addr < end; addr += 4096, i++) {
        err = scanPte(st, vma, i, addr);
        if (err !== 0) break;
      }
    }
    flushModified(st, vma);
    return err;
  },
};

/**
 * The PAGEMAP_SCAN ioctl on `mm`'s pagemap. See the file comment for the semantics.
 *
 * Locking: mmap_lock for read per chunk; the PTL of each PTE table while its entries are
 * classified and (WP_MATCHING) protected; PROTECTION_VMA notifier start/end around each chunk.
 */
export function* pagemapScan(
  k: Kernel,
  mm: MmStruct,
  a: PmScanArg,
  variant: PagemapScanVariant = 'mainline',
): KGen<PmScanResult> {
  const r = yield* pagemapScanRaw(k, mm, a, variant);
  const n = Math.max(0, r.ret);
  const out: PmScanResult = {
    ret: r.ret,
    walkEnd: r.walkEnd,
    starts: Array.from(r.starts.subarray(0, n)),
    ends: Array.from(r.ends.subarray(0, n)),
    categories: Array.from(r.categories.subarray(0, n)),
  };
  recycleScanResult(r);
  return out;
}

const NO_F64 = new Float64Array(0);
const NO_I32 = new Int32Array(0);

/**
 * Output arrays handed back by {@link recycleScanResult}, reused by the next scan (perf: typed
 * arrays live outside the JS heap, and allocating them counts as external memory pressure that
 * triggers scavenges, ~5 ms each with a 1 GiB model populated). A scan takes them (so two
 * interleaved scans never share arrays) and leaves the slot empty.
 */
let spare: PmScanRawResult | null = null;

/**
 * Give the arrays of a {@link pagemapScanRaw} result back for reuse; `r` must not be read after.
 * Optional: without it the next scan allocates its own.
 */
export function recycleScanResult(r: PmScanRawResult): void {
  if (r.starts.length === 0) return;
  if (spare === null || spare.starts.length < r.starts.length) spare = r;
}

/**
 * `mainline`: what Linux 6.18 does. `documented`: what the uapi comment and pagemap.rst say
 * (`walk_end` is where the walk stopped, so `end` once the whole range was walked), which
 * differs from mainline when the output crosses the kernel's internal batch of
 * {@link PM_SCAN_BOUNCE_REGIONS} regions and then completes: mainline leaves `walk_end` at the
 * start of the last batch (docs/kernel-diff.md, finding 1).
 */
export type PagemapScanVariant = 'mainline' | 'documented';

/**
 * {@link pagemapScan} with the regions in typed arrays (see {@link PmScanRawResult}).
 *
 * Batches: the walk fills a bounce buffer of at most {@link PM_SCAN_BOUNCE_REGIONS} regions,
 * copies it out and walks again from `walk_end` while the last walk stopped on a full buffer.
 * `walk_end` is set only when a batch stops early and is never reset, so after a batch that
 * filled up and a final batch that reached `end`, it still holds the earlier stop (mainline).
 */
export function* pagemapScanRaw(
  k: Kernel,
  mm: MmStruct,
  a: PmScanArg,
  variant: PagemapScanVariant = 'mainline',
): KGen<PmScanRawResult> {
  const fail = (e: number): PmScanRawResult => ({
    ret: -e,
    walkEnd: 0,
    starts: NO_F64,
    ends: NO_F64,
    categories: NO_I32,
  });
  if (a.size !== PM_SCAN_ARG_SIZE) return fail(EINVAL);
  if (a.flags < 0 || a.flags % 1 !== 0 || hasBitsOutside(a.flags, PM_SCAN_FLAGS)) return fail(EINVAL);
  for (const m of [a.categoryInverted, a.categoryMask, a.categoryAnyofMask, a.returnMask])
    if (hasBitsOutside(m, PM_SCAN_CATEGORIES)) return fail(EINVAL);
  if (a.start % 4096 !== 0) return fail(EINVAL);
  if (a.end < a.start) return fail(EFAULT);
  if (a.vecNull && a.vecLen !== 0) return fail(EINVAL);
  const end = Math.ceil(a.end / 4096) * 4096;
  const wp = (a.flags & PM_SCAN_WP_MATCHING) !== 0;
  const st: ScanState = {
    k,
    arg: a,
    wp,
    maxPages: a.maxPages === 0 ? Number.POSITIVE_INFINITY : a.maxPages,
    vecLeft: a.vecLen,
    bufCap: 0,
    bufN: 0,
    curStart: 0,
    curEnd: 0,
    curCat: 0,
    foundPages: 0,
    walkEnd: 0,
    stop: false,
    curVmaCategory: 0,
    curVmaUffd: false,
    wantFile: ((a.categoryMask | a.categoryAnyofMask | a.returnMask) & PAGE_IS_FILE) !== 0,
    writtenOnly:
      a.categoryMask === PAGE_IS_WRITTEN &&
      a.returnMask === PAGE_IS_WRITTEN &&
      a.categoryAnyofMask === 0 &&
      a.categoryInverted === 0,
    vmaEnd: 0,
    flushStart: 0,
    flushEnd: 0,
    starts: spare?.starts ?? NO_F64,
    ends: spare?.ends ?? NO_F64,
    cats: spare?.categories ?? NO_I32,
    nOut: 0,
  };
  spare = null;
  let nOut = 0;
  let ret = 0;
  for (let walkStart = a.start; walkStart < end; walkStart = st.walkEnd) {
    st.bufCap = Math.min(st.vecLeft, PM_SCAN_BOUNCE_REGIONS);
    st.bufN = 0;
    st.stop = false;
    if (variant === 'documented') st.walkEnd = 0;
    const before = st.nOut;
    if (k.explore || !mm.mmapLock.tryDownRead()) yield* mm.mmapLock.downRead();
    const range = wp ? mmuNotifierRangeInit('PROTECTION_VMA', mm, walkStart, end) : null;
    if (range !== null) yield* mmuNotifierInvalidateRangeStart(k, range);
    ret = yield* walkPageRange(k, mm, walkStart, end, scanOps, st);
    if (range !== null) yield* mmuNotifierInvalidateRangeEnd(k, range);
    mm.mmapLock.upRead();
    // pagemap_scan_flush_buffer
    if (st.curEnd !== 0) flushCur(st);
    const n = st.nOut - before;
    nOut += n;
    st.vecLeft -= n;
    if (ret !== ENOSPC) break;
    if (st.vecLeft === 0 || st.foundPages === st.maxPages) break;
  }
  if (ret !== 0 && ret !== ENOSPC) return fail(-ret);
  return {
    ret: nOut,
    walkEnd: st.walkEnd === 0 ? end : st.walkEnd,
    starts: st.starts,
    ends: st.ends,
    categories: st.cats,
  };
}

/** `x` has a bit outside `allowed` (both non-negative integers up to 2^53). */
function hasBitsOutside(x: number, allowed: number): boolean {
  if (x < 0 || !Number.isInteger(x)) return true;
  return x > 0xffffffff ? true : ((x >>> 0) & ~allowed) !== 0;
}

// --- the read side of /proc/pid/pagemap (pagemap_read in task_mmu.c), flags only

/**
 * Flag bits of a /proc/pid/pagemap entry, numbered from bit 55 of the 64-bit entry (so the
 * value is `entry >> 55`): bit 0 = PM_SOFT_DIRTY (55), 1 = PM_MMAP_EXCLUSIVE (56),
 * 2 = PM_UFFD_WP (57), 3 = PM_GUARD_REGION (58), 6 = PM_FILE (61), 7 = PM_SWAP (62),
 * 8 = PM_PRESENT (63). The frame bits below 55 are not modelled (a PFN or a swap entry's
 * type/offset, and zero without CAP_SYS_ADMIN).
 */
export const PM_FLAG_SOFT_DIRTY = 1 << 0;
export const PM_FLAG_MMAP_EXCLUSIVE = 1 << 1;
export const PM_FLAG_UFFD_WP = 1 << 2;
export const PM_FLAG_GUARD_REGION = 1 << 3;
export const PM_FLAG_FILE = 1 << 6;
export const PM_FLAG_SWAP = 1 << 7;
export const PM_FLAG_PRESENT = 1 << 8;

/**
 * The pagemap flags of the page at `addr` in `mm` (pte_to_pagemap_entry / pagemap_pte_hole,
 * flags only):
 * - no VMA, no PTE table, or an empty PTE: 0 (PM_SOFT_DIRTY would be set in a VM_SOFTDIRTY VMA,
 *   but the model, like the reference kernel, has no CONFIG_MEM_SOFT_DIRTY);
 * - present PTE: PRESENT, UFFD_WP if the entry has the bit, FILE if it maps a page-cache page
 *   (not anonymous), MMAP_EXCLUSIVE if the page is mapped once. The model keeps no mapcount: in
 *   the tracking backend every file page and every private copy is mapped by at most one PTE
 *   (one mm, one mapping per file offset), so a present page is exclusive;
 * - a uffd-wp marker (a swap-format entry): SWAP | UFFD_WP;
 * - a huge PMD leaf: as a present PTE, for every page it maps.
 */
export function pagemapFlags(k: Kernel, mm: MmStruct, addr: number): number {
  if (mm.findVma(addr) === null) return 0;
  const vpn = Math.floor(addr / 4096);
  const mem = k.mem;
  let i = entryIndexAt(mem, mm.root, vpn, LEVEL_PTE, k.levels, false);
  let lo: number;
  let hi: number;
  if (i < 0) {
    // no PTE table: a hole, or a huge PMD leaf above it
    i = entryIndexAt(mem, mm.root, vpn, LEVEL_PTE - 1, k.levels, false);
    if (i < 0 || !entryHuge(mem.ptLo[i]!)) return 0;
    lo = mem.ptLo[i]!;
    hi = mem.ptHi[i]!;
    let f = PM_FLAG_PRESENT | PM_FLAG_MMAP_EXCLUSIVE;
    if ((lo & P_UFFD_WP) !== 0) f |= PM_FLAG_UFFD_WP;
    const pfn = pfn2m(lo, hi);
    if (mem.hasStructPage(pfn) && !k.anonPages.has(pfn)) f |= PM_FLAG_FILE;
    return f;
  }
  lo = mem.ptLo[i]!;
  hi = mem.ptHi[i]!;
  if ((lo & P_PRESENT) !== 0) {
    let f = PM_FLAG_PRESENT | PM_FLAG_MMAP_EXCLUSIVE;
    if ((lo & P_UFFD_WP) !== 0) f |= PM_FLAG_UFFD_WP;
    const page = vmNormalPage(k, lo, hi);
    if (page >= 0 && !k.anonPages.has(page)) f |= PM_FLAG_FILE;
    return f;
  }
  if (isUffdWpMarker(lo, hi)) return PM_FLAG_SWAP | PM_FLAG_UFFD_WP;
  return 0;
}

/**
 * {@link pagemapFlags} of `n` consecutive pages from `addr` into `out[0..n)`: one VMA lookup per
 * VMA and one table lookup per 512 pages (same answers as the per-page function).
 */
export function pagemapFlagsRange(k: Kernel, mm: MmStruct, addr: number, n: number, out: Uint16Array): void {
  out.fill(0, 0, n);
  const end = addr + n * 4096;
  const mem = k.mem;
  for (const v of mm.vmas) {
    const s = Math.max(addr, v.start);
    const e = Math.min(end, v.end);
    if (s >= e) continue;
    for (let a = s; a < e; ) {
      const vpn = Math.floor(a / 4096);
      const tableEnd = Math.min(e, (Math.floor(vpn / 512) + 1) * 512 * 4096);
      const i0 = entryIndexAt(mem, mm.root, vpn, LEVEL_PTE, k.levels, false);
      if (i0 < 0) {
        // no PTE table: a hole (0), or a huge leaf (same flags for every page it maps)
        const f = pagemapFlags(k, mm, a);
        if (f !== 0) out.fill(f, (a - addr) / 4096, (tableEnd - addr) / 4096);
        a = tableEnd;
        continue;
      }
      for (let i = i0; a < tableEnd; a += 4096, i++) {
        const lo = mem.ptLo[i]!;
        if (lo === 0 && mem.ptHi[i] === 0) continue;
        const hi = mem.ptHi[i]!;
        let f = 0;
        if ((lo & P_PRESENT) !== 0) {
          f = PM_FLAG_PRESENT | PM_FLAG_MMAP_EXCLUSIVE;
          if ((lo & P_UFFD_WP) !== 0) f |= PM_FLAG_UFFD_WP;
          const page = vmNormalPage(k, lo, hi);
          if (page >= 0 && !k.anonPages.has(page)) f |= PM_FLAG_FILE;
        } else if (isUffdWpMarker(lo, hi)) f = PM_FLAG_SWAP | PM_FLAG_UFFD_WP;
        out[(a - addr) / 4096] = f;
      }
    }
  }
}
