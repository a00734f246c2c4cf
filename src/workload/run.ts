/**
 * `dirtyscope run`: drive a scenario's operations through the model in fast mode, once per
 * tracking method, and report what was tracked, what was missed (must be 0), what was copied and
 * what it cost.
 *
 * Consumers:
 * - `gpu`: the scenario's buffers are vmwgfx-style BOs of one device, mapped shared in the
 *   application; every sync op is a command submission (scan + transfer + copy to the device).
 *   Methods: `auto` (each buffer as the scenario says, default the driver's creation rule and
 *   switching heuristic), `mkwrite` and `pagetable` (every buffer fixed to that method).
 * - `display`: one framebuffer (all buffer pages) with fbdev deferred I/O; every sync op is an
 *   fsync; the delayed work fires on a simulated clock that advances `storeIntervalNs` per
 *   store. One method: `deferred-io`.
 *
 * Ground truth (independent of the model's bits): the runner remembers, per page, the last
 * store and the last delivery to the consumer. At each sync, a page written since the last sync
 * that the consumer has not received since its last write is MISSED; every such page must also
 * be COHERENT (consumer copy == CPU memory, byte for byte).
 *
 * Hot loop: typed arrays from the generator's batch, storeFast on the CPU's mm, no allocation
 * per store; the only per-store bookkeeping is two typed-array writes.
 */
import { totalmem } from 'node:os';
import { runToCompletion } from '../checker/task.ts';
import { BoDevice, type BoVariant, type BufferObject, type MethodPolicy } from '../drivers/bo-dirty.ts';
import { SimClock } from '../drivers/clock.ts';
import { Display, Gpu } from '../drivers/consumers.ts';
import { type DefioVariant, FbDeferredIo } from '../drivers/deferred-io.ts';
import type { CounterSnapshot } from '../hw/counters.ts';
import { DEFAULT_TLB, type TlbConfig } from '../hw/tlb.ts';
import { Kernel, KTask } from '../mm/kernel.ts';
import { createDirtyHelpers, type HelperVariantName } from '../mm/mapping-dirty-helpers.ts';
import { storeFast, userLoad8 } from '../mm/memory.ts';
import type { MmStruct } from '../mm/mm-types.ts';
import { doMmap, mmCreate, PROT_READ, PROT_WRITE, switchMm } from '../mm/mmap.ts';
import { type CostBreakdown, type CostParams, modelCost, resolveCosts } from './cost-model.ts';
import { createBatch, OP_LOAD, OP_STORE, OP_SYNC, type OpBatch } from './generators.ts';
import {
  bufferBases,
  loadScenario,
  type Scenario,
  ScenarioError,
  scenarioBaseDir,
  scenarioBatches,
  scenarioGenerator,
  totalPages,
} from './scenario.ts';

// Module-local copies of imported bindings used per op: under tsx an imported binding is read
// through a getter on every access (measured ~50 ns/store in the coherent-gpu profile).
const storeFastLocal = storeFast;
const OP_STORE_L: number = OP_STORE;
const OP_SYNC_L: number = OP_SYNC;
const OP_LOAD_L: number = OP_LOAD;

export type RunMethod = 'auto' | 'mkwrite' | 'pagetable';
export const RUN_METHODS: readonly RunMethod[] = ['auto', 'mkwrite', 'pagetable'];
/** The one method of a display (deferred I/O) scenario. */
export const DEFIO_METHOD = 'deferred-io';

