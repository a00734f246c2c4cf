/**
 * The drivers' generator paths in explore mode: a user store (userStore8, faulting into the BO
 * fault/mkwrite handlers) interleaved step by step with GPU submissions (scan + transfer) under
 * random schedules; the store log is the ground truth. Also the secondary-MMU helper.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KGen, Yield } from '../../src/checker/task.ts';
import { buildBoSystem, buildFbSystem, createSecondaryMmu } from '../../src/drivers/consumers.ts';
import type { KTask } from '../../src/mm/kernel.ts';
import { userStore8 } from '../../src/mm/memory.ts';
import { as, boStore } from './helpers.ts';

interface Runner {
  t: KTask;
  g: KGen<unknown>;
  blocked: Yield;
  done: boolean;
}

/** Run the generators to completion, picking a runnable one at random at every yield. */
function interleave(k: ReturnType<typeof buildBoSystem>['k'], rs: Runner[], pick: () => number): void {
  for (;;) {
    const ready = rs.filter((r) => !r.done && (typeof r.blocked !== 'object' || r.blocked.ready()));
    if (ready.length === 0) {
      if (rs.every((r) => r.done)) return;
      throw new Error('deadlock');
    }
    const r = ready[pick() % ready.length]!;
    k.setCurrent(r.t);
    const step = r.g.next();
    if (step.done) r.done = true;
    else r.blocked = step.value;
  }
}

describe('explore mode: user stores interleaved with GPU submissions', () => {
  it('PAGETABLE: no write is lost under random schedules', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('pagetable' as const),
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 1, maxLength: 400 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 31 })), {
          minLength: 1,
          maxLength: 6,
        }),
        (policy, choices, stores) => {
          const s = buildBoSystem({ cpus: 2, bos: [32], explore: true, storeLog: true });
          const bo = s.bos[0]!;
          const pol = () => policy as 'auto' | 'mkwrite' | 'pagetable';
          as(s.k, s.gpu.task, s.gpu.submit(pol));
          const copiedAt = new Float64Array(32).fill(-1);
          const log = s.k.storeLog!;
          s.gpu.onCopy = (_bo, p) => {
            copiedAt[p] = log.length;
          };
          let ci = 0;
          const pick = () => choices[ci++ % choices.length]!;
          const user = (c: number): KGen<void> =>
            (function* () {
              for (const [cpu, page] of stores)
                if (cpu === c)
                  yield* userStore8(
                    s.k,
                    s.k.cpus[c]!,
                    s.mmOfCpu[c]!,
                    s.vmas[0]![0]!.start + page * 4096,
                    page + 1,
                  );
            })();
          const gpu = (function* () {
            yield* s.gpu.submit(pol);
            yield* s.gpu.submit(pol);
          })();
          interleave(
            s.k,
            [
              { t: s.tasks[0]!, g: user(0), blocked: undefined, done: false },
              { t: s.tasks[1]!, g: user(1), blocked: undefined, done: false },
              { t: s.gpu.task, g: gpu, blocked: undefined, done: false },
            ],
            pick,
          );
          as(s.k, s.gpu.task, s.gpu.submit(pol)); // the sync after the last store
          for (let i = 0; i < log.length; i++) {
            const p = log.pfn[i]! - bo.ioBase;
            expect(copiedAt[p]!, `store #${i} page ${p}`).toBeGreaterThan(i);
            expect(s.gpu.coherent(bo, p)).toBe(true);
          }
        },
      ),
      { numRuns: 80, seed: 11 },
    );
  });
});

