/**
 * userfaultfd write-protect in async mode (spec §10.1) on the simulated kernel: a per-mm
 * userfaultfd context (UFFDIO_API features), UFFDIO_REGISTER(MODE_WP) marking whole VMAs with
 * VM_UFFD_WP, UFFDIO_WRITEPROTECT (mwriteprotect_range -> uffd_wp_range, a change_protection
 * with the uffd-wp flags), uffd-wp PTE markers on empty PTEs, the marker fault (handle_pte_marker)
 * and the zap that keeps uffd-wp state as markers (MADV_DONTNEED).
 *
 * ## PTE markers
 * A PTE marker is a non-present entry that carries information without a page. The only marker
 * the model knows is the uffd-wp one; its encoding is the model's own (not x86's swap format):
 * `lo = PTE_UFFD_WP` (bit 10, a software bit), `hi = 0`, PRESENT clear. The hardware walker
 * treats it as not present (any access faults); PAGEMAP_SCAN reports it as a swap entry.
 *
 * ## What memory.ts does not know, and how the model covers it
 * The generic fault path (memory.ts) handles empty and present PTEs only; a fault on a marker is
 * routed here first by {@link uffdStoreFast} / {@link uffdLoadFast} (the model's user accesses to
 * uffd-registered memory), which do what handle_pte_marker does: treat the marker as an empty
 * PTE, fault the page in, and install it with the uffd-wp bit (write-protected). A write then
 * faults again into doWpPage, which in async mode clears the bit (memory.ts already does that).
 * The model's madvise(MADV_DONTNEED) zap (mmap.ts) drops every entry; {@link madviseDontneedUffd}
 * re-installs a marker where a uffd-wp PTE or marker was (zap_install_uffd_wp_if_needed) in a
 * second PTL section. Both are atomic in fast mode (no other task runs); they are not meant for
 * explore-mode interleavings.
 *
 * Only async mode (UFFD_FEATURE_WP_ASYNC) is modelled: there is no message queue, and doWpPage
 * resolves every uffd-wp fault itself.
 */
import { type KGen, runToCompletion } from '../checker/task.ts';
import type { Cpu } from '../hw/cpu.ts';
import { entryIndexAt } from '../hw/pagetable.ts';
import { LEVEL_PTE, PTE_PRESENT, PTE_RW, PTE_UFFD_WP, pfn4k, wrprotectHi, wrprotectLo } from '../hw/pte.ts';
import type { Kernel } from './kernel.ts';
import { handleMmFault, setPteAt, vmaSetPageProt } from './memory.ts';
import {
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  type MmStruct,
  VM_FAULT_ERROR,
  VM_HUGETLB,
  VM_SHARED,
  VM_UFFD_WP,
  VM_WRITE,
  type Vma,
} from './mm-types.ts';
import { madviseDontneed } from './mmap.ts';
import {
  mmuNotifierInvalidateRangeEnd,
  mmuNotifierInvalidateRangeStart,
  mmuNotifierRangeInit,
} from './mmu-notifier.ts';
import { decTlbFlushPending, flushTlbRange, incTlbFlushPending } from './tlbflush.ts';

// Imported constants are read through module-namespace getters when tsx loads modules as CJS;
// the per-PTE loops read these module-local copies instead.
const P_PRESENT = PTE_PRESENT;
const P_UFFD_WP = PTE_UFFD_WP;
const P_RW = PTE_RW;

// UFFDIO_API feature bits (spec §10.1; linux/userfaultfd.h values).
export const UFFD_FEATURE_PAGEFAULT_FLAG_WP = 1 << 0;
export const UFFD_FEATURE_EVENT_FORK = 1 << 1;
export const UFFD_FEATURE_WP_HUGETLBFS_SHMEM = 1 << 12;
export const UFFD_FEATURE_WP_UNPOPULATED = 1 << 13;
export const UFFD_FEATURE_WP_ASYNC = 1 << 15;
/** The features the model implements (and the tracking API needs). */
export const UFFD_MODEL_FEATURES =
  UFFD_FEATURE_PAGEFAULT_FLAG_WP |
  UFFD_FEATURE_WP_HUGETLBFS_SHMEM |
  UFFD_FEATURE_WP_UNPOPULATED |
  UFFD_FEATURE_WP_ASYNC;

