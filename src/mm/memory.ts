import { type KGen, runToCompletion } from '../checker/task.ts';
import type { Cpu } from '../hw/cpu.ts';
import { entryIndexAt } from '../hw/pagetable.ts';
import {
  entryHuge,
  LEVEL_PMD,
  LEVEL_PTE,
  LEVEL_PUD,
  mkHi,
  mkLo,
  PTE_ACCESSED,
  PTE_DIRTY,
  PTE_HI_SAVED_DIRTY,
  PTE_PRESENT,
  PTE_RW,
  PTE_SPECIAL,
  PTE_UFFD_WP,
  PTE_USER,
  pfn4k,
} from '../hw/pte.ts';
import { splitHugePmd, splitHugePud } from './huge.ts';
import type { Kernel } from './kernel.ts';
import type { Spinlock } from './locks.ts';
import {
  FAULT_FLAG_ALLOW_RETRY,
  FAULT_FLAG_DEFAULT,
  FAULT_FLAG_MKWRITE,
  FAULT_FLAG_RETRY_NOWAIT,
  FAULT_FLAG_TRIED,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  type MmStruct,
  VM_EXEC,
  VM_FAULT_ERROR,
  VM_FAULT_LOCKED,
  VM_FAULT_NOPAGE,
  VM_FAULT_RETRY,
  VM_FAULT_SIGBUS,
  VM_FAULT_SIGSEGV,
  VM_MAYSHARE,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_UFFD_WP,
  VM_WRITE,
  type Vma,
  type VmFault,
} from './mm-types.ts';
import { flushTlbPage } from './tlbflush.ts';

/** vm_get_page_prot: PTE bits for new PTEs. Private writable mappings stay read-only (COW). */
export function vmGetPageProt(flags: number): number {
  // PROT_NONE (PAGE_NONE): x86 Linux clears PRESENT and sets PROTNONE; the model keeps PRESENT
  // and clears USER, so every user access still faults (found by lab diff on 6.1: the model kept
  // USER and a load through a PROT_NONE mapping succeeded). The lab renders the kernel's encoding.
  if ((flags & (VM_READ | VM_WRITE | VM_EXEC)) === 0) return PTE_PRESENT;
  let p = PTE_PRESENT | PTE_USER;
  if ((flags & VM_WRITE) !== 0 && (flags & VM_SHARED) !== 0) p |= PTE_RW;
  return p;
}

/**
 * vma_wants_writenotify: a shared writable VMA whose writes the kernel must see (spec 7.1): the
 * driver has page_mkwrite/pfn_mkwrite, uffd-wp is registered, or the file does writeback.
 */
export function vmaWantsWritenotify(vma: Vma): boolean {
  const f = vma.flags;
  if ((f & (VM_WRITE | VM_SHARED)) !== (VM_WRITE | VM_SHARED)) return false;
  if (vma.ops !== null && (vma.ops.pageMkwrite !== undefined || vma.ops.pfnMkwrite !== undefined))
    return true;
  if ((f & VM_UFFD_WP) !== 0) return true;
  return (f & VM_PFNMAP) === 0 && vma.file !== null && vma.file.canWriteback;
}

/** vma_set_page_prot: with write-notify, new PTEs are read-only so the first write faults. */
export function vmaSetPageProt(vma: Vma): void {
  vma.pageProt = vmGetPageProt(vmaWantsWritenotify(vma) ? vma.flags & ~VM_SHARED : vma.flags);
}

function tracePte(k: Kernel, vma: Vma, addr: number, i: number, oldLo: number, oldHi: number): void {
  k.trace!.emit({
    kind: 'pte',
    mm: vma.mm.id,
    addr,
    level: LEVEL_PTE,
    oldLo,
    oldHi,
    newLo: k.mem.ptLo[i]!,
    newHi: k.mem.ptHi[i]!,
    by: 'kernel',
  });
}

/** Set a PTE (set_pte_at), tracing the change. Caller holds the PTL. */
export function setPteAt(k: Kernel, vma: Vma, addr: number, i: number, lo: number, hi: number): void {
  const oldLo = k.mem.ptLo[i]!;
  const oldHi = k.mem.ptHi[i]!;
  k.mem.ptLo[i] = lo >>> 0;
  k.mem.ptHi[i] = hi >>> 0;
  if (k.trace !== null) tracePte(k, vma, addr, i, oldLo, oldHi);
}

