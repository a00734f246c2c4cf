/**
 * One fixed, hand-written story per helper variant (explore mode, deterministic stepping),
 * showing its behavioural difference from mainline; every story is also run on mainline, which
 * must NOT show the failure. Failures are judged with the ground-truth laws (test/laws).
 */
import { describe, expect, it } from 'vitest';
import type { KGen } from '../../src/checker/task.ts';
import { entryIndexAt } from '../../src/hw/pagetable.ts';
import { LEVEL_PMD, PTE_DIRTY, PTE_RW } from '../../src/hw/pte.ts';
import { TLBF_WRITABLE } from '../../src/hw/tlb.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { bitmapAlloc, bitmapToList } from '../../src/mm/bitmap.ts';
import { insertPfnPmd } from '../../src/mm/huge.ts';
import { Kernel, KTask } from '../../src/mm/kernel.ts';
import {
  createDirtyHelpers,
  HELPER_VARIANTS,
  type HelperVariantName,
} from '../../src/mm/mapping-dirty-helpers.ts';
import { userLoad8, userStore8 } from '../../src/mm/memory.ts';
import { mmCreate, PROT_READ, switchMm } from '../../src/mm/mmap.ts';
import { DirtyLaws } from '../laws/dirty-laws.ts';
import { mapFile, pfnDriver, pte, stepUntil } from './fixtures.ts';
import { addrOf, attachDevice, runAll, type World, world } from './helpers-fixtures.ts';

const kworker = (n: string) => new KTask(n, -1);

function storeGen(w: World, cpu: number, page: number): KGen<number> {
  const mm = cpu % 2 === 0 ? w.a : w.b;
  const vma = cpu % 2 === 0 ? w.va : w.vb;
  return userStore8(w.k, w.k.cpus[cpu]!, mm, addrOf(vma, page), page);
}
function store(w: World, cpu: number, page: number): number {
  return runAll(w.k, [[w.cpuTasks[cpu]!, storeGen(w, cpu, page)]])[0] as number;
}
function load(w: World, cpu: number, page: number): void {
  const vma = cpu % 2 === 0 ? w.va : w.vb;
  runAll(w.k, [[w.cpuTasks[cpu]!, userLoad8(w.k, w.k.cpus[cpu]!, vma.mm, addrOf(vma, page))]]);
}
function cleanAll(w: World, variant: HelperVariantName, bm: Uint32Array): number {
  const h = createDirtyHelpers(variant);
  w.laws.register({ name: 'bm', bitmap: bm, bitmapPgoff: 0, nbits: 16 });
  const g = h.cleanRecordSharedMappingRange(w.k, w.file, 0, 16, 0, bm, { start: 16, end: 0 });
  return runAll(w.k, [[kworker('scanner'), g]])[0] as number;
}

/**
 * R2: the split read / set_pte_at write-back. Page 5 is writable and clean in mm A (a load, then
 * cpu0's TLB caches it writable+clean). wp reads the PTE; before it writes back, cpu0 stores:
 * the CPU re-walks and sets D. The write-back installs the stale clean value: D is gone, and the
 * next clean_record does not record the page.
 */
function lostDirtyStory(variant: HelperVariantName) {
  const w = world({ explore: true });
  load(w, 0, 5);
  const h = createDirtyHelpers(variant);
  const wp = h.wpSharedMappingRange(w.k, w.file, 5, 1);
  const t = kworker('wp');
  // Run wp until it has read the PTE of page 5 (the first PTE it visits).
  const r = stepUntil(w.k, t, wp, () => w.k.counters.ptesVisited >= 1);
  expect(r.done).toBe(false);
  // cpu0 stores now, then everything finishes (the store faults and waits for the PTL on mainline).
  runAll(w.k, [
    [w.cpuTasks[0]!, storeGen(w, 0, 5)],
    [t, wp],
  ]);
  const bm = bitmapAlloc(16);
  cleanAll(w, variant, bm);
  return { w, bits: bitmapToList(bm, 16), lost: w.laws.checkNoLostWrite() };
}

/** R1: a writable+dirty TLB entry survives wp when nothing is flushed. */
function staleTlbStory(variant: HelperVariantName) {
  const w = world({ explore: true });
  expect(store(w, 0, 3)).toBe(0); // cpu0 caches page 3 writable+dirty
  const h = createDirtyHelpers(variant);
  runAll(w.k, [[kworker('wp'), h.wpSharedMappingRange(w.k, w.file, 0, 16)]]);
  const complete = w.laws.checkWpComplete(0, 16);
  const f0 = w.k.counters.faultsWpShared;
  expect(store(w, 0, 3)).toBe(0);
  return { complete, faults: w.k.counters.faultsWpShared - f0 };
}

