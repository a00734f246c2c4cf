/**
 * mmap flag rules (spec §1), write-notify (§7.1), mprotect (§7.4), munmap, madvise(DONTNEED),
 * zapping dirty PFN PTEs.
 */
import { describe, expect, it } from 'vitest';
import { runToCompletion } from '../../src/checker/task.ts';
import { PTE_DIRTY, PTE_PRESENT, PTE_RW, PTE_SPECIAL } from '../../src/hw/pte.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { KTask } from '../../src/mm/kernel.ts';
import { storeFast, userLoad8, vmaSetPageProt, vmaWantsWritenotify } from '../../src/mm/memory.ts';
import {
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_SHARED,
  VM_UFFD_WP,
  VM_WRITE,
  Vma,
  type VmOps,
} from '../../src/mm/mm-types.ts';
import {
  doMmap,
  doMprotect,
  doMunmap,
  EACCES,
  EINVAL,
  ENOMEM,
  madviseDontneed,
  mmCreate,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  switchMm,
  unmapMappingRange,
} from '../../src/mm/mmap.ts';
import { aliasing, kernel, mapFile, PAGE, pfnDriver, pte, ptep } from './fixtures.ts';

function setup(canWriteback = true) {
  const k = kernel(1);
  const file = new AddressSpace(k, 'f', canWriteback, 32);
  const mm = mmCreate(k, 'A');
  switchMm(k, 0, mm);
  k.setCurrent(new KTask('t0', 0));
  return { k, file, mm };
}

describe('mmap flag rules (spec §1)', () => {
  it('MAP_SHARED of an O_RDWR fd: VM_SHARED|VM_MAYSHARE|VM_MAYWRITE (even with PROT_READ only)', () => {
    const { k, file, mm } = setup();
    const rw = mapFile(k, mm, file, { pages: 2, prot: PROT_READ | PROT_WRITE });
    const ro = mapFile(k, mm, file, { pages: 2, prot: PROT_READ });
    for (const v of [rw, ro]) {
      expect(v.flags & VM_SHARED).toBe(VM_SHARED);
      expect(v.flags & VM_MAYSHARE).toBe(VM_MAYSHARE);
      expect(v.flags & VM_MAYWRITE).toBe(VM_MAYWRITE);
    }
    expect(rw.flags & VM_WRITE).toBe(VM_WRITE);
    expect(ro.flags & VM_WRITE).toBe(0);
  });

  it('MAP_SHARED of an O_RDONLY fd: VM_MAYSHARE only; PROT_WRITE fails with EACCES', () => {
    const { k, file, mm } = setup();
    const v = mapFile(k, mm, file, { pages: 2, prot: PROT_READ, fdWritable: false });
    expect(v.flags & (VM_SHARED | VM_MAYWRITE | VM_WRITE)).toBe(0);
    expect(v.flags & VM_MAYSHARE).toBe(VM_MAYSHARE);
    const r = runToCompletion(
      doMmap(k, mm, file, {
        length: PAGE,
        prot: PROT_READ | PROT_WRITE,
        shared: true,
        pgoff: 0,
        fdWritable: false,
      }),
    );
    expect(r).toBe(-EACCES);
    // and mprotect cannot add write later (VM_MAYWRITE is gone for good)
    expect(runToCompletion(doMprotect(k, mm, v.start, PAGE, PROT_READ | PROT_WRITE))).toBe(-EACCES);
  });

  it('MAP_PRIVATE keeps VM_MAYWRITE (a COW mapping), never VM_SHARED, and is never write-notify', () => {
    const { k, file, mm } = setup();
    for (const fdWritable of [true, false]) {
      const v = mapFile(k, mm, file, { pages: 2, shared: false, fdWritable });
      expect(v.flags & VM_MAYWRITE).toBe(VM_MAYWRITE);
      expect(v.flags & (VM_SHARED | VM_MAYSHARE)).toBe(0);
      expect(vmaWantsWritenotify(v)).toBe(false);
      expect(v.pageProt & PTE_RW).toBe(0); // COW: new PTEs are read-only
    }
  });
});

