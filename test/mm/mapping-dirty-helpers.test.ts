/**
 * wpSharedMappingRange / cleanRecordSharedMappingRange on hand-computed cases: counts (PTEs, not
 * pages), bitmap indices relative to bitmapPgoff, the in/out window, the wp postcondition (PTEs,
 * CPU TLBs, secondary MMUs, next store faults into mkwrite), the VMA filter (private/COW,
 * read-only shared, hugetlb, quirk Q1) and huge PMDs.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runToCompletion } from '../../src/checker/task.ts';
import { entryIndexAt } from '../../src/hw/pagetable.ts';
import { LEVEL_PMD, PTE_DIRTY, PTE_PRESENT, PTE_PSE, PTE_RW } from '../../src/hw/pte.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { bitmapAlloc, bitmapToList, setBit } from '../../src/mm/bitmap.ts';
import { insertPfnPmd } from '../../src/mm/huge.ts';
import { Kernel, KTask } from '../../src/mm/kernel.ts';
import {
  type BitmapWindow,
  cleanRecordSharedMappingRange,
  createDirtyHelpers,
  HELPER_VARIANT_NAMES,
  HELPER_VARIANTS,
  mainlineHelpers,
  wpSharedMappingRange,
} from '../../src/mm/mapping-dirty-helpers.ts';
import { storeFast, userLoad8 } from '../../src/mm/memory.ts';
import { type MmStruct, VM_HUGETLB, type Vma } from '../../src/mm/mm-types.ts';
import { mmCreate, PROT_READ, switchMm } from '../../src/mm/mmap.ts';
import { TraceSink } from '../../src/trace/sink.ts';
import { checkWindowCovers, DirtyLaws } from '../laws/dirty-laws.ts';
import { mapFile, pfnDriver, pte } from './fixtures.ts';
import { addrOf, attachDevice, B_PGOFF, FILE_PAGES, type World, world } from './helpers-fixtures.ts';

function store(w: World, cpu: number, vma: Vma, page: number): void {
  const k = w.k;
  k.setCurrent(w.cpuTasks[cpu]!);
  expect(storeFast(k, k.cpus[cpu]!, vma.mm, addrOf(vma, page), page & 255)).toBe(0);
}

function load(w: World, cpu: number, vma: Vma, page: number): void {
  const k = w.k;
  k.setCurrent(w.cpuTasks[cpu]!);
  expect(runToCompletion(userLoad8(k, k.cpus[cpu]!, vma.mm, addrOf(vma, page)))).toBeGreaterThanOrEqual(0);
}

function clean(
  k: Kernel,
  file: AddressSpace,
  first: number,
  nr: number,
  pgoff: number,
  bm: Uint32Array,
  win: BitmapWindow,
): number {
  return runToCompletion(cleanRecordSharedMappingRange(k, file, first, nr, pgoff, bm, win));
}

function dirty(k: Kernel, mm: MmStruct, addr: number): boolean {
  return (pte(k, mm, addr)[0] & PTE_DIRTY) !== 0;
}
function writable(k: Kernel, mm: MmStruct, addr: number): boolean {
  return (pte(k, mm, addr)[0] & PTE_RW) !== 0;
}

/** Raw PTE words of every page of `vma`. */
function snapshot(k: Kernel, vma: Vma): number[] {
  const out: number[] = [];
  for (let p = 0; p < vma.pages; p++) out.push(...pte(k, vma.mm, vma.start + p * 4096));
  return out;
}