/** PFN of the PTE table holding the PTE of `addr`, allocating tables if needed. */
function pteTableOf(k: Kernel, mm: MmStruct, addr: number): number {
  const i = entryIndexAt(k.mem, mm.root, Math.floor(addr / 4096), LEVEL_PTE, k.levels, true);
  if (i < 0) return -1;
  // The table's PFN is recovered from the slot: find it through ptSlot's inverse.
  return k.tableOfSlot(Math.floor(i / 512));
}

function newVmf(vma: Vma, addr: number, flags: number, ptep: number, lo: number, hi: number): VmFault {
  const a = Math.floor(addr / 4096) * 4096;
  return { vma, address: a, pgoff: vma.pgoffOf(a), flags, origLo: lo, origHi: hi, ptep, page: -1 };
}

/** vm_normal_page: the struct page behind a PTE, or -1 for special / PFN mappings. */
export function vmNormalPage(k: Kernel, lo: number, hi: number): number {
  if ((lo & PTE_SPECIAL) !== 0) return -1;
  const pfn = pfn4k(lo, hi);
  return k.mem.hasStructPage(pfn) ? pfn : -1;
}

/**
 * fault_flag_allow_retry_first: the handler may drop the mmap lock and return VM_FAULT_RETRY
 * (ALLOW_RETRY set and this is not already a retry).
 */
export function faultFlagAllowRetryFirst(flags: number): boolean {
  return (flags & FAULT_FLAG_ALLOW_RETRY) !== 0 && (flags & FAULT_FLAG_TRIED) === 0;
}

/**
 * The mmap lock after a fault: a handler that returned VM_FAULT_RETRY (without RETRY_NOWAIT) has
 * released it already; otherwise release it here.
 */
function faultDone(mm: MmStruct, flags: number, ret: number): void {
  if ((ret & VM_FAULT_RETRY) === 0 || (flags & FAULT_FLAG_RETRY_NOWAIT) !== 0) mm.mmapLock.upRead();
}

/**
 * handle_mm_fault for a user access at `addr` in `mm` (spec section 7).
 *
 * @returns vm_fault_t bits: 0 or NOPAGE/RETRY (retry the access), or an error (SIGSEGV/SIGBUS).
 *
 * Locking: takes `mm.mmapLock` for read around the whole fault. A handler may return
 * VM_FAULT_RETRY only if {@link faultFlagAllowRetryFirst}(flags); it has then dropped the mmap
 * lock itself (unless FAULT_FLAG_RETRY_NOWAIT), and the caller retries with FAULT_FLAG_TRIED.
 */
export function* handleMmFault(k: Kernel, mm: MmStruct, addr: number, flags: number): KGen<number> {
  const prev = k.enter('handleMmFault');
  if (k.explore || !mm.mmapLock.tryDownRead()) yield* mm.mmapLock.downRead(); // no generator when uncontended in fast mode
  let ret: number;
  const vma = mm.findVma(addr);
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  if (vma === null || (write && (vma.flags & VM_WRITE) === 0) || (!write && (vma.flags & VM_READ) === 0)) {
    ret = VM_FAULT_SIGSEGV;
  } else {
    const mem = k.mem;
    const i = entryIndexAt(mem, vma.mm.root, Math.floor(addr / 4096), LEVEL_PTE, k.levels, true);
    if (i < 0) ret = yield* hugeLeafFault(k, vma, addr, write);
    else {
      if (k.explore) yield undefined;
      const lo = mem.ptLo[i]!;
      const hi = mem.ptHi[i]!;
      // The write-protect fault (the hot one) goes straight to doWpPage: one generator less.
      if (write && (lo & (PTE_PRESENT | PTE_RW)) === PTE_PRESENT)
        ret = yield* doWpPage(k, newVmf(vma, addr, flags, i, lo, hi));
      else ret = yield* handlePteFault(k, vma, addr, flags, i, lo, hi);
    }
  }
  faultDone(mm, flags, ret);
  if (k.trace !== null) k.trace.emit({ kind: 'return', ret: faultName(ret) });
  k.leave(prev);
  return ret;
}