export interface RunOptions {
  /** GPU scenarios: methods to run (default all three). Ignored for display scenarios. */
  methods?: readonly RunMethod[];
  /** One process whose threads run on every CPU (default), or one process per CPU. */
  processes?: 'shared' | 'per-cpu';
  /** GPU resources per BO (default 1). */
  resourcesPerBo?: number;
  boVariant?: BoVariant;
  helperVariant?: HelperVariantName;
  defioVariant?: DefioVariant;
  /** Display scenarios: simulated time between two stores, ns (default 1000). */
  storeIntervalNs?: number;
  /** Points per cost series (default 100). */
  maxPoints?: number;
  /** Directory a trace workload's file is relative to. */
  baseDir?: string;
  /** Called after every batch with (stores done in this method run, total stores, method). */
  onProgress?: (done: number, total: number, method: string) => void;
  /** Cost overrides on top of the scenario's `costs`. */
  costs?: Partial<CostParams>;
  /**
   * Store counts that end phases (ascending): the cost of each phase is reported in
   * `MethodResult.phaseCostsNs`, cut at the first sync at or after each boundary.
   */
  phaseBoundaries?: readonly number[];
  /**
   * Before the workload, CPU 0 writes every page once and the consumer syncs (an application
   * filling its buffers: every PTE is populated). Not priced, not in the counts.
   */
  prefill?: boolean;
}

/** A point of a cost series: cost in the interval ending at t (web/src/report.ts CostPoint). */
export interface CostPoint {
  t: number;
  cost: number;
}

export interface MethodSeries {
  method: string;
  points: CostPoint[];
}

export interface MethodSwitch {
  t: number;
  from: string;
  to: string;
  reason?: string;
  /** Buffer that switched, and the run it happened in. */
  buffer: string;
  run: string;
}

export interface MethodResult {
  method: string;
  stores: number;
  loads: number;
  syncs: number;
  /** Sum over sync rounds of the distinct pages written in the round (ground truth). */
  pagesWritten: number;
  /** Pages handed to the consumer (sum over deliveries; duplicates and over-approximation included). */
  tracked: number;
  /** Pages written but not delivered by the sync that followed: must be 0. */
  missed: number;
  /** Written pages whose consumer copy differed from CPU memory after the sync: must be 0. */
  incoherent: number;
  coherent: boolean;
  bytesCopied: number;
  faults: number;
  wpFaults: number;
  flushes: number;
  ipis: number;
  ptesVisited: number;
  ptesChanged: number;
  ptesChangedByWp: number;
  methodSwitches: number;
  /** Method of each buffer at the end (gpu), or the defio variant. */
  finalMethods: Record<string, string>;
  modelledNs: number;
  /** Modelled ns per phase (only with RunOptions.phaseBoundaries; the last phase runs to the end). */
  phaseCostsNs?: number[];
  cost: CostBreakdown;
  counters: CounterSnapshot;
}

/** A run report; the top-level fields match web/src/report.ts RunReport (extra fields allowed). */
export interface RunResult {
  kind: 'run-report';
  version: 1;
  title: string;
  timeUnit: string;
  costUnit: string;
  series: MethodSeries[];
  switches: MethodSwitch[];
  scenario: {
    name: string;
    description?: string;
    consumer: 'gpu' | 'display';
    seed: number;
    cpus: number;
    buffers: { name: string; pages: number; method: string }[];
    stores: number;
  };
  methods: MethodResult[];
  /** Every method: missed == 0 and coherent. */
  ok: boolean;
}

export class RunError extends Error {
  override name = 'RunError';
}

const PAGE = 4096;

function tlbConfig(s: Scenario): TlbConfig | undefined {
  const n = s.machine.tlbEntries;
  if (n === undefined) return undefined;
  if ((n & (n - 1)) !== 0) throw new ScenarioError('scenario.machine.tlbEntries: expected a power of two');
  return { entries: n, ways: Math.min(4, n), replacement: 'lru' };
}

/**
 * Model memory per workload page (ground-truth arrays, bitmaps, PTEs, frames' bookkeeping) and per
 * page and process mapping it (virtual-address table, page tables), in bytes: twice what was
 * measured (about 40 and 8 bytes; `/usr/bin/time -f %M` over 1M..4M pages, 2..64 processes).
 */