export const ENOENT = 2;
export const EINVAL = 22;
export const ENOMEM = 12;

/** The low word of a uffd-wp PTE marker (model encoding, see the file comment). */
export const PTE_MARKER_UFFD_WP_LO = PTE_UFFD_WP;

/** A uffd-wp PTE marker: not present, only the uffd-wp software bit. */
export function isUffdWpMarker(lo: number, hi: number): boolean {
  return lo === PTE_MARKER_UFFD_WP_LO && hi === 0;
}

/** struct userfaultfd_ctx, reduced to what async write-protect needs. */
export class UffdCtx {
  constructor(
    readonly mm: MmStruct,
    /** Features granted by UFFDIO_API. */
    readonly features: number,
  ) {}
}

// vma->vm_userfaultfd_ctx: the model keeps one context per mm (VMA splits copy vm_flags but not
// side tables, and the real backend also uses one userfaultfd per process).
const ctxOfMm = new WeakMap<MmStruct, UffdCtx>();

/**
 * userfaultfd() + UFFDIO_API for `mm`: grants `features` if the model implements them all
 * (async WP only), else returns -EINVAL as the kernel does for unknown features.
 */
export function uffdOpen(mm: MmStruct, features: number): UffdCtx | number {
  if ((features & ~UFFD_MODEL_FEATURES) !== 0) return -EINVAL;
  if ((features & UFFD_FEATURE_WP_ASYNC) === 0) return -EINVAL; // sync mode is not modelled
  const ctx = new UffdCtx(mm, features);
  ctxOfMm.set(mm, ctx);
  return ctx;
}

/** The context a VMA is registered with, or null (userfaultfd_wp(vma) is `!== null`). */
export function uffdCtxOf(vma: Vma): UffdCtx | null {
  return (vma.flags & VM_UFFD_WP) !== 0 ? (ctxOfMm.get(vma.mm) ?? null) : null;
}

/** userfaultfd_wp_async(vma). */
export function userfaultfdWpAsync(vma: Vma): boolean {
  const c = uffdCtxOf(vma);
  return c !== null && (c.features & UFFD_FEATURE_WP_ASYNC) !== 0;
}

/**
 * userfaultfd_wp_use_markers(vma): empty PTEs get markers on file/shmem VMAs, and on anonymous
 * ones with WP_UNPOPULATED.
 */
export function userfaultfdWpUseMarkers(vma: Vma): boolean {
  const c = uffdCtxOf(vma);
  if (c === null) return false;
  if (vma.file !== null) return true;
  return (c.features & UFFD_FEATURE_WP_UNPOPULATED) !== 0;
}

/**
 * UFFDIO_REGISTER with MODE_WP over [start, start + len): every VMA there gets VM_UFFD_WP and,
 * being shared, write-notify (new PTEs read-only). The range must be covered by VMAs without
 * holes (-EINVAL otherwise, as the kernel) and, a model restriction, begin and end on VMA
 * boundaries (the kernel would split). Existing PTEs are not touched.
 *
 * Locking: mmap_lock for write.
 */
export function* uffdRegisterWp(k: Kernel, ctx: UffdCtx, start: number, len: number): KGen<number> {
  const mm = ctx.mm;
  const end = start + len;
  if (start % 4096 !== 0 || len <= 0 || len % 4096 !== 0) return -EINVAL;
  yield* mm.mmapLock.downWrite();
  const vmas = mm.vmas.filter((v) => v.start < end && v.end > start).sort((a, b) => a.start - b.start);
  let at = start;
  let ok = vmas.length > 0;
  for (const v of vmas) {
    if (v.start !== at || (v.flags & VM_HUGETLB) !== 0) ok = false;
    at = v.end;
  }
  if (!ok || at !== end) {
    mm.mmapLock.upWrite();
    return -EINVAL;
  }
  for (const v of vmas) {
    v.flags |= VM_UFFD_WP;
    if ((v.flags & VM_SHARED) !== 0) vmaSetPageProt(v);
  }
  if (k.explore) yield undefined;
  mm.mmapLock.upWrite();
  return 0;
}

