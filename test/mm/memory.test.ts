/** The fault path end to end (spec §7). */
import { describe, expect, it } from 'vitest';
import { runToCompletion } from '../../src/checker/task.ts';
import { PTE_ACCESSED, PTE_DIRTY, PTE_PRESENT, PTE_RW, PTE_SPECIAL, pfn4k } from '../../src/hw/pte.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { insertPfnPmd } from '../../src/mm/huge.ts';
import { KTask } from '../../src/mm/kernel.ts';
import { filemapFault, handleMmFault, storeFast, userLoad8, userStore8 } from '../../src/mm/memory.ts';
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_MKWRITE,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  VM_FAULT_NOPAGE,
  VM_FAULT_SIGSEGV,
  type VmOps,
} from '../../src/mm/mm-types.ts';
import {
  doMprotect,
  mmCreate,
  PROT_READ,
  PROT_WRITE,
  switchMm,
  unmapMappingRange,
} from '../../src/mm/mmap.ts';
import {
  aliasing,
  finish,
  kernel,
  mapFile,
  PAGE,
  pfnDriver,
  pte,
  ptePfn,
  ptep,
  stepUntil,
} from './fixtures.ts';

const W = FAULT_FLAG_WRITE | FAULT_FLAG_USER;

describe('shared file mapping with page_mkwrite (write-notify)', () => {
  function setup() {
    const k = kernel(2);
    const file = new AddressSpace(k, 'disk', true, 8);
    const seen: number[] = [];
    const ops: VmOps = {
      name: 'test-mkwrite',
      fault: filemapFault,
      *pageMkwrite(k, vmf) {
        seen.push(vmf.flags);
        expect(k.pageLock(vmf.page).owner).toBeNull(); // called with the page unlocked
        yield;
        return 0;
      },
    };
    file.defaultOps = ops;
    const mm = mmCreate(k, 'A');
    const v = mapFile(k, mm, file, { pages: 8 });
    switchMm(k, 0, mm);
    switchMm(k, 1, mm);
    k.setCurrent(new KTask('t0', 0));
    return { k, file, mm, v, seen };
  }

  it('read fault installs a read-only clean PTE; the write goes page_mkwrite -> writable+dirty', () => {
    const { k, file, mm, v, seen } = setup();
    const cpu = k.cpus[0]!;
    expect(runToCompletion(userLoad8(k, cpu, mm, v.start + 2 * PAGE))).toBe(0);
    const [lo] = pte(k, mm, v.start + 2 * PAGE);
    expect(lo & (PTE_PRESENT | PTE_RW | PTE_DIRTY)).toBe(PTE_PRESENT);
    expect(ptePfn(k, mm, v.start + 2 * PAGE)).toBe(file.pages.get(2));
    expect(k.counters.faultsNotPresent).toBe(1);
    expect(storeFast(k, cpu, mm, v.start + 2 * PAGE + 5, 42)).toBe(0);
    expect(k.counters.faultsWpShared).toBe(1);
    expect(k.counters.mkwriteCalls).toBe(1);
    // do_page_mkwrite REPLACES the flags with exactly WRITE|MKWRITE (USER is hidden from the
    // handler); the model used to OR them in (W | MKWRITE), which this line rejects.
    expect(seen).toEqual([FAULT_FLAG_WRITE | FAULT_FLAG_MKWRITE]);
    expect(pte(k, mm, v.start + 2 * PAGE)[0] & (PTE_RW | PTE_DIRTY | PTE_ACCESSED)).toBe(
      PTE_RW | PTE_DIRTY | PTE_ACCESSED,
    );
    expect(k.mem.read8(file.pages.get(2)!, 5)).toBe(42);
    expect(k.pageLock(file.pages.get(2)!).owner).toBeNull(); // unlocked by fault_dirty_shared_page
    expect([...file.dirtyPages]).toEqual([file.pages.get(2)]); // and marked dirty (spec 7.2 step 3)
    // further writes do not fault
    expect(storeFast(k, cpu, mm, v.start + 2 * PAGE + 6, 43)).toBe(0);
    expect(k.counters.mkwriteCalls).toBe(1);
  });

  it('a write to a missing PTE calls page_mkwrite and installs a writable+dirty PTE at once', () => {
    const { k, file, mm, v, seen } = setup();
    expect(storeFast(k, k.cpus[0]!, mm, v.start, 1)).toBe(0);
    expect(seen).toHaveLength(1);
    expect(k.counters.faultsWpShared).toBe(0);
    expect(file.dirtyPages.has(file.pages.get(0)!)).toBe(true);
    expect(pte(k, mm, v.start)[0] & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW | PTE_DIRTY);
  });

  it('page_mkwrite sees only WRITE|MKWRITE, the caller gets its own flags back, pfn_mkwrite keeps them', () => {
    const { k, mm, v, seen } = setup();
    const flags = W | FAULT_FLAG_ALLOW_RETRY;
    runToCompletion(handleMmFault(k, mm, v.start, FAULT_FLAG_USER)); // read-only PTE
    expect(runToCompletion(handleMmFault(k, mm, v.start, flags))).toBe(0);
    expect(seen).toEqual([FAULT_FLAG_WRITE | FAULT_FLAG_MKWRITE]);
    // wp_pfn_shared ORs MKWRITE into the caller's flags instead (ALLOW_RETRY stays visible)
    const pf: number[] = [];
    const d = pfnDriver(k, 1, function* (_k, vmf) {
      pf.push(vmf.flags);
      yield undefined;
      return 0;
    });
    const m2 = mmCreate(k, 'B');
    const v2 = mapFile(k, m2, d.file, { pages: 1 });
    runToCompletion(handleMmFault(k, m2, v2.start, FAULT_FLAG_USER));
    expect(runToCompletion(handleMmFault(k, m2, v2.start, flags))).toBe(0);
    expect(pf).toEqual([flags | FAULT_FLAG_MKWRITE]);
  });

  it('do_shared_fault: when finish_fault loses the race (NOPAGE) the page is unlocked, NOT marked dirty', () => {
    // Two CPUs fault the same missing page: cpu0 a write, cpu1 a read. cpu1 installs its (clean,
    // read-only) PTE while cpu0 is inside ->fault; cpu0's finish_fault then finds the PTE taken.
    for (const withMkwrite of [false, true]) {
      const k = kernel(2, { explore: true });
      const file = new AddressSpace(k, 'disk', true, 2);
      let inFault = 0;
      const ops: VmOps = {
        name: 'test-race',
        *fault(kk, vmf) {
          inFault++;
          yield undefined; // may sleep (read I/O): the other CPU runs here
          return yield* filemapFault(kk, vmf);
        },
        ...(withMkwrite
          ? {
              *pageMkwrite() {
                yield undefined; // may sleep
                return 0;
              },
            }
          : {}),
      };
      file.defaultOps = ops;
      const mm = mmCreate(k, 'A');
      const v = mapFile(k, mm, file, { pages: 2 });
      const [t0, t1] = [new KTask('t0', 0), new KTask('t1', 1)];
      const a = handleMmFault(k, mm, v.start, W);
      expect(stepUntil(k, t0, a, () => inFault === 1).done).toBe(false);
      expect(finish(k, t1, handleMmFault(k, mm, v.start, FAULT_FLAG_USER))).toBe(0);
      const installed = pte(k, mm, v.start);
      expect(installed[0] & (PTE_PRESENT | PTE_RW | PTE_DIRTY)).toBe(PTE_PRESENT);
      expect(finish(k, t0, a)).toBe(VM_FAULT_NOPAGE);
      const page = file.pages.get(0)!;
      expect(pte(k, mm, v.start)).toEqual(installed);
      expect(k.pageLock(page).owner).toBeNull();
      // Nobody wrote: the old model marked the page dirty here anyway.
      expect(file.dirtyPages.has(page)).toBe(false);
    }
  });

  it('spurious fault: a stale read-only TLB entry on another CPU after the PTE became writable', () => {
    const { k, mm, v } = setup();
    const [c0, c1] = k.cpus as [(typeof k.cpus)[0], (typeof k.cpus)[0]];
    k.setCurrent(new KTask('t1', 1));
    expect(runToCompletion(userLoad8(k, c1!, mm, v.start))).toBe(0); // CPU1 caches it read-only
    k.setCurrent(new KTask('t0', 0));
    expect(storeFast(k, c0!, mm, v.start, 1)).toBe(0); // upgrade: no flush needed or done
    expect(c1!.tlb.peek(mm.id, v.start / PAGE)).toBeGreaterThanOrEqual(0);
    const mk = k.counters.mkwriteCalls;
    k.setCurrent(new KTask('t1', 1));
    expect(storeFast(k, c1!, mm, v.start + 1, 2)).toBe(0);
    expect(k.counters.faultsSpurious).toBe(1);
    expect(k.counters.mkwriteCalls).toBe(mk); // no second mkwrite
    expect(k.counters.faultsWpShared).toBe(1);
  });
});

