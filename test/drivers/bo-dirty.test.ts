import { describe, expect, it } from 'vitest';
import type { KGen } from '../../src/checker/task.ts';
import { runToCompletion } from '../../src/checker/task.ts';
import {
  type BoResource,
  type BufferObject,
  type MethodPolicy,
  TTM_BO_VM_NUM_PREFAULT,
  VMW_DIRTY_NUM_CHANGE_TRIGGERS,
} from '../../src/drivers/bo-dirty.ts';
import { type BoSystem, buildBoSystem } from '../../src/drivers/consumers.ts';
import { PTE_DIRTY, PTE_PRESENT, PTE_RW } from '../../src/hw/pte.ts';
import { bitmapToList, setBit } from '../../src/mm/bitmap.ts';
import { handleMmFault, userLoad8, userStore8 } from '../../src/mm/memory.ts';
import {
  FAULT_FLAG_DEFAULT,
  FAULT_FLAG_RETRY_NOWAIT,
  FAULT_FLAG_TRIED,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  VM_FAULT_NOPAGE,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  type VmFault,
} from '../../src/mm/mm-types.ts';
import { doMmap, EINVAL, PROT_READ, unmapMappingRange } from '../../src/mm/mmap.ts';
import { finish } from '../mm/fixtures.ts';
import { as, bopte, boStore } from './helpers.ts';

/** Run `body` with the BO reserved, as the GPU's submitting task. */
function reserved<T>(s: BoSystem, bo: BufferObject, body: () => KGen<T>): T {
  return as(
    s.k,
    s.gpu.task,
    (function* () {
      yield* bo.resv.lock();
      const r = yield* body();
      bo.resv.unlock();
      return r;
    })(),
  );
}

/** Run a plain (non-generator) tracker operation with the BO reserved. */
function locked(s: BoSystem, bo: BufferObject, body: () => void): void {
  reserved(s, bo, function* () {
    yield* [];
    body();
  });
}

function add(s: BoSystem, bo: BufferObject, policy: MethodPolicy = 'auto'): void {
  reserved(s, bo, () => s.dev.dirtyAdd(bo, policy));
}
function scan(s: BoSystem, bo: BufferObject): void {
  reserved(s, bo, () => s.dev.dirtyScan(bo));
}
function bits(bo: BufferObject): number[] {
  return bitmapToList(bo.dirty!.bitmap, bo.pages);
}
function res(name: string, first: number, pages: number, log: [number, number][] = []): BoResource {
  return {
    name,
    guestMemoryOffset: first * 4096,
    guestMemorySize: pages * 4096,
    dirtyUpdate: (a, b) => {
      log.push([a, b]);
    },
  };
}

describe('bo-dirty: creation', () => {
  it('picks PAGETABLE below 512 pages and MKWRITE from 512 on', () => {
    const s = buildBoSystem({ cpus: 1, bos: [511, 512] });
    add(s, s.bos[0]!);
    add(s, s.bos[1]!);
    expect(s.bos[0]!.dirty!.method).toBe('pagetable');
    expect(s.bos[1]!.dirty!.method).toBe('mkwrite');
  });

  it('MKWRITE creation write-protects existing mappings and records pages already dirtied', () => {
    const s = buildBoSystem({ cpus: 1, bos: [600] });
    const bo = s.bos[0]!;
    boStore(s, 0, 0, 7, 1); // no tracker yet: writable PTE, hardware dirty
    expect(bopte(s, 0, 0, 7) & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW | PTE_DIRTY);
    add(s, bo);
    expect(bits(bo)).toEqual([7]);
    expect(bopte(s, 0, 0, 7) & (PTE_RW | PTE_DIRTY)).toBe(0);
    expect(bo.dirty!.start).toBe(7);
    expect(bo.dirty!.end).toBe(8);
  });

  it('a second add takes a reference; the last release frees the tracker', () => {
    const s = buildBoSystem({ cpus: 1, bos: [8] });
    const bo = s.bos[0]!;
    add(s, bo);
    add(s, bo);
    expect(bo.dirty!.refCount).toBe(2);
    locked(s, bo, () => s.dev.dirtyRelease(bo));
    expect(bo.dirty).not.toBeNull();
    locked(s, bo, () => s.dev.dirtyRelease(bo));
    expect(bo.dirty).toBeNull();
  });

  it('tracker operations assert the reservation', () => {
    const s = buildBoSystem({ cpus: 1, bos: [8] });
    add(s, s.bos[0]!);
    expect(() => as(s.k, s.gpu.task, s.dev.dirtyScan(s.bos[0]!))).toThrow(/lockdep/);
  });

  it('mmap refuses COW (private writable) mappings', () => {
    const s = buildBoSystem({ cpus: 1, bos: [8] });
    const r = runToCompletion(
      doMmap(s.k, s.mms[0]!, s.dev.mapping, {
        length: 8 * 4096,
        prot: PROT_READ,
        shared: false,
        pgoff: 0,
        fdWritable: true,
      }),
    );
    expect(r).toBe(-EINVAL);
  });
});

