import type { KGen } from '../checker/task.ts';
import { entryIndexAt, tableAt } from '../hw/pagetable.ts';
import {
  entryHuge,
  LEVEL_PMD,
  LEVEL_PTE,
  mkwriteHi,
  mkwriteLo,
  PTE_PRESENT,
  PTE_UFFD_WP,
  PTE_USER,
  pfn4k,
  pteDirty,
  wrprotectHi,
  wrprotectLo,
} from '../hw/pte.ts';
import type { AddressSpace } from './address-space.ts';
import type { Kernel } from './kernel.ts';
import { Rwsem } from './locks.ts';
import { filemapFault, setPteAt, vmaSetPageProt, vmaWantsWritenotify } from './memory.ts';
import {
  MmStruct,
  VM_HUGETLB,
  VM_MAYEXEC,
  VM_MAYREAD,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_UFFD_WP,
  VM_WRITE,
  Vma,
  type VmOps,
} from './mm-types.ts';
import {
  type MmuNotifyEvent,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { decTlbFlushPending, flushTlbRange, incTlbFlushPending } from './tlbflush.ts';

export const PROT_NONE = 0;
export const PROT_READ = 1;
export const PROT_WRITE = 2;

export const EACCES = 13;
export const EINVAL = 22;
export const ENOMEM = 12;

/** Default vm_ops for page-cache files (shmem/memfd or a disk file). */
export const FILE_VM_OPS: VmOps = Object.freeze({ name: 'filemap', fault: filemapFault });

/** Where mmap places mappings when no address is given. */
const MMAP_BASE = 0x7f00_0000_0000;
const mmapCursor = new WeakMap<MmStruct, number>();

/** Create an mm (a process address space) with an empty page-table root. */
export function mmCreate(k: Kernel, name: string): MmStruct {
  const id = k.allocMmId();
  const mm = new MmStruct(id, k.mem.allocPageTable(), new Rwsem(k, `mmap_lock(mm${id})`), name);
  mmapCursor.set(mm, MMAP_BASE);
  return mm;
}

/** Make `cpu` run `mm` (CR3 load; adds the CPU to mm_cpumask). */
export function switchMm(k: Kernel, cpu: number, mm: MmStruct): void {
  k.cpus[cpu]!.switchMm(mm.id, mm.root);
  mm.cpumask.set(cpu);
}

export interface MmapArgs {
  /** Fixed address (page aligned); chosen by the kernel if absent. */
  addr?: number;
  /** Bytes (rounded up to pages). */
  length: number;
  prot: number;
  shared: boolean;
  /** File page offset. */
  pgoff: number;
  /** The fd was opened O_RDWR (else O_RDONLY). */
  fdWritable: boolean;
}

/**
 * mmap of a file. Flag rules (spec section 1): MAP_SHARED gives VM_SHARED|VM_MAYSHARE and
 * VM_MAYWRITE, but a read-only fd keeps VM_MAYSHARE only (VM_SHARED and VM_MAYWRITE dropped;
 * PROT_WRITE then fails with EACCES). MAP_PRIVATE always has VM_MAYWRITE (COW).
 *
 * @returns the new VMA, or a negative errno.
 *
 * Locking: takes `mm.mmapLock` for write and the file's i_mmap_rwsem for write to link.
 */
export function* doMmap(k: Kernel, mm: MmStruct, file: AddressSpace, a: MmapArgs): KGen<Vma | number> {
  const pages = Math.ceil(a.length / 4096);
  if (pages < 1 || a.pgoff < 0) return -EINVAL;
  let flags = VM_MAYREAD | VM_MAYEXEC | VM_MAYWRITE;
  if ((a.prot & PROT_READ) !== 0) flags |= VM_READ;
  if ((a.prot & PROT_WRITE) !== 0) flags |= VM_WRITE;
  if (a.shared) {
    flags |= VM_SHARED | VM_MAYSHARE;
    if (!a.fdWritable) {
      if ((a.prot & PROT_WRITE) !== 0) return -EACCES;
      flags &= ~(VM_SHARED | VM_MAYWRITE);
    }
  }
  yield* mm.mmapLock.downWrite();
  let start = a.addr;
  if (start === undefined) {
    start = mmapCursor.get(mm)!;
    mmapCursor.set(mm, start + (pages + 512) * 4096); // leave a gap so VMAs never merge
  }
  const vma = new Vma(mm, start, start + pages * 4096, a.pgoff, flags, file.defaultOps ?? FILE_VM_OPS, file);
  if (mm.vmas.some((v) => v.start < vma.end && vma.start < v.end)) {
    mm.mmapLock.upWrite();
    return -EINVAL; // the model does not implement MAP_FIXED replacement
  }
  if (file.mmapHook !== null) {
    const err = file.mmapHook(k, vma);
    if (err < 0) {
      mm.mmapLock.upWrite();
      return err;
    }
  }
  vmaSetPageProt(vma);
  yield* file.iMmapRwsem.downWrite();
  file.link(vma);
  file.iMmapRwsem.upWrite();
  mm.vmas.push(vma);
  mm.mmapLock.upWrite();
  return vma;
}

/**
 * Zap the PTEs of [start, end) in `vma` (zap_pte_range via an mmu_gather): clear each present
 * PTE under its PTL, then one ranged flush. Dirty state of PFN mappings is discarded (the
 * reason vmwgfx needs pre_unmap, and spec quirk Q10). Returns the number of PTEs zapped.
 */
export function* zapVmaRange(
  k: Kernel,
  vma: Vma,
  start: number,
  end: number,
  event: MmuNotifyEvent,
): KGen<number> {
  const mm = vma.mm;
  const range = mmuNotifierRangeInit(event, mm, start, end);
  yield* mmuNotifierInvalidateRangeStart(k, range);
  incTlbFlushPending(mm);
  let zapped = 0;
  let dirtyLost = 0;
  for (let addr = start; addr < end; ) {
    const vpn = Math.floor(addr / 4096);
    const tableEnd = Math.min(end, (Math.floor(vpn / 512) + 1) * 512 * 4096);
    const table = tableAt(k.mem, mm.root, vpn, LEVEL_PTE, k.levels);
    if (table < 0) {
      const pmdI = entryIndexAt(k.mem, mm.root, vpn, LEVEL_PMD, k.levels, false);
      if (pmdI >= 0 && entryHuge(k.mem.ptLo[pmdI]!)) {
        k.mem.ptLo[pmdI] = 0;
        k.mem.ptHi[pmdI] = 0;
        zapped++;
      }
      addr = tableEnd;
      continue;
    }
    const ptl = k.ptl(table);
    yield* ptl.lock();
    let i = k.mem.ptSlot[table]! * 512 + (vpn & 511);
    for (; addr < tableEnd; addr += 4096, i++) {
      const lo = k.mem.ptLo[i]!;
      const hi = k.mem.ptHi[i]!;
      if (lo === 0 && hi === 0) continue;
      if ((lo & PTE_PRESENT) !== 0) {
        zapped++;
        if (pteDirty(lo, hi)) {
          const pfn = pfn4k(lo, hi);
          if (k.mem.hasStructPage(pfn) && vma.file !== null)
            vma.file.dirtyPages.add(pfn); // folio_mark_dirty
          else {
            dirtyLost++;
            if (vma.ops?.zapDirtyPfn !== undefined) vma.ops.zapDirtyPfn(k, vma, vma.pgoffOf(addr));
          }
        }
      }
      setPteAt(k, vma, addr, i, 0, 0);
      if (k.explore) yield undefined;
    }
    ptl.unlock();
  }
  if (zapped > 0) flushTlbRange(k, mm, start, end);
  decTlbFlushPending(mm);
  yield* mmuNotifierInvalidateRangeEnd(k, range);
  if (dirtyLost > 0) k.counters.zapDirtyLost += dirtyLost;
  return zapped;
}

/** Split `vma` so that `addr` is a VMA boundary (split_vma). Caller holds mmap_lock (write). */
function* splitVma(vma: Vma, addr: number): KGen<Vma> {
  const mm = vma.mm;
  const tail = new Vma(mm, addr, vma.end, vma.pgoffOf(addr), vma.flags, vma.ops, vma.file, vma.privateData);
  tail.pageProt = vma.pageProt;
  if (vma.file !== null) {
    yield* vma.file.iMmapRwsem.downWrite();
    vma.file.unlink(vma);
    vma.end = addr;
    vma.file.link(vma);
    vma.file.link(tail);
    vma.file.iMmapRwsem.upWrite();
  } else {
    vma.end = addr;
  }
  mm.vmas.push(tail);
  return tail;
}

/** VMAs of `mm` covering exactly [start, end) after splitting at the edges. */
function* vmasInRange(mm: MmStruct, start: number, end: number): KGen<Vma[]> {
  for (const v of [...mm.vmas]) {
    if (v.start < start && v.end > start) yield* splitVma(v, start);
  }
  for (const v of [...mm.vmas]) {
    if (v.start < end && v.end > end) yield* splitVma(v, end);
  }
  return mm.vmas.filter((v) => v.start >= start && v.end <= end).sort((a, b) => a.start - b.start);
}

/**
 * munmap: zap, unlink from i_mmap (which is what keeps walk_page_mapping away), then free the
 * page tables no remaining VMA uses (free_pgtables). Returns 0 or a negative errno.
 *
 * Locking: mmap_lock for write; i_mmap_rwsem for write around the unlink.
 */
export function* doMunmap(k: Kernel, mm: MmStruct, start: number, length: number): KGen<number> {
  if (start % 4096 !== 0 || length <= 0) return -EINVAL;
  const end = start + Math.ceil(length / 4096) * 4096;
  yield* mm.mmapLock.downWrite();
  const vmas = yield* vmasInRange(mm, start, end);
  for (const vma of vmas) {
    yield* zapVmaRange(k, vma, vma.start, vma.end, 'UNMAP');
    if (vma.file !== null) {
      yield* vma.file.iMmapRwsem.downWrite();
      vma.file.unlink(vma);
      vma.file.iMmapRwsem.upWrite();
    }
    mm.vmas.splice(mm.vmas.indexOf(vma), 1);
    freePgtables(k, mm, vma.start, vma.end);
  }
  mm.mmapLock.upWrite();
  return 0;
}

/** free_pgtables: free PTE tables wholly inside [start, end) that no remaining VMA overlaps. */
function freePgtables(k: Kernel, mm: MmStruct, start: number, end: number): void {
  const span = 512 * 4096;
  for (let base = Math.floor(start / span) * span; base < end; base += span) {
    if (mm.vmas.some((v) => v.start < base + span && v.end > base)) continue;
    const vpn = base / 4096;
    const pmdI = entryIndexAt(k.mem, mm.root, vpn, LEVEL_PMD, k.levels, false);
    if (pmdI < 0) continue;
    const lo = k.mem.ptLo[pmdI]!;
    if ((lo & PTE_PRESENT) === 0 || entryHuge(lo)) continue;
    const table = pfn4k(lo, k.mem.ptHi[pmdI]!);
    k.mem.ptLo[pmdI] = 0;
    k.mem.ptHi[pmdI] = 0;
    k.mem.freePageTable(table);
  }
}

/**
 * mprotect (spec 7.4). Changing to writable in a shared write-notify VMA makes only DIRTY PTEs
 * writable (can_change_pte_writable, shared branch; not with uffd-wp); clean PTEs stay read-only
 * so their first write still faults into mkwrite. Removing write clears RW everywhere. Uses
 * the deferred-flush protocol (pending count, one ranged flush) and PROTECTION_VMA notifiers.
 *
 * Locking: mmap_lock for write; the PTL of each PTE table.
 */
export function* doMprotect(
  k: Kernel,
  mm: MmStruct,
  start: number,
  length: number,
  prot: number,
): KGen<number> {
  if (start % 4096 !== 0 || length <= 0) return -EINVAL;
  const end = start + Math.ceil(length / 4096) * 4096;
  yield* mm.mmapLock.downWrite();
  // As do_mprotect_pkey: VMAs in address order; a hole (at the start or between VMAs) ends the
  // walk with -ENOMEM and a VMA that may not get the new protection ends it with -EACCES, after
  // the VMAs before it were changed; a VMA whose flags do not change is neither split nor
  // touched (mprotect_fixup returns early). Found by lab diff on Linux 6.1: the model returned 0
  // over a hole, checked EACCES for every VMA first, and split and re-protected unchanged VMAs.
  const vmas = mm.vmas.filter((v) => v.start < end && v.end > start).sort((x, y) => x.start - y.start);
  let err = 0;
  let at = start;
  for (const v0 of vmas) {
    if (v0.start > at) {
      err = -ENOMEM;
      break;
    }
    if ((prot & PROT_WRITE) !== 0 && (v0.flags & VM_MAYWRITE) === 0) {
      err = -EACCES;
      break;
    }
    let f = v0.flags & ~(VM_READ | VM_WRITE);
    if ((prot & PROT_READ) !== 0) f |= VM_READ;
    if ((prot & PROT_WRITE) !== 0) f |= VM_WRITE;
    at = Math.min(v0.end, end);
    if (f === v0.flags) continue;
    let vma = v0;
    if (vma.start < start) vma = yield* splitVma(vma, start);
    if (vma.end > end) yield* splitVma(vma, end);
    vma.flags = f;
    vmaSetPageProt(vma);
    yield* changeProtection(k, vma);
  }
  if (err === 0 && at < end) err = -ENOMEM;
  mm.mmapLock.upWrite();
  return err;
}

/** change_protection over a whole VMA after its flags changed. */
function* changeProtection(k: Kernel, vma: Vma): KGen<void> {
  const mm = vma.mm;
  const range = mmuNotifierRangeInit('PROTECTION_VMA', mm, vma.start, vma.end);
  yield* mmuNotifierInvalidateRangeStart(k, range);
  incTlbFlushPending(mm);
  const writable = (vma.flags & VM_WRITE) !== 0;
  const notify = vmaWantsWritenotify(vma);
  const shared = (vma.flags & VM_SHARED) !== 0;
  // Linux 6.18 never upgrades a shared PTE in a uffd-wp VMA (measured with `kernel diff`:
  // docs/kernel-diff.md finding 2); elsewhere a dirty shared PTE is upgraded.
  const sharedMayUpgrade = shared && (vma.flags & VM_UFFD_WP) === 0;
  let changed = 0;
  for (let addr = vma.start; addr < vma.end; ) {
    const vpn = Math.floor(addr / 4096);
    const tableEnd = Math.min(vma.end, (Math.floor(vpn / 512) + 1) * 512 * 4096);
    const table = tableAt(k.mem, mm.root, vpn, LEVEL_PTE, k.levels);
    if (table < 0) {
      addr = tableEnd;
      continue;
    }
    const ptl = k.ptl(table);
    yield* ptl.lock();
    let i = k.mem.ptSlot[table]! * 512 + (vpn & 511);
    for (; addr < tableEnd; addr += 4096, i++) {
      const lo = k.mem.ptLo[i]!;
      const hi = k.mem.ptHi[i]!;
      if ((lo & PTE_PRESENT) === 0) continue;
      // RW from the rules below; USER from the VMA's protection (PROT_NONE clears it: memory.ts).
      // Write-protecting goes through pte_wrprotect, so with SavedDirty (k.shadowStack, as Linux
      // 7.2 does) a dirty PTE keeps its dirtiness in bit 58 (lab diff on 7.2); upgrading moves it back.
      const base = ((lo & ~PTE_USER) | (vma.pageProt & PTE_USER)) >>> 0;
      let nlo = wrprotectLo(base, k.shadowStack);
      let nhi = wrprotectHi(base, hi, k.shadowStack);
      // can_change_pte_writable: shared mappings may be upgraded without a fault only if the PTE
      // is already dirty (no write-notify needed for it) and no uffd-wp tracking needs the fault.
      // private: our own anonymous copy (exclusive: one mm) is upgraded, as can_change_pte_writable
      // does for an exclusive anon page; a page-cache page stays read-only (COW on write)
      if (
        (writable && sharedMayUpgrade && (!notify || (pteDirty(lo, hi) && (lo & PTE_UFFD_WP) === 0))) ||
        (writable && !shared && (lo & PTE_UFFD_WP) === 0 && k.anonPages.has(pfn4k(lo, hi)))
      ) {
        nlo = mkwriteLo(nlo, nhi);
        nhi = mkwriteHi(nhi);
      }
      if (nlo !== lo || nhi !== hi) {
        // ptep_modify_prot_start/commit: get-and-clear then set, one atomic step in the model, so
        // no hardware A/D update can be lost in between.
        setPteAt(k, vma, addr, i, nlo >>> 0, nhi >>> 0);
        changed++;
      }
      if (k.explore) yield undefined;
    }
    ptl.unlock();
  }
  if (changed > 0) flushTlbRange(k, mm, vma.start, vma.end);
  decTlbFlushPending(mm);
  yield* mmuNotifierInvalidateRangeEnd(k, range);
}

/**
 * unmap_mapping_range(mapping, start, len, even_cows=0): zap the PTEs mapping file bytes
 * [start, start + len) in every VMA of `mapping`; in private VMAs the anonymous COW copies are
 * kept (only PTEs of file pages go).
 *
 * Locking: takes i_mmap_rwsem for read.
 */
export function* unmapMappingRange(
  k: Kernel,
  mapping: AddressSpace,
  start: number,
  len: number,
): KGen<number> {
  const first = Math.floor(start / 4096);
  const last = Math.ceil((start + len) / 4096) - 1;
  if (last < first) return 0;
  yield* mapping.iMmapRwsem.downRead();
  let n = 0;
  for (const vma of mapping.overlapping(first, last)) {
    const s = vma.addrOf(Math.max(first, vma.pgoff));
    const e = vma.addrOf(Math.min(last + 1, vma.pgoff + vma.pages));
    if ((vma.flags & VM_MAYSHARE) !== 0) n += yield* zapVmaRange(k, vma, s, e, 'UNMAP');
    else n += yield* zapKeepingCows(k, vma, s, e);
  }
  mapping.iMmapRwsem.upRead();
  return n;
}

/**
 * even_cows=0 in a private VMA: zap the PTEs of file pages but keep the anonymous COW copies.
 * The model picks the runs of non-anonymous PTEs first, then zaps each run (a COW fault racing
 * in between, possible only in explore mode, could see its fresh copy zapped).
 */
function* zapKeepingCows(k: Kernel, vma: Vma, start: number, end: number): KGen<number> {
  let n = 0;
  let runStart = -1;
  for (let addr = start; addr <= end; addr += 4096) {
    let cow = addr === end;
    if (!cow) {
      const i = entryIndexAt(k.mem, vma.mm.root, Math.floor(addr / 4096), LEVEL_PTE, k.levels, false);
      if (i >= 0) {
        const lo = k.mem.ptLo[i]!;
        cow = (lo & PTE_PRESENT) !== 0 && k.anonPages.has(pfn4k(lo, k.mem.ptHi[i]!));
      }
    }
    if (!cow && runStart < 0) runStart = addr;
    if (cow && runStart >= 0) {
      n += yield* zapVmaRange(k, vma, runStart, addr, 'UNMAP');
      runStart = -1;
    }
  }
  return n;
}

/**
 * madvise(MADV_DONTNEED) on [start, end): zap the PTEs, VMA by VMA in address order.
 *
 * @returns the number of PTEs zapped (cost model), or a negative errno as madvise(2) returns it:
 *   -EINVAL when the walk reaches a VM_PFNMAP or hugetlb VMA (the kernel's
 *   madvise_dontneed_free_valid_vma refuses it; VMAs before it are already zapped, VMAs after it
 *   are not), -ENOMEM when part of the range is unmapped (the mapped parts are still zapped).
 *   Found by `dirtyscope lab diff` on Linux 6.1: the model used to zap PFN mappings.
 *
 * Locking: mmap_lock for read.
 */
export function* madviseDontneed(k: Kernel, mm: MmStruct, start: number, length: number): KGen<number> {
  const end = start + Math.ceil(length / 4096) * 4096;
  yield* mm.mmapLock.downRead();
  let n = 0;
  let covered = 0;
  for (const vma of [...mm.vmas].sort((a, b) => a.start - b.start)) {
    const s = Math.max(start, vma.start);
    const e = Math.min(end, vma.end);
    if (s >= e) continue;
    if ((vma.flags & (VM_PFNMAP | VM_HUGETLB)) !== 0) {
      mm.mmapLock.upRead();
      return -EINVAL;
    }
    n += yield* zapVmaRange(k, vma, s, e, 'CLEAR');
    covered += e - s;
  }
  mm.mmapLock.upRead();
  return covered < end - start ? -ENOMEM : n;
}
