/**
 * The law the whole project leans on (issue 2): whatever the sequence of mappings, PTE changes,
 * stores, loads and flushes on several CPUs (and a device), every cached translation is a subset
 * of what the page tables allowed WHEN IT WAS FILLED (or last re-walked): never a different pfn,
 * never writable unless the walk found the PTE writable, never dirty unless the walk found or set
 * D. Translations change only when the hardware walks; otherwise they may go stale, which is
 * exactly what Linux has to flush.
 *
 * Fill events are observed from outside: a walk is visible as `counters.hwWalks` moving, and the
 * PTE read back from memory right after the access is what that walk saw plus the A/D bits it set.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/hw/counters.ts';
import { Cpu } from '../../src/hw/cpu.ts';
import { setPte } from '../../src/hw/pagetable.ts';
import { PhysMem } from '../../src/hw/physmem.ts';
import {
  mkcleanHi,
  mkcleanLo,
  mkHi,
  mkLo,
  mkwriteHi,
  mkwriteLo,
  PTE_ACCESSED,
  PTE_DIRTY,
  PTE_HI_SAVED_DIRTY,
  PTE_PRESENT,
  PTE_RW,
  PTE_USER,
  wrprotectHi,
  wrprotectLo,
} from '../../src/hw/pte.ts';
import { SecondaryMmu } from '../../src/hw/secondary-mmu.ts';
import { StoreLog } from '../../src/hw/storelog.ts';
import { TLBF_DIRTY, TLBF_WRITABLE, type Tlb, type TlbConfig } from '../../src/hw/tlb.ts';
import { entry64 } from './fixture.ts';

const MMS = [1, 2];
// A few pages, two of them above 2^32 bytes and one near the top of the 47-bit space.
const VPNS = [0, 1, 2, 3, 511, 512, 2 ** 20 + 5, 2 ** 35 - 1];
const NCPU = 3;
const NFRAMES = 6;

type Op =
  | { k: 'map'; mm: number; v: number; f: number; flags: number; sd: boolean }
  | { k: 'wrprotect'; mm: number; v: number; ss: boolean }
  | { k: 'clean'; mm: number; v: number }
  | { k: 'clear'; mm: number; v: number }
  | { k: 'mkwrite'; mm: number; v: number }
  | { k: 'store'; c: number; v: number }
  | { k: 'load'; c: number; v: number }
  | { k: 'dev'; mm: number; v: number }
  | { k: 'switch'; c: number; mm: number }
  | { k: 'flushPage'; c: number; mm: number; v: number }
  | { k: 'flushRange'; c: number; mm: number; v: number; n: number }
  | { k: 'flushMm'; c: number; mm: number }
  | { k: 'flushAll'; c: number }
  | { k: 'invalidate'; mm: number; v: number };

const mmA = fc.constantFrom(...MMS);
const vA = fc.nat(VPNS.length - 1);
const cA = fc.nat(NCPU - 1);
const flagBits = [PTE_PRESENT, PTE_RW, PTE_USER, PTE_ACCESSED, PTE_DIRTY];
// Mostly present+user so accesses succeed often; any combination is possible.
const flagsA = fc
  .tuple(fc.nat(31), fc.boolean())
  .map(([r, usual]) =>
    flagBits.reduce((acc, b, i) => acc | ((r >> i) & 1 ? b : 0), usual ? PTE_PRESENT | PTE_USER : 0),
  );
const opA: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('map' as const),
      mm: mmA,
      v: vA,
      f: fc.nat(NFRAMES - 1),
      flags: flagsA,
      sd: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ k: fc.constant('wrprotect' as const), mm: mmA, v: vA, ss: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('clean' as const), mm: mmA, v: vA }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('clear' as const), mm: mmA, v: vA }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('mkwrite' as const), mm: mmA, v: vA }) },
  { weight: 8, arbitrary: fc.record({ k: fc.constant('store' as const), c: cA, v: vA }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('load' as const), c: cA, v: vA }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('dev' as const), mm: mmA, v: vA }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('switch' as const), c: cA, mm: mmA }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('flushPage' as const), c: cA, mm: mmA, v: vA }) },
  {
    weight: 1,
    arbitrary: fc.record({ k: fc.constant('flushRange' as const), c: cA, mm: mmA, v: vA, n: fc.nat(600) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('flushMm' as const), c: cA, mm: mmA }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('flushAll' as const), c: cA }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('invalidate' as const), mm: mmA, v: vA }) },
);
const cfgA: fc.Arbitrary<TlbConfig> = fc.constantFrom<TlbConfig>(
  { entries: 2, ways: 1, replacement: 'lru' },
  { entries: 4, ways: 2, replacement: 'fifo' },
  { entries: 4, ways: 4, replacement: 'random' },
  { entries: 64, ways: 4, replacement: 'lru' },
);

/** What a walk allowed when it filled a translation. */
interface Grant {
  pfn: number;
  writable: boolean;
  dirty: boolean;
}