/**
 * UFFDIO_WRITEPROTECT (mwriteprotect_range): for each VMA overlapping the range, -ENOENT if it is
 * not registered for uffd-wp, else {@link uffdWpRange} on the overlap. Holes between VMAs are
 * skipped; no VMA at all is -ENOENT.
 *
 * Locking: mmap_lock for read.
 */
export function* uffdWriteprotect(
  k: Kernel,
  mm: MmStruct,
  start: number,
  len: number,
  enableWp: boolean,
): KGen<number> {
  if (start % 4096 !== 0 || len % 4096 !== 0 || len <= 0) return -EINVAL;
  const end = start + len;
  if (k.explore || !mm.mmapLock.tryDownRead()) yield* mm.mmapLock.downRead();
  let err = -ENOENT;
  const vmas = mm.vmas.filter((v) => v.start < end && v.end > start).sort((a, b) => a.start - b.start);
  for (const v of vmas) {
    if (uffdCtxOf(v) === null) {
      err = -ENOENT;
      break;
    }
    yield* uffdWpRange(k, v, Math.max(start, v.start), Math.min(end, v.end), enableWp);
    err = 0;
  }
  mm.mmapLock.upRead();
  return err;
}

/**
 * uffd_wp_range: change_protection of [start, end) in `vma` with MM_CP_UFFD_WP (enable) or
 * MM_CP_UFFD_WP_RESOLVE (disable), under an mmu_gather: notifier start, pending count, each PTE
 * table under its PTL, one ranged flush if a present PTE changed, then the end.
 *
 * - enable: a present PTE gets the uffd-wp bit and loses RW (pte_mkuffd_wp); an empty PTE gets a
 *   marker when the VMA uses markers (page tables are allocated for that); a marker stays.
 * - resolve: the bit is cleared; a marker goes away (empty PTE); with MM_CP_TRY_CHANGE_WRITABLE
 *   (a writable VMA) a dirty shared PTE, or an exclusive anonymous one, becomes writable again.
 *
 * Returns the number of entries changed.
 */
export function* uffdWpRange(
  k: Kernel,
  vma: Vma,
  start: number,
  end: number,
  enableWp: boolean,
): KGen<number> {
  const mm = vma.mm;
  const mem = k.mem;
  const markers = enableWp && userfaultfdWpUseMarkers(vma);
  const tryWritable = !enableWp && (vma.flags & VM_WRITE) !== 0;
  const shared = (vma.flags & VM_SHARED) !== 0;
  const range = mmuNotifierRangeInit('PROTECTION_VMA', mm, start, end);
  yield* mmuNotifierInvalidateRangeStart(k, range);
  incTlbFlushPending(mm);
  let changed = 0;
  let presentChanged = 0;
  for (let addr = start; addr < end; ) {
    const vpn = Math.floor(addr / 4096);
    const tableEnd = Math.min(end, (Math.floor(vpn / 512) + 1) * 512 * 4096);
    // change_pmd_prepare: with markers, a missing PTE table is allocated so markers can be set.
    let i = entryIndexAt(mem, mm.root, vpn, LEVEL_PTE, k.levels, markers);
    if (i < 0) {
      addr = tableEnd;
      continue;
    }
    const ptl = k.ptl(k.tableOfSlot(Math.floor(i / 512)));
    if (k.explore || !ptl.tryLock()) yield* ptl.lock();
    if (!k.explore) {
      // fast mode: the whole table run in one plain call (no generator step per PTE)
      const r = wpTableRun(k, vma, i, addr, tableEnd, enableWp, markers, tryWritable, shared);
      changed += r & 0x3ff;
      presentChanged += r >>> 10;
      addr = tableEnd;
      ptl.unlock();
      continue;
    }
    for (; addr < tableEnd; addr += 4096, i++) {
      const lo = mem.ptLo[i]!;
      const hi = mem.ptHi[i]!;
      if ((lo & P_PRESENT) !== 0) {
        let nlo: number;
        let nhi = hi;
        if (enableWp) {
          nlo = (wrprotectLo(lo, k.shadowStack) | P_UFFD_WP) >>> 0;
          nhi = wrprotectHi(lo, hi, k.shadowStack);
        } else {
          // change_pte_range: pte_modify with the VMA's read-only vm_page_prot, then the upgrade
          nlo = (lo & ~(P_UFFD_WP | P_RW)) >>> 0;
          if (tryWritable && canChangePteWritable(k, shared, nlo, hi)) nlo = (nlo | P_RW) >>> 0;
        }
        if (nlo !== lo || nhi !== hi) {
          setPteAt(k, vma, addr, i, nlo, nhi); // ptep_modify_prot_start/commit: atomic in the model
          changed++;
          presentChanged++;
        }
      } else if (lo === 0 && hi === 0) {
        if (markers) {
          setPteAt(k, vma, addr, i, PTE_MARKER_UFFD_WP_LO, 0);
          changed++;
        }
      } else if (!enableWp && isUffdWpMarker(lo, hi)) {
        setPteAt(k, vma, addr, i, 0, 0);
        changed++;
      }
      if (k.explore) yield undefined;
    }
    ptl.unlock();
  }
  if (presentChanged > 0) flushTlbRange(k, mm, start, end);
  decTlbFlushPending(mm);
  yield* mmuNotifierInvalidateRangeEnd(k, range);
  return changed;
}