/** R3: a secondary MMU keeps its writable translation unless the notifier tells it. */
function secondaryStory(variant: HelperVariantName) {
  const w = world({ explore: true });
  const dev = attachDevice(w.k, w.a);
  expect(store(w, 0, 2)).toBe(0); // the PTE becomes writable; the device then caches it
  expect(dev.store8(w.a.id, addrOf(w.va, 2), 1)).toBe(0);
  const h = createDirtyHelpers(variant);
  runAll(w.k, [[kworker('wp'), h.wpSharedMappingRange(w.k, w.file, 0, 16)]]);
  const laws = new DirtyLaws(w.k, w.file, [w.a, w.b], [dev]);
  return { complete: laws.checkWpComplete(0, 16), deviceWrite: dev.store8(w.a.id, addrOf(w.va, 2), 2) };
}

/**
 * R5 (Peter Zijlstra): wp1 clears RW on page 4 and stops before its flush (PTLs dropped). wp2 on
 * the same page finds it read-only, changes nothing and returns. cpu0 still caches page 4
 * writable: unless wp2 flushed its whole range because a flush was pending (nested), it writes
 * without a fault after wp2 "completed".
 */
function nestedStory(variant: HelperVariantName) {
  const w = world({ explore: true });
  expect(store(w, 0, 4)).toBe(0);
  const h = createDirtyHelpers(variant);
  const t1 = kworker('wp1');
  const wp1 = h.wpSharedMappingRange(w.k, w.file, 4, 1);
  // Step wp1 until page 4's PTE lost RW in mm A (then one more step: the PTL is released).
  const a4 = addrOf(w.va, 4);
  const r = stepUntil(w.k, t1, wp1, () => (pte(w.k, w.a, a4)[0] & PTE_RW) === 0);
  expect(r.done).toBe(false);
  const pending = w.a.tlbFlushPending;
  const n2 = runAll(w.k, [[kworker('wp2'), h.wpSharedMappingRange(w.k, w.file, 4, 1)]])[0] as number;
  const complete = w.laws.checkWpComplete(4, 1);
  const s = w.k.cpus[0]!.tlb.peek(w.a.id, a4 / 4096);
  const staleWritable = s >= 0 && (w.k.cpus[0]!.tlb.flags[s]! & TLBF_WRITABLE) !== 0;
  const f0 = w.k.counters.faultsWpShared;
  expect(store(w, 0, 4)).toBe(0);
  const faults = w.k.counters.faultsWpShared - f0;
  runAll(w.k, [[t1, wp1]]);
  return { pending, n2, complete, staleWritable, faults };
}

/** R6: a private COW page at the same offset. */
function cowStory(variant: HelperVariantName) {
  const k = new Kernel({ cpus: 2, storeLog: true, explore: true });
  const file = new AddressSpace(k, 'file', false, 8);
  const a = mmCreate(k, 'A');
  const p = mmCreate(k, 'P');
  const va = mapFile(k, a, file, { pages: 8, pgoff: 0 });
  const vp = mapFile(k, p, file, { pages: 8, pgoff: 0, shared: false });
  switchMm(k, 0, a);
  switchMm(k, 1, p);
  runAll(k, [[new KTask('cpu1', 1), userStore8(k, k.cpus[1]!, p, vp.start + 2 * 4096, 9)]]); // COW
  runAll(k, [[new KTask('cpu0', 0), userStore8(k, k.cpus[0]!, a, va.start + 2 * 4096, 1)]]);
  const before = pte(k, p, vp.start + 2 * 4096);
  const h = createDirtyHelpers(variant);
  const n = runAll(k, [[kworker('wp'), h.wpSharedMappingRange(k, file, 0, 8)]])[0] as number;
  return { n, before, after: pte(k, p, vp.start + 2 * 4096) };
}

/** R7: a writable+dirty huge PFN PMD. */
function hugeStory(variant: HelperVariantName) {
  const k = new Kernel({ cpus: 1, storeLog: true, explore: true });
  const drv = pfnDriver(k, 512);
  const mm = mmCreate(k, 'A');
  const BASE = 0x4000_0000;
  const vma = mapFile(k, mm, drv.file, { pages: 512, pgoff: 0, addr: BASE });
  switchMm(k, 0, mm);
  const io = k.mem.allocIo(1023);
  expect(insertPfnPmd(k, vma, BASE, io + ((512 - (io % 512)) % 512), true)).toBe(true);
  const pmdI = entryIndexAt(k.mem, mm.root, BASE / 4096, LEVEL_PMD, 4, false);
  const h = createDirtyHelpers(variant);
  runAll(k, [[kworker('wp'), h.wpSharedMappingRange(k, drv.file, 0, 512)]]);
  const bm = bitmapAlloc(512);
  const n = runAll(k, [
    [kworker('scan'), h.cleanRecordSharedMappingRange(k, drv.file, 0, 512, 0, bm, { start: 512, end: 0 })],
  ])[0] as number;
  return { pmd: k.mem.ptLo[pmdI]!, n, bits: bitmapToList(bm, 512).length, warnings: k.warnings };
}

