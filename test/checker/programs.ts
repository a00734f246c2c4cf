/**
 * The standard benchmark programs of the stateless-model-checking literature (Flanagan & Godefroid
 * POPL'05; Abdulla et al. POPL'14), written from their published behaviour as small thread state
 * machines over shared arrays, with exact footprints. One definition serves two readers:
 * - {@link toModel}: a checker model written with the checker's own task API (generators that yield
 *   the footprint of their next step, Waits for locks);
 * - the brute-force trace counter in trace-count.ts, which never touches the checker.
 *
 * A thread's next action may depend only on its own local state (what it read before), never on
 * shared state: its footprint is declared before it runs. Lock acquisitions are Waits whose step
 * writes the lock object; releases write it too.
 */
import type { ModelDef, ModelInstance, ModelTask } from '../../src/checker/model.ts';
import { access, type TaskBody, type Wait } from '../../src/checker/task.ts';

/** Shared state: named arrays of numbers. */
export type Shared = Int32Array[];

export interface Action {
  /** Footprint of the step (task.ts access()). */
  readonly fp: number;
  /** A lock acquisition: the step can run only when `shared[lock.arr][lock.idx] === 0`. */
  readonly lock?: { readonly arr: number; readonly idx: number };
}

export interface Program {
  readonly name: string;
  readonly threads: number;
  /** Fresh shared state. */
  init(): Shared;
  /** Fresh local state of thread `tid` (a small int array: pc and registers). */
  local(tid: number): Int32Array;
  /** The next action of the thread, from its local state only; null when it has finished. */
  next(tid: number, l: Int32Array): Action | null;
  /** Perform the action `next` announced (reads and writes shared, updates l). */
  run(tid: number, l: Int32Array, s: Shared): void;
}

/** Object ids: array a, index i -> a * STRIDE + i (footprints are per element). */
const STRIDE = 1024;
export function obj(arr: number, idx: number): number {
  return arr * STRIDE + idx;
}

function rd(arr: number, idx: number): Action {
  return { fp: access(obj(arr, idx), false) };
}
function wr(arr: number, idx: number): Action {
  return { fp: access(obj(arr, idx), true) };
}
function lk(arr: number, idx: number): Action {
  return { fp: access(obj(arr, idx), true), lock: { arr, idx } };
}

// Cache actions: next() is called per step and must not allocate.
function cache(make: (arr: number, idx: number) => Action): (arr: number, idx: number) => Action {
  const m = new Map<number, Action>();
  return (arr, idx) => {
    const k = obj(arr, idx);
    let a = m.get(k);
    if (a === undefined) {
      a = make(arr, idx);
      m.set(k, a);
    }
    return a;
  };
}
const R = cache(rd);
const W = cache(wr);
const L = cache(lk);

/** N threads, thread i writes its own variable once: 1 trace. */
export function independent(n: number): Program {
  return {
    name: `independent(${n})`,
    threads: n,
    init: () => [new Int32Array(n)],
    local: () => new Int32Array(1),
    next: (tid, l) => (l[0] === 0 ? W(0, tid) : null),
    run(tid, l, s) {
      s[0]![tid] = 1;
      l[0] = 1;
    },
  };
}

/** N threads each write the same variable once: N! traces. */
export function writers(n: number): Program {
  return {
    name: `writers(${n})`,
    threads: n,
    init: () => [new Int32Array(1)],
    local: () => new Int32Array(1),
    next: (_tid, l) => (l[0] === 0 ? W(0, 0) : null),
    run(tid, l, s) {
      s[0]![0] = tid + 1;
      l[0] = 1;
    },
  };
}

/** Thread 0 writes x; threads 1..N read it: 2^N traces. */
export function readers(n: number): Program {
  return {
    name: `readers(${n})`,
    threads: n + 1,
    init: () => [new Int32Array(1)],
    local: () => new Int32Array(2),
    next: (tid, l) => (l[0] !== 0 ? null : tid === 0 ? W(0, 0) : R(0, 0)),
    run(tid, l, s) {
      if (tid === 0) s[0]![0] = 1;
      else l[1] = s[0]![0]!;
      l[0] = 1;
    },
  };
}