describe('bo-dirty: fault handlers', () => {
  it('MKWRITE: a write maps read-only, faults into mkwrite, sets the bit, ends writable+dirty', () => {
    const s = buildBoSystem({ cpus: 1, bos: [600] });
    const bo = s.bos[0]!;
    add(s, bo);
    boStore(s, 0, 0, 100, 1);
    expect(bits(bo)).toEqual([100]);
    expect(s.k.counters.mkwriteCalls).toBe(1);
    expect(bopte(s, 0, 0, 100) & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW | PTE_DIRTY);
    // prefault: the next pages are mapped read-only (MKWRITE protection)
    expect(bopte(s, 0, 0, 101) & (PTE_PRESENT | PTE_RW)).toBe(PTE_PRESENT);
    expect(bopte(s, 0, 0, 100 + TTM_BO_VM_NUM_PREFAULT - 1) & PTE_PRESENT).toBe(PTE_PRESENT);
    expect(bopte(s, 0, 0, 100 + TTM_BO_VM_NUM_PREFAULT) & PTE_PRESENT).toBe(0);
  });

  it('PAGETABLE: the fault maps writable, the hardware sets D, nothing is recorded at fault time', () => {
    const s = buildBoSystem({ cpus: 1, bos: [64] });
    const bo = s.bos[0]!;
    add(s, bo);
    boStore(s, 0, 0, 3, 1);
    expect(s.k.counters.mkwriteCalls).toBe(0);
    expect(bits(bo)).toEqual([]);
    expect(bopte(s, 0, 0, 3) & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW | PTE_DIRTY);
    expect(bopte(s, 0, 0, 4) & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW); // prefaulted writable, clean
    scan(s, bo);
    expect(bits(bo)).toEqual([3]);
  });

  it('mkwrite beyond the BO is SIGBUS', () => {
    const s = buildBoSystem({ cpus: 1, bos: [8] });
    const vma = s.vmas[0]![0]!;
    const vmf: VmFault = {
      vma,
      address: vma.start,
      pgoff: 8,
      flags: 0,
      origLo: 0,
      origHi: 0,
      ptep: -1,
      page: -1,
    };
    expect(as(s.k, s.tasks[0]!, s.dev.vmMkwrite(s.k, vmf))).toBe(VM_FAULT_SIGBUS);
  });
});

