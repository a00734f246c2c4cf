import type { KGen } from '../checker/task.ts';
import { entryHuge, LEVEL_PMD, LEVEL_PTE, LEVEL_PUD, PTE_PRESENT, pfn4k } from '../hw/pte.ts';
import { tableIndex } from '../hw/walker.ts';
import type { AddressSpace } from './address-space.ts';
import { splitHugePmd, splitHugePud } from './huge.ts';
import type { Kernel } from './kernel.ts';
import { type MmStruct, VM_HUGETLB, VM_PFNMAP, type Vma } from './mm-types.ts';

/** What the walker does after a pgd..pmd callback (walk->action). */
export const enum PageWalkAction {
  /** Descend into the entry (default); a huge leaf is split first if a lower-level handler exists. */
  Subtree = 0,
  /** Skip the subtree (no split). */
  Continue = 1,
  /** Re-read and re-run this entry. */
  Again = 2,
}

/** Per-walk state (struct mm_walk). */
export interface MmWalk<P = unknown> {
  readonly k: Kernel;
  readonly ops: MmWalkOps<P>;
  mm: MmStruct | null;
  vma: Vma | null;
  readonly private: P;
  action: PageWalkAction;
  /**
   * Model extension: a pteEntry that needs a scheduling point in the middle of its work (the
   * non-atomic read-then-write of the 2019 RFC) sets this and returns; the walker yields (in
   * explore mode) and calls pteEntry again for the same PTE. Unused by mainline callbacks.
   */
  yieldRetry: boolean;
}

/**
 * struct mm_walk_ops. Entry callbacks get the flat index of the entry in the page-table pool
 * (`k.mem.ptLo[ptep]`, `k.mem.ptHi[ptep]`), its address and the clipped end of what it covers.
 * They return 0 to go on, non-zero to stop the walk with that value. `preVma`/`postVma` are
 * generators because they may sleep (mmu notifiers).
 */
export interface MmWalkOps<P = unknown> {
  pgdEntry?(ptep: number, addr: number, next: number, walk: MmWalk<P>): number;
  p4dEntry?(ptep: number, addr: number, next: number, walk: MmWalk<P>): number;
  pudEntry?(ptep: number, addr: number, next: number, walk: MmWalk<P>): number;
  pmdEntry?(ptep: number, addr: number, next: number, walk: MmWalk<P>): number;
  /** Called with the PTE table's PTL held. */
  pteEntry?(ptep: number, addr: number, next: number, walk: MmWalk<P>): number;
  /**
   * Model extension (speed only): in fast mode the walker hands a whole PTE run [addr, end) of one
   * table (PTEs ptep, ptep + 1, ...) to this callback instead of calling `pteEntry` per PTE. It must
   * behave exactly like calling `pteEntry` on each PTE in order. Never used in explore mode.
   */
  pteRun?(ptep: number, addr: number, end: number, walk: MmWalk<P>): number;
  /** depth: -1 unknown (whole VMA skipped), 0 PGD .. 4 PTE. */
  pteHole?(addr: number, next: number, depth: number, walk: MmWalk<P>): number;
  hugetlbEntry?(ptep: number, addr: number, next: number, walk: MmWalk<P>): number;
  /** Decide on the WHOLE vma [start, end): <0 error, 0 walk it, >0 skip (see walkPageMapping). */
  testWalk?(start: number, end: number, walk: MmWalk<P>): number;
  preVma?(start: number, end: number, walk: MmWalk<P>): KGen<number>;
  postVma?(walk: MmWalk<P>): KGen<void>;
  /**
   * Model extension for the `walk-continue` helper variant: in walkPageMapping, a positive
   * testWalk result skips only that VMA instead of ending the whole walk. Mainline: absent.
   */
  readonly positiveTestWalkSkipsVmaOnly?: boolean;
}

/** Bytes covered by one entry at each level (index = level: 0 PGD(5-level) .. 4 PTE). */
const ENTRY_SIZE = [2 ** 48, 2 ** 39, 2 ** 30, 2 ** 21, 4096];

function nextBoundary(addr: number, level: number, end: number): number {
  const size = ENTRY_SIZE[level]!;
  const b = Math.floor(addr / size) * size + size;
  return Math.min(b, end);
}

/**
 * pte_offset_map_lock: take the PTL of `tablePfn`, then check that the PMD entry `pmdI` still
 * holds what the walker read (`pmdLo`, `pmdHi`). False (PTL released) if it changed meanwhile:
 * the table was freed, replaced or collapsed, and cannot be mapped.
 */
