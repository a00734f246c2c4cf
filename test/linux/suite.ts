/**
 * The tracking test suite, written by intent after the cases of the kernel's
 * tools/testing/selftests/mm/pagemap_ioctl.c (spec §10.3), against the {@link TrackingBackend}
 * interface so that the real kernel and the model run the very same cases:
 *
 *   defineTrackingSuite('kernel', () => new KernelBackend(), () => skipReason(probeKernel()));
 *
 * When `skip()` returns a reason, every case is registered as skipped and its name carries the
 * reason; nothing passes on a machine that cannot run it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  PAGE_IS_FILE,
  PAGE_IS_PRESENT,
  PAGE_IS_SWAPPED,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PM_SCAN_CHECK_WPASYNC,
  PM_SCAN_WP_MATCHING,
} from '../../src/linux/pagemap-scan.ts';
import {
  type OpenOptions,
  type PageRegion,
  pagesOf,
  type Region,
  regionsOf,
  type ScanRequest,
  scanToEnd,
  TrackingAccessError,
  type TrackingBackend,
} from '../../src/linux/tracking.ts';

const W = PAGE_IS_WRITTEN;

/** Run `fn` on a fresh region, always closing it. */
function withRegion<T>(backend: TrackingBackend, pages: number, opts: OpenOptions, fn: (r: Region) => T): T {
  const r = backend.open(pages, opts);
  try {
    return fn(r);
  } finally {
    r.close();
  }
}

/** Scan that must succeed. */
function scanOk(r: Region, req: ScanRequest): { regions: PageRegion[]; walkEnd: number } {
  const out = r.scan(req);
  if (!out.ok) throw new Error(`scan ${JSON.stringify(req)} failed with ${out.errno}`);
  return { regions: out.regions, walkEnd: out.walkEnd };
}

/** Written pages of the whole region (no re-protect). */
function written(r: Region): number[] {
  return pagesOf(r.collect({ reprotect: false }).regions);
}

/** Protect all, then store once into each page of `pages`. */
function setWritten(r: Region, pages: Iterable<number>): void {
  expect(r.armWriteProtect(0, r.pages)).toEqual({ ok: true });
  for (const p of pages) r.store(p, 0, 1);
}

/**
 * The reference for one scan of WRITTEN pages: pages in order; a written page that would exceed
 * `maxPages` or need region `vecLen + 1` is not reported and becomes `walkEnd`.
 */
export function expectedWrittenScan(
  isWritten: (p: number) => boolean,
  start: number,
  end: number,
  maxPages: number,
  vecLen: number,
): { regions: PageRegion[]; walkEnd: number } {
  const regions: PageRegion[] = [];
  if (vecLen === 0) return { regions, walkEnd: end };
  let total = 0;
  // regions are copied out in batches of 512; walk_end is set where a batch filled up and is
  // not reset when a later batch reaches `end` (Linux 6.18; docs/kernel-diff.md, finding 1)
  let inBatch = 0;
  let stoppedAt = -1;
  for (let p = start; p < end; p++) {
    if (!isWritten(p)) continue;
    if (maxPages !== 0 && total === maxPages) return { regions, walkEnd: p };
    const last = regions[regions.length - 1];
    if (last !== undefined && last.end === p) last.end = p + 1;
    else {
      if (regions.length === vecLen) return { regions, walkEnd: p };
      if (inBatch === 512) {
        stoppedAt = p;
        inBatch = 0;
      }
      regions.push({ start: p, end: p + 1, categories: W });
      inBatch++;
    }
    total++;
  }
  return { regions, walkEnd: stoppedAt >= 0 ? stoppedAt : end };
}

