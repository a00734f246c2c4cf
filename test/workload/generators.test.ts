import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createBatch,
  createGenerator,
  HotSetSource,
  OP_STORE,
  OP_SYNC,
  OpGenerator,
  PAGE_SIZE,
  PhasesSource,
  RectanglesSource,
  SequentialSource,
  SparseSource,
  type WorkloadParams,
  ZipfSource,
} from '../../src/workload/generators.ts';
import { Prng } from '../../src/workload/prng.ts';

interface Op {
  kind: number;
  cpu: number;
  page: number;
  offset: number;
  value: number;
}

/** Drains a generator with a batch of `cap` ops into plain objects (test side only). */
function drain(g: OpGenerator, cap = 97): Op[] {
  const b = createBatch(cap);
  const out: Op[] = [];
  for (let n = g.next(b); n > 0; n = g.next(b))
    for (let i = 0; i < n; i++)
      out.push({
        kind: b.kind[i]!,
        cpu: b.cpu[i]!,
        page: b.page[i]!,
        offset: b.offset[i]!,
        value: b.value[i]!,
      });
  return out;
}

function fillPages(src: { fill(p: Uint32Array, o: Uint16Array, at: number, n: number): void }, n: number) {
  const page = new Uint32Array(n);
  const offset = new Uint16Array(n);
  // fill in uneven chunks so chunk boundaries are exercised
  let at = 0;
  let step = 1;
  while (at < n) {
    const m = Math.min(step, n - at);
    src.fill(page, offset, at, m);
    at += m;
    step = (step * 3 + 1) % 53;
  }
  return { page, offset };
}

const patternArb: fc.Arbitrary<{ w: WorkloadParams; pages: number }> = fc
  .record({
    pages: fc.integer({ min: 1, max: 300 }),
    stores: fc.integer({ min: 1, max: 2000 }),
    syncEvery: fc.integer({ min: 0, max: 300 }),
    kind: fc.constantFrom('sparse', 'sequential', 'hotset', 'zipf', 'phases'),
    cpuMode: fc.constantFrom('roundRobin', 'random') as fc.Arbitrary<'roundRobin' | 'random'>,
    k: fc.integer({ min: 1, max: 300 }),
    frac: fc.double({ min: 0.01, max: 1, noNaN: true }),
  })
  .map(({ pages, stores, syncEvery, kind, cpuMode, k, frac }) => {
    const stream = { stores, syncEvery, cpuMode };
    const kk = Math.min(k, pages);
    let w: WorkloadParams;
    if (kind === 'sparse') w = { pattern: 'sparse', pagesPerPhase: kk, ...stream };
    else if (kind === 'sequential') w = { pattern: 'sequential', ...stream };
    else if (kind === 'hotset') w = { pattern: 'hotset', hotFraction: frac, hotProbability: 0.8, ...stream };
    else if (kind === 'zipf') w = { pattern: 'zipf', exponent: frac * 2, ...stream };
    else
      w = {
        pattern: 'phases',
        phases: [
          { pattern: 'sparse', pagesPerPhase: kk, stores: 50 },
          { pattern: 'sequential', stores: pages },
        ],
        ...stream,
      };
    return { w, pages };
  });

describe('OpGenerator stream', () => {
  it('same seed -> same ops; batch size does not change the stream', () => {
    fc.assert(
      fc.property(patternArb, fc.integer({ min: 0, max: 0xffffffff }), ({ w, pages }, seed) => {
        const a = drain(createGenerator(w, pages, 3, seed), 64);
        const b = drain(createGenerator(w, pages, 3, seed), 1000);
        expect(b).toEqual(a);
      }),
      { numRuns: 60 },
    );
  });

  it('different seeds give different sparse streams', () => {
    const w: WorkloadParams = { pattern: 'sparse', pagesPerPhase: 8, stores: 200, syncEvery: 0 };
    expect(drain(createGenerator(w, 1000, 1, 1))).not.toEqual(drain(createGenerator(w, 1000, 1, 2)));
  });

  it('pages in range, offsets inside the page, values are store sequence numbers, syncs every N', () => {
    fc.assert(
      fc.property(patternArb, fc.integer({ min: 1, max: 8 }), ({ w, pages }, cpus) => {
        const ops = drain(createGenerator(w, pages, cpus, 5));
        let seq = 0;
        let since = 0;
        const bad: string[] = []; // collected, so one expect per run (an expect per op is slow)
        for (const [i, op] of ops.entries()) {
          if (op.kind === OP_SYNC) {
            if (w.syncEvery > 0 && seq < w.stores && since !== w.syncEvery)
              bad.push(`${i}: sync after ${since}`);
            if (since === 0) bad.push(`${i}: empty sync round`);
            since = 0;
            continue;
          }
          if (op.kind !== OP_STORE) bad.push(`${i}: kind ${op.kind}`);
          if (op.page >= pages) bad.push(`${i}: page ${op.page}`);
          if (op.offset >= PAGE_SIZE) bad.push(`${i}: offset ${op.offset}`);
          if (op.cpu >= cpus) bad.push(`${i}: cpu ${op.cpu}`);
          if (w.cpuMode === 'roundRobin' && op.cpu !== seq % cpus) bad.push(`${i}: rr cpu ${op.cpu}`);
          if (op.value !== ++seq) bad.push(`${i}: value ${op.value}`);
          since++;
        }
        expect(bad.slice(0, 5)).toEqual([]);
        expect(seq).toBe(w.stores);
        expect(since).toBe(0); // final sync
        expect(ops[ops.length - 1]!.kind).toBe(OP_SYNC);
      }),
      { numRuns: 80 },
    );
  });

  it('finalSync false and syncEvery 0 give stores only', () => {
    const g = createGenerator({ pattern: 'sequential', stores: 10, syncEvery: 0, finalSync: false }, 4, 1, 0);
    const ops = drain(g);
    expect(ops.length).toBe(10);
    expect(ops.every((o) => o.kind === OP_STORE)).toBe(true);
    expect(g.done).toBe(true);
    expect(g.next(createBatch(4))).toBe(0);
  });

  it('random cpu mode uses every cpu with roughly equal share', () => {
    const ops = drain(
      createGenerator(
        { pattern: 'zipf', exponent: 1, stores: 40_000, syncEvery: 0, cpuMode: 'random' },
        64,
        4,
        9,
      ),
    );
    const counts = [0, 0, 0, 0];
    for (const o of ops) if (o.kind === OP_STORE) counts[o.cpu]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(600);
  });
});

