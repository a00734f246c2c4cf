/**
 * Real-backend specifics: the protection table that guards every JS access (a wrong entry would
 * be a SIGSEGV) always agrees with /proc/self/maps; argument misuse throws; the raw
 * address-level PAGEMAP_SCAN helpers resume to the end.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getLibc } from '../../src/linux/libc.ts';
import {
  mergeRegions,
  openPagemap,
  PAGE_IS_WRITTEN,
  pagemapScanAll,
  ScanVec,
} from '../../src/linux/pagemap-scan.ts';
import { probeKernel, skipReason } from '../../src/linux/probe.ts';
import { KernelBackend } from '../../src/linux/real-backend.ts';
import type { Prot } from '../../src/linux/tracking.ts';
import { requireOrSkip } from '../capability.ts';

const reason = skipReason(probeKernel());
// DIRTYSCOPE_REQUIRE=kernel turns this suite's skip into a failure.
requireOrSkip('kernel', reason);

describe.skipIf(reason !== null)(`real backend${reason ? ` [SKIP: ${reason}]` : ''}`, () => {
  it('the protection table matches /proc/self/maps after random mprotect/unmap/remap', () => {
    const N = 32;
    const range = fc
      .integer({ min: 0, max: N - 1 })
      .chain((s) => fc.record({ s: fc.constant(s), n: fc.integer({ min: 1, max: N - s }) }));
    const op = fc.oneof(
      fc.record({
        k: fc.constant('mprotect' as const),
        r: range,
        prot: fc.constantFrom<Prot>('none', 'read', 'rw'),
      }),
      fc.record({ k: fc.constant('unmap' as const), r: range }),
      fc.record({ k: fc.constant('remap' as const), r: range }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
        const r = new KernelBackend().open(N);
        try {
          for (const o of ops) {
            if (o.k === 'mprotect') r.mprotect(o.r.s, o.r.n, o.prot);
            else if (o.k === 'unmap') r.unmap(o.r.s, o.r.n);
            else r.remap(o.r.s, o.r.n);
            const table = Array.from({ length: N }, (_, p) => r.protOf(p));
            r.refreshProtFromMaps();
            expect(Array.from({ length: N }, (_, p) => r.protOf(p))).toEqual(table);
          }
        } finally {
          r.close();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('misuse throws instead of touching memory; close is idempotent', () => {
    const r = new KernelBackend().open(4);
    try {
      expect(() => r.store(4, 0, 1)).toThrow(RangeError);
      expect(() => r.store(0, 4096, 1)).toThrow(RangeError);
      expect(() => r.armWriteProtect(2, 3)).toThrow(RangeError);
      expect(() => r.scan({ startPage: 0, endPage: 5 })).toThrow(RangeError);
      r.unmap(1, 1);
      expect(() => r.load(1, 0)).toThrow(/not readable/);
      expect(() => r.fill(0, 2, 1)).toThrow(/not writable/);
    } finally {
      r.close();
      r.close();
    }
    expect(() => r.store(0, 0, 1)).toThrow(/closed/);
  });

  it('pagemapScanAll resumes from walk_end to the end of an address range', () => {
    const r = new KernelBackend().open(64);
    const pm = openPagemap();
    const vec = new ScanVec(2);
    try {
      r.armWriteProtect(0, 64);
      const written = [0, 1, 5, 9, 10, 11, 30, 63];
      for (const p of written) r.store(p, 0, 1);
      const ps = r.pageSize;
      const res = pagemapScanAll(
        pm,
        {
          flags: 0,
          start: r.base,
          end: r.base + 64 * ps,
          vecLen: 2,
          maxPages: 0,
          categoryInverted: 0,
          categoryMask: PAGE_IS_WRITTEN,
          categoryAnyofMask: 0,
          returnMask: PAGE_IS_WRITTEN,
        },
        vec,
      );
      expect(res.calls).toBe(3);
      expect(mergeRegions(res.regions).map((x) => [(x.start - r.base) / ps, (x.end - r.base) / ps])).toEqual([
        [0, 2],
        [5, 6],
        [9, 12],
        [30, 31],
        [63, 64],
      ]);
    } finally {
      vec.close();
      getLibc().close(pm);
      r.close();
    }
  });
});
