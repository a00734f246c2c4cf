/**
 * Consumers of tracked pages, and builders for driver setups:
 *
 * - {@link Gpu}: at each command submission validates its BOs (the dirty scan), then transfers
 *   each resource's dirty bits, copying the reported pages into its own device memory; it can
 *   check coherence (device copy == CPU memory) page by page.
 * - {@link Display}: the deferred-I/O driver callback; receives page lists and keeps a copy of
 *   the screen.
 * - {@link attachSecondaryMmu}: a notifier subscription that invalidates a SecondaryMmu's
 *   translations of an mm on invalidate_range_start (a KVM/HMM-style device).
 * - {@link buildBoSystem} / {@link buildFbSystem}: a kernel, a driver, mms and mappings, ready
 *   for a workload or a checker model.
 *
 * Bytes and pages copied are counted in k.counters (bytesCopied, pagesCopied).
 */
import { type KGen, runToCompletion } from '../checker/task.ts';
import type { PhysMem } from '../hw/physmem.ts';
import { SecondaryMmu } from '../hw/secondary-mmu.ts';
import type { TlbConfig } from '../hw/tlb.ts';
import { Kernel, type KernelConfig, KTask } from '../mm/kernel.ts';
import type { DirtyHelpers } from '../mm/mapping-dirty-helpers.ts';
import type { MmStruct, Vma } from '../mm/mm-types.ts';
import { doMmap, mmCreate, PROT_READ, PROT_WRITE, switchMm } from '../mm/mmap.ts';
import { type MmuNotifierSubscription, mmuNotifierRegister } from '../mm/mmu-notifier.ts';
import {
  BoDevice,
  type BoResource,
  type BoVariant,
  type BufferObject,
  type MethodPolicy,
} from './bo-dirty.ts';
import { SimClock } from './clock.ts';
import { type DefioVariant, FbDeferredIo, type FbPageref } from './deferred-io.ts';

const PAGE = 4096;

/**
 * Frames `a` and `b` hold the same bytes (a never-written frame reads as zeros). Native memcmp
 * (Buffer.compare) instead of PhysMem.samePage's byte loop: coherence checks run once per
 * written page per sync, measured ~40x faster on 4 KiB (bench run.coherentGpu).
 */
export function framesEqual(mem: PhysMem, a: number, b: number): boolean {
  const x = mem.data[a];
  const y = mem.data[b];
  if (x === y) return true;
  if (x !== undefined && y !== undefined) return Buffer.compare(x, y) === 0;
  const d = (x ?? y)!;
  for (let i = 0; i < d.length; i++) if (d[i] !== 0) return false;
  return true;
}

/** A GPU resource backed by BO pages [first, first + pages): copies what it is told is dirty. */
export class GpuResource implements BoResource {
  readonly guestMemoryOffset: number;
  readonly guestMemorySize: number;
  /** res_dirty: a dirtying submission used it and the CPU has not faulted on it since. */
  resDirty = false;
  constructor(
    readonly gpu: Gpu,
    readonly bo: BufferObject,
    readonly name: string,
    readonly first: number,
    readonly pages: number,
  ) {
    this.guestMemoryOffset = first * PAGE;
    this.guestMemorySize = pages * PAGE;
  }

  /**
   * vmw_resource_dirty_update -> upload: copy BO pages [start, end) that belong to this resource
   * into device memory. Pages outside the resource are not this resource's to upload (with the
   * transfer-max-bug variant that is how another resource's writes are lost).
   */
  dirtyUpdate(start: number, end: number): void {
    const s = Math.max(start, this.first);
    const e = Math.min(end, this.first + this.pages);
    for (let p = s; p < e; p++) this.gpu.copyPage(this.bo, p);
  }
}

/** The GPU: device memory mirroring each BO, resources over BO ranges, command submission. */
export class Gpu {
  /** PFN of the device copy of BO page 0, per BO. */
  private readonly devBase = new Map<BufferObject, number>();
  readonly resources = new Map<BufferObject, GpuResource[]>();
  readonly task: KTask;
  submissions = 0;
  /** Called for each page copied (ground-truth bookkeeping of a runner). */
  onCopy: ((bo: BufferObject, page: number) => void) | null = null;

