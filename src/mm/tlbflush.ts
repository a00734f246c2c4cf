import type { Kernel } from './kernel.ts';
import type { MmStruct } from './mm-types.ts';
import { mmuNotifierArchInvalidateSecondaryTlbs } from './mmu-notifier.ts';

/**
 * flush_tlb_mm_range: flush [start, end) of `mm` on every CPU in its cpumask. The local CPU (the
 * one the current task runs on) is flushed directly; every other CPU in the mask costs an IPI.
 * If the range exceeds `tlb_single_page_flush_ceiling` pages (33 by default) the whole mm is
 * flushed instead of page by page. Afterwards secondary TLBs that hook the arch notifier are
 * invalidated. Atomic in the model (the IPIs are waited for).
 */
export function flushTlbMmRange(k: Kernel, mm: MmStruct, start: number, end: number): void {
  const startVpn = Math.floor(start / 4096);
  const endVpn = Math.ceil(end / 4096);
  if (endVpn <= startVpn) return;
  const full = endVpn - startVpn > k.tlbFlushCeiling;
  const local = k.cur.cpu;
  mm.cpumask.forEach((c) => {
    const ipi = c !== local;
    if (ipi) k.counters.ipis++;
    const tlb = k.cpus[c]!.tlb;
    if (full) tlb.flushMm(mm.id, ipi);
    else if (endVpn - startVpn === 1) tlb.flushPage(mm.id, startVpn, ipi);
    else tlb.flushRange(mm.id, startVpn, endVpn, ipi);
  });
  mmuNotifierArchInvalidateSecondaryTlbs(mm, start, end);
}

/** flush_tlb_range(vma, start, end). */
export function flushTlbRange(k: Kernel, mm: MmStruct, start: number, end: number): void {
  flushTlbMmRange(k, mm, start, end);
}

/** flush_tlb_page(vma, addr). */
export function flushTlbPage(k: Kernel, mm: MmStruct, addr: number): void {
  flushTlbMmRange(k, mm, addr, addr + 4096);
}

/** flush_tlb_mm: everything of `mm` on every CPU that ran it. */
export function flushTlbMm(k: Kernel, mm: MmStruct): void {
  const local = k.cur.cpu;
  mm.cpumask.forEach((c) => {
    const ipi = c !== local;
    if (ipi) k.counters.ipis++;
    k.cpus[c]!.tlb.flushMm(mm.id, ipi);
  });
  mmuNotifierArchInvalidateSecondaryTlbs(mm, 0, 2 ** 57);
}

/**
 * inc_tlb_flush_pending: announce a deferred flush. Must precede the PTE changes made under the
 * PTL, so anyone who takes that PTL and sees a changed PTE also sees the count.
 */
export function incTlbFlushPending(mm: MmStruct): void {
  mm.tlbFlushPending++;
}

/** dec_tlb_flush_pending: after the flush. */
export function decTlbFlushPending(mm: MmStruct): void {
  mm.tlbFlushPending--;
  if (mm.tlbFlushPending < 0) throw new Error(`tlb_flush_pending underflow on mm ${mm.id}`);
}

/** mm_tlb_flush_pending: someone has a deferred flush in flight. */
export function mmTlbFlushPending(mm: MmStruct): boolean {
  return mm.tlbFlushPending > 0;
}

/**
 * mm_tlb_flush_nested: more than one updater has deferred flushes in flight, so PTEs this
 * updater found already changed may still be cached writable/dirty somewhere: it must flush its
 * whole range before claiming completion (Peter Zijlstra's review; Minchan Kim's 2017 fix).
 */
export function mmTlbFlushNested(mm: MmStruct): boolean {
  return mm.tlbFlushPending > 1;
}