describe('clean_record: counts, bits and window (hand-computed)', () => {
  it('counts dirty PTEs in range, sets bits relative to bitmapPgoff, and opens the window around them', () => {
    const w = world();
    for (const p of [1, 5, 6, 10]) store(w, 0, w.va, p);
    store(w, 1, w.vb, 9); // file page 9 through B only
    const bm = bitmapAlloc(FILE_PAGES);
    const win = { start: FILE_PAGES, end: 0 }; // none set
    // Range: file pages [2, 10); bit i = file page i + 1.
    expect(clean(w.k, w.file, 2, 8, 1, bm, win)).toBe(3); // A5, A6, B9
    expect(bitmapToList(bm, FILE_PAGES)).toEqual([4, 5, 8]);
    expect(win).toEqual({ start: 4, end: 9 });
    for (const p of [5, 6]) expect(dirty(w.k, w.a, addrOf(w.va, p))).toBe(false);
    expect(dirty(w.k, w.b, addrOf(w.vb, 9))).toBe(false);
    // Outside the range: untouched.
    for (const p of [1, 10]) expect(dirty(w.k, w.a, addrOf(w.va, p))).toBe(true);
    // Nothing dirty any more in range: a second call finds nothing and keeps the window.
    expect(clean(w.k, w.file, 2, 8, 1, bm, win)).toBe(0);
    expect(win).toEqual({ start: 4, end: 9 });
  });

  it('counts PTEs, not pages: a page dirty in two VMAs counts 2 and sets one bit', () => {
    const w = world();
    store(w, 0, w.va, 5);
    store(w, 1, w.vb, 5);
    const bm = bitmapAlloc(FILE_PAGES);
    const win = { start: FILE_PAGES, end: 0 };
    expect(clean(w.k, w.file, 0, FILE_PAGES, 0, bm, win)).toBe(2);
    expect(bitmapToList(bm, FILE_PAGES)).toEqual([5]);
    expect(win).toEqual({ start: 5, end: 6 });
  });

  it('start is only a lower bound: from none-set with firstIndex > bitmapPgoff it equals nr', () => {
    const w = world();
    store(w, 0, w.va, 12);
    const bm = bitmapAlloc(FILE_PAGES);
    const win = { start: 0, end: 0 }; // start >= end: none set
    expect(clean(w.k, w.file, 10, 4, 0, bm, win)).toBe(1);
    expect(bitmapToList(bm, FILE_PAGES)).toEqual([12]);
    expect(win).toEqual({ start: 4, end: 13 }); // start = nr = 4, not 12
    expect(checkWindowCovers({ name: 'bm', bitmap: bm, bitmapPgoff: 0, nbits: FILE_PAGES }, win)).toEqual([]);
  });

  it('a non-empty caller window only grows and earlier bits stay set', () => {
    const w = world();
    store(w, 0, w.va, 8);
    const bm = bitmapAlloc(FILE_PAGES);
    setBit(bm, 3);
    const win = { start: 3, end: 4 };
    expect(clean(w.k, w.file, 0, FILE_PAGES, 0, bm, win)).toBe(1);
    expect(bitmapToList(bm, FILE_PAGES)).toEqual([3, 8]);
    expect(win).toEqual({ start: 3, end: 9 });
    // A window that already covers the new bit does not move.
    store(w, 0, w.va, 6);
    const wide = { start: 0, end: FILE_PAGES };
    expect(clean(w.k, w.file, 0, FILE_PAGES, 0, bm, wide)).toBe(1);
    expect(wide).toEqual({ start: 0, end: FILE_PAGES });
    expect(bitmapToList(bm, FILE_PAGES)).toEqual([3, 6, 8]);
  });

  it('leaves RW alone and flushes the cleaned pages from every CPU TLB that ran the mm', () => {
    const w = world({ cpus: 3 }); // cpu0 and cpu2 run A
    store(w, 0, w.va, 2);
    store(w, 2, w.va, 2);
    store(w, 2, w.va, 3);
    const bm = bitmapAlloc(FILE_PAGES);
    expect(clean(w.k, w.file, 0, FILE_PAGES, 0, bm, { start: FILE_PAGES, end: 0 })).toBe(2);
    expect(writable(w.k, w.a, addrOf(w.va, 2))).toBe(true);
    for (const c of [0, 2]) expect(w.k.cpus[c]!.tlb.peek(w.a.id, addrOf(w.va, 2) / 4096)).toBe(-1);
    // The next store through cpu2 re-walks and sets D again (guarantee b after the flush).
    store(w, 2, w.va, 2);
    expect(dirty(w.k, w.a, addrOf(w.va, 2))).toBe(true);
  });
});