  constructor(
    readonly k: Kernel,
    readonly dev: BoDevice,
    /** CPU the submitting thread runs on. */
    cpu = 0,
  ) {
    this.task = new KTask('gpu-submit', cpu);
  }

  /**
   * Make `bo` known to the GPU: device memory for it and `resources` resources splitting it into
   * near-equal page ranges (one by default).
   */
  addBo(bo: BufferObject, resources = 1): GpuResource[] {
    const n = Math.max(1, Math.min(resources, bo.pages));
    this.devBase.set(bo, this.k.mem.allocIo(bo.pages));
    const list: GpuResource[] = [];
    for (let i = 0; i < n; i++) {
      const first = Math.floor((i * bo.pages) / n);
      const last = Math.floor(((i + 1) * bo.pages) / n);
      const r = new GpuResource(this, bo, `${bo.name}.res${i}`, first, last - first);
      this.dev.resourceAttach(bo, r);
      list.push(r);
    }
    this.resources.set(bo, list);
    return list;
  }

  /** Copy BO page `page` (CPU memory) into device memory. */
  copyPage(bo: BufferObject, page: number): void {
    const mem = this.k.mem;
    mem.copyPage(this.devBase.get(bo)! + page, bo.ioBase + page);
    this.k.counters.bytesCopied += PAGE;
    this.k.counters.pagesCopied++;
    this.onCopy?.(bo, page);
  }

  /** Device copy of BO page `page` equals CPU memory. */
  coherent(bo: BufferObject, page: number): boolean {
    return framesEqual(this.k.mem, this.devBase.get(bo)! + page, bo.ioBase + page);
  }

  /** Device memory PFN of BO page `page`. */
  devicePfn(bo: BufferObject, page: number): number {
    return this.devBase.get(bo)! + page;
  }

  /**
   * A command submission using every BO it knows: BO validation (tracker creation on first use
   * with `policy`, then the scan) for all BOs, then resource validation for all resources
   * (vmw_resource_do_validate): pages are re-protected before their bits are consumed (spec
   * 4.5). As in vmwgfx's execbuf, every BO stays reserved for the whole submission (validation
   * through resource validation), so no mkwrite can slip between a BO's scan and its bits'
   * consumption.
   *
   * `dirtying`: the commands write the resources (the GPU renders into them). Then, for each
   * resource not already GPU-dirty, vmwgfx zaps every CPU PTE of the resource's BO range
   * (vmw_bo_dirty_unmap, after the scan and before transfer_to_res) so the CPU's next access
   * faults and reads the GPU's result back, and marks the resource GPU-dirty when it unreserves
   * it. The zap also makes a write fault still between pfn_mkwrite and finish_mkwrite_fault
   * refault (finish_mkwrite_fault sees the PTE changed), which closes the mkwrite window for
   * dirtying submissions. A read-only submission (`dirtying` false, the default: the GPU only
   * reads the resources, e.g. a texture upload) zaps nothing, and the window stays open.
   */
  *submit(policy: (bo: BufferObject) => MethodPolicy = () => 'auto', dirtying = false): KGen<void> {
    const k = this.k;
    const prev = k.enter('gpu_submit');
    this.submissions++;
    const bos = [...this.resources.keys()];
    for (const bo of bos) yield* bo.resv.lock();
    for (const bo of bos) yield* this.dev.validateReserved(bo, policy(bo));
    for (const [bo, list] of this.resources)
      for (const r of list) {
        if (dirtying && !r.resDirty && bo.dirty !== null)
          yield* this.dev.dirtyUnmap(bo, r.first, r.first + r.pages);
        this.dev.transferToRes(bo, r);
      }
    if (dirtying) for (const list of this.resources.values()) for (const r of list) r.resDirty = true;
    for (const bo of bos) bo.resv.unlock();
    k.leave(prev);
  }

  /** Fast mode: run {@link submit} to completion as the submitting task. */
  submitNow(policy: (bo: BufferObject) => MethodPolicy = () => 'auto', dirtying = false): void {
    const k = this.k;
    const saved = k.cur;
    k.setCurrent(this.task);
    try {
      runToCompletion(this.submit(policy, dirtying));
    } finally {
      k.setCurrent(saved);
    }
  }
}