function pmdSame(walk: MmWalk<unknown>, pmdI: number, pmdLo: number, pmdHi: number): boolean {
  const mem = walk.k.mem;
  return mem.ptLo[pmdI] === pmdLo && mem.ptHi[pmdI] === pmdHi;
}

/**
 * Walk the PTEs of the table `tablePfn` covering [addr, end) under its PTL. If the PMD entry
 * `pmdI` changed before the PTL was taken, nothing is walked and walk.action is set to Again
 * (walk_pte_range when pte_offset_map_lock fails): the caller re-reads the PMD entry.
 */
function* walkPteRange<P>(
  walk: MmWalk<P>,
  tablePfn: number,
  addr: number,
  end: number,
  pmdI: number,
  pmdLo: number,
  pmdHi: number,
): KGen<number> {
  const k = walk.k;
  const ops = walk.ops;
  const pteEntry = ops.pteEntry!;
  const ptl = k.ptl(tablePfn);
  yield* ptl.lock();
  if (!pmdSame(walk as MmWalk<unknown>, pmdI, pmdLo, pmdHi)) {
    ptl.unlock();
    walk.action = PageWalkAction.Again;
    return 0;
  }
  const explore = k.explore;
  let i = k.mem.ptSlot[tablePfn]! * 512 + tableIndex(Math.floor(addr / 4096), LEVEL_PTE, k.levels);
  let err = 0;
  for (; addr < end; addr += 4096, i++) {
    err = pteEntry(i, addr, addr + 4096, walk);
    while (walk.yieldRetry) {
      walk.yieldRetry = false;
      if (explore) yield undefined;
      err = pteEntry(i, addr, addr + 4096, walk);
    }
    if (err !== 0) break;
    if (explore && addr + 4096 < end) yield undefined; // another CPU may act between two PTEs
  }
  ptl.unlock();
  return err;
}

/**
 * Walk the entries of `tablePfn` (at `level`, above the PTEs) covering [addr, end).
 *
 * As walk_p*d_range: only a NONE entry is a hole (pte_hole); any other entry, present or not,
 * goes to the level's callback. Descending needs a present table: a huge leaf is split first
 * (with a VMA), and a PTE table is walked only if its PMD entry is unchanged once the PTL is
 * held, else the entry is read again (ACTION_AGAIN). A non-present, non-none entry (a swap or
 * migration entry, which the kernel splits into PTE-level entries) does not occur in the model:
 * descending into one throws.
 */
function* walkLevel<P>(
  walk: MmWalk<P>,
  tablePfn: number,
  level: number,
  addr: number,
  end: number,
): KGen<number> {
  const k = walk.k;
  const mem = k.mem;
  const ops = walk.ops;
  const cb =
    level === LEVEL_PMD
      ? ops.pmdEntry
      : level === LEVEL_PUD
        ? ops.pudEntry
        : level === 1 && k.levels === 5
          ? ops.p4dEntry
          : ops.pgdEntry;
  const hasLower =
    level === LEVEL_PMD
      ? ops.pteEntry !== undefined
      : ops.pteEntry !== undefined || ops.pmdEntry !== undefined;
  let err = 0;
  const pteRun = k.explore ? undefined : ops.pteRun; // MmWalkOps.pteRun is a fast-mode-only batch
  while (addr < end) {
    const next = nextBoundary(addr, level, end);
    const i = mem.ptSlot[tablePfn]! * 512 + tableIndex(Math.floor(addr / 4096), level, k.levels);
    const lo = mem.ptLo[i]!;
    const hi = mem.ptHi[i]!;
    if (lo === 0 && hi === 0) {
      if (ops.pteHole !== undefined) err = ops.pteHole(addr, next, level, walk);
      if (err !== 0) return err;
      addr = next;
      continue;
    }
    walk.action = PageWalkAction.Subtree;
    if (cb !== undefined) {
      err = cb(i, addr, next, walk);
      if (err !== 0) return err;
      const action = walk.action as PageWalkAction; // set by the callback
      if (action === PageWalkAction.Again) continue;
      if (action === PageWalkAction.Continue) {
        addr = next;
        continue;
      }
    }
    if (!hasLower) {
      addr = next;
      continue;
    }
    if ((lo & PTE_PRESENT) === 0) {
      if (walk.vma === null) {
        addr = next; // no VMA: nothing to do with it
        continue;
      }
      throw new Error(
        `walker: non-present, non-none entry 0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')} at level ${level}, 0x${addr.toString(16)}: swap/migration entries are not modelled`,
      );
    }
    if ((level === LEVEL_PMD || level === LEVEL_PUD) && entryHuge(lo)) {
      // Descending into a huge leaf: split it first (the walker does so whenever a VMA is set).
      if (walk.vma !== null) {
        if (level === LEVEL_PMD) yield* splitHugePmd(k, walk.vma, i, addr);
        else yield* splitHugePud(k, walk.vma, i, addr);
        continue; // re-read the entry (AGAIN)
      }
      addr = next;
      continue;
    }
    const child = pfn4k(lo, hi);
    if (level === LEVEL_PMD && pteRun !== undefined) {
      // Fast mode: one pteRun call per PTE table (no boxed address and no indirect call per PTE),
      // and no generator per table while the PTL is uncontended.
      const ptl = k.ptl(child);
      if (!ptl.tryLock()) yield* ptl.lock();
      if (!pmdSame(walk as MmWalk<unknown>, i, lo, hi)) {
        ptl.unlock();
        continue; // ACTION_AGAIN: the PMD changed before the PTL was held
      }
      err = pteRun(
        mem.ptSlot[child]! * 512 + tableIndex(Math.floor(addr / 4096), LEVEL_PTE, k.levels),
        addr,
        next,
        walk,
      );
      ptl.unlock();
    } else if (level === LEVEL_PMD) {
      err = yield* walkPteRange(walk, child, addr, next, i, lo, hi);
      if (err === 0 && (walk.action as PageWalkAction) === PageWalkAction.Again) continue;
    } else err = yield* walkLevel(walk, child, level + 1, addr, next);
    if (err !== 0) return err;
    addr = next;
  }
  return 0;
}

