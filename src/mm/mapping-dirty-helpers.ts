/**
 * Write-protect and clean every PTE mapping a range of an address space (spec section 3): the
 * helpers that vmwgfx uses to track writes to emulated coherent memory.
 *
 * Shape (as Linus asked for in the seed thread): `pagewalk.ts` knows iteration only; this file
 * holds two frozen `MmWalkOps` tables that share `testWalk`, `pmdEntry`, `pudEntry`, `preVma`
 * and `postVma` and differ in `pteEntry` alone.
 *
 * History as code: every behaviour a review comment or a later fix changed is a named variant
 * (see {@link HELPER_VARIANTS}). A variant is chosen at construction time by
 * {@link createDirtyHelpers}; it builds its own frozen ops tables, so the mainline tables carry
 * no flags and the mainline per-PTE path has no variant test.
 */
import type { KGen } from '../checker/task.ts';
import {
  entryHuge,
  LEVEL_PTE,
  mkcleanHi,
  mkcleanLo,
  PTE_DIRTY,
  PTE_HI_SAVED_DIRTY,
  PTE_RW,
  pteDirty,
  wrprotectHi,
  wrprotectLo,
} from '../hw/pte.ts';
import type { AddressSpace } from './address-space.ts';
import { setBit } from './bitmap.ts';
import type { Kernel } from './kernel.ts';
import { type MmStruct, VM_HUGETLB, VM_MAYWRITE, VM_SHARED } from './mm-types.ts';
import {
  type MmuNotifierRange,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { type MmWalk, type MmWalkOps, PageWalkAction, walkPageMapping } from './pagewalk.ts';
import { decTlbFlushPending, flushTlbRange, incTlbFlushPending, mmTlbFlushNested } from './tlbflush.ts';

/** Shared walk state (struct wp_walk). */
export interface WpWalk {
  range: MmuNotifierRange | null;
  /** Lowest modified address of the current VMA walk. */
  tlbflushStart: number;
  /** Highest modified address + PAGE_SIZE of the current VMA walk. */
  tlbflushEnd: number;
  /** PTEs modified, across VMAs. */
  total: number;
  /** Scratch for the split read-modify-write variants: the snapshot taken before the yield. */
  rmwPending: boolean;
  rmwLo: number;
  rmwHi: number;
}

/** struct clean_walk: WpWalk plus the caller's bitmap and a local window. */
export interface CleanWalk extends WpWalk {
  bitmapPgoff: number;
  bitmap: Uint32Array;
  start: number;
  end: number;
  /** Name of the bitmap owner in traces. */
  owner: string;
}

/** In/out window of {@link DirtyHelpers.cleanRecordSharedMappingRange}. "None set" iff start >= end. */
export interface BitmapWindow {
  start: number;
  end: number;
}

export type HelperVariantName =
  | 'mainline'
  | 'rfc-2019'
  | 'no-tlb-flush'
  | 'nonatomic-rmw'
  | 'no-notifier'
  | 'no-nested-flush'
  | 'no-shared-check'
  | 'split-huge'
  | 'walk-continue';

/** What a variant changes, as data. Mainline: every field is the kernel's behaviour today. */
interface VariantSpec {
  /** Take i_mmap_rwsem for write (RFC) instead of read. */
  lockWrite: boolean;
  /** Call mmu notifiers around each VMA. */
  notifier: boolean;
  /** inc/dec tlb_flush_pending around each VMA, and flush the whole range when nested. */
  pending: boolean;
  nestedFlush: boolean;
  /** Flush the TLB at all. */
  flush: boolean;
  /** PTE change through get-and-clear + commit (atomic); false = read, (preempt), set_pte_at. */
  atomicRmw: boolean;
  /** testWalk requires VM_SHARED|VM_MAYWRITE (and not hugetlb). False = every non-hugetlb VMA. */
  sharedCheck: boolean;
  /** pmd/pud callbacks skip huge leaves (never split). False = the walker splits them. */
  skipHuge: boolean;
  /** A positive testWalk skips one VMA instead of ending the walk. */
  walkContinue: boolean;
}

const MAINLINE: VariantSpec = {
  lockWrite: false,
  notifier: true,
  pending: true,
  nestedFlush: true,
  flush: true,
  atomicRmw: true,
  sharedCheck: true,
  skipHuge: true,
  walkContinue: false,
};

export interface HelperVariantInfo {
  readonly name: HelperVariantName;
  /** Where the behaviour comes from: review comment or commit. */
  readonly source: string;
  /** The failure the mainline behaviour guards against (what this variant lets happen). */
  readonly failure: string;
  readonly spec: Readonly<VariantSpec>;
}

/**
 * The catalogue of helper variants. Each names the review comment / commit (spec 11.2, 11.3)
 * and the failure the mainline behaviour prevents.
 */
export const HELPER_VARIANTS: Readonly<Record<HelperVariantName, HelperVariantInfo>> = Object.freeze({
  mainline: {
    name: 'mainline',
    source: 'mm/mapping_dirty_helpers.c as merged (v5.5) and maintained today',
    failure: 'none expected: guarantees a) and b) of clean_record and the wp postcondition hold',
    spec: MAINLINE,
  },
  'rfc-2019': {
    name: 'rfc-2019',
    source:
      'first posting, "mm: Add write-protect and clean utilities for address space ranges" (Mar 2019): ' +
      'down_write(i_mmap_rwsem) with a FIXME, set_pte_at(pte_wrprotect/pte_mkclean(*pte)), no mmu notifier, no ' +
      'pending count, no vm_flags filter; reviewed by Jerome Glisse',
    failure:
      'a CPU setting D between the read and set_pte_at loses the dirty bit (R2); secondary MMUs keep writable ' +
      'translations (R3); private/COW VMAs are write-protected and cleaned (R6)',
    spec: {
      ...MAINLINE,
      lockWrite: true,
      notifier: false,
      pending: false,
      nestedFlush: false,
      atomicRmw: false,
      sharedCheck: false,
    },
  },
  'no-tlb-flush': {
    name: 'no-tlb-flush',
    source: 'Glisse (RFC, Mar 2019) and Nadav Amit (v4, Jun 2019): "there is no flushing here"',
    failure:
      'a CPU with a cached writable+dirty TLB entry keeps writing after wp/clean without a fault or a new D bit: ' +
      'MKWRITE tracking misses the write; PAGETABLE scans see a clean PTE (R1)',
    spec: { ...MAINLINE, flush: false, nestedFlush: false },
  },
  'nonatomic-rmw': {
    name: 'nonatomic-rmw',
    source: 'Glisse (RFC): use ptep_modify_prot_start/commit instead of reading the PTE and set_pte_at',
    failure:
      'hardware sets D between the read and the write-back; the write-back stores the clean value: write lost (R2)',
    spec: { ...MAINLINE, atomicRmw: false },
  },
  'no-notifier': {
    name: 'no-notifier',
    source: 'Glisse (RFC): "this does not use mmu notifier"; v1 added PROTECTION_PAGE range start/end',
    failure:
      'a secondary MMU keeps a writable translation after wp and writes without any fault or D bit (R3)',
    spec: { ...MAINLINE, notifier: false },
  },
  'no-nested-flush': {
    name: 'no-nested-flush',
    source:
      'Peter Zijlstra, review of v5 4/8 (Oct 2019): concurrent wp with a partial flush; fix: mm_tlb_flush_nested',
    failure:
      'a second concurrent wp finds PTEs already read-only (first caller not yet flushed), flushes nothing and ' +
      'returns while another CPU still holds a writable TLB entry (R5)',
    spec: { ...MAINLINE, nestedFlush: false },
  },
  'no-shared-check': {
    name: 'no-shared-check',
    source:
      'Glisse and Kirill Shutemov (2019): "false COW", softdirty breakage; fix: only VM_SHARED|VM_MAYWRITE',
    failure:
      'private/COW VMAs are write-protected and cleaned: the next write COWs away from the device copy (R6)',
    spec: { ...MAINLINE, sharedCheck: false },
  },
  'split-huge': {
    name: 'split-huge',
    source: 'Linus Torvalds (v3 review) on unconditional splitting; v5 switched to ACTION_CONTINUE',
    failure: 'splitting a huge PFN/file PMD zaps it and its dirty bit is lost (R7)',
    spec: { ...MAINLINE, skipHuge: false },
  },
  'walk-continue': {
    name: 'walk-continue',
    source:
      'spec quirk Q1: walk_page_mapping ends the whole walk on a positive test_walk; this variant skips one VMA',
    failure:
      'none; it is the proposed fix for Q1 (mainline leaves a writable shared VMA unprotected when a non-qualifying ' +
      'VMA is visited first)',
    spec: { ...MAINLINE, walkContinue: true },
  },
});

export const HELPER_VARIANT_NAMES = Object.keys(HELPER_VARIANTS) as HelperVariantName[];

function widen(w: WpWalk, addr: number): void {
  if (addr < w.tlbflushStart) w.tlbflushStart = addr;
  if (addr + 4096 > w.tlbflushEnd) w.tlbflushEnd = addr + 4096;
}

function tracePteChange(
  walk: MmWalk<WpWalk>,
  addr: number,
  oldLo: number,
  oldHi: number,
  newLo: number,
  newHi: number,
): void {
  walk.k.trace!.emit({
    kind: 'pte',
    mm: walk.mm!.id,
    addr,
    level: LEVEL_PTE,
    oldLo,
    oldHi,
    newLo,
    newHi,
    by: 'kernel',
  });
}

// ---- pte_entry callbacks -------------------------------------------------------------------

/**
 * wp_pte: if the PTE is writable, take it with ptep_modify_prot_start (get-and-clear), clear RW
 * and commit. One atomic step in the model: a hardware D update either precedes it (and is kept
 * in the value) or sees the cleared / read-only entry and faults. D is kept (moved to SavedDirty
 * with shadow stacks).
 */
function wpPte(ptep: number, addr: number, _next: number, walk: MmWalk<WpWalk>): number {
  const k = walk.k;
  const mem = k.mem;
  const lo = mem.ptLo[ptep]!;
  k.counters.ptesVisited++;
  if ((lo & PTE_RW) !== 0) {
    const hi = mem.ptHi[ptep]!;
    const nlo = wrprotectLo(lo, k.shadowStack);
    const nhi = wrprotectHi(lo, hi, k.shadowStack);
    mem.ptLo[ptep] = nlo;
    mem.ptHi[ptep] = nhi;
    if (k.trace !== null) tracePteChange(walk, addr, lo, hi, nlo, nhi);
    k.counters.ptesChanged++;
    k.counters.ptesChangedByWp++;
    const w = walk.private;
    w.total++;
    widen(w, addr);
  }
  return 0;
}

/**
 * clean_record_pte: if the PTE is dirty (D or SavedDirty), clean it atomically (as wp_pte), and
 * in the same PTL section set its bit, `idx = (addr - vm_start) / PAGE_SIZE + vm_pgoff - bitmap_pgoff`,
 * widening the local bit window.
 */
function cleanRecordPte(ptep: number, addr: number, _next: number, walk: MmWalk<WpWalk>): number {
  const k = walk.k;
  const mem = k.mem;
  const lo = mem.ptLo[ptep]!;
  const hi = mem.ptHi[ptep]!;
  k.counters.ptesVisited++;
  if (pteDirty(lo, hi)) {
    const nlo = mkcleanLo(lo);
    const nhi = mkcleanHi(hi);
    mem.ptLo[ptep] = nlo;
    mem.ptHi[ptep] = nhi;
    if (k.trace !== null) tracePteChange(walk, addr, lo, hi, nlo, nhi);
    recordClean(walk, addr);
  }
  return 0;
}

/**
 * Fast-mode run of {@link wpPte} over the PTEs [addr, end) of one table (same effects, same
 * order; see MmWalkOps.pteRun). With tracing on it defers to the per-PTE callback.
 */
function wpPteRun(ptep: number, addr: number, end: number, walk: MmWalk<WpWalk>): number {
  const k = walk.k;
  if (k.trace !== null) {
    for (; addr < end; addr += 4096, ptep++) wpPte(ptep, addr, addr + 4096, walk);
    return 0;
  }
  const lo = k.mem.ptLo;
  const hi = k.mem.ptHi;
  const ss = k.shadowStack;
  const n = ((end - addr) / 4096) | 0; // <= 512: a small integer, not a double loop bound
  // Index-based loop: the address is a double above 2^31, so it is derived only where needed.
  let changed = 0;
  let firstJ = -1;
  let lastJ = -1;
  for (let j = 0; j < n; j++) {
    const l = lo[ptep + j]!;
    if ((l & PTE_RW) === 0) continue;
    const i = ptep + j;
    hi[i] = wrprotectHi(l, hi[i]!, ss);
    lo[i] = wrprotectLo(l, ss);
    changed++;
    if (firstJ < 0) firstJ = j;
    lastJ = j;
  }
  k.counters.ptesVisited += n;
  if (changed > 0) {
    k.counters.ptesChanged += changed;
    k.counters.ptesChangedByWp += changed;
    const w = walk.private;
    w.total += changed;
    widen(w, addr + firstJ * 4096);
    widen(w, addr + lastJ * 4096);
  }
  return 0;
}

/** Fast-mode run of {@link cleanRecordPte} over [addr, end) of one table (see {@link wpPteRun}). */
function cleanRecordPteRun(ptep: number, addr: number, end: number, walk: MmWalk<WpWalk>): number {
  const k = walk.k;
  if (k.trace !== null) {
    for (; addr < end; addr += 4096, ptep++) cleanRecordPte(ptep, addr, addr + 4096, walk);
    return 0;
  }
  const lo = k.mem.ptLo;
  const hi = k.mem.ptHi;
  const c = walk.private as CleanWalk;
  const vma = walk.vma!;
  const bitmap = c.bitmap;
  const n = ((end - addr) / 4096) | 0; // <= 512
  // Bitmap indices are small integers: `| 0` keeps the per-PTE bit math in int32 registers.
  const idx0 = ((addr - vma.start) / 4096 + vma.pgoff - c.bitmapPgoff) | 0;
  let changed = 0;
  let firstJ = -1;
  let lastJ = -1;
  for (let j = 0; j < n; j++) {
    const i = ptep + j;
    const l = lo[i]!;
    const h = hi[i]!;
    if ((l & PTE_DIRTY) === 0 && (h & PTE_HI_SAVED_DIRTY) === 0) continue; // pteDirty, inline
    lo[i] = mkcleanLo(l);
    if ((h & PTE_HI_SAVED_DIRTY) !== 0) hi[i] = mkcleanHi(h); // the high word changes only with SavedDirty
    const idx = idx0 + j;
    bitmap[idx >>> 5]! |= 1 << (idx & 31); // setBit, inline
    changed++;
    if (firstJ < 0) firstJ = j;
    lastJ = j;
  }
  k.counters.ptesVisited += n;
  if (changed > 0) {
    k.counters.ptesChanged += changed;
    c.total += changed;
    widen(c, addr + firstJ * 4096);
    widen(c, addr + lastJ * 4096);
    // Bits set in ascending order: the window grows by the first and the last index.
    if (idx0 + firstJ < c.start) c.start = idx0 + firstJ;
    if (idx0 + lastJ + 1 > c.end) c.end = idx0 + lastJ + 1;
  }
  return 0;
}

function recordClean(walk: MmWalk<WpWalk>, addr: number): void {
  const k = walk.k;
  const c = walk.private as CleanWalk;
  const vma = walk.vma!;
  const idx = (addr - vma.start) / 4096 + vma.pgoff - c.bitmapPgoff;
  k.counters.ptesChanged++;
  c.total++;
  widen(c, addr);
  setBit(c.bitmap, idx); // __set_bit: the caller's lock protects the bitmap
  if (idx < c.start) c.start = idx;
  if (idx + 1 > c.end) c.end = idx + 1;
  if (k.trace !== null)
    k.trace.emit({ kind: 'bitmapSet', owner: c.owner, index: idx, start: c.start, end: c.end });
}

/**
 * Split read-modify-write (the RFC's `set_pte_at(..., pte_wrprotect(*pte))`): first call reads
 * the PTE and asks the walker for a scheduling point; the second call writes back a value
 * computed from the stale read.
 */
function wpPteNonatomic(ptep: number, addr: number, _next: number, walk: MmWalk<WpWalk>): number {
  const w = walk.private;
  const mem = walk.k.mem;
  if (!w.rmwPending) {
    walk.k.counters.ptesVisited++;
    if ((mem.ptLo[ptep]! & PTE_RW) === 0) return 0;
    w.rmwPending = true;
    w.rmwLo = mem.ptLo[ptep]!;
    w.rmwHi = mem.ptHi[ptep]!;
    walk.yieldRetry = true;
    return 0;
  }
  w.rmwPending = false;
  const k = walk.k;
  const curLo = mem.ptLo[ptep]!;
  const curHi = mem.ptHi[ptep]!;
  const nlo = wrprotectLo(w.rmwLo, k.shadowStack);
  const nhi = wrprotectHi(w.rmwLo, w.rmwHi, k.shadowStack);
  mem.ptLo[ptep] = nlo;
  mem.ptHi[ptep] = nhi;
  if (k.trace !== null) tracePteChange(walk, addr, curLo, curHi, nlo, nhi);
  k.counters.ptesChanged++;
  k.counters.ptesChangedByWp++;
  w.total++;
  widen(w, addr);
  return 0;
}

function cleanRecordPteNonatomic(ptep: number, addr: number, _next: number, walk: MmWalk<WpWalk>): number {
  const w = walk.private;
  const mem = walk.k.mem;
  if (!w.rmwPending) {
    walk.k.counters.ptesVisited++;
    if (!pteDirty(mem.ptLo[ptep]!, mem.ptHi[ptep]!)) return 0;
    w.rmwPending = true;
    w.rmwLo = mem.ptLo[ptep]!;
    w.rmwHi = mem.ptHi[ptep]!;
    walk.yieldRetry = true;
    return 0;
  }
  w.rmwPending = false;
  const k = walk.k;
  const curLo = mem.ptLo[ptep]!;
  const curHi = mem.ptHi[ptep]!;
  const nlo = mkcleanLo(w.rmwLo);
  const nhi = mkcleanHi(w.rmwHi);
  mem.ptLo[ptep] = nlo;
  mem.ptHi[ptep] = nhi;
  if (k.trace !== null) tracePteChange(walk, addr, curLo, curHi, nlo, nhi);
  recordClean(walk, addr);
  return 0;
}

// ---- shared callbacks ----------------------------------------------------------------------

/** test_walk: walk the VMA iff it is VM_SHARED|VM_MAYWRITE and not hugetlb; else end the walk. */
function wrprotectCleanTestWalk(_start: number, _end: number, walk: MmWalk<WpWalk>): number {
  const f = walk.vma!.flags; // READ_ONCE: vm_flags may change under us; only immutable bits are trusted
  return (f & (VM_SHARED | VM_MAYWRITE | VM_HUGETLB)) === (VM_SHARED | VM_MAYWRITE) ? 0 : 1;
}

/** no-shared-check variant: any VMA but hugetlb. */
function anyVmaTestWalk(_start: number, _end: number, walk: MmWalk<WpWalk>): number {
  return (walk.vma!.flags & VM_HUGETLB) !== 0 ? 1 : 0;
}

/**
 * pmd_entry / pud_entry: a huge leaf is never split (splitting a huge PFN or file entry zaps it
 * and loses its dirty bit); WARN if the lockless snapshot is writable or dirty, and skip it.
 */
function skipHugeEntry(ptep: number, addr: number, _next: number, walk: MmWalk<WpWalk>): number {
  const mem = walk.k.mem;
  const lo = mem.ptLo[ptep]!; // pmdp_get_lockless
  if (entryHuge(lo)) {
    if ((lo & PTE_RW) !== 0 || pteDirty(lo, mem.ptHi[ptep]!))
      walk.k.warn(`mapping_dirty_helpers: skipping a writable or dirty huge entry at 0x${addr.toString(16)}`);
    walk.action = PageWalkAction.Continue;
  }
  return 0;
}

function buildOps(spec: VariantSpec, which: 'wp' | 'clean'): MmWalkOps<WpWalk> {
  function* preVma(start: number, end: number, walk: MmWalk<WpWalk>): KGen<number> {
    const w = walk.private;
    const mm = walk.mm!;
    w.tlbflushStart = end;
    w.tlbflushEnd = start;
    w.range = mmuNotifierRangeInit('PROTECTION_PAGE', mm, start, end);
    if (spec.notifier) yield* mmuNotifierInvalidateRangeStart(walk.k, w.range);
    // flush_cache_range(vma, start, end): a no-op on x86.
    if (spec.pending) incTlbFlushPending(mm);
    return 0;
  }
  function* postVma(walk: MmWalk<WpWalk>): KGen<void> {
    const k = walk.k;
    const w = walk.private;
    const mm: MmStruct = walk.mm!;
    if (k.explore) yield undefined; // PTLs are dropped: other CPUs act before the deferred flush
    if (spec.flush) {
      if (spec.nestedFlush && mmTlbFlushNested(mm)) flushTlbRange(k, mm, w.range!.start, w.range!.end);
      else if (w.tlbflushEnd > w.tlbflushStart) flushTlbRange(k, mm, w.tlbflushStart, w.tlbflushEnd);
    }
    if (spec.notifier) yield* mmuNotifierInvalidateRangeEnd(k, w.range!);
    if (spec.pending) decTlbFlushPending(mm);
  }
  const pteEntry =
    which === 'wp'
      ? spec.atomicRmw
        ? wpPte
        : wpPteNonatomic
      : spec.atomicRmw
        ? cleanRecordPte
        : cleanRecordPteNonatomic;
  const ops: MmWalkOps<WpWalk> = {
    testWalk: spec.sharedCheck ? wrprotectCleanTestWalk : anyVmaTestWalk,
    pteEntry,
    // Fast-mode batch of the atomic callbacks (the split RMW variants need their per-PTE yields).
    ...(spec.atomicRmw ? { pteRun: which === 'wp' ? wpPteRun : cleanRecordPteRun } : {}),
    preVma,
    postVma,
    ...(spec.skipHuge ? { pmdEntry: skipHugeEntry, pudEntry: skipHugeEntry } : {}),
    ...(spec.walkContinue ? { positiveTestWalkSkipsVmaOnly: true } : {}),
  };
  return Object.freeze(ops);
}

function newWpWalk(): WpWalk {
  return { range: null, tlbflushStart: 0, tlbflushEnd: 0, total: 0, rmwPending: false, rmwLo: 0, rmwHi: 0 };
}

/** The helper entry points of one variant. */
export interface DirtyHelpers {
  readonly variant: HelperVariantName;
  /** The two ops tables (they differ in pteEntry alone). */
  readonly wpWalkOps: MmWalkOps<WpWalk>;
  readonly cleanWalkOps: MmWalkOps<WpWalk>;
  wpSharedMappingRange(k: Kernel, mapping: AddressSpace, firstIndex: number, nr: number): KGen<number>;
  cleanRecordSharedMappingRange(
    k: Kernel,
    mapping: AddressSpace,
    firstIndex: number,
    nr: number,
    bitmapPgoff: number,
    bitmap: Uint32Array,
    win: BitmapWindow,
    owner?: string,
  ): KGen<number>;
}

/** Build the helpers of `variant` (frozen ops tables; mainline by default). */
export function createDirtyHelpers(variant: HelperVariantName = 'mainline'): DirtyHelpers {
  const info = HELPER_VARIANTS[variant];
  if (info === undefined) throw new RangeError(`unknown helper variant '${variant}'`);
  const spec = info.spec;
  const wpWalkOps = buildOps(spec, 'wp');
  const cleanWalkOps = buildOps(spec, 'clean');

  function* lock(mapping: AddressSpace): KGen<void> {
    if (spec.lockWrite) yield* mapping.iMmapRwsem.downWrite();
    else yield* mapping.iMmapRwsem.downRead();
  }
  function unlock(mapping: AddressSpace): void {
    if (spec.lockWrite) mapping.iMmapRwsem.upWrite();
    else mapping.iMmapRwsem.upRead();
  }

  /**
   * wp_shared_mapping_range - write-protect all PTEs mapping file pages
   * [firstIndex, firstIndex + nr) of `mapping`.
   *
   * @param k          the kernel.
   * @param mapping    the address space whose shared mappings are write-protected.
   * @param firstIndex first file page index.
   * @param nr         number of pages (>= 1).
   * @returns the number of PTEs changed from writable to read-only. Already read-only PTEs are
   *   not counted; a page mapped by k qualifying VMAs can count k times (quirk Q6).
   *
   * Locking: takes `mapping.iMmapRwsem` for read (the RFC variant: write) and the PTL of each
   * PTE table it visits. No mmap_lock: the VMAs may belong to many mms. May be called
   * concurrently with itself and with other PTE modifiers.
   *
   * Guarantees (mainline):
   *  a) on return no qualifying PTE (VM_SHARED|VM_MAYWRITE, not hugetlb) in range is writable;
   *  b) no CPU TLB of the affected mms holds a writable translation for them: the touched
   *     window is flushed, or the whole walk range if another deferred flush is pending
   *     (mm_tlb_flush_nested);
   *  c) every secondary MMU saw invalidate_range_start/end (PROTECTION_PAGE) for each VMA range;
   *  d) private/COW, read-only-shared and hugetlb VMAs are never modified, huge entries are
   *     skipped (WARN if writable or dirty), never split;
   *  e) caveat (quirk Q1): the first non-qualifying VMA in i_mmap order ends the walk, leaving
   *     later VMAs untouched.
   */
  function* wpSharedMappingRange(
    k: Kernel,
    mapping: AddressSpace,
    firstIndex: number,
    nr: number,
  ): KGen<number> {
    const prev = k.enter('wpSharedMappingRange');
    k.counters.helperCalls++;
    if (k.trace !== null) k.trace.emit({ kind: 'call', args: { firstIndex, nr } });
    const w = newWpWalk();
    yield* lock(mapping);
    const err = yield* walkPageMapping(k, mapping, firstIndex, nr, wpWalkOps, w);
    if (err !== 0) k.warn(`wp_shared_mapping_range: walk returned ${err}`);
    unlock(mapping);
    if (k.trace !== null) k.trace.emit({ kind: 'return', ret: w.total });
    k.leave(prev);
    return w.total;
  }

  /**
   * clean_record_shared_mapping_range - clean all dirty PTEs mapping file pages
   * [firstIndex, firstIndex + nr) of `mapping` and record them in `bitmap`.
   *
   * @param k           the kernel.
   * @param mapping     the address space.
   * @param firstIndex  first file page index of the range.
   * @param nr          number of pages (>= 1).
   * @param bitmapPgoff file page index of bit 0 of `bitmap`.
   * @param bitmap      the caller's bitmap; must cover indices
   *   `firstIndex - bitmapPgoff .. firstIndex - bitmapPgoff + nr - 1`.
   * @param win         in/out bit window (indices relative to bitmapPgoff). "None set" iff
   *   `start >= end`. If none set on entry the local window starts as (nr, 0), else from the
   *   caller's values; it only grows. On return `start` is a lower bound, not necessarily the
   *   first set bit.
   * @param owner       name of the bitmap in traces.
   * @returns the number of dirty PTEs cleaned (k VMAs mapping a page can each count).
   *
   * Locking: `mapping.iMmapRwsem` for read, the PTL of each PTE table; the caller's own lock
   * must protect `bitmap` and `win` (bits are set non-atomically).
   *
   * Guarantees (mainline):
   *  a) any PTE already dirty when the call begins is clean and has its bit set on return;
   *  b) a PTE that becomes dirty after the call began is, on return, still dirty in the page
   *     table, or has its bit set, or both: dirtiness is never dropped.
   *  It does not promise that nothing is dirtied during or after the call: for an exact snapshot
   *  write-protect first (with writers blocked in mkwrite by the caller's lock), then clean.
   */
  function* cleanRecordSharedMappingRange(
    k: Kernel,
    mapping: AddressSpace,
    firstIndex: number,
    nr: number,
    bitmapPgoff: number,
    bitmap: Uint32Array,
    win: BitmapWindow,
    owner = 'bitmap',
  ): KGen<number> {
    const prev = k.enter('cleanRecordSharedMappingRange');
    k.counters.helperCalls++;
    if (k.trace !== null) k.trace.emit({ kind: 'call', args: { firstIndex, nr, bitmapPgoff } });
    const none = win.start >= win.end;
    const c: CleanWalk = {
      ...newWpWalk(),
      bitmapPgoff,
      bitmap,
      start: none ? nr : win.start,
      end: none ? 0 : win.end,
      owner,
    };
    yield* lock(mapping);
    const err = yield* walkPageMapping(k, mapping, firstIndex, nr, cleanWalkOps, c);
    if (err !== 0) k.warn(`clean_record_shared_mapping_range: walk returned ${err}`);
    unlock(mapping);
    win.start = c.start;
    win.end = c.end;
    if (k.trace !== null) k.trace.emit({ kind: 'return', ret: c.total });
    k.leave(prev);
    return c.total;
  }

  return Object.freeze({
    variant,
    wpWalkOps,
    cleanWalkOps,
    wpSharedMappingRange,
    cleanRecordSharedMappingRange,
  });
}

/** The mainline helpers. */
export const mainlineHelpers: DirtyHelpers = createDirtyHelpers('mainline');
export const wpSharedMappingRange = mainlineHelpers.wpSharedMappingRange;
export const cleanRecordSharedMappingRange = mainlineHelpers.cleanRecordSharedMappingRange;