/** The display behind deferred I/O: a copy of the screen, updated from page lists. */
export class Display {
  /** PFN of the display's copy of screen page 0. */
  readonly screenBase: number;
  /** Called for each page received (ground-truth bookkeeping). */
  onCopy: ((page: number) => void) | null = null;
  updates = 0;

  constructor(
    readonly k: Kernel,
    readonly fb: FbDeferredIo,
  ) {
    this.screenBase = k.mem.allocIo(fb.pages);
    fb.deferredIo = (list) => this.deferredIo(list);
  }

  /** The driver's deferred_io callback: copy every listed page to the display. */
  deferredIo(list: readonly FbPageref[]): void {
    this.updates++;
    const mem = this.k.mem;
    for (const ref of list) {
      const p = ref.offset / PAGE;
      mem.copyPage(this.screenBase + p, ref.page);
      this.k.counters.bytesCopied += PAGE;
      this.k.counters.pagesCopied++;
      this.onCopy?.(p);
    }
  }

  coherent(page: number): boolean {
    return framesEqual(this.k.mem, this.screenBase + page, this.fb.smemStart + page);
  }
}

/**
 * Bind `dev` to `mm` and subscribe to its notifiers: every invalidate_range_start drops the
 * device's cached translations of the range (so a write-protect or clean is seen by the device).
 */
export function attachSecondaryMmu(k: Kernel, mm: MmStruct, dev: SecondaryMmu): MmuNotifierSubscription {
  if (!k.devices.includes(dev)) k.addDevice(dev);
  dev.bind(mm.id, mm.root);
  const sub: MmuNotifierSubscription = {
    name: `secondary-mmu dev${dev.id}`,
    invalidateRangeStart: (r) => dev.invalidateRange(mm.id, r.start, r.end),
  };
  mmuNotifierRegister(mm, sub);
  return sub;
}

/** Create a SecondaryMmu on the machine, attached to `mm`. */
export function createSecondaryMmu(k: Kernel, mm: MmStruct, id = k.devices.length): SecondaryMmu {
  const dev = new SecondaryMmu(id, k.mem, k.counters);
  attachSecondaryMmu(k, mm, dev);
  return dev;
}

function mmapOrThrow(g: KGen<Vma | number>, what: string): Vma {
  const v = runToCompletion(g);
  if (typeof v === 'number') throw new Error(`mmap of ${what} failed: errno ${-v}`);
  return v;
}

export interface BoSystemOptions {
  cpus: number;
  /** Page counts of the BOs, in device-offset order. */
  bos: number[];
  /** 'shared': one process, every CPU runs a thread of it; 'per-cpu': one process per CPU. */
  processes?: 'shared' | 'per-cpu';
  helpers?: DirtyHelpers;
  variant?: BoVariant;
  tlb?: TlbConfig;
  explore?: boolean;
  storeLog?: boolean;
  /** Resources per BO for the GPU (default 1). */
  resourcesPerBo?: number;
  kernel?: Partial<KernelConfig>;
}

export interface BoSystem {
  k: Kernel;
  dev: BoDevice;
  bos: BufferObject[];
  gpu: Gpu;
  /** The processes (one, or one per CPU). */
  mms: MmStruct[];
  /** mmOfCpu[c]: the mm CPU c runs. */
  mmOfCpu: MmStruct[];
  /** vmas[m][b]: the mapping of BO b in mm m. */
  vmas: Vma[][];
  /** A task per CPU (user threads: faults run as them). */
  tasks: KTask[];
}

/**
 * A kernel with `cpus` CPUs, a BO device with the given BOs (no trackers yet: the GPU's first
 * submission creates them, or call `dev.dirtyAdd`), each BO mmapped shared+writable in every
 * process, and a GPU knowing every BO.
 */