/** Define the suite for one backend. */
export function defineTrackingSuite(
  name: string,
  makeBackend: () => TrackingBackend,
  skip: () => string | null = () => null,
): void {
  const reason = skip();
  const title = reason === null ? `tracking suite: ${name}` : `tracking suite: ${name} [SKIP: ${reason}]`;
  describe.skipIf(reason !== null)(title, () => {
    const backend = reason === null ? makeBackend() : (null as unknown as TrackingBackend);

    describe('sanity (argument validation)', () => {
      it('accepts a zero-length range and reports nothing, walk_end = start', () => {
        withRegion(backend, 8, {}, (r) => {
          r.fill(0, 8, 1);
          expect(r.scan({ startPage: 3, endPage: 3 })).toEqual({ ok: true, regions: [], walkEnd: 3 });
        });
      });

      it('rejects vec_len without vec, accepts a NULL vec with vec_len 0', () => {
        withRegion(backend, 8, {}, (r) => {
          r.fill(0, 8, 1);
          expect(r.scan({ startPage: 0, endPage: 8, vecNull: true, vecLen: 1 })).toEqual({
            ok: false,
            errno: 'EINVAL',
          });
          expect(r.scan({ startPage: 0, endPage: 8, vecNull: true, vecLen: 0 })).toEqual({
            ok: true,
            regions: [],
            walkEnd: 8,
          });
        });
      });

      it('rejects unknown flag bits, alone or beside valid ones', () => {
        withRegion(backend, 8, {}, (r) => {
          fc.assert(
            fc.property(fc.integer({ min: 2, max: 40 }), fc.boolean(), (bit, withValid) => {
              const flags = 2 ** bit + (withValid ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC : 0);
              expect(r.scan({ startPage: 0, endPage: 8, flags })).toEqual({ ok: false, errno: 'EINVAL' });
            }),
            { numRuns: 40 },
          );
        });
      });

      it('rejects an unknown category bit in any of the four masks', () => {
        withRegion(backend, 8, {}, (r) => {
          const fields = ['categoryInverted', 'categoryMask', 'categoryAnyofMask', 'returnMask'] as const;
          fc.assert(
            fc.property(
              fc.constantFrom(...fields),
              fc.integer({ min: 9, max: 50 }),
              fc.boolean(),
              (f, bit, mixed) => {
                const req: ScanRequest = { startPage: 0, endPage: 8 };
                req[f] = 2 ** bit + (mixed ? W : 0);
                expect(r.scan(req)).toEqual({ ok: false, errno: 'EINVAL' });
              },
            ),
            { numRuns: 60 },
          );
        });
      });

      it('accepts empty selection and empty return masks', () => {
        withRegion(backend, 8, {}, (r) => {
          r.armWriteProtect(0, 8);
          r.store(2, 0, 1);
          // no required category: every page matches; nothing returned: one region with categories 0
          expect(scanOk(r, { startPage: 0, endPage: 8, categoryMask: 0, returnMask: 0 }).regions).toEqual([
            { start: 0, end: 8, categories: 0 },
          ]);
          expect(scanOk(r, { startPage: 0, endPage: 8, categoryMask: W, returnMask: 0 }).regions).toEqual([
            { start: 2, end: 3, categories: 0 },
          ]);
        });
      });

      it('rejects a wrong struct size and an unaligned start; rounds an unaligned end up', () => {
        withRegion(backend, 8, {}, (r) => {
          r.fill(0, 8, 1);
          expect(r.scan({ startPage: 0, endPage: 8, structSize: 88 })).toEqual({
            ok: false,
            errno: 'EINVAL',
          });
          expect(r.scan({ startPage: 0, endPage: 8, structSize: 104 })).toEqual({
            ok: false,
            errno: 'EINVAL',
          });
          expect(r.scan({ startPage: 0, endPage: 4, startByteOffset: 8 })).toEqual({
            ok: false,
            errno: 'EINVAL',
          });
          expect(r.scan({ startPage: 0, endPage: 3, endByteOffset: 1 })).toEqual({
            ok: true,
            regions: [{ start: 0, end: 4, categories: W }],
            walkEnd: 4,
          });
        });
      });

      it('rejects end before start with EFAULT', () => {
        withRegion(backend, 8, {}, (r) => {
          expect(r.scan({ startPage: 5, endPage: 2 })).toEqual({ ok: false, errno: 'EFAULT' });
        });
      });
    });

    for (const shared of [true, false]) {
      const kind = shared ? 'MAP_SHARED' : 'MAP_PRIVATE';
      const n = 40;
      describe(`base (${kind})`, () => {
        it('new pages are not written once protected', () => {
          withRegion(backend, n, { shared }, (r) => {
            expect(r.armWriteProtect(0, n)).toEqual({ ok: true });
            expect(r.collect({ reprotect: false })).toEqual({ regions: [], walkEnd: n });
          });
        });

        it('all pages written after a memset, as one region', () => {
          withRegion(backend, n, { shared }, (r) => {
            r.armWriteProtect(0, n);
            r.fill(0, n, 0xab);
            expect(r.collect({ reprotect: false })).toEqual({
              regions: [{ start: 0, end: n, categories: W }],
              walkEnd: n,
            });
          });
        });

        it('a partial rewrite reports all but the first and last page', () => {
          withRegion(backend, n, { shared }, (r) => {
            r.fill(0, n, 1);
            expect(pagesOf(r.collect({ reprotect: true }).regions)).toHaveLength(n);
            r.fill(1, n - 2, 2);
            expect(r.collect({ reprotect: false }).regions).toEqual([
              { start: 1, end: n - 1, categories: W },
            ]);
          });
        });

        it('a WP_MATCHING scan clears everything it reports', () => {
          withRegion(backend, n, { shared }, (r) => {
            r.armWriteProtect(0, n);
            r.fill(0, n, 1);
            expect(r.collect({ reprotect: true }).regions).toEqual([{ start: 0, end: n, categories: W }]);
            expect(r.collect({ reprotect: false }).regions).toEqual([]);
          });
        });

        it('a single middle page', () => {
          withRegion(backend, n, { shared }, (r) => {
            setWritten(r, [n / 2]);
            expect(r.collect({ reprotect: true }).regions).toEqual([
              { start: n / 2, end: n / 2 + 1, categories: W },
            ]);
            expect(written(r)).toEqual([]);
          });
        });

        it('two middle pages, found by a sub-range scan', () => {
          withRegion(backend, n, { shared }, (r) => {
            const m = n / 2;
            setWritten(r, [m, m + 1]);
            const sub = r.collect({ reprotect: false, startPage: m - 3, nPages: 6 });
            expect(sub).toEqual({ regions: [{ start: m, end: m + 2, categories: W }], walkEnd: m + 3 });
            // a sub-range that cuts the pair in half
            expect(r.collect({ reprotect: true, startPage: m + 1, nPages: 4 }).regions).toEqual([
              { start: m + 1, end: m + 2, categories: W },
            ]);
            expect(written(r)).toEqual([m]);
          });
        });

        it('protect -> clean -> write -> written, 100 times (test_simple)', () => {
          withRegion(backend, n, { shared }, (r) => {
            fc.assert(
              fc.property(fc.integer({ min: 0, max: n - 1 }), (p) => {
                r.collect({ reprotect: true });
                expect(written(r)).toEqual([]);
                r.store(p, p % r.pageSize, p);
                expect(written(r)).toEqual([p]);
              }),
              { numRuns: 100 },
            );
          });
        });

        it('data stored is data loaded', () => {
          withRegion(backend, 4, { shared }, (r) => {
            r.store(1, 17, 0x5a);
            r.fill(2, 1, 0x33);
            expect([r.load(1, 17), r.load(1, 18), r.load(2, 4095), r.load(3, 0)]).toEqual([0x5a, 0, 0x33, 0]);
          });
        });
      });
    }

    describe('categories (one row per PTE state)', () => {
      it('empty, marker, present-wp and present-written pages of a shared mapping', () => {
        withRegion(backend, 8, {}, (r) => {
          const all: ScanRequest = { startPage: 0, endPage: 8, categoryMask: 0, returnMask: 0xff };
          const A = PAGE_IS_WPALLOWED;
          expect(scanOk(r, all).regions).toEqual([{ start: 0, end: 8, categories: A | W }]);
          r.armWriteProtect(0, 8);
          expect(scanOk(r, all).regions).toEqual([{ start: 0, end: 8, categories: A | PAGE_IS_SWAPPED }]);
          r.store(2, 0, 1);
          r.load(4, 0);
          const PF = PAGE_IS_PRESENT | PAGE_IS_FILE;
          expect(scanOk(r, all).regions).toEqual([
            { start: 0, end: 2, categories: A | PAGE_IS_SWAPPED },
            { start: 2, end: 3, categories: A | PF | W },
            { start: 3, end: 4, categories: A | PAGE_IS_SWAPPED },
            { start: 4, end: 5, categories: A | PF },
            { start: 5, end: 8, categories: A | PAGE_IS_SWAPPED },
          ]);
          // unprotect: markers go away (empty = written), present-wp becomes written
          r.unprotect(0, 8);
          expect(scanOk(r, all).regions).toEqual([
            { start: 0, end: 2, categories: A | W },
            { start: 2, end: 3, categories: A | PF | W },
            { start: 3, end: 4, categories: A | W },
            { start: 4, end: 5, categories: A | PF | W },
            { start: 5, end: 8, categories: A | W },
          ]);
        });
      });

      it('a MAP_PRIVATE page written after protection is anonymous: PRESENT without FILE', () => {
        withRegion(backend, 4, { shared: false }, (r) => {
          r.armWriteProtect(0, 4);
          r.store(1, 0, 1);
          r.load(2, 0);
          expect(
            scanOk(r, { startPage: 0, endPage: 4, categoryMask: PAGE_IS_PRESENT, returnMask: 0xff }).regions,
          ).toEqual([
            { start: 1, end: 2, categories: PAGE_IS_WPALLOWED | PAGE_IS_PRESENT | W },
            { start: 2, end: 3, categories: PAGE_IS_WPALLOWED | PAGE_IS_PRESENT | PAGE_IS_FILE },
          ]);
        });
      });

      it('reports un-inverted categories; anyof selects', () => {
        withRegion(backend, 8, {}, (r) => {
          setWritten(r, [3, 4]);
          // inverted WRITTEN + required WRITTEN = "not written"; reported categories stay raw
          expect(
            scanOk(r, { startPage: 0, endPage: 8, categoryInverted: W, categoryMask: W, returnMask: W })
              .regions,
          ).toEqual([
            { start: 0, end: 3, categories: 0 },
            { start: 5, end: 8, categories: 0 },
          ]);
          expect(
            scanOk(r, {
              startPage: 0,
              endPage: 8,
              categoryMask: 0,
              categoryAnyofMask: W | PAGE_IS_SWAPPED,
              returnMask: W,
            }).regions,
          ).toEqual([
            { start: 0, end: 3, categories: 0 },
            { start: 3, end: 5, categories: W },
            { start: 5, end: 8, categories: 0 },
          ]);
        });
      });

      it('a read of a never-protected empty page maps it WRITTEN (kernel quirk)', () => {
        withRegion(backend, 4, {}, (r) => {
          r.collect({ reprotect: true });
          r.unprotect(1, 1);
          r.load(1, 0);
          r.load(2, 0);
          expect(written(r)).toEqual([1]);
        });
      });
    });

    describe('walk_end family', () => {
      const N = 2048; // > 512 regions possible: crosses the kernel's bounce-buffer size

      // Written sets are built from a pattern, not drawn as arrays: fast-check's default size
      // caps arrays at about 10 elements, which never reaches 512 regions. A stride of 2 over the
      // whole range gives 1024 regions; a random pattern of density d about 2048 d (1 - d).
      const pattern = fc.record({
        kind: fc.constantFrom('stride', 'random', 'runs'),
        stride: fc.integer({ min: 1, max: 5 }),
        density: fc.double({ min: 0.05, max: 0.95, noNaN: true }),
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      });
      const writtenSet = (x: {
        kind: string;
        stride: number;
        density: number;
        seed: number;
      }): Set<number> => {
        const out = new Set<number>();
        let z = x.seed;
        const rnd = () => {
          z = (Math.imul(z, 1103515245) + 12345) >>> 0;
          return z / 4294967296;
        };
        for (let p = 0; p < N; p++) {
          if (
            x.kind === 'stride'
              ? p % (x.stride + 1) === 0
              : x.kind === 'random'
                ? rnd() < x.density
                : (p >> x.stride) % 2 === 0
          )
            out.add(p);
        }
        return out;
      };

      it('walk_end is the first matching page that did not fit, else end (patterns beyond 512 regions)', () => {
        let maxRegions = 0;
        let crossed = 0;
        withRegion(backend, N, {}, (r) => {
          fc.assert(
            fc.property(
              pattern,
              fc.oneof(fc.constant<[number, number]>([0, N]), fc.tuple(fc.nat(N), fc.nat(N))),
              fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1200 })),
              fc.oneof(fc.constant(N), fc.integer({ min: 0, max: 1100 }), fc.constantFrom(511, 512, 513)),
              (pat, [a, b], maxPages, vecLen) => {
                const set = writtenSet(pat);
                setWritten(r, set);
                const [s, e] = a <= b ? [a, b] : [b, a];
                const got = scanOk(r, { startPage: s, endPage: e, maxPages, vecLen });
                expect(got).toEqual(expectedWrittenScan((p) => set.has(p), s, e, maxPages, vecLen));
                maxRegions = Math.max(maxRegions, got.regions.length);
                if (got.regions.length > 512) crossed++;
              },
            ),
            { numRuns: 60, seed: 11 },
          );
        });
        // the generator reaches what the test is named for: outputs beyond one internal batch
        expect(maxRegions).toBeGreaterThan(600);
        expect(crossed).toBeGreaterThanOrEqual(3);
      });

      it('an output that crosses the 512-region batch and completes leaves walk_end at the last batch (6.18)', () => {
        withRegion(backend, 1100, {}, (r) => {
          const evens = (n: number) => Array.from({ length: n }, (_, i) => 2 * i);
          setWritten(r, evens(512));
          expect(scanOk(r, { startPage: 0, endPage: 1100 }).walkEnd).toBe(1100); // one batch: end
          setWritten(r, evens(513));
          const got = scanOk(r, { startPage: 0, endPage: 1100 });
          expect(got.regions).toEqual(regionsOf(evens(513), W));
          expect(got.walkEnd).toBe(1024); // the 513th region's page: where batch 1 filled up
          // so a caller's walk_end loop reports page 1024 twice (without WP_MATCHING)
          const again = scanOk(r, { startPage: got.walkEnd, endPage: 1100 });
          expect(again).toEqual({ regions: regionsOf([1024], W), walkEnd: 1100 });
        });
      });

      it('named cases: same start/end, with WP, zero buffer, big/minimum vec, max pages 1, half', () => {
        withRegion(backend, 64, {}, (r) => {
          const sparse = [1, 3, 4, 5, 20, 40, 41, 63];
          setWritten(r, sparse);
          const is = (p: number) => sparse.includes(p);
          const check = (req: ScanRequest) =>
            expect(scanOk(r, req)).toEqual(
              expectedWrittenScan(is, req.startPage, req.endPage, req.maxPages ?? 0, req.vecLen ?? 64),
            );
          check({ startPage: 10, endPage: 10 });
          check({ startPage: 0, endPage: 64, vecLen: 0 });
          check({ startPage: 0, endPage: 64, vecLen: 1000 });
          check({ startPage: 0, endPage: 64, vecLen: 1 });
          check({ startPage: 0, endPage: 64, maxPages: 1 });
          check({ startPage: 0, endPage: 64, maxPages: sparse.length / 2 });
          check({ startPage: 0, endPage: 64, maxPages: sparse.length });
          // with WP: the same answer, and only the reported pages are re-protected
          const withWp = scanOk(r, { startPage: 0, endPage: 64, maxPages: 2, flags: PM_SCAN_WP_MATCHING });
          expect(withWp).toEqual(expectedWrittenScan(is, 0, 64, 2, 64));
          expect(written(r)).toEqual(sparse.filter((p) => p > 3));
        });
      });
    });

    describe('resumption from walk_end', () => {
      const N = 256;
      for (const limit of ['vecLen', 'maxPages'] as const) {
        it(`smaller ${limit}: WP_MATCHING scans resumed at walk_end report every written page exactly once`, () => {
          withRegion(backend, N, {}, (r) => {
            fc.assert(
              fc.property(
                fc.uniqueArray(fc.integer({ min: 0, max: N - 1 }), { maxLength: 200 }),
                fc.integer({ min: 1, max: 7 }),
                (pages, lim) => {
                  setWritten(r, pages);
                  const req: ScanRequest = {
                    startPage: 0,
                    endPage: N,
                    flags: PM_SCAN_WP_MATCHING,
                    [limit]: lim,
                  };
                  const { regions } = scanToEnd(r, req);
                  expect(pagesOf(regions)).toEqual([...pages].sort((x, y) => x - y));
                  expect(written(r)).toEqual([]);
                },
              ),
              { numRuns: 30 },
            );
          });
        });
      }
    });

    describe('repeated pattern of written and non-written pages', () => {
      const N = 100;
      const every = (k: number) => Array.from({ length: N / k }, (_, i) => i * k);

      it('every other page: one region per written page', () => {
        withRegion(backend, N, {}, (r) => {
          setWritten(r, every(2));
          expect(r.collect({ reprotect: true })).toEqual({ regions: regionsOf(every(2), W), walkEnd: N });
          expect(written(r)).toEqual([]);
        });
      });

      it('in parts: max_pages splits the pattern across calls, totals add up', () => {
        withRegion(backend, N, {}, (r) => {
          setWritten(r, every(2));
          const first = r.collect({ reprotect: true, maxPages: 10 });
          expect(first).toEqual({ regions: regionsOf(every(2).slice(0, 10), W), walkEnd: 20 });
          const rest = scanToEnd(r, {
            startPage: first.walkEnd,
            endPage: N,
            flags: PM_SCAN_WP_MATCHING,
            maxPages: 7,
          });
          expect(pagesOf(rest.regions)).toEqual(every(2).slice(10));
          expect(rest.calls).toBe(Math.ceil(40 / 7));
        });
      });

      it('only get two written pages and clear them: the rest stays written', () => {
        withRegion(backend, N, {}, (r) => {
          r.armWriteProtect(0, N);
          r.fill(10, 10, 1);
          expect(r.collect({ reprotect: true, maxPages: 2 })).toEqual({
            regions: [{ start: 10, end: 12, categories: W }],
            walkEnd: 12,
          });
          expect(r.collect({ reprotect: false }).regions).toEqual([{ start: 12, end: 20, categories: W }]);
        });
      });
    });

    describe('mprotect cycles', () => {
      it('written state survives PROT_NONE / READ / RW cycles; clear then rewrite', () => {
        withRegion(backend, 16, {}, (r) => {
          setWritten(r, [2, 3, 9]);
          for (const prot of ['none', 'read', 'rw', 'none', 'rw'] as const) {
            expect(r.mprotect(0, 16, prot)).toEqual({ ok: true });
            expect(written(r)).toEqual([2, 3, 9]);
          }
          expect(pagesOf(r.collect({ reprotect: true }).regions)).toEqual([2, 3, 9]);
          r.mprotect(0, 16, 'read');
          r.mprotect(0, 16, 'rw');
          expect(written(r)).toEqual([]);
          r.store(9, 0, 2);
          expect(written(r)).toEqual([9]);
        });
      });

      it('after WP of a range with mixed protections nothing is WRITTEN', () => {
        withRegion(backend, 12, {}, (r) => {
          r.fill(0, 12, 1);
          r.mprotect(0, 4, 'none');
          r.mprotect(4, 4, 'read');
          expect(r.armWriteProtect(0, 12)).toEqual({ ok: true });
          expect(written(r)).toEqual([]);
          expect(() => r.store(5, 0, 1)).toThrow(TrackingAccessError);
          expect(() => r.load(1, 0)).toThrow(TrackingAccessError);
          expect(r.protOf(5)).toBe('read');
        });
      });
    });

    describe('unmapped sub-ranges, MADV_DONTNEED', () => {
      it('scanning across a hole succeeds and never reports the hole, whatever the masks', () => {
        withRegion(backend, 16, {}, (r) => {
          expect(r.unmap(4, 4)).toEqual({ ok: true });
          expect(r.protOf(5)).toBe(null);
          expect(scanOk(r, { startPage: 0, endPage: 16, categoryMask: 0, returnMask: 0 })).toEqual({
            regions: [
              { start: 0, end: 4, categories: 0 },
              { start: 8, end: 16, categories: 0 },
            ],
            walkEnd: 16,
          });
          expect(scanOk(r, { startPage: 4, endPage: 8, categoryMask: 0 })).toEqual({
            regions: [],
            walkEnd: 8,
          });
          expect(r.armWriteProtect(0, 16)).toEqual({ ok: true });
          expect(r.mprotect(4, 4, 'rw')).toEqual({ ok: false, errno: 'ENOMEM' });
          expect(r.remap(3, 2)).toEqual({ ok: false, errno: 'EEXIST' });
          expect(r.remap(4, 4)).toEqual({ ok: true });
          // remapped pages are empty: WRITTEN until protected
          expect(written(r)).toEqual([4, 5, 6, 7]);
          r.store(0, 0, 1);
          expect(pagesOf(r.collect({ reprotect: true }).regions)).toEqual([0, 4, 5, 6, 7]);
        });
      });

      it('DONTNEED keeps protection of protected pages and forgets written ones', () => {
        withRegion(backend, 8, {}, (r) => {
          setWritten(r, [1, 2]);
          r.store(1, 7, 42);
          expect(r.dontneed(0, 8)).toEqual({ ok: true });
          // written pages lost their PTE: empty, i.e. WRITTEN; protected ones kept a marker
          expect(written(r)).toEqual([1, 2]);
          expect(r.load(1, 7)).toBe(42); // shared data lives in the file
          r.collect({ reprotect: true });
          r.dontneed(0, 8);
          expect(written(r)).toEqual([]);
        });
      });

      it('DONTNEED drops a MAP_PRIVATE copy', () => {
        withRegion(backend, 2, { shared: false }, (r) => {
          r.store(0, 5, 9);
          expect(r.dontneed(0, 1)).toEqual({ ok: true });
          expect(r.load(0, 5)).toBe(0);
        });
      });
    });
  });
}
