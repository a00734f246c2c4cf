/** Page-table walkers (spec §2): walkPageMapping, walkPageRange, walkPageVma. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runToCompletion } from '../../src/checker/task.ts';
import { entryIndexAt } from '../../src/hw/pagetable.ts';
import { entryHuge, LEVEL_PMD, LEVEL_PTE, PTE_PRESENT } from '../../src/hw/pte.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { insertPfnPmd } from '../../src/mm/huge.ts';
import { type Kernel, KTask } from '../../src/mm/kernel.ts';
import { userLoad8 } from '../../src/mm/memory.ts';
import type { MmStruct, Vma } from '../../src/mm/mm-types.ts';
import { mmCreate, switchMm } from '../../src/mm/mmap.ts';
import {
  type MmWalk,
  type MmWalkOps,
  PageWalkAction,
  walkPageMapping,
  walkPageRange,
  walkPageVma,
} from '../../src/mm/pagewalk.ts';
import { aliasing, finish, kernel, mapFile, PAGE, pfnDriver, ptep } from './fixtures.ts';

const PMD = 2 ** 21;

/** Fault in (read) every page of `vma` on CPU 0. */
function populate(k: Kernel, vma: Vma, pages?: number[]): void {
  switchMm(k, 0, vma.mm);
  for (const p of pages ?? Array.from({ length: vma.pages }, (_, i) => i))
    expect(runToCompletion(userLoad8(k, k.cpus[0]!, vma.mm, vma.start + p * PAGE))).toBeGreaterThanOrEqual(0);
}

function walkMapping<P>(
  k: Kernel,
  f: AddressSpace,
  first: number,
  nr: number,
  ops: MmWalkOps<P>,
  priv: P,
): number {
  runToCompletion(f.iMmapRwsem.downRead());
  try {
    return runToCompletion(walkPageMapping(k, f, first, nr, ops, priv));
  } finally {
    f.iMmapRwsem.upRead();
  }
}

const key = (mm: MmStruct, addr: number) => `${mm.id}:${addr}`;

