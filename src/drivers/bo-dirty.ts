/**
 * vmwgfx-style emulated coherent memory (spec section 4): buffer objects (BOs) that share one
 * device address space, each with an optional dirty tracker that records which BO pages the CPU
 * wrote, either by letting the hardware set PTE dirty bits and harvesting them
 * (PAGETABLE: clean_record_shared_mapping_range at every scan) or by write-protecting the pages
 * and recording the first write in the mkwrite handler (MKWRITE), switching between the two with
 * the driver's heuristic.
 *
 * Written from the behaviour described in the spec, not from the driver's source. Kernel names
 * are kept in camelCase (`dirtyScan` = vmw_bo_dirty_scan, `transferToRes` =
 * vmw_bo_dirty_transfer_to_res, ...).
 *
 * Locking: every tracker operation runs with the BO's reservation (`bo.resv`, dma_resv) held by
 * the caller, asserted here; both fault handlers take it themselves. That lock is the "external
 * range lock" that serialises scans against the mkwrite handler (spec 4.1, P2).
 *
 * Generators: the fault handlers and every operation that calls the mm helpers are generators
 * (KGen), so a checker model can interleave them in explore mode; fast mode drains them with
 * runToCompletion.
 */
import { access, type KGen } from '../checker/task.ts';
import { AddressSpace } from '../mm/address-space.ts';
import {
  bitmapAlloc,
  bitmapClear,
  bitmapSet,
  clearBit,
  findNextBit,
  findNextZeroBit,
  setBit,
  testBit,
} from '../mm/bitmap.ts';
import type { Kernel } from '../mm/kernel.ts';
import { Mutex } from '../mm/locks.ts';
import { type DirtyHelpers, mainlineHelpers } from '../mm/mapping-dirty-helpers.ts';
import { faultFlagAllowRetryFirst, vmfInsertPfnProt, vmGetPageProt } from '../mm/memory.ts';
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_RETRY_NOWAIT,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_FAULT_ERROR,
  VM_FAULT_NOPAGE,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_IO,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_SHARED,
  type Vma,
  type VmFault,
  type VmOps,
} from '../mm/mm-types.ts';
import { EINVAL, unmapMappingRange } from '../mm/mmap.ts';

/** Three consecutive scans must agree before the method switches (change_count > 2). */
export const VMW_DIRTY_NUM_CHANGE_TRIGGERS = 2;
/** MKWRITE -> PAGETABLE when more than this percentage of the BO was re-protected by a scan. */
export const VMW_DIRTY_PERCENTAGE = 10;
/** PAGE_SIZE / sizeof(pte_t) on x86-64: BOs smaller than this (2 MiB) start in PAGETABLE mode. */
export const VMW_DIRTY_PAGETABLE_LIMIT = 512;
/** TTM_BO_VM_NUM_PREFAULT: PTEs a fault maps ahead. */
export const TTM_BO_VM_NUM_PREFAULT = 16;

export type DirtyMethod = 'pagetable' | 'mkwrite';
/** auto: the driver's creation rule and switching heuristic; a method name: that method, fixed. */
export type MethodPolicy = 'auto' | DirtyMethod;

/**
 * Driver variants:
 * - `mainline`: vmwgfx today (2026, with the min clamp in transfer_to_res);
 * - `transfer-max-bug`: transfer_to_res before the May 2026 min/max fix: the upper clamp used max,
 *   so a transfer could consume bits of other resources sharing the BO (spec 4.5, Q5);
 * - `mkwrite-locked`: a proposed fix for the mkwrite window found by the checker (docs/models.md):
 *   pfn_mkwrite keeps the reservation until the PTE is writable, via the model extension
 *   `VmOps.pfnMkwriteDone` (no such hook exists in the kernel: it needs a core change);
 * - `scan-fix`: a fix the driver can make on its own: the MKWRITE scan write-protects the window
 *   page by page, and a page whose bit is set but whose own write-protect changed no PTE (a fault
 *   may still be between pfn_mkwrite and finish_mkwrite_fault) keeps its bit: transfer_to_res
 *   reports it and leaves it set, so the next scan looks at it again. Sound with one mapping of
 *   the page; with two, another mapping's writable PTE makes the write-protect count > 0 while
 *   the first mapping's fault is still in flight (model vmwgfx-mkwrite, variant
 *   scan-fix-two-mappings).
 */
