import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CpuMask } from '../../src/hw/cpumask.ts';

describe('CpuMask', () => {
  it('holds exactly the CPUs set, at any number (oracle: a Set), iterating in ascending order', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1023 }), { maxLength: 300 }), (cpus) => {
        const m = new CpuMask();
        for (const c of cpus) m.set(c);
        const want = [...new Set(cpus)].sort((a, b) => a - b);
        expect(m.toArray()).toEqual(want);
        expect(m.count()).toBe(want.length);
        for (let c = 0; c < 1100; c++) expect(m.has(c)).toBe(want.includes(c));
      }),
      { numRuns: 60 },
    );
  });

  it('CPU 32 is not CPU 0 (the old 32-bit mask wrapped 1 << 32 to bit 0)', () => {
    const m = new CpuMask();
    m.set(32);
    expect(m.has(0)).toBe(false);
    expect(m.toArray()).toEqual([32]);
  });

  it('refuses a negative or fractional CPU number', () => {
    expect(() => new CpuMask().set(-1)).toThrow(RangeError);
    expect(() => new CpuMask().set(1.5)).toThrow(RangeError);
  });
});
