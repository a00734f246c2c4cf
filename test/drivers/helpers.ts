/** Builders for driver tests: stores through a CPU's mm, submissions, PTE peeking. */

import type { KGen } from '../../src/checker/task.ts';
import { runToCompletion } from '../../src/checker/task.ts';
import type { BoSystem, FbSystem } from '../../src/drivers/consumers.ts';
import { entryIndexAt } from '../../src/hw/pagetable.ts';
import { LEVEL_PTE } from '../../src/hw/pte.ts';
import type { Kernel, KTask } from '../../src/mm/kernel.ts';
import { storeFast } from '../../src/mm/memory.ts';

export const PAGE = 4096;

/** A store of `v` by CPU `c` to page `page` of BO `b` (through CPU c's process). Throws on a fatal fault. */
export function boStore(s: BoSystem, c: number, b: number, page: number, v: number, off = 0): void {
  const m = s.mms.indexOf(s.mmOfCpu[c]!);
  s.k.setCurrent(s.tasks[c]!);
  const r = storeFast(s.k, s.k.cpus[c]!, s.mmOfCpu[c]!, s.vmas[m]![b]!.start + page * PAGE + off, v);
  if (r !== 0) throw new Error(`store killed the task: ${r}`);
}

export function fbStore(s: FbSystem, c: number, page: number, v: number, off = 0): void {
  const m = s.mms.indexOf(s.mmOfCpu[c]!);
  s.k.setCurrent(s.tasks[c]!);
  const r = storeFast(s.k, s.k.cpus[c]!, s.mmOfCpu[c]!, s.vmas[m]!.start + page * PAGE + off, v);
  if (r !== 0) throw new Error(`store killed the task: ${r}`);
}

/** Run `g` to completion as task `t`. */
export function as<T>(k: Kernel, t: KTask, g: KGen<T>): T {
  const saved = k.cur;
  k.setCurrent(t);
  try {
    return runToCompletion(g);
  } finally {
    k.setCurrent(saved);
  }
}

/** The PTE (lo word) mapping BO page `page` in mm index `m`, or 0 when there is none. */
export function bopte(s: BoSystem, m: number, b: number, page: number): number {
  const mm = s.mms[m]!;
  const addr = s.vmas[m]![b]!.start + page * PAGE;
  const i = entryIndexAt(s.k.mem, mm.root, Math.floor(addr / PAGE), LEVEL_PTE, s.k.levels, false);
  return i < 0 ? 0 : s.k.mem.ptLo[i]!;
}