export type BoVariant = 'mainline' | 'transfer-max-bug' | 'mkwrite-locked' | 'scan-fix';
export const BO_VARIANTS: readonly BoVariant[] = [
  'mainline',
  'transfer-max-bug',
  'mkwrite-locked',
  'scan-fix',
];

/** struct vmw_bo_dirty. */
export class BoDirty {
  /** Bit window: every set bit lies in [start, end); "none set" iff start >= end. */
  start: number;
  end = 0;
  method: DirtyMethod;
  changeCount = 0;
  refCount = 1;
  readonly bitmap: Uint32Array;
  /**
   * `scan-fix` only: pages whose bit the last MKWRITE scan could not confirm (their own
   * write-protect changed nothing): transfer_to_res reports them but does not clear their bit.
   */
  readonly keep: Uint32Array;
  constructor(
    readonly bitmapSize: number,
    method: DirtyMethod,
    /** False when the method is fixed by policy: the scans never switch. */
    readonly switching: boolean,
  ) {
    this.start = bitmapSize;
    this.method = method;
    this.bitmap = bitmapAlloc(bitmapSize);
    this.keep = bitmapAlloc(bitmapSize);
  }
}

/** A resource backed by a range of a BO (vmw_resource: guest_memory_offset/size, in bytes). */
export interface BoResource {
  readonly name: string;
  /** Byte offset in the BO (should be page aligned; a WARN otherwise). */
  readonly guestMemoryOffset: number;
  readonly guestMemorySize: number;
  /** vmw_resource_dirty_update: BO pages [start, end) were written by the CPU. */
  dirtyUpdate(start: number, end: number): void;
  /**
   * res->res_dirty: the GPU may have written the resource since the CPU last saw it (set when a
   * dirtying submission unreserves it, cleared by vmw_resources_clean in the fault path). Absent:
   * false.
   */
  resDirty?: boolean;
}

/** struct vmw_bo. */
export class BufferObject {
  /** The reservation lock (dma_resv). */
  readonly resv: Mutex;
  dirty: BoDirty | null = null;
  /** vbo->res_tree: the resources backed by this BO, by ascending guest-memory offset. */
  readonly resTree: BoResource[] = [];
  constructor(
    readonly device: BoDevice,
    readonly name: string,
    /** First file page of the BO in the device address space (drm_vma_node_start). */
    readonly offset: number,
    readonly pages: number,
    /** PFN of the first IO frame backing the BO (contiguous). */
    readonly ioBase: number,
  ) {
    this.resv = new Mutex(device.k, `resv(${name})`);
  }

  toString(): string {
    return `bo ${this.name} [${this.offset}, ${this.offset + this.pages})`;
  }
}

/** Why a tracker switched method (for reports). */
export interface MethodSwitchEvent {
  bo: BufferObject;
  from: DirtyMethod;
  to: DirtyMethod;
  reason: string;
}

export interface BoDeviceOptions {
  /** Mapping-dirty-helper variant (mainline by default). */
  helpers?: DirtyHelpers;
  variant?: BoVariant;
  /** Name of the device address space. */
  name?: string;
}

/**
 * The device: one address space (bdev->dev_mapping) shared by all its BOs, the vm_ops, and the
 * tracker operations.
 */
export class BoDevice {
  readonly mapping: AddressSpace;
  readonly helpers: DirtyHelpers;
  readonly variant: BoVariant;
  readonly bos: BufferObject[] = [];
  readonly vmOps: VmOps;
  /** Called on every method switch (reports); not part of the driver. */
  onMethodSwitch: ((e: MethodSwitchEvent) => void) | null = null;
  /** PTEs changed by the pure write-protect walks this device ran (for the cost model). */
  ptesChangedByWp = 0;
  private nextOffset = 0;