describe('bo-dirty: switching heuristic', () => {
  it(`PAGETABLE -> MKWRITE after exactly ${VMW_DIRTY_NUM_CHANGE_TRIGGERS + 1} empty scans`, () => {
    const s = buildBoSystem({ cpus: 1, bos: [64] });
    const bo = s.bos[0]!;
    add(s, bo);
    boStore(s, 0, 0, 5, 1);
    scan(s, bo); // finds page 5
    expect(bo.dirty!.changeCount).toBe(0);
    scan(s, bo);
    scan(s, bo);
    expect(bo.dirty!.method).toBe('pagetable');
    expect(bo.dirty!.changeCount).toBe(2);
    scan(s, bo);
    expect(bo.dirty!.method).toBe('mkwrite');
    expect(bo.dirty!.changeCount).toBe(0);
    expect(s.k.counters.methodSwitches).toBe(1);
    // every PTE was write-protected by the switch: the next write goes through mkwrite
    expect(bopte(s, 0, 0, 5) & PTE_RW).toBe(0);
    const calls = s.k.counters.mkwriteCalls;
    boStore(s, 0, 0, 6, 1);
    expect(s.k.counters.mkwriteCalls).toBe(calls + 1);
    expect(bits(bo)).toContain(6);
  });

  it('a non-empty scan resets the count (three empty scans must be consecutive)', () => {
    const s = buildBoSystem({ cpus: 1, bos: [64] });
    const bo = s.bos[0]!;
    add(s, bo);
    scan(s, bo);
    scan(s, bo);
    boStore(s, 0, 0, 1, 1);
    scan(s, bo);
    scan(s, bo);
    scan(s, bo);
    expect(bo.dirty!.method).toBe('pagetable');
    scan(s, bo);
    expect(bo.dirty!.method).toBe('mkwrite');
  });

  /** A 100-page BO driven into MKWRITE by three empty scans, bits consumed. */
  function mkwrite100(): { s: BoSystem; bo: BufferObject; whole: BoResource } {
    const s = buildBoSystem({ cpus: 1, bos: [100] });
    const bo = s.bos[0]!;
    add(s, bo);
    for (let i = 0; i < 3; i++) scan(s, bo);
    expect(bo.dirty!.method).toBe('mkwrite');
    return { s, bo, whole: res('whole', 0, 100) };
  }
  function round(s: BoSystem, bo: BufferObject, whole: BoResource, pages: number): void {
    for (let p = 0; p < pages; p++) boStore(s, 0, 0, p, 1);
    scan(s, bo);
    locked(s, bo, () => s.dev.transferToRes(bo, whole));
  }

  it('10% rule, integer arithmetic: 10 of 100 pages is not > 10; 11 is', () => {
    const { s, bo, whole } = mkwrite100();
    round(s, bo, whole, 10); // 100*10/100 = 10, not > 10
    expect(bo.dirty!.changeCount).toBe(0);
    round(s, bo, whole, 11); // 11 > 10
    expect(bo.dirty!.changeCount).toBe(1);
    round(s, bo, whole, 11);
    expect(bo.dirty!.method).toBe('mkwrite');
    expect(bo.dirty!.changeCount).toBe(2);
    round(s, bo, whole, 11);
    expect(bo.dirty!.method).toBe('pagetable');
    expect(bo.dirty!.changeCount).toBe(0);
  });

  it('MKWRITE -> PAGETABLE marks the whole recorded window dirty (over-approximation)', () => {
    const { s, bo, whole } = mkwrite100();
    round(s, bo, whole, 11);
    round(s, bo, whole, 11);
    for (let p = 20; p < 31; p++) boStore(s, 0, 0, p, 1);
    boStore(s, 0, 0, 40, 1);
    // the last transfer left the (empty) window at start = 11, end = 0; mkwrite only widens it
    // with min/max, so the recorded window is [11, 41), not [20, 41)
    expect([bo.dirty!.start, bo.dirty!.end]).toEqual([11, 41]);
    scan(s, bo);
    expect(bo.dirty!.method).toBe('pagetable');
    expect(bits(bo)).toEqual(Array.from({ length: 30 }, (_, i) => 11 + i));
  });

  it('the 10% rule counts PTEs: 6 pages written through two processes count 12 (quirk Q6)', () => {
    const s = buildBoSystem({ cpus: 2, bos: [100], processes: 'per-cpu' });
    const bo = s.bos[0]!;
    add(s, bo);
    for (let i = 0; i < 3; i++) scan(s, bo);
    expect(bo.dirty!.method).toBe('mkwrite');
    for (let p = 0; p < 6; p++) {
      boStore(s, 0, 0, p, 1);
      boStore(s, 1, 0, p, 2);
    }
    scan(s, bo); // 12 PTEs re-protected: 12% > 10%
    expect(bo.dirty!.changeCount).toBe(1);
  });

  it('a fixed policy never switches', () => {
    const s = buildBoSystem({ cpus: 1, bos: [64] });
    const bo = s.bos[0]!;
    add(s, bo, 'pagetable');
    for (let i = 0; i < 10; i++) scan(s, bo);
    expect(bo.dirty!.method).toBe('pagetable');
  });
});