export function buildBoSystem(o: BoSystemOptions): BoSystem {
  const cfg: KernelConfig = { cpus: o.cpus, ...(o.kernel ?? {}) };
  if (o.tlb !== undefined) cfg.tlb = o.tlb;
  if (o.explore !== undefined) cfg.explore = o.explore;
  if (o.storeLog !== undefined) cfg.storeLog = o.storeLog;
  const k = new Kernel(cfg);
  const devOpts: { helpers?: DirtyHelpers; variant?: BoVariant } = {};
  if (o.helpers !== undefined) devOpts.helpers = o.helpers;
  if (o.variant !== undefined) devOpts.variant = o.variant;
  const dev = new BoDevice(k, devOpts);
  const bos = o.bos.map((pages, i) => dev.createBo(`bo${i}`, pages));
  const perCpu = o.processes === 'per-cpu';
  const mms: MmStruct[] = [];
  for (let i = 0; i < (perCpu ? o.cpus : 1); i++) mms.push(mmCreate(k, perCpu ? `app${i}` : 'app'));
  const vmas = mms.map((mm) =>
    bos.map((bo) =>
      mmapOrThrow(
        doMmap(k, mm, dev.mapping, {
          length: bo.pages * PAGE,
          prot: PROT_READ | PROT_WRITE,
          shared: true,
          pgoff: bo.offset,
          fdWritable: true,
        }),
        bo.name,
      ),
    ),
  );
  const mmOfCpu: MmStruct[] = [];
  for (let c = 0; c < o.cpus; c++) {
    const mm = mms[perCpu ? c : 0]!;
    switchMm(k, c, mm);
    mmOfCpu.push(mm);
  }
  const gpu = new Gpu(k, dev, 0);
  for (const bo of bos) gpu.addBo(bo, o.resourcesPerBo ?? 1);
  const tasks = k.cpus.map((c) => new KTask(`cpu${c.id}`, c.id));
  return { k, dev, bos, gpu, mms, mmOfCpu, vmas, tasks };
}

export interface FbSystemOptions {
  cpus: number;
  pages: number;
  processes?: 'shared' | 'per-cpu';
  variant?: DefioVariant;
  delayNs?: number;
  sortPagereflist?: boolean;
  tlb?: TlbConfig;
  explore?: boolean;
  storeLog?: boolean;
}

export interface FbSystem {
  k: Kernel;
  clock: SimClock;
  fb: FbDeferredIo;
  display: Display;
  mms: MmStruct[];
  mmOfCpu: MmStruct[];
  /** vmas[m]: the framebuffer mapping in mm m. */
  vmas: Vma[];
  tasks: KTask[];
}

/** A kernel, a deferred-I/O framebuffer with a display, mapped shared+writable in every process (opened once each). */
export function buildFbSystem(o: FbSystemOptions): FbSystem {
  const cfg: KernelConfig = { cpus: o.cpus };
  if (o.tlb !== undefined) cfg.tlb = o.tlb;
  if (o.explore !== undefined) cfg.explore = o.explore;
  if (o.storeLog !== undefined) cfg.storeLog = o.storeLog;
  const k = new Kernel(cfg);
  const clock = new SimClock();
  const fbOpts: ConstructorParameters<typeof FbDeferredIo>[1] = { pages: o.pages, clock };
  if (o.variant !== undefined) fbOpts.variant = o.variant;
  if (o.delayNs !== undefined) fbOpts.delayNs = o.delayNs;
  if (o.sortPagereflist !== undefined) fbOpts.sortPagereflist = o.sortPagereflist;
  const fb = new FbDeferredIo(k, fbOpts);
  const display = new Display(k, fb);
  const perCpu = o.processes === 'per-cpu';
  const mms: MmStruct[] = [];
  for (let i = 0; i < (perCpu ? o.cpus : 1); i++) mms.push(mmCreate(k, perCpu ? `app${i}` : 'app'));
  const vmas = mms.map((mm) => {
    fb.open();
    return mmapOrThrow(
      doMmap(k, mm, fb.mapping, {
        length: o.pages * PAGE,
        prot: PROT_READ | PROT_WRITE,
        shared: true,
        pgoff: 0,
        fdWritable: true,
      }),
      'framebuffer',
    );
  });
  const mmOfCpu: MmStruct[] = [];
  for (let c = 0; c < o.cpus; c++) {
    const mm = mms[perCpu ? c : 0]!;
    switchMm(k, c, mm);
    mmOfCpu.push(mm);
  }
  const tasks = k.cpus.map((c) => new KTask(`cpu${c.id}`, c.id));
  return { k, clock, fb, display, mms, mmOfCpu, vmas, tasks };
}
