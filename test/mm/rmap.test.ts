/**
 * rmap write-protect/clean helpers (spec 6): mapping_wrprotect_range filters by PFN and offset,
 * cleans AND write-protects, flushes per PTE, checks VM_SHARED only; pfn_mkclean_range and
 * folio_mkclean on the same core.
 */
import { describe, expect, it } from 'vitest';
import { runToCompletion } from '../../src/checker/task.ts';
import type { CpuMask } from '../../src/hw/cpumask.ts';
import { entryIndexAt, setPte } from '../../src/hw/pagetable.ts';
import {
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
  pfn2m,
} from '../../src/hw/pte.ts';
import { TLBF_WRITABLE } from '../../src/hw/tlb.ts';
import { insertPfnPmd } from '../../src/mm/huge.ts';
import { Kernel, KTask } from '../../src/mm/kernel.ts';
import { storeFast, userLoad8, userStore8 } from '../../src/mm/memory.ts';
import type { MmStruct, Vma } from '../../src/mm/mm-types.ts';
import { mmCreate, switchMm } from '../../src/mm/mmap.ts';
import { folioMkclean, mappingWrprotectRange, pfnMkcleanRange } from '../../src/mm/rmap.ts';
import { mapFile, pfnDriver, pte, ptePfn } from './fixtures.ts';
import { addrOf, B_PGOFF, type World, world } from './helpers-fixtures.ts';

/** The aliasing world plus mm P mapping the file MAP_PRIVATE at pgoff 0 on cpu2. */
function withPrivate(): World & { p: MmStruct; vp: Vma } {
  const w = world({ cpus: 3 });
  const p = mmCreate(w.k, 'P');
  const vp = mapFile(w.k, p, w.file, { pages: 16, pgoff: 0, shared: false });
  switchMm(w.k, 2, p);
  return { ...w, p, vp };
}

function st(w: World, cpu: number, vma: Vma, page: number): void {
  w.k.setCurrent(w.cpuTasks[cpu]!);
  expect(storeFast(w.k, w.k.cpus[cpu]!, vma.mm, addrOf(vma, page), 1)).toBe(0);
}

const popcount = (m: CpuMask) => m.count();
const rw = (e: [number, number]) => (e[0] & PTE_RW) !== 0;
const dirty = (e: [number, number]) => (e[0] & PTE_DIRTY) !== 0;