export const RUN_BYTES_PER_PAGE = 80;
export const RUN_BYTES_PER_PAGE_PER_PROCESS = 16;
/** Bytes per TLB entry (typed arrays of vpn, mm, pfn, flags, a data pointer), rounded up. */
export const RUN_BYTES_PER_TLB_ENTRY = 64;

/** Memory a run may plan to use: half of this machine's memory. */
export function runMemoryBudget(): number {
  return Math.floor(totalmem() / 2);
}

/** Estimated peak bytes of one method run of `s` (the methods run one after the other). */
export function runMemoryEstimate(s: Scenario, o: RunOptions = {}): number {
  const pages = totalPages(s);
  const processes = o.processes === 'per-cpu' ? s.machine.cpus : 1;
  const tlb = s.machine.cpus * (s.machine.tlbEntries ?? DEFAULT_TLB.entries);
  return (
    pages * (RUN_BYTES_PER_PAGE + processes * RUN_BYTES_PER_PAGE_PER_PROCESS) + tlb * RUN_BYTES_PER_TLB_ENTRY
  );
}

/** Refuses, before any work, a run whose estimated memory exceeds the budget (one line, names both). */
export function checkRunLimits(s: Scenario, o: RunOptions = {}): void {
  const need = runMemoryEstimate(s, o);
  const budget = runMemoryBudget();
  if (need > budget) {
    const mib = (n: number) => `${Math.ceil(n / 2 ** 20)} MiB`;
    throw new ScenarioError(
      `scenario: needs about ${mib(need)} of model memory (${totalPages(s)} pages${o.processes === 'per-cpu' ? ` x ${s.machine.cpus} processes` : ''}), over the limit of ${mib(budget)} (half of this machine's memory)`,
    );
  }
}

/** Stores the scenario will issue (0 if unknown: a trace). */
export function scenarioStores(s: Scenario): number {
  return s.workload.pattern === 'trace' ? 0 : s.workload.stores;
}

/**
 * One method run: the machine, the driver, the consumer, the ground-truth arrays and the
 * per-op loop. Feed it batches with {@link process}, then {@link finish}.
 */
class MethodRun {
  readonly k: Kernel;
  private readonly tasks: KTask[];
  private readonly cpuMm: MmStruct[];
  /** vaOf[c][page]: virtual address of workload page `page` for CPU c's process. */
  private readonly vaOf: Float64Array[];
  private readonly pages: number;
  // ground truth
  private readonly mark: Uint32Array;
  private readonly touched: Uint32Array;
  private nTouched = 0;
  private epoch = 1;
  private readonly lastWrite: Float64Array;
  private readonly delivered: Float64Array;
  private seq = 0;
  private loads = 0;
  private syncs = 0;
  private pagesWritten = 0;
  private tracked = 0;
  private missed = 0;
  private incoherent = 0;
  // consumer
  private readonly gpu: Gpu | null = null;
  private readonly dev: BoDevice | null = null;
  private readonly bos: BufferObject[] = [];
  private readonly policies = new Map<BufferObject, MethodPolicy>();
  private readonly fb: FbDeferredIo | null = null;
  private readonly display: Display | null = null;
  private readonly clock: SimClock | null = null;
  private readonly dt: number;
  // series
  private readonly points: CostPoint[] = [];
  private readonly sampleEvery: number;
  private nextSample: number;
  private lastCostNs = 0;
  readonly switches: MethodSwitch[] = [];
  private readonly phaseCosts: number[] = [];
  private phaseIdx = 0;
  private phaseStartNs = 0;

