import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/hw/counters.ts';
import { TLBF_DIRTY, TLBF_VALID, TLBF_WRITABLE, Tlb, type TlbConfig } from '../../src/hw/tlb.ts';

function tlb(entries: number, ways: number, replacement: TlbConfig['replacement'] = 'lru'): Tlb {
  return new Tlb('t', new Counters(), { entries, ways, replacement });
}

/** Contents of the TLB as "mm:vpn" -> [pfn, flags], read through the valid-slot list. */
function contents(t: Tlb): Map<string, [number, number]> {
  const m = new Map<string, [number, number]>();
  for (let i = 0; i < t.nValid; i++) {
    const s = t.validSlots[i]!;
    m.set(`${t.mm[s]}:${t.vpn[s]}`, [t.pfn[s]!, t.flags[s]!]);
  }
  return m;
}

/** The valid-slot list is exactly the slots with vpn != -1, without duplicates. */
function checkValidList(t: Tlb): void {
  const listed = new Set<number>();
  for (let i = 0; i < t.nValid; i++) listed.add(t.validSlots[i]!);
  expect(listed.size).toBe(t.nValid);
  const occupied = new Set<number>();
  for (let s = 0; s < t.capacity; s++) if (t.vpn[s] !== -1) occupied.add(s);
  expect(listed).toEqual(occupied);
  for (const s of occupied) expect(t.flags[s]! & TLBF_VALID).toBe(TLBF_VALID);
}

describe('Tlb geometry and configuration', () => {
  it('rejects non-power-of-two sizes and too many ways', () => {
    expect(() => tlb(6, 2)).toThrow(RangeError);
    expect(() => tlb(8, 3)).toThrow(RangeError);
    expect(() => tlb(8, 16)).toThrow(RangeError);
    expect(() => tlb(0, 1)).toThrow(RangeError);
  });
  it('holds at most `capacity` entries and at most `ways` per set', () => {
    const t = tlb(8, 2);
    expect(t.sets).toBe(4);
    for (let v = 0; v < 100; v++) t.insert(1, v, v + 1000, TLBF_WRITABLE);
    expect(t.nValid).toBe(8);
    // three pages in set 0 (vpn mod 4 = 0): only two stay
    const u = tlb(8, 2);
    u.insert(1, 0, 1, 0);
    u.insert(1, 4, 2, 0);
    u.insert(1, 8, 3, 0);
    u.insert(1, 1, 4, 0); // another set, unaffected
    expect([0, 4, 8].filter((v) => u.peek(1, v) >= 0)).toHaveLength(2);
    expect(u.peek(1, 1)).toBeGreaterThanOrEqual(0);
  });
  it('uses the low bits of vpns above 2^32 to pick the set, and keeps them distinct', () => {
    const t = tlb(8, 2);
    const big = 2 ** 35 + 1;
    t.insert(1, big, 7, 0);
    t.insert(1, 1, 8, 0);
    expect(t.pfn[t.peek(1, big)]).toBe(7);
    expect(t.pfn[t.peek(1, 1)]).toBe(8);
    expect(t.peek(1, 2 ** 34 + 1)).toBe(-1);
  });
  it('re-inserting the same (mm, vpn) updates in place', () => {
    const t = tlb(8, 2);
    const s = t.insert(1, 5, 10, 0);
    const s2 = t.insert(1, 5, 11, TLBF_WRITABLE | TLBF_DIRTY);
    expect(s2).toBe(s);
    expect(t.nValid).toBe(1);
    expect(t.pfn[s]).toBe(11);
    expect(t.flags[s]).toBe(TLBF_VALID | TLBF_WRITABLE | TLBF_DIRTY);
  });
});