/** Independent decode of a 4K leaf with BigInt (the machine's tables all use RW|USER upper levels). */
function decode(
  lo: number,
  hi: number,
): { present: boolean; pfn: number; w: boolean; u: boolean; d: boolean } {
  const e = entry64(lo, hi);
  return {
    present: (e & 1n) === 1n,
    pfn: Number((e >> 12n) & ((1n << 40n) - 1n)),
    w: ((e >> 1n) & 1n) === 1n,
    u: ((e >> 2n) & 1n) === 1n,
    d: ((e >> 6n) & 1n) === 1n,
  };
}

/** What a run exercised, so the tests can show the law was not checked vacuously. */
interface Stats {
  /** Return code of every access (store/load/dev), in order. */
  results: number[];
  writableFills: number;
  dirtyFills: number;
  faults: number;
  /** Stores that went through although the PTE in memory no longer allowed them (stale TLB). */
  staleStores: number;
}

function run(cfg: TlbConfig, ops: Op[]): Stats {
  const stats: Stats = { results: [], writableFills: 0, dirtyFills: 0, faults: 0, staleStores: 0 };
  const mem = new PhysMem(8, 2);
  const counters = new Counters();
  const roots = new Map<number, number>(MMS.map((mm) => [mm, mem.allocPageTable()]));
  const frames = mem.allocRam(NFRAMES);
  const cpus = Array.from({ length: NCPU }, (_, i) => new Cpu(i, mem, counters, cfg));
  cpus.forEach((c, i) => {
    const mm = MMS[i % MMS.length]!;
    c.switchMm(mm, roots.get(mm)!);
  });
  const dev = new SecondaryMmu(0, mem, counters, { entries: 4, ways: 2, replacement: 'lru' });
  for (const mm of MMS) dev.bind(mm, roots.get(mm)!);
  const log = new StoreLog(4);
  for (const c of cpus) c.storeLog = log;
  dev.storeLog = log;
  const units: Tlb[] = [...cpus.map((c) => c.tlb), dev.tlb];
  /** Grant per unit, keyed "mm:vpn". */
  const grants: Map<string, Grant>[] = units.map(() => new Map());
  const pteIdx = new Map<string, number>(); // "mm:vpn" -> flat PTE index, once a PTE exists

  const pte = (mm: number, vpn: number): { lo: number; hi: number } | null => {
    const i = pteIdx.get(`${mm}:${vpn}`);
    return i === undefined ? null : { lo: mem.ptLo[i]!, hi: mem.ptHi[i]! };
  };
  const modify = (mm: number, vpn: number, f: (lo: number, hi: number) => [number, number]): void => {
    const i = pteIdx.get(`${mm}:${vpn}`);
    if (i === undefined) return;
    [mem.ptLo[i], mem.ptHi[i]] = f(mem.ptLo[i]!, mem.ptHi[i]!);
  };
  const entryOf = (t: Tlb, mm: number, vpn: number): [number, number] | null => {
    const s = t.peek(mm, vpn);
    return s < 0 ? null : [t.pfn[s]!, t.flags[s]!];
  };

  /** After an access by unit `u` on (mm, vpn): validate and record a fill, or check nothing changed. */
  const afterAccess = (
    u: number,
    mm: number,
    vpn: number,
    walked: boolean,
    before: [number, number] | null,
  ): void => {
    const t = units[u]!;
    const now = entryOf(t, mm, vpn);
    const key = `${mm}:${vpn}`;
    if (!walked) {
      // Without a walk a translation can only be dropped (a fault on a read-only entry), never changed.
      if (now !== null) expect(now).toEqual(before);
      return;
    }
    if (now === null) {
      grants[u]!.delete(key);
      return;
    }
    const p = pte(mm, vpn);
    expect(p).not.toBeNull();
    const d = decode(p!.lo, p!.hi);
    const [pfn, flags] = now;
    const writable = (flags & TLBF_WRITABLE) !== 0;
    const dirty = (flags & TLBF_DIRTY) !== 0;
    expect(d.present).toBe(true);
    expect(d.u).toBe(true);
    expect(pfn).toBe(d.pfn);
    if (writable) expect(d.w).toBe(true);
    if (dirty) expect(d.d).toBe(true);
    grants[u]!.set(key, { pfn, writable: d.w, dirty: d.d });
    if (writable) stats.writableFills++;
    if (dirty) stats.dirtyFills++;
  };

  /** Every cached entry of every unit stays within its grant. */
  const checkAll = (): void => {
    units.forEach((t, u) => {
      for (let i = 0; i < t.nValid; i++) {
        const s = t.validSlots[i]!;
        const g = grants[u]!.get(`${t.mm[s]}:${t.vpn[s]}`);
        expect(g).toBeDefined();
        expect(t.pfn[s]).toBe(g!.pfn);
        if ((t.flags[s]! & TLBF_WRITABLE) !== 0) expect(g!.writable).toBe(true);
        if ((t.flags[s]! & TLBF_DIRTY) !== 0) expect(g!.dirty).toBe(true);
      }
    });
  };

  for (const op of ops) {
    switch (op.k) {
      case 'map': {
        const vpn = VPNS[op.v]!;
        const pfn = frames + op.f;
        pteIdx.set(
          `${op.mm}:${vpn}`,
          setPte(mem, roots.get(op.mm)!, vpn, mkLo(pfn, op.flags), mkHi(pfn, op.sd ? PTE_HI_SAVED_DIRTY : 0)),
        );
        break;
      }
      case 'wrprotect':
        modify(op.mm, VPNS[op.v]!, (lo, hi) => [wrprotectLo(lo, op.ss), wrprotectHi(lo, hi, op.ss)]);
        break;
      case 'clean':
        modify(op.mm, VPNS[op.v]!, (lo, hi) => [mkcleanLo(lo), mkcleanHi(hi)]);
        break;
      case 'clear':
        modify(op.mm, VPNS[op.v]!, () => [0, 0]);
        break;
      case 'mkwrite':
        modify(op.mm, VPNS[op.v]!, (lo, hi) => [mkwriteLo(lo, hi), mkwriteHi(hi)]);
        break;
      case 'store':
      case 'load': {
        const cpu = cpus[op.c]!;
        const vpn = VPNS[op.v]!;
        const mm = cpu.mmId;
        const before = entryOf(cpu.tlb, mm, vpn);
        const walks = counters.hwWalks;
        const logLen = log.length;
        const va = vpn * 4096 + 8;
        const r = op.k === 'store' ? cpu.store8(va, 0x42) : cpu.load8(va);
        const walked = counters.hwWalks !== walks;
        afterAccess(op.c, mm, vpn, walked, before);
        stats.results.push(r);
        if (r === -1) stats.faults++;
        if (op.k === 'store' && r === 0) {
          const p = pte(mm, vpn);
          if (p === null || !decode(p.lo, p.hi).present || !decode(p.lo, p.hi).w) stats.staleStores++;
        }
        if (op.k === 'store') {
          expect(log.length).toBe(r === 0 ? logLen + 1 : logLen);
          if (r === 0) {
            // the store used the cached translation, which was writable+dirty after the access
            const e = entryOf(cpu.tlb, mm, vpn);
            expect(e).not.toBeNull();
            expect(e![1] & (TLBF_WRITABLE | TLBF_DIRTY)).toBe(TLBF_WRITABLE | TLBF_DIRTY);
            expect(log.pfn[logLen]).toBe(e![0]);
            expect(mem.read8(e![0], 8)).toBe(0x42);
            if (!walked) expect(before).not.toBeNull();
          } else {
            expect(cpu.faultAddr).toBe(va);
            expect(cpu.faultWrite).toBe(true);
          }
        } else if (r >= 0) {
          expect(entryOf(cpu.tlb, mm, vpn)).not.toBeNull();
        }
        break;
      }
      case 'dev': {
        const vpn = VPNS[op.v]!;
        const u = units.length - 1;
        const before = entryOf(dev.tlb, op.mm, vpn);
        const walks = counters.hwWalks;
        const r = dev.store8(op.mm, vpn * 4096, 1);
        afterAccess(u, op.mm, vpn, counters.hwWalks !== walks, before);
        stats.results.push(r);
        if (r === -1) stats.faults++;
        else {
          const p = pte(op.mm, vpn);
          if (p === null || !decode(p.lo, p.hi).present || !decode(p.lo, p.hi).w) stats.staleStores++;
        }
        if (r === 0) expect(dev.holdsWritable(op.mm, vpn * 4096)).toBe(true);
        break;
      }
      case 'switch':
        cpus[op.c]!.switchMm(op.mm, roots.get(op.mm)!);
        break;
      case 'flushPage':
        cpus[op.c]!.tlb.flushPage(op.mm, VPNS[op.v]!);
        break;
      case 'flushRange':
        cpus[op.c]!.tlb.flushRange(op.mm, VPNS[op.v]!, VPNS[op.v]! + op.n);
        break;
      case 'flushMm':
        cpus[op.c]!.tlb.flushMm(op.mm);
        break;
      case 'flushAll':
        cpus[op.c]!.tlb.flushAll();
        break;
      case 'invalidate':
        dev.invalidateRange(op.mm, VPNS[op.v]! * 4096, (VPNS[op.v]! + 1) * 4096);
        break;
    }
    checkAll();
  }
  return stats;
}

