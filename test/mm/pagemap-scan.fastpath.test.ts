/**
 * The fast-mode UFFDIO_WRITEPROTECT table loop (userfaultfd.ts wpTableRun) and PAGEMAP_SCAN walk (MmWalkOps.pteRun: one call per PTE table, the integer-indexed
 * "written pages" loop with its eight-entry bulk reject) against the explore-mode walk (pteEntry,
 * one PTE at a time through the general classification): on random page-table states built by
 * stores, write-protect / unprotect, MADV_DONTNEED and scans, both give the same scan results,
 * the same PTEs afterwards and the same TLB flushes.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runToCompletion } from '../../src/checker/task.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { type Kernel, KTask } from '../../src/mm/kernel.ts';
import type { MmStruct } from '../../src/mm/mm-types.ts';
import { mmCreate, switchMm } from '../../src/mm/mmap.ts';
import {
  PAGE_IS_PRESENT,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PM_SCAN_WP_MATCHING,
  pagemapScan,
  pmScanArg,
} from '../../src/mm/pagemap-scan.ts';
import {
  madviseDontneedUffd,
  UFFD_MODEL_FEATURES,
  uffdOpen,
  uffdRegisterWp,
  uffdStoreFast,
  uffdWriteprotect,
} from '../../src/mm/userfaultfd.ts';
import { kernel, mapFile, PAGE, pte } from './fixtures.ts';

const BASE = 0x7f00_0000_0000; // 2 MiB aligned: page p is entry p % 512 of table p / 512

type Op =
  | { t: 'store'; p: number }
  | { t: 'storeRun'; p: number; n: number; stride: number }
  | { t: 'wp'; s: number; n: number; on: boolean }
  | { t: 'dontneed'; s: number; n: number }
  | { t: 'scan'; s: number; e: number; wp: boolean; maxPages: number; vecLen: number; general: boolean };

interface World {
  k: Kernel;
  mm: MmStruct;
  pages: number;
}

function world(pages: number, explore: boolean, shadowStack = false): World {
  const k = kernel(1, { explore, shadowStack });
  k.setCurrent(new KTask('user', 0));
  const mm = mmCreate(k, 't');
  switchMm(k, 0, mm);
  const file = new AddressSpace(k, 'memfd', false, pages);
  mapFile(k, mm, file, { pages, addr: BASE, shared: true });
  const ctx = uffdOpen(mm, UFFD_MODEL_FEATURES);
  if (typeof ctx === 'number') throw new Error('uffdOpen');
  expect(runToCompletion(uffdRegisterWp(k, ctx, BASE, pages * PAGE))).toBe(0);
  return { k, mm, pages };
}

/** Apply `op`; the observable result (scan output) or the return code. */
function apply(w: World, op: Op): unknown {
  const { k, mm } = w;
  const cpu = k.cpus[0]!;
  switch (op.t) {
    case 'store':
      return uffdStoreFast(k, cpu, mm, BASE + op.p * PAGE, 1);
    case 'storeRun': {
      let r = 0;
      for (let p = op.p; p < Math.min(w.pages, op.p + op.n * op.stride); p += op.stride)
        r |= uffdStoreFast(k, cpu, mm, BASE + p * PAGE, 2);
      return r;
    }
    case 'wp':
      return runToCompletion(uffdWriteprotect(k, mm, BASE + op.s * PAGE, op.n * PAGE, op.on));
    case 'dontneed':
      return runToCompletion(madviseDontneedUffd(k, mm, BASE + op.s * PAGE, op.n * PAGE));
    case 'scan': {
      // `general`: a mask that is not the plain written-only request (the general per-PTE loop)
      const masks = op.general
        ? { categoryMask: PAGE_IS_WRITTEN | PAGE_IS_WPALLOWED, returnMask: PAGE_IS_WRITTEN | PAGE_IS_PRESENT }
        : {};
      return runToCompletion(
        pagemapScan(
          k,
          mm,
          pmScanArg(BASE + op.s * PAGE, BASE + op.e * PAGE, {
            flags: op.wp ? PM_SCAN_WP_MATCHING : 0,
            maxPages: op.maxPages,
            vecLen: op.vecLen,
            ...masks,
          }),
        ),
      );
    }
  }
}

