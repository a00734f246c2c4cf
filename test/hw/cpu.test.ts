import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/hw/counters.ts';
import { Cpu, FAULT_NOT_PRESENT, FAULT_PROTECTION } from '../../src/hw/cpu.ts';
import { setPte } from '../../src/hw/pagetable.ts';
import { PhysMem } from '../../src/hw/physmem.ts';
import {
  mkcleanLo,
  mkHi,
  mkLo,
  mkwriteLo,
  PTE_ACCESSED,
  PTE_DIRTY,
  PTE_PRESENT,
  PTE_PSE,
  PTE_RW,
  PTE_USER,
  pteHwDirty,
  pteYoung,
  wrprotectLo,
} from '../../src/hw/pte.ts';
import { StoreLog } from '../../src/hw/storelog.ts';
import { TLBF_DIRTY, TLBF_WRITABLE } from '../../src/hw/tlb.ts';
import { WALK_NOT_PRESENT, WALK_OK } from '../../src/hw/walker.ts';
import { TraceSink } from '../../src/trace/sink.ts';
import { machine, map, USER_RO, USER_RW } from './fixture.ts';

const TABLE = PTE_PRESENT | PTE_RW | PTE_USER; // no ACCESSED: the walk must set it

/**
 * Build the path for `va` by hand, computing each level's index with BigInt straight from the
 * architecture (index of level L = (va >> shift_L) & 511), so the walker's index arithmetic is
 * checked against an independent computation. Returns the flat index of every entry on the path,
 * top first. `leafLevelShift` is 12 (4K PTE), 21 (2M PMD leaf) or 30 (1G PUD leaf).
 */
function buildByHand(
  mem: PhysMem,
  root: number,
  levels: 4 | 5,
  va: bigint,
  leafPfn: number,
  leafFlags: number,
  leafLevelShift = 12,
  tableFlags = TABLE,
): number[] {
  const shifts = levels === 5 ? [48, 39, 30, 21, 12] : [39, 30, 21, 12];
  const path: number[] = [];
  let table = root;
  for (const sh of shifts) {
    const i = Number((va >> BigInt(sh)) & 511n);
    const idx = mem.entryIndex(table, i);
    path.push(idx);
    if (sh === leafLevelShift) {
      mem.ptLo[idx] = mkLo(leafPfn, leafFlags);
      mem.ptHi[idx] = mkHi(leafPfn, 0);
      return path;
    }
    if ((mem.ptLo[idx]! & PTE_PRESENT) === 0) {
      const t = mem.allocPageTable();
      mem.ptLo[idx] = mkLo(t, tableFlags);
      mem.ptHi[idx] = mkHi(t, 0);
    }
    table = (mem.ptLo[idx]! >>> 12) + (mem.ptHi[idx]! & 0xfffff) * 2 ** 20;
  }
  throw new Error('leaf level not on the path');
}

function cpuFor(levels: 4 | 5): { mem: PhysMem; cpu: Cpu; root: number; counters: Counters } {
  const mem = new PhysMem();
  const counters = new Counters();
  const root = mem.allocPageTable();
  const cpu = new Cpu(0, mem, counters, undefined, levels);
  cpu.switchMm(1, root);
  return { mem, cpu, root, counters };
}

