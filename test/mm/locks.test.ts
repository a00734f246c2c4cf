/** Locks with owner tracking: assertions, misuse, blocking in explore mode, deadlock in fast mode. */
import { describe, expect, it } from 'vitest';
import { DeadlockError, runToCompletion } from '../../src/checker/task.ts';
import { KTask } from '../../src/mm/kernel.ts';
import { Rwsem, Spinlock } from '../../src/mm/locks.ts';
import { kernel } from './fixtures.ts';

describe('Spinlock', () => {
  it('tracks its owner; assertHeld/heldByMe are per task', () => {
    const k = kernel(2);
    const [t0, t1] = [new KTask('t0', 0), new KTask('t1', 1)];
    const l = new Spinlock(k, 'L');
    k.setCurrent(t0);
    expect(l.heldByMe()).toBe(false);
    expect(() => l.assertHeld()).toThrow(/lockdep: L must be held by t0/);
    runToCompletion(l.lock());
    expect(l.owner).toBe(t0);
    expect(l.heldByMe()).toBe(true);
    l.assertHeld();
    k.setCurrent(t1);
    expect(l.heldByMe()).toBe(false);
    expect(l.tryLock()).toBe(false);
    expect(() => l.unlock()).toThrow(/t1 releases L held by t0/);
    k.setCurrent(t0);
    l.unlock();
    expect(l.owner).toBeNull();
    expect(() => l.unlock()).toThrow(/held by nobody/);
  });

  it('recursive acquisition throws', () => {
    const k = kernel(1);
    const l = new Spinlock(k, 'L');
    runToCompletion(l.lock());
    expect(() => runToCompletion(l.lock())).toThrow(/recursive/);
  });

  it('explore mode: a contended lock parks the task on a Wait until released', () => {
    const k = kernel(2, { explore: true });
    const [t0, t1] = [new KTask('t0', 0), new KTask('t1', 1)];
    const l = new Spinlock(k, 'L');
    k.setCurrent(t0);
    runToCompletion(l.lock());
    k.setCurrent(t1);
    const g = l.lock();
    const first = g.next(); // the access footprint (scheduling point)
    expect(typeof first.value).toBe('number');
    const w = g.next().value;
    expect(typeof w).toBe('object');
    const wait = w as { waitingFor: string; ready(): boolean };
    expect(wait.waitingFor).toBe('L');
    expect(wait.ready()).toBe(false);
    k.setCurrent(t0);
    l.unlock();
    expect(wait.ready()).toBe(true);
    k.setCurrent(t1);
    expect(g.next().done).toBe(true);
    expect(l.owner).toBe(t1);
  });

  it('fast mode: runToCompletion reports a deadlock on a contended lock', () => {
    const k = kernel(2);
    const l = new Spinlock(k, 'L');
    k.setCurrent(new KTask('t0', 0));
    runToCompletion(l.lock());
    k.setCurrent(new KTask('t1', 1));
    expect(() => runToCompletion(l.lock())).toThrow(DeadlockError);
  });
});

describe('Rwsem', () => {
  it('readers share, a writer excludes; releases are checked per task', () => {
    const k = kernel(2);
    const [t0, t1] = [new KTask('t0', 0), new KTask('t1', 1)];
    const s = new Rwsem(k, 'S');
    k.setCurrent(t0);
    runToCompletion(s.downRead());
    k.setCurrent(t1);
    runToCompletion(s.downRead());
    s.assertHeld();
    expect(() => s.assertWriteHeld()).toThrow(/held for write/);
    expect(() => runToCompletion(s.downWrite())).toThrow(/deadlock/); // t1 holds it for read
    s.upRead();
    expect(() => s.upRead()).toThrow(/t1 releases S \(read\)/);
    expect(() => runToCompletion(s.downWrite())).toThrow(DeadlockError); // t0 still reads
    k.setCurrent(t0);
    s.upRead();
    runToCompletion(s.downWrite());
    s.assertWriteHeld();
    expect(s.tryDownRead()).toBe(false);
    k.setCurrent(t1);
    expect(() => s.upWrite()).toThrow(/does not hold/);
    expect(() => s.assertHeld()).toThrow(/lockdep/);
    expect(() => runToCompletion(s.downRead())).toThrow(DeadlockError);
  });

  it('upRead releases the right reader when tasks release out of order', () => {
    const k = kernel(3);
    const ts = [0, 1, 2].map((i) => new KTask(`t${i}`, i));
    const s = new Rwsem(k, 'S');
    for (const t of ts) {
      k.setCurrent(t);
      runToCompletion(s.downRead());
    }
    k.setCurrent(ts[0]!);
    s.upRead();
    expect(s.readers).toEqual([ts[1], ts[2]]);
    k.setCurrent(ts[2]!);
    s.upRead();
    expect(s.readers).toEqual([ts[1]]);
  });

  it('explore mode: a writer waits for readers to leave', () => {
    const k = kernel(2, { explore: true });
    const [t0, t1] = [new KTask('t0', 0), new KTask('t1', 1)];
    const s = new Rwsem(k, 'S');
    k.setCurrent(t0);
    runToCompletion(s.downRead());
    k.setCurrent(t1);
    const g = s.downWrite();
    g.next();
    const w = g.next().value as { waitingFor: string; ready(): boolean };
    expect(w.waitingFor).toBe('S (write)');
    expect(w.ready()).toBe(false);
    k.setCurrent(t0);
    s.upRead();
    expect(w.ready()).toBe(true);
    k.setCurrent(t1);
    expect(g.next().done).toBe(true);
    expect(s.writer).toBe(t1);
  });
});