/**
 * {@link handleMmFault} for fast mode (`k.explore` false: no scheduling points, generators are
 * drained by runToCompletion), as a plain function: the write-protect fault runs without the
 * handleMmFault and doWpPage generators (about 35 ns each here); everything else, and any
 * contended lock, drains the usual generator. Same steps, locks, counters and trace events.
 * `ptep`, if >= 0, is the flat index of addr's PTE in `mm` (what the software walk would find,
 * e.g. `Cpu.faultPtep` right after the fault): the walk is skipped.
 */
export function handleMmFaultFast(k: Kernel, mm: MmStruct, addr: number, flags: number, ptep = -1): number {
  const prev = k.enter('handleMmFault');
  if (!mm.mmapLock.tryDownRead()) runToCompletion(mm.mmapLock.downRead());
  let ret: number;
  const vma = mm.findVma(addr);
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  if (vma === null || (write && (vma.flags & VM_WRITE) === 0) || (!write && (vma.flags & VM_READ) === 0)) {
    ret = VM_FAULT_SIGSEGV;
  } else {
    const mem = k.mem;
    const i =
      ptep >= 0 ? ptep : entryIndexAt(mem, vma.mm.root, Math.floor(addr / 4096), LEVEL_PTE, k.levels, true);
    if (i < 0) ret = runToCompletion(hugeLeafFault(k, vma, addr, write));
    else {
      const lo = mem.ptLo[i]!;
      const hi = mem.ptHi[i]!;
      if (write && (lo & (PTE_PRESENT | PTE_RW)) === PTE_PRESENT)
        ret = doWpPageFast(k, newVmf(vma, addr, flags, i, lo, hi));
      else ret = runToCompletion(handlePteFault(k, vma, addr, flags, i, lo, hi));
    }
  }
  faultDone(mm, flags, ret);
  if (k.trace !== null) k.trace.emit({ kind: 'return', ret: faultName(ret) });
  k.leave(prev);
  return ret;
}

export function faultName(ret: number): string {
  if ((ret & VM_FAULT_SIGSEGV) !== 0) return 'SIGSEGV';
  if ((ret & VM_FAULT_SIGBUS) !== 0) return 'SIGBUS';
  if ((ret & VM_FAULT_RETRY) !== 0) return 'RETRY';
  if ((ret & VM_FAULT_NOPAGE) !== 0) return 'NOPAGE';
  return 'OK';
}

/**
 * A fault where a huge leaf (PMD/PUD) covers the address. The model maps file/PFN huge entries
 * read-only, so a write splits (zaps) the leaf and the access is retried at PTE level (what a
 * driver's huge_fault fallback leads to).
 */
function* hugeLeafFault(k: Kernel, vma: Vma, addr: number, write: boolean): KGen<number> {
  const vpn = Math.floor(addr / 4096);
  const mem = k.mem;
  if (write) {
    const pmdI = entryIndexAt(mem, vma.mm.root, vpn, LEVEL_PMD, k.levels, false);
    if (pmdI >= 0 && entryHuge(mem.ptLo[pmdI]!)) yield* splitHugePmd(k, vma, pmdI, addr);
    else {
      const pudI = entryIndexAt(mem, vma.mm.root, vpn, LEVEL_PUD, k.levels, false);
      if (pudI >= 0 && entryHuge(mem.ptLo[pudI]!)) yield* splitHugePud(k, vma, pudI, addr);
    }
  }
  return VM_FAULT_NOPAGE;
}

/** handle_pte_fault (everything but the write-protect fault, which handleMmFault dispatches). */
function* handlePteFault(
  k: Kernel,
  vma: Vma,
  addr: number,
  flags: number,
  i: number,
  lo: number,
  hi: number,
): KGen<number> {
  const mem = k.mem;
  const vmf = newVmf(vma, addr, flags, i, lo, hi);
  const write = (flags & FAULT_FLAG_WRITE) !== 0;
  if ((lo & PTE_PRESENT) === 0) {
    k.counters.faultsNotPresent++;
    if (!write) return yield* doReadFault(k, vmf);
    if ((vma.flags & VM_SHARED) === 0) return yield* doCowFault(k, vmf);
    return yield* doSharedFault(k, vmf);
  }
  if (write && (lo & PTE_RW) === 0) return yield* doWpPage(k, vmf);
  // Present and permitted: a spurious fault (stale TLB). Mark young/dirty and flush locally.
  k.counters.faultsSpurious++;
  const ptl = k.ptl(k.tableOfSlot(Math.floor(i / 512)));
  if (k.explore || !ptl.tryLock()) yield* ptl.lock();
  if (mem.ptLo[i] === lo && mem.ptHi[i] === hi) {
    const nlo = lo | PTE_ACCESSED | (write ? PTE_DIRTY : 0);
    if (nlo !== lo) setPteAt(k, vma, vmf.address, i, nlo, hi);
  }
  ptl.unlock();
  if (k.cur.cpu >= 0) k.cpus[k.cur.cpu]!.tlb.flushPage(vma.mm.id, Math.floor(addr / 4096));
  return 0;
}

