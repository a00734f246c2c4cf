/**
 * The trace format: versioned, JSON-serialisable events. Data only: no behaviour, no imports.
 *
 * A trace is what one execution did, step by step. The checker writes one for every
 * counterexample, `replay --trace FILE` writes one for any schedule, and the web visualizer
 * reads nothing else. Numbers that can exceed 2^32 (addresses, PFNs) are plain JSON numbers
 * (always < 2^53); a 64-bit entry is given as its two 32-bit halves `lo`/`hi`, exactly as the
 * model stores it, so bit positions match the x86-64 layout (spec section 8).
 */

export const TRACE_VERSION = 1 as const;

/** Fields every event carries. */
export interface TraceEventBase {
  /** Position in the trace, 0-based, strictly increasing. */
  seq: number;
  /** Scheduler step during which the event happened (several events can share a step). */
  step: number;
  /** Task that caused it (checker task name, e.g. "writer0", "scan"), or "hw" / "init". */
  task: string;
  /** CPU the task ran on, or -1 when not on a CPU (device, init). */
  cpu: number;
  /** Kernel (or driver / hardware) function it happened in, kernel name in camelCase. */
  fn: string;
}

/** A user-space store (or device write) that completed. `wseq` is its ground-truth log number. */
export interface StoreEvent extends TraceEventBase {
  kind: 'store';
  mm: number;
  addr: number;
  pfn: number;
  value: number;
  wseq: number;
  /** How the translation was obtained: a TLB hit needing no PTE access, a hit that re-walked to set D, or a fill. */
  via: 'tlb-hit' | 'dirty-rewalk' | 'walk';
}

export interface LoadEvent extends TraceEventBase {
  kind: 'load';
  mm: number;
  addr: number;
  pfn: number;
  value: number;
}

/** A hardware page fault delivered to the kernel. */
export interface FaultEvent extends TraceEventBase {
  kind: 'fault';
  mm: number;
  addr: number;
  write: boolean;
  /** x86 #PF error-code style: "not-present" or "protection". */
  reason: 'not-present' | 'protection';
  /** Resolution, once known: e.g. "mkwrite", "reuse", "cow", "insert", "sigbus", "retry". */
  outcome?: string;
}

/** A page-table entry changed (any level). */
export interface PteEvent extends TraceEventBase {
  kind: 'pte';
  mm: number;
  addr: number;
  /** 4 = PTE, 3 = PMD, 2 = PUD, 1 = P4D, 0 = PGD. */
  level: number;
  oldLo: number;
  oldHi: number;
  newLo: number;
  newHi: number;
  /** Who changed it: "hw" for accessed/dirty updates by a CPU or device walker, else "kernel". */
  by: 'hw' | 'kernel';
}

export interface TlbFillEvent extends TraceEventBase {
  kind: 'tlbFill';
  /** CPU id, or a secondary MMU's id as "dev:N" in `unit`. */
  unit: string;
  mm: number;
  addr: number;
  pfn: number;
  writable: boolean;
  dirty: boolean;
}

export interface TlbFlushEvent extends TraceEventBase {
  kind: 'tlbFlush';
  unit: string;
  mm: number;
  scope: 'page' | 'range' | 'mm' | 'all';
  start: number;
  end: number;
  /** Entries actually dropped. */
  dropped: number;
  ipi: boolean;
}

export interface NotifierEvent extends TraceEventBase {
  kind: 'notifierStart' | 'notifierEnd';
  mm: number;
  start: number;
  end: number;
  event: string;
}

export interface LockEvent extends TraceEventBase {
  kind: 'lockAcquire' | 'lockRelease' | 'lockBlock';
  lock: string;
  mode: 'read' | 'write' | 'exclusive';
}

export interface BitmapEvent extends TraceEventBase {
  kind: 'bitmapSet' | 'bitmapClear';
  /** Which tracker ("bo0", "defio", a caller-named bitmap). */
  owner: string;
  index: number;
  /** Window after the change. */
  start: number;
  end: number;
}

/** A consumer (GPU, display) synchronised and copied pages. */
export interface ConsumerSyncEvent extends TraceEventBase {
  kind: 'consumerSync';
  consumer: string;
  pages: number[];
}

/** A kernel function was entered or returned (coarse-grained: helpers, faults, workers). */
export interface CallEvent extends TraceEventBase {
  kind: 'call' | 'return';
  args?: Record<string, number | string | boolean>;
  ret?: number | string;
}

/** Free-form explanation emitted by a model (e.g. a WARN_ON). */
export interface NoteEvent extends TraceEventBase {
  kind: 'note' | 'warn';
  text: string;
}

export interface ViolationEvent extends TraceEventBase {
  kind: 'violation';
  /** Property id as in spec 11.1 / DESIGN.md, e.g. "no-lost-write", "wp-complete". */
  property: string;
  message: string;
  /** Addresses / pages the violation is about, if any. */
  pages?: number[];
}

export type TraceEvent =
  | StoreEvent
  | LoadEvent
  | FaultEvent
  | PteEvent
  | TlbFillEvent
  | TlbFlushEvent
  | NotifierEvent
  | LockEvent
  | BitmapEvent
  | ConsumerSyncEvent
  | CallEvent
  | NoteEvent
  | ViolationEvent;

export type TraceEventKind = TraceEvent['kind'];

/** Static description of the machine, so a viewer can lay out CPUs, mms and devices before step 0. */
export interface TraceSetup {
  cpus: number;
  /** mm id -> human label (e.g. "proc A"). */
  mms: Record<string, string>;
  devices: string[];
  /** VMAs at the start, for labelling addresses. */
  vmas: Array<{ mm: number; start: number; end: number; pgoff: number; flags: string[] }>;
  /** Page size in bytes (4096). */
  pageSize: number;
}

export interface Trace {
  version: typeof TRACE_VERSION;
  /** Model name (checker) or scenario name (run). */
  model: string;
  variant: string;
  /** Schedule string that reproduces this trace (checker), or "" for runs. */
  schedule: string;
  seed?: number;
  setup: TraceSetup;
  events: TraceEvent[];
  /** Final verdict of the execution, if checked. */
  verdict?: 'pass' | 'fail';
  /** The property violated, if any (same as the last violation event). */
  property?: string;
}
