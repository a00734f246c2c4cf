/**
 * PAGEMAP_SCAN and async uffd-wp on the simulated kernel, on hand-computed cases: region
 * merging, walk_end under max_pages / vec_len, WP_MATCHING leaves nothing WRITTEN, a write after
 * the protect (through a TLB entry cached writable before it) shows up in the next scan, holes in
 * WP-capable VMAs, unregistered and PFNMAP VMAs, validation errnos, markers across DONTNEED; and
 * the "no lost write" law (spec P13) as a property.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runToCompletion } from '../../src/checker/task.ts';
import { entryIndexAt, tableAt } from '../../src/hw/pagetable.ts';
import {
  entryHuge,
  LEVEL_PMD,
  LEVEL_PTE,
  mkHi,
  mkLo,
  PTE_ACCESSED,
  PTE_DIRTY,
  PTE_PRESENT,
  PTE_PSE,
  PTE_RW,
  PTE_UFFD_WP,
  PTE_USER,
} from '../../src/hw/pte.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { type Kernel, KTask } from '../../src/mm/kernel.ts';
import { type MmStruct, VM_PFNMAP, type Vma } from '../../src/mm/mm-types.ts';
import { mmCreate, switchMm } from '../../src/mm/mmap.ts';
import {
  PAGE_IS_FILE,
  PAGE_IS_HUGE,
  PAGE_IS_PRESENT,
  PAGE_IS_SWAPPED,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PM_SCAN_CHECK_WPASYNC,
  PM_SCAN_WP_MATCHING,
  type PmScanArg,
  pagemapScan,
  pmScanArg,
} from '../../src/mm/pagemap-scan.ts';
import {
  isUffdWpMarker,
  madviseDontneedUffd,
  UFFD_MODEL_FEATURES,
  uffdLoadFast,
  uffdOpen,
  uffdRegisterWp,
  uffdStoreFast,
  uffdWriteprotect,
} from '../../src/mm/userfaultfd.ts';
import { kernel, mapFile, PAGE, pte } from './fixtures.ts';

const W = PAGE_IS_WRITTEN;
const A = PAGE_IS_WPALLOWED;
const BASE = 0x7f00_0000_0000; // 2 MiB aligned: page k is entry k % 512 of table k / 512

interface Fx {
  k: Kernel;
  mm: MmStruct;
  vma: Vma;
  /** Store one byte into page p. */
  store(p: number): void;
  load(p: number): void;
  /** Scan pages [s, e) (relative) with overrides; regions as [start, end, categories] relative. */
  scan(
    s: number,
    e: number,
    over?: Partial<PmScanArg>,
  ): { ret: number; regions: number[][]; walkEnd: number };
  wp(s: number, n: number, on?: boolean): number;
  pteOf(p: number): [number, number];
}

function setup(pages: number, opts: { register?: boolean; shared?: boolean } = {}): Fx {
  const k = kernel(1);
  k.setCurrent(new KTask('user', 0));
  const mm = mmCreate(k, 't');
  switchMm(k, 0, mm);
  const file = new AddressSpace(k, 'memfd', false, pages);
  const vma = mapFile(k, mm, file, { pages, addr: BASE, shared: opts.shared ?? true });
  const ctx = uffdOpen(mm, UFFD_MODEL_FEATURES);
  if (typeof ctx === 'number') throw new Error('uffdOpen');
  if (opts.register ?? true) expect(runToCompletion(uffdRegisterWp(k, ctx, BASE, pages * PAGE))).toBe(0);
  const cpu = k.cpus[0]!;
  return {
    k,
    mm,
    vma,
    store: (p) => expect(uffdStoreFast(k, cpu, mm, BASE + p * PAGE, 1)).toBe(0),
    load: (p) => expect(uffdLoadFast(k, cpu, mm, BASE + p * PAGE)).toBeGreaterThanOrEqual(0),
    scan(s, e, over = {}) {
      const r = runToCompletion(pagemapScan(k, mm, pmScanArg(BASE + s * PAGE, BASE + e * PAGE, over)));
      return {
        ret: r.ret,
        regions: r.starts.map((x, i) => [(x - BASE) / PAGE, (r.ends[i]! - BASE) / PAGE, r.categories[i]!]),
        walkEnd: r.ret < 0 ? -1 : (r.walkEnd - BASE) / PAGE,
      };
    },
    wp: (s, n, on = true) => runToCompletion(uffdWriteprotect(k, mm, BASE + s * PAGE, n * PAGE, on)),
    pteOf: (p) => pte(k, mm, BASE + p * PAGE),
  };
}