/** Install the PTE for vmf.page (finish_fault). Caller has the page; takes the PTL. */
function* finishFault(k: Kernel, vmf: VmFault, write: boolean): KGen<number> {
  const vma = vmf.vma;
  const table = pteTableOf(k, vma.mm, vmf.address);
  const ptl = k.ptl(table);
  if (k.explore || !ptl.tryLock()) yield* ptl.lock();
  const i = vmf.ptep;
  let ret = 0;
  if (k.mem.ptLo[i] !== 0 || k.mem.ptHi[i] !== 0) {
    ret = VM_FAULT_NOPAGE; // someone else installed it: retry
  } else {
    let lo = vma.pageProt | PTE_ACCESSED;
    if (write) {
      lo |= PTE_DIRTY;
      if ((vma.flags & VM_WRITE) !== 0) lo |= PTE_RW; // maybe_mkwrite
    }
    setPteAt(k, vma, vmf.address, i, mkLo(vmf.page, lo), mkHi(vmf.page, 0));
  }
  ptl.unlock();
  return ret;
}

/** do_read_fault: ->fault then a read-only (with write-notify) clean PTE. */
function* doReadFault(k: Kernel, vmf: VmFault): KGen<number> {
  const ops = vmf.vma.ops;
  if (ops === null || ops.fault === undefined) return VM_FAULT_SIGBUS;
  const ret = yield* ops.fault(k, vmf);
  if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY)) !== 0) return ret;
  return yield* finishFault(k, vmf, false);
}

/** do_cow_fault: private write to a missing PTE: copy the file page into a new anonymous page. */
function* doCowFault(k: Kernel, vmf: VmFault): KGen<number> {
  const ops = vmf.vma.ops;
  if (ops === null || ops.fault === undefined) return VM_FAULT_SIGBUS;
  const ret = yield* ops.fault(k, vmf);
  if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY)) !== 0) return ret;
  k.counters.faultsCow++;
  const copy = k.mem.allocRam(1);
  k.mem.copyPage(copy, vmf.page);
  k.anonPages.add(copy);
  vmf.page = copy;
  return yield* finishFault(k, vmf, true);
}

/** do_shared_fault: shared write to a missing PTE (spec 7.3). */
function* doSharedFault(k: Kernel, vmf: VmFault): KGen<number> {
  const ops = vmf.vma.ops;
  if (ops === null || ops.fault === undefined) return VM_FAULT_SIGBUS;
  let ret = yield* ops.fault(k, vmf);
  if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY)) !== 0) return ret;
  if (ops.pageMkwrite !== undefined) {
    const tmp = yield* doPageMkwrite(k, vmf);
    if ((tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) !== 0) return tmp;
  } else {
    yield* k.pageLock(vmf.page).lock();
  }
  // The bits of ->fault and of finish_fault are ORed. When finish_fault failed (NOPAGE: another
  // fault installed the PTE first) the page is only unlocked: it is NOT marked dirty, since this
  // fault made no PTE writable (the racing fault that did marks it).
  ret |= yield* finishFault(k, vmf, true);
  if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY)) !== 0) {
    k.pageLock(vmf.page).unlock();
    return ret;
  }
  yield* faultDirtySharedPage(k, vmf);
  return ret;
}

/**
 * do_page_mkwrite: call ->page_mkwrite; unless it returned LOCKED, lock the page ourselves.
 * Returns the handler's bits with LOCKED set on success.
 *
 * The handler sees vmf.flags REPLACED by exactly WRITE|MKWRITE (the caller's flags, among them
 * USER and ALLOW_RETRY, are hidden from it and restored afterwards), so a page_mkwrite can never
 * ask for a retry. wp_pfn_shared, by contrast, ORs MKWRITE into the caller's flags.
 */
