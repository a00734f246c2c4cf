/**
 * Shared builders for the mm tests: kernels, mms, file mappings, the aliasing fixture (one file
 * mapped shared in two mms at different addresses and pgoffs), a PFNMAP driver mapping, PTE
 * peeking, and helpers to drive kernel generators (whole, or step by step in explore mode).
 */
import { type KGen, runToCompletion, type Yield } from '../../src/checker/task.ts';
import { entryIndexAt } from '../../src/hw/pagetable.ts';
import { LEVEL_PTE, PTE_PRESENT, PTE_USER, pfn4k } from '../../src/hw/pte.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { Kernel, type KernelConfig, KTask } from '../../src/mm/kernel.ts';
import { vmfInsertPfnProt } from '../../src/mm/memory.ts';
import {
  type MmStruct,
  VM_DONTEXPAND,
  VM_FAULT_SIGBUS,
  VM_IO,
  VM_PFNMAP,
  type Vma,
  type VmFault,
  type VmOps,
} from '../../src/mm/mm-types.ts';
import { doMmap, type MmapArgs, mmCreate, PROT_READ, PROT_WRITE, switchMm } from '../../src/mm/mmap.ts';

export const PAGE = 4096;

/** A kernel with `cpus` CPUs (fast mode unless `explore`). */
export function kernel(cpus = 2, cfg: Partial<KernelConfig> = {}): Kernel {
  return new Kernel({ cpus, ...cfg });
}

/** Run `g` to completion as task `t` (sets `k.cur`). */
export function runAs<T>(k: Kernel, t: KTask, g: KGen<T>): T {
  k.setCurrent(t);
  return runToCompletion(g);
}

/** A task on each CPU (`cpu0`, `cpu1`, ...). */
export function tasks(k: Kernel): KTask[] {
  return k.cpus.map((c) => new KTask(`cpu${c.id}`, c.id));
}

export interface MapOpts {
  pages: number;
  pgoff?: number;
  shared?: boolean;
  prot?: number;
  fdWritable?: boolean;
  addr?: number;
}

/** mmap `file` in `mm`; throws on an errno. */
export function mapFile(k: Kernel, mm: MmStruct, file: AddressSpace, o: MapOpts): Vma {
  const args: MmapArgs = {
    length: o.pages * PAGE,
    prot: o.prot ?? PROT_READ | PROT_WRITE,
    shared: o.shared ?? true,
    pgoff: o.pgoff ?? 0,
    fdWritable: o.fdWritable ?? true,
  };
  if (o.addr !== undefined) args.addr = o.addr;
  const v = runToCompletion(doMmap(k, mm, file, args));
  if (typeof v === 'number') throw new Error(`mmap failed: ${v}`);
  return v;
}

export interface Aliasing {
  k: Kernel;
  file: AddressSpace;
  a: MmStruct;
  b: MmStruct;
  /** mm A maps file pages [0, 16) */
  va: Vma;
  /** mm B maps file pages [4, 12) */
  vb: Vma;
}

/**
 * The aliasing fixture: a 16-page file mapped MAP_SHARED in mm A (pages 0..15) and mm B (pages
 * 4..11, at another address), CPU 0 running A and CPU 1 running B.
 */
export function aliasing(cfg: Partial<KernelConfig> = {}, canWriteback = true): Aliasing {
  const k = kernel(2, cfg);
  const file = new AddressSpace(k, 'file', canWriteback, 16);
  const a = mmCreate(k, 'A');
  const b = mmCreate(k, 'B');
  const va = mapFile(k, a, file, { pages: 16, pgoff: 0 });
  const vb = mapFile(k, b, file, { pages: 8, pgoff: 4 });
  switchMm(k, 0, a);
  switchMm(k, 1, b);
  return { k, file, a, b, va, vb };
}

/** Flat index of the PTE of `addr` in `mm`, or -1 if there is no PTE table. */
export function ptep(k: Kernel, mm: MmStruct, addr: number): number {
  return entryIndexAt(k.mem, mm.root, Math.floor(addr / PAGE), LEVEL_PTE, k.levels, false);
}

/** The PTE of `addr` as [lo, hi] ([0, 0] if none). */
export function pte(k: Kernel, mm: MmStruct, addr: number): [number, number] {
  const i = ptep(k, mm, addr);
  return i < 0 ? [0, 0] : [k.mem.ptLo[i]!, k.mem.ptHi[i]!];
}

export function ptePfn(k: Kernel, mm: MmStruct, addr: number): number {
  const [lo, hi] = pte(k, mm, addr);
  return (lo & PTE_PRESENT) === 0 ? -1 : pfn4k(lo, hi);
}

export interface PfnDriver {
  file: AddressSpace;
  ops: VmOps;
  /** First IO frame backing page 0 of the "device". */
  ioBase: number;
  pfnMkwriteCalls: number;
  faultCalls: number;
}

/**
 * A PFNMAP device file (fbdev/vmwgfx-like): mmap sets VM_PFNMAP|VM_IO|VM_DONTEXPAND, the fault
 * handler inserts a READ-ONLY special PTE (vmfInsertPfnProt) and returns NOPAGE; pfnMkwrite is a
 * counter (or `pfnMkwrite` if given).
 */
export function pfnDriver(
  k: Kernel,
  pages: number,
  pfnMkwrite?: (k: Kernel, vmf: VmFault) => KGen<number>,
): PfnDriver {
  const file = new AddressSpace(k, 'dev', false, pages);
  const ioBase = k.mem.allocIo(pages);
  const d: PfnDriver = { file, ioBase, pfnMkwriteCalls: 0, faultCalls: 0, ops: { name: 'x' } };
  d.ops = {
    name: 'test-pfn',
    *fault(k, vmf) {
      d.faultCalls++;
      if (vmf.pgoff >= pages) return VM_FAULT_SIGBUS;
      return yield* vmfInsertPfnProt(k, vmf.vma, vmf.address, ioBase + vmf.pgoff, PTE_PRESENT | PTE_USER);
    },
    *pfnMkwrite(k, vmf) {
      d.pfnMkwriteCalls++;
      if (pfnMkwrite !== undefined) return yield* pfnMkwrite(k, vmf);
      return 0;
    },
  };
  file.mmapHook = (_k, vma) => {
    vma.flags |= VM_PFNMAP | VM_IO | VM_DONTEXPAND;
    vma.ops = d.ops;
    return 0;
  };
  return d;
}

/**
 * Step a generator as task `t` until `pred()` holds after a step (explore mode). Returns the
 * generator's result if it finished first, else undefined. Throws if it blocks on a Wait that is
 * not ready (the test's interleaving is wrong).
 */
export function stepUntil<T>(
  k: Kernel,
  t: KTask,
  g: KGen<T>,
  pred: () => boolean,
): { done: true; value: T } | { done: false; last: Yield } {
  for (;;) {
    k.setCurrent(t);
    const r = g.next();
    if (r.done) return { done: true, value: r.value };
    if (pred()) return { done: false, last: r.value };
  }
}

/** Step `g` as `t` to completion, allowing Waits only when ready. */
export function finish<T>(k: Kernel, t: KTask, g: KGen<T>): T {
  for (;;) {
    k.setCurrent(t);
    const r = g.next();
    if (r.done) return r.value;
    const y = r.value;
    if (typeof y === 'object' && !y.ready()) throw new Error(`blocked on ${y.waitingFor}`);
  }
}

/** Small seeded PRNG for tests (mulberry32). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