/**
 * lastzero(N): array[0..N] of zeros. Thread 0: `for (i = N; array[i] != 0; i--);` (one read per
 * step). Thread j (1..N): `array[j] = array[j-1] + 1` (a read, then a write).
 * Local: [pc, i or value].
 */
export function lastzero(n: number): Program {
  return {
    name: `lastzero(${n})`,
    threads: n + 1,
    init: () => [new Int32Array(n + 1)],
    local: (tid) => Int32Array.of(0, tid === 0 ? n : 0),
    next(tid, l) {
      if (tid === 0) return l[0] === 0 ? R(0, l[1]!) : null;
      return l[0] === 0 ? R(0, tid - 1) : l[0] === 1 ? W(0, tid) : null;
    },
    run(tid, l, s) {
      const a = s[0]!;
      if (tid === 0) {
        if (a[l[1]!] === 0 || l[1] === 0) l[0] = 1;
        else l[1]!--;
      } else if (l[0] === 0) {
        l[1] = a[tid - 1]!;
        l[0] = 1;
      } else {
        a[tid] = l[1]! + 1;
        l[0] = 2;
      }
    },
  };
}

/**
 * indexer(N): a hash table of `size` (128) slots; each thread inserts `max` (4) messages
 * w = (m+1)*11 + tid at h = 7w mod size with compare-and-swap from 0, probing h+1 on a failure.
 * A CAS is one step that may write its slot. Local: [m, h].
 */
export function indexer(n: number, size = 128, max = 4): Program {
  const hashOf = (tid: number, m: number): number => (((m + 1) * 11 + tid) * 7) % size;
  return {
    name: `indexer(${n})`,
    threads: n,
    init: () => [new Int32Array(size)],
    local: (tid) => Int32Array.of(0, hashOf(tid, 0)),
    next: (_tid, l) => (l[0]! < max ? W(0, l[1]!) : null),
    run(tid, l, s) {
      const t = s[0]!;
      const h = l[1]!;
      if (t[h] === 0) {
        t[h] = (l[0]! + 1) * 11 + tid;
        l[0]!++;
        if (l[0]! < max) l[1] = hashOf(tid, l[0]!);
      } else l[1] = (h + 1) % size;
    },
  };
}

const LOCKI = 0;
const INODE = 1;
const LOCKB = 2;
const BUSY = 3;

/**
 * filesystem(N) (Flanagan & Godefroid): `inodes` (32) inodes and `blocks` (26) blocks, each with
 * a lock. Thread tid takes inode i = tid mod inodes under its lock; if the inode is free it scans
 * blocks from (2i mod blocks), under each block's lock, for a free one, marks it busy and records
 * it in the inode. Steps: each lock, unlock, read and write. Local: [pc, b, value].
 */
