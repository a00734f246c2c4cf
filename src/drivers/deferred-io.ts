/**
 * fbdev deferred I/O (spec section 5): user space writes a framebuffer through a shared mapping;
 * the first write to a page after each flush faults into page_mkwrite, which queues the page and
 * schedules delayed work; after the delay (1 s of simulated time by default) the work
 * write-protects and cleans every queued page with mapping_wrprotect_range (so the next write
 * faults again), hands the page list to the driver's `deferredIo` callback (which copies the
 * pages to the device) and empties the list.
 *
 * Written from the behaviour in the spec. Variants:
 * - `mainline` (2025+): the work does not take the page lock (spec quirk Q3: in explore mode a
 *   worker can run between page_mkwrite and the PTE becoming writable and lose a write);
 * - `page-lock` (before Feb 2025): the work takes the page lock around the write-protect, which
 *   excludes that window (page_mkwrite returns with the page locked until the PTE is updated).
 *
 * Fast mode: the delayed work is a timer on a {@link SimClock}; when it fires the work runs to
 * completion as the kworker task. Explore mode: a checker model runs {@link FbDeferredIo.deferredWork}
 * as its own task whenever {@link FbDeferredIo.workPending} is set.
 */
import { type KGen, runToCompletion } from '../checker/task.ts';
import { AddressSpace } from '../mm/address-space.ts';
import { type Kernel, KTask } from '../mm/kernel.ts';
import { Mutex } from '../mm/locks.ts';
import {
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_FAULT_LOCKED,
  VM_FAULT_OOM,
  VM_FAULT_SIGBUS,
  VM_IO,
  type VmFault,
  type VmOps,
} from '../mm/mm-types.ts';
import { mappingWrprotectRange } from '../mm/rmap.ts';
import type { SimClock, TimerId } from './clock.ts';

export type DefioVariant = 'mainline' | 'page-lock';
export const DEFIO_VARIANTS: readonly DefioVariant[] = ['mainline', 'page-lock'];

/** Default delay of the deferred work: HZ, one second (in ns of simulated time). */
export const DEFIO_DEFAULT_DELAY_NS = 1_000_000_000;

/** struct fb_deferred_io_pageref. */
export interface FbPageref {
  /** Byte offset in the framebuffer (page aligned). */
  readonly offset: number;
  /** PFN of the framebuffer page. */
  readonly page: number;
  /** Whether it is on the page list now. */
  queued: boolean;
}

export interface FbDeferredIoOptions {
  /** Framebuffer size in pages (smem_len / PAGE_SIZE). */
  pages: number;
  clock: SimClock;
  /** Delay in ns; 0 means the default (1 s). */
  delayNs?: number;
  variant?: DefioVariant;
  /** Keep the page list sorted by offset (sort_pagereflist). */
  sortPagereflist?: boolean;
  /** The driver's flush callback (deferred_io): receives the queued pages. */
  deferredIo?: (list: readonly FbPageref[]) => void;
  /** FBINFO_VIRTFB: a vmalloc'ed screen (no VM_IO). Default true. */
  virtfb?: boolean;
  /** CPU the kworker runs on (default 0). */
  workerCpu?: number;
  name?: string;
}

/**
 * One framebuffer with deferred I/O: its screen pages (RAM frames with struct pages), the fb
 * device file's address space, the state lock, the page list and the delayed work.
 */
export class FbDeferredIo {
  readonly mapping: AddressSpace;
  /** PFN of screen page 0 (contiguous RAM). */
  readonly smemStart: number;
  readonly pages: number;
  readonly delayNs: number;
  readonly variant: DefioVariant;
  readonly sortPagereflist: boolean;
  /** fb_deferred_io_state->lock. */
  readonly lock: Mutex;
  readonly pagerefs: FbPageref[];
  /** The page list (pagereflist), in queue (or offset) order. */
  readonly pagereflist: FbPageref[] = [];
  readonly vmOps: VmOps;
  readonly worker: KTask;
  deferredIo: (list: readonly FbPageref[]) => void;
  /** The delayed work is scheduled and has not started yet. */
  workPending = false;
  /** Whether `info` is attached (faults after cleanup get SIGBUS). */
  attached = true;
  openCount = 0;
  /** Times the work ran; pages it handed to deferredIo. */
  workRuns = 0;
  pagesFlushed = 0;
  /** PTEs cleaned by mapping_wrprotect_range (for the cost model). */
  ptesChangedByWp = 0;
  private readonly clock: SimClock;
  private timer: TimerId = 0;

