import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FRAME_IO, FRAME_PAGETABLE, FRAME_RAM, PhysMem } from '../../src/hw/physmem.ts';

describe('PhysMem', () => {
  it('never hands out pfn 0', () => {
    const m = new PhysMem();
    expect(m.allocRam(1)).toBeGreaterThan(0);
  });
  it('lazily allocated bytes read as zero until written', () => {
    const m = new PhysMem();
    const pfn = m.allocRam(2);
    expect(m.data[pfn]).toBeUndefined();
    for (const off of [0, 1, 2047, 4095]) expect(m.read8(pfn, off)).toBe(0);
    expect(m.readPage(pfn).every((b) => b === 0)).toBe(true);
    m.write8(pfn, 7, 0xab);
    expect(m.read8(pfn, 7)).toBe(0xab);
    expect(m.read8(pfn, 6)).toBe(0);
    expect(m.read8(pfn + 1, 7)).toBe(0); // neighbour untouched
  });
  it('frame kinds: RAM has a struct page, IO does not; both hold data', () => {
    const m = new PhysMem();
    const ram = m.allocRam(1);
    const io = m.allocIo(1);
    const pt = m.allocPageTable();
    expect(m.kind[ram]).toBe(FRAME_RAM);
    expect(m.kind[io]).toBe(FRAME_IO);
    expect(m.kind[pt]).toBe(FRAME_PAGETABLE);
    expect(m.hasStructPage(ram)).toBe(true);
    expect(m.hasStructPage(io)).toBe(false);
    expect(m.isDataFrame(io)).toBe(true);
    expect(m.isDataFrame(pt)).toBe(false);
  });
  it('contiguous allocations do not overlap and grow memory past the initial size', () => {
    const m = new PhysMem(4, 1);
    const a = m.allocRam(3);
    const b = m.allocRam(10);
    const c = m.allocIo(5);
    expect(b).toBe(a + 3);
    expect(c).toBe(b + 10);
    expect(m.frames).toBe(c + 5);
    for (let p = b; p < b + 10; p++) expect(m.kind[p]).toBe(FRAME_RAM);
    expect(() => m.allocRam(0)).toThrow(RangeError);
  });
  it('aligned allocation returns an aligned first pfn', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 700 }), { maxLength: 5 }),
        fc.constantFrom(1, 2, 512, 4096),
        (pre, align) => {
          const m = new PhysMem(8, 1);
          for (const n of pre) m.allocRam(n);
          const before = m.frames;
          const p = m.allocRamAligned(3, align);
          expect(p % align).toBe(0);
          expect(p).toBeGreaterThanOrEqual(before);
          expect(p - before).toBeLessThan(align);
          for (let i = 0; i < 3; i++) expect(m.kind[p + i]).toBe(FRAME_RAM);
        },
      ),
    );
  });
  it('page-table frames are zeroed on allocation and on reallocation after free', () => {
    const m = new PhysMem(8, 1);
    const t = m.allocPageTable();
    for (let i = 0; i < 512; i++) {
      const idx = m.entryIndex(t, i);
      m.ptLo[idx] = 0xffffffff;
      m.ptHi[idx] = 0x12345678;
    }
    m.freePageTable(t);
    expect(m.tablesInUse).toBe(0);
    const t2 = m.allocPageTable();
    expect(m.tablesInUse).toBe(1);
    for (let i = 0; i < 512; i++) {
      const idx = m.entryIndex(t2, i);
      expect(m.ptLo[idx]).toBe(0);
      expect(m.ptHi[idx]).toBe(0);
    }
  });
  it('many page tables have disjoint entry storage (pool grows)', () => {
    const m = new PhysMem(2, 1);
    const ts = Array.from({ length: 9 }, () => m.allocPageTable());
    ts.forEach((t, k) => {
      m.ptLo[m.entryIndex(t, 511)] = k + 1;
    });
    ts.forEach((t, k) => {
      expect(m.ptLo[m.entryIndex(t, 511)]).toBe(k + 1);
      expect(m.ptLo[m.entryIndex(t, 0)]).toBe(0);
    });
    expect(new Set(ts).size).toBe(9);
  });
  it('freeing a non-table frame throws', () => {
    const m = new PhysMem();
    expect(() => m.freePageTable(m.allocRam(1))).toThrow();
  });
  it('copyPage and samePage compare bytes, treating never-written as zero', () => {
    const m = new PhysMem();
    const [a, b, c] = [m.allocRam(1), m.allocRam(1), m.allocRam(1)];
    expect(m.samePage(a, b)).toBe(true);
    m.write8(a, 100, 5);
    expect(m.samePage(a, b)).toBe(false);
    m.copyPage(b, a);
    expect(m.samePage(a, b)).toBe(true);
    expect(m.read8(b, 100)).toBe(5);
    m.write8(b, 100, 6); // copy is independent
    expect(m.read8(a, 100)).toBe(5);
    m.copyPage(b, c); // copying a never-written page zeroes the destination
    expect(m.read8(b, 100)).toBe(0);
    const snap = m.readPage(a);
    snap[100] = 0;
    expect(m.read8(a, 100)).toBe(5); // readPage is a copy
  });
  it('zero initial sizes grow on demand (no hang, no silently dropped entries)', () => {
    const m = new PhysMem(0, 0);
    const t = m.allocPageTable();
    m.ptLo[m.entryIndex(t, 3)] = 7;
    expect(m.ptLo[m.entryIndex(t, 3)]).toBe(7);
    const r = m.allocRam(3);
    expect(m.kind[r + 2]).toBe(FRAME_RAM);
  });
  it('tiny initial sizes still work', () => {
    const m = new PhysMem(1, 1);
    const t = m.allocPageTable();
    const t2 = m.allocPageTable();
    expect(m.entryIndex(t2, 0)).not.toBe(m.entryIndex(t, 0));
  });
});