describe('replacement', () => {
  // One set of four ways: vpns 0..3 fill it, then 4 evicts one.
  it('LRU evicts the least recently used entry', () => {
    const t = tlb(4, 4, 'lru');
    for (let v = 0; v < 4; v++) t.insert(1, v, v, 0);
    t.lookup(1, 0);
    t.lookup(1, 2);
    t.insert(1, 4, 4, 0);
    expect(t.peek(1, 1)).toBe(-1);
    for (const v of [0, 2, 3, 4]) expect(t.peek(1, v)).toBeGreaterThanOrEqual(0);
    t.lookup(1, 3);
    t.insert(1, 5, 5, 0); // LRU order now 0, 2, 4, 3 -> evict 0
    expect(t.peek(1, 0)).toBe(-1);
  });
  it('peek does not count as a use for LRU', () => {
    const t = tlb(2, 2, 'lru');
    t.insert(1, 0, 0, 0);
    t.insert(1, 1, 1, 0);
    t.peek(1, 0);
    t.insert(1, 2, 2, 0);
    expect(t.peek(1, 0)).toBe(-1);
  });
  it('FIFO evicts the oldest insertion regardless of use', () => {
    const t = tlb(4, 4, 'fifo');
    for (let v = 0; v < 4; v++) t.insert(1, v, v, 0);
    t.lookup(1, 0);
    t.lookup(1, 0);
    t.insert(1, 4, 4, 0);
    expect(t.peek(1, 0)).toBe(-1);
    t.insert(1, 5, 5, 0);
    expect(t.peek(1, 1)).toBe(-1);
    for (const v of [2, 3, 4, 5]) expect(t.peek(1, v)).toBeGreaterThanOrEqual(0);
  });
  it('random replacement is deterministic and stays inside the set', () => {
    const run = (): string[] => {
      const t = tlb(16, 4, 'random');
      const evicted: string[] = [];
      for (let i = 0; i < 200; i++) {
        const v = (i * 7) % 97;
        const before = contents(t);
        t.insert(1, v, i, 0);
        const after = contents(t);
        for (const k of before.keys()) {
          if (!after.has(k)) {
            evicted.push(k);
            expect(Number(k.split(':')[1]) % 4).toBe(v % 4); // same set
          }
        }
        checkValidList(t);
      }
      return evicted;
    };
    const a = run();
    expect(a.length).toBeGreaterThan(0);
    expect(run()).toEqual(a);
  });
  it('random replacement does not always pick the same way', () => {
    const t = tlb(4, 4, 'random');
    for (let v = 0; v < 4; v++) t.insert(1, v, v, 0);
    const victims = new Set<number>();
    for (let i = 0; i < 64; i++) {
      const s = t.insert(1, 100 + i, i, 0);
      victims.add(s);
    }
    expect(victims.size).toBeGreaterThan(1);
  });
});