describe('PFNMAP driver mapping (pfn_mkwrite)', () => {
  function setup(explore = false, mkwrite?: Parameters<typeof pfnDriver>[2]) {
    const k = kernel(2, { explore });
    k.setCurrent(new KTask('t0', 0));
    const d = pfnDriver(k, 8, mkwrite);
    const mm = mmCreate(k, 'A');
    const v = mapFile(k, mm, d.file, { pages: 8 });
    switchMm(k, 0, mm);
    switchMm(k, 1, mm);
    return { k, d, mm, v };
  }

  it('fault inserts a read-only special PTE (NOPAGE); the retried write goes through pfn_mkwrite', () => {
    const { k, d, mm, v } = setup();
    expect(runToCompletion(handleMmFault(k, mm, v.start + PAGE, W))).toBe(VM_FAULT_NOPAGE);
    const [lo, hi] = pte(k, mm, v.start + PAGE);
    expect(lo & (PTE_PRESENT | PTE_SPECIAL | PTE_RW | PTE_DIRTY)).toBe(PTE_PRESENT | PTE_SPECIAL);
    expect(pfn4k(lo, hi)).toBe(d.ioBase + 1);
    expect(d.pfnMkwriteCalls).toBe(0); // ->fault returned NOPAGE: no mkwrite on that path
    expect(runToCompletion(handleMmFault(k, mm, v.start + PAGE, W))).toBe(0);
    expect(d.pfnMkwriteCalls).toBe(1);
    expect(pte(k, mm, v.start + PAGE)[0] & (PTE_RW | PTE_DIRTY | PTE_SPECIAL)).toBe(
      PTE_RW | PTE_DIRTY | PTE_SPECIAL,
    );
    // a user store does all of it in one go
    expect(storeFast(k, k.cpus[0]!, mm, v.start + 4 * PAGE + 9, 99)).toBe(0);
    expect(d.faultCalls).toBe(2);
    expect(d.pfnMkwriteCalls).toBe(2);
    expect(k.mem.read8(d.ioBase + 4, 9)).toBe(99);
  });

  it('an error or NOPAGE from pfn_mkwrite is returned and the PTE stays read-only', () => {
    let ret = 0x2; // SIGBUS
    const { k, mm, v } = setup(false, function* () {
      yield undefined; // may sleep
      return ret;
    });
    runToCompletion(handleMmFault(k, mm, v.start, W)); // map read-only
    expect(runToCompletion(handleMmFault(k, mm, v.start, W))).toBe(0x2);
    ret = VM_FAULT_NOPAGE;
    expect(runToCompletion(handleMmFault(k, mm, v.start, W))).toBe(VM_FAULT_NOPAGE);
    expect(pte(k, mm, v.start)[0] & PTE_RW).toBe(0);
  });

  it('finish_mkwrite_fault returns NOPAGE when the PTE changed while pfn_mkwrite ran (explore mode)', () => {
    for (const race of ['zap', 'other-write'] as const) {
      let inMkwrite = 0;
      const { k, d, mm, v } = setup(true, function* () {
        inMkwrite++;
        yield undefined; // may sleep: the other CPU runs here
        return 0;
      });
      const [t0, t1] = [new KTask('t0', 0), new KTask('t1', 1)];
      finish(k, t0, handleMmFault(k, mm, v.start, W)); // read-only special PTE present
      const before = pte(k, mm, v.start);
      const a = handleMmFault(k, mm, v.start, W);
      const r = stepUntil(k, t0, a, () => inMkwrite === 1);
      expect(r.done).toBe(false);
      const ptl = k.ptl(k.tableOfSlot(Math.floor(ptep(k, mm, v.start) / 512)));
      expect(ptl.owner).toBeNull(); // the PTL is dropped around pfn_mkwrite
      expect(mm.mmapLock.readers).toEqual([t0]); // mmap_lock is still held
      if (race === 'zap') {
        // the driver zaps (unmap_mapping_range, e.g. an eviction); madvise cannot: it refuses PFN maps
        expect(finish(k, t1, unmapMappingRange(k, v.file!, v.pgoff * PAGE, PAGE))).toBe(1);
        expect(pte(k, mm, v.start)).toEqual([0, 0]);
      } else {
        expect(finish(k, t1, handleMmFault(k, mm, v.start, W))).toBe(0); // its own mkwrite wins
        expect(pte(k, mm, v.start)[0] & PTE_RW).toBe(PTE_RW);
      }
      const after = pte(k, mm, v.start);
      expect(after).not.toEqual(before);
      expect(finish(k, t0, a)).toBe(VM_FAULT_NOPAGE);
      expect(pte(k, mm, v.start)).toEqual(after); // A did not touch the changed PTE
      expect(d.pfnMkwriteCalls).toBe(race === 'zap' ? 1 : 2);
    }
  });

  it('a userStore8 in explore mode retries through NOPAGE until the store lands', () => {
    const { k, d, mm, v } = setup(true);
    const t0 = new KTask('t0', 0);
    expect(finish(k, t0, userStore8(k, k.cpus[0]!, mm, v.start + 3, 7))).toBe(0);
    expect(k.mem.read8(d.ioBase, 3)).toBe(7);
    expect(d.pfnMkwriteCalls).toBe(1);
  });
});