describe('write-notify (spec §7.1)', () => {
  const mkwriteOps: VmOps = {
    name: 'mk',
    *pageMkwrite() {
      yield;
      return 0;
    },
  };
  const pfnOps: VmOps = {
    name: 'pfn',
    *pfnMkwrite() {
      yield;
      return 0;
    },
  };
  const plain: VmOps = { name: 'plain' };

  it('is on iff VM_WRITE|VM_SHARED and (mkwrite op | uffd-wp | writeback file without PFNMAP)', () => {
    const { k, mm } = setup();
    const wb = new AddressSpace(k, 'disk', true, 4);
    const shm = new AddressSpace(k, 'shm', false, 4);
    const cases: Array<[number, VmOps | null, AddressSpace | null, boolean]> = [
      [VM_WRITE | VM_SHARED, plain, wb, true],
      [VM_WRITE | VM_SHARED, plain, shm, false],
      [VM_WRITE | VM_SHARED, mkwriteOps, shm, true],
      [VM_WRITE | VM_SHARED, pfnOps, null, true],
      [VM_WRITE | VM_SHARED | VM_UFFD_WP, plain, shm, true],
      [VM_WRITE | VM_SHARED | VM_PFNMAP, plain, wb, false],
      [VM_WRITE | VM_SHARED | VM_PFNMAP, pfnOps, wb, true],
      [VM_SHARED, mkwriteOps, wb, false], // not writable
      [VM_WRITE, mkwriteOps, wb, false], // private
      [VM_WRITE | VM_MAYSHARE, mkwriteOps, wb, false], // MAYSHARE alone is not SHARED
    ];
    for (const [flags, ops, file, want] of cases) {
      const v = new Vma(mm, 0x1000_0000, 0x1000_4000, 0, flags, ops, file);
      expect(vmaWantsWritenotify(v), `${v}`).toBe(want);
      vmaSetPageProt(v);
      // write-notify => read-only vm_page_prot; shared writable without it => RW
      const shared = (flags & (VM_WRITE | VM_SHARED)) === (VM_WRITE | VM_SHARED);
      expect((v.pageProt & PTE_RW) !== 0, `${v}`).toBe(shared && !want);
      expect(v.pageProt & PTE_PRESENT).toBe(PTE_PRESENT);
    }
  });
});

describe('mprotect (spec §7.4)', () => {
  it('RO then RW: only dirty PTEs become writable in a write-notify VMA, clean ones stay RO', () => {
    const { k, file, mm } = setup(true);
    const v = mapFile(k, mm, file, { pages: 4 });
    const cpu = k.cpus[0]!;
    // page 0, 1: written (dirty); page 2: read only (clean); page 3: never touched
    expect(storeFast(k, cpu, mm, v.start, 1)).toBe(0);
    expect(storeFast(k, cpu, mm, v.start + PAGE, 1)).toBe(0);
    expect(runToCompletion(userLoad8(k, cpu, mm, v.start + 2 * PAGE))).toBe(0);
    expect(runToCompletion(doMprotect(k, mm, v.start, 4 * PAGE, PROT_READ))).toBe(0);
    for (let p = 0; p < 3; p++) expect(pte(k, mm, v.start + p * PAGE)[0] & PTE_RW).toBe(0);
    expect(k.cpus[0]!.tlb.nValid).toBe(0); // flushed
    expect(runToCompletion(doMprotect(k, mm, v.start, 4 * PAGE, PROT_READ | PROT_WRITE))).toBe(0);
    expect(pte(k, mm, v.start)[0] & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW | PTE_DIRTY);
    expect(pte(k, mm, v.start + PAGE)[0] & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW | PTE_DIRTY);
    expect(pte(k, mm, v.start + 2 * PAGE)[0] & (PTE_PRESENT | PTE_RW | PTE_DIRTY)).toBe(PTE_PRESENT);
    expect(pte(k, mm, v.start + 3 * PAGE)).toEqual([0, 0]);
    // the clean page's next write goes through the write-protect fault again
    const wp = k.counters.faultsWpShared;
    expect(storeFast(k, cpu, mm, v.start + 2 * PAGE, 9)).toBe(0);
    expect(k.counters.faultsWpShared).toBe(wp + 1);
  });

  it('without write-notify (shmem-like file) RW restores write on every present PTE', () => {
    const { k, file, mm } = setup(false);
    const v = mapFile(k, mm, file, { pages: 2 });
    const cpu = k.cpus[0]!;
    expect(runToCompletion(userLoad8(k, cpu, mm, v.start))).toBe(0);
    expect(pte(k, mm, v.start)[0] & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW); // writable, clean
    runToCompletion(doMprotect(k, mm, v.start, 2 * PAGE, PROT_READ));
    expect(pte(k, mm, v.start)[0] & PTE_RW).toBe(0);
    runToCompletion(doMprotect(k, mm, v.start, 2 * PAGE, PROT_READ | PROT_WRITE));
    expect(pte(k, mm, v.start)[0] & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW);
  });

  it('splits the VMA at the range edges', () => {
    const { k, file, mm } = setup();
    const v = mapFile(k, mm, file, { pages: 8, pgoff: 3 });
    runToCompletion(doMprotect(k, mm, v.start + 2 * PAGE, 3 * PAGE, PROT_READ));
    const vs = [...mm.vmas].sort((a, b) => a.start - b.start);
    expect(vs.map((x) => [(x.start - v.start) / PAGE, x.pages, x.pgoff, (x.flags & VM_WRITE) !== 0])).toEqual(
      [
        [0, 2, 3, true],
        [2, 3, 5, false],
        [5, 3, 8, true],
      ],
    );
    expect(file.mappedVmas).toBe(3);
  });
});