  constructor(
    readonly k: Kernel,
    o: BoDeviceOptions = {},
  ) {
    this.helpers = o.helpers ?? mainlineHelpers;
    this.variant = o.variant ?? 'mainline';
    if (!BO_VARIANTS.includes(this.variant)) throw new RangeError(`unknown bo variant '${this.variant}'`);
    this.mapping = new AddressSpace(k, o.name ?? 'vmwgfx-dev', false, 0);
    this.vmOps = Object.freeze({
      name: 'vmw_bo_vm_ops',
      fault: (k: Kernel, vmf: VmFault) => this.vmFault(k, vmf),
      pageMkwrite: (k: Kernel, vmf: VmFault) => this.vmMkwrite(k, vmf),
      pfnMkwrite: (k: Kernel, vmf: VmFault) => this.vmMkwrite(k, vmf),
      ...(this.variant === 'mkwrite-locked'
        ? {
            pfnMkwriteDone: (_k: Kernel, vmf: VmFault) => (vmf.vma.privateData as BufferObject).resv.unlock(),
          }
        : {}),
    });
    this.mapping.defaultOps = this.vmOps;
    this.mapping.mmapHook = (_k, vma) => this.mmapObj(vma);
  }

  /** Create a BO of `pages` pages backed by fresh IO frames, at the next free device offset. */
  createBo(name: string, pages: number): BufferObject {
    if (!Number.isInteger(pages) || pages < 1) throw new RangeError(`BO pages must be >= 1, got ${pages}`);
    const bo = new BufferObject(this, name, this.nextOffset, pages, this.k.mem.allocIo(pages));
    this.nextOffset += pages;
    this.mapping.sizePages = this.nextOffset;
    this.bos.push(bo);
    return bo;
  }

  /** drm_vma_offset_lookup: the BO containing file pages [pgoff, pgoff + pages), or null. */
  lookup(pgoff: number, pages = 1): BufferObject | null {
    for (const bo of this.bos) if (pgoff >= bo.offset && pgoff + pages <= bo.offset + bo.pages) return bo;
    return null;
  }