describe('wp_shared_mapping_range: counts and postcondition', () => {
  it('counts PTEs changed from writable to read-only (already read-only PTEs are not counted)', () => {
    const w = world(); // shmem: read faults install writable PTEs
    for (const p of [0, 1, 2, 3]) load(w, 0, w.va, p);
    store(w, 0, w.va, 5);
    store(w, 1, w.vb, 6);
    expect(runToCompletion(wpSharedMappingRange(w.k, w.file, 0, FILE_PAGES))).toBe(6);
    expect(runToCompletion(wpSharedMappingRange(w.k, w.file, 0, FILE_PAGES))).toBe(0);
    // D is kept by wp (only clean_record clears it).
    expect(dirty(w.k, w.a, addrOf(w.va, 5))).toBe(true);
  });

  it('with write-notify only written pages are writable, so only they count; a sub-range counts its part', () => {
    const w = world({ writeback: true });
    for (const p of [0, 1, 2, 3]) load(w, 0, w.va, p);
    for (const p of [2, 7, 9]) store(w, 0, w.va, p);
    store(w, 1, w.vb, 9);
    expect(runToCompletion(wpSharedMappingRange(w.k, w.file, 3, 7))).toBe(3); // A7, A9, B9
    expect(writable(w.k, w.a, addrOf(w.va, 2))).toBe(true);
    expect(runToCompletion(wpSharedMappingRange(w.k, w.file, 0, FILE_PAGES))).toBe(1);
  });

  it('leaves no writable PTE, CPU TLB entry or secondary-MMU translation; every next store faults into mkwrite', () => {
    const k = new Kernel({ cpus: 3, storeLog: true });
    const drv = pfnDriver(k, FILE_PAGES);
    const a = mmCreate(k, 'A');
    const b = mmCreate(k, 'B');
    const va = mapFile(k, a, drv.file, { pages: FILE_PAGES, pgoff: 0 });
    const vb = mapFile(k, b, drv.file, { pages: 8, pgoff: B_PGOFF });
    switchMm(k, 0, a);
    switchMm(k, 1, b);
    switchMm(k, 2, a);
    const dev = attachDevice(k, a);
    const tasks = k.cpus.map((c) => new KTask(`cpu${c.id}`, c.id));
    const st = (cpu: number, vma: Vma, page: number): void => {
      k.setCurrent(tasks[cpu]!);
      expect(storeFast(k, k.cpus[cpu]!, vma.mm, addrOf(vma, page), 1)).toBe(0);
    };
    const written: Array<[number, Vma, number]> = [
      [0, va, 1],
      [0, va, 2],
      [0, va, 3],
      [0, va, 6],
      [2, va, 6],
      [2, va, 13],
      [1, vb, 6],
      [1, vb, 10],
    ];
    for (const [c, v, p] of written) st(c, v, p);
    for (const p of [2, 3]) expect(dev.store8(a.id, addrOf(va, p), 7)).toBe(0);
    expect(dev.holdsWritable(a.id, addrOf(va, 2))).toBe(true);
    const laws = new DirtyLaws(k, drv.file, [a, b], [dev]);
    expect(laws.checkWpComplete(0, FILE_PAGES).length).toBeGreaterThan(0); // the check can fail

    expect(runToCompletion(wpSharedMappingRange(k, drv.file, 0, FILE_PAGES))).toBe(7); // A1 A2 A3 A6 A13 B6 B10
    expect(laws.checkWpComplete(0, FILE_PAGES)).toEqual([]);
    expect(k.counters.notifierStarts).toBe(k.counters.notifierEnds);
    expect(a.tlbFlushPending + b.tlbFlushPending).toBe(0);

    expect(dev.store8(a.id, addrOf(va, 2), 8)).toBe(-1); // the device must fault now
    const m0 = drv.pfnMkwriteCalls;
    const f0 = k.counters.faultsWpShared;
    for (const [c, v, p] of written) st(c, v, p);
    // One mkwrite per PTE: the second store to A6 (cpu2) finds it writable again.
    const ptes = new Set(written.map(([, v, p]) => `${v.mm.id}:${p}`)).size;
    expect(ptes).toBe(7);
    expect(drv.pfnMkwriteCalls - m0).toBe(ptes);
    expect(k.counters.faultsWpShared - f0).toBe(ptes);
  });
});

