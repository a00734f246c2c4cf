/**
 * Event counters shared by every layer (hardware, mm, drivers). Plain integer fields, so an
 * increment on a hot path is one add. The cost model (workload/) turns a snapshot into time.
 */
export class Counters {
  // hardware
  stores = 0;
  loads = 0;
  tlbHits = 0;
  tlbMisses = 0;
  /** Full page walks done by a CPU or device (TLB fill or dirty re-walk). */
  hwWalks = 0;
  /** Locked RMW updates of A/D bits by hardware. */
  hwAdUpdates = 0;
  hwFaults = 0;
  tlbFlushPage = 0;
  tlbFlushRange = 0;
  tlbFlushMm = 0;
  tlbFlushAll = 0;
  /** TLB entries dropped by flushes. */
  tlbEntriesDropped = 0;
  /** Inter-processor interrupts sent for remote TLB shootdowns. */
  ipis = 0;
  deviceWrites = 0;
  deviceTlbFills = 0;
  deviceInvalidations = 0;
  // mm
  faultsNotPresent = 0;
  faultsWpShared = 0;
  faultsCow = 0;
  faultsSpurious = 0;
  mkwriteCalls = 0;
  ptesVisited = 0;
  ptesChanged = 0;
  /** PTEs write-protected by wp walks (wpSharedMappingRange, mappingWrprotectRange): priced as walk work. */
  ptesChangedByWp = 0;
  notifierStarts = 0;
  notifierEnds = 0;
  helperCalls = 0;
  /** Dirty PTEs of PFN mappings (no struct page) zapped: their dirty state is gone. */
  zapDirtyLost = 0;
  // drivers
  bytesCopied = 0;
  pagesCopied = 0;
  scans = 0;
  methodSwitches = 0;

  snapshot(): CounterSnapshot {
    return { ...this };
  }

  reset(): void {
    for (const k of Object.keys(this) as (keyof CounterSnapshot)[]) this[k] = 0;
  }
}

export type CounterSnapshot = {
  -readonly [K in keyof Counters as Counters[K] extends number ? K : never]: number;
};
