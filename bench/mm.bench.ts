/**
 * mm benchmarks (src/mm). Names are stable.
 * - mm.fault.wpShared: ns per user write that faults on a present read-only special PTE of a
 *   VM_PFNMAP shared VMA and goes handleMmFault -> doWpPage -> wpPfnShared -> pfn_mkwrite (a
 *   trivial handler) -> finishMkwriteFault -> wpPageReuse, then retries the store (goal <= 300 ns).
 *   Each timed batch stores once to each of `pages` pages; between batches the PTEs are
 *   write-protected and cleaned directly in the page table and the TLB is flushed (not timed).
 *   The value is the fastest batch in CPU time of this process (process.cpuUsage, user + system:
 *   robust to preemption on a shared, loaded machine); params.wallBestNs / params.meanNs are the
 *   wall-clock best and mean over all batches.
 */
import { runToCompletion } from '../src/checker/task.ts';
import { entryIndexAt } from '../src/hw/pagetable.ts';
import { LEVEL_PTE, PTE_DIRTY, PTE_PRESENT, PTE_RW, PTE_USER } from '../src/hw/pte.ts';
import { AddressSpace } from '../src/mm/address-space.ts';
import { Kernel, KTask } from '../src/mm/kernel.ts';
import { storeFast, userLoad8, vmfInsertPfnProt } from '../src/mm/memory.ts';
import { VM_DONTEXPAND, VM_IO, VM_PFNMAP, type VmOps } from '../src/mm/mm-types.ts';
import { doMmap, mmCreate, PROT_READ, PROT_WRITE, switchMm } from '../src/mm/mmap.ts';
import type { Bench, BenchResult } from './harness.ts';

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`mm bench: ${what}`);
}

function wpShared(): BenchResult[] {
  const pages = 512; // one PTE table
  const k = new Kernel({ cpus: 1 });
  k.setCurrent(new KTask('bench', 0));
  const file = new AddressSpace(k, 'dev', false, pages);
  const io = k.mem.allocIo(pages);
  let mkwrites = 0;
  const ops: VmOps = {
    name: 'bench-pfn',
    *fault(k, vmf) {
      return yield* vmfInsertPfnProt(k, vmf.vma, vmf.address, io + vmf.pgoff, PTE_PRESENT | PTE_USER);
    },
    // biome-ignore lint/correctness/useYield: a trivial pfn_mkwrite that never sleeps
    *pfnMkwrite() {
      mkwrites++;
      return 0;
    },
  };
  file.mmapHook = (_k, vma) => {
    vma.flags |= VM_PFNMAP | VM_IO | VM_DONTEXPAND;
    vma.ops = ops;
    return 0;
  };
  const mm = mmCreate(k, 'bench');
  const vma = runToCompletion(
    doMmap(k, mm, file, {
      length: pages * 4096,
      prot: PROT_READ | PROT_WRITE,
      shared: true,
      pgoff: 0,
      fdWritable: true,
    }),
  );
  if (typeof vma === 'number') throw new Error(`mmap: ${vma}`);
  switchMm(k, 0, mm);
  const cpu = k.cpus[0]!;
  // Prefault read-only special PTEs (read faults through the driver's fault handler).
  for (let p = 0; p < pages; p++)
    check(runToCompletion(userLoad8(k, cpu, mm, vma.start + p * 4096)) >= 0, 'prefault');
  const first = entryIndexAt(k.mem, mm.root, vma.start / 4096, LEVEL_PTE, k.levels, false);
  const lo = k.mem.ptLo;
  const rearm = (): void => {
    // Bulk write-protect + clean (what a dirty-tracking scan would do), then drop the TLB.
    for (let i = 0; i < pages; i++) lo[first + i] = (lo[first + i]! & ~(PTE_RW | PTE_DIRTY)) >>> 0;
    cpu.tlb.flushMm(mm.id);
  };
  let failed = 0;
  let wall = 0;
  const batch = (): number => {
    rearm();
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let p = 0; p < pages; p++)
      failed += storeFast(k, cpu, mm, vma.start + p * 4096 + (p & 4095), p & 255);
    wall = Number(process.hrtime.bigint() - t0);
    const c = process.cpuUsage(c0);
    return (c.user + c.system) * 1000;
  };
  for (let w = 0; w < 200; w++) batch(); // warm-up
  // The figure is the fastest batch in CPU time (a batch is ~0.1-0.3 ms, so the microsecond
  // resolution of process.cpuUsage is well under 1%); wall-clock best and mean go in params.
  const batches = 2000;
  let best = Number.POSITIVE_INFINITY;
  let wallBest = Number.POSITIVE_INFINITY;
  let total = 0;
  const m0 = mkwrites;
  const w0 = k.counters.faultsWpShared;
  for (let b = 0; b < batches; b++) {
    const ns = batch();
    best = Math.min(best, ns / pages);
    wallBest = Math.min(wallBest, wall / pages);
    total += wall;
  }
  check(mkwrites - m0 === batches * pages, `expected one pfn_mkwrite per store, got ${mkwrites - m0}`);
  check(k.counters.faultsWpShared - w0 === batches * pages, 'expected one wp fault per store');
  check(failed === 0, 'stores failed');
  check(
    (lo[first]! & (PTE_RW | PTE_DIRTY)) === (PTE_RW | PTE_DIRTY),
    'PTE not writable+dirty after the fault',
  );
  return [
    {
      name: 'mm.fault.wpShared',
      unit: 'ns/fault',
      value: best,
      params: {
        pages,
        batches,
        clock: 'cpu',
        wallBestNs: Math.round(wallBest),
        meanNs: Math.round(total / (batches * pages)),
        goal: 300,
        path: 'pfn_mkwrite',
        includesStoreRetry: true,
      },
    },
  ];
}

export const benchmarks: Bench[] = [{ name: 'mm.fault.wpShared', run: wpShared }];
