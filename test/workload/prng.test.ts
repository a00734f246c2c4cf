import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hashLabel, Prng } from '../../src/workload/prng.ts';

const draws = (p: Prng, n: number) => Array.from({ length: n }, () => p.nextU32());

describe('Prng', () => {
  it('same seed gives the same stream, different seeds differ', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        expect(draws(new Prng(seed), 16)).toEqual(draws(new Prng(seed), 16));
        expect(draws(new Prng(seed), 16)).not.toEqual(draws(new Prng((seed + 1) >>> 0), 16));
      }),
    );
  });

  it('fork depends on key and label only, not on draws made from the parent', () => {
    const a = new Prng(42);
    const b = new Prng(42);
    draws(b, 100);
    expect(draws(a.fork('x'), 8)).toEqual(draws(b.fork('x'), 8));
    expect(draws(a.fork('x'), 8)).not.toEqual(draws(a.fork('y'), 8));
    expect(draws(a.fork('x'), 8)).not.toEqual(draws(new Prng(42), 8));
  });

  it('below(n) stays in [0, n) and nextFloat in [0, 1)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 1, max: 2 ** 32 }),
        (seed, n) => {
          const p = new Prng(seed);
          for (let i = 0; i < 64; i++) {
            const v = p.below(n);
            expect(Number.isInteger(v) && v >= 0 && v < n).toBe(true);
            const f = p.nextFloat();
            expect(f >= 0 && f < 1).toBe(true);
          }
        },
      ),
    );
  });

  it('below(10) is roughly uniform (chi-square, 9 dof, p ~ 1e-6 bound)', () => {
    const p = new Prng(7);
    const n = 100_000;
    const counts = new Array(10).fill(0);
    for (let i = 0; i < n; i++) counts[p.below(10)]++;
    const e = n / 10;
    const chi = counts.reduce((s, c) => s + (c - e) ** 2 / e, 0);
    expect(chi).toBeLessThan(45);
  });

  it('hashLabel is FNV-1a', () => {
    // FNV-1a 32 of "" is the offset basis, of "a" is 0xe40c292c (published test vector)
    expect(hashLabel('')).toBe(0x811c9dc5);
    expect(hashLabel('a')).toBe(0xe40c292c);
  });

  it('rejects a non-integer seed', () => {
    expect(() => new Prng(1.5)).toThrow(RangeError);
  });
});