/** Q1: a read-only shared VMA (O_RDONLY fd) linked before the writable shared one. */
function q1Story(variant: HelperVariantName) {
  const k = new Kernel({ cpus: 1, storeLog: true, explore: true });
  const file = new AddressSpace(k, 'file', false, 8);
  const r = mmCreate(k, 'R');
  const a = mmCreate(k, 'A');
  mapFile(k, r, file, { pages: 8, pgoff: 0, shared: true, fdWritable: false, prot: PROT_READ });
  const va = mapFile(k, a, file, { pages: 8, pgoff: 0 });
  switchMm(k, 0, a);
  runAll(k, [[new KTask('cpu0', 0), userStore8(k, k.cpus[0]!, a, va.start + 6 * 4096, 1)]]);
  const h = createDirtyHelpers(variant);
  const n = runAll(k, [[kworker('wp'), h.wpSharedMappingRange(k, file, 0, 8)]])[0] as number;
  const laws = new DirtyLaws(k, file, [r, a]);
  return { n, complete: laws.checkWpComplete(0, 8) };
}

describe('each variant differs from mainline on its own fixed story', () => {
  it.each<HelperVariantName>(['nonatomic-rmw', 'rfc-2019'])(
    '%s loses a D bit set between the read and the write-back (R2); mainline keeps it',
    (variant) => {
      const bad = lostDirtyStory(variant);
      expect(bad.bits).toEqual([]);
      expect(bad.lost.length).toBe(1);
      expect((pte(bad.w.k, bad.w.a, addrOf(bad.w.va, 5))[0] & PTE_DIRTY) === 0).toBe(true);
      const good = lostDirtyStory('mainline');
      expect(good.bits).toEqual([5]);
      expect(good.lost).toEqual([]);
    },
  );

  it('no-tlb-flush lets a stale writable+dirty TLB entry write after wp without a fault (R1)', () => {
    const bad = staleTlbStory('no-tlb-flush');
    expect(bad.complete).toEqual(['wp: cpu0 caches page 3 of mm1 writable']);
    expect(bad.faults).toBe(0);
    const good = staleTlbStory('mainline');
    expect(good.complete).toEqual([]);
    expect(good.faults).toBe(1);
  });

  it.each<HelperVariantName>(['no-notifier', 'rfc-2019'])(
    '%s leaves a secondary MMU writable after wp (R3)',
    (variant) => {
      const bad = secondaryStory(variant);
      expect(bad.complete).toEqual(['wp: device 0 caches page 2 of mm1 writable']);
      expect(bad.deviceWrite).toBe(0);
      const good = secondaryStory('mainline');
      expect(good.complete).toEqual([]);
      expect(good.deviceWrite).toBe(-1);
    },
  );

  it('no-nested-flush: the second of two concurrent wp calls returns while a CPU still holds a writable entry (R5)', () => {
    const bad = nestedStory('no-nested-flush');
    expect(bad.pending).toBe(1);
    expect(bad.n2).toBe(0); // wp2 found nothing to change
    expect(bad.complete).toEqual(['wp: cpu0 caches page 4 of mm1 writable']);
    expect(bad.staleWritable).toBe(true);
    expect(bad.faults).toBe(0); // the write went through the stale entry
    const good = nestedStory('mainline');
    expect(good.n2).toBe(0);
    expect(good.complete).toEqual([]);
    expect(good.staleWritable).toBe(false);
    expect(good.faults).toBe(1);
  });

  it('no-shared-check write-protects the private COW page at the same offset (R6)', () => {
    const bad = cowStory('no-shared-check');
    expect(bad.n).toBe(2);
    expect(bad.before[0] & PTE_RW).toBe(PTE_RW);
    expect(bad.after[0] & PTE_RW).toBe(0);
    const good = cowStory('mainline');
    expect(good.n).toBe(1);
    expect(good.after).toEqual(good.before);
  });

  it('split-huge zaps a dirty huge PMD: the dirty state is lost and warned about (R7)', () => {
    const bad = hugeStory('split-huge');
    expect(bad.pmd).toBe(0);
    expect(bad.n).toBe(0);
    expect(bad.warnings.some((s) => s.includes('dirty state lost'))).toBe(true);
    const good = hugeStory('mainline');
    expect(good.pmd & PTE_DIRTY).toBe(PTE_DIRTY);
    expect(good.warnings.some((s) => s.includes('dirty state lost'))).toBe(false);
    expect(good.warnings.filter((s) => s.includes('skipping')).length).toBe(2);
  });

  it('walk-continue protects the shared VMA after a read-only one (Q1); mainline leaves it writable', () => {
    const fixed = q1Story('walk-continue');
    expect(fixed.n).toBe(1);
    expect(fixed.complete).toEqual([]);
    const quirk = q1Story('mainline');
    expect(quirk.n).toBe(0);
    expect(quirk.complete.length).toBe(2); // the PTE and cpu0's TLB entry stay writable
    expect(quirk.complete[0]).toMatch(/PTE of page 6 .* is writable/);
    expect(quirk.complete[1]).toBe('wp: cpu0 caches page 6 of mm2 writable');
  });

  it('every variant is documented with a source and a failure', () => {
    for (const v of Object.values(HELPER_VARIANTS)) {
      expect(v.source.length).toBeGreaterThan(10);
      expect(v.failure.length).toBeGreaterThan(3);
    }
  });
});