describe('VMA filter: private/COW, read-only shared and hugetlb VMAs are never modified', () => {
  /** World plus a third mm C mapping the file at pgoff 12 (visited after A and B). */
  function withThird(shared: boolean, fdWritable: boolean): World & { c: MmStruct; vc: Vma } {
    const w = world({ cpus: 3 });
    const c = mmCreate(w.k, 'C');
    const vc = mapFile(w.k, c, w.file, {
      pages: 4,
      pgoff: 12,
      shared,
      fdWritable,
      ...(fdWritable ? {} : { prot: PROT_READ }),
    });
    switchMm(w.k, 2, c);
    return { ...w, c, vc };
  }

  it.each(HELPER_VARIANT_NAMES)('private COW VMA (variant %s)', (variant) => {
    const w = withThird(false, true);
    store(w, 2, w.vc, 12); // COW copy: writable + dirty anonymous page
    store(w, 2, w.vc, 13);
    load(w, 2, w.vc, 14); // read-only PTE of the file page
    store(w, 0, w.va, 4);
    const before = snapshot(w.k, w.vc);
    const h = createDirtyHelpers(variant);
    const bm = bitmapAlloc(FILE_PAGES);
    runToCompletion(h.wpSharedMappingRange(w.k, w.file, 0, FILE_PAGES));
    runToCompletion(
      h.cleanRecordSharedMappingRange(w.k, w.file, 0, FILE_PAGES, 0, bm, { start: 16, end: 0 }),
    );
    const touched = JSON.stringify(snapshot(w.k, w.vc)) !== JSON.stringify(before);
    // Only the variants without the VM_SHARED|VM_MAYWRITE test (R6) modify it.
    expect(touched).toBe(!HELPER_VARIANTS[variant].spec.sharedCheck);
    // The shared VMA before it was handled either way.
    expect(writable(w.k, w.a, addrOf(w.va, 4))).toBe(false);
    expect(dirty(w.k, w.a, addrOf(w.va, 4))).toBe(false);
  });

  it.each(HELPER_VARIANT_NAMES)(
    'read-only shared VMA (O_RDONLY fd: VM_MAYSHARE only) (variant %s)',
    (variant) => {
      const w = withThird(true, false);
      load(w, 2, w.vc, 12);
      // Forge a dirty bit on its read-only PTE: if the helpers walked it, clean_record would clear it.
      const i = entryIndexAt(w.k.mem, w.c.root, addrOf(w.vc, 12) / 4096, 4, 4, false);
      w.k.mem.ptLo[i] = (w.k.mem.ptLo[i]! | PTE_DIRTY) >>> 0;
      const before = snapshot(w.k, w.vc);
      const h = createDirtyHelpers(variant);
      const bm = bitmapAlloc(FILE_PAGES);
      runToCompletion(h.wpSharedMappingRange(w.k, w.file, 0, FILE_PAGES));
      const n = runToCompletion(
        h.cleanRecordSharedMappingRange(w.k, w.file, 0, FILE_PAGES, 0, bm, { start: 16, end: 0 }),
      );
      const touched = JSON.stringify(snapshot(w.k, w.vc)) !== JSON.stringify(before);
      expect(touched).toBe(!HELPER_VARIANTS[variant].spec.sharedCheck);
      expect(n).toBe(HELPER_VARIANTS[variant].spec.sharedCheck ? 0 : 1);
    },
  );

  it.each(HELPER_VARIANT_NAMES)('hugetlb VMA (variant %s)', (variant) => {
    const w = withThird(true, true);
    store(w, 2, w.vc, 12);
    w.vc.flags |= VM_HUGETLB; // the model has no hugetlbfs tables: flag a populated VMA
    const before = snapshot(w.k, w.vc);
    const h = createDirtyHelpers(variant);
    const bm = bitmapAlloc(FILE_PAGES);
    runToCompletion(h.wpSharedMappingRange(w.k, w.file, 0, FILE_PAGES));
    runToCompletion(
      h.cleanRecordSharedMappingRange(w.k, w.file, 0, FILE_PAGES, 0, bm, { start: 16, end: 0 }),
    );
    expect(snapshot(w.k, w.vc)).toEqual(before); // every variant rejects hugetlb
    expect(bitmapToList(bm, FILE_PAGES)).not.toContain(12);
  });

  /** Q1 world: mm R maps the file read-only shared (linked first), then mm A shared writable. */
  function q1(): { k: Kernel; file: AddressSpace; a: MmStruct; va: Vma; r: MmStruct } {
    const k = new Kernel({ cpus: 2, storeLog: true });
    const file = new AddressSpace(k, 'file', false, 8);
    const r = mmCreate(k, 'R');
    const a = mmCreate(k, 'A');
    mapFile(k, r, file, { pages: 8, pgoff: 0, shared: true, fdWritable: false, prot: PROT_READ });
    const va = mapFile(k, a, file, { pages: 8, pgoff: 0 });
    switchMm(k, 0, a);
    switchMm(k, 1, r);
    k.setCurrent(new KTask('cpu0', 0));
    expect(storeFast(k, k.cpus[0]!, a, va.start + 3 * 4096, 1)).toBe(0);
    return { k, file, a, va, r };
  }

  it('quirk Q1: mainline ends the walk at a read-only shared VMA visited first; the later shared VMA is untouched', () => {
    const { k, file, a, va } = q1();
    expect(file.overlapping(0, 7)[0]!.mm.name).toBe('R');
    expect(runToCompletion(mainlineHelpers.wpSharedMappingRange(k, file, 0, 8))).toBe(0);
    expect(writable(k, a, va.start + 3 * 4096)).toBe(true);
    const bm = bitmapAlloc(8);
    expect(
      runToCompletion(
        mainlineHelpers.cleanRecordSharedMappingRange(k, file, 0, 8, 0, bm, { start: 8, end: 0 }),
      ),
    ).toBe(0);
    expect(dirty(k, a, va.start + 3 * 4096)).toBe(true);
    expect(bitmapToList(bm, 8)).toEqual([]);
  });

  it('walk-continue skips only the read-only VMA and protects and cleans the later shared one', () => {
    const { k, file, a, va } = q1();
    const h = createDirtyHelpers('walk-continue');
    expect(runToCompletion(h.wpSharedMappingRange(k, file, 0, 8))).toBe(1);
    expect(writable(k, a, va.start + 3 * 4096)).toBe(false);
    const bm = bitmapAlloc(8);
    expect(runToCompletion(h.cleanRecordSharedMappingRange(k, file, 0, 8, 0, bm, { start: 8, end: 0 }))).toBe(
      1,
    );
    expect(bitmapToList(bm, 8)).toEqual([3]);
  });
});