/** RW and the uffd-wp bit: a present entry with exactly the uffd-wp bit of the two is protected. */
const RW_UFFD_WP = P_RW | P_UFFD_WP;

/**
 * One PTE table's part of {@link uffdWpRange} in fast mode (PTL held by the caller): entries
 * `i0`.. covering [addr, end). Same changes, in the same order, as the explore-mode loop; PTEs
 * are stored directly unless a trace wants each one (setPteAt). An enable over an entry that is
 * already protected and present is skipped with one test (perf: re-protecting an idle range;
 * bench kernel.model.wp.nsPerPage). Returns changed | presentChanged << 10 (each <= 512).
 */
function wpTableRun(
  k: Kernel,
  vma: Vma,
  i0: number,
  addr: number,
  end: number,
  enableWp: boolean,
  markers: boolean,
  tryWritable: boolean,
  shared: boolean,
): number {
  const lo32 = k.mem.ptLo;
  const hi32 = k.mem.ptHi;
  const traced = k.trace !== null;
  const ss = k.shadowStack;
  const PR = P_PRESENT;
  const WP = P_UFFD_WP;
  const iEnd = i0 + (end - addr) / 4096;
  const base = addr - i0 * 4096; // address of entry j is base + j * 4096
  let changed = 0;
  let presentChanged = 0;
  for (let j = i0; j < iEnd; j++) {
    const lo = lo32[j]!;
    const hi = hi32[j]!;
    let nlo: number;
    let nhi = hi;
    if ((lo & PR) !== 0) {
      if (enableWp) {
        // already protected (uffd-wp set, RW clear): pte_wrprotect leaves it as it is unless
        // shadow stacks move D to SavedDirty
        if ((lo & RW_UFFD_WP) === WP && !ss) continue;
        nlo = (wrprotectLo(lo, ss) | WP) >>> 0;
        nhi = wrprotectHi(lo, hi, ss);
      } else {
        nlo = (lo & ~(WP | P_RW)) >>> 0; // pte_modify with the read-only vm_page_prot
        if (tryWritable && canChangePteWritable(k, shared, nlo, hi)) nlo = (nlo | P_RW) >>> 0;
      }
      if (nlo === lo && nhi === hi) continue;
      presentChanged++;
    } else if (lo === 0 && hi === 0) {
      if (!markers) continue;
      nlo = PTE_MARKER_UFFD_WP_LO;
      nhi = 0;
    } else if (!enableWp && isUffdWpMarker(lo, hi)) {
      nlo = 0;
      nhi = 0;
    } else continue;
    changed++;
    if (traced) setPteAt(k, vma, base + j * 4096, j, nlo, nhi);
    else {
      lo32[j] = nlo;
      hi32[j] = nhi;
    }
  }
  return changed | (presentChanged << 10);
}

/**
 * can_change_pte_writable after the uffd-wp bit is gone, as Linux 6.18 behaves in a VMA
 * registered for uffd-wp: a private PTE of our own anonymous copy is made writable; a shared PTE
 * never is, even when dirty (the kernel's comment in uffd_wp_range promises the upgrade; measured:
 * the next store faults, docs/kernel-diff.md finding 2). `shared` is kept for that reason.
 */