describe('explore mode: MKWRITE window between mkwrite and finish_mkwrite_fault', () => {
  /*
   * Found by the property above when it ran every method: vmw_bo_vm_mkwrite sets the bit and
   * drops the reservation before the core makes the PTE writable (finish_mkwrite_fault, under
   * the PTL only). A submission in between re-protects nothing (the PTE is still read-only),
   * consumes the bit and copies the old page; then the PTE becomes writable+dirty with its bit
   * clear (a P14 violation), so neither this write nor later ones through that PTE are recorded
   * until something else write-protects the page. Same shape as fb_defio's quirk Q3.
   */
  it('a submission in the window leaves a writable PTE with a clear bit; later writes are missed', () => {
    const s = buildBoSystem({ cpus: 2, bos: [600], explore: true, storeLog: true });
    const bo = s.bos[0]!;
    as(s.k, s.gpu.task, s.gpu.submit()); // MKWRITE tracker (600 pages)
    expect(bo.dirty!.method).toBe('mkwrite');
    const va = s.vmas[0]![0]!.start + 7 * 4096;
    const g = userStore8(s.k, s.k.cpus[0]!, s.mmOfCpu[0]!, va, 1);
    const d = bo.dirty!;
    // step the user store until mkwrite has set the bit (the reservation is dropped again)
    for (;;) {
      s.k.setCurrent(s.tasks[0]!);
      const r = g.next();
      expect(r.done).toBe(false);
      if ((d.bitmap[0]! & (1 << 7)) !== 0 && bo.resv.owner === null) break;
    }
    as(s.k, s.gpu.task, s.gpu.submit()); // scan (nothing writable to protect), transfer, copy
    expect(d.bitmap[0]! & (1 << 7)).toBe(0);
    s.k.setCurrent(s.tasks[0]!);
    for (let r = g.next(); !r.done; r = g.next()) s.k.setCurrent(s.tasks[0]!);
    // the store completed through a PTE made writable after its bit was consumed
    expect(s.gpu.coherent(bo, 7)).toBe(false);
    const faults = s.k.counters.faultsWpShared;
    as(s.k, s.tasks[0]!, userStore8(s.k, s.k.cpus[0]!, s.mmOfCpu[0]!, va, 2));
    expect(s.k.counters.faultsWpShared).toBe(faults); // no fault: nothing records it
    as(s.k, s.gpu.task, s.gpu.submit());
    expect(s.gpu.coherent(bo, 7)).toBe(false); // still stale after the next submission
  });
});

describe('secondary MMU helper', () => {
  it('a write-protect invalidates the device translation: the next device write must fault', () => {
    const s = buildBoSystem({ cpus: 1, bos: [600] });
    const bo = s.bos[0]!;
    s.gpu.submitNow(); // MKWRITE tracker: everything write-protected
    const dev = createSecondaryMmu(s.k, s.mms[0]!);
    const va = s.vmas[0]![0]!.start + 5 * 4096;
    boStore(s, 0, 0, 5, 1); // CPU write: mkwrite, PTE writable+dirty
    expect(dev.store8(s.mms[0]!.id, va, 2)).toBe(0); // device walks, caches writable
    expect(dev.holdsWritable(s.mms[0]!.id, va)).toBe(true);
    s.gpu.submitNow(); // scan re-protects page 5: notifier start invalidates the device
    expect(dev.holdsWritable(s.mms[0]!.id, va)).toBe(false);
    expect(dev.store8(s.mms[0]!.id, va, 3)).toBe(-1);
    expect(s.gpu.coherent(bo, 5)).toBe(true);
  });
});

describe('explore mode: fb_defio page_mkwrite window (quirk Q3)', () => {
  function setup(variant: 'mainline' | 'page-lock') {
    const s = buildFbSystem({ cpus: 1, pages: 4, variant, explore: true });
    const va = s.vmas[0]!.start + 2 * 4096;
    const g = userStore8(s.k, s.k.cpus[0]!, s.mmOfCpu[0]!, va, 9);
    const pl = s.k.pageLock(s.fb.smemStart + 2);
    // step until page_mkwrite has queued the page and returned with the page locked
    for (;;) {
      s.k.setCurrent(s.tasks[0]!);
      const r = g.next();
      expect(r.done).toBe(false);
      if (s.fb.pagereflist.length === 1 && pl.owner === s.tasks[0] && s.fb.lock.owner === null) break;
    }
    s.fb.workPending = false; // the workqueue starts the work
    return { s, g, va };
  }
  function finishUser(s: ReturnType<typeof setup>['s'], g: KGen<number>): void {
    for (;;) {
      s.k.setCurrent(s.tasks[0]!);
      if (g.next().done) return;
    }
  }

  it('mainline (no page lock in the work): the work runs in the window and the write is lost', () => {
    const { s, g, va } = setup('mainline');
    as(s.k, s.fb.worker, s.fb.deferredWork()); // nothing to protect yet, copies the old page
    finishUser(s, g);
    expect(s.display.coherent(2)).toBe(false);
    expect(s.fb.workPending).toBe(false);
    as(s.k, s.tasks[0]!, userStore8(s.k, s.k.cpus[0]!, s.mmOfCpu[0]!, va, 10));
    expect(s.fb.pagereflist).toHaveLength(0); // writable PTE: no fault, nothing queued
  });

  it('page-lock (pre-2025): the work waits for the fault to finish, then protects and copies', () => {
    const { s, g } = setup('page-lock');
    const w = s.fb.deferredWork();
    for (;;) {
      s.k.setCurrent(s.fb.worker);
      const r = w.next();
      if (r.done) throw new Error('the work finished without waiting for the page lock');
      const y: Yield = r.value;
      if (typeof y === 'object' && !y.ready()) break; // on the page lock
    }
    finishUser(s, g);
    as(s.k, s.fb.worker, w);
    expect(s.display.coherent(2)).toBe(true);
  });
});