describe('bo-dirty: resources consume bits', () => {
  function withBits(variant: 'mainline' | 'transfer-max-bug', set: number[]) {
    const s = buildBoSystem({ cpus: 1, bos: [64], variant });
    const bo = s.bos[0]!;
    add(s, bo, 'mkwrite');
    const d = bo.dirty!;
    for (const b of set) {
      setBit(d.bitmap, b);
      d.start = Math.min(d.start, b);
      d.end = Math.max(d.end, b + 1);
    }
    return { s, bo, d };
  }

  it('window edges after transfers (hand-computed)', () => {
    const { s, bo, d } = withBits('mainline', [2, 3, 4, 5, 20, 21, 25]);
    expect([d.start, d.end]).toEqual([2, 26]);
    const logA: [number, number][] = [];
    const logB: [number, number][] = [];
    locked(s, bo, () => s.dev.transferToRes(bo, res('A', 0, 10, logA)));
    expect(logA).toEqual([[2, 6]]);
    expect([d.start, d.end]).toEqual([10, 26]); // A covered start: start = A's end
    expect(bits(bo)).toEqual([20, 21, 25]);
    locked(s, bo, () => s.dev.transferToRes(bo, res('B', 10, 30, logB)));
    expect(logB).toEqual([
      [20, 22],
      [25, 26],
    ]);
    // B covers both edges: start = min(40, 26) = 26, end = 10 -> empty
    expect([d.start, d.end]).toEqual([26, 10]);
    expect(s.dev.isDirty(bo)).toBe(false);
  });

  it('a resource in the middle shrinks no edge; one covering the end moves end to its start', () => {
    const { s, bo, d } = withBits('mainline', [1, 30, 50]);
    locked(s, bo, () => s.dev.clearRes(bo, res('mid', 20, 20)));
    expect(bits(bo)).toEqual([1, 50]);
    expect([d.start, d.end]).toEqual([1, 51]);
    locked(s, bo, () => s.dev.clearRes(bo, res('tail', 45, 19)));
    expect(bits(bo)).toEqual([1]);
    expect([d.start, d.end]).toEqual([1, 45]);
  });

  it("mainline: a transfer leaves other resources' bits alone; transfer-max-bug clears them", () => {
    for (const variant of ['mainline', 'transfer-max-bug'] as const) {
      const { s, bo } = withBits(variant, [3, 15]);
      const logA: [number, number][] = [];
      locked(s, bo, () => s.dev.transferToRes(bo, res('A', 0, 10, logA)));
      if (variant === 'mainline') {
        expect(bits(bo)).toEqual([15]);
        expect(logA).toEqual([[3, 4]]);
      } else {
        expect(bits(bo)).toEqual([]); // resource B's page 15 is gone
        expect(logA).toEqual([
          [3, 4],
          [15, 16],
        ]);
      }
    }
  });

  it('dirtyClear drops everything', () => {
    const { s, bo } = withBits('mainline', [0, 63]);
    locked(s, bo, () => s.dev.dirtyClear(bo));
    expect(bits(bo)).toEqual([]);
    expect(s.dev.isDirty(bo)).toBe(false);
  });
});