function ptes(w: World): number[] {
  const out: number[] = [];
  for (let p = 0; p < w.pages; p++) out.push(...pte(w.k, w.mm, BASE + p * PAGE));
  return out;
}

function flushes(k: Kernel): number[] {
  const c = k.counters;
  return [c.tlbFlushPage, c.tlbFlushRange, c.tlbFlushMm, c.tlbEntriesDropped];
}

const opArb = (pages: number): fc.Arbitrary<Op> => {
  const page = fc.integer({ min: 0, max: pages - 1 });
  const range = fc
    .tuple(page, fc.integer({ min: 1, max: pages }))
    .map(([s, n]) => ({ s, n: Math.min(n, pages - s) }));
  return fc.oneof(
    { weight: 4, arbitrary: page.map((p): Op => ({ t: 'store', p })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(page, fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 9 }))
        .map(([p, n, stride]): Op => ({ t: 'storeRun', p, n, stride })),
    },
    { weight: 2, arbitrary: fc.tuple(range, fc.boolean()).map(([r, on]): Op => ({ t: 'wp', ...r, on })) },
    { weight: 1, arbitrary: range.map((r): Op => ({ t: 'dontneed', ...r })) },
    {
      weight: 4,
      arbitrary: fc
        .tuple(
          range,
          fc.boolean(),
          fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })),
          fc.oneof(fc.constant(pages), fc.integer({ min: 1, max: 6 })),
          fc.boolean(),
        )
        .map(
          ([r, wp, maxPages, vecLen, general]): Op => ({
            t: 'scan',
            s: r.s,
            e: r.s + r.n,
            wp,
            maxPages,
            vecLen,
            general,
          }),
        ),
    },
  );
};

describe('uffd-wp and PAGEMAP_SCAN: fast mode == explore mode', () => {
  it('same results, PTEs and TLB flushes on random operation sequences over three PTE tables (with and without shadow stacks)', () => {
    const pages = 3 * 512 - 37; // the last table is partial
    fc.assert(
      fc.property(fc.array(opArb(pages), { minLength: 1, maxLength: 25 }), fc.boolean(), (ops, ss) => {
        const fast = world(pages, false, ss);
        const slow = world(pages, true, ss);
        for (const op of ops) {
          expect(apply(fast, op)).toEqual(apply(slow, op));
          if (op.t === 'scan' || op.t === 'wp') expect(ptes(fast)).toEqual(ptes(slow));
        }
        expect(ptes(fast)).toEqual(ptes(slow));
        expect(flushes(fast.k)).toEqual(flushes(slow.k));
      }),
      { numRuns: 60, seed: 6 },
    );
  });

  it('a dense protected table with scattered writes: every written page reported once, then none', () => {
    // hand-checkable: 1024 pages protected, pages written at stride 7 from 3
    for (const explore of [false, true]) {
      const w = world(1024, explore);
      apply(w, { t: 'storeRun', p: 0, n: 1024, stride: 1 });
      expect(apply(w, { t: 'wp', s: 0, n: 1024, on: true })).toBe(0);
      const written: number[] = [];
      for (let p = 3; p < 1024; p += 7) {
        apply(w, { t: 'store', p });
        written.push(p);
      }
      const r = apply(w, {
        t: 'scan',
        s: 0,
        e: 1024,
        wp: true,
        maxPages: 0,
        vecLen: 1024,
        general: false,
      }) as { ret: number; starts: number[]; ends: number[] };
      expect(r.ret).toBe(written.length);
      expect(r.starts.map((a) => (a - BASE) / PAGE)).toEqual(written);
      expect(r.ends.map((a) => (a - BASE) / PAGE)).toEqual(written.map((p) => p + 1));
      const again = apply(w, {
        t: 'scan',
        s: 0,
        e: 1024,
        wp: true,
        maxPages: 0,
        vecLen: 1024,
        general: false,
      }) as { ret: number };
      expect(again.ret).toBe(0);
    }
  });
});