describe('sources', () => {
  it('dense sequential covers every page of the window exactly once per sweep', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 0, max: 499 }),
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 4 }),
        (pages, s0, l0, sweeps) => {
          const start = s0 % pages;
          const length = 1 + (l0 % (pages - start));
          const { page } = fillPages(new SequentialSource(pages, start, length), length * sweeps);
          for (let s = 0; s < sweeps; s++) {
            const seen = Array.from(page.subarray(s * length, (s + 1) * length)).sort((a, b) => a - b);
            expect(seen).toEqual(Array.from({ length }, (_, i) => start + i));
          }
        },
      ),
    );
  });

  it('sequential with storesPerPage writes consecutive words of each page', () => {
    const { page, offset } = fillPages(new SequentialSource(3, 0, 3, 4), 12);
    expect(Array.from(page)).toEqual([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    expect(Array.from(offset)).toEqual([0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12]);
  });

  it('sparse touches at most k distinct pages per phase, and k when phases are long', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 400 }),
        fc.integer({ min: 0, max: 1000 }),
        (pages, k0, phaseStores, seed) => {
          const k = Math.min(k0, pages);
          const phases = 4;
          const { page } = fillPages(
            new SparseSource(pages, k, phaseStores, new Prng(seed)),
            phaseStores * phases,
          );
          for (let p = 0; p < phases; p++) {
            const set = new Set(page.subarray(p * phaseStores, (p + 1) * phaseStores));
            expect(set.size).toBeLessThanOrEqual(k);
            for (const x of set) expect(x).toBeLessThan(pages);
          }
        },
      ),
    );
    // 10k stores over 8 pages: all 8 are hit (miss probability 8 * (7/8)^10000 ~ 0)
    const { page } = fillPages(new SparseSource(1_000_000, 8, 10_000, new Prng(3)), 10_000);
    expect(new Set(page).size).toBe(8);
  });

  it('sparse phases pick different page sets', () => {
    const { page } = fillPages(new SparseSource(1_000_000, 16, 1000, new Prng(11)), 2000);
    const a = new Set(page.subarray(0, 1000));
    const b = new Set(page.subarray(1000));
    expect([...a].filter((x) => b.has(x)).length).toBeLessThan(16);
  });

  it('hot set: hot size is round(pages*fraction) and the hot share is within tolerance', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 10, max: 5000 }),
        fc.double({ min: 0.01, max: 0.5, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 1000 }),
        (pages, frac, prob, seed) => {
          const src = new HotSetSource(pages, frac, prob, new Prng(seed));
          expect(src.hotCount).toBe(Math.max(1, Math.round(pages * frac)));
          let flagged = 0;
          for (let p = 0; p < pages; p++) if (src.isHot(p)) flagged++;
          expect(flagged).toBe(src.hotCount);
          const n = 20_000;
          const { page } = fillPages(src, n);
          let hot = 0;
          let outOfRange = 0;
          for (const p of page) {
            if (p >= pages) outOfRange++;
            if (src.isHot(p)) hot++;
          }
          expect(outOfRange).toBe(0);
          // binomial sd <= sqrt(n/4) ~ 71; 6 sd
          const expected = src.hotCount === pages ? 1 : prob;
          expect(Math.abs(hot / n - expected)).toBeLessThan(430 / n);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('zipf: rank 0 is the most frequent page and frequencies follow 1/r^s', () => {
    const src = new ZipfSource(1000, 1, new Prng(5));
    const n = 200_000;
    const { page } = fillPages(src, n);
    const count = new Map<number, number>();
    for (const p of page) count.set(p, (count.get(p) ?? 0) + 1);
    const c0 = count.get(src.pageOfRank(0)) ?? 0;
    const c1 = count.get(src.pageOfRank(1)) ?? 0;
    let h = 0;
    for (let r = 1; r <= 1000; r++) h += 1 / r;
    expect(Math.abs(c0 / n - 1 / h)).toBeLessThan(0.01);
    expect(Math.abs(c1 / n - 1 / (2 * h))).toBeLessThan(0.01);
  });

  it('rectangles: every pixel of each rectangle is written once, row-major, at its byte address', () => {
    const p = { width: 100, height: 50, bpp: 4, rectWidth: 7, rectHeight: 3 };
    const pages = RectanglesSource.pagesFor(100, 50, 4);
    expect(pages).toBe(Math.ceil((100 * 50 * 4) / 4096));
    const src = new RectanglesSource(pages, p, new Prng(1));
    const { page, offset } = fillPages(src, 21 * 5);
    expect(src.rectangles).toBe(5);
    for (let r = 0; r < 5; r++) {
      const addr = (i: number) => page[r * 21 + i]! * 4096 + offset[r * 21 + i]!;
      const x0 = (addr(0) % 400) / 4;
      const y0 = Math.floor(addr(0) / 400);
      expect(x0 + 7).toBeLessThanOrEqual(100);
      expect(y0 + 3).toBeLessThanOrEqual(50);
      for (let dy = 0; dy < 3; dy++)
        for (let dx = 0; dx < 7; dx++) expect(addr(dy * 7 + dx)).toBe((y0 + dy) * 400 + (x0 + dx) * 4);
    }
  });

  it('rectangles with randomSize stay on screen', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 0, max: 99 }),
        (w, h, seed) => {
          const pages = RectanglesSource.pagesFor(64, 64, 2, 160);
          const src = new RectanglesSource(
            pages,
            { width: 64, height: 64, bpp: 2, lineLength: 160, rectWidth: w, rectHeight: h, randomSize: true },
            new Prng(seed),
          );
          const { page, offset } = fillPages(src, 500);
          let off = 0;
          for (let i = 0; i < 500; i++) {
            const a = page[i]! * 4096 + offset[i]!;
            if (a % 160 >= 128 || Math.floor(a / 160) >= 64) off++;
          }
          expect(off).toBe(0);
        },
      ),
    );
  });

  it('rectangles reject a framebuffer larger than the region', () => {
    expect(
      () =>
        new RectanglesSource(
          1,
          { width: 100, height: 100, bpp: 4, rectWidth: 1, rectHeight: 1 },
          new Prng(0),
        ),
    ).toThrow(/needs 10 pages/);
  });

  it('phases: each phase runs for its length, then the list repeats', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 4 }), (lengths) => {
        // phase i writes only page i (a one-page sequential window), so the page tells the phase
        const pages = lengths.length;
        const src = new PhasesSource(
          pages,
          lengths.map((_, i) => new SequentialSource(pages, i, 1)),
          lengths,
        );
        const total = lengths.reduce((a, b) => a + b, 0);
        const { page } = fillPages(src, total * 2 + 3);
        expect(Array.from(page)).toEqual(Array.from(page, (_, i) => src.phaseAt(i)));
        let at = 0;
        for (let rep = 0; rep < 2; rep++)
          for (const [p, l] of lengths.entries()) {
            expect(Array.from(page.subarray(at, at + l))).toEqual(new Array(l).fill(p));
            at += l;
          }
      }),
    );
  });

  it('phase-change sparse -> dense -> sparse: dense phase sweeps the whole region', () => {
    const pages = 256;
    const ops = drain(
      createGenerator(
        {
          pattern: 'phases',
          phases: [
            { pattern: 'sparse', pagesPerPhase: 4, stores: 100 },
            { pattern: 'sequential', stores: pages },
            { pattern: 'sparse', pagesPerPhase: 4, stores: 100 },
          ],
          stores: 100 + pages + 100,
          syncEvery: 50,
        },
        pages,
        2,
        1,
      ),
    ).filter((o) => o.kind === OP_STORE);
    expect(new Set(ops.slice(0, 50).map((o) => o.page)).size).toBeLessThanOrEqual(4);
    expect(new Set(ops.slice(100, 100 + pages).map((o) => o.page)).size).toBe(pages);
    expect(new Set(ops.slice(100 + pages + 50).map((o) => o.page)).size).toBeLessThanOrEqual(4);
  });

  it('bad parameters throw RangeError', () => {
    const rng = new Prng(0);
    expect(() => new SparseSource(10, 11, 1, rng)).toThrow(RangeError);
    expect(() => new SequentialSource(10, 5, 6)).toThrow(RangeError);
    expect(() => new HotSetSource(10, 0, 0.5, rng)).toThrow(RangeError);
    expect(
      () => new OpGenerator(new SequentialSource(1), { stores: 1, syncEvery: 0, cpus: 257 }, rng),
    ).toThrow(RangeError);
  });
});