describe('bo-dirty: unmap', () => {
  it('preUnmap records hardware dirty bits before the zap (PAGETABLE)', () => {
    const s = buildBoSystem({ cpus: 1, bos: [64] });
    const bo = s.bos[0]!;
    add(s, bo);
    boStore(s, 0, 0, 7, 1);
    const zapped = reserved(s, bo, () => s.dev.dirtyUnmap(bo, 0, 64));
    expect(zapped).toBeGreaterThan(0);
    expect(bits(bo)).toEqual([7]);
    expect(bopte(s, 0, 0, 7) & PTE_PRESENT).toBe(0);
    expect(s.k.counters.zapDirtyLost).toBe(0);
  });

  it('without preUnmap the zap discards the dirty bit (what pre_unmap guards against, Q10)', () => {
    const s = buildBoSystem({ cpus: 1, bos: [64] });
    const bo = s.bos[0]!;
    add(s, bo);
    boStore(s, 0, 0, 7, 1);
    as(s.k, s.gpu.task, unmapMappingRange(s.k, s.dev.mapping, 0, 64 * 4096));
    expect(s.k.counters.zapDirtyLost).toBe(1);
    scan(s, bo);
    expect(bits(bo)).toEqual([]);
  });

  it('MKWRITE: preUnmap does nothing (already recorded at mkwrite time)', () => {
    const s = buildBoSystem({ cpus: 1, bos: [600] });
    const bo = s.bos[0]!;
    add(s, bo);
    boStore(s, 0, 0, 9, 1);
    const visited = s.k.counters.ptesVisited;
    reserved(s, bo, () => s.dev.preUnmap(bo, 0, 600));
    expect(s.k.counters.ptesVisited).toBe(visited);
    expect(bits(bo)).toEqual([9]);
  });
});

describe('bo-dirty: dirtying vs read-only submissions (vmw_resource_do_validate)', () => {
  // Two resources over one 8-page BO in MKWRITE mode; CPU 0 writes page 1 (res0) and page 6 (res1).
  function setup() {
    const s = buildBoSystem({ cpus: 1, bos: [8], resourcesPerBo: 2 });
    const bo = s.bos[0]!;
    s.gpu.submitNow(() => 'mkwrite'); // tracker created, BO write-protected
    boStore(s, 0, 0, 1, 11);
    boStore(s, 0, 0, 6, 66);
    return { s, bo, res: s.gpu.resources.get(bo)! };
  }

  it('read-only: the CPU PTEs stay (write-protected), nothing becomes GPU-dirty', () => {
    const { s, bo, res } = setup();
    s.gpu.submitNow(() => 'mkwrite', false);
    for (const p of [1, 6]) expect(bopte(s, 0, 0, p) & (PTE_PRESENT | PTE_RW)).toBe(PTE_PRESENT);
    expect(res.map((r) => r.resDirty)).toEqual([false, false]);
    expect(bits(bo)).toEqual([]);
    expect(s.gpu.coherent(bo, 1) && s.gpu.coherent(bo, 6)).toBe(true);
  });

  it('dirtying: every PTE of each resource is zapped before its bits are transferred; resources become GPU-dirty', () => {
    const { s, res } = setup();
    const copied: number[] = [];
    s.gpu.onCopy = (_b, p) => {
      copied.push(p);
      expect(bopte(s, 0, 0, p) & PTE_PRESENT).toBe(0); // zapped before the upload
    };
    const unmaps: [number, number][] = [];
    const orig = s.dev.dirtyUnmap.bind(s.dev);
    s.dev.dirtyUnmap = (b, start, end) => {
      unmaps.push([start, end]);
      return orig(b, start, end);
    };
    s.gpu.submitNow(() => 'mkwrite', true);
    expect(unmaps).toEqual([
      [0, 4],
      [4, 8],
    ]);
    expect(copied).toEqual([1, 6]);
    for (let p = 0; p < 8; p++) expect(bopte(s, 0, 0, p) & PTE_PRESENT).toBe(0);
    expect(res.map((r) => r.resDirty)).toEqual([true, true]);
    // The CPU reads page 5: res1 is read back (clean); a second dirtying submission unmaps only
    // res1 (res0 is still GPU-dirty, so nothing of it can be mapped).
    s.k.setCurrent(s.tasks[0]!);
    runToCompletion(userLoad8(s.k, s.k.cpus[0]!, s.mms[0]!, s.vmas[0]![0]!.start + 5 * 4096));
    expect(bopte(s, 0, 0, 5) & PTE_PRESENT).toBe(PTE_PRESENT);
    unmaps.length = 0;
    s.gpu.submitNow(() => 'mkwrite', true);
    expect(unmaps).toEqual([[4, 8]]);
    expect(bopte(s, 0, 0, 5) & PTE_PRESENT).toBe(0);
    // A read-only submission unmaps nothing.
    s.gpu.submitNow(() => 'mkwrite', false);
    expect(unmaps).toEqual([[4, 8]]);
  });

  it('a CPU fault cleans only the resources from the faulting one on, and prefaults up to their end', () => {
    const { s, bo, res } = setup();
    s.gpu.submitNow(() => 'mkwrite', true);
    // read page 5 (res1 = pages [4, 8)): res1 is read back (res_dirty cleared), res0 is not
    s.k.setCurrent(s.tasks[0]!);
    expect(runToCompletion(userLoad8(s.k, s.k.cpus[0]!, s.mms[0]!, s.vmas[0]![0]!.start + 5 * 4096))).toBe(0);
    expect(res.map((r) => r.resDirty)).toEqual([true, false]);
    // prefault: pages 5..7 (to the end of res1), read-only (MKWRITE); page 4 untouched
    expect([4, 5, 6, 7].map((p) => bopte(s, 0, 0, p) & (PTE_PRESENT | PTE_RW))).toEqual([
      0,
      PTE_PRESENT,
      PTE_PRESENT,
      PTE_PRESENT,
    ]);
    expect(bo.resTree).toEqual(res);
  });
});

