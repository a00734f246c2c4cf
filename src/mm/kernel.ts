import { Counters } from '../hw/counters.ts';
import { Cpu } from '../hw/cpu.ts';
import { PhysMem } from '../hw/physmem.ts';
import type { SecondaryMmu } from '../hw/secondary-mmu.ts';
import { StoreLog } from '../hw/storelog.ts';
import { DEFAULT_TLB, type TlbConfig } from '../hw/tlb.ts';
import type { TraceContext, TraceSink } from '../trace/sink.ts';
import { Spinlock } from './locks.ts';

/**
 * A kernel-side execution context: whoever is running kernel code right now (a user task that
 * faulted, a kworker, a driver thread). Lock ownership is tracked per KTask. The scheduler glue
 * (models/, workload/) sets `Kernel.cur` before resuming a task.
 */
export class KTask {
  /** Trace context (name, CPU, current kernel function). */
  readonly ctx: TraceContext;
  constructor(
    readonly name: string,
    /** CPU this task runs on, or -1 (device / not on a CPU). */
    readonly cpu: number,
  ) {
    this.ctx = { task: name, cpu, fn: '' };
  }
}

export interface KernelConfig {
  cpus: number;
  tlb?: TlbConfig;
  /** Paging levels: 4 (default) or 5 (LA57). */
  levels?: 4 | 5;
  /** Explore mode: kernel code yields at every point another CPU could interleave (checker). */
  explore?: boolean;
  /** x86 user shadow stacks: write-protecting a dirty PTE moves D to SavedDirty. Off by default. */
  shadowStack?: boolean;
  /** tlb_single_page_flush_ceiling (pages); above it a ranged flush becomes a full mm flush. Default 33. */
  tlbFlushCeiling?: number;
  trace?: TraceSink | null;
  /** Keep a ground-truth log of every store. */
  storeLog?: boolean;
}

/**
 * The simulated machine plus global kernel state: physical memory, CPUs, devices, counters,
 * the current task, object ids for the checker's partial-order reduction, and per-page locks.
 */
export class Kernel {
  readonly mem = new PhysMem();
  readonly counters = new Counters();
  readonly cpus: Cpu[] = [];
  readonly devices: SecondaryMmu[] = [];
  readonly levels: 4 | 5;
  readonly explore: boolean;
  readonly shadowStack: boolean;
  readonly tlbFlushCeiling: number;
  readonly trace: TraceSink | null;
  readonly storeLog: StoreLog | null;
  /** PFNs of anonymous pages (COW copies), which a private mapping may reuse in place. */
  readonly anonPages = new Set<number>();
  /** The task running kernel code now. */
  cur: KTask;
  /** WARN_ON_ONCE-style warnings raised by kernel code (the model never crashes on them). */
  readonly warnings: string[] = [];
  private nextObjId = 1;
  private nextMmId = 1;
  private readonly pageLocks = new Map<number, Spinlock>();
  private readonly ptls = new Map<number, Spinlock>();

  constructor(cfg: KernelConfig) {
    this.levels = cfg.levels ?? 4;
    this.explore = cfg.explore ?? false;
    this.shadowStack = cfg.shadowStack ?? false;
    this.tlbFlushCeiling = cfg.tlbFlushCeiling ?? 33;
    this.trace = cfg.trace ?? null;
    this.storeLog = cfg.storeLog ? new StoreLog() : null;
    for (let i = 0; i < cfg.cpus; i++) {
      const c = new Cpu(i, this.mem, this.counters, cfg.tlb ?? DEFAULT_TLB, this.levels);
      c.setTrace(this.trace);
      c.storeLog = this.storeLog;
      this.cpus.push(c);
    }
    this.cur = new KTask('init', -1);
    if (this.trace !== null) this.trace.ctx = this.cur.ctx;
  }

  /** Attach a secondary MMU (device) to the machine. */
  addDevice(d: SecondaryMmu): void {
    d.setTrace(this.trace);
    d.storeLog = this.storeLog;
    this.devices.push(d);
  }

  /** A fresh object id for checker footprints (locks, bitmaps). Disjoint from PFNs. */
  objId(): number {
    return 2 ** 41 + this.nextObjId++;
  }

  allocMmId(): number {
    return this.nextMmId++;
  }

  /** Switch the running task (scheduler glue); also points the trace at its context. */
  setCurrent(t: KTask): void {
    this.cur = t;
    if (this.trace !== null) this.trace.ctx = t.ctx;
  }

  /** Enter a traced kernel function; returns the previous name for {@link leave}. */
  enter(fn: string): string {
    const c = this.cur.ctx;
    const prev = c.fn;
    c.fn = fn;
    return prev;
  }

  leave(prev: string): void {
    this.cur.ctx.fn = prev;
  }

  warn(msg: string): void {
    this.warnings.push(msg);
    if (this.trace !== null) this.trace.emit({ kind: 'warn', text: msg });
  }

  /** PFN of the page-table page in pool slot `slot` (flat entry index / 512). */
  tableOfSlot(slot: number): number {
    return this.mem.slotPfn[slot]!;
  }

  /**
   * The split page-table lock of the page-table page `tablePfn`: the PTL for a PTE table, the
   * PMD lock for a PMD table.
   */
  ptl(tablePfn: number): Spinlock {
    let l = this.ptls.get(tablePfn);
    if (l === undefined) {
      l = new Spinlock(this, `ptl ${tablePfn}`);
      this.ptls.set(tablePfn, l);
    }
    return l;
  }

  /** The lock of the page (folio) at `pfn` (PG_locked). */
  pageLock(pfn: number): Spinlock {
    let l = this.pageLocks.get(pfn);
    if (l === undefined) {
      l = new Spinlock(this, `page lock pfn ${pfn}`);
      this.pageLocks.set(pfn, l);
    }
    return l;
  }
}