  constructor(
    readonly s: Scenario,
    readonly method: string,
    readonly o: RunOptions,
    private readonly costs: CostParams,
    totalStores: number,
  ) {
    const cpus = s.machine.cpus;
    const tlb = tlbConfig(s);
    this.k = new Kernel(tlb === undefined ? { cpus } : { cpus, tlb });
    const k = this.k;
    this.pages = totalPages(s);
    this.mark = new Uint32Array(this.pages);
    this.touched = new Uint32Array(this.pages);
    this.lastWrite = new Float64Array(this.pages);
    this.delivered = new Float64Array(this.pages);
    const perCpu = o.processes === 'per-cpu';
    const mms: MmStruct[] = [];
    for (let i = 0; i < (perCpu ? cpus : 1); i++) mms.push(mmCreate(k, perCpu ? `app${i}` : 'app'));
    this.cpuMm = [];
    for (let c = 0; c < cpus; c++) {
      const mm = mms[perCpu ? c : 0]!;
      switchMm(k, c, mm);
      this.cpuMm.push(mm);
    }
    this.tasks = k.cpus.map((c) => new KTask(`cpu${c.id}`, c.id));
    const mmVa: Float64Array[] = mms.map(() => new Float64Array(this.pages));
    const mmap = (mm: MmStruct, file: Parameters<typeof doMmap>[2], pages: number, pgoff: number): number => {
      const v = runToCompletion(
        doMmap(k, mm, file, {
          length: pages * PAGE,
          prot: PROT_READ | PROT_WRITE,
          shared: true,
          pgoff,
          fdWritable: true,
        }),
      );
      if (typeof v === 'number') throw new RunError(`mmap failed: errno ${-v}`);
      return v.start;
    };
    if (s.consumer === 'gpu') {
      const devOpts: ConstructorParameters<typeof BoDevice>[1] = {};
      if (o.helperVariant !== undefined) devOpts.helpers = createDirtyHelpers(o.helperVariant);
      if (o.boVariant !== undefined) devOpts.variant = o.boVariant;
      const dev = new BoDevice(k, devOpts);
      this.dev = dev;
      const gpu = new Gpu(k, dev, 0);
      this.gpu = gpu;
      const bases = bufferBases(s);
      const baseOf = new Map<BufferObject, number>();
      s.buffers.forEach((b, i) => {
        const bo = dev.createBo(b.name, b.pages);
        this.bos.push(bo);
        baseOf.set(bo, bases[i]!);
        this.policies.set(bo, method === 'auto' ? (b.method ?? 'auto') : (method as MethodPolicy));
        gpu.addBo(bo, o.resourcesPerBo ?? 1);
        mms.forEach((mm, m) => {
          const start = mmap(mm, dev.mapping, b.pages, bo.offset);
          const va = mmVa[m]!;
          for (let p = 0; p < b.pages; p++) va[bases[i]! + p] = start + p * PAGE;
        });
      });
      gpu.onCopy = (bo, page) => {
        this.delivered[baseOf.get(bo)! + page] = this.seq;
        this.tracked++;
      };
      dev.onMethodSwitch = (e) =>
        this.switches.push({
          t: this.seq,
          from: e.from,
          to: e.to,
          reason: e.reason,
          buffer: e.bo.name,
          run: method,
        });
      // the first validation creates the trackers (MKWRITE ones write-protect right away)
      gpu.submitNow((bo) => this.policies.get(bo)!);
    } else {
      const clock = new SimClock();
      this.clock = clock;
      const fbOpts: ConstructorParameters<typeof FbDeferredIo>[1] = { pages: this.pages, clock };
      if (s.deferredIoDelayMs !== undefined) fbOpts.delayNs = s.deferredIoDelayMs * 1e6;
      if (o.defioVariant !== undefined) fbOpts.variant = o.defioVariant;
      const fb = new FbDeferredIo(k, fbOpts);
      this.fb = fb;
      const display = new Display(k, fb);
      this.display = display;
      mms.forEach((mm, m) => {
        fb.open();
        const start = mmap(mm, fb.mapping, this.pages, 0);
        const va = mmVa[m]!;
        for (let p = 0; p < this.pages; p++) va[p] = start + p * PAGE;
      });
      display.onCopy = (page) => {
        this.delivered[page] = this.seq;
        this.tracked++;
      };
    }
    this.dt = o.storeIntervalNs ?? 1000;
    this.vaOf = this.cpuMm.map((mm) => mmVa[mms.indexOf(mm)]!);
    this.sampleEvery = Math.max(1, Math.ceil(totalStores / (o.maxPoints ?? 100)));
    this.nextSample = this.sampleEvery;
    if (o.prefill === true) this.prefill();
    k.counters.reset(); // measure the workload, not the setup
    this.wpBase = this.wpChanged();
  }