function* doPageMkwrite(k: Kernel, vmf: VmFault): KGen<number> {
  const saved = vmf.flags;
  vmf.flags = FAULT_FLAG_WRITE | FAULT_FLAG_MKWRITE;
  k.counters.mkwriteCalls++;
  const ret = yield* vmf.vma.ops!.pageMkwrite!(k, vmf);
  vmf.flags = saved;
  if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) !== 0) return ret;
  if ((ret & VM_FAULT_LOCKED) === 0) yield* k.pageLock(vmf.page).lock();
  return ret | VM_FAULT_LOCKED;
}

/** fault_dirty_shared_page: mark the page dirty and unlock it. */
function* faultDirtySharedPage(k: Kernel, vmf: VmFault): KGen<void> {
  if (k.explore) yield undefined;
  vmf.vma.file?.dirtyPages.add(vmf.page); // folio_mark_dirty (spec 7.2 step 3)
  k.pageLock(vmf.page).unlock();
}

// What is left of do_wp_page after its part under the PTL ({@link doWpPageLocked}).
const WP_DONE = 0;
const WP_PAGE_SHARED = 1;
const WP_PFN_MKWRITE = 2;
const WP_COPY = 3;

/**
 * The part of do_wp_page that runs under the PTL, shared by the generator and the fast-mode
 * versions: re-check the PTE, resolve an async uffd-wp fault (drop the software bit, no flush),
 * vm_normal_page, and finish the branches that need no sleep. Returns what remains to do:
 * WP_DONE (PTL released), WP_PAGE_SHARED (PTL held: wp_page_shared releases it),
 * WP_PFN_MKWRITE (PTL released: call pfn_mkwrite, then finish_mkwrite_fault) or WP_COPY (PTL held).
 */
function doWpPageLocked(k: Kernel, vmf: VmFault, ptl: Spinlock): number {
  const vma = vmf.vma;
  const i = vmf.ptep;
  if (k.mem.ptLo[i] !== vmf.origLo || k.mem.ptHi[i] !== vmf.origHi) {
    ptl.unlock();
    return WP_DONE; // changed under us: retry the access
  }
  if ((vmf.origLo & PTE_UFFD_WP) !== 0 && (vma.flags & VM_UFFD_WP) !== 0) {
    const nlo = vmf.origLo & ~PTE_UFFD_WP;
    setPteAt(k, vma, vmf.address, i, nlo, vmf.origHi);
    vmf.origLo = nlo;
  }
  vmf.page = vmNormalPage(k, vmf.origLo, vmf.origHi);
  if ((vma.flags & (VM_SHARED | VM_MAYSHARE)) !== 0) {
    k.counters.faultsWpShared++;
    if (vmf.page >= 0) return WP_PAGE_SHARED;
    // wp_pfn_shared (the hot path of PFNMAP dirty tracking)
    if (vma.ops !== null && vma.ops.pfnMkwrite !== undefined) {
      ptl.unlock();
      vmf.flags |= FAULT_FLAG_MKWRITE;
      k.counters.mkwriteCalls++;
      return WP_PFN_MKWRITE;
    }
  } else if (vmf.page < 0 || !k.anonPages.has(vmf.page)) {
    return WP_COPY;
  }
  wpPageReuse(k, vmf); // PFN mapping without pfn_mkwrite, or our own exclusive anonymous copy
  ptl.unlock();
  return WP_DONE;
}

/**
 * do_wp_page: a write to a present, read-only PTE (spec 7.2). Shared mappings never COW: they go
 * through pfn_mkwrite / page_mkwrite and end in wp_page_reuse (writable + dirty).
 */
export function* doWpPage(k: Kernel, vmf: VmFault): KGen<number> {
  const prev = k.enter('doWpPage');
  const ptl = k.ptl(k.tableOfSlot(Math.floor(vmf.ptep / 512)));
  if (k.explore || !ptl.tryLock()) yield* ptl.lock();
  let ret = 0;
  switch (doWpPageLocked(k, vmf, ptl)) {
    case WP_PAGE_SHARED:
      ret = yield* wpPageShared(k, vmf);
      break;
    case WP_PFN_MKWRITE: {
      const ops = vmf.vma.ops!;
      ret = yield* ops.pfnMkwrite!(k, vmf);
      if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) === 0) {
        if (k.explore || !ptl.tryLock()) yield* ptl.lock(); // finish_mkwrite_fault
        ret = finishMkwriteLocked(k, vmf, ptl);
      }
      if (ops.pfnMkwriteDone !== undefined) ops.pfnMkwriteDone(k, vmf);
      break;
    }
    case WP_COPY:
      ret = yield* wpPageCopy(k, vmf);
      break;
  }
  k.leave(prev);
  return ret;
}