describe('translation through 4- and 5-level tables', () => {
  const cases4: Array<[string, bigint]> = [
    ['low', 0x40_0000n],
    ['above 2^32', (1n << 32n) + 0x5000n],
    ['just below 2^47', (1n << 47n) - 4096n],
    ['all index fields non-zero', (0x1a5n << 39n) | (0x0f3n << 30n) | (0x1c7n << 21n) | (0x111n << 12n)],
  ];
  for (const [name, va] of cases4) {
    it(`4-level: ${name} (0x${va.toString(16)})`, () => {
      const { mem, cpu, root } = cpuFor(4);
      const pfn = mem.allocRam(1);
      buildByHand(mem, root, 4, va, pfn, USER_RW);
      const off = 0x123;
      expect(cpu.store8(Number(va) + off, 0x5a)).toBe(0);
      expect(cpu.lastPfn).toBe(pfn);
      expect(mem.read8(pfn, off)).toBe(0x5a);
      cpu.tlb.flushAll();
      expect(cpu.load8(Number(va) + off)).toBe(0x5a);
    });
  }
  it('4-level: addresses that differ only in the PGD index (bits 39..47) translate differently', () => {
    const { mem, cpu, root } = cpuFor(4);
    const a = mem.allocRam(1);
    const b = mem.allocRam(1);
    buildByHand(mem, root, 4, 0x1000n, a, USER_RW);
    buildByHand(mem, root, 4, (1n << 39n) | 0x1000n, b, USER_RW);
    cpu.store8(0x1000, 1);
    cpu.store8(2 ** 39 + 0x1000, 2);
    expect(mem.read8(a, 0)).toBe(1);
    expect(mem.read8(b, 0)).toBe(2);
  });
  // Above 2^53 a JS number spaces integers 2^(e-52) apart, so near 2^56 only offsets that are
  // multiples of 8 are exact; the model's virtual addresses are numbers (documented in docs/hw.md).
  const cases5: Array<[string, bigint]> = [
    ['above 2^47', (1n << 47n) + (3n << 12n)],
    ['just below 2^56', (1n << 56n) - 4096n],
    ['bits 48..55 set', (0xabn << 48n) | (0x42n << 12n)],
  ];
  for (const [name, va] of cases5) {
    it(`5-level: ${name} (0x${va.toString(16)})`, () => {
      const { mem, cpu, root } = cpuFor(5);
      const pfn = mem.allocRam(1);
      const path = buildByHand(mem, root, 5, va, pfn, USER_RW);
      expect(path).toHaveLength(5);
      const off = 0x8 * 37;
      expect(Number(va) + off).toBe(Number(va + BigInt(off))); // exact
      expect(cpu.store8(Number(va) + off, 0x77)).toBe(0);
      expect(mem.read8(pfn, off)).toBe(0x77);
      expect(cpu.walker.leafIdx).toBe(path[4]);
    });
  }
  it('5-level: addresses that differ only in bits 48..56 translate differently; 4-level has no such level', () => {
    const { mem, cpu, root } = cpuFor(5);
    const a = mem.allocRam(1);
    const b = mem.allocRam(1);
    buildByHand(mem, root, 5, 0x3000n, a, USER_RW);
    buildByHand(mem, root, 5, (1n << 48n) | 0x3000n, b, USER_RW);
    expect(cpu.translateRead(0x3000)).toBe(a);
    expect(cpu.translateRead(2 ** 48 + 0x3000)).toBe(b);
  });
  it('setPte (pagetable.ts) builds the same path as the hand-built one', () => {
    for (const levels of [4, 5] as const) {
      const { mem, cpu, root } = cpuFor(levels);
      const va =
        levels === 5 ? (0x1ffn << 48n) | (0x155n << 39n) | (7n << 12n) : (0x155n << 39n) | (7n << 12n);
      const pfn = mem.allocRam(1);
      const i = setPte(mem, root, Number(va >> 12n), mkLo(pfn, USER_RW), mkHi(pfn, 0), levels);
      expect(cpu.translateRead(Number(va))).toBe(pfn);
      expect(cpu.walker.leafIdx).toBe(i);
    }
  });
});

describe('huge leaves', () => {
  it('a 2M PMD leaf translates to base + offset', () => {
    const { mem, cpu, root } = cpuFor(4);
    const base = mem.allocRamAligned(512, 512);
    const va = (5n << 30n) | (3n << 21n);
    buildByHand(mem, root, 4, va, base, USER_RW | PTE_PSE, 21);
    for (const off of [0, 4096 * 1 + 7, 4096 * 300 + 4095, 2 ** 21 - 1]) {
      expect(cpu.translateRead(Number(va) + off)).toBe(base + Math.floor(off / 4096));
    }
    cpu.store8(Number(va) + 4096 * 511 + 9, 99);
    expect(mem.read8(base + 511, 9)).toBe(99);
    expect(cpu.walker.leafLevel).toBe(3);
  });
  it('a 1G PUD leaf translates to base + offset', () => {
    const { mem, cpu, root } = cpuFor(4);
    const base = 2 ** 18 * 3; // aligned pfn; translation needs no allocated frames
    const va = 7n << 30n;
    buildByHand(mem, root, 4, va, base, USER_RW | PTE_PSE, 30);
    for (const off of [0, 4096 + 5, 2 ** 29 + 4096 * 3, 2 ** 30 - 1]) {
      expect(cpu.translateRead(Number(va) + off)).toBe(base + Math.floor(off / 4096));
    }
    expect(cpu.walker.leafLevel).toBe(2);
  });
  it('a huge leaf gets A on fill and D on a write', () => {
    const { mem, cpu, root } = cpuFor(4);
    const base = mem.allocRamAligned(512, 512);
    const path = buildByHand(mem, root, 4, 1n << 21n, base, USER_RW | PTE_PSE, 21);
    const leaf = path[path.length - 1]!;
    cpu.load8(2 ** 21 + 4096 * 2);
    expect(pteYoung(mem.ptLo[leaf]!)).toBe(true);
    expect(pteHwDirty(mem.ptLo[leaf]!)).toBe(false);
    cpu.store8(2 ** 21 + 4096 * 3, 1);
    expect(pteHwDirty(mem.ptLo[leaf]!)).toBe(true);
  });
});

