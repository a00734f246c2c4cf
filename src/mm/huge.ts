import type { KGen } from '../checker/task.ts';
import { entryIndexAt, tableAt } from '../hw/pagetable.ts';
import {
  entryHuge,
  LEVEL_PMD,
  mkHi,
  mkLo,
  PTE_ACCESSED,
  PTE_DIRTY,
  PTE_PRESENT,
  PTE_PSE,
  PTE_RW,
  PTE_SPECIAL,
  PTE_USER,
} from '../hw/pte.ts';
import type { Kernel } from './kernel.ts';
import type { Vma } from './mm-types.ts';
import { flushTlbRange } from './tlbflush.ts';

const PMD_SIZE = 2 ** 21;
const PUD_SIZE = 2 ** 30;

/**
 * split_huge_pmd on a file / PFN huge mapping: the model follows the kernel in zapping the entry
 * (it will be refaulted at PTE level). For PFN mappings without struct pages the dirty bit of the
 * zapped entry is simply gone: this is why the dirty helpers never split (spec 3.5, R7).
 * Records a `hugeSplitLostDirty` warning when a dirty entry is zapped.
 */
export function* splitHugePmd(k: Kernel, vma: Vma, pmdIdx: number, addr: number): KGen<void> {
  const mem = k.mem;
  const base = Math.floor(addr / PMD_SIZE) * PMD_SIZE;
  const table = tableAt(mem, vma.mm.root, Math.floor(base / 4096), LEVEL_PMD, k.levels);
  const lock = k.ptl(table);
  yield* lock.lock();
  const lo = mem.ptLo[pmdIdx]!;
  if (entryHuge(lo)) {
    if (k.trace !== null)
      k.trace.emit({
        kind: 'pte',
        mm: vma.mm.id,
        addr: base,
        level: LEVEL_PMD,
        oldLo: lo,
        oldHi: mem.ptHi[pmdIdx]!,
        newLo: 0,
        newHi: 0,
        by: 'kernel',
      });
    if ((lo & PTE_DIRTY) !== 0)
      k.warn(`split_huge_pmd zapped a dirty huge entry at 0x${base.toString(16)}: dirty state lost`);
    mem.ptLo[pmdIdx] = 0;
    mem.ptHi[pmdIdx] = 0;
    flushTlbRange(k, vma.mm, base, base + PMD_SIZE);
  }
  lock.unlock();
}

/** split_huge_pud: same as {@link splitHugePmd} for 1 GiB leaves. */
export function* splitHugePud(k: Kernel, vma: Vma, pudIdx: number, addr: number): KGen<void> {
  const mem = k.mem;
  const base = Math.floor(addr / PUD_SIZE) * PUD_SIZE;
  const lo = mem.ptLo[pudIdx]!;
  if (k.explore) yield undefined;
  if (entryHuge(lo)) {
    if ((lo & PTE_DIRTY) !== 0)
      k.warn(`split_huge_pud zapped a dirty huge entry at 0x${base.toString(16)}: dirty state lost`);
    mem.ptLo[pudIdx] = 0;
    mem.ptHi[pudIdx] = 0;
    flushTlbRange(k, vma.mm, base, base + PUD_SIZE);
  }
}

/**
 * vmf_insert_pfn_pmd: map `pfn` (2 MiB aligned) with a huge PMD at the 2 MiB-aligned `addr`.
 * `write` makes it writable+dirty, else read-only and clean. Returns false if a PTE table is
 * already there.
 */
export function insertPfnPmd(k: Kernel, vma: Vma, addr: number, pfn: number, write: boolean): boolean {
  if (addr % PMD_SIZE !== 0 || pfn % 512 !== 0)
    throw new RangeError('insertPfnPmd: addr and pfn must be 2 MiB aligned');
  const mem = k.mem;
  const i = entryIndexAt(mem, vma.mm.root, Math.floor(addr / 4096), LEVEL_PMD, k.levels, true);
  if (i < 0) return false;
  const old = mem.ptLo[i]!;
  if ((old & PTE_PRESENT) !== 0 && !entryHuge(old)) return false;
  const lo = mkLo(
    pfn,
    PTE_PRESENT | PTE_USER | PTE_PSE | PTE_SPECIAL | PTE_ACCESSED | (write ? PTE_RW | PTE_DIRTY : 0),
  );
  mem.ptLo[i] = lo;
  mem.ptHi[i] = mkHi(pfn, 0);
  if (k.trace !== null)
    k.trace.emit({
      kind: 'pte',
      mm: vma.mm.id,
      addr,
      level: LEVEL_PMD,
      oldLo: old,
      oldHi: 0,
      newLo: lo,
      newHi: mem.ptHi[i]!,
      by: 'kernel',
    });
  return true;
}