describe('shmem-like file (no writeback, no mkwrite)', () => {
  it('installs writable PTEs directly; the first write sets D in hardware without a fault', () => {
    const { k, a, va } = aliasing({}, false);
    k.setCurrent(new KTask('t0', 0));
    const cpu = k.cpus[0]!;
    expect(runToCompletion(userLoad8(k, cpu, a, va.start))).toBe(0);
    expect(pte(k, a, va.start)[0] & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW);
    const faults = k.counters.hwFaults;
    expect(storeFast(k, cpu, a, va.start, 1)).toBe(0);
    expect(k.counters.hwFaults).toBe(faults);
    expect(k.counters.faultsWpShared).toBe(0);
    expect(pte(k, a, va.start)[0] & PTE_DIRTY).toBe(PTE_DIRTY);
  });
});

describe('private mappings and read-only shared mappings', () => {
  it('COW: a private write copies the page; the shared view in the other mm is unchanged', () => {
    const k = kernel(2);
    const file = new AddressSpace(k, 'f', true, 8);
    const shared = mmCreate(k, 'S');
    const priv = mmCreate(k, 'P');
    const vs = mapFile(k, shared, file, { pages: 8 });
    const vp = mapFile(k, priv, file, { pages: 8, shared: false });
    switchMm(k, 0, shared);
    switchMm(k, 1, priv);
    const [t0, t1] = [new KTask('t0', 0), new KTask('t1', 1)];
    k.setCurrent(t0);
    expect(storeFast(k, k.cpus[0]!, shared, vs.start + 1, 11)).toBe(0);
    expect(storeFast(k, k.cpus[0]!, shared, vs.start + PAGE + 1, 12)).toBe(0);
    k.setCurrent(t1);
    // page 0: read (shares the file page read-only), then write: wp_page_copy
    expect(runToCompletion(userLoad8(k, k.cpus[1]!, priv, vp.start + 1))).toBe(11);
    expect(ptePfn(k, priv, vp.start)).toBe(file.pages.get(0));
    expect(storeFast(k, k.cpus[1]!, priv, vp.start + 1, 99)).toBe(0);
    // page 1: write to a missing PTE: do_cow_fault
    expect(storeFast(k, k.cpus[1]!, priv, vp.start + PAGE + 1, 98)).toBe(0);
    expect(k.counters.faultsCow).toBe(2);
    for (const p of [0, 1]) {
      const pfn = ptePfn(k, priv, vp.start + p * PAGE);
      expect(pfn).not.toBe(file.pages.get(p));
      expect(k.anonPages.has(pfn)).toBe(true);
      expect(pte(k, priv, vp.start + p * PAGE)[0] & (PTE_RW | PTE_DIRTY)).toBe(PTE_RW | PTE_DIRTY);
    }
    expect(runToCompletion(userLoad8(k, k.cpus[1]!, priv, vp.start + 1))).toBe(99);
    expect(runToCompletion(userLoad8(k, k.cpus[1]!, priv, vp.start + PAGE + 1))).toBe(98);
    k.setCurrent(t0);
    expect(runToCompletion(userLoad8(k, k.cpus[0]!, shared, vs.start + 1))).toBe(11);
    expect(runToCompletion(userLoad8(k, k.cpus[0]!, shared, vs.start + PAGE + 1))).toBe(12);
    // the anonymous copy is reused in place after mprotect RO -> RW (no second copy): mprotect
    // makes the exclusive anonymous page writable again at once (can_change_pte_writable; on
    // Linux 6.18 the next store takes no fault, measured by `kernel diff`)
    k.setCurrent(t1);
    runToCompletion(doMprotect(k, priv, vp.start, PAGE, PROT_READ));
    runToCompletion(doMprotect(k, priv, vp.start, PAGE, PROT_READ | PROT_WRITE));
    expect(pte(k, priv, vp.start)[0] & PTE_RW).toBe(PTE_RW);
    const copy = ptePfn(k, priv, vp.start);
    expect(storeFast(k, k.cpus[1]!, priv, vp.start + 2, 3)).toBe(0);
    expect(k.counters.faultsCow).toBe(2);
    expect(ptePfn(k, priv, vp.start)).toBe(copy);
  });

  it('a write to a read-only shared (O_RDONLY) mapping is SIGSEGV; reads work', () => {
    const k = kernel(1);
    k.setCurrent(new KTask('t0', 0));
    const file = new AddressSpace(k, 'f', true, 4);
    const mm = mmCreate(k, 'A');
    const v = mapFile(k, mm, file, { pages: 4, prot: PROT_READ, fdWritable: false });
    switchMm(k, 0, mm);
    expect(runToCompletion(userLoad8(k, k.cpus[0]!, mm, v.start))).toBe(0);
    expect(storeFast(k, k.cpus[0]!, mm, v.start, 1) & VM_FAULT_SIGSEGV).toBe(VM_FAULT_SIGSEGV);
    expect(storeFast(k, k.cpus[0]!, mm, v.start + PAGE, 1) & VM_FAULT_SIGSEGV).toBe(VM_FAULT_SIGSEGV);
    expect(pte(k, mm, v.start)[0] & PTE_RW).toBe(0);
    // outside any VMA
    expect(storeFast(k, k.cpus[0]!, mm, v.end + 16 * PAGE, 1)).toBe(VM_FAULT_SIGSEGV);
  });
});

describe('huge leaves', () => {
  it('a write under a read-only huge PMD splits (zaps) it and refaults at PTE level', () => {
    const k = kernel(1);
    k.setCurrent(new KTask('t0', 0));
    const file = new AddressSpace(k, 'shm', false, 512);
    const mm = mmCreate(k, 'A');
    const v = mapFile(k, mm, file, { pages: 512, addr: 0x4000_0000 });
    switchMm(k, 0, mm);
    expect(insertPfnPmd(k, v, v.start, k.mem.allocRamAligned(512, 512), false)).toBe(true);
    expect(runToCompletion(userLoad8(k, k.cpus[0]!, mm, v.start + 3 * PAGE))).toBe(0); // via the PMD
    expect(storeFast(k, k.cpus[0]!, mm, v.start + 3 * PAGE, 5)).toBe(0);
    expect(ptePfn(k, mm, v.start + 3 * PAGE)).toBe(file.pages.get(3));
    expect(k.mem.read8(file.pages.get(3)!, 0)).toBe(5);
  });
});