describe('accessed and dirty bits', () => {
  it('A is set on every level of the path on a fill; D is not set by a read', () => {
    const { mem, cpu, root } = cpuFor(4);
    const pfn = mem.allocRam(1);
    const path = buildByHand(mem, root, 4, 0x7000n, pfn, USER_RW);
    for (const i of path) expect(pteYoung(mem.ptLo[i]!)).toBe(false);
    expect(cpu.load8(0x7000)).toBe(0);
    for (const i of path) expect(pteYoung(mem.ptLo[i]!)).toBe(true);
    for (const i of path) expect(pteHwDirty(mem.ptLo[i]!)).toBe(false);
  });
  it('D is set in the leaf only by the first permitted write, and only in the leaf', () => {
    const { mem, cpu, root, counters } = cpuFor(4);
    const pfn = mem.allocRam(1);
    const path = buildByHand(mem, root, 4, 0x7000n, pfn, USER_RW);
    const leaf = path[3]!;
    expect(cpu.store8(0x7001, 1)).toBe(0);
    expect(mem.ptLo[leaf]! & (PTE_ACCESSED | PTE_DIRTY)).toBe(PTE_ACCESSED | PTE_DIRTY);
    for (const i of path.slice(0, 3)) expect(pteHwDirty(mem.ptLo[i]!)).toBe(false);
    const ad = counters.hwAdUpdates;
    const walks = counters.hwWalks;
    expect(cpu.store8(0x7002, 2)).toBe(0); // cached W+D: no walk, no A/D update
    expect(counters.hwAdUpdates).toBe(ad);
    expect(counters.hwWalks).toBe(walks);
    expect(cpu.lastVia).toBe(0);
  });
  it('a write to a read-only PTE faults and does not set D', () => {
    const { mem, cpu, root } = cpuFor(4);
    const pfn = mem.allocRam(1);
    const path = buildByHand(mem, root, 4, 0x7000n, pfn, USER_RO);
    expect(cpu.store8(0x7004, 1)).toBe(-1);
    expect(cpu.faultReason).toBe(FAULT_PROTECTION);
    expect(pteHwDirty(mem.ptLo[path[3]!]!)).toBe(false);
    expect(mem.read8(pfn, 4)).toBe(0);
    expect(cpu.tlb.peek(1, 7)).toBe(-1);
  });
  it('a read fill of a writable clean PTE caches W=1,D=0; the next write re-walks and sets D', () => {
    const m = machine();
    const cpu = m.cpus[0]!;
    const pfn = m.mem.allocRam(1);
    const pte = map(m, 9, pfn, USER_RW);
    cpu.load8(9 * 4096);
    const s = cpu.tlb.peek(1, 9);
    expect(s).toBeGreaterThanOrEqual(0);
    expect(cpu.tlb.flags[s]! & (TLBF_WRITABLE | TLBF_DIRTY)).toBe(TLBF_WRITABLE);
    expect(pteHwDirty(m.mem.ptLo[pte]!)).toBe(false);
    const walks = m.counters.hwWalks;
    expect(cpu.store8(9 * 4096 + 1, 3)).toBe(0);
    expect(m.counters.hwWalks).toBe(walks + 1);
    expect(cpu.lastVia).toBe(1);
    expect(pteHwDirty(m.mem.ptLo[pte]!)).toBe(true);
    expect(cpu.tlb.flags[s]! & TLBF_DIRTY).toBe(TLBF_DIRTY);
    expect(cpu.store8(9 * 4096 + 2, 4)).toBe(0);
    expect(cpu.lastVia).toBe(0);
  });
  it('a read fill of a writable dirty PTE caches W+D; a write then touches no PTE', () => {
    const m = machine();
    const cpu = m.cpus[0]!;
    const pfn = m.mem.allocRam(1);
    map(m, 9, pfn, USER_RW | PTE_DIRTY | PTE_ACCESSED);
    cpu.load8(9 * 4096);
    const walks = m.counters.hwWalks;
    expect(cpu.store8(9 * 4096, 1)).toBe(0);
    expect(m.counters.hwWalks).toBe(walks);
  });
});