function canChangePteWritable(k: Kernel, shared: boolean, lo: number, hi: number): boolean {
  if ((lo & P_UFFD_WP) !== 0) return false;
  if (shared) return false;
  return k.anonPages.has(pfn4k(lo, hi));
}

/**
 * handle_pte_marker for a uffd-wp marker at flat PTE index `i` (async mode: no message): the
 * marker counts as an empty PTE; the page is faulted in by the generic path and installed
 * write-protected with the uffd-wp bit, as set_pte_range does when the original PTE was a
 * uffd-wp marker. A write retries and takes the async uffd-wp fault in doWpPage.
 *
 * Returns vm_fault_t bits (0, or an error from the generic path).
 */
export function* handleUffdWpMarker(
  k: Kernel,
  mm: MmStruct,
  addr: number,
  i: number,
  write: boolean,
): KGen<number> {
  const mem = k.mem;
  const ptl = k.ptl(k.tableOfSlot(Math.floor(i / 512)));
  const vma = mm.findVma(addr);
  if (vma === null)
    return yield* handleMmFault(k, mm, addr, FAULT_FLAG_USER | (write ? FAULT_FLAG_WRITE : 0));
  if (k.explore || !ptl.tryLock()) yield* ptl.lock();
  if (!isUffdWpMarker(mem.ptLo[i]!, mem.ptHi[i]!)) {
    ptl.unlock();
    return 0; // changed under us: retry the access
  }
  setPteAt(k, vma, addr, i, 0, 0);
  ptl.unlock();
  const r = yield* handleMmFault(k, mm, addr, FAULT_FLAG_USER | (write ? FAULT_FLAG_WRITE : 0));
  if ((r & VM_FAULT_ERROR) !== 0) {
    // the access is fatal: give the marker back so the uffd-wp state is not lost
    if (k.explore || !ptl.tryLock()) yield* ptl.lock();
    if (mem.ptLo[i] === 0 && mem.ptHi[i] === 0) setPteAt(k, vma, addr, i, PTE_MARKER_UFFD_WP_LO, 0);
    ptl.unlock();
    return r;
  }
  if (k.explore || !ptl.tryLock()) yield* ptl.lock();
  const lo = mem.ptLo[i]!;
  const hi = mem.ptHi[i]!;
  if ((lo & P_PRESENT) !== 0 && (lo & P_UFFD_WP) === 0) {
    // pte_mkuffd_wp on the entry just installed (no TLB holds it yet: the access has not retried)
    setPteAt(
      k,
      vma,
      addr,
      i,
      (wrprotectLo(lo, k.shadowStack) | P_UFFD_WP) >>> 0,
      wrprotectHi(lo, hi, k.shadowStack),
    );
  }
  ptl.unlock();
  return r;
}

const MAX_RETRIES = 64;

/** Flat index of the PTE of `va` if its table exists and it holds a uffd-wp marker, else -1. */
function markerIndex(k: Kernel, mm: MmStruct, va: number): number {
  const i = entryIndexAt(k.mem, mm.root, Math.floor(va / 4096), LEVEL_PTE, k.levels, false);
  return i >= 0 && isUffdWpMarker(k.mem.ptLo[i]!, k.mem.ptHi[i]!) ? i : -1;
}

/**
 * A user-mode byte store by `cpu` (running `mm`) to uffd-registered memory, fast mode: the
 * hardware step, and on a fault the marker path or the generic fault path, retried as the CPU
 * would. Returns 0 or the fatal vm_fault_t.
 */
export function uffdStoreFast(k: Kernel, cpu: Cpu, mm: MmStruct, va: number, v: number): number {
  if (cpu.store8(va, v) === 0) return 0;
  for (let n = 0; n < MAX_RETRIES; n++) {
    const m = markerIndex(k, mm, va);
    const r =
      m >= 0
        ? runToCompletion(handleUffdWpMarker(k, mm, va, m, true))
        : runToCompletion(handleMmFault(k, mm, va, FAULT_FLAG_WRITE | FAULT_FLAG_USER));
    if ((r & VM_FAULT_ERROR) !== 0) return r;
    if (cpu.store8(va, v) === 0) return 0;
  }
  throw new Error(`uffdStoreFast: no progress after ${MAX_RETRIES} faults at 0x${va.toString(16)}`);
}