  private wpBase = 0;

  /** Write every page once from CPU 0, then sync (see RunOptions.prefill). */
  private prefill(): void {
    const k = this.k;
    k.setCurrent(this.tasks[0]!);
    const va = this.vaOf[0]!;
    for (let p = 0; p < this.pages; p++) {
      if (storeFast(k, k.cpus[0]!, this.cpuMm[0]!, va[p]!, 1) !== 0)
        throw new RunError(`prefill of page ${p} failed`);
    }
    if (this.gpu !== null) this.gpu.submitNow((bo) => this.policies.get(bo)!);
    else this.fb!.fsync();
    for (let p = 0; p < this.pages; p++) this.lastWrite[p] = 0;
    this.tracked = 0;
  }

  private wpChanged(): number {
    return (this.dev?.ptesChangedByWp ?? 0) + (this.fb?.ptesChangedByWp ?? 0);
  }

  private costNow(): CostBreakdown {
    return modelCost(
      { ...this.k.counters.snapshot(), ptesChangedByWp: this.wpChanged() - this.wpBase },
      this.costs,
    );
  }

  private sample(): void {
    const c = this.costNow().totalNs;
    this.points.push({ t: this.seq, cost: (c - this.lastCostNs) / 1000 });
    this.lastCostNs = c;
  }

  /** Run every op of `b`. */
  process(b: OpBatch): void {
    const n = b.length;
    for (let i = 0; i < n; ) {
      i = this.runOps(b, i);
      if (i < n) {
        // b.kind[i] is a sync
        this.sync();
        i++;
      }
    }
    if (this.seq >= this.nextSample) {
      this.sample();
      while (this.nextSample <= this.seq) this.nextSample += this.sampleEvery;
    }
  }

  /** Stores and loads of `b` from `from` up to the next sync (returns its index) or the end. */
  private runOps(b: OpBatch, from: number): number {
    const { kind, cpu, page, offset, value, length } = b;
    const k = this.k;
    const cpus = k.cpus;
    const mark = this.mark;
    const touched = this.touched;
    const lastWrite = this.lastWrite;
    const clock = this.clock;
    const dt = this.dt;
    const epoch = this.epoch;
    let nt = this.nTouched;
    let curCpu = -1;
    let i = from;
    for (; i < length; i++) {
      const op = kind[i]!;
      if (op === OP_STORE_L) {
        const p = page[i]!;
        const c = cpu[i]!;
        if (clock !== null) {
          // timers due before this store fire first (the work sees only earlier stores)
          const now = clock.now + dt;
          if (now >= clock.nextAt) clock.runUntil(now);
          else clock.now = now;
        }
        const seq = ++this.seq;
        if (mark[p] !== epoch) {
          mark[p] = epoch;
          touched[nt++] = p;
        }
        if (c !== curCpu) {
          k.setCurrent(this.tasks[c]!);
          curCpu = c;
        }
        const r = storeFastLocal(k, cpus[c]!, this.cpuMm[c]!, this.vaOf[c]![p]! + offset[i]!, value[i]!);
        if (r !== 0) throw new RunError(`store to page ${p} killed the task (vm_fault 0x${r.toString(16)})`);
        lastWrite[p] = seq;
      } else if (op === OP_SYNC_L) {
        break;
      } else if (op === OP_LOAD_L) {
        const c = cpu[i]!;
        if (c !== curCpu) {
          k.setCurrent(this.tasks[c]!);
          curCpu = c;
        }
        this.loads++;
        const va = this.vaOf[c]![page[i]!]! + offset[i]!;
        if (cpus[c]!.load8(va) < 0) {
          const v = runToCompletion(userLoad8(k, cpus[c]!, this.cpuMm[c]!, va));
          if (v < 0) throw new RunError(`load from page ${page[i]} killed the task`);
        }
      }
    }
    this.nTouched = nt;
    return i;
  }

