/**
 * Builders for the seed-helper tests: an aliasing world with a store log (one 16-page file mapped
 * shared by mm A at pgoff 0 and mm B at pgoff 4), a secondary MMU subscribed through an mmu
 * notifier, and two ways to drive several kernel generators in explore mode: a seeded random
 * interleaving of actors (one step at a time) and a deterministic round-robin for fixed stories.
 */
import type { KGen, Wait } from '../../src/checker/task.ts';
import { SecondaryMmu } from '../../src/hw/secondary-mmu.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { Kernel, KTask } from '../../src/mm/kernel.ts';
import type { MmStruct, Vma } from '../../src/mm/mm-types.ts';
import { mmCreate, switchMm } from '../../src/mm/mmap.ts';
import { mmuNotifierRegister } from '../../src/mm/mmu-notifier.ts';
import { DirtyLaws, WritableWitnessSink } from '../laws/dirty-laws.ts';
import { mapFile, PAGE } from './fixtures.ts';

export const FILE_PAGES = 16;
/** mm B maps file pages [B_PGOFF, B_PGOFF + B_PAGES). */
export const B_PGOFF = 4;
export const B_PAGES = 8;

export interface World {
  k: Kernel;
  file: AddressSpace;
  a: MmStruct;
  b: MmStruct;
  va: Vma;
  vb: Vma;
  /** One user task per CPU (`cpuN`). */
  cpuTasks: KTask[];
  laws: DirtyLaws;
  witness: WritableWitnessSink | null;
}

export interface WorldOpts {
  cpus?: number;
  explore?: boolean;
  /** File does writeback (write-notify: PTEs start read-only, first write faults). Default false (shmem). */
  writeback?: boolean;
  /** Install a {@link WritableWitnessSink} as the trace sink. */
  witness?: boolean;
  shadowStack?: boolean;
}

/**
 * The aliasing world: CPU i runs A for even i, B for odd i. Store log on. With `witness`, the
 * trace sink is a {@link WritableWitnessSink} (keeps no events).
 */
export function world(o: WorldOpts = {}): World {
  const witness = o.witness === true ? new WritableWitnessSink() : null;
  const k = new Kernel({
    cpus: o.cpus ?? 2,
    explore: o.explore ?? false,
    storeLog: true,
    trace: witness,
    shadowStack: o.shadowStack ?? false,
  });
  const file = new AddressSpace(k, 'file', o.writeback ?? false, FILE_PAGES);
  const a = mmCreate(k, 'A');
  const b = mmCreate(k, 'B');
  // mapFile drains doMmap with runToCompletion, which steps over explore-mode preemption points.
  const va = mapFile(k, a, file, { pages: FILE_PAGES, pgoff: 0 });
  const vb = mapFile(k, b, file, { pages: B_PAGES, pgoff: B_PGOFF });
  for (const c of k.cpus) switchMm(k, c.id, c.id % 2 === 0 ? a : b);
  const cpuTasks = k.cpus.map((c) => new KTask(`cpu${c.id}`, c.id));
  return { k, file, a, b, va, vb, cpuTasks, laws: new DirtyLaws(k, file, [a, b]), witness };
}

/**
 * A secondary MMU bound to `mm`, subscribed with a notifier that drops its translations on
 * invalidate_range_start (KVM-style). CPU TLB flushes do not reach it.
 */
export function attachDevice(k: Kernel, mm: MmStruct): SecondaryMmu {
  const d = new SecondaryMmu(k.devices.length, k.mem, k.counters);
  k.addDevice(d);
  d.bind(mm.id, mm.root);
  mmuNotifierRegister(mm, {
    name: `dev${d.id}`,
    invalidateRangeStart: (r) => d.invalidateRange(mm.id, r.start, r.end),
  });
  return d;
}

/** Address of file page `page` in `vma`. */
export function addrOf(vma: Vma, page: number): number {
  return vma.start + (page - vma.pgoff) * PAGE;
}