describe('mapping_wrprotect_range', () => {
  it('cleans and write-protects the shared PTEs of that PFN; a COW copy at the same offset is left alone', () => {
    const w = withPrivate();
    st(w, 2, w.vp, 2); // COW: P's page 2 is an anonymous copy, writable + dirty
    st(w, 0, w.va, 2);
    const shared = w.file.pages.get(2)!;
    expect(ptePfn(w.k, w.p, addrOf(w.vp, 2))).not.toBe(shared);
    const cow = pte(w.k, w.p, addrOf(w.vp, 2));
    const f0 = w.k.counters.tlbFlushPage;
    expect(runToCompletion(mappingWrprotectRange(w.k, w.file, 2, shared, 1))).toBe(1);
    const a2 = pte(w.k, w.a, addrOf(w.va, 2));
    expect(rw(a2) || dirty(a2)).toBe(false);
    expect(pte(w.k, w.p, addrOf(w.vp, 2))).toEqual(cow);
    // Flushed per PTE while the PTL was held: one INVLPG per CPU that ran A (cpu0, cpu2).
    expect(w.k.counters.tlbFlushPage - f0).toBe(popcount(w.a.cpumask));
    expect(popcount(w.a.cpumask)).toBe(2);
    expect(w.k.cpus[0]!.tlb.peek(w.a.id, addrOf(w.va, 2) / 4096)).toBe(-1);
    // Nothing left to clean.
    expect(runToCompletion(mappingWrprotectRange(w.k, w.file, 2, shared, 1))).toBe(0);
  });

  it('counts one per PTE across shared VMAs (two mms), one page flush each, and skips a private VMA mapping the same PFN', () => {
    const w = withPrivate();
    st(w, 0, w.va, 5);
    st(w, 1, w.vb, 5);
    // P maps the same file PFN read-only (no COW yet); forge D to prove it is not even looked at.
    w.k.setCurrent(w.cpuTasks[2]!);
    expect(runToCompletion(userLoad8(w.k, w.k.cpus[2]!, w.p, addrOf(w.vp, 5)))).toBe(1);
    const pfn = w.file.pages.get(5)!;
    expect(ptePfn(w.k, w.p, addrOf(w.vp, 5))).toBe(pfn);
    const i = entryIndexAt(w.k.mem, w.p.root, addrOf(w.vp, 5) / 4096, 4, 4, false);
    w.k.mem.ptLo[i] = (w.k.mem.ptLo[i]! | PTE_DIRTY) >>> 0;
    const before = pte(w.k, w.p, addrOf(w.vp, 5));
    const f0 = w.k.counters.tlbFlushPage;
    expect(runToCompletion(mappingWrprotectRange(w.k, w.file, 5, pfn, 1))).toBe(2);
    expect(w.k.counters.tlbFlushPage - f0).toBe(popcount(w.a.cpumask) + popcount(w.b.cpumask));
    expect(pte(w.k, w.p, addrOf(w.vp, 5))).toEqual(before);
    for (const [mm, vma] of [
      [w.a, w.va],
      [w.b, w.vb],
    ] as const) {
      const e = pte(w.k, mm, addrOf(vma, 5));
      expect(rw(e) || dirty(e)).toBe(false);
    }
  });

  it('touches nothing when the PFN does not match the page at that offset', () => {
    const w = world();
    st(w, 0, w.va, 3);
    const e = pte(w.k, w.a, addrOf(w.va, 3));
    expect(runToCompletion(mappingWrprotectRange(w.k, w.file, 3, w.file.pages.get(3)! + 1000, 1))).toBe(0);
    expect(pte(w.k, w.a, addrOf(w.va, 3))).toEqual(e);
    expect(runToCompletion(mappingWrprotectRange(w.k, null, 3, 1, 1))).toBe(0);
  });

  it('read-only clean PTEs are not counted; only writable or dirty ones are', () => {
    const w = world({ writeback: true }); // write-notify: loads install read-only clean PTEs
    w.k.setCurrent(w.cpuTasks[0]!);
    expect(runToCompletion(userLoad8(w.k, w.k.cpus[0]!, w.a, addrOf(w.va, 7)))).toBe(0);
    expect(runToCompletion(mappingWrprotectRange(w.k, w.file, 7, w.file.pages.get(7)!, 1))).toBe(0);
  });

  it('contiguous PFN ranges: an interval starting before a VMA maps its first page to the right PFN; the next write faults into pfn_mkwrite', () => {
    const k = new Kernel({ cpus: 2, storeLog: true });
    const drv = pfnDriver(k, 16);
    const a = mmCreate(k, 'A');
    const b = mmCreate(k, 'B');
    const va = mapFile(k, a, drv.file, { pages: 16, pgoff: 0 });
    const vb = mapFile(k, b, drv.file, { pages: 8, pgoff: B_PGOFF });
    switchMm(k, 0, a);
    switchMm(k, 1, b);
    const t = [new KTask('cpu0', 0), new KTask('cpu1', 1)];
    const s = (c: number, vma: Vma, page: number) => {
      k.setCurrent(t[c]!);
      expect(storeFast(k, k.cpus[c]!, vma.mm, addrOf(vma, page), 1)).toBe(0);
    };
    for (let p = 3; p <= 8; p++) s(0, va, p);
    for (const p of [5, 6]) s(1, vb, p);
    // File pages [2, 8): A3..A7 and B5, B6; B's VMA begins at pgoff 4, inside the interval.
    expect(runToCompletion(mappingWrprotectRange(k, drv.file, 2, drv.ioBase + 2, 6))).toBe(7);
    expect(rw(pte(k, a, addrOf(va, 8)))).toBe(true); // outside
    // A PFN range shifted by one matches nothing at these offsets.
    s(0, va, 4);
    expect(runToCompletion(mappingWrprotectRange(k, drv.file, 4, drv.ioBase + 5, 1))).toBe(0);
    expect(runToCompletion(mappingWrprotectRange(k, drv.file, 4, drv.ioBase + 4, 1))).toBe(1);
    const m0 = drv.pfnMkwriteCalls;
    for (const p of [3, 5, 7]) s(0, va, p);
    s(1, vb, 6);
    expect(drv.pfnMkwriteCalls - m0).toBe(4);
  });
});