  /** A consumer sync, then the ground-truth check of every page written since the last one. */
  sync(): void {
    this.syncs++;
    if (this.gpu !== null) this.gpu.submitNow((bo) => this.policies.get(bo)!);
    else this.fb!.fsync();
    this.check();
    const b = this.o.phaseBoundaries;
    if (b !== undefined && this.phaseIdx < b.length && this.seq >= b[this.phaseIdx]!) {
      const c = this.costNow().totalNs;
      this.phaseCosts.push(c - this.phaseStartNs);
      this.phaseStartNs = c;
      while (this.phaseIdx < b.length && this.seq >= b[this.phaseIdx]!) this.phaseIdx++;
    }
  }

  private check(): void {
    const nt = this.nTouched;
    const touched = this.touched;
    for (let i = 0; i < nt; i++) {
      const p = touched[i]!;
      if (this.delivered[p]! < this.lastWrite[p]!) this.missed++;
      if (!this.coherent(p)) this.incoherent++;
    }
    this.pagesWritten += nt;
    this.nTouched = 0;
    this.epoch++;
  }

  private coherent(p: number): boolean {
    if (this.display !== null) return this.display.coherent(p);
    // workload page -> (bo, page): bos are laid end to end in order
    let base = 0;
    for (const bo of this.bos) {
      if (p < base + bo.pages) return this.gpu!.coherent(bo, p - base);
      base += bo.pages;
    }
    return false;
  }

  /** Final sync if stores are pending, last close (display), and the result. */
  finish(): { result: MethodResult; series: MethodSeries } {
    if (this.nTouched > 0) this.sync();
    if (this.fb !== null) {
      // last close of every opener flushes the work; nothing may be left over
      while (this.fb.openCount > 0) this.fb.release();
      this.check();
    }
    if (this.points.length === 0 || this.points[this.points.length - 1]!.t !== this.seq) this.sample();
    const c = this.k.counters;
    const cost = this.costNow();
    const finalMethods: Record<string, string> = {};
    for (const bo of this.bos) finalMethods[bo.name] = bo.dirty?.method ?? 'none';
    if (this.fb !== null) finalMethods[this.s.buffers[0]!.name] = `${DEFIO_METHOD} (${this.fb.variant})`;
    const result: MethodResult = {
      method: this.method,
      stores: this.seq,
      loads: this.loads,
      syncs: this.syncs,
      pagesWritten: this.pagesWritten,
      tracked: this.tracked,
      missed: this.missed,
      incoherent: this.incoherent,
      coherent: this.incoherent === 0,
      bytesCopied: c.bytesCopied,
      faults: c.faultsWpShared + c.faultsNotPresent + c.faultsSpurious + c.faultsCow,
      wpFaults: c.faultsWpShared,
      flushes: c.tlbFlushPage + c.tlbFlushRange + c.tlbFlushMm + c.tlbFlushAll,
      ipis: c.ipis,
      ptesVisited: c.ptesVisited,
      ptesChanged: c.ptesChanged,
      ptesChangedByWp: this.wpChanged() - this.wpBase,
      methodSwitches: c.methodSwitches,
      finalMethods,
      modelledNs: cost.totalNs,
      ...(this.o.phaseBoundaries !== undefined
        ? { phaseCostsNs: [...this.phaseCosts, cost.totalNs - this.phaseStartNs] }
        : {}),
      cost,
      counters: c.snapshot(),
    };
    return { result, series: { method: this.method, points: this.points } };
  }
}