describe('munmap, madvise(DONTNEED), zap', () => {
  it('munmap zaps, unlinks from i_mmap and frees the page tables', () => {
    const { k, file, a, b, va } = aliasing();
    k.setCurrent(new KTask('t0', 0));
    const cpu = k.cpus[0]!;
    for (let p = 0; p < 4; p++) expect(storeFast(k, cpu, a, va.start + p * PAGE, p)).toBe(0);
    const tables = k.mem.tablesInUse;
    expect(cpu.tlb.nValid).toBeGreaterThan(0);
    expect(file.mappedVmas).toBe(2);
    expect(runToCompletion(doMunmap(k, a, va.start, 16 * PAGE))).toBe(0);
    expect(a.vmas).toHaveLength(0);
    expect(file.mappedVmas).toBe(1);
    expect(runToCompletion(file.lockRead()), 'read lock').toBeUndefined();
    expect(file.overlapping(0, 15).map((v) => v.mm)).toEqual([b]);
    file.iMmapRwsem.upRead();
    expect(ptep(k, a, va.start)).toBe(-1); // PTE table gone
    expect(k.mem.tablesInUse).toBe(tables - 1);
    expect(cpu.tlb.nValid).toBe(0);
    // written pages were dirty: zapping marks the page-cache pages dirty
    for (let p = 0; p < 4; p++) expect(file.dirtyPages.has(file.pages.get(p)!)).toBe(true);
    expect(k.counters.zapDirtyLost).toBe(0);
    // a later access faults with SIGSEGV (no VMA)
    expect(storeFast(k, cpu, a, va.start, 1)).not.toBe(0);
  });

  it('partial munmap keeps the rest of the VMA and its table', () => {
    const { k, a, va, file } = aliasing();
    k.setCurrent(new KTask('t0', 0));
    const cpu = k.cpus[0]!;
    for (let p = 0; p < 16; p++) storeFast(k, cpu, a, va.start + p * PAGE, 1);
    runToCompletion(doMunmap(k, a, va.start + 4 * PAGE, 4 * PAGE));
    expect(a.vmas.map((v) => [v.pgoff, v.pages]).sort((x, y) => x[0]! - y[0]!)).toEqual([
      [0, 4],
      [8, 8],
    ]);
    expect(file.mappedVmas).toBe(3);
    expect(pte(k, a, va.start + 4 * PAGE)).toEqual([0, 0]);
    expect(pte(k, a, va.start + 3 * PAGE)[0] & PTE_PRESENT).toBe(PTE_PRESENT);
    expect(pte(k, a, va.start + 8 * PAGE)[0] & PTE_PRESENT).toBe(PTE_PRESENT);
  });

  it('madvise(DONTNEED) zaps the PTEs and the next access refaults the same page', () => {
    const { k, a, va, file } = aliasing();
    k.setCurrent(new KTask('t0', 0));
    const cpu = k.cpus[0]!;
    storeFast(k, cpu, a, va.start + 5 * PAGE + 7, 77);
    const n = runToCompletion(madviseDontneed(k, a, va.start, 16 * PAGE));
    expect(n).toBe(1);
    expect(pte(k, a, va.start + 5 * PAGE)).toEqual([0, 0]);
    expect(cpu.tlb.nValid).toBe(0);
    expect(a.vmas).toHaveLength(1);
    expect(runToCompletion(userLoad8(k, cpu, a, va.start + 5 * PAGE + 7))).toBe(77);
    expect(k.mem.read8(file.pages.get(5)!, 7)).toBe(77);
  });

  it('zapping dirty PFN PTEs (no struct page) loses their dirty state: counted in zapDirtyLost', () => {
    const k = kernel(1);
    k.setCurrent(new KTask('t0', 0));
    const d = pfnDriver(k, 8);
    const mm = mmCreate(k, 'A');
    switchMm(k, 0, mm);
    const v = mapFile(k, mm, d.file, { pages: 8 });
    expect(v.flags & VM_PFNMAP).toBe(VM_PFNMAP);
    const cpu = k.cpus[0]!;
    for (const p of [0, 2, 3]) expect(storeFast(k, cpu, mm, v.start + p * PAGE, 1)).toBe(0);
    expect(runToCompletion(userLoad8(k, cpu, mm, v.start + 5 * PAGE))).toBe(0); // clean
    expect(pte(k, mm, v.start)[0] & (PTE_SPECIAL | PTE_DIRTY)).toBe(PTE_SPECIAL | PTE_DIRTY);
    // madvise(MADV_DONTNEED) refuses a VM_PFNMAP VMA (found by lab diff on Linux 6.1): nothing zapped
    expect(runToCompletion(madviseDontneed(k, mm, v.start, 8 * PAGE))).toBe(-EINVAL);
    expect(k.counters.zapDirtyLost).toBe(0);
    expect(pte(k, mm, v.start)[0] & PTE_DIRTY).toBe(PTE_DIRTY);
    expect(runToCompletion(doMunmap(k, mm, v.start, 8 * PAGE))).toBe(0);
    expect(k.counters.zapDirtyLost).toBe(3);
  });

  it('mprotect over a hole returns -ENOMEM after changing the VMAs before it (do_mprotect_pkey order)', () => {
    const { k, file, mm } = setup();
    const va = mapFile(k, mm, file, { pages: 4 });
    expect(runToCompletion(doMunmap(k, mm, va.start + 2 * PAGE, PAGE))).toBe(0);
    expect(runToCompletion(doMprotect(k, mm, va.start + 2 * PAGE, PAGE, PROT_READ))).toBe(-ENOMEM);
    expect(runToCompletion(doMprotect(k, mm, va.start, 4 * PAGE, PROT_READ))).toBe(-ENOMEM);
    const first = mm.vmas.find((v) => v.start === va.start)!;
    const last = mm.vmas.find((v) => v.start === va.start + 3 * PAGE)!;
    expect(first.flags & VM_WRITE).toBe(0); // changed before the hole
    expect(last.flags & VM_WRITE).toBe(VM_WRITE); // after the hole: untouched
  });

  it('mprotect to the protection a VMA already has changes no PTE (mprotect_fixup returns early)', () => {
    const k = kernel(1);
    k.setCurrent(new KTask('t0', 0));
    const d = pfnDriver(k, 4);
    const mm = mmCreate(k, 'A');
    switchMm(k, 0, mm);
    const v = mapFile(k, mm, d.file, { pages: 4 });
    const cpu = k.cpus[0]!;
    expect(storeFast(k, cpu, mm, v.start, 1)).toBe(0);
    const [lo, hi] = pte(k, mm, v.start);
    // write-protect it as a MKWRITE scan does (RW cleared, D kept)
    const i = ptep(k, mm, v.start);
    k.mem.ptLo[i] = lo! & ~PTE_RW;
    expect(runToCompletion(doMprotect(k, mm, v.start, 4 * PAGE, PROT_READ | PROT_WRITE))).toBe(0);
    expect(pte(k, mm, v.start)).toEqual([lo! & ~PTE_RW, hi]);
    // nor is a VMA split for it: the i_mmap order the helpers walk stays as it was
    expect(runToCompletion(doMprotect(k, mm, v.start + PAGE, PAGE, PROT_READ | PROT_WRITE))).toBe(0);
    expect(mm.vmas).toHaveLength(1);
  });

  it('mprotect(PROT_NONE) makes a mapped page fault (SEGV) for loads, and PROT_READ makes it readable again', () => {
    const { k, file, mm } = setup();
    const va = mapFile(k, mm, file, { pages: 2, prot: PROT_READ });
    const cpu = k.cpus[0]!;
    expect(runToCompletion(userLoad8(k, cpu, mm, va.start))).toBe(0);
    expect(runToCompletion(doMprotect(k, mm, va.start, 2 * PAGE, PROT_NONE))).toBe(0);
    expect(runToCompletion(userLoad8(k, cpu, mm, va.start))).toBeLessThan(0);
    expect(runToCompletion(doMprotect(k, mm, va.start, 2 * PAGE, PROT_READ))).toBe(0);
    expect(runToCompletion(userLoad8(k, cpu, mm, va.start))).toBe(0);
  });

  it('madvise(MADV_DONTNEED) over a hole returns -ENOMEM but still zaps the mapped part', () => {
    const { k, file, mm } = setup();
    const va = mapFile(k, mm, file, { pages: 4 });
    k.setCurrent(new KTask('t0', 0));
    switchMm(k, 0, mm);
    const cpu = k.cpus[0]!;
    storeFast(k, cpu, mm, va.start, 5);
    expect(runToCompletion(madviseDontneed(k, mm, va.start, 8 * PAGE))).toBe(-ENOMEM);
    expect(pte(k, mm, va.start)).toEqual([0, 0]);
  });

  it('unmap_mapping_range zaps file PTEs in every VMA but keeps private COW copies', () => {
    const k = kernel(2);
    const file = new AddressSpace(k, 'f', true, 8);
    const sh = mmCreate(k, 'S');
    const pr = mmCreate(k, 'P');
    const vs = mapFile(k, sh, file, { pages: 8 });
    const vp = mapFile(k, pr, file, { pages: 8, shared: false });
    switchMm(k, 0, sh);
    switchMm(k, 1, pr);
    k.setCurrent(new KTask('t0', 0));
    storeFast(k, k.cpus[0]!, sh, vs.start + 2 * PAGE, 5);
    k.setCurrent(new KTask('t1', 1));
    for (const p of [1, 3]) storeFast(k, k.cpus[1]!, pr, vp.start + p * PAGE, 7); // COW copies
    for (const p of [2, 4]) runToCompletion(userLoad8(k, k.cpus[1]!, pr, vp.start + p * PAGE)); // file pages
    const cow1 = pte(k, pr, vp.start + PAGE);
    const cow3 = pte(k, pr, vp.start + 3 * PAGE);
    expect(runToCompletion(unmapMappingRange(k, file, 0, 8 * PAGE))).toBe(3);
    expect(pte(k, sh, vs.start + 2 * PAGE)).toEqual([0, 0]);
    expect(pte(k, pr, vp.start + 2 * PAGE)).toEqual([0, 0]);
    expect(pte(k, pr, vp.start + 4 * PAGE)).toEqual([0, 0]);
    expect(pte(k, pr, vp.start + PAGE)).toEqual(cow1);
    expect(pte(k, pr, vp.start + 3 * PAGE)).toEqual(cow3);
    expect(runToCompletion(userLoad8(k, k.cpus[1]!, pr, vp.start + 3 * PAGE))).toBe(7);
  });
});