/**
 * {@link doWpPage} for fast mode as a plain function (see {@link handleMmFaultFast}): the same
 * steps, with the sleeping calls drained in place (saves two generator levels per fault).
 */
function doWpPageFast(k: Kernel, vmf: VmFault): number {
  const prev = k.enter('doWpPage');
  const ptl = k.ptl(k.tableOfSlot(Math.floor(vmf.ptep / 512)));
  if (!ptl.tryLock()) runToCompletion(ptl.lock());
  let ret = 0;
  switch (doWpPageLocked(k, vmf, ptl)) {
    case WP_PAGE_SHARED:
      ret = runToCompletion(wpPageShared(k, vmf));
      break;
    case WP_PFN_MKWRITE: {
      const ops = vmf.vma.ops!;
      ret = runToCompletion(ops.pfnMkwrite!(k, vmf));
      if ((ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) === 0) {
        if (!ptl.tryLock()) runToCompletion(ptl.lock()); // finish_mkwrite_fault
        ret = finishMkwriteLocked(k, vmf, ptl);
      }
      if (ops.pfnMkwriteDone !== undefined) ops.pfnMkwriteDone(k, vmf);
      break;
    }
    case WP_COPY:
      ret = runToCompletion(wpPageCopy(k, vmf));
      break;
  }
  k.leave(prev);
  return ret;
}

/** wp_page_reuse: make the PTE writable (if VM_WRITE), young and dirty. Caller holds the PTL. */
function wpPageReuse(k: Kernel, vmf: VmFault): void {
  const vma = vmf.vma;
  const i = vmf.ptep;
  let lo = k.mem.ptLo[i]! | PTE_ACCESSED | PTE_DIRTY;
  let hi = k.mem.ptHi[i]!;
  if ((vma.flags & VM_WRITE) !== 0) {
    lo |= PTE_RW;
    hi &= ~PTE_HI_SAVED_DIRTY;
  }
  setPteAt(k, vma, vmf.address, i, lo, hi); // ptep_set_access_flags: an upgrade, no flush needed
}

/** wp_page_shared: page-backed shared mapping. Caller holds the PTL; it is released here. */
function* wpPageShared(k: Kernel, vmf: VmFault): KGen<number> {
  const ops = vmf.vma.ops;
  const ptl = k.ptl(k.tableOfSlot(Math.floor(vmf.ptep / 512)));
  if (ops !== null && ops.pageMkwrite !== undefined) {
    ptl.unlock();
    const tmp = yield* doPageMkwrite(k, vmf);
    if ((tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE)) !== 0) return tmp;
    const ret = yield* finishMkwriteFault(k, vmf);
    if ((ret & VM_FAULT_NOPAGE) !== 0) {
      k.pageLock(vmf.page).unlock();
      return ret;
    }
  } else {
    wpPageReuse(k, vmf);
    ptl.unlock();
    yield* k.pageLock(vmf.page).lock();
  }
  yield* faultDirtySharedPage(k, vmf);
  return 0;
}

/**
 * finish_mkwrite_fault: re-take the PTL; if the PTE is unchanged since the fault began, reuse it
 * (writable + dirty); else return NOPAGE and the access is retried.
 */
function* finishMkwriteFault(k: Kernel, vmf: VmFault): KGen<number> {
  const ptl = k.ptl(k.tableOfSlot(Math.floor(vmf.ptep / 512)));
  if (k.explore || !ptl.tryLock()) yield* ptl.lock();
  return finishMkwriteLocked(k, vmf, ptl);
}