describe('bo-dirty: scan-fix variant (driver-only fix of the mkwrite window)', () => {
  it('a set bit whose page the scan found read-only is reported and kept; a writable one is cleared', () => {
    const s = buildBoSystem({ cpus: 1, bos: [4], variant: 'scan-fix' });
    const bo = s.bos[0]!;
    s.gpu.submitNow(() => 'mkwrite');
    boStore(s, 0, 0, 2, 5); // a completed write: bit set, PTE writable
    // a fault "in flight": bit set by mkwrite, PTE still read-only (mapped by a load)
    s.k.setCurrent(s.tasks[0]!);
    runToCompletion(userLoad8(s.k, s.k.cpus[0]!, s.mms[0]!, s.vmas[0]![0]!.start + 3 * 4096));
    locked(s, bo, () => setBit(bo.dirty!.bitmap, 3));
    bo.dirty!.end = 4;
    const copied: number[] = [];
    s.gpu.onCopy = (_b, p) => copied.push(p);
    s.gpu.submitNow(() => 'mkwrite');
    expect(copied).toEqual([2, 3]);
    expect(bits(bo)).toEqual([3]);
    expect([bo.dirty!.start, bo.dirty!.end]).toEqual([3, 4]);
    // the write completes; the next scan finds page 3 writable and clears it
    boStore(s, 0, 0, 3, 7);
    copied.length = 0;
    s.gpu.submitNow(() => 'mkwrite');
    expect(copied).toEqual([3]);
    expect(bits(bo)).toEqual([]);
    expect(s.gpu.coherent(bo, 3)).toBe(true);
  });
});