describe('PAGEMAP_SCAN on the model: output', () => {
  it('merges consecutive pages with equal reported categories, across different PTE states', () => {
    const f = setup(16);
    f.wp(0, 16);
    for (const p of [2, 3, 4, 6]) f.store(p);
    f.wp(4, 1, false); // page 4: present, bit cleared by unprotect (still WRITTEN)
    expect(f.scan(0, 16)).toEqual({
      ret: 2,
      regions: [
        [2, 5, W],
        [6, 7, W],
      ],
      walkEnd: 16,
    });
    // with all categories returned, 2..4 are one run (present, file, written) and 5 a marker
    const all = f.scan(0, 8, { categoryMask: 0, returnMask: 0xff });
    expect(all.regions).toEqual([
      [0, 2, A | PAGE_IS_SWAPPED],
      [2, 5, A | PAGE_IS_PRESENT | PAGE_IS_FILE | W],
      [5, 6, A | PAGE_IS_SWAPPED],
      [6, 7, A | PAGE_IS_PRESENT | PAGE_IS_FILE | W],
      [7, 8, A | PAGE_IS_SWAPPED],
    ]);
  });

  it('max_pages truncates the last region; walk_end is the first matching page not reported', () => {
    const f = setup(16);
    f.wp(0, 16);
    for (const p of [1, 2, 3, 7]) f.store(p);
    expect(f.scan(0, 16, { maxPages: 2 })).toEqual({ ret: 1, regions: [[1, 3, W]], walkEnd: 3 });
    // exactly 3 reported: the walk goes on past the unwritten 4..6 and stops at 7
    expect(f.scan(0, 16, { maxPages: 3 })).toEqual({ ret: 1, regions: [[1, 4, W]], walkEnd: 7 });
    expect(f.scan(0, 16, { maxPages: 4 })).toEqual({
      ret: 2,
      regions: [
        [1, 4, W],
        [7, 8, W],
      ],
      walkEnd: 16,
    });
  });

  it('vec_len caps regions; walk_end is the page that needed one more', () => {
    const f = setup(16);
    f.wp(0, 16);
    for (const p of [1, 3, 4, 9]) f.store(p);
    expect(f.scan(0, 16, { vecLen: 2 })).toEqual({
      ret: 2,
      regions: [
        [1, 2, W],
        [3, 5, W],
      ],
      walkEnd: 9,
    });
    expect(f.scan(0, 16, { vecLen: 0 })).toEqual({ ret: 0, regions: [], walkEnd: 16 });
    expect(f.scan(0, 16, { vecLen: 0, vecNull: true })).toEqual({ ret: 0, regions: [], walkEnd: 16 });
  });

  it('regions beyond the 512-region bounce buffer are reported in order, not merged across chunks', () => {
    const n = 1200;
    const f = setup(n);
    f.wp(0, n);
    for (let p = 0; p < n; p += 2) f.store(p);
    const r = f.scan(0, n);
    expect(r.ret).toBe(600);
    expect(r.regions.every(([s, e], i) => s === 2 * i && e === 2 * i + 1)).toBe(true);
  });
});