describe('stale TLB entries racing PTE changes (spec section 8)', () => {
  function dirtyCached(): { m: ReturnType<typeof machine>; cpu: Cpu; pte: number; pfn: number } {
    const m = machine();
    const cpu = m.cpus[0]!;
    const pfn = m.mem.allocRam(1);
    const pte = map(m, 20, pfn, USER_RW);
    expect(cpu.store8(20 * 4096, 1)).toBe(0); // fills W+D
    return { m, cpu, pte, pfn };
  }

  it('a stale writable+dirty entry lets a store through after write-protect, touching no PTE', () => {
    const { m, cpu, pte, pfn } = dirtyCached();
    m.mem.ptLo[pte] = mkcleanLo(wrprotectLo(m.mem.ptLo[pte]!, false)); // wrprotect + clean in memory, no flush
    const lo = m.mem.ptLo[pte]!;
    const hi = m.mem.ptHi[pte]!;
    const walks = m.counters.hwWalks;
    expect(cpu.store8(20 * 4096 + 100, 0xee)).toBe(0);
    expect(m.mem.read8(pfn, 100)).toBe(0xee); // the write landed
    expect(m.mem.ptLo[pte]).toBe(lo); // PTE untouched: still read-only and clean
    expect(m.mem.ptHi[pte]).toBe(hi);
    expect(m.counters.hwWalks).toBe(walks);
    expect(cpu.lastVia).toBe(0);
    // after a flush the same store faults
    cpu.tlb.flushPage(1, 20);
    expect(cpu.store8(20 * 4096 + 100, 0xef)).toBe(-1);
    expect(cpu.faultReason).toBe(FAULT_PROTECTION);
    expect(m.mem.read8(pfn, 100)).toBe(0xee);
  });
  it('after clean (RW kept), a stale dirty entry writes without setting D again until flushed', () => {
    const { m, cpu, pte } = dirtyCached();
    m.mem.ptLo[pte] = mkcleanLo(m.mem.ptLo[pte]!);
    expect(cpu.store8(20 * 4096, 2)).toBe(0);
    expect(pteHwDirty(m.mem.ptLo[pte]!)).toBe(false);
    cpu.tlb.flushAll();
    expect(cpu.store8(20 * 4096, 3)).toBe(0);
    expect(pteHwDirty(m.mem.ptLo[pte]!)).toBe(true);
  });

  function cleanCached(): { m: ReturnType<typeof machine>; cpu: Cpu; pte: number; pfn: number } {
    const m = machine();
    const cpu = m.cpus[0]!;
    const pfn = m.mem.allocRam(1);
    const pte = map(m, 20, pfn, USER_RW);
    expect(cpu.load8(20 * 4096)).toBe(0); // fills W, D=0
    return { m, cpu, pte, pfn };
  }
  it('a clean cached entry re-walks and faults (protection) after write-protect', () => {
    const { m, cpu, pte, pfn } = cleanCached();
    m.mem.ptLo[pte] = wrprotectLo(m.mem.ptLo[pte]!, false);
    expect(cpu.store8(20 * 4096 + 5, 1)).toBe(-1);
    expect(cpu.faultReason).toBe(FAULT_PROTECTION);
    expect(cpu.faultWrite).toBe(true);
    expect(cpu.faultAddr).toBe(20 * 4096 + 5);
    expect(m.mem.read8(pfn, 5)).toBe(0);
    expect(pteHwDirty(m.mem.ptLo[pte]!)).toBe(false);
    expect(cpu.tlb.peek(1, 20)).toBe(-1); // the faulting entry is gone
  });
  it('a clean cached entry re-walks and faults (not present) after the PTE was cleared', () => {
    const { m, cpu, pte, pfn } = cleanCached();
    m.mem.ptLo[pte] = 0;
    m.mem.ptHi[pte] = 0;
    expect(cpu.store8(20 * 4096 + 6, 1)).toBe(-1);
    expect(cpu.faultReason).toBe(FAULT_NOT_PRESENT);
    expect(cpu.faultAddr).toBe(20 * 4096 + 6);
    expect(m.mem.read8(pfn, 6)).toBe(0);
    expect(m.mem.ptLo[pte]).toBe(0); // hardware never sets A/D in a non-present entry
    expect(cpu.tlb.peek(1, 20)).toBe(-1);
  });
  it('a clean cached entry still serves loads after the PTE was cleared (stale until flushed)', () => {
    const { m, cpu, pte, pfn } = cleanCached();
    m.mem.write8(pfn, 1, 42);
    m.mem.ptLo[pte] = 0;
    expect(cpu.load8(20 * 4096 + 1)).toBe(42);
    cpu.tlb.flushPage(1, 20);
    expect(cpu.load8(20 * 4096 + 1)).toBe(-1);
    expect(cpu.faultReason).toBe(FAULT_NOT_PRESENT);
    expect(cpu.faultWrite).toBe(false);
  });
  it('a cached read-only entry faults on write even if the PTE became writable (spurious fault)', () => {
    const m = machine();
    const cpu = m.cpus[0]!;
    const pfn = m.mem.allocRam(1);
    const pte = map(m, 30, pfn, USER_RO);
    cpu.load8(30 * 4096);
    m.mem.ptLo[pte] = mkwriteLo(m.mem.ptLo[pte]!, m.mem.ptHi[pte]!);
    expect(cpu.store8(30 * 4096, 1)).toBe(-1);
    expect(cpu.faultReason).toBe(FAULT_PROTECTION);
    expect(pteHwDirty(m.mem.ptLo[pte]!)).toBe(false);
    // the fault dropped the stale entry: the retry walks, sees RW and succeeds
    expect(cpu.store8(30 * 4096, 1)).toBe(0);
    expect(cpu.lastVia).toBe(2);
    expect(m.mem.read8(pfn, 0)).toBe(1);
  });
});

