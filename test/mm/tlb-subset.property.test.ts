/**
 * The law at the mm level: random sequences of mmap/munmap, mprotect, madvise, stores,
 * loads (with their faults) and TLB flushes on several CPUs keep every TLB entry a subset of what
 * the page tables allowed when it was filled: checked on every `tlbFill` trace event (the PTE in
 * memory at that moment must be present, map the same PFN, be writable if the fill is, dirty if
 * the fill is), and after every completed operation (Linux flushes before a syscall or fault
 * returns, so no CPU may still cache a writable or dirty translation the PTE no longer grants,
 * nor any translation to another PFN). Shared mappings also stay coherent: a load through any
 * shared alias returns the last byte stored through any other.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runToCompletion } from '../../src/checker/task.ts';
import { entryIndexAt } from '../../src/hw/pagetable.ts';
import {
  entryHuge,
  LEVEL_PMD,
  LEVEL_PTE,
  PTE_PRESENT,
  PTE_RW,
  pfn2m,
  pfn4k,
  pteDirty,
} from '../../src/hw/pte.ts';
import { TLBF_DIRTY, TLBF_WRITABLE } from '../../src/hw/tlb.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { type Kernel, KTask } from '../../src/mm/kernel.ts';
import { storeFast, userLoad8 } from '../../src/mm/memory.ts';
import type { MmStruct, Vma } from '../../src/mm/mm-types.ts';
import {
  doMprotect,
  doMunmap,
  madviseDontneed,
  mmCreate,
  PROT_READ,
  PROT_WRITE,
  switchMm,
} from '../../src/mm/mmap.ts';
import { flushTlbRange } from '../../src/mm/tlbflush.ts';
import type { TraceEvent } from '../../src/trace/schema.ts';
import { TraceSink } from '../../src/trace/sink.ts';
import { kernel, mapFile, PAGE, pfnDriver } from './fixtures.ts';

const PAGES = 6;
const CPUS = 3;

/** The leaf entry (4K PTE or huge PMD) translating `vpn`, as [lo, hi, pfn] or null. */
function leaf(k: Kernel, root: number, vpn: number): [number, number, number] | null {
  const pmd = entryIndexAt(k.mem, root, vpn, LEVEL_PMD, k.levels, false);
  if (pmd < 0) return null;
  const plo = k.mem.ptLo[pmd]!;
  if ((plo & PTE_PRESENT) === 0) return null;
  if (entryHuge(plo)) return [plo, k.mem.ptHi[pmd]!, pfn2m(plo, k.mem.ptHi[pmd]!) + (vpn & 511)];
  const i = entryIndexAt(k.mem, root, vpn, LEVEL_PTE, k.levels, false);
  const lo = k.mem.ptLo[i]!;
  if ((lo & PTE_PRESENT) === 0) return null;
  return [lo, k.mem.ptHi[i]!, pfn4k(lo, k.mem.ptHi[i]!)];
}

/** Trace sink that checks every fill against the page tables at the moment of the fill. */
class FillChecker extends TraceSink {
  roots = new Map<number, number>();
  k: Kernel | null = null;
  fills = 0;
  override emit(e: Parameters<TraceSink['emit']>[0]): void {
    if ((e as TraceEvent).kind === 'tlbFill' && this.k !== null) {
      const f = e as Extract<TraceEvent, { kind: 'tlbFill' }>;
      this.fills++;
      const l = leaf(this.k, this.roots.get(f.mm)!, f.addr / PAGE);
      if (l === null)
        throw new Error(`fill of ${f.unit} mm${f.mm} 0x${f.addr.toString(16)} from a non-present PTE`);
      if (l[2] !== f.pfn) throw new Error(`fill pfn ${f.pfn} but PTE maps ${l[2]}`);
      if (f.writable && (l[0] & PTE_RW) === 0) throw new Error('writable fill from a read-only PTE');
      if (f.dirty && !pteDirty(l[0], l[1])) throw new Error('dirty fill from a clean PTE');
    }
    // keep memory flat: nothing else needs the events
  }
}

