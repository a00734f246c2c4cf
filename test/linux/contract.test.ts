/**
 * Is the Region contract written in src/linux/tracking.ts what the kernel does? Random operation
 * sequences run on the reference reading of the contract (contract-ref.ts) and on the real
 * kernel; every outcome and, after each step, the full category map must be identical. The
 * reference also runs the whole tracking suite.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyOp, isComparable, observe, type TrackingOp } from '../../src/linux/ops.ts';
import {
  PAGE_IS_FILE,
  PAGE_IS_PRESENT,
  PAGE_IS_SWAPPED,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PM_SCAN_CATEGORIES,
  PM_SCAN_CHECK_WPASYNC,
  PM_SCAN_WP_MATCHING,
} from '../../src/linux/pagemap-scan.ts';
import { probeKernel, skipReason } from '../../src/linux/probe.ts';
import { KernelBackend } from '../../src/linux/real-backend.ts';
import type { Prot } from '../../src/linux/tracking.ts';
import { RefBackend } from './contract-ref.ts';
import { defineTrackingSuite } from './suite.ts';

defineTrackingSuite('reference', () => new RefBackend());

type Op = TrackingOp;

function opArb(pages: number): fc.Arbitrary<Op> {
  const page = fc.integer({ min: 0, max: pages - 1 });
  const range = page.chain((s) => fc.integer({ min: 0, max: pages - s }).map((n) => ({ s, n })));
  const mask = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: PM_SCAN_CATEGORIES }), fc.constant(2));
  const scan = fc
    .record({
      r: range,
      flags: fc.constantFrom(
        0,
        PM_SCAN_WP_MATCHING,
        PM_SCAN_CHECK_WPASYNC,
        PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
      ),
      categoryInverted: fc.oneof(fc.constant(0), mask),
      categoryMask: mask,
      categoryAnyofMask: fc.oneof(fc.constant(0), mask),
      returnMask: fc.oneof(fc.constant(PM_SCAN_CATEGORIES), mask),
      maxPages: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })),
      vecLen: fc.oneof(fc.constant(pages), fc.integer({ min: 0, max: 12 })),
    })
    // vecLen 0 with WP_MATCHING is the kernel's fast path, outside the comparable contract
    .map(({ r, ...rest }): Op => ({ k: 'scan', req: { startPage: r.s, endPage: r.s + r.n, ...rest } }))
    .filter(isComparable);
  return fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .record({ p: page, v: fc.integer({ min: 0, max: 255 }) })
        .map((x): Op => ({ k: 'store', ...x })),
    },
    { weight: 2, arbitrary: page.map((p): Op => ({ k: 'load', p })) },
    { weight: 1, arbitrary: range.map((r): Op => ({ k: 'fill', ...r })) },
    { weight: 2, arbitrary: range.map((r): Op => ({ k: 'wp', ...r })) },
    { weight: 1, arbitrary: range.map((r): Op => ({ k: 'unprotect', ...r })) },
    { weight: 1, arbitrary: range.map((r): Op => ({ k: 'dontneed', ...r })) },
    { weight: 1, arbitrary: range.map((r): Op => ({ k: 'unmap', ...r })) },
    { weight: 1, arbitrary: range.map((r): Op => ({ k: 'remap', ...r })) },
    {
      weight: 1,
      arbitrary: fc
        .record({ r: range, prot: fc.constantFrom<Prot>('none', 'read', 'rw') })
        .map(({ r, prot }): Op => ({ k: 'mprotect', ...r, prot })),
    },
    { weight: 4, arbitrary: scan },
  );
}

const reason = skipReason(probeKernel());

describe.skipIf(reason !== null)(`contract vs kernel${reason ? ` [SKIP: ${reason}]` : ''}`, () => {
  for (const [shared, pages] of [
    [true, 24],
    [false, 24],
    [true, 1100], // spans several page tables: empty pages with and without a table
    [false, 1100],
  ] as const) {
    it(`random sequences agree step by step (${shared ? 'MAP_SHARED' : 'MAP_PRIVATE'}, ${pages} pages)`, () => {
      const kernel = new KernelBackend();
      const ref = new RefBackend();
      fc.assert(
        fc.property(fc.array(opArb(pages), { minLength: 1, maxLength: 30 }), (ops) => {
          const k = kernel.open(pages, { shared });
          const m = ref.open(pages, { shared });
          try {
            for (let i = 0; i < ops.length; i++) {
              const op = ops[i]!;
              expect(applyOp(k, op), `step ${i}: ${JSON.stringify(op)}`).toEqual(applyOp(m, op));
              expect(observe(k), `after step ${i}: ${JSON.stringify(op)}`).toEqual(observe(m));
            }
          } finally {
            k.close();
            m.close();
          }
        }),
        { numRuns: pages > 100 ? 40 : 150 },
      );
    });
  }
});

describe.skipIf(reason !== null)(
  `kernel fast path (vecLen 0 + WP_MATCHING)${reason ? ` [SKIP: ${reason}]` : ''}`,
  () => {
    it('protects every entry of an existing table whatever the masks; a table-less block only where it matches', () => {
      const r = new KernelBackend().open(1024);
      try {
        expect(r.base % (2 * 1024 * 1024)).toBe(0);
        r.store(3, 0, 1); // creates the page table of pages 0..511; pages 512..1023 have none
        const out = r.scan({
          startPage: 0,
          endPage: 1024,
          flags: PM_SCAN_WP_MATCHING,
          vecLen: 0,
          categoryMask: PAGE_IS_FILE,
          maxPages: 1,
        });
        expect(out).toEqual({ ok: true, regions: [], walkEnd: 1024 });
        const all = r.scan({ startPage: 0, endPage: 1024, categoryMask: 0, returnMask: PM_SCAN_CATEGORIES });
        expect(all.ok && all.regions.map((x) => [x.start, x.end, x.categories])).toEqual([
          [0, 3, PAGE_IS_WPALLOWED | PAGE_IS_SWAPPED], // empty, not FILE, protected anyway
          [3, 4, PAGE_IS_WPALLOWED | PAGE_IS_PRESENT | PAGE_IS_FILE],
          [4, 512, PAGE_IS_WPALLOWED | PAGE_IS_SWAPPED],
          [512, 1024, PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN], // no table, not matching FILE: untouched
        ]);
      } finally {
        r.close();
      }
    });
  },
);