describe('permissions and faults', () => {
  it('a missing table or PTE faults not-present with the address and access kind', () => {
    const m = machine();
    const cpu = m.cpus[0]!;
    expect(cpu.load8(2 ** 40 + 17)).toBe(-1);
    expect(cpu.faultReason).toBe(FAULT_NOT_PRESENT);
    expect(cpu.faultAddr).toBe(2 ** 40 + 17);
    expect(cpu.faultWrite).toBe(false);
    map(m, 50, m.mem.allocRam(1), USER_RW);
    expect(cpu.store8(51 * 4096 + 3, 1)).toBe(-1); // same PTE table, empty entry
    expect(cpu.faultReason).toBe(FAULT_NOT_PRESENT);
    expect(cpu.faultWrite).toBe(true);
    expect(m.counters.hwFaults).toBe(2);
  });
  it('USER is enforced at the leaf', () => {
    const m = machine();
    const cpu = m.cpus[0]!;
    map(m, 3, m.mem.allocRam(1), PTE_PRESENT | PTE_RW);
    expect(cpu.load8(3 * 4096)).toBe(-1);
    expect(cpu.faultReason).toBe(FAULT_PROTECTION);
    expect(cpu.store8(3 * 4096, 1)).toBe(-1);
    expect(cpu.faultReason).toBe(FAULT_PROTECTION);
    expect(cpu.tlb.nValid).toBe(0);
  });
  it('USER and RW are the AND over all levels', () => {
    const { mem, cpu, root } = cpuFor(4);
    const a = mem.allocRam(1);
    buildByHand(mem, root, 4, 1n << 30n, a, USER_RW, 12, PTE_PRESENT | PTE_USER); // tables read-only
    expect(cpu.load8(2 ** 30)).toBe(0);
    expect(cpu.store8(2 ** 30, 1)).toBe(-1);
    expect(cpu.faultReason).toBe(FAULT_PROTECTION);
    const b = mem.allocRam(1);
    buildByHand(mem, root, 4, 2n << 39n, b, USER_RW, 12, PTE_PRESENT | PTE_RW); // tables supervisor-only
    expect(cpu.load8(2 * 2 ** 39)).toBe(-1);
    expect(cpu.faultReason).toBe(FAULT_PROTECTION);
  });
  it('walker reports status without faulting (permission left to the caller)', () => {
    const m = machine();
    const pfn = m.mem.allocRam(1);
    const pte = map(m, 4, pfn, USER_RO);
    const w = m.cpus[0]!.walker;
    expect(w.walk(1, m.root, 4, true)).toBe(WALK_OK);
    expect(w.writable).toBe(false);
    expect(w.pfn).toBe(pfn);
    expect(w.leafIdx).toBe(pte);
    expect(w.dirty).toBe(false);
    expect(pteHwDirty(m.mem.ptLo[pte]!)).toBe(false);
    expect(w.walk(1, m.root, 5, false)).toBe(WALK_NOT_PRESENT);
    expect(w.leafLevel).toBe(4);
    expect(w.walk(1, m.root, 2 ** 27, false)).toBe(WALK_NOT_PRESENT);
    expect(w.leafLevel).toBe(1);
  });
});