  constructor(
    readonly k: Kernel,
    o: FbDeferredIoOptions,
  ) {
    if (!Number.isInteger(o.pages) || o.pages < 1) throw new RangeError(`framebuffer pages must be >= 1`);
    this.pages = o.pages;
    this.clock = o.clock;
    this.delayNs = o.delayNs === undefined || o.delayNs === 0 ? DEFIO_DEFAULT_DELAY_NS : o.delayNs;
    this.variant = o.variant ?? 'mainline';
    if (!DEFIO_VARIANTS.includes(this.variant))
      throw new RangeError(`unknown defio variant '${this.variant}'`);
    this.sortPagereflist = o.sortPagereflist ?? false;
    this.deferredIo = o.deferredIo ?? (() => {});
    const name = o.name ?? 'fb0';
    this.smemStart = k.mem.allocRam(o.pages);
    this.mapping = new AddressSpace(k, name, false, o.pages);
    this.lock = new Mutex(k, `defio lock(${name})`);
    this.worker = new KTask(`kworker(${name})`, o.workerCpu ?? 0);
    this.pagerefs = [];
    for (let i = 0; i < o.pages; i++)
      this.pagerefs.push({ offset: i * 4096, page: this.smemStart + i, queued: false });
    this.vmOps = Object.freeze({
      name: 'fb_deferred_io_vm_ops',
      fault: (k: Kernel, vmf: VmFault) => this.fault(k, vmf),
      pageMkwrite: (k: Kernel, vmf: VmFault) => this.pageMkwrite(k, vmf),
    });
    this.mapping.defaultOps = this.vmOps;
    const virtfb = o.virtfb ?? true;
    this.mapping.mmapHook = (_k, vma) => {
      vma.flags |= VM_DONTEXPAND | VM_DONTDUMP | (virtfb ? 0 : VM_IO);
      vma.ops = this.vmOps;
      vma.privateData = this;
      return 0;
    };
  }

  /** fb_deferred_io_open. */
  open(): void {
    this.openCount++;
  }

  /** fb release: the last close flushes the pending work. */
  release(): void {
    if (this.openCount <= 0) throw new Error('fb release without open');
    if (--this.openCount === 0) this.flushDelayedWork();
  }

  /** fb_deferred_io_fault: hand back the screen page (the core installs the PTE). */
  *fault(k: Kernel, vmf: VmFault): KGen<number> {
    yield* this.lock.lock();
    let ret = 0;
    if (!this.attached || vmf.pgoff >= this.pages) ret = VM_FAULT_SIGBUS;
    else vmf.page = this.smemStart + vmf.pgoff;
    this.lock.unlock();
    if (k.explore) yield undefined;
    return ret;
  }

  /**
   * fb_deferred_io_page_mkwrite -> track_page: queue the pageref unless already queued, lock
   * the page, drop the state lock, schedule the delayed work, return LOCKED (the core unlocks
   * the page once the PTE is writable and dirty).
   */
  *pageMkwrite(_k: Kernel, vmf: VmFault): KGen<number> {
    yield* this.lock.lock();
    if (!this.attached) {
      this.lock.unlock();
      return VM_FAULT_SIGBUS;
    }
    const ref = this.pagerefs[vmf.pgoff];
    if (ref === undefined || ref.page !== vmf.page) {
      this.k.warn(`fb_defio: no pageref for pgoff ${vmf.pgoff}`);
      this.lock.unlock();
      return VM_FAULT_OOM;
    }
    if (!ref.queued) {
      ref.queued = true;
      if (this.sortPagereflist) {
        let i = this.pagereflist.length;
        while (i > 0 && this.pagereflist[i - 1]!.offset > ref.offset) i--;
        this.pagereflist.splice(i, 0, ref);
      } else this.pagereflist.push(ref);
    }
    yield* this.k.pageLock(ref.page).lock();
    this.lock.unlock();
    this.scheduleDelayedWork();
    return VM_FAULT_LOCKED;
  }

  /** schedule_delayed_work: a no-op while the work is pending. */
  scheduleDelayedWork(): void {
    if (this.workPending) return;
    this.workPending = true;
    this.timer = this.clock.schedule(this.delayNs, () => this.runWork());
  }

  /**
   * The delayed work (fb_deferred_io_work): under the state lock, write-protect and clean every
   * queued page in every shared mapping, call deferredIo(list), then empty the list. The caller
   * (timer or model) has already cleared {@link workPending}.
   */
  *deferredWork(): KGen<void> {
    const k = this.k;
    const prev = k.enter('fb_deferred_io_work');
    yield* this.lock.lock();
    for (const ref of this.pagereflist) {
      const pgoff = ref.offset / 4096;
      if (this.variant === 'page-lock') {
        const pl = k.pageLock(ref.page);
        yield* pl.lock();
        this.ptesChangedByWp += yield* mappingWrprotectRange(k, this.mapping, pgoff, ref.page, 1);
        pl.unlock();
      } else {
        this.ptesChangedByWp += yield* mappingWrprotectRange(k, this.mapping, pgoff, ref.page, 1);
      }
    }
    this.workRuns++;
    this.pagesFlushed += this.pagereflist.length;
    this.deferredIo(this.pagereflist);
    for (const ref of this.pagereflist) ref.queued = false;
    this.pagereflist.length = 0;
    this.lock.unlock();
    k.leave(prev);
  }

  /** Run the work now as the kworker task (fast mode), restoring the current task after. */
  private runWork(): void {
    this.workPending = false;
    const k = this.k;
    const saved = k.cur;
    k.setCurrent(this.worker);
    try {
      runToCompletion(this.deferredWork());
    } finally {
      k.setCurrent(saved);
    }
  }

  /** flush_delayed_work: if the work is pending, run it now. */
  flushDelayedWork(): void {
    if (!this.workPending) return;
    this.clock.cancel(this.timer);
    this.runWork();
  }

  /** fb_deferred_io_fsync: run pending work now. */
  fsync(): void {
    this.flushDelayedWork();
  }

  /** fb_deferred_io_cleanup: flush, then detach (later faults get SIGBUS). */
  cleanup(): void {
    this.flushDelayedWork();
    this.attached = false;
  }
}
