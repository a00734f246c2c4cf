/** ABI constants: ioctl encoding and the numbers the C compiler gives for the uapi headers. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BenchRow, costsFromRows, fitSize, writtenPages } from '../../src/linux/kernel-bench.ts';
import { isComparable, type TrackingOp } from '../../src/linux/ops.ts';
import {
  CATEGORY_NAMES,
  categoryNames,
  mergeRegions,
  PAGEMAP_SCAN,
  PM_SCAN_CATEGORIES,
} from '../../src/linux/pagemap-scan.ts';
import { pagesOf, regionsOf } from '../../src/linux/tracking.ts';
import {
  IOC_READ,
  IOC_WRITE,
  ioc,
  UFFDIO_API,
  UFFDIO_REGISTER,
  UFFDIO_UNREGISTER,
  UFFDIO_WRITEPROTECT,
} from '../../src/linux/uffd.ts';

describe('ioctl numbers', () => {
  it('match what gcc computes from <linux/userfaultfd.h> on this machine', () => {
    // printed by a C program including <sys/ioctl.h> and <linux/userfaultfd.h> (see docs/kernel.md)
    expect(
      [UFFDIO_API, UFFDIO_REGISTER, UFFDIO_UNREGISTER, UFFDIO_WRITEPROTECT].map((x) => x.toString(16)),
    ).toEqual(['c018aa3f', 'c020aa00', '8010aa01', 'c018aa06']);
  });

  it("PAGEMAP_SCAN is _IOWR('f', 16, 96 bytes)", () => {
    expect(PAGEMAP_SCAN).toBe(((IOC_READ | IOC_WRITE) * 2 ** 30 + 96 * 2 ** 16 + 0x66 * 256 + 16) >>> 0);
  });

  it('_IOC packs dir, size, type, nr into disjoint fields (law)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: (1 << 14) - 1 }),
        (dir, type, nr, size) => {
          const n = ioc(dir, type, nr, size);
          expect([n >>> 30, (n >>> 16) & 0x3fff, (n >>> 8) & 0xff, n & 0xff]).toEqual([dir, size, type, nr]);
        },
      ),
    );
    expect(() => ioc(3, 0, 0, 1 << 14)).toThrow(RangeError);
  });
});

describe('categories and regions (pure helpers)', () => {
  it('knows bits 0..8 and names them', () => {
    expect(PM_SCAN_CATEGORIES).toBe(0x1ff);
    expect(CATEGORY_NAMES).toHaveLength(9);
    expect(categoryNames(0b1010)).toBe('WRITTEN|PRESENT');
    expect(categoryNames(0)).toBe('0');
    expect(categoryNames(1 << 12)).toBe('0x1000');
  });

  it('regionsOf and pagesOf are inverse on sorted unique pages; merging is idempotent', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 300 })), (pages) => {
        const sorted = [...pages].sort((a, b) => a - b);
        const regions = regionsOf(sorted, 2);
        expect(pagesOf(regions)).toEqual(sorted);
        // maximal runs: no two regions touch
        for (let i = 1; i < regions.length; i++)
          expect(regions[i]!.start).toBeGreaterThan(regions[i - 1]!.end);
        // splitting every region in single pages and merging gives the same regions back
        expect(
          mergeRegions(
            regionsOf(sorted, 2).flatMap((r) =>
              pagesOf([r]).map((p) => ({ start: p, end: p + 1, categories: 2 })),
            ),
          ),
        ).toEqual(regions);
      }),
    );
  });
});

describe('bench sizing (pure)', () => {
  const MiB = 1024 ** 2;
  it('keeps a size that fits, halves one that does not, never below 64 MiB', () => {
    expect(fitSize(4096 * MiB, 24 * 1024 * MiB)).toBe(4096 * MiB);
    expect(fitSize(4096 * MiB, 3 * 1024 * MiB)).toBe(2048 * MiB);
    expect(fitSize(1024 * MiB, 100 * MiB)).toBe(64 * MiB);
    fc.assert(
      fc.property(
        fc.integer({ min: 6, max: 14 }),
        fc.integer({ min: 0, max: 64 * 1024 }),
        (log, availMiB) => {
          const want = 2 ** log * MiB;
          const got = fitSize(want, availMiB * MiB);
          expect(got).toBeLessThanOrEqual(want);
          expect(got === 64 * MiB || got * 1.25 + 512 * MiB <= availMiB * MiB).toBe(true);
          // the largest halving that fits: twice the answer would not fit (or is more than wanted)
          if (got < want) expect(2 * got * 1.25 + 512 * MiB).toBeGreaterThan(availMiB * MiB);
        },
      ),
    );
  });

  it('writes every (100/pct)-th page', () => {
    expect([0, 1, 10, 100].map((p) => writtenPages(1000, p))).toEqual([0, 10, 100, 1000]);
  });
});

describe('cost figures from rows (pure)', () => {
  const mk = (op: BenchRow['op'], sizeBytes: number, kernel: number, writtenPct?: number): BenchRow => ({
    op,
    pages: sizeBytes / 4096,
    sizeBytes,
    unit: op === 'wpFault' ? 'ns/fault' : 'ns/page',
    kernel,
    kernelMedian: kernel,
    model: null,
    ratio: null,
    samples: 1,
    ...(writtenPct === undefined ? {} : { writtenPct }),
  });
  it('takes the best over sizes, and differences within one size', () => {
    const G = 1024 ** 3;
    const rows = [
      mk('writeProtect', G, 90),
      mk('scanReprotect', G, 2, 0),
      mk('scanReprotect', G, 6, 1), // +4 ns/page over 1% of the pages: 400 ns per written page
      mk('scanReprotect', G, 50, 100),
      mk('wpFault', G, 1200),
      mk('writeProtect', 4 * G, 80),
      mk('scanReprotect', 4 * G, 1, 0),
      mk('scanReprotect', 4 * G, 6, 1),
      mk('scanReprotect', 4 * G, 61, 100),
      mk('wpFault', 4 * G, 1100),
    ];
    const c = costsFromRows(rows, 'here');
    expect(c.wpWalkNsPerPage).toBe(80);
    expect(c.scanNsPerPage).toBe(1);
    expect(c.wpFaultNs).toBe(1100);
    expect(c.scanNsPerWrittenPage).toBe(48); // min(50-2, 61-1)
    // 1% of 262144 pages = every 100th = 2622 written pages; 4 ns x 262144 / 2622
    expect(c.scanNsPerIsolatedWrittenPage).toBeCloseTo((4 * 262144) / 2622, 2);
    expect(c.measuredOn).toBe('here');
  });
});

describe('operation vocabulary', () => {
  it('only the vecLen-0 WP_MATCHING scan is outside the comparable contract', () => {
    const scan = (vecLen: number, flags: number): TrackingOp => ({
      k: 'scan',
      req: { startPage: 0, endPage: 4, vecLen, flags },
    });
    expect([scan(0, 1), scan(0, 3), scan(0, 0), scan(0, 2), scan(1, 1)].map(isComparable)).toEqual([
      false,
      false,
      true,
      true,
      true,
    ]);
    expect(isComparable({ k: 'wp', s: 0, n: 0 })).toBe(true);
  });
});