export function filesystem(n: number, blocks = 26, inodes = 32): Program {
  const PC_LOCKI = 0;
  const PC_READ_INODE = 1;
  const PC_LOCKB = 2;
  const PC_READ_BUSY = 3;
  const PC_SET_BUSY = 4;
  const PC_SET_INODE = 5;
  const PC_UNLOCKB = 6;
  const PC_UNLOCKI = 7;
  const PC_DONE = 8;
  return {
    name: `filesystem(${n})`,
    threads: n,
    init: () => [
      new Int32Array(inodes),
      new Int32Array(inodes),
      new Int32Array(blocks),
      new Int32Array(blocks),
    ],
    local: () => Int32Array.of(PC_LOCKI, 0, 0),
    next(tid, l) {
      const i = tid % inodes;
      switch (l[0]) {
        case PC_LOCKI:
          return L(LOCKI, i);
        case PC_READ_INODE:
          return R(INODE, i);
        case PC_LOCKB:
          return L(LOCKB, l[1]!);
        case PC_READ_BUSY:
          return R(BUSY, l[1]!);
        case PC_SET_BUSY:
          return W(BUSY, l[1]!);
        case PC_SET_INODE:
          return W(INODE, i);
        case PC_UNLOCKB:
          return W(LOCKB, l[1]!);
        case PC_UNLOCKI:
          return W(LOCKI, i);
        default:
          return null;
      }
    },
    run(tid, l, s) {
      const i = tid % inodes;
      const b = l[1]!;
      switch (l[0]) {
        case PC_LOCKI:
          s[LOCKI]![i] = tid + 1;
          l[0] = PC_READ_INODE;
          break;
        case PC_READ_INODE:
          if (s[INODE]![i] === 0) {
            l[1] = (i * 2) % blocks;
            l[0] = PC_LOCKB;
          } else l[0] = PC_UNLOCKI;
          break;
        case PC_LOCKB:
          s[LOCKB]![b] = tid + 1;
          l[0] = PC_READ_BUSY;
          break;
        case PC_READ_BUSY:
          l[2] = s[BUSY]![b]!;
          l[0] = l[2] === 0 ? PC_SET_BUSY : PC_UNLOCKB;
          break;
        case PC_SET_BUSY:
          s[BUSY]![b] = 1;
          l[0] = PC_SET_INODE;
          break;
        case PC_SET_INODE:
          s[INODE]![i] = b + 1;
          l[0] = PC_UNLOCKB;
          break;
        case PC_UNLOCKB:
          s[LOCKB]![b] = 0;
          if (l[2] === 0) l[0] = PC_UNLOCKI;
          else {
            l[1] = (b + 1) % blocks;
            l[0] = PC_LOCKB;
          }
          break;
        case PC_UNLOCKI:
          s[LOCKI]![i] = 0;
          l[0] = PC_DONE;
          break;
      }
    },
  };
}

/** Can `a` run in state `s`? (a lock acquisition needs a free lock) */
export function actionReady(a: Action, s: Shared): boolean {
  return a.lock === undefined || s[a.lock.arr]![a.lock.idx] === 0;
}

/** Footprint of the no-op first step of a thread whose first action is a lock (a private object). */
export function startFootprint(tid: number): number {
  return access(obj(STRIDE - 1, tid), false);
}

class LockWait implements Wait {
  readonly waitingFor: string;
  readonly footprint: number;
  constructor(
    private readonly s: Shared,
    private readonly a: Action,
    readonly exclusive: boolean,
  ) {
    this.waitingFor = `lock ${a.lock!.arr}/${a.lock!.idx}`;
    this.footprint = a.fp;
  }
  ready(): boolean {
    return actionReady(this.a, this.s);
  }
}

function* thread(
  p: Program,
  tid: number,
  s: Shared,
  l: Int32Array,
  first: Action | null,
  excl: boolean,
): TaskBody {
  let a = first;
  if (a !== null && a.lock !== undefined) {
    yield new LockWait(s, a, excl); // first step: a no-op, then park on the lock
  }
  while (a !== null) {
    p.run(tid, l, s);
    a = p.next(tid, l);
    if (a === null) return;
    yield a.lock === undefined ? a.fp : new LockWait(s, a, excl);
  }
}

function noViolation(): null {
  return null;
}

/**
 * The program as a checker model (one variant, `mainline`, expected to pass). Locks are declared
 * exclusive (task.ts `Wait.exclusive`) unless `exclusiveLocks: false`.
 */
export function toModel(p: Program, opts: { exclusiveLocks?: boolean } = {}): ModelDef {
  const excl = opts.exclusiveLocks ?? true;
  return {
    name: p.name,
    description: `${p.name} benchmark program`,
    variants: [{ name: 'mainline', description: 'the program', expected: { verdict: 'pass' } }],
    create(): ModelInstance {
      const s = p.init();
      const tasks: ModelTask[] = [];
      for (let tid = 0; tid < p.threads; tid++) {
        const l = p.local(tid);
        const first = p.next(tid, l);
        const fp =
          first === null ? startFootprint(tid) : first.lock !== undefined ? startFootprint(tid) : first.fp;
        const name = `t${tid}`;
        tasks.push({
          name,
          cpu: tid,
          body: thread(p, tid, s, l, first, excl),
          ctx: { task: name, cpu: tid, fn: name },
          footprint: fp,
        });
      }
      return { tasks, trace: null, checkFinal: noViolation };
    },
  };
}
