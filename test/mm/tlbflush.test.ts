/** TLB shootdown (spec §8 last bullet) and deferred-flush bookkeeping (spec §9). */
import { describe, expect, it } from 'vitest';
import { PTE_PRESENT, PTE_RW, PTE_USER } from '../../src/hw/pte.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { KTask } from '../../src/mm/kernel.ts';
import { storeFast } from '../../src/mm/memory.ts';
import type { MmStruct } from '../../src/mm/mm-types.ts';
import { mmCreate, switchMm } from '../../src/mm/mmap.ts';
import { mmuNotifierRegister } from '../../src/mm/mmu-notifier.ts';
import {
  decTlbFlushPending,
  flushTlbMm,
  flushTlbPage,
  flushTlbRange,
  incTlbFlushPending,
  mmTlbFlushNested,
  mmTlbFlushPending,
} from '../../src/mm/tlbflush.ts';
import type { TlbFlushEvent } from '../../src/trace/schema.ts';
import { TraceSink } from '../../src/trace/sink.ts';
import { kernel, mapFile, PAGE } from './fixtures.ts';

/** 4 CPUs; CPUs 0..2 ran `mm` and wrote its 64 pages (so each caches them); CPU 3 never ran it. */
function setup(ceiling?: number) {
  const trace = new TraceSink();
  const k = kernel(4, { trace, ...(ceiling !== undefined ? { tlbFlushCeiling: ceiling } : {}) });
  const f = new AddressSpace(k, 'shm', false, 64);
  const mm = mmCreate(k, 'A');
  const v = mapFile(k, mm, f, { pages: 64 });
  for (let c = 0; c < 3; c++) {
    switchMm(k, c, mm);
    k.setCurrent(new KTask(`t${c}`, c));
    for (let p = 0; p < 64; p++) expect(storeFast(k, k.cpus[c]!, mm, v.start + p * PAGE, 1)).toBe(0);
  }
  k.counters.reset();
  trace.events.length = 0;
  return { k, mm, v, trace };
}

const cached = (k: ReturnType<typeof setup>['k'], c: number, mm: MmStruct, addr: number) =>
  k.cpus[c]!.tlb.peek(mm.id, Math.floor(addr / PAGE)) >= 0;