describe('PAGEMAP_SCAN on the model: WP_MATCHING', () => {
  it('after a WP_MATCHING scan no page is WRITTEN and the PTEs carry the uffd-wp bit, read-only', () => {
    const f = setup(8);
    f.wp(0, 8);
    for (const p of [1, 2, 5]) f.store(p);
    expect(f.scan(0, 8, { flags: PM_SCAN_WP_MATCHING }).regions).toEqual([
      [1, 3, W],
      [5, 6, W],
    ]);
    expect(f.scan(0, 8).regions).toEqual([]);
    for (const p of [1, 2, 5]) {
      const [lo] = f.pteOf(p);
      expect(lo & (PTE_PRESENT | PTE_RW | PTE_UFFD_WP)).toBe(PTE_PRESENT | PTE_UFFD_WP);
    }
  });

  it('a write after the protect shows up in the next scan, even through a TLB entry cached writable', () => {
    const f = setup(4);
    f.store(2); // empty -> present, writable, dirty; the CPU's TLB now caches it writable+dirty
    expect(f.scan(0, 4, { flags: PM_SCAN_WP_MATCHING, categoryMask: W }).regions).toEqual([[0, 4, W]]);
    const faults = f.k.counters.hwFaults;
    f.store(2); // must fault: the scan flushed the TLB before dropping the PTL
    expect(f.k.counters.hwFaults).toBeGreaterThan(faults);
    expect(f.scan(0, 4).regions).toEqual([[2, 3, W]]);
  });

  it('protects only what it reports (max_pages cut): the rest stays WRITTEN', () => {
    const f = setup(8);
    f.wp(0, 8);
    f.store(3);
    f.store(4);
    f.store(5);
    expect(f.scan(0, 8, { flags: PM_SCAN_WP_MATCHING, maxPages: 1 })).toEqual({
      ret: 1,
      regions: [[3, 4, W]],
      walkEnd: 4,
    });
    expect(f.scan(0, 8).regions).toEqual([[4, 6, W]]);
  });

  it('P13: between consecutive WP_MATCHING scans every store is reported by the next scan', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 0, max: 39 }), { maxLength: 12 }), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.integer({ min: 0, max: 5 }),
        (rounds, maxPages) => {
          const f = setup(40);
          f.scan(0, 40, { flags: PM_SCAN_WP_MATCHING });
          for (const stores of rounds) {
            for (const p of stores) f.store(p);
            const seen = new Set<number>();
            for (let start = 0; start < 40; ) {
              const r = f.scan(start, 40, { flags: PM_SCAN_WP_MATCHING, maxPages });
              for (const [s, e] of r.regions) for (let p = s!; p < e!; p++) seen.add(p);
              start = r.walkEnd;
            }
            for (const p of stores) expect(seen.has(p)).toBe(true);
            expect(seen.size).toBe(new Set(stores).size);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('PAGEMAP_SCAN on the model: holes, VMAs', () => {
  it('a hole (no PTE table) in a WP-capable VMA is WPALLOWED|WRITTEN only; WP_MATCHING arms it with markers', () => {
    const f = setup(600);
    expect(tableAt(f.k.mem, f.mm.root, BASE / PAGE + 512, LEVEL_PTE, f.k.levels)).toBe(-1);
    f.store(3); // table 0 exists now, table 1 (pages 512..599) does not
    const all = { categoryMask: 0, returnMask: 0xff };
    expect(f.scan(500, 600, all).regions).toEqual([[500, 600, A | W]]);
    expect(f.scan(500, 600, { flags: PM_SCAN_WP_MATCHING, maxPages: 50 })).toEqual({
      ret: 1,
      regions: [[500, 550, W]],
      walkEnd: 550,
    });
    expect(tableAt(f.k.mem, f.mm.root, BASE / PAGE + 512, LEVEL_PTE, f.k.levels)).toBeGreaterThanOrEqual(0);
    expect(isUffdWpMarker(...f.pteOf(520))).toBe(true);
    expect(f.pteOf(560)).toEqual([0, 0]);
    expect(f.scan(500, 600, all).regions).toEqual([
      [500, 550, A | PAGE_IS_SWAPPED],
      [550, 600, A | W],
    ]);
  });

  it('an unregistered VMA has no WPALLOWED; WP_MATCHING skips it; CHECK_WPASYNC fails with EPERM', () => {
    const f = setup(4, { register: false });
    f.store(1);
    expect(f.scan(0, 4, { categoryMask: 0, returnMask: 0xff }).regions).toEqual([
      [0, 1, 0],
      [1, 2, PAGE_IS_PRESENT | PAGE_IS_FILE | W],
      [2, 4, 0],
    ]);
    expect(f.scan(0, 4, { flags: PM_SCAN_WP_MATCHING })).toEqual({ ret: 0, regions: [], walkEnd: 4 });
    expect(f.pteOf(1)[0] & PTE_UFFD_WP).toBe(0);
    expect(f.scan(0, 4, { flags: PM_SCAN_CHECK_WPASYNC }).ret).toBe(-1);
    expect(f.wp(0, 4)).toBe(-2); // UFFDIO_WRITEPROTECT on an unregistered VMA: ENOENT
  });

  it('a VM_PFNMAP VMA is skipped whatever the masks', () => {
    const f = setup(4);
    f.vma.flags |= VM_PFNMAP;
    expect(f.scan(0, 4, { categoryMask: 0, returnMask: 0 })).toEqual({ ret: 0, regions: [], walkEnd: 4 });
  });
});

describe('PAGEMAP_SCAN on the model: huge PMD leaves', () => {
  /** A 2 MiB page-cache leaf mapped writable and dirty at pages [0, 512) of a registered VMA. */
  function withHugeLeaf(): { f: Fx; pmd: number } {
    const f = setup(1024);
    const mem = f.k.mem;
    const pfn = mem.allocRamAligned(512, 512);
    const pmd = entryIndexAt(mem, f.mm.root, BASE / PAGE, LEVEL_PMD, f.k.levels, true);
    mem.ptLo[pmd] = mkLo(pfn, PTE_PRESENT | PTE_USER | PTE_RW | PTE_PSE | PTE_ACCESSED | PTE_DIRTY);
    mem.ptHi[pmd] = mkHi(pfn, 0);
    return { f, pmd };
  }
  const HUGE = A | PAGE_IS_PRESENT | PAGE_IS_HUGE | PAGE_IS_FILE;

  it('a leaf is one run of PRESENT|HUGE|FILE, WRITTEN until a whole-leaf WP_MATCHING protects it in place', () => {
    const { f, pmd } = withHugeLeaf();
    const all = { categoryMask: 0, returnMask: 0xff };
    expect(f.scan(0, 1024, all).regions).toEqual([
      [0, 512, HUGE | W],
      [512, 1024, A | W],
    ]);
    expect(f.scan(0, 512, { flags: PM_SCAN_WP_MATCHING }).regions).toEqual([[0, 512, W]]);
    expect(f.k.mem.ptLo[pmd]! & (PTE_PSE | PTE_RW | PTE_UFFD_WP)).toBe(PTE_PSE | PTE_UFFD_WP);
    expect(f.scan(0, 1024, all).regions[0]).toEqual([0, 512, HUGE]);
  });

  it('a partial WP_MATCHING (max_pages) splits the leaf first and protects only what it reports', () => {
    const { f, pmd } = withHugeLeaf();
    expect(f.scan(0, 1024, { flags: PM_SCAN_WP_MATCHING, maxPages: 10 })).toEqual({
      ret: 1,
      regions: [[0, 10, W]],
      walkEnd: 10,
    });
    expect(entryHuge(f.k.mem.ptLo[pmd]!)).toBe(false); // the model's split zaps the leaf
    expect(f.scan(0, 1024, { categoryMask: 0, returnMask: 0xff }).regions).toEqual([
      [0, 10, A | PAGE_IS_SWAPPED],
      [10, 1024, A | W],
    ]);
  });
});

describe('PAGEMAP_SCAN on the model: validation', () => {
  it('returns the errnos of the kernel, in its order', () => {
    const f = setup(4);
    const e = (over: Partial<PmScanArg>, s = 0, end = 4) => f.scan(s, end, over).ret;
    expect(e({ size: 88 })).toBe(-22);
    expect(e({ flags: 4 })).toBe(-22);
    expect(e({ returnMask: 1 << 9 })).toBe(-22);
    expect(e({ categoryInverted: 2 ** 40 })).toBe(-22);
    expect(e({ vecNull: true, vecLen: 1 })).toBe(-22);
    expect(e({}, 3, 1)).toBe(-14); // end < start: EFAULT
    expect(f.scan(0, 4, {})).toEqual({ ret: 1, regions: [[0, 4, W]], walkEnd: 4 }); // fresh: empty = WRITTEN
    const unaligned = runToCompletion(pagemapScan(f.k, f.mm, pmScanArg(BASE + 8, BASE)));
    expect(unaligned.ret).toBe(-22); // alignment is checked before the range
  });
});

describe('uffd-wp on the model', () => {
  it('WRITEPROTECT sets markers on empty PTEs; unprotect removes them; a load of a marker maps the page protected', () => {
    const f = setup(4);
    f.wp(0, 4);
    expect(isUffdWpMarker(...f.pteOf(0))).toBe(true);
    f.load(1);
    expect(f.pteOf(1)[0] & (PTE_PRESENT | PTE_UFFD_WP | PTE_RW)).toBe(PTE_PRESENT | PTE_UFFD_WP);
    f.wp(0, 4, false);
    expect(f.pteOf(0)).toEqual([0, 0]);
    expect(f.pteOf(1)[0] & PTE_UFFD_WP).toBe(0);
  });

  it('MADV_DONTNEED keeps a marker for protected pages and drops written ones', () => {
    const f = setup(4);
    f.wp(0, 4);
    f.store(1);
    f.load(2);
    expect(runToCompletion(madviseDontneedUffd(f.k, f.mm, BASE, 4 * PAGE))).toBe(0);
    expect(isUffdWpMarker(...f.pteOf(0))).toBe(true); // marker kept
    expect(f.pteOf(1)).toEqual([0, 0]); // written: gone
    expect(isUffdWpMarker(...f.pteOf(2))).toBe(true); // protected present page -> marker
  });
});