describe('CPUs, mms and logging', () => {
  it('CPUs have private TLBs; a stale entry on one CPU does not help another', () => {
    const m = machine(2);
    const [c0, c1] = m.cpus as [Cpu, Cpu];
    const pte = map(m, 8, m.mem.allocRam(1), USER_RW);
    c0.store8(8 * 4096, 1);
    m.mem.ptLo[pte] = wrprotectLo(m.mem.ptLo[pte]!, false);
    expect(c0.store8(8 * 4096, 2)).toBe(0);
    expect(c1.store8(8 * 4096, 3)).toBe(-1);
  });
  it('switching mm keeps entries tagged by mm (PCID) and translates through the new root', () => {
    const m = machine();
    const cpu = m.cpus[0]!;
    const a = m.mem.allocRam(1);
    map(m, 8, a, USER_RW);
    const root2 = m.mem.allocPageTable();
    const b = m.mem.allocRam(1);
    setPte(m.mem, root2, 8, mkLo(b, USER_RW), mkHi(b, 0));
    cpu.store8(8 * 4096, 1);
    cpu.switchMm(2, root2);
    cpu.store8(8 * 4096, 2);
    expect(cpu.lastPfn).toBe(b);
    expect(cpu.tlb.peek(1, 8)).toBeGreaterThanOrEqual(0);
    cpu.switchMm(1, m.root);
    const walks = m.counters.hwWalks;
    cpu.store8(8 * 4096, 3);
    expect(cpu.lastPfn).toBe(a);
    expect(m.counters.hwWalks).toBe(walks);
    expect(m.mem.read8(a, 0)).toBe(3);
    expect(m.mem.read8(b, 0)).toBe(2);
  });
  it('stores go to the store log in order with sequence numbers; faults are not logged', () => {
    const m = machine(2);
    const log = new StoreLog(2);
    for (const c of m.cpus) c.storeLog = log;
    const p = m.mem.allocRam(3);
    for (let i = 0; i < 3; i++) map(m, 100 + i, p + i, USER_RW);
    const seq: Array<[number, number]> = [
      [0, 100],
      [1, 101],
      [1, 102],
      [0, 102],
      [1, 100],
    ];
    for (const [c, v] of seq) expect(m.cpus[c]!.store8(v * 4096, 1)).toBe(0);
    expect(m.cpus[0]!.store8(500 * 4096, 1)).toBe(-1);
    expect(log.length).toBe(5);
    seq.forEach(([c, v], i) => {
      expect(log.cpu[i]).toBe(c);
      expect(log.vpn[i]).toBe(v);
      expect(log.pfn[i]).toBe(p + v - 100);
      expect(log.mm[i]).toBe(1);
    });
  });
  it('trace: store and load events carry the path taken and the store sequence number', () => {
    const m = machine();
    const cpu = m.cpus[0]!;
    const t = new TraceSink();
    cpu.setTrace(t);
    cpu.storeLog = new StoreLog();
    map(m, 2, m.mem.allocRam(1), USER_RW);
    cpu.load8(2 * 4096);
    cpu.store8(2 * 4096, 1);
    cpu.store8(2 * 4096, 2);
    const stores = t.events.filter((e) => e.kind === 'store');
    expect(stores.map((e) => (e.kind === 'store' ? [e.via, e.wseq] : []))).toEqual([
      ['dirty-rewalk', 0],
      ['tlb-hit', 1],
    ]);
    expect(t.events.some((e) => e.kind === 'tlbFill')).toBe(true);
    expect(t.events.some((e) => e.kind === 'load')).toBe(true);
    expect(t.events.some((e) => e.kind === 'pte')).toBe(true);
  });
  it('counters count stores, loads, hits, misses and walks', () => {
    const m = machine();
    const cpu = m.cpus[0]!;
    map(m, 2, m.mem.allocRam(1), USER_RW);
    cpu.store8(2 * 4096, 1); // miss + walk
    cpu.store8(2 * 4096, 1); // hit
    cpu.load8(2 * 4096); // hit
    expect(m.counters.stores).toBe(2);
    expect(m.counters.loads).toBe(1);
    expect(m.counters.tlbMisses).toBe(1);
    expect(m.counters.tlbHits).toBe(2);
    expect(m.counters.hwWalks).toBe(1);
  });
});
