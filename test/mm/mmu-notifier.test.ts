/** mmu notifiers: counting, tracing, balance, and a KVM-like secondary MMU kept coherent. */
import { describe, expect, it } from 'vitest';
import { runToCompletion } from '../../src/checker/task.ts';
import { SecondaryMmu } from '../../src/hw/secondary-mmu.ts';
import { KTask } from '../../src/mm/kernel.ts';
import { storeFast } from '../../src/mm/memory.ts';
import { doMprotect, doMunmap, madviseDontneed, PROT_READ } from '../../src/mm/mmap.ts';
import {
  type MmuNotifierRange,
  type MmuNotifierSubscription,
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
  mmuNotifierRegister,
} from '../../src/mm/mmu-notifier.ts';
import { TraceSink } from '../../src/trace/sink.ts';
import { aliasing, PAGE } from './fixtures.ts';

function kvmLike(dev: SecondaryMmu, mmId: number, log: string[]): MmuNotifierSubscription {
  return {
    name: 'kvm',
    invalidateRangeStart(r: MmuNotifierRange) {
      log.push(`start ${r.event}`);
      dev.invalidateRange(mmId, r.start, r.end);
    },
    invalidateRangeEnd(r: MmuNotifierRange) {
      log.push(`end ${r.event}`);
    },
  };
}

describe('mmu notifiers', () => {
  it('start/end are counted, traced and balanced; end without start throws', () => {
    const trace = new TraceSink();
    const { k, a } = aliasing({ trace });
    const r = mmuNotifierRangeInit('CLEAR', a, 0x1000, 0x3000);
    runToCompletion(mmuNotifierInvalidateRangeStart(k, r));
    expect(a.activeInvalidations).toBe(1);
    runToCompletion(mmuNotifierInvalidateRangeEnd(k, r));
    expect(a.activeInvalidations).toBe(0);
    expect([k.counters.notifierStarts, k.counters.notifierEnds]).toEqual([1, 1]);
    const ev = trace.events.filter((e) => e.kind === 'notifierStart' || e.kind === 'notifierEnd');
    expect(ev.map((e) => e.kind)).toEqual(['notifierStart', 'notifierEnd']);
    expect(ev[0]).toMatchObject({ mm: a.id, start: 0x1000, end: 0x3000, event: 'CLEAR' });
    expect(() => runToCompletion(mmuNotifierInvalidateRangeEnd(k, r))).toThrow(/without start/);
  });

  it('is a scheduling point in explore mode', () => {
    const { k, a } = aliasing({ explore: true });
    const g = mmuNotifierInvalidateRangeStart(k, mmuNotifierRangeInit('CLEAR', a, 0, PAGE));
    expect(g.next().done).toBe(false);
    expect(k.counters.notifierStarts).toBe(0);
    expect(g.next().done).toBe(true);
    expect(k.counters.notifierStarts).toBe(1);
  });

  it('munmap / mprotect / madvise invalidate with their events, balanced', () => {
    const { k, a, va } = aliasing();
    k.setCurrent(new KTask('t0', 0));
    const log: string[] = [];
    mmuNotifierRegister(a, {
      name: 'rec',
      invalidateRangeStart: (r) =>
        log.push(`start ${r.event} ${(r.start - va.start) / PAGE}-${(r.end - va.start) / PAGE}`),
      invalidateRangeEnd: (r) => log.push(`end ${r.event}`),
    });
    storeFast(k, k.cpus[0]!, a, va.start, 1);
    runToCompletion(doMprotect(k, a, va.start, 16 * PAGE, PROT_READ));
    runToCompletion(madviseDontneed(k, a, va.start, 2 * PAGE));
    runToCompletion(doMunmap(k, a, va.start, 16 * PAGE));
    expect(log).toEqual([
      'start PROTECTION_VMA 0-16',
      'end PROTECTION_VMA',
      'start CLEAR 0-2',
      'end CLEAR',
      'start UNMAP 0-16',
      'end UNMAP',
    ]);
    expect(a.activeInvalidations).toBe(0);
    expect(k.counters.notifierStarts).toBe(k.counters.notifierEnds);
  });

  it('a KVM-like subscriber drops secondary-MMU translations on invalidateRangeStart', () => {
    for (const subscribed of [true, false]) {
      const { k, a, va } = aliasing();
      k.setCurrent(new KTask('t0', 0));
      const dev = new SecondaryMmu(0, k.mem, k.counters);
      k.addDevice(dev);
      dev.bind(a.id, a.root);
      const log: string[] = [];
      if (subscribed) mmuNotifierRegister(a, kvmLike(dev, a.id, log));
      // the CPU makes the page writable+dirty (write fault), then the device caches it
      expect(storeFast(k, k.cpus[0]!, a, va.start + 3 * PAGE, 1)).toBe(0);
      expect(dev.store8(a.id, va.start + 3 * PAGE, 2)).toBe(0);
      expect(dev.holdsWritable(a.id, va.start + 3 * PAGE)).toBe(true);
      runToCompletion(doMprotect(k, a, va.start, 16 * PAGE, PROT_READ));
      if (subscribed) {
        expect(log).toEqual(['start PROTECTION_VMA', 'end PROTECTION_VMA']);
        expect(dev.holdsWritable(a.id, va.start + 3 * PAGE)).toBe(false);
        expect(dev.store8(a.id, va.start + 3 * PAGE, 3)).toBe(-1); // must fault now
      } else {
        // without a subscription nothing tells the device: its stale writable entry lets writes in
        expect(dev.holdsWritable(a.id, va.start + 3 * PAGE)).toBe(true);
        expect(dev.store8(a.id, va.start + 3 * PAGE, 3)).toBe(0);
      }
    }
  });
});