/** Table walk of [start, end) in walk.mm (no VMA logic). */
function* walkPgdRange<P>(walk: MmWalk<P>, start: number, end: number): KGen<number> {
  const k = walk.k;
  return yield* walkLevel(walk, walk.mm!.root, k.levels === 5 ? 0 : 1, start, end);
}

function* walkHugetlbRange<P>(walk: MmWalk<P>, start: number, end: number): KGen<number> {
  // Hugetlb mappings are only handed to hugetlbEntry (under the hugetlb VMA lock, a scheduling
  // point); the model has no hugetlbfs page tables of its own, so it reports the range as one
  // entry-less callback when a handler exists.
  if (walk.ops.hugetlbEntry === undefined) return 0;
  if (walk.k.explore) yield undefined;
  return walk.ops.hugetlbEntry(-1, start, end, walk);
}

/** __walk_page_range: one VMA's (clipped) range, with preVma/postVma around it. */
function* walkOneVma<P>(walk: MmWalk<P>, start: number, end: number): KGen<number> {
  const ops = walk.ops;
  const vma = walk.vma!;
  if (ops.preVma !== undefined) {
    const err = yield* ops.preVma(start, end, walk);
    if (err !== 0) return err;
  }
  let err: number;
  if ((vma.flags & VM_HUGETLB) !== 0) err = yield* walkHugetlbRange(walk, start, end);
  else err = yield* walkPgdRange(walk, start, end);
  // post_vma runs whenever pre_vma succeeded, even if the table walk failed (spec section 2).
  if (ops.postVma !== undefined) yield* ops.postVma(walk);
  return err;
}

function newWalk<P>(k: Kernel, ops: MmWalkOps<P>, priv: P): MmWalk<P> {
  return { k, ops, mm: null, vma: null, private: priv, action: PageWalkAction.Subtree, yieldRetry: false };
}

/** The default VMA test when ops has no testWalk: skip VM_PFNMAP (reporting a depth -1 hole). */
function defaultTestWalk<P>(walk: MmWalk<P>, start: number, end: number): number {
  const vma = walk.vma!;
  if ((vma.flags & VM_PFNMAP) !== 0) {
    let err = 1;
    if (walk.ops.pteHole !== undefined) err = walk.ops.pteHole(start, end, -1, walk) || 1;
    return err;
  }
  return 0;
}