/** The part of finish_mkwrite_fault after the PTL is taken; releases it. */
function finishMkwriteLocked(k: Kernel, vmf: VmFault, ptl: Spinlock): number {
  const i = vmf.ptep;
  if (k.mem.ptLo[i] !== vmf.origLo || k.mem.ptHi[i] !== vmf.origHi) {
    ptl.unlock();
    if (k.cur.cpu >= 0) k.cpus[k.cur.cpu]!.tlb.flushPage(vmf.vma.mm.id, Math.floor(vmf.address / 4096));
    return VM_FAULT_NOPAGE;
  }
  wpPageReuse(k, vmf);
  ptl.unlock();
  return 0;
}

/** wp_page_copy: COW of a file page in a private mapping. */
function* wpPageCopy(k: Kernel, vmf: VmFault): KGen<number> {
  const vma = vmf.vma;
  const ptl = k.ptl(k.tableOfSlot(Math.floor(vmf.ptep / 512)));
  k.counters.faultsCow++;
  const src = pfn4k(vmf.origLo, vmf.origHi);
  const copy = k.mem.allocRam(1);
  k.mem.copyPage(copy, src);
  k.anonPages.add(copy);
  // ptep_clear_flush then the new writable, dirty PTE.
  setPteAt(k, vma, vmf.address, vmf.ptep, 0, 0);
  flushTlbPage(k, vma.mm, vmf.address);
  setPteAt(
    k,
    vma,
    vmf.address,
    vmf.ptep,
    mkLo(copy, PTE_PRESENT | PTE_USER | PTE_RW | PTE_ACCESSED | PTE_DIRTY),
    mkHi(copy, 0),
  );
  ptl.unlock();
  if (k.explore) yield undefined;
  return 0;
}

/**
 * vmf_insert_pfn_prot: a driver's fault handler maps `pfn` (no struct page: a special PTE) at
 * `addr` with protection `prot` (PTE low bits). Does nothing if a PTE is already there.
 *
 * Locking: takes the PTL of the PTE table.
 */
export function* vmfInsertPfnProt(
  k: Kernel,
  vma: Vma,
  addr: number,
  pfn: number,
  prot: number,
): KGen<number> {
  const table = pteTableOf(k, vma.mm, addr);
  const ptl = k.ptl(table);
  if (k.explore || !ptl.tryLock()) yield* ptl.lock();
  const i = entryIndexAt(k.mem, vma.mm.root, Math.floor(addr / 4096), LEVEL_PTE, k.levels, false);
  if (k.mem.ptLo[i] === 0 && k.mem.ptHi[i] === 0) {
    setPteAt(k, vma, addr, i, mkLo(pfn, prot | PTE_SPECIAL | PTE_ACCESSED), mkHi(pfn, 0));
  }
  ptl.unlock();
  return VM_FAULT_NOPAGE;
}

/** vmf_insert_mixed: like {@link vmfInsertPfnProt} but pages with a struct page are not special. */
export function* vmfInsertMixed(k: Kernel, vma: Vma, addr: number, pfn: number, prot: number): KGen<number> {
  if (!k.mem.hasStructPage(pfn)) return yield* vmfInsertPfnProt(k, vma, addr, pfn, prot);
  const table = pteTableOf(k, vma.mm, addr);
  const ptl = k.ptl(table);
  if (k.explore || !ptl.tryLock()) yield* ptl.lock();
  const i = entryIndexAt(k.mem, vma.mm.root, Math.floor(addr / 4096), LEVEL_PTE, k.levels, false);
  if (k.mem.ptLo[i] === 0 && k.mem.ptHi[i] === 0)
    setPteAt(k, vma, addr, i, mkLo(pfn, prot | PTE_ACCESSED), mkHi(pfn, 0));
  ptl.unlock();
  return VM_FAULT_NOPAGE;
}

/** The generic page-cache ->fault (filemap_fault / shmem_fault): hand back the file page. */
export function* filemapFault(k: Kernel, vmf: VmFault): KGen<number> {
  const file = vmf.vma.file!;
  if (vmf.pgoff >= file.sizePages) return VM_FAULT_SIGBUS;
  if (k.explore) yield undefined;
  vmf.page = file.findOrCreatePage(vmf.pgoff);
  return 0;
}

const MAX_FAULT_RETRIES = 64;

/**
 * The arch fault handler's part for a user access (do_user_addr_fault): handle_mm_fault with
 * FAULT_FLAG_DEFAULT | USER (| WRITE); on VM_FAULT_RETRY (the mmap lock was dropped) it calls
 * again at once with FAULT_FLAG_TRIED added, without re-executing the instruction.
 */
