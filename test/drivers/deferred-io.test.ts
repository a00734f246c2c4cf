import { describe, expect, it } from 'vitest';
import { SimClock } from '../../src/drivers/clock.ts';
import { buildFbSystem } from '../../src/drivers/consumers.ts';
import { DEFIO_DEFAULT_DELAY_NS, type DefioVariant } from '../../src/drivers/deferred-io.ts';
import { fbStore } from './helpers.ts';

describe('SimClock', () => {
  it('fires timers in time order, equal times in scheduling order, and supports cancel', () => {
    const c = new SimClock();
    const seen: string[] = [];
    c.schedule(20, () => seen.push('b'));
    c.schedule(10, () => seen.push('a'));
    const x = c.schedule(20, () => seen.push('x'));
    c.schedule(20, () => seen.push('c'));
    expect(c.cancel(x)).toBe(true);
    c.runUntil(15);
    expect(seen).toEqual(['a']);
    expect(c.now).toBe(15);
    c.advance(5);
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(c.nextAt).toBe(Number.POSITIVE_INFINITY);
  });
});

describe.each(['mainline', 'page-lock'] as DefioVariant[])('fb deferred I/O (%s)', (variant) => {
  it('a written page reaches deferredIo after the delay, not before', () => {
    const s = buildFbSystem({ cpus: 2, pages: 16, variant });
    const lists: number[][] = [];
    const copy = s.fb.deferredIo;
    s.fb.deferredIo = (list) => {
      lists.push(list.map((r) => r.offset / 4096));
      copy(list);
    };
    fbStore(s, 0, 3, 42);
    expect(s.fb.workPending).toBe(true);
    s.clock.advance(DEFIO_DEFAULT_DELAY_NS - 1);
    expect(lists).toEqual([]);
    expect(s.display.coherent(3)).toBe(false);
    s.clock.advance(1);
    expect(lists).toEqual([[3]]);
    expect(s.display.coherent(3)).toBe(true);
    expect(s.fb.workPending).toBe(false);
    expect(s.fb.pagereflist).toEqual([]);
  });

  it('a page is queued once however often and through however many mappings it is written', () => {
    const s = buildFbSystem({ cpus: 2, pages: 16, variant, processes: 'per-cpu' });
    const lists: number[][] = [];
    s.fb.deferredIo = (list) => lists.push(list.map((r) => r.offset / 4096));
    fbStore(s, 0, 5, 1);
    fbStore(s, 1, 5, 2); // second process, its own PTE: page_mkwrite again, already queued
    fbStore(s, 0, 5, 3); // writable now: no fault
    fbStore(s, 1, 9, 4);
    expect(s.k.counters.mkwriteCalls).toBe(3);
    expect(s.fb.pagereflist.map((r) => r.offset / 4096)).toEqual([5, 9]);
    s.clock.drain();
    expect(lists).toEqual([[5, 9]]);
  });

  it('the work write-protects the page again, so the next write is tracked again', () => {
    const s = buildFbSystem({ cpus: 1, pages: 8, variant });
    fbStore(s, 0, 2, 1);
    s.clock.drain();
    expect(s.fb.workRuns).toBe(1);
    fbStore(s, 0, 2, 7);
    expect(s.fb.workPending).toBe(true);
    expect(s.display.coherent(2)).toBe(false);
    s.clock.drain();
    expect(s.fb.workRuns).toBe(2);
    expect(s.display.coherent(2)).toBe(true);
  });

  it('fsync and the last close flush the pending work at once', () => {
    const s = buildFbSystem({ cpus: 1, pages: 8, variant });
    fbStore(s, 0, 1, 1);
    s.fb.fsync();
    expect(s.display.coherent(1)).toBe(true);
    expect(s.clock.size).toBe(0);
    fbStore(s, 0, 4, 1);
    s.fb.open();
    s.fb.release(); // not the last close
    expect(s.display.coherent(4)).toBe(false);
    s.fb.release(); // last close
    expect(s.display.coherent(4)).toBe(true);
  });

  it('sortPagereflist keeps the list in offset order', () => {
    const s = buildFbSystem({ cpus: 1, pages: 16, variant, sortPagereflist: true });
    for (const p of [9, 2, 14, 5]) fbStore(s, 0, p, 1);
    expect(s.fb.pagereflist.map((r) => r.offset / 4096)).toEqual([2, 5, 9, 14]);
  });

  it('faults after cleanup are SIGBUS', () => {
    const s = buildFbSystem({ cpus: 1, pages: 4, variant });
    s.fb.cleanup();
    expect(() => fbStore(s, 0, 0, 1)).toThrow(/killed/);
  });
});