  /**
   * ttm_bo_mmap_obj: refuse COW mappings, find the BO, mark the VMA PFNMAP|IO|DONTEXPAND|
   * DONTDUMP and install the vm_ops. Returns 0 or a negative errno.
   */
  private mmapObj(vma: Vma): number {
    if ((vma.flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE) return -EINVAL; // is_cow_mapping
    const bo = this.lookup(vma.pgoff, vma.pages);
    if (bo === null) return -EINVAL;
    vma.flags |= VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP;
    vma.ops = this.vmOps;
    vma.privateData = bo;
    return 0;
  }

  private switched(bo: BufferObject, from: DirtyMethod, to: DirtyMethod, reason: string): void {
    this.k.counters.methodSwitches++;
    if (this.k.trace !== null)
      this.k.trace.emit({ kind: 'warn', text: `${bo.name}: ${from} -> ${to} (${reason})` });
    this.onMethodSwitch?.({ bo, from, to, reason });
  }

  private *wp(bo: BufferObject, first: number, nr: number): KGen<number> {
    const n = yield* this.helpers.wpSharedMappingRange(this.k, this.mapping, bo.offset + first, nr);
    this.ptesChangedByWp += n;
    return n;
  }

  private *cleanRecord(
    bo: BufferObject,
    d: BoDirty,
    first: number,
    nr: number,
    win: BoDirty | { start: number; end: number },
  ): KGen<number> {
    return yield* this.helpers.cleanRecordSharedMappingRange(
      this.k,
      this.mapping,
      bo.offset + first,
      nr,
      bo.offset,
      d.bitmap,
      win,
      `dirty(${bo.name})`,
    );
  }

  /**
   * vmw_bo_dirty_add: take a reference on the tracker, creating it if needed. Creation rule:
   * fewer than 512 pages -> PAGETABLE; otherwise MKWRITE, immediately write-protecting the BO and
   * recording what existing mappings already dirtied. A fixed `policy` picks the method instead
   * (and disables switching). Caller holds `bo.resv`.
   */
  *dirtyAdd(bo: BufferObject, policy: MethodPolicy = 'auto'): KGen<void> {
    bo.resv.assertHeld();
    if (bo.dirty !== null) {
      bo.dirty.refCount++;
      return;
    }
    const method: DirtyMethod =
      policy === 'auto' ? (bo.pages < VMW_DIRTY_PAGETABLE_LIMIT ? 'pagetable' : 'mkwrite') : policy;
    const d = new BoDirty(bo.pages, method, policy === 'auto');
    bo.dirty = d;
    if (method === 'mkwrite') {
      yield* this.wp(bo, 0, bo.pages);
      yield* this.cleanRecord(bo, d, 0, bo.pages, d);
    }
  }

  /** vmw_bo_dirty_release: drop a reference; the last one frees the tracker. Caller holds `bo.resv`. */
  dirtyRelease(bo: BufferObject): void {
    bo.resv.assertHeld();
    const d = bo.dirty;
    if (d === null) return;
    if (--d.refCount === 0) bo.dirty = null;
  }

  /** vmw_bo_dirty_scan: called at every validation of a tracked BO. Caller holds `bo.resv`. */
  *dirtyScan(bo: BufferObject): KGen<void> {
    bo.resv.assertHeld();
    const d = bo.dirty;
    if (d === null) return;
    this.k.counters.scans++;
    if (d.method === 'pagetable') yield* this.scanPagetable(bo, d);
    else yield* this.scanMkwrite(bo, d);
  }

  /** PAGETABLE scan: harvest dirty PTEs; three empty scans in a row switch to MKWRITE. */
  private *scanPagetable(bo: BufferObject, d: BoDirty): KGen<void> {
    const n = yield* this.cleanRecord(bo, d, 0, d.bitmapSize, d);
    if (n === 0) d.changeCount++;
    else d.changeCount = 0;
    if (d.switching && d.changeCount > VMW_DIRTY_NUM_CHANGE_TRIGGERS) {
      d.changeCount = 0;
      d.method = 'mkwrite';
      yield* this.wp(bo, 0, d.bitmapSize);
      yield* this.cleanRecord(bo, d, 0, d.bitmapSize, d);
      this.switched(
        bo,
        'pagetable',
        'mkwrite',
        `${VMW_DIRTY_NUM_CHANGE_TRIGGERS + 1} scans found no dirty PTE`,
      );
    }
  }

  /**
   * MKWRITE scan: re-protect the recorded window; more than 10% of the BO (integer arithmetic,
   * counting PTEs) in three scans in a row switches to PAGETABLE, treating the whole recorded
   * window as dirty.
   */
  private *scanMkwrite(bo: BufferObject, d: BoDirty): KGen<void> {
    if (d.end <= d.start) return;
    const n =
      this.variant === 'scan-fix'
        ? yield* this.scanMkwritePerPage(bo, d)
        : yield* this.wp(bo, d.start, d.end - d.start);
    if (Math.floor((100 * n) / d.bitmapSize) > VMW_DIRTY_PERCENTAGE) d.changeCount++;
    else d.changeCount = 0;
    if (d.switching && d.changeCount > VMW_DIRTY_NUM_CHANGE_TRIGGERS) {
      const local = { start: 0, end: d.bitmapSize };
      d.method = 'pagetable';
      bitmapClear(d.keep, 0, d.bitmapSize);
      yield* this.cleanRecord(bo, d, 0, d.bitmapSize, local);
      bitmapClear(d.bitmap, 0, d.bitmapSize);
      if (d.start < d.end) bitmapSet(d.bitmap, d.start, d.end - d.start);
      d.changeCount = 0;
      this.switched(
        bo,
        'mkwrite',
        'pagetable',
        `${VMW_DIRTY_NUM_CHANGE_TRIGGERS + 1} scans re-protected more than ${VMW_DIRTY_PERCENTAGE}% of the BO`,
      );
    }
  }

  /**
   * `scan-fix`: write-protect the window one page at a time; a set bit whose page's write-protect
   * changed no PTE is marked in `d.keep` (see {@link BoVariant}). Returns the PTEs changed, as
   * the one-call scan does.
   */
  private *scanMkwritePerPage(bo: BufferObject, d: BoDirty): KGen<number> {
    let n = 0;
    for (let p = d.start; p < d.end; p++) {
      const c = yield* this.wp(bo, p, 1);
      n += c;
      if (c === 0 && testBit(d.bitmap, p)) setBit(d.keep, p);
      else clearBit(d.keep, p);
    }
    return n;
  }

  /** Resource byte range -> page range [rs, re), WARN on an unaligned start. */
  private resPages(res: BoResource): [number, number] {
    if (res.guestMemoryOffset % 4096 !== 0) this.k.warn(`${res.name}: resource offset not page aligned`);
    return [
      Math.floor(res.guestMemoryOffset / 4096),
      Math.ceil((res.guestMemoryOffset + res.guestMemorySize) / 4096),
    ];
  }

  /**
   * Clear the runs of set bits of `res` (reporting them if `report`), then shrink the window at
   * the edges the resource covers. The clamp of the upper bound is min (mainline) or max (the
   * `transfer-max-bug` variant, which lets one resource consume another's bits).
   */
  private consumeRes(bo: BufferObject, res: BoResource, report: boolean): void {
    bo.resv.assertHeld();
    const d = bo.dirty;
    if (d === null) return;
    const [rs, re0] = this.resPages(res);
    if (rs >= d.end || re0 <= d.start) return;
    const cur0 = Math.max(rs, d.start);
    const re = this.variant === 'transfer-max-bug' ? Math.max(re0, d.end) : Math.min(re0, d.end);
    const bm = d.bitmap;
    // scan-fix: a reported page the scan could not confirm keeps its bit (and the window keeps it).
    const keep = report && this.variant === 'scan-fix' && d.method === 'mkwrite' ? d.keep : null;
    let keptLo = re;
    let keptHi = cur0;
    for (let cur = cur0; cur < re; ) {
      const s = findNextBit(bm, re, cur);
      if (s >= re) break;
      const e = findNextZeroBit(bm, re, s + 1);
      for (let i = s; i < e; i++) {
        if (keep !== null && testBit(keep, i)) {
          keptLo = Math.min(keptLo, i);
          keptHi = i + 1;
        } else {
          clearBit(bm, i);
          clearBit(d.keep, i);
        }
      }
      if (report) res.dirtyUpdate(s, e);
      cur = e + 1;
    }
    if (rs <= d.start && re > d.start) d.start = re;
    if (rs < d.end && re >= d.end) d.end = rs;
    if (keptLo < keptHi) {
      d.start = Math.min(d.start, keptLo);
      d.end = Math.max(d.end, keptHi);
    }
  }

  /** vmw_bo_dirty_transfer_to_res: hand the resource's dirty pages to it. Caller holds `bo.resv`. */
  transferToRes(bo: BufferObject, res: BoResource): void {
    this.consumeRes(bo, res, true);
  }

  /** vmw_bo_dirty_clear_res: drop the resource's dirty bits without reporting. Caller holds `bo.resv`. */
  clearRes(bo: BufferObject, res: BoResource): void {
    this.consumeRes(bo, res, false);
  }

  /** vmw_bo_dirty_clear: drop every tracked bit of the BO. Caller holds `bo.resv`. */
  dirtyClear(bo: BufferObject): void {
    const whole: BoResource = {
      name: bo.name,
      guestMemoryOffset: 0,
      guestMemorySize: bo.pages * 4096,
      dirtyUpdate: () => {},
    };
    this.consumeRes(bo, whole, false);
  }

  /** vmw_bo_is_dirty: whether anything is tracked. */
  isDirty(bo: BufferObject): boolean {
    return bo.dirty !== null && bo.dirty.start < bo.dirty.end;
  }

  /**
   * vmw_bo_dirty_unmap: record dirty bits of BO pages [start, end) (pre_unmap, PAGETABLE mode
   * only: zapping PFNMAP PTEs discards their hardware dirty bits), then zap every PTE mapping
   * them. Caller holds `bo.resv`.
   */
  *dirtyUnmap(bo: BufferObject, start: number, end: number): KGen<number> {
    yield* this.preUnmap(bo, start, end);
    return yield* unmapMappingRange(this.k, this.mapping, (bo.offset + start) * 4096, (end - start) * 4096);
  }

  /** vmw_bo_dirty_pre_unmap. Caller holds `bo.resv`. */
  *preUnmap(bo: BufferObject, start: number, end: number): KGen<void> {
    bo.resv.assertHeld();
    const d = bo.dirty;
    if (d === null || d.method !== 'pagetable' || start >= end) return;
    yield* this.wp(bo, start, end - start);
    yield* this.cleanRecord(bo, d, start, end - start, d);
  }

  /**
   * ttm_bo_vm_reserve: reserve the BO from a fault handler, with the mmap lock held (lock order:
   * the reservation nests outside mmap_lock elsewhere, so a fault must not simply block on it).
   * A trylock first; if the BO is busy and this is the fault's first attempt
   * ({@link faultFlagAllowRetryFirst}), drop the mmap lock, wait until the BO is unreserved (lock,
   * unlock) and return VM_FAULT_RETRY: the arch handler retries with FAULT_FLAG_TRIED. Otherwise
   * (a retry, or mkwrite, which clears ALLOW_RETRY because the core does not handle RETRY from
   * mkwrite) block on the lock interruptibly; a signal would return VM_FAULT_NOPAGE, and the model
   * has no signals, so that is a plain blocking lock.
   * Returns 0 with `bo.resv` held, or VM_FAULT_RETRY without it.
   */
  private *vmReserve(bo: BufferObject, vmf: VmFault, flags: number): KGen<number> {
    if (!faultFlagAllowRetryFirst(flags)) {
      yield* bo.resv.lock(); // trylock, then dma_resv_lock_interruptible: one blocking lock here
      return 0;
    }
    if (this.k.explore) yield access(bo.resv.id, true); // the same scheduling point as lock()
    if (bo.resv.tryLock()) return 0;
    if ((flags & FAULT_FLAG_RETRY_NOWAIT) === 0) {
      vmf.vma.mm.mmapLock.upRead();
      yield* bo.resv.lock();
      bo.resv.unlock();
    }
    return VM_FAULT_RETRY;
  }

  /**
   * vmw_bo_vm_mkwrite (page_mkwrite and pfn_mkwrite): reserve the BO (blocking: ALLOW_RETRY is
   * masked for ttm_bo_vm_reserve), SIGBUS beyond the BO, and in MKWRITE mode record the page and
   * widen the window. Returning 0 lets the core make the PTE writable and dirty
   * (finish_mkwrite_fault).
   */
  *vmMkwrite(_k: Kernel, vmf: VmFault): KGen<number> {
    const bo = vmf.vma.privateData as BufferObject;
    yield* this.vmReserve(bo, vmf, vmf.flags & ~FAULT_FLAG_ALLOW_RETRY);
    const pageOffset = vmf.pgoff - bo.offset;
    let ret = 0;
    if (pageOffset < 0 || pageOffset >= bo.pages) ret = VM_FAULT_SIGBUS;
    else {
      const d = bo.dirty;
      if (d !== null && d.method === 'mkwrite' && !testBit(d.bitmap, pageOffset)) {
        setBit(d.bitmap, pageOffset);
        if (pageOffset < d.start) d.start = pageOffset;
        if (pageOffset + 1 > d.end) d.end = pageOffset + 1;
      }
    }
    // mkwrite-locked: a PFN fault keeps the reservation until finish_mkwrite_fault made the PTE
    // writable (released by pfnMkwriteDone), so no scan can consume the bit in between.
    if (this.variant !== 'mkwrite-locked' || vmf.page >= 0) bo.resv.unlock();
    return ret;
  }

  /**
   * vmw_bo_vm_fault: reserve the BO ({@link vmReserve}: may return VM_FAULT_RETRY after dropping
   * the mmap lock), SIGBUS beyond it, clean the GPU-dirty resources there (vmw_resources_clean:
   * res_dirty cleared, the GPU's data is not modelled) and cap the prefault at their end, pick
   * the protection (read-only in MKWRITE mode so the first write reaches mkwrite; writable and
   * clean otherwise, so the hardware sets D) and insert special PFN PTEs for up to
   * TTM_BO_VM_NUM_PREFAULT pages.
   */
  *vmFault(k: Kernel, vmf: VmFault): KGen<number> {
    const vma = vmf.vma;
    const bo = vma.privateData as BufferObject;
    const r = yield* this.vmReserve(bo, vmf, vmf.flags);
    if (r !== 0) return r;
    const d = bo.dirty;
    let ret: number;
    let numPrefault = TTM_BO_VM_NUM_PREFAULT;
    const pageOffset = vmf.pgoff - bo.offset;
    if (d !== null && pageOffset >= bo.pages) ret = VM_FAULT_SIGBUS;
    else {
      // The kernel passes page_offset + PAGE_SIZE as the (page) end: it cleans the resources of up
      // to 4096 following pages, harmless; kept as is.
      if (d !== null)
        numPrefault = Math.min(numPrefault, this.resourcesClean(bo, pageOffset, pageOffset + 4096));
      const prot =
        d !== null && d.method === 'mkwrite'
          ? vmGetPageProt(vma.flags & ~VM_SHARED)
          : vmGetPageProt(vma.flags);
      ret = yield* this.faultReserved(k, vmf, bo, prot, numPrefault);
    }
    bo.resv.unlock();
    return ret;
  }

  /** vmw_resource_mob_attach: `res` is backed by `bo` from now on (kept in offset order). */
  resourceAttach(bo: BufferObject, res: BoResource): void {
    const t = bo.resTree;
    let i = t.length;
    while (i > 0 && t[i - 1]!.guestMemoryOffset > res.guestMemoryOffset) i--;
    t.splice(i, 0, res);
  }

  /**
   * vmw_resources_clean: before the CPU maps BO pages [start, end) again, every resource from the
   * first one overlapping them (in offset order, up to the first starting at or after `end`) that
   * the GPU may have dirtied is read back (the GPU's writes are not modelled: only res_dirty is
   * cleared). Returns how many pages from `start` the fault may map (1 if no resource was found:
   * prefault only up to the end of the cleaned resources). Caller holds `bo.resv`.
   */
  private resourcesClean(bo: BufferObject, start: number, end: number): number {
    bo.resv.assertHeld();
    const t = bo.resTree;
    let i = 0;
    while (
      i < t.length &&
      !(
        t[i]!.guestMemoryOffset < end * 4096 && t[i]!.guestMemoryOffset + t[i]!.guestMemorySize > start * 4096
      )
    )
      i++;
    let lastCleaned = 0;
    for (; i < t.length && t[i]!.guestMemoryOffset < end * 4096; i++) {
      const r = t[i]!;
      if (r.resDirty === true) r.resDirty = false;
      lastCleaned = r.guestMemoryOffset + r.guestMemorySize;
    }
    return lastCleaned > start * 4096 ? Math.ceil((lastCleaned - start * 4096) / 4096) : 1;
  }

  /** ttm_bo_vm_fault_reserved: map the faulting page and prefault the following ones. */
  private *faultReserved(
    k: Kernel,
    vmf: VmFault,
    bo: BufferObject,
    prot: number,
    numPrefault: number,
  ): KGen<number> {
    const vma = vmf.vma;
    let pageOffset = vmf.pgoff - bo.offset;
    const pageLast = vma.pages + vma.pgoff - bo.offset;
    if (pageOffset < 0 || pageOffset >= bo.pages) return VM_FAULT_SIGBUS;
    let addr = vmf.address;
    for (let i = 0; i < numPrefault; i++) {
      const ret = yield* vmfInsertPfnProt(k, vma, addr, bo.ioBase + pageOffset, prot);
      if ((ret & VM_FAULT_ERROR) !== 0) {
        if (i === 0) return ret;
        break;
      }
      addr += 4096;
      if (++pageOffset >= pageLast) break;
    }
    return VM_FAULT_NOPAGE;
  }

  /** Convenience for consumers and models: reserve, add a tracker if missing, scan, unreserve. */
  *validate(bo: BufferObject, policy: MethodPolicy = 'auto'): KGen<void> {
    yield* bo.resv.lock();
    yield* this.validateReserved(bo, policy);
    bo.resv.unlock();
  }

  /** {@link validate} for a caller that already holds `bo.resv` (a whole submission). */
  *validateReserved(bo: BufferObject, policy: MethodPolicy = 'auto'): KGen<void> {
    bo.resv.assertHeld();
    if (bo.dirty === null) yield* this.dirtyAdd(bo, policy);
    yield* this.dirtyScan(bo);
  }
}