describe('flushTlbRange', () => {
  it('<= 33 pages: ranged (per page) flush of exactly that range on every CPU of mm_cpumask', () => {
    const { k, mm, v } = setup();
    expect(mm.cpumask.toArray()).toEqual([0, 1, 2]);
    k.setCurrent(new KTask('t1', 1));
    flushTlbRange(k, mm, v.start + 4 * PAGE, v.start + 37 * PAGE); // 33 pages
    expect(k.counters.tlbFlushRange).toBe(3);
    expect(k.counters.tlbFlushMm).toBe(0);
    expect(k.counters.tlbEntriesDropped).toBe(3 * 33);
    for (let c = 0; c < 3; c++) {
      expect(cached(k, c, mm, v.start + 3 * PAGE)).toBe(true);
      expect(cached(k, c, mm, v.start + 4 * PAGE)).toBe(false);
      expect(cached(k, c, mm, v.start + 36 * PAGE)).toBe(false);
      expect(cached(k, c, mm, v.start + 37 * PAGE)).toBe(true);
    }
  });

  it('> 33 pages: the whole mm is flushed instead', () => {
    const { k, mm, v } = setup();
    k.setCurrent(new KTask('t0', 0));
    flushTlbRange(k, mm, v.start + 4 * PAGE, v.start + 38 * PAGE); // 34 pages
    expect(k.counters.tlbFlushMm).toBe(3);
    expect(k.counters.tlbFlushRange).toBe(0);
    for (let c = 0; c < 3; c++) expect(cached(k, c, mm, v.start + 63 * PAGE)).toBe(false);
  });

  it('the ceiling is tunable', () => {
    const { k, mm, v } = setup(4);
    k.setCurrent(new KTask('t0', 0));
    flushTlbRange(k, mm, v.start, v.start + 4 * PAGE);
    expect(k.counters.tlbFlushRange).toBe(3);
    flushTlbRange(k, mm, v.start, v.start + 5 * PAGE);
    expect(k.counters.tlbFlushMm).toBe(3);
  });

  it('IPIs go to every CPU in mm_cpumask except the local one; a device context IPIs all of them', () => {
    const { k, mm, v, trace } = setup();
    k.setCurrent(new KTask('t2', 2));
    flushTlbPage(k, mm, v.start);
    expect(k.counters.ipis).toBe(2);
    expect(k.counters.tlbFlushPage).toBe(3);
    const ev = trace.events.filter((e): e is TlbFlushEvent => e.kind === 'tlbFlush');
    expect(ev.map((e) => [e.unit, e.ipi])).toEqual([
      ['cpu0', true],
      ['cpu1', true],
      ['cpu2', false],
    ]);
    k.counters.reset();
    k.setCurrent(new KTask('kworker', -1));
    flushTlbRange(k, mm, v.start, v.start + 8 * PAGE);
    expect(k.counters.ipis).toBe(3);
    k.counters.reset();
    k.setCurrent(new KTask('t3', 3)); // CPU 3 never ran mm: not flushed, every mask CPU IPI'd
    flushTlbMm(k, mm);
    expect(k.counters.ipis).toBe(3);
    expect(k.counters.tlbFlushMm).toBe(3);
  });

  it('an empty range flushes nothing', () => {
    const { k, mm, v } = setup();
    flushTlbRange(k, mm, v.start, v.start);
    const c = k.counters;
    expect([c.tlbFlushPage, c.tlbFlushRange, c.tlbFlushMm, c.ipis, c.tlbEntriesDropped]).toEqual([
      0, 0, 0, 0, 0,
    ]);
    expect(cached(k, 0, mm, v.start)).toBe(true);
  });

  it('calls the secondary-TLB arch hook after the CPU TLBs are flushed', () => {
    const { k, mm, v } = setup();
    const seen: Array<[number, number, boolean]> = [];
    mmuNotifierRegister(mm, {
      name: 'iommu',
      archInvalidateSecondaryTlbs(m, s, e) {
        expect(m).toBe(mm);
        seen.push([s, e, cached(k, 0, mm, v.start + PAGE)]);
      },
    });
    k.setCurrent(new KTask('t0', 0));
    flushTlbRange(k, mm, v.start + PAGE, v.start + 3 * PAGE);
    expect(seen).toEqual([[v.start + PAGE, v.start + 3 * PAGE, false]]);
    flushTlbMm(k, mm);
    expect(seen).toHaveLength(2);
  });
});

describe('tlb_flush_pending (spec §9)', () => {
  it('pending = count != 0, nested = count > 1; underflow throws', () => {
    const k = kernel(1);
    const mm = mmCreate(k, 'A');
    expect([mmTlbFlushPending(mm), mmTlbFlushNested(mm)]).toEqual([false, false]);
    incTlbFlushPending(mm);
    expect([mmTlbFlushPending(mm), mmTlbFlushNested(mm)]).toEqual([true, false]);
    incTlbFlushPending(mm);
    expect([mmTlbFlushPending(mm), mmTlbFlushNested(mm)]).toEqual([true, true]);
    decTlbFlushPending(mm);
    expect([mmTlbFlushPending(mm), mmTlbFlushNested(mm)]).toEqual([true, false]);
    decTlbFlushPending(mm);
    expect(mm.tlbFlushPending).toBe(0);
    expect(() => decTlbFlushPending(mm)).toThrow(/underflow/);
  });

  it('is per mm', () => {
    const k = kernel(1);
    const a = mmCreate(k, 'A');
    const b = mmCreate(k, 'B');
    incTlbFlushPending(a);
    expect(mmTlbFlushPending(b)).toBe(false);
  });
});

it('setup maps shmem pages writable directly (no write-notify)', () => {
  const { k, mm, v } = setup();
  const s = k.cpus[0]!.tlb.peek(mm.id, v.start / PAGE);
  expect(s).toBeGreaterThanOrEqual(0);
  expect(v.pageProt & (PTE_PRESENT | PTE_RW | PTE_USER)).toBe(PTE_PRESENT | PTE_RW | PTE_USER);
});