/** No CPU caches a translation the page tables do not grant (now). */
function checkTlbs(k: Kernel, roots: Map<number, number>): void {
  for (const cpu of [...k.cpus]) {
    const t = cpu.tlb;
    for (let j = 0; j < t.nValid; j++) {
      const s = t.validSlots[j]!;
      const vpn = t.vpn[s]!;
      const root = roots.get(t.mm[s]!)!;
      const l = leaf(k, root, vpn);
      const where = `cpu${cpu.id} mm${t.mm[s]} 0x${(vpn * PAGE).toString(16)}`;
      expect(l, `${where} cached but not mapped`).not.toBeNull();
      expect(l![2], `${where} pfn`).toBe(t.pfn[s]);
      if ((t.flags[s]! & TLBF_WRITABLE) !== 0) expect(l![0] & PTE_RW, `${where} writable`).toBe(PTE_RW);
      if ((t.flags[s]! & TLBF_DIRTY) !== 0) expect(pteDirty(l![0], l![1]), `${where} dirty`).toBe(true);
    }
  }
}

type Op =
  | { op: 'store'; cpu: number; m: number; r: number; page: number; v: number }
  | { op: 'load'; cpu: number; m: number; r: number; page: number }
  | { op: 'switch'; cpu: number; m: number }
  | { op: 'mprotect'; cpu: number; m: number; r: number; page: number; n: number; write: boolean }
  | { op: 'madvise'; cpu: number; m: number; r: number; page: number; n: number }
  | { op: 'remap'; cpu: number; m: number; r: number }
  | { op: 'flush'; cpu: number; m: number; r: number; page: number; n: number };

const cpuA = fc.integer({ min: 0, max: CPUS - 1 });
const mA = fc.integer({ min: 0, max: 1 });
const rA = fc.integer({ min: 0, max: 2 }); // 0 shared file, 1 private file, 2 PFNMAP device
const pageA = fc.integer({ min: 0, max: PAGES - 1 });
const nA = fc.integer({ min: 1, max: PAGES });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant('store' as const),
      cpu: cpuA,
      m: mA,
      r: rA,
      page: pageA,
      v: fc.integer({ min: 1, max: 255 }),
    }),
    weight: 6,
  },
  {
    arbitrary: fc.record({ op: fc.constant('load' as const), cpu: cpuA, m: mA, r: rA, page: pageA }),
    weight: 3,
  },
  { arbitrary: fc.record({ op: fc.constant('switch' as const), cpu: cpuA, m: mA }), weight: 2 },
  {
    arbitrary: fc.record({
      op: fc.constant('mprotect' as const),
      cpu: cpuA,
      m: mA,
      r: rA,
      page: pageA,
      n: nA,
      write: fc.boolean(),
    }),
    weight: 2,
  },
  {
    arbitrary: fc.record({
      op: fc.constant('madvise' as const),
      cpu: cpuA,
      m: mA,
      r: rA,
      page: pageA,
      n: nA,
    }),
    weight: 1,
  },
  { arbitrary: fc.record({ op: fc.constant('remap' as const), cpu: cpuA, m: mA, r: rA }), weight: 1 },
  {
    arbitrary: fc.record({ op: fc.constant('flush' as const), cpu: cpuA, m: mA, r: rA, page: pageA, n: nA }),
    weight: 1,
  },
);