/** One operation of an actor: `start` builds its generator (called with the actor current). */
export interface Op {
  readonly label: string;
  /** Position in program order (see `window` of {@link interleave}). */
  readonly seq?: number;
  start(): KGen<unknown>;
  done?(value: unknown): void;
}

export interface Actor {
  readonly task: KTask;
  readonly ops: Op[];
}

/**
 * Seeded random interleaving: repeatedly pick a runnable actor (one with work whose last yield
 * is not a Wait that is still not ready) with `rnd`, make it current and run ONE step of its
 * current operation (starting the next one if needed). With probability `stick` the previous
 * actor runs again if it can (bursts: long runs of one actor inside another's window, which a
 * uniform pick almost never produces). With `window`, operations carry `seq` (0..n-1, program
 * order) and op `seq` may only start once every op below `seq - window + 1` has finished: the
 * sequence keeps its meaning (a store before a wp stays mostly before it) while neighbours
 * overlap. Throws on deadlock. Returns the number of steps taken.
 */
export function interleave(
  k: Kernel,
  actors: readonly Actor[],
  rnd: () => number,
  stick = 0,
  onStep?: (task: KTask) => void,
  window = Number.POSITIVE_INFINITY,
): number {
  const finished: boolean[] = [];
  let low = 0; // every op with seq < low has finished
  const startable = (op: Op | undefined): boolean =>
    op === undefined || op.seq === undefined || op.seq < low + window;
  const st = actors.map((a) => ({
    a,
    q: 0,
    gen: null as KGen<unknown> | null,
    op: null as Op | null,
    wait: null as Wait | null,
  }));
  let steps = 0;
  let prev: (typeof st)[number] | null = null;
  for (;;) {
    const runnable = st.filter(
      (s) =>
        (s.gen !== null || (s.q < s.a.ops.length && startable(s.a.ops[s.q]))) &&
        (s.wait === null || s.wait.ready()),
    );
    if (runnable.length === 0) {
      const stuck = st.filter((s) => s.gen !== null || s.q < s.a.ops.length);
      if (stuck.length > 0) throw new Error(`deadlock: ${stuck.map((s) => s.wait?.waitingFor).join(', ')}`);
      return steps;
    }
    const again: boolean = prev !== null && runnable.includes(prev) && rnd() < stick;
    const s: (typeof st)[number] = again ? prev! : runnable[Math.floor(rnd() * runnable.length)]!;
    prev = s;
    k.setCurrent(s.a.task);
    if (s.gen === null) {
      s.op = s.a.ops[s.q++]!;
      s.gen = s.op.start();
    }
    const r = s.gen.next();
    steps++;
    onStep?.(s.a.task);
    if (r.done) {
      s.gen = null;
      s.wait = null;
      s.op!.done?.(r.value);
      if (s.op!.seq !== undefined) {
        finished[s.op!.seq] = true;
        while (finished[low] === true) low++;
      }
    } else {
      s.wait = typeof r.value === 'object' ? r.value : null;
    }
  }
}

/**
 * Deterministic round-robin for fixed stories: run each generator in order until it finishes or
 * blocks on a Wait that is not ready, then the next; repeat until all are done. Returns results.
 */
export function runAll(k: Kernel, jobs: ReadonlyArray<readonly [KTask, KGen<unknown>]>): unknown[] {
  const res: unknown[] = new Array(jobs.length);
  const done = jobs.map(() => false);
  const wait: Array<Wait | null> = jobs.map(() => null);
  for (;;) {
    let progressed = false;
    for (let j = 0; j < jobs.length; j++) {
      if (done[j]) continue;
      const [t, g] = jobs[j]!;
      while (!done[j] && (wait[j] === null || wait[j]!.ready())) {
        k.setCurrent(t);
        const r = g.next();
        progressed = true;
        if (r.done) {
          done[j] = true;
          res[j] = r.value;
        } else wait[j] = typeof r.value === 'object' ? r.value : null;
      }
    }
    if (done.every((d) => d)) return res;
    if (!progressed) throw new Error('runAll: deadlock');
  }
}