describe('TLB entries are a subset of what the page tables allowed at fill time', () => {
  it('property: random maps, PTE changes, stores, loads, device writes and flushes on 3 CPUs', () => {
    const total: Stats = { results: [], writableFills: 0, dirtyFills: 0, faults: 0, staleStores: 0 };
    fc.assert(
      fc.property(cfgA, fc.array(opA, { minLength: 1, maxLength: 200, size: 'max' }), (cfg, ops) => {
        const s = run(cfg, ops);
        total.writableFills += s.writableFills;
        total.dirtyFills += s.dirtyFills;
        total.faults += s.faults;
        total.staleStores += s.staleStores;
      }),
      { numRuns: 300 },
    );
    // coverage: the generated runs really filled writable and dirty entries, faulted, and raced
    expect(total.writableFills).toBeGreaterThan(0);
    expect(total.dirtyFills).toBeGreaterThan(0);
    expect(total.faults).toBeGreaterThan(0);
    expect(total.staleStores).toBeGreaterThan(0);
  });
  it('a scripted race through the same harness gives the hardware outcomes of spec section 8', () => {
    const ops: Op[] = [
      { k: 'map', mm: 1, v: 0, f: 0, flags: PTE_PRESENT | PTE_RW | PTE_USER, sd: false },
      { k: 'load', c: 0, v: 0 }, // W, D=0
      { k: 'store', c: 0, v: 0 }, // dirty re-walk
      { k: 'wrprotect', mm: 1, v: 0, ss: true },
      { k: 'store', c: 0, v: 0 }, // stale W+D: goes through
      { k: 'store', c: 2, v: 0 }, // cpu 2 runs mm 1 too: walks and faults
      { k: 'dev', mm: 1, v: 0 }, // device faults
      { k: 'mkwrite', mm: 1, v: 0 },
      { k: 'dev', mm: 1, v: 0 },
      { k: 'clear', mm: 1, v: 0 },
      { k: 'dev', mm: 1, v: 0 }, // device still writes through its stale entry
      { k: 'invalidate', mm: 1, v: 0 },
      { k: 'dev', mm: 1, v: 0 },
    ];
    const s = run({ entries: 4, ways: 2, replacement: 'lru' }, ops);
    // load -> 0 (byte value), re-walk store ok, stale store ok, cpu2 faults, device faults,
    // device ok after mkwrite, stale device write ok after clear, device faults after invalidation
    expect(s.results).toEqual([0, 0, 0, -1, -1, 0, 0, -1]);
    expect(s.staleStores).toBe(2);
  });
});