describe('walkPageMapping', () => {
  it('visits each PTE of the clipped range exactly once across VMAs and mms (property)', () => {
    const vmaArb = fc.record({
      pgoff: fc.integer({ min: 0, max: 40 }),
      pages: fc.integer({ min: 1, max: 24 }),
      // slot offset from a 2 MiB boundary, so some VMAs straddle two PTE tables
      skew: fc.integer({ min: -20, max: 20 }),
    });
    fc.assert(
      fc.property(
        fc.array(fc.array(vmaArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 0, max: 70 }),
        fc.integer({ min: 1, max: 70 }),
        fc.boolean(),
        (mms, first, nr, sparse) => {
          const k = kernel(1);
          k.setCurrent(new KTask('t', 0));
          const f = new AddressSpace(k, 'f', true, 64);
          const vmas: Vma[] = [];
          const populated = new Set<string>();
          mms.forEach((layout, m) => {
            const mm = mmCreate(k, `mm${m}`);
            layout.forEach((l, n) => {
              const addr = 0x4000_0000 + n * 4 * PMD + m * 64 * PMD + l.skew * PAGE + PMD;
              const v = mapFile(k, mm, f, { pages: l.pages, pgoff: l.pgoff, addr });
              vmas.push(v);
              const pages = Array.from({ length: v.pages }, (_, i) => i).filter(
                (i) => !sparse || (i * 7 + n) % 3 !== 0,
              );
              populate(k, v, pages);
              for (const p of pages) populated.add(key(mm, v.start + p * PAGE));
            });
          });
          const expected = new Set<string>();
          for (const v of vmas)
            for (let pg = Math.max(first, v.pgoff); pg < Math.min(first + nr, v.pgoff + v.pages); pg++)
              expected.add(key(v.mm, v.addrOf(pg)));
          const seen = new Map<string, number>();
          const holes = new Map<string, number>();
          const tested: Array<[Vma, number, number]> = [];
          const ops: MmWalkOps<null> = {
            testWalk(start, end, walk) {
              tested.push([walk.vma!, start, end]);
              return 0;
            },
            pteEntry(i, addr, next, walk) {
              expect(next).toBe(addr + PAGE);
              expect(i).toBe(ptep(k, walk.mm!, addr));
              const kk = key(walk.mm!, addr);
              seen.set(kk, (seen.get(kk) ?? 0) + 1);
              return 0;
            },
            pteHole(addr, next, depth, walk) {
              expect(depth).toBeGreaterThanOrEqual(0);
              for (let a = addr; a < next; a += PAGE) {
                const kk = key(walk.mm!, a);
                holes.set(kk, (holes.get(kk) ?? 0) + 1);
              }
              return 0;
            },
          };
          expect(walkMapping(k, f, first, nr, ops, null)).toBe(0);
          // every populated PTE in range visited exactly once, nothing outside the range
          for (const kk of expected) {
            const n = (seen.get(kk) ?? 0) + (holes.get(kk) ?? 0);
            expect(n, kk).toBe(1);
            if (populated.has(kk)) expect(seen.get(kk), kk).toBe(1);
          }
          for (const kk of seen.keys()) expect(expected.has(kk), kk).toBe(true);
          // testWalk saw each overlapping VMA once, with its WHOLE extent
          const overlapping = vmas.filter((v) => v.pgoff < first + nr && v.pgoff + v.pages > first);
          expect(tested.map((t) => t[0]).sort((a, b) => a.start - b.start)).toEqual(
            [...overlapping].sort((a, b) => a.start - b.start),
          );
          for (const [v, s, e] of tested) expect([s, e]).toEqual([v.start, v.end]);
          // and in interval-tree order: ascending pgoff
          const pg = tested.map((t) => t[0].pgoff);
          expect(pg).toEqual([...pg].sort((a, b) => a - b));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a positive testWalk ENDS the walk; positiveTestWalkSkipsVmaOnly skips just that VMA', () => {
    const { k, file, va, vb } = aliasing();
    populate(k, va);
    populate(k, vb);
    for (const skipOnly of [false, true]) {
      const visitedMms = new Set<number>();
      const tested: Vma[] = [];
      const ops: MmWalkOps<null> = {
        testWalk(_s, _e, walk) {
          tested.push(walk.vma!);
          return walk.vma === va ? 7 : 0;
        },
        pteEntry(_i, _a, _n, walk) {
          visitedMms.add(walk.mm!.id);
          return 0;
        },
        ...(skipOnly ? { positiveTestWalkSkipsVmaOnly: true } : {}),
      };
      expect(walkMapping(k, file, 0, 16, ops, null)).toBe(0); // positive -> 0
      if (skipOnly) {
        expect(tested).toEqual([va, vb]);
        expect([...visitedMms]).toEqual([vb.mm.id]);
      } else {
        expect(tested).toEqual([va]); // vb (later in the tree) never considered
        expect(visitedMms.size).toBe(0);
      }
    }
  });

  it('a negative testWalk stops with that error', () => {
    const { k, file } = aliasing();
    expect(walkMapping(k, file, 0, 16, { testWalk: () => -5 }, null)).toBe(-5);
  });

  it('default test: a VM_PFNMAP VMA is skipped with pte_hole(vm_start, vm_end, -1) and ends the walk', () => {
    const k = kernel(2);
    k.setCurrent(new KTask('t', 0));
    const d = pfnDriver(k, 8);
    const a = mmCreate(k, 'A');
    const b = mmCreate(k, 'B');
    const va = mapFile(k, a, d.file, { pages: 8 });
    const vb = mapFile(k, b, d.file, { pages: 8 });
    populate(k, va);
    const holes: Array<[number, number, number]> = [];
    const holeMms: MmStruct[] = [];
    let ptes = 0;
    const ops: MmWalkOps<null> = {
      pteEntry: () => {
        ptes++;
        return 0;
      },
      pteHole(s, e, depth, walk) {
        holeMms.push(walk.mm!);
        holes.push([s, e, depth]);
        return 0;
      },
    };
    expect(walkMapping(k, d.file, 2, 3, ops, null)).toBe(0);
    expect(ptes).toBe(0);
    expect(holes).toEqual([[va.start, va.end, -1]]); // whole VMA, and vb not reached
    expect(holeMms).toEqual([a]);
    expect(vb.mm).toBe(b);
    // a failing pte_hole's error is returned
    expect(walkMapping(k, d.file, 0, 8, { pteHole: () => -3 }, null)).toBe(-3);
  });

  it('preVma/postVma pair up; postVma runs even when the table walk errs; preVma error skips both', () => {
    const { k, file, va, vb } = aliasing();
    populate(k, va);
    populate(k, vb);
    const log: string[] = [];
    const ops: MmWalkOps<null> = {
      *preVma(s, e, walk) {
        yield undefined; // may sleep
        log.push(`pre ${walk.mm!.name} ${(s - walk.vma!.start) / PAGE}-${(e - walk.vma!.start) / PAGE}`);
        return 0;
      },
      *postVma(walk) {
        yield undefined; // may sleep
        log.push(`post ${walk.mm!.name}`);
      },
      pteEntry(_i, addr, _n, walk) {
        return walk.mm!.name === 'B' && addr === vb.start + 2 * PAGE ? -9 : 0;
      },
    };
    expect(walkMapping(k, file, 5, 4, ops, null)).toBe(-9);
    // A maps pgoff 5..8 at page 5..8; B (pgoff 4) at page 1..4; B errs on its third page
    expect(log).toEqual(['pre A 5-9', 'post A', 'pre B 1-5', 'post B']);
    log.length = 0;
    const failPre: MmWalkOps<null> = {
      *preVma() {
        yield undefined; // may sleep
        log.push('pre');
        return -4;
      },
      *postVma() {
        yield undefined; // may sleep
        log.push('post');
      },
    };
    expect(walkMapping(k, file, 0, 16, failPre, null)).toBe(-4);
    expect(log).toEqual(['pre']);
  });

  it('pteEntry runs with the PTL of its PTE table held', () => {
    const { k, file, va, vb } = aliasing();
    populate(k, va);
    populate(k, vb);
    let n = 0;
    walkMapping(
      k,
      file,
      0,
      16,
      {
        pteEntry(i) {
          expect(k.ptl(k.tableOfSlot(Math.floor(i / 512))).heldByMe()).toBe(true);
          n++;
          return 0;
        },
      },
      null,
    );
    expect(n).toBe(24);
    const table = k.tableOfSlot(Math.floor(ptep(k, va.mm, va.start) / 512));
    expect(k.ptl(table).owner).toBeNull(); // released afterwards
  });

  function hugeSetup() {
    const k = kernel(1);
    k.setCurrent(new KTask('t', 0));
    const f = new AddressSpace(k, 'f', true, 1024);
    const mm = mmCreate(k, 'A');
    const v = mapFile(k, mm, f, { pages: 1024, addr: 0x4000_0000 });
    const pfn = k.mem.allocRamAligned(512, 512);
    expect(insertPfnPmd(k, v, v.start, pfn, false)).toBe(true);
    const pmdIdx = () => {
      let found = -1;
      runToCompletion(
        walkPageMapping(
          k,
          f,
          0,
          1,
          {
            pmdEntry: (i) => {
              found = i;
              return 0;
            },
          },
          null,
        ),
      );
      return found;
    };
    runToCompletion(f.iMmapRwsem.downRead());
    const i = pmdIdx();
    f.iMmapRwsem.upRead();
    return { k, f, v, i };
  }

  it('pmdEntry with Continue on a huge PMD does not split it; Subtree with a pteEntry splits (zaps) it', () => {
    const { k, f, v, i } = hugeSetup();
    expect(entryHuge(k.mem.ptLo[i]!)).toBe(true);
    let ptes = 0;
    const holes: number[] = [];
    const mk = (action: PageWalkAction): MmWalkOps<null> => ({
      pmdEntry(pi, addr, next, walk: MmWalk<null>) {
        if (entryHuge(k.mem.ptLo[pi]!)) {
          expect([addr, next]).toEqual([v.start, v.start + 16 * PAGE]); // next clipped to the range
          walk.action = action;
        }
        return 0;
      },
      pteEntry: () => {
        ptes++;
        return 0;
      },
      pteHole: (_a, _n, depth) => {
        holes.push(depth);
        return 0;
      },
    });
    expect(walkMapping(k, f, 0, 16, mk(PageWalkAction.Continue), null)).toBe(0);
    expect(entryHuge(k.mem.ptLo[i]!)).toBe(true);
    expect(ptes).toBe(0);
    expect(walkMapping(k, f, 0, 16, mk(PageWalkAction.Subtree), null)).toBe(0);
    expect(k.mem.ptLo[i]! & PTE_PRESENT).toBe(0); // zapped by split_huge_pmd
    expect(ptes).toBe(0);
    expect(holes).toEqual([LEVEL_PMD]); // re-read after the split: now empty
    expect(k.warnings).toHaveLength(0); // it was clean: no dirty state lost
  });

  it('Again re-runs the callback on the same entry', () => {
    const { k, f, v } = hugeSetup();
    const calls: number[] = [];
    let again = true;
    walkMapping(
      k,
      f,
      0,
      4,
      {
        pmdEntry(_i, addr, _n, walk) {
          calls.push(addr);
          if (again) {
            again = false;
            walk.action = PageWalkAction.Again;
          } else walk.action = PageWalkAction.Continue;
          return 0;
        },
      },
      null,
    );
    expect(calls).toEqual([v.start, v.start]);
  });

  it('asserts i_mmap_rwsem is held and rejects nr < 1', () => {
    const { k, file } = aliasing();
    k.setCurrent(new KTask('t', 0));
    expect(() => runToCompletion(walkPageMapping(k, file, 0, 4, {}, null))).toThrow(/lockdep.*i_mmap_rwsem/);
    runToCompletion(file.iMmapRwsem.downRead());
    expect(() => runToCompletion(walkPageMapping(k, file, 0, 0, {}, null))).toThrow(RangeError);
    expect(() => runToCompletion(walkPageMapping(k, file, 3, -1, {}, null))).toThrow(RangeError);
    file.iMmapRwsem.upRead();
  });
});

describe('walkPageRange / walkPageVma', () => {
  it('walkPageRange reports holes between VMAs (depth -1) and missing tables; a positive testWalk skips only that VMA', () => {
    const k = kernel(1);
    k.setCurrent(new KTask('t', 0));
    const f = new AddressSpace(k, 'f', true, 64);
    const mm = mmCreate(k, 'A');
    const base = 0x4000_0000;
    const v1 = mapFile(k, mm, f, { pages: 4, addr: base + 2 * PAGE });
    const v2 = mapFile(k, mm, f, { pages: 4, addr: base + 10 * PAGE, pgoff: 8 });
    const v3 = mapFile(k, mm, f, { pages: 2, addr: base + 20 * PAGE, pgoff: 20 });
    populate(k, v1);
    populate(k, v3);
    const holes: Array<[number, number, number]> = [];
    const ptes: number[] = [];
    const ops: MmWalkOps<null> = {
      testWalk: (_s, _e, walk) => (walk.vma === v3 ? 1 : 0),
      pteEntry: (_i, a) => {
        ptes.push((a - base) / PAGE);
        return 0;
      },
      pteHole: (s, e, d) => {
        holes.push([(s - base) / PAGE, (e - base) / PAGE, d]);
        return 0;
      },
    };
    expect(() => runToCompletion(walkPageRange(k, mm, base, base + 24 * PAGE, ops, null))).toThrow(/lockdep/);
    runToCompletion(mm.mmapLock.downRead());
    expect(runToCompletion(walkPageRange(k, mm, base, base + 24 * PAGE, ops, null))).toBe(0);
    // v2 shares v1's PTE table, so its unpopulated PTEs are visited (none), not holes
    expect(ptes).toEqual([2, 3, 4, 5, 10, 11, 12, 13]);
    expect(holes).toEqual([
      [0, 2, -1],
      [6, 10, -1],
      [14, 20, -1],
      [22, 24, -1],
    ]);
    // walkPageVma: whole VMA
    ptes.length = 0;
    expect(runToCompletion(walkPageVma(k, v2, ops, null))).toBe(0);
    expect(ptes).toEqual([10, 11, 12, 13]);
    ptes.length = 0;
    expect(runToCompletion(walkPageVma(k, v3, ops, null))).toBe(0);
    expect(ptes).toEqual([]);
    mm.mmapLock.upRead();
  });

  it('a VMA in a fresh mm with no tables is one PMD-level (or higher) hole', () => {
    const k = kernel(1);
    k.setCurrent(new KTask('t', 0));
    const f = new AddressSpace(k, 'f', true, 64);
    const mm = mmCreate(k, 'A');
    const v = mapFile(k, mm, f, { pages: 4, addr: 0x4000_0000 });
    const depths: number[] = [];
    runToCompletion(mm.mmapLock.downRead());
    runToCompletion(
      walkPageVma(
        k,
        v,
        {
          pteHole: (_s, _e, d) => {
            depths.push(d);
            return 0;
          },
          pteEntry: () => 0,
        },
        null,
      ),
    );
    mm.mmapLock.upRead();
    expect(depths).toHaveLength(1);
    expect(depths[0]).toBeLessThan(LEVEL_PTE);
  });
});

describe('walker: non-none entries and the PTE-table retry (walk_pmd_range / walk_pte_range)', () => {
  function setup(explore: boolean) {
    const k = kernel(2, { explore });
    const t = new KTask('walker', 0);
    k.setCurrent(t);
    const f = new AddressSpace(k, 'f', true, 8);
    const mm = mmCreate(k, 'A');
    const v = mapFile(k, mm, f, { pages: 4, addr: 0x4000_0000 });
    populate(k, v, [0, 1]);
    const pmdI = entryIndexAt(k.mem, mm.root, v.start / PAGE, LEVEL_PMD, k.levels, false);
    const holes: Array<[number, number, number]> = [];
    const pmds: number[] = [];
    const ptes: number[] = [];
    const ops: MmWalkOps<null> = {
      pmdEntry: (i) => {
        pmds.push(i);
        return 0;
      },
      pteEntry: (_i, a) => {
        ptes.push((a - v.start) / PAGE);
        return 0;
      },
      pteHole: (s, e, d) => {
        holes.push([(s - v.start) / PAGE, (e - v.start) / PAGE, d]);
        return 0;
      },
    };
    return { k, t, mm, v, pmdI, holes, pmds, ptes, ops };
  }

  it('a non-present but non-none PMD entry goes to pmd_entry, not to pte_hole', () => {
    const { k, mm, v, pmdI, holes, pmds, ops } = setup(false);
    k.mem.ptLo[pmdI] = 0x40; // not present, not none (a swap-style entry the model never makes itself)
    k.mem.ptHi[pmdI] = 0;
    runToCompletion(mm.mmapLock.downRead());
    // pmd_entry skips it: nothing else happens (the old walker reported a depth-3 hole instead)
    const skip: MmWalkOps<null> = {
      ...ops,
      pmdEntry: (i, _a, _n, walk) => {
        pmds.push(i);
        walk.action = PageWalkAction.Continue;
        return 0;
      },
    };
    expect(runToCompletion(walkPageVma(k, v, skip, null))).toBe(0);
    expect(pmds).toEqual([pmdI]);
    expect(holes).toEqual([]);
    // descending into it is not modelled: the walker says so instead of walking garbage
    expect(() => runToCompletion(walkPageVma(k, v, ops, null))).toThrow(/not modelled/);
    mm.mmapLock.upRead();
  });

  it('the PTE table goes away between reading the PMD and taking the PTL: the entry is read again (ACTION_AGAIN)', () => {
    const { k, t, mm, v, pmdI, holes, pmds, ptes, ops } = setup(true);
    runToCompletion(mm.mmapLock.downRead());
    const table = k.tableOfSlot(Math.floor(ptep(k, mm, v.start) / 512));
    const ptl = k.ptl(table);
    const other = new KTask('other', 1);
    k.setCurrent(other);
    runToCompletion(ptl.lock()); // another CPU holds the PTL ...
    const g = walkPageVma(k, v, ops, null);
    for (;;) {
      k.setCurrent(t);
      const r = g.next();
      expect(r.done).toBe(false);
      if (typeof r.value === 'object' && !r.value.ready()) break; // ... the walker waits for it
    }
    expect(pmds).toEqual([pmdI]);
    // ... and frees the table (e.g. a collapse or retract) before releasing the lock
    k.mem.ptLo[pmdI] = 0;
    k.mem.ptHi[pmdI] = 0;
    k.setCurrent(other);
    ptl.unlock();
    k.setCurrent(t);
    expect(finish(k, t, g)).toBe(0);
    // re-read: the entry is none now, so a PMD-level hole (pmd_entry is not called for a none
    // entry); the stale table is not walked (the old walker visited its 4 PTEs)
    expect(pmds).toEqual([pmdI]);
    expect(ptes).toEqual([]);
    expect(holes).toEqual([[0, 4, LEVEL_PMD]]);
    mm.mmapLock.upRead();
  });
});