function run(ops: Op[]): void {
  const sink = new FillChecker();
  const k = kernel(CPUS, { trace: sink });
  sink.k = k;
  const shared = new AddressSpace(k, 'disk', true, PAGES);
  const dev = pfnDriver(k, PAGES);
  const mms: MmStruct[] = [mmCreate(k, 'A'), mmCreate(k, 'B')];
  for (const mm of mms) sink.roots.set(mm.id, mm.root);
  // regions: [m][r] -> fixed address so a remap lands at the same place
  const base = (m: number, r: number) => 0x10_0000_0000 + r * 0x1000_0000 + m * 0x40_0000 + 510 * PAGE; // straddles a PTE table
  const mapRegion = (m: number, r: number): Vma =>
    mapFile(k, mms[m]!, r === 2 ? dev.file : shared, { pages: PAGES, shared: r !== 1, addr: base(m, r) });
  const region: Vma[][] = [0, 1].map((m) => [0, 1, 2].map((r) => mapRegion(m, r)));
  const running = [0, 1, 0];
  const tasks = Array.from({ length: CPUS }, (_, c) => new KTask(`t${c}`, c));
  for (let c = 0; c < CPUS; c++) switchMm(k, c, mms[running[c]!]!);
  const writable: boolean[][][] = [0, 1].map(() => [0, 1, 2].map(() => Array(PAGES).fill(true)));
  // shadow of byte 8 of each page of the shared file (r=0) and of the device (r=2)
  const shadow = [Array(PAGES).fill(0), [], Array(PAGES).fill(0)] as number[][];

  for (const o of ops) {
    k.setCurrent(tasks[o.cpu]!);
    const cpu = k.cpus[o.cpu]!;
    if (o.op === 'switch') {
      running[o.cpu] = o.m;
      switchMm(k, o.cpu, mms[o.m]!);
      continue;
    }
    // user accesses happen in the mm the CPU runs
    const m = o.op === 'store' || o.op === 'load' ? running[o.cpu]! : o.m;
    const mm = mms[m]!;
    const v = region[m]![o.r]!;
    switch (o.op) {
      case 'store': {
        const r = storeFast(k, cpu, mm, v.start + o.page * PAGE + 8, o.v);
        expect(r === 0).toBe(writable[m]![o.r]![o.page]);
        if (r === 0 && o.r !== 1) shadow[o.r]![o.page] = o.v;
        break;
      }
      case 'load': {
        const got = runToCompletion(userLoad8(k, cpu, mm, v.start + o.page * PAGE + 8));
        expect(got).toBeGreaterThanOrEqual(0);
        if (o.r !== 1) expect(got).toBe(shadow[o.r]![o.page]);
        break;
      }
      case 'mprotect': {
        const n = Math.min(o.n, PAGES - o.page);
        const prot = PROT_READ | (o.write ? PROT_WRITE : 0);
        expect(runToCompletion(doMprotect(k, mm, v.start + o.page * PAGE, n * PAGE, prot))).toBe(0);
        for (let p = o.page; p < o.page + n; p++) writable[m]![o.r]![p] = o.write;
        break;
      }
      case 'madvise':
        runToCompletion(
          madviseDontneed(k, mm, v.start + o.page * PAGE, Math.min(o.n, PAGES - o.page) * PAGE),
        );
        break;
      case 'remap':
        expect(runToCompletion(doMunmap(k, mm, v.start, PAGES * PAGE))).toBe(0);
        region[m]![o.r] = mapRegion(m, o.r);
        writable[m]![o.r]!.fill(true);
        break;
      case 'flush':
        flushTlbRange(k, mm, v.start + o.page * PAGE, v.start + (o.page + o.n) * PAGE);
        break;
    }
    checkTlbs(k, sink.roots);
    for (const mmx of mms) {
      expect(mmx.tlbFlushPending).toBe(0);
      expect(mmx.activeInvalidations).toBe(0);
    }
  }
  expect(k.warnings).toEqual([]);
}

describe('TLB entries stay a subset of the page tables (mm level, property)', () => {
  it('random maps, stores, loads, mprotect, madvise, munmap and flushes on 3 CPUs', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), (ops) => run(ops)),
      { numRuns: 150 },
    );
  });

  it('the checks are not vacuous: fills are seen, and a write-protect without a flush is caught', () => {
    const sink = new FillChecker();
    const k = kernel(1, { trace: sink });
    sink.k = k;
    const f = new AddressSpace(k, 'shm', false, 2);
    const mm = mmCreate(k, 'A');
    sink.roots.set(mm.id, mm.root);
    const v = mapFile(k, mm, f, { pages: 2 });
    switchMm(k, 0, mm);
    k.setCurrent(new KTask('t', 0));
    expect(storeFast(k, k.cpus[0]!, mm, v.start, 1)).toBe(0);
    expect(sink.fills).toBeGreaterThan(0);
    checkTlbs(k, sink.roots);
    const i = entryIndexAt(k.mem, mm.root, v.start / PAGE, LEVEL_PTE, 4, false);
    k.mem.ptLo[i] = k.mem.ptLo[i]! & ~PTE_RW; // write-protect WITHOUT a flush (a kernel bug)
    expect(() => checkTlbs(k, sink.roots)).toThrow(/writable/);
    k.mem.ptLo[i] = 0; // and a zap without a flush
    expect(() => checkTlbs(k, sink.roots)).toThrow(/not mapped/);
    // a fill from a PTE that does not allow it is reported by the sink
    expect(() =>
      sink.emit({
        kind: 'tlbFill',
        unit: 'cpu0',
        mm: mm.id,
        addr: v.start,
        pfn: 1,
        writable: true,
        dirty: true,
      }),
    ).toThrow(/non-present/);
  });
});
