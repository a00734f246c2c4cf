/**
 * Reverse-map write-protect/clean helpers (spec section 6): page_vma_mkclean_one and its users
 * folio_mkclean, pfn_mkclean_range and mapping_wrprotect_range (fbdev deferred I/O).
 *
 * Unlike the walk_page_mapping helpers these clear AND write-protect each matching PTE with an
 * immediate per-PTE flush under the PTL (ptep_clear_flush), filter by PFN, and check only
 * VM_SHARED.
 */
import type { KGen } from '../checker/task.ts';
import { tableAt } from '../hw/pagetable.ts';
import {
  entryHuge,
  LEVEL_PMD,
  mkcleanHi,
  mkcleanLo,
  PTE_PRESENT,
  PTE_RW,
  pfn2m,
  pfn4k,
  pteDirty,
  wrprotectHi,
  wrprotectLo,
} from '../hw/pte.ts';
import { tableIndex } from '../hw/walker.ts';
import type { AddressSpace } from './address-space.ts';
import type { Kernel } from './kernel.ts';
import { setPteAt } from './memory.ts';
import { VM_SHARED, type Vma } from './mm-types.ts';
import {
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { flushTlbPage, flushTlbRange } from './tlbflush.ts';

/**
 * vma_address(vma, pgoff, nr): address of file page `pgoff` in `vma`, or vm_start when the
 * interval [pgoff, pgoff + nr) begins before the VMA. Throws (BUG) if they do not overlap.
 */
export function vmaAddress(vma: Vma, pgoff: number, nr: number): number {
  if (pgoff >= vma.pgoff) {
    if (pgoff >= vma.pgoff + vma.pages) throw new Error(`BUG: pgoff ${pgoff} beyond ${vma}`);
    return vma.addrOf(pgoff);
  }
  if (pgoff + nr - 1 >= vma.pgoff) return vma.start;
  throw new Error(`BUG: [${pgoff}, ${pgoff + nr}) does not overlap ${vma}`);
}

const PMD_SIZE = 2 ** 21;

/** set_pmd_at for the model: write a PMD entry, tracing the change. Caller holds the PMD lock. */
function setPmdAt(k: Kernel, vma: Vma, addr: number, i: number, lo: number, hi: number): void {
  const mem = k.mem;
  const oldLo = mem.ptLo[i]!;
  const oldHi = mem.ptHi[i]!;
  mem.ptLo[i] = lo >>> 0;
  mem.ptHi[i] = hi >>> 0;
  if (k.trace !== null)
    k.trace.emit({
      kind: 'pte',
      mm: vma.mm.id,
      addr,
      level: LEVEL_PMD,
      oldLo,
      oldHi,
      newLo: lo >>> 0,
      newHi: hi >>> 0,
      by: 'kernel',
    });
}

/**
 * page_vma_mkclean_one: in `vma`, clean and write-protect every present entry in [address, end)
 * (default: address + nrPages pages, clipped to the VMA) that maps a PFN in [pfn, pfn + nrPages)
 * and is dirty or writable. `end` is vma_address_end: when the file interval begins before the
 * VMA, the walk is shorter than nrPages but the PFN window is not.
 *
 * Walks as page_vma_mapped_walk with PVMW_SYNC does, one page-table chunk (2 MiB) at a time:
 * - a huge PMD mapping any PFN of the window (check_pmd) is handled whole under the PMD lock:
 *   pmdp_invalidate (the entry is made not present and the 2 MiB range flushed), then set back
 *   write-protected and clean; it counts as one entry;
 * - a PTE table is handled under its PTL, taken ONCE for all the PTEs of the chunk (another CPU
 *   may still act between two PTEs, through its TLB or the hardware walker, but cannot take the
 *   PTL); each matching PTE gets ptep_clear_flush (cleared, flushed on every CPU), then is set
 *   back write-protected and clean;
 * - after taking the lock the PMD is re-read: if it changed (split, collapsed, freed) the chunk
 *   is walked again (the map_pte / pmd_same retry).
 *
 * @returns the number of entries cleaned.
 *
 * Locking: the PMD lock or the PTL of each chunk; the caller holds i_mmap_rwsem (or the folio
 * lock) so the VMA stays.
 */
export function* pageVmaMkcleanOne(
  k: Kernel,
  vma: Vma,
  address: number,
  pfn: number,
  nrPages: number,
  end: number = Math.min(vma.end, address + nrPages * 4096),
): KGen<number> {
  const prev = k.enter('pageVmaMkcleanOne');
  const mm = vma.mm;
  const range = mmuNotifierRangeInit('PROTECTION_PAGE', mm, address, end);
  yield* mmuNotifierInvalidateRangeStart(k, range);
  let cleaned = 0;
  const mem = k.mem;
  let addr = address;
  while (addr < end) {
    const chunkEnd = Math.min(end, (Math.floor(addr / PMD_SIZE) + 1) * PMD_SIZE);
    const vpn = Math.floor(addr / 4096);
    const pmdTable = tableAt(mem, mm.root, vpn, LEVEL_PMD, k.levels);
    if (pmdTable < 0) {
      addr = chunkEnd;
      continue;
    }
    const pmdI = mem.ptSlot[pmdTable]! * 512 + tableIndex(vpn, LEVEL_PMD, k.levels);
    const pmdLo = mem.ptLo[pmdI]!;
    const pmdHi = mem.ptHi[pmdI]!;
    if ((pmdLo & PTE_PRESENT) === 0) {
      addr = chunkEnd; // pmd_none (or not present): nothing mapped here
      continue;
    }
    if (entryHuge(pmdLo)) {
      const pl = k.ptl(pmdTable); // pmd_lock
      yield* pl.lock();
      const lo = mem.ptLo[pmdI]!;
      const hi = mem.ptHi[pmdI]!;
      if (lo !== pmdLo || hi !== pmdHi) {
        pl.unlock();
        continue; // changed under us: look at this chunk again
      }
      const p = pfn2m(lo, hi);
      if (p + 511 >= pfn && p <= pfn + nrPages - 1 && ((lo & PTE_RW) !== 0 || pteDirty(lo, hi))) {
        const base = Math.floor(addr / PMD_SIZE) * PMD_SIZE;
        // pmdp_invalidate: not present, then flush the whole huge range on every CPU.
        setPmdAt(k, vma, base, pmdI, lo & ~PTE_PRESENT, hi);
        flushTlbRange(k, mm, base, base + PMD_SIZE);
        setPmdAt(
          k,
          vma,
          base,
          pmdI,
          wrprotectLo(mkcleanLo(lo), false),
          wrprotectHi(mkcleanLo(lo), mkcleanHi(hi), false),
        );
        k.counters.ptesChanged++;
        k.counters.ptesChangedByWp++;
        cleaned++;
      }
      k.counters.ptesVisited++;
      pl.unlock();
      addr = chunkEnd;
      continue;
    }
    const table = pfn4k(pmdLo, pmdHi);
    const ptl = k.ptl(table);
    yield* ptl.lock();
    if (mem.ptLo[pmdI] !== pmdLo || mem.ptHi[pmdI] !== pmdHi) {
      ptl.unlock();
      continue; // the PTE table went away or was replaced: look at this chunk again
    }
    for (; addr < chunkEnd; addr += 4096) {
      const i = mem.ptSlot[table]! * 512 + (Math.floor(addr / 4096) & 511);
      const lo = mem.ptLo[i]!;
      const hi = mem.ptHi[i]!;
      const p = pfn4k(lo, hi);
      // Skip non-present entries (device-exclusive etc., 2025 fix), other PFNs, and clean read-only PTEs.
      if (
        (lo & PTE_PRESENT) !== 0 &&
        p >= pfn &&
        p < pfn + nrPages &&
        ((lo & PTE_RW) !== 0 || pteDirty(lo, hi))
      ) {
        // ptep_clear_flush: clear and flush this page on every CPU while holding the PTL.
        setPteAt(k, vma, addr, i, 0, 0);
        flushTlbPage(k, mm, addr);
        const nlo = wrprotectLo(mkcleanLo(lo), false);
        const nhi = wrprotectHi(mkcleanLo(lo), mkcleanHi(hi), false);
        setPteAt(k, vma, addr, i, nlo, nhi);
        k.counters.ptesChanged++;
        k.counters.ptesChangedByWp++;
        cleaned++;
      }
      k.counters.ptesVisited++;
      if (k.explore && addr + 4096 < chunkEnd) yield undefined; // another CPU may act between two PTEs
    }
    ptl.unlock();
  }
  yield* mmuNotifierInvalidateRangeEnd(k, range);
  k.leave(prev);
  return cleaned;
}

/**
 * mapping_wrprotect_range - write-protect and clean every PTE that maps PFNs
 * [pfn, pfn + nrPages) at file offsets [pgoff, pgoff + nrPages) of `mapping`.
 *
 * @param k        the kernel.
 * @param mapping  the address space (null: returns 0).
 * @param pgoff    first file page offset.
 * @param pfn      PFN expected at `pgoff` (the range is physically contiguous).
 * @param nrPages  number of pages.
 * @returns the number of PTEs cleaned (writable or dirty before, read-only and clean after).
 *
 * Locking: i_mmap_rwsem for read (a trylock first, then blocking: it always completes), then the
 * PTL of each PTE, with a per-PTE TLB flush under it.
 *
 * Guarantees:
 *  a) on return, no PTE in a VM_SHARED VMA maps those PFNs at those offsets writable or dirty,
 *     and no CPU TLB caches them writable;
 *  b) only PTEs mapping the given PFNs are touched: a COW'ed private copy at the same offset,
 *     or a different page now cached there, is left alone;
 *  c) VMAs without VM_SHARED are skipped; VM_MAYWRITE and hugetlb are not checked.
 */
export function* mappingWrprotectRange(
  k: Kernel,
  mapping: AddressSpace | null,
  pgoff: number,
  pfn: number,
  nrPages: number,
): KGen<number> {
  if (mapping === null) return 0;
  const prev = k.enter('mappingWrprotectRange');
  if (k.trace !== null) k.trace.emit({ kind: 'call', args: { pgoff, pfn, nrPages } });
  if (!mapping.iMmapRwsem.tryDownRead()) yield* mapping.iMmapRwsem.downRead();
  let total = 0;
  for (const vma of mapping.overlapping(pgoff, pgoff + nrPages - 1)) {
    if ((vma.flags & VM_SHARED) === 0) continue;
    const address = vmaAddress(vma, pgoff, nrPages);
    // The walk ends at vma_address_end (file page pgoff + nrPages, clipped); the PFN window stays
    // [pfn, pfn + nrPages) even when the interval starts before the VMA.
    const end = Math.min(vma.end, vma.addrOf(pgoff + nrPages));
    total += yield* pageVmaMkcleanOne(k, vma, address, pfn, nrPages, end);
  }
  mapping.iMmapRwsem.upRead();
  if (k.trace !== null) k.trace.emit({ kind: 'return', ret: total });
  k.leave(prev);
  return total;
}

/**
 * pfn_mkclean_range - clean and write-protect PFNs [pfn, pfn + nrPages) mapped at `pgoff` in one
 * VMA (DAX).
 *
 * @returns entries cleaned; 0 if the VMA is not VM_SHARED.
 *
 * Locking: caller holds i_mmap_rwsem (or otherwise keeps the VMA alive); PTLs are taken here.
 */
export function* pfnMkcleanRange(
  k: Kernel,
  pfn: number,
  nrPages: number,
  pgoff: number,
  vma: Vma,
): KGen<number> {
  if ((vma.flags & VM_SHARED) === 0) return 0;
  return yield* pageVmaMkcleanOne(k, vma, vmaAddress(vma, pgoff, nrPages), pfn, nrPages);
}

/**
 * folio_mkclean - clean and write-protect every shared mapping of the page-cache folio at file
 * index `index` of `mapping` (writeback's clear_page_dirty_for_io).
 *
 * @returns entries cleaned.
 *
 * Locking: the folio lock MUST be held by the caller (BUG otherwise); takes i_mmap_rwsem for read.
 */
export function* folioMkclean(
  k: Kernel,
  mapping: AddressSpace,
  index: number,
  pfn: number,
  nrPages = 1,
): KGen<number> {
  if (!k.pageLock(pfn).heldByMe()) throw new Error(`BUG: folio_mkclean on unlocked folio pfn ${pfn}`);
  yield* mapping.iMmapRwsem.downRead();
  let total = 0;
  for (const vma of mapping.overlapping(index, index + nrPages - 1)) {
    if ((vma.flags & VM_SHARED) === 0) continue; // invalid_mkclean_vma
    const address = vmaAddress(vma, index, nrPages);
    const end = Math.min(vma.end, vma.addrOf(index + nrPages));
    total += yield* pageVmaMkcleanOne(k, vma, address, pfn, nrPages, end);
  }
  mapping.iMmapRwsem.upRead();
  return total;
}