describe('mapping_wrprotect_range in explore mode', () => {
  it('never exposes a read-only PTE while a CPU still caches it writable (flush under the PTL, same step)', () => {
    const w = world({ explore: true });
    w.k.setCurrent(w.cpuTasks[0]!);
    for (const p of [4, 5, 6])
      expect(runToCompletion(userStore8(w.k, w.k.cpus[0]!, w.a, addrOf(w.va, p), 1))).toBe(0);
    const pfns = [4, 5, 6].map((p) => w.file.pages.get(p)!);
    const t = new KTask('fbdefio', -1);
    // One call per page (the pages are not physically contiguous); check after every step.
    for (let j = 0; j < 3; j++) {
      const g = mappingWrprotectRange(w.k, w.file, 4 + j, pfns[j]!, 1);
      for (;;) {
        w.k.setCurrent(t);
        const r = g.next();
        for (const p of [4, 5, 6]) {
          const addr = addrOf(w.va, p);
          const s = w.k.cpus[0]!.tlb.peek(w.a.id, addr / 4096);
          if (!rw(pte(w.k, w.a, addr)) && s >= 0) expect(w.k.cpus[0]!.tlb.flags[s]! & TLBF_WRITABLE).toBe(0);
        }
        if (r.done) {
          expect(r.value).toBe(1);
          break;
        }
      }
    }
  });
});

describe('mapping_wrprotect_range PFN window (spec 6.4: a PTE matches iff its PFN is in [pfn, pfn + nr))', () => {
  it('an interval that begins before a VMA still matches the whole PFN range inside that VMA', () => {
    const k = new Kernel({ cpus: 1 });
    const drv = pfnDriver(k, 16);
    const b = mmCreate(k, 'B');
    const vb = mapFile(k, b, drv.file, { pages: 8, pgoff: B_PGOFF });
    // A remapped PTE: file page 4 (B's first page) maps device PFN ioBase + 2, writable and dirty.
    const flags = PTE_PRESENT | PTE_USER | PTE_RW | PTE_ACCESSED | PTE_DIRTY | PTE_SPECIAL;
    setPte(k.mem, b.root, vb.start / 4096, mkLo(drv.ioBase + 2, flags), mkHi(drv.ioBase + 2, 0));
    // Interval [2, 8) with PFNs [ioBase + 2, ioBase + 8): ioBase + 2 is inside, so it is cleaned.
    expect(runToCompletion(mappingWrprotectRange(k, drv.file, 2, drv.ioBase + 2, 6))).toBe(1);
    const e = pte(k, b, vb.start);
    expect(rw(e) || dirty(e)).toBe(false);
  });
});

describe('pfn_mkclean_range and folio_mkclean', () => {
  it('pfn_mkclean_range returns 0 on a private VMA and cleans a shared one', () => {
    const w = withPrivate();
    st(w, 0, w.va, 9);
    st(w, 2, w.vp, 9);
    const pfn = w.file.pages.get(9)!;
    expect(runToCompletion(pfnMkcleanRange(w.k, pfn, 1, 9, w.vp))).toBe(0);
    expect(runToCompletion(pfnMkcleanRange(w.k, pfn, 1, 9, w.va))).toBe(1);
    expect(dirty(pte(w.k, w.a, addrOf(w.va, 9)))).toBe(false);
  });

  it('folio_mkclean requires the folio lock and cleans every shared mapping of the page', () => {
    const w = withPrivate();
    st(w, 0, w.va, 6);
    st(w, 1, w.vb, 6);
    const pfn = w.file.pages.get(6)!;
    const t = new KTask('writeback', -1);
    w.k.setCurrent(t);
    expect(() => runToCompletion(folioMkclean(w.k, w.file, 6, pfn))).toThrow(/unlocked folio/);
    runToCompletion(w.k.pageLock(pfn).lock());
    expect(runToCompletion(folioMkclean(w.k, w.file, 6, pfn))).toBe(2);
    w.k.pageLock(pfn).unlock();
    expect(rw(pte(w.k, w.b, addrOf(w.vb, 6)))).toBe(false);
  });
});