describe('bo-dirty: reservation in the fault handlers (ttm_bo_vm_reserve)', () => {
  const W = FAULT_FLAG_DEFAULT | FAULT_FLAG_USER | FAULT_FLAG_WRITE;

  function setup() {
    const s = buildBoSystem({ cpus: 2, bos: [4], explore: true });
    const bo = s.bos[0]!;
    s.gpu.submitNow(() => 'mkwrite');
    const mm = s.mms[0]!;
    const addr = s.vmas[0]![0]!.start;
    const t0 = s.tasks[0]!;
    const gpu = s.gpu.task;
    as(s.k, gpu, bo.resv.lock()); // the GPU's submission holds the reservation
    return { s, bo, mm, addr, t0, gpu };
  }

  /** Step `g` as `t` until it waits on something not ready; false if it finished instead. */
  function untilBlocked(k: BoSystem['k'], t: BoSystem['tasks'][0], g: KGen<number>): boolean {
    for (;;) {
      k.setCurrent(t);
      const r = g.next();
      if (r.done) return false;
      if (typeof r.value === 'object' && !r.value.ready()) return true;
    }
  }

  it('first attempt, BO busy: drops the mmap lock, waits for the BO, returns RETRY; the retry blocks holding it', () => {
    const { s, bo, mm, addr, t0, gpu } = setup();
    const g = handleMmFault(s.k, mm, addr, W);
    expect(untilBlocked(s.k, t0, g)).toBe(true);
    expect(mm.mmapLock.readers).not.toContain(t0); // the old model waited with mmap_lock held
    s.k.setCurrent(gpu);
    bo.resv.unlock();
    expect(finish(s.k, t0, g)).toBe(VM_FAULT_RETRY);
    expect(mm.mmapLock.readers).toEqual([]);
    expect(bo.resv.owner).toBeNull();
    expect(bopte(s, 0, 0, 0)).toBe(0); // nothing mapped yet
    // The retry (FAULT_FLAG_TRIED) may not ask again: it waits for the BO with mmap_lock held.
    as(s.k, gpu, bo.resv.lock());
    const g2 = handleMmFault(s.k, mm, addr, W | FAULT_FLAG_TRIED);
    expect(untilBlocked(s.k, t0, g2)).toBe(true);
    expect(mm.mmapLock.readers).toEqual([t0]);
    s.k.setCurrent(gpu);
    bo.resv.unlock();
    expect(finish(s.k, t0, g2)).toBe(VM_FAULT_NOPAGE);
    expect(bopte(s, 0, 0, 0) & (PTE_PRESENT | PTE_RW)).toBe(PTE_PRESENT);
  });

  it('RETRY_NOWAIT: returns RETRY at once, keeping the mmap lock (released by handle_mm_fault)', () => {
    const { s, mm, addr, t0 } = setup();
    expect(finish(s.k, t0, handleMmFault(s.k, mm, addr, W | FAULT_FLAG_RETRY_NOWAIT))).toBe(VM_FAULT_RETRY);
    expect(mm.mmapLock.readers).toEqual([]);
  });

  it('a user store retries through RETRY and lands once the submission is done', () => {
    const { s, bo, mm, addr, t0, gpu } = setup();
    const g = userStore8(s.k, s.k.cpus[0]!, mm, addr, 5);
    expect(untilBlocked(s.k, t0, g)).toBe(true);
    expect(mm.mmapLock.readers).toEqual([]);
    s.k.setCurrent(gpu);
    bo.resv.unlock();
    expect(finish(s.k, t0, g)).toBe(0);
    expect(bits(bo)).toEqual([0]);
  });

  it('mkwrite never returns RETRY: it blocks on the BO with mmap_lock held', () => {
    const { s, bo, mm, addr, t0, gpu } = setup();
    s.k.setCurrent(gpu);
    bo.resv.unlock();
    expect(finish(s.k, t0, handleMmFault(s.k, mm, addr, W))).toBe(VM_FAULT_NOPAGE); // read-only PTE
    as(s.k, gpu, bo.resv.lock());
    const g = handleMmFault(s.k, mm, addr, W);
    expect(untilBlocked(s.k, t0, g)).toBe(true);
    expect(mm.mmapLock.readers).toEqual([t0]);
    s.k.setCurrent(gpu);
    bo.resv.unlock();
    expect(finish(s.k, t0, g)).toBe(0);
    expect(bopte(s, 0, 0, 0) & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW | PTE_DIRTY);
  });
});