describe('flushes', () => {
  it('tags entries by mm: the same vpn in two mms coexists, flushMm drops only one mm (PCID)', () => {
    const c = new Counters();
    const t = new Tlb('t', c, { entries: 16, ways: 4, replacement: 'lru' });
    t.insert(1, 3, 30, 0);
    t.insert(2, 3, 31, 0);
    t.insert(2, 4, 41, 0);
    expect(t.pfn[t.lookup(1, 3)]).toBe(30);
    expect(t.pfn[t.lookup(2, 3)]).toBe(31);
    expect(t.flushMm(2)).toBe(2);
    expect(t.lookup(1, 3)).toBeGreaterThanOrEqual(0);
    expect(t.lookup(2, 3)).toBe(-1);
    expect(c.tlbFlushMm).toBe(1);
    expect(c.tlbEntriesDropped).toBe(2);
  });
  it('flushPage drops one entry of one mm', () => {
    const c = new Counters();
    const t = new Tlb('t', c, { entries: 16, ways: 4, replacement: 'lru' });
    t.insert(1, 3, 30, 0);
    t.insert(2, 3, 31, 0);
    expect(t.flushPage(1, 3)).toBe(1);
    expect(t.flushPage(1, 3)).toBe(0);
    expect(t.peek(2, 3)).toBeGreaterThanOrEqual(0);
    expect(c.tlbFlushPage).toBe(2);
    expect(c.tlbEntriesDropped).toBe(1);
  });
  it('flushAll drops everything and counts it', () => {
    const c = new Counters();
    const t = new Tlb('t', c, { entries: 16, ways: 4, replacement: 'lru' });
    for (let v = 0; v < 10; v++) t.insert(v % 3, v, v, 0);
    expect(t.flushAll()).toBe(10);
    expect(t.nValid).toBe(0);
    checkValidList(t);
    expect(c.tlbFlushAll).toBe(1);
    expect(c.tlbEntriesDropped).toBe(10);
  });

  type Op =
    | { k: 'ins'; mm: number; vpn: number; pfn: number; fl: number }
    | { k: 'look'; mm: number; vpn: number }
    | { k: 'page'; mm: number; vpn: number }
    | { k: 'range'; mm: number; s: number; n: number }
    | { k: 'mm'; mm: number }
    | { k: 'all' };
  const mmA = fc.integer({ min: 0, max: 2 });
  const vpnA = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 2 ** 33, max: 2 ** 33 + 40 }));
  const opA: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        k: fc.constant('ins' as const),
        mm: mmA,
        vpn: vpnA,
        pfn: fc.nat(1000),
        fl: fc.nat(15),
      }),
    },
    { weight: 2, arbitrary: fc.record({ k: fc.constant('look' as const), mm: mmA, vpn: vpnA }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('page' as const), mm: mmA, vpn: vpnA }) },
    {
      weight: 1,
      arbitrary: fc.record({ k: fc.constant('range' as const), mm: mmA, s: vpnA, n: fc.nat(60) }),
    },
    { weight: 1, arbitrary: fc.record({ k: fc.constant('mm' as const), mm: mmA }) },
    { weight: 1, arbitrary: fc.constant({ k: 'all' as const }) },
  );
  const cfgA = fc
    .record({
      entries: fc.constantFrom(1, 2, 4, 8, 16, 64),
      ways: fc.constantFrom(1, 2, 4, 8),
      replacement: fc.constantFrom('lru' as const, 'fifo' as const, 'random' as const),
    })
    .filter((c) => c.ways <= c.entries);

  function apply(t: Tlb, op: Op): number {
    switch (op.k) {
      case 'ins':
        t.insert(op.mm, op.vpn, op.pfn, op.fl);
        return 0;
      case 'look':
        t.lookup(op.mm, op.vpn);
        return 0;
      case 'page':
        return t.flushPage(op.mm, op.vpn);
      case 'range':
        return t.flushRange(op.mm, op.s, op.s + op.n);
      case 'mm':
        return t.flushMm(op.mm);
      case 'all':
        return t.flushAll();
    }
  }
  /** Whether `flush` should drop the entry (mm, vpn). */
  function drops(op: Op, mm: number, vpn: number): boolean {
    switch (op.k) {
      case 'page':
        return op.mm === mm && op.vpn === vpn;
      case 'range':
        return op.mm === mm && vpn >= op.s && vpn < op.s + op.n;
      case 'mm':
        return op.mm === mm;
      case 'all':
        return true;
      default:
        return false;
    }
  }

  it('property: after any insert/flush sequence the valid list matches the occupied slots', () => {
    fc.assert(
      fc.property(cfgA, fc.array(opA, { maxLength: 120, size: 'max' }), (cfg, ops) => {
        const t = new Tlb('t', new Counters(), cfg);
        for (const op of ops) {
          apply(t, op);
          expect(t.nValid).toBeLessThanOrEqual(t.capacity);
          checkValidList(t);
        }
      }),
    );
  });

  it('property: each flush drops exactly the matching entries and returns their number', () => {
    fc.assert(
      fc.property(cfgA, fc.array(opA, { maxLength: 120, size: 'max' }), (cfg, ops) => {
        const t = new Tlb('t', new Counters(), cfg);
        for (const op of ops) {
          const before = contents(t);
          const n = apply(t, op);
          const after = contents(t);
          if (op.k === 'ins' || op.k === 'look') {
            if (op.k === 'ins') expect(after.get(`${op.mm}:${op.vpn}`)).toEqual([op.pfn, op.fl | TLBF_VALID]);
            // an insert may evict at most one other entry; a lookup changes nothing
            let gone = 0;
            for (const k of before.keys()) if (!after.has(k)) gone++;
            expect(gone).toBeLessThanOrEqual(op.k === 'ins' ? 1 : 0);
            continue;
          }
          const expected = new Map(
            [...before].filter(([k]) => {
              const [mm, vpn] = k.split(':').map(Number) as [number, number];
              return !drops(op, mm, vpn);
            }),
          );
          expect(after).toEqual(expected);
          expect(n).toBe(before.size - expected.size);
        }
      }),
    );
  });

  it('property: with no evictions the TLB equals a naive Map model', () => {
    fc.assert(
      fc.property(fc.array(opA, { maxLength: 150, size: 'max' }), (ops) => {
        // fully associative and larger than the key space: nothing is ever evicted
        const t = new Tlb('t', new Counters(), { entries: 256, ways: 256, replacement: 'lru' });
        const model = new Map<string, [number, number]>();
        for (const op of ops) {
          apply(t, op);
          if (op.k === 'ins') model.set(`${op.mm}:${op.vpn}`, [op.pfn, op.fl | TLBF_VALID]);
          else
            for (const k of [...model.keys()]) {
              const [mm, vpn] = k.split(':').map(Number) as [number, number];
              if (drops(op, mm, vpn)) model.delete(k);
            }
          expect(contents(t)).toEqual(model);
          for (const [k, [pfn]] of model) {
            const [mm, vpn] = k.split(':').map(Number) as [number, number];
            expect(t.pfn[t.peek(mm, vpn)]).toBe(pfn);
          }
        }
      }),
    );
  });
});
