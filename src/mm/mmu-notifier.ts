import type { KGen } from '../checker/task.ts';
import type { Kernel } from './kernel.ts';
import type { MmStruct } from './mm-types.ts';

/** enum mmu_notifier_event (the subset the model uses). */
export type MmuNotifyEvent = 'UNMAP' | 'CLEAR' | 'PROTECTION_VMA' | 'PROTECTION_PAGE' | 'SOFT_DIRTY';

/** struct mmu_notifier_range. */
export interface MmuNotifierRange {
  mm: MmStruct;
  start: number;
  end: number;
  event: MmuNotifyEvent;
  flags: number;
}

/**
 * A subscription (struct mmu_notifier + ops). A KVM-like secondary MMU drops translations in
 * `invalidateRangeStart`; an IOMMU-SVA-like one uses `archInvalidateSecondaryTlbs`, which the
 * TLB-flush code calls after flushing CPU TLBs.
 */
export interface MmuNotifierSubscription {
  readonly name: string;
  invalidateRangeStart?(range: MmuNotifierRange): void;
  invalidateRangeEnd?(range: MmuNotifierRange): void;
  archInvalidateSecondaryTlbs?(mm: MmStruct, start: number, end: number): void;
}

export function mmuNotifierRegister(mm: MmStruct, sub: MmuNotifierSubscription): void {
  mm.notifiers.push(sub);
}

/** mmu_notifier_range_init. */
export function mmuNotifierRangeInit(
  event: MmuNotifyEvent,
  mm: MmStruct,
  start: number,
  end: number,
): MmuNotifierRange {
  return { mm, start, end, event, flags: 0 };
}

/**
 * mmu_notifier_invalidate_range_start: tell every subscriber that PTEs in the range are about
 * to change. May sleep (a scheduling point in explore mode). Counted and traced.
 */
export function* mmuNotifierInvalidateRangeStart(k: Kernel, range: MmuNotifierRange): KGen<void> {
  if (k.explore) yield undefined;
  k.counters.notifierStarts++;
  range.mm.activeInvalidations++;
  if (k.trace !== null)
    k.trace.emit({
      kind: 'notifierStart',
      mm: range.mm.id,
      start: range.start,
      end: range.end,
      event: range.event,
    });
  for (const s of range.mm.notifiers) s.invalidateRangeStart?.(range);
}

/** mmu_notifier_invalidate_range_end. */
export function* mmuNotifierInvalidateRangeEnd(k: Kernel, range: MmuNotifierRange): KGen<void> {
  if (k.explore) yield undefined;
  k.counters.notifierEnds++;
  range.mm.activeInvalidations--;
  if (range.mm.activeInvalidations < 0) throw new Error('mmu notifier: invalidate_range_end without start');
  if (k.trace !== null)
    k.trace.emit({
      kind: 'notifierEnd',
      mm: range.mm.id,
      start: range.start,
      end: range.end,
      event: range.event,
    });
  for (const s of range.mm.notifiers) s.invalidateRangeEnd?.(range);
}

/** mmu_notifier_arch_invalidate_secondary_tlbs: called by the TLB flush code. */
export function mmuNotifierArchInvalidateSecondaryTlbs(mm: MmStruct, start: number, end: number): void {
  for (const s of mm.notifiers) s.archInvalidateSecondaryTlbs?.(mm, start, end);
}