describe('huge PMDs are skipped, never split, and warned about when writable or dirty', () => {
  const BASE = 0x4000_0000; // 2 MiB aligned

  function hugeWorld(writeHuge: boolean) {
    const k = new Kernel({ cpus: 1, storeLog: true });
    const drv = pfnDriver(k, 1024);
    const mm = mmCreate(k, 'A');
    const vma = mapFile(k, mm, drv.file, { pages: 1024, pgoff: 0, addr: BASE });
    switchMm(k, 0, mm);
    k.setCurrent(new KTask('cpu0', 0));
    const io = k.mem.allocIo(1024 + 511);
    const aligned = io + ((512 - (io % 512)) % 512);
    expect(insertPfnPmd(k, vma, BASE, aligned, writeHuge)).toBe(true);
    // Second 2 MiB: ordinary PTEs via faults; two pages written.
    for (const p of [600, 700]) expect(storeFast(k, k.cpus[0]!, mm, BASE + p * 4096, 1)).toBe(0);
    const pmdI = entryIndexAt(k.mem, mm.root, BASE / 4096, LEVEL_PMD, 4, false);
    return { k, drv, mm, vma, pmdI };
  }

  it('a writable+dirty huge PMD: skipped by wp and clean_record, one warning each, entry unchanged', () => {
    const { k, drv, pmdI } = hugeWorld(true);
    const lo0 = k.mem.ptLo[pmdI]!;
    expect(lo0 & (PTE_PRESENT | PTE_PSE | PTE_RW | PTE_DIRTY)).toBe(
      PTE_PRESENT | PTE_PSE | PTE_RW | PTE_DIRTY,
    );
    expect(runToCompletion(wpSharedMappingRange(k, drv.file, 0, 1024))).toBe(2);
    const bm = bitmapAlloc(1024);
    const win = { start: 1024, end: 0 };
    expect(runToCompletion(cleanRecordSharedMappingRange(k, drv.file, 0, 1024, 0, bm, win))).toBe(2);
    expect(bitmapToList(bm, 1024)).toEqual([600, 700]);
    expect(k.mem.ptLo[pmdI]).toBe(lo0);
    expect(k.warnings.filter((s) => s.includes('huge')).length).toBe(2);
    expect(k.warnings.some((s) => s.includes('split'))).toBe(false);
  });

  it('a read-only but dirty huge PMD is also warned about (dirty alone suffices) and left dirty', () => {
    const { k, drv, pmdI } = hugeWorld(false);
    k.mem.ptLo[pmdI] = (k.mem.ptLo[pmdI]! | PTE_DIRTY) >>> 0;
    const lo0 = k.mem.ptLo[pmdI]!;
    const bm = bitmapAlloc(1024);
    expect(
      runToCompletion(cleanRecordSharedMappingRange(k, drv.file, 0, 1024, 0, bm, { start: 1024, end: 0 })),
    ).toBe(2);
    expect(k.mem.ptLo[pmdI]).toBe(lo0);
    expect(k.warnings.length).toBe(1);
    expect(k.warnings[0]).toMatch(/huge/);
  });

  it('a read-only clean huge PMD is skipped silently', () => {
    const { k, drv, pmdI } = hugeWorld(false);
    const lo0 = k.mem.ptLo[pmdI]!;
    expect(runToCompletion(wpSharedMappingRange(k, drv.file, 0, 1024))).toBe(2);
    expect(k.mem.ptLo[pmdI]).toBe(lo0);
    expect(k.warnings).toEqual([]);
  });
});