/**
 * Walk the page tables of every file VMA of `mapping` overlapping file pages
 * [firstIndex, firstIndex + nr), calling `ops` on each level.
 *
 * @param k        the kernel.
 * @param mapping  the address_space whose i_mmap tree is walked.
 * @param firstIndex first file page index of the range.
 * @param nr       number of pages; must be >= 1 (0 is not a supported input, spec Q2).
 * @param ops      callbacks; `testWalk` sees the whole VMA, the table walk only the clipped range.
 * @param priv     walk-private data.
 * @returns 0, a negative error, or a positive value a callback returned.
 *
 * Locking: caller holds `mapping.iMmapRwsem` (read suffices; asserted). No mmap_lock is taken:
 * the VMAs may belong to many mms. Only immutable VMA flags can be trusted.
 *
 * Guarantees / behaviour (spec section 2):
 *  a) VMAs are visited in interval-tree order (ascending start pgoff, then link order);
 *  b) a positive `testWalk` result ENDS the whole walk (returning 0), not just that VMA
 *     (quirk Q1); ops with `positiveTestWalkSkipsVmaOnly` model the alternative;
 *  c) `postVma` is called whenever `preVma` succeeded;
 *  d) each PTE run is visited with its PTL held.
 */
export function* walkPageMapping<P>(
  k: Kernel,
  mapping: AddressSpace,
  firstIndex: number,
  nr: number,
  ops: MmWalkOps<P>,
  priv: P,
): KGen<number> {
  mapping.iMmapRwsem.assertHeld();
  if (!(nr >= 1)) throw new RangeError(`walkPageMapping: nr must be >= 1, got ${nr}`);
  const prev = k.enter('walkPageMapping');
  const walk = newWalk(k, ops, priv);
  const firstEnd = firstIndex + nr;
  let err = 0;
  for (const vma of mapping.overlapping(firstIndex, firstEnd - 1)) {
    const vba = vma.pgoff;
    const vea = vba + vma.pages;
    const cba = Math.max(firstIndex, vba);
    const cea = Math.min(firstEnd, vea);
    const startAddr = vma.start + (cba - vba) * 4096;
    const endAddr = vma.start + (cea - vba) * 4096;
    if (startAddr >= endAddr) continue;
    walk.vma = vma;
    walk.mm = vma.mm;
    err =
      ops.testWalk !== undefined
        ? ops.testWalk(vma.start, vma.end, walk)
        : defaultTestWalk(walk, vma.start, vma.end);
    if (err > 0) {
      err = 0;
      if (ops.positiveTestWalkSkipsVmaOnly === true) continue;
      break;
    }
    if (err < 0) break;
    err = yield* walkOneVma(walk, startAddr, endAddr);
    if (err !== 0) break;
  }
  k.leave(prev);
  return err;
}

/**
 * Walk [start, end) of one mm across its VMAs (walk_page_range). A positive testWalk skips only
 * that VMA. Holes between VMAs are reported with depth -1.
 *
 * Locking: caller holds `mm.mmapLock` (asserted).
 */
export function* walkPageRange<P>(
  k: Kernel,
  mm: MmStruct,
  start: number,
  end: number,
  ops: MmWalkOps<P>,
  priv: P,
): KGen<number> {
  mm.mmapLock.assertHeld();
  if (start >= end) return -22;
  const walk = newWalk(k, ops, priv);
  walk.mm = mm;
  const vmas = mm.vmas.filter((v) => v.end > start && v.start < end).sort((a, b) => a.start - b.start);
  let addr = start;
  for (const vma of vmas) {
    const s = Math.max(start, vma.start);
    const e = Math.min(end, vma.end);
    if (addr < s && ops.pteHole !== undefined) {
      const err = ops.pteHole(addr, s, -1, walk);
      if (err !== 0) return err;
    }
    walk.vma = vma;
    let err = ops.testWalk !== undefined ? ops.testWalk(s, e, walk) : defaultTestWalk(walk, s, e);
    if (err < 0) return err;
    if (err === 0) {
      err = yield* walkOneVma(walk, s, e);
      if (err !== 0) return err;
    }
    addr = e;
  }
  if (addr < end && ops.pteHole !== undefined) return ops.pteHole(addr, end, -1, walk);
  return 0;
}

/**
 * Walk [start, end) inside one VMA (walk_page_vma / range variant).
 *
 * Locking: caller holds `vma.mm.mmapLock` (asserted).
 */
export function* walkPageVma<P>(k: Kernel, vma: Vma, ops: MmWalkOps<P>, priv: P): KGen<number> {
  vma.mm.mmapLock.assertHeld();
  const walk = newWalk(k, ops, priv);
  walk.mm = vma.mm;
  walk.vma = vma;
  const err =
    ops.testWalk !== undefined
      ? ops.testWalk(vma.start, vma.end, walk)
      : defaultTestWalk(walk, vma.start, vma.end);
  if (err > 0) return 0;
  if (err < 0) return err;
  return yield* walkOneVma(walk, vma.start, vma.end);
}