function* userFault(k: Kernel, mm: MmStruct, va: number, write: number): KGen<number> {
  let flags = FAULT_FLAG_DEFAULT | FAULT_FLAG_USER | write;
  let r = yield* handleMmFault(k, mm, va, flags);
  while ((r & VM_FAULT_RETRY) !== 0) {
    flags |= FAULT_FLAG_TRIED;
    r = yield* handleMmFault(k, mm, va, flags);
  }
  return r;
}

/**
 * A user-mode byte store by the task on `cpu` (whose current mm is `mm`): the hardware step, and
 * on a fault the kernel's fault handling, retried as the CPU would. Returns 0, or the fatal
 * vm_fault_t (SIGSEGV/SIGBUS) that would kill the task.
 */
export function* userStore8(
  k: Kernel,
  cpu: Cpu,
  mm: MmStruct,
  va: number,
  v: number,
  faulted = false,
): KGen<number> {
  for (let n = 0; n < MAX_FAULT_RETRIES; n++) {
    if (!faulted) {
      if (k.explore) yield undefined;
      if (cpu.store8(va, v) === 0) return 0;
    }
    faulted = false;
    if (k.trace !== null)
      k.trace.emit({
        kind: 'fault',
        mm: mm.id,
        addr: va,
        write: true,
        reason: cpu.faultReason === 1 ? 'not-present' : 'protection',
      });
    const r = yield* userFault(k, mm, va, FAULT_FLAG_WRITE);
    if ((r & VM_FAULT_ERROR) !== 0) return r;
  }
  throw new Error(`userStore8: no progress after ${MAX_FAULT_RETRIES} faults at 0x${va.toString(16)}`);
}

/** A user-mode byte load; returns the value, or -(vm_fault_t) if fatal. */
export function* userLoad8(k: Kernel, cpu: Cpu, mm: MmStruct, va: number): KGen<number> {
  for (let n = 0; n < MAX_FAULT_RETRIES; n++) {
    if (k.explore) yield undefined;
    const v = cpu.load8(va);
    if (v >= 0) return v;
    if (k.trace !== null)
      k.trace.emit({
        kind: 'fault',
        mm: mm.id,
        addr: va,
        write: false,
        reason: cpu.faultReason === 1 ? 'not-present' : 'protection',
      });
    const r = yield* userFault(k, mm, va, 0);
    if ((r & VM_FAULT_ERROR) !== 0) return -r;
  }
  throw new Error(`userLoad8: no progress after ${MAX_FAULT_RETRIES} faults at 0x${va.toString(16)}`);
}

/**
 * Fast-mode store (workloads, benchmarks): the hardware step inline; only a fault builds the
 * fault-path generator. Returns 0 or a fatal vm_fault_t.
 */
export function storeFast(k: Kernel, cpu: Cpu, mm: MmStruct, va: number, v: number): number {
  if (cpu.store8(va, v) === 0) return 0;
  if (k.explore) return runToCompletion(userStore8(k, cpu, mm, va, v, true));
  // userStore8's retry loop inline (fast mode has no scheduling points), and the fault handled by
  // handleMmFaultFast: no generator on the write-protect path.
  for (let n = 0; n < MAX_FAULT_RETRIES; n++) {
    if (k.trace !== null)
      k.trace.emit({
        kind: 'fault',
        mm: mm.id,
        addr: va,
        write: true,
        reason: cpu.faultReason === 1 ? 'not-present' : 'protection',
      });
    // The CPU's walk just ended on the PTE (same root): the handler need not walk again.
    const ptep = cpu.root === mm.root ? cpu.faultPtep : -1;
    let flags = FAULT_FLAG_DEFAULT | FAULT_FLAG_USER | FAULT_FLAG_WRITE;
    let r = handleMmFaultFast(k, mm, va, flags, ptep);
    while ((r & VM_FAULT_RETRY) !== 0) {
      flags |= FAULT_FLAG_TRIED;
      r = handleMmFaultFast(k, mm, va, flags);
    }
    if ((r & VM_FAULT_ERROR) !== 0) return r;
    if (cpu.store8(va, v) === 0) return 0;
  }
  throw new Error(`storeFast: no progress after ${MAX_FAULT_RETRIES} faults at 0x${va.toString(16)}`);
}