/** A user-mode byte load (see {@link uffdStoreFast}): the value, or -(vm_fault_t) if fatal. */
export function uffdLoadFast(k: Kernel, cpu: Cpu, mm: MmStruct, va: number): number {
  let v = cpu.load8(va);
  if (v >= 0) return v;
  for (let n = 0; n < MAX_RETRIES; n++) {
    const m = markerIndex(k, mm, va);
    const r =
      m >= 0
        ? runToCompletion(handleUffdWpMarker(k, mm, va, m, false))
        : runToCompletion(handleMmFault(k, mm, va, FAULT_FLAG_USER));
    if ((r & VM_FAULT_ERROR) !== 0) return -r;
    v = cpu.load8(va);
    if (v >= 0) return v;
  }
  throw new Error(`uffdLoadFast: no progress after ${MAX_RETRIES} faults at 0x${va.toString(16)}`);
}

/**
 * madvise(MADV_DONTNEED) over [start, start + len) with uffd-wp state kept: every mapped page is
 * zapped (mmap.ts), then a marker is installed where a uffd-wp PTE or a marker was, in a VMA
 * registered for uffd-wp that is not anonymous (zap_install_uffd_wp_if_needed; markers survive a
 * DONTNEED). Returns 0, or -ENOMEM if part of the range is not mapped (madvise_walk_vmas; the
 * mapped parts are still zapped).
 *
 * Locking: mmap_lock for read (through madviseDontneed), PTLs to restore the markers.
 */
export function* madviseDontneedUffd(k: Kernel, mm: MmStruct, start: number, len: number): KGen<number> {
  const end = start + Math.ceil(len / 4096) * 4096;
  const mem = k.mem;
  // uffd-wp PTEs to re-arm: pairs (address, flat index) in one flat number array
  const keep: number[] = [];
  let covered = 0;
  for (const v of mm.vmas) {
    const s = Math.max(start, v.start);
    const e = Math.min(end, v.end);
    if (s >= e) continue;
    covered += e - s;
    if (uffdCtxOf(v) === null || v.file === null) continue;
    for (let a = s; a < e; ) {
      // one table lookup per 512 pages
      const vpn = Math.floor(a / 4096);
      const tableEnd = Math.min(e, (Math.floor(vpn / 512) + 1) * 512 * 4096);
      const i0 = entryIndexAt(mem, mm.root, vpn, LEVEL_PTE, k.levels, false);
      if (i0 < 0) {
        a = tableEnd;
        continue;
      }
      for (let i = i0; a < tableEnd; a += 4096, i++) {
        const lo = mem.ptLo[i]!;
        if (lo === 0) continue;
        if (((lo & P_PRESENT) !== 0 && (lo & P_UFFD_WP) !== 0) || isUffdWpMarker(lo, mem.ptHi[i]!))
          keep.push(a, i);
      }
    }
  }
  if (covered > 0) yield* madviseDontneed(k, mm, start, end - start);
  // one PTL hold per table run of entries (explore mode: one per entry, a scheduling point each)
  let vma: Vma | null = null;
  for (let j = 0; j < keep.length; ) {
    const slot = Math.floor(keep[j + 1]! / 512);
    const ptl = k.ptl(k.tableOfSlot(slot));
    if (k.explore || !ptl.tryLock()) yield* ptl.lock();
    do {
      const a = keep[j]!;
      const i = keep[j + 1]!;
      if (vma === null || a < vma.start || a >= vma.end) vma = mm.findVma(a)!;
      if (mem.ptLo[i] === 0 && mem.ptHi[i] === 0) setPteAt(k, vma, a, i, PTE_MARKER_UFFD_WP_LO, 0);
      j += 2;
    } while (!k.explore && j < keep.length && Math.floor(keep[j + 1]! / 512) === slot);
    ptl.unlock();
  }
  return covered === end - start ? 0 : -ENOMEM;
}