describe('the fast-mode batched PTE path equals the per-PTE path', () => {
  it('same PTEs, bitmap, window, counts and flushes with and without tracing (per-PTE) and in explore mode', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ cpu: fc.nat(1), page: fc.nat(FILE_PAGES - 1), write: fc.boolean() }), {
          maxLength: 40,
        }),
        fc.nat(FILE_PAGES - 1),
        fc.integer({ min: 1, max: FILE_PAGES }),
        fc.boolean(),
        (ops, first0, nr0, ss) => {
          const nr = Math.min(nr0, FILE_PAGES - first0);
          const run = (mode: 'fast' | 'trace' | 'explore') => {
            const w = world({ explore: mode === 'explore', shadowStack: ss });
            if (mode === 'trace') (w.k as { trace: TraceSink | null }).trace = new TraceSink();
            for (const o of ops) {
              const vma = o.cpu === 0 ? w.va : w.vb;
              const page = o.cpu === 0 ? o.page : B_PGOFF + (o.page % 8);
              if (o.write) store(w, o.cpu, vma, page);
              else load(w, o.cpu, vma, page);
            }
            const bm = bitmapAlloc(FILE_PAGES);
            const win = { start: FILE_PAGES, end: 0 };
            const n1 = runToCompletion(cleanRecordSharedMappingRange(w.k, w.file, first0, nr, 0, bm, win));
            const n2 = runToCompletion(wpSharedMappingRange(w.k, w.file, first0, nr));
            const c = w.k.counters;
            return {
              n1,
              n2,
              bits: bitmapToList(bm, FILE_PAGES),
              win,
              a: snapshot(w.k, w.va),
              b: snapshot(w.k, w.vb),
              counters: [
                c.ptesVisited,
                c.ptesChanged,
                c.ptesChangedByWp,
                c.tlbFlushRange,
                c.tlbFlushMm,
                c.tlbEntriesDropped,
              ],
            };
          };
          const fast = run('fast');
          expect(run('trace')).toEqual(fast);
          expect(run('explore')).toEqual(fast);
        },
      ),
      { numRuns: 60 },
    );
  });
});
