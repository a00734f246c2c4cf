import { access, type KGen, type Wait } from '../checker/task.ts';
import type { Kernel, KTask } from './kernel.ts';

/**
 * Kernel locks with owner tracking and assertions. Acquisition is a generator (`yield*
 * lock.lock(k)`): in explore mode it is a scheduling point, and a contended lock parks the task
 * on a {@link Wait} until it is free. In fast mode nothing is ever contended (one task runs at a
 * time); a contended lock there is a deadlock and {@link runToCompletion} reports it.
 *
 * Used for spinlocks (PTL, PMD lock), mutexes and PG_locked alike: in this model they differ only
 * in whether the holder may sleep, which the model does not need.
 */
export class Spinlock {
  owner: KTask | null = null;
  readonly id: number;
  private readonly wait: Wait;

  constructor(
    readonly k: Kernel,
    readonly name: string,
  ) {
    this.id = k.objId();
    this.wait = { waitingFor: name, ready: () => this.owner === null };
  }

  *lock(): KGen<void> {
    const k = this.k;
    if (k.explore) yield access(this.id, true);
    while (this.owner !== null) {
      if (this.owner === k.cur) throw new Error(`recursive acquisition of ${this.name} by ${k.cur.name}`);
      if (k.trace !== null) k.trace.emit({ kind: 'lockBlock', lock: this.name, mode: 'exclusive' });
      yield this.wait;
    }
    this.owner = k.cur;
    if (k.trace !== null) k.trace.emit({ kind: 'lockAcquire', lock: this.name, mode: 'exclusive' });
  }

  /** Non-blocking attempt; true if acquired. */
  tryLock(): boolean {
    if (this.owner !== null) return false;
    this.owner = this.k.cur;
    if (this.k.trace !== null) this.k.trace.emit({ kind: 'lockAcquire', lock: this.name, mode: 'exclusive' });
    return true;
  }

  unlock(): void {
    const k = this.k;
    if (this.owner !== k.cur)
      throw new Error(
        `${k.cur.name} releases ${this.name} held by ${this.owner === null ? 'nobody' : this.owner.name}`,
      );
    this.owner = null;
    if (k.trace !== null) k.trace.emit({ kind: 'lockRelease', lock: this.name, mode: 'exclusive' });
  }

  /** Whether the current task holds it. */
  heldByMe(): boolean {
    return this.owner === this.k.cur;
  }

  assertHeld(): void {
    if (this.owner !== this.k.cur)
      throw new Error(`lockdep: ${this.name} must be held by ${this.k.cur.name}`);
  }
}

/** A mutex is modelled as a sleeping {@link Spinlock}. */
export { Spinlock as Mutex };

/** Reader-writer semaphore (mmap_lock, i_mmap_rwsem) with reader and writer tracking. */
export class Rwsem {
  writer: KTask | null = null;
  readonly readers: KTask[] = [];
  readonly id: number;
  private readonly readWait: Wait;
  private readonly writeWait: Wait;

  constructor(
    readonly k: Kernel,
    readonly name: string,
  ) {
    this.id = k.objId();
    this.readWait = { waitingFor: `${name} (read)`, ready: () => this.writer === null };
    this.writeWait = {
      waitingFor: `${name} (write)`,
      ready: () => this.writer === null && this.readers.length === 0,
    };
  }

  *downRead(): KGen<void> {
    const k = this.k;
    if (k.explore) yield access(this.id, true);
    while (this.writer !== null) {
      if (k.trace !== null) k.trace.emit({ kind: 'lockBlock', lock: this.name, mode: 'read' });
      yield this.readWait;
    }
    this.readers.push(k.cur);
    if (k.trace !== null) k.trace.emit({ kind: 'lockAcquire', lock: this.name, mode: 'read' });
  }

  tryDownRead(): boolean {
    if (this.writer !== null) return false;
    this.readers.push(this.k.cur);
    if (this.k.trace !== null) this.k.trace.emit({ kind: 'lockAcquire', lock: this.name, mode: 'read' });
    return true;
  }

  upRead(): void {
    const r = this.readers;
    // Common case: the current task is the last reader in (no search, no splice).
    if (r.length > 0 && r[r.length - 1] === this.k.cur) {
      r.pop();
      if (this.k.trace !== null) this.k.trace.emit({ kind: 'lockRelease', lock: this.name, mode: 'read' });
      return;
    }
    const i = this.readers.lastIndexOf(this.k.cur);
    if (i < 0) throw new Error(`${this.k.cur.name} releases ${this.name} (read) it does not hold`);
    this.readers.splice(i, 1);
    if (this.k.trace !== null) this.k.trace.emit({ kind: 'lockRelease', lock: this.name, mode: 'read' });
  }

  *downWrite(): KGen<void> {
    const k = this.k;
    if (k.explore) yield access(this.id, true);
    while (this.writer !== null || this.readers.length > 0) {
      if (this.writer === k.cur || this.readers.includes(k.cur))
        throw new Error(`deadlock: ${k.cur.name} takes ${this.name} for write while holding it`);
      if (k.trace !== null) k.trace.emit({ kind: 'lockBlock', lock: this.name, mode: 'write' });
      yield this.writeWait;
    }
    this.writer = k.cur;
    if (k.trace !== null) k.trace.emit({ kind: 'lockAcquire', lock: this.name, mode: 'write' });
  }

  upWrite(): void {
    if (this.writer !== this.k.cur)
      throw new Error(`${this.k.cur.name} releases ${this.name} (write) it does not hold`);
    this.writer = null;
    if (this.k.trace !== null) this.k.trace.emit({ kind: 'lockRelease', lock: this.name, mode: 'write' });
  }

  /** lockdep_assert_held: read or write by the current task. */
  assertHeld(): void {
    const me = this.k.cur;
    if (this.writer !== me && !this.readers.includes(me))
      throw new Error(`lockdep: ${this.name} must be held by ${me.name}`);
  }

  assertWriteHeld(): void {
    if (this.writer !== this.k.cur)
      throw new Error(`lockdep: ${this.name} must be held for write by ${this.k.cur.name}`);
  }
}