function methodsFor(s: Scenario, o: RunOptions): string[] {
  if (s.consumer === 'display') return [DEFIO_METHOD];
  const m = o.methods ?? RUN_METHODS;
  if (m.length === 0) throw new RangeError('no method to run');
  return [...m];
}

function header(s: Scenario, stores: number): RunResult['scenario'] {
  const h: RunResult['scenario'] = {
    name: s.name,
    consumer: s.consumer,
    seed: s.seed,
    cpus: s.machine.cpus,
    buffers: s.buffers.map((b) => ({
      name: b.name,
      pages: b.pages,
      method: s.consumer === 'display' ? DEFIO_METHOD : (b.method ?? 'auto'),
    })),
    stores,
  };
  if (s.description !== undefined) h.description = s.description;
  return h;
}

function assemble(
  s: Scenario,
  runs: { result: MethodResult; series: MethodSeries; switches: MethodSwitch[] }[],
): RunResult {
  const methods = runs.map((r) => r.result);
  return {
    kind: 'run-report',
    version: 1,
    title: `${s.name}: ${s.buffers.length} buffer(s), ${totalPages(s)} pages, ${s.consumer} consumer`,
    timeUnit: 'stores',
    costUnit: 'modelled µs',
    series: runs.map((r) => r.series),
    switches: runs.flatMap((r) => r.switches),
    scenario: header(s, methods[0]?.stores ?? 0),
    methods,
    ok: methods.every((m) => m.missed === 0 && m.coherent),
  };
}

function costsFor(s: Scenario, o: RunOptions): CostParams {
  return { ...resolveCosts(s.costs), ...(o.costs ?? {}) };
}

/**
 * Run a generated (non-trace) scenario synchronously, every method. For trace workloads use
 * {@link runScenario}.
 */
export function runScenarioSync(s: Scenario, o: RunOptions = {}): RunResult {
  if (s.workload.pattern === 'trace')
    throw new ScenarioError('scenario.workload: a trace workload needs runScenario (async)');
  checkRunLimits(s, o);
  const costs = costsFor(s, o);
  const total = scenarioStores(s);
  const runs = methodsFor(s, o).map((method) => {
    const r = new MethodRun(s, method, o, costs, total);
    const gen = scenarioGenerator(s);
    const batch = createBatch(4096);
    for (let n = gen.next(batch); n > 0; n = gen.next(batch)) {
      r.process(batch);
      o.onProgress?.(gen.storesEmitted, total, method);
    }
    return { ...r.finish(), switches: r.switches };
  });
  return assemble(s, runs);
}

/** Run a scenario (generated or trace), every method. */
export async function runScenario(s: Scenario, o: RunOptions = {}): Promise<RunResult> {
  if (s.workload.pattern !== 'trace') return runScenarioSync(s, o);
  checkRunLimits(s, o);
  const costs = costsFor(s, o);
  const runs: { result: MethodResult; series: MethodSeries; switches: MethodSwitch[] }[] = [];
  for (const method of methodsFor(s, o)) {
    const r = new MethodRun(s, method, o, costs, 0);
    const batch = createBatch(4096);
    let done = 0;
    for await (const b of scenarioBatches(s, batch, o.baseDir ?? process.cwd())) {
      r.process(b);
      done += b.length;
      o.onProgress?.(done, 0, method);
    }
    runs.push({ ...r.finish(), switches: r.switches });
  }
  return assemble(s, runs);
}

/** Load (built-in name or file) and run. */
export async function runNamed(nameOrPath: string, o: RunOptions = {}): Promise<RunResult> {
  const s = loadScenario(nameOrPath);
  return runScenario(s, { baseDir: scenarioBaseDir(nameOrPath), ...o });
}