describe('page_vma_mkclean_one: PMD-mapped entries and the PTL per table (page_vma_mapped_walk)', () => {
  function hugeSetup(write: boolean) {
    const k = new Kernel({ cpus: 2 });
    k.setCurrent(new KTask('t0', 0));
    const d = pfnDriver(k, 1024);
    const mm = mmCreate(k, 'A');
    const v = mapFile(k, mm, d.file, { pages: 1024, addr: 0x4000_0000 });
    switchMm(k, 0, mm);
    const pfn = k.mem.allocRamAligned(512, 512);
    expect(insertPfnPmd(k, v, v.start, pfn, write)).toBe(true);
    const pmdI = entryIndexAt(k.mem, mm.root, v.start / 4096, LEVEL_PMD, k.levels, false);
    return { k, d, mm, v, pfn, pmdI };
  }

  it('a writable dirty huge PMD mapping the PFN window is write-protected and cleaned whole, counted once', () => {
    const { k, d, mm, v, pfn, pmdI } = hugeSetup(true);
    // the CPU caches a translation through the PMD
    expect(runToCompletion(userLoad8(k, k.cpus[0]!, mm, v.start + 7 * 4096))).toBe(0);
    expect(k.cpus[0]!.tlb.peek(mm.id, v.start / 4096 + 7)).toBeGreaterThanOrEqual(0);
    const before = k.mem.ptLo[pmdI]!;
    expect(before & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW | PTE_DIRTY);
    // a window of 3 PFNs in the middle of the huge page: check_pmd matches on overlap
    expect(runToCompletion(mappingWrprotectRange(k, d.file, 5, pfn + 5, 3))).toBe(1);
    const after = k.mem.ptLo[pmdI]!;
    expect(after & (PTE_RW | PTE_DIRTY)).toBe(0);
    expect(after & (PTE_PRESENT | PTE_PSE)).toBe(PTE_PRESENT | PTE_PSE); // still the same huge entry
    expect(pfn2m(after, k.mem.ptHi[pmdI]!)).toBe(pfn);
    expect(k.cpus[0]!.tlb.peek(mm.id, v.start / 4096 + 7)).toBe(-1); // the whole range was flushed
    // clean and read-only now: a second call finds nothing
    expect(runToCompletion(mappingWrprotectRange(k, d.file, 5, pfn + 5, 3))).toBe(0);
  });

  it('a huge PMD outside the PFN window, or read-only and clean, is left alone', () => {
    const { k, d, pfn, pmdI } = hugeSetup(true);
    const before = [k.mem.ptLo[pmdI]!, k.mem.ptHi[pmdI]!];
    expect(runToCompletion(mappingWrprotectRange(k, d.file, 5, pfn + 512, 3))).toBe(0);
    expect([k.mem.ptLo[pmdI]!, k.mem.ptHi[pmdI]!]).toEqual(before);
    const ro = hugeSetup(false);
    expect(runToCompletion(mappingWrprotectRange(ro.k, ro.d.file, 0, ro.pfn, 512))).toBe(0);
  });

  it('takes the PTL once for the PTEs of one table and holds it between them (explore mode)', () => {
    const w = world({ explore: true });
    w.k.setCurrent(w.cpuTasks[0]!);
    // two physically contiguous pages are not what the file has: use a PFN driver instead
    const d = pfnDriver(w.k, 4);
    const mm = mmCreate(w.k, 'D');
    const v = mapFile(w.k, mm, d.file, { pages: 4 });
    switchMm(w.k, 0, mm);
    for (const p of [0, 1, 2])
      expect(runToCompletion(userStore8(w.k, w.k.cpus[0]!, mm, v.start + p * 4096, 1))).toBe(0);
    const t = new KTask('wp', 1);
    const g = mappingWrprotectRange(w.k, d.file, 0, d.ioBase, 3);
    const ptl = w.k.ptl(
      w.k.tableOfSlot(Math.floor(entryIndexAt(w.k.mem, mm.root, v.start / 4096, 4, w.k.levels, false) / 512)),
    );
    let acquisitions = 0;
    let sawPartial = false;
    for (;;) {
      w.k.setCurrent(t);
      const owner = ptl.owner;
      const r = g.next();
      if (owner !== t && ptl.owner === t) acquisitions++;
      const done = [0, 1, 2].map((p) => !rw(pte(w.k, mm, v.start + p * 4096)));
      if (done[0] && !done[2]) {
        sawPartial = true;
        expect(ptl.owner).toBe(t); // between two PTEs of the same table the PTL stays held
      }
      if (r.done) {
        expect(r.value).toBe(3);
        break;
      }
    }
    expect(sawPartial).toBe(true);
    expect(acquisitions).toBe(1);
  });
});
