import type { TraceSink } from '../trace/sink.ts';
import type { Counters } from './counters.ts';
import type { PhysMem } from './physmem.ts';
import { LEVEL_PTE } from './pte.ts';
import type { StoreLog } from './storelog.ts';
import { DEFAULT_TLB, TLBF_DIRTY, TLBF_USER, TLBF_WRITABLE, Tlb, type TlbConfig } from './tlb.ts';
import { HwWalker, WALK_OK } from './walker.ts';

/** Why the last access faulted (x86 #PF error code P bit: 0 not-present, 1 protection). */
export const FAULT_NOT_PRESENT = 1;
export const FAULT_PROTECTION = 2;

/**
 * A CPU: a TLB, a hardware walker and the current address space (CR3 = root table PFN, tagged
 * with an mm id as with PCIDs, so switching does not flush).
 *
 * Accesses are atomic hardware steps: `store8` = TLB lookup, maybe a walk with A/D updates,
 * maybe a fault. They return 0 (or the loaded value) on success and -1 on a fault, leaving the
 * details in `faultAddr` / `faultWrite` / `faultReason`: no exception on the hot path.
 *
 * The three store paths (spec section 8):
 * - hit on an entry cached writable+dirty: write the byte, touch no PTE;
 * - hit on an entry cached writable but clean: re-walk; if the leaf is no longer present or
 *   writable, drop the entry and fault; else set D atomically and mark the entry dirty;
 * - hit on an entry cached read-only: drop it and fault (the kernel sees a protection fault,
 *   possibly spurious if the PTE was upgraded meanwhile);
 * - miss: walk (sets A, and D for a permitted write), fill, write; or fault.
 */
export class Cpu {
  readonly tlb: Tlb;
  readonly walker: HwWalker;
  root = -1;
  mmId = -1;
  faultAddr = 0;
  faultWrite = false;
  faultReason = 0;
  /**
   * Flat index of the PTE-level entry the faulting access's page walk ended on (the leaf, or the
   * non-present PTE), or -1 (no walk: a cached read-only entry; or the walk stopped above the PTE
   * level). Valid right after a fault, before the page tables change: the kernel's fault handler
   * may use it instead of walking the tables again.
   */
  faultPtep = -1;
  /** How the last successful store translated: 0 tlb hit, 1 dirty re-walk, 2 walk. */
  lastVia = 0;
  /** PFN the last successful access used. */
  lastPfn = 0;
  trace: TraceSink | null = null;
  storeLog: StoreLog | null = null;

  constructor(
    readonly id: number,
    readonly mem: PhysMem,
    readonly counters: Counters,
    tlbCfg: TlbConfig = DEFAULT_TLB,
    levels: 4 | 5 = 4,
  ) {
    this.tlb = new Tlb(`cpu${id}`, counters, tlbCfg);
    this.walker = new HwWalker(mem, counters, levels);
  }

  /** Load CR3 for `mmId` (no flush: entries are tagged by mm). */
  switchMm(mmId: number, root: number): void {
    this.mmId = mmId;
    this.root = root;
  }

  setTrace(t: TraceSink | null): void {
    this.trace = t;
    this.tlb.trace = t;
    this.walker.trace = t;
  }

  private fault(va: number, write: boolean, reason: number): number {
    this.faultPtep = -1;
    this.faultAddr = va;
    this.faultWrite = write;
    this.faultReason = reason;
    this.counters.hwFaults++;
    return -1;
  }

  /** A fault found by the walk just done: also records where it ended ({@link faultPtep}). */
  private walkFault(va: number, write: boolean, reason: number): number {
    this.fault(va, write, reason);
    const w = this.walker;
    if (w.leafLevel === LEVEL_PTE) this.faultPtep = w.leafIdx;
    return -1;
  }

  /** Walk and, if permitted, fill the TLB. Returns the slot or -1 (fault recorded). */
  private fill(va: number, vpn: number, write: boolean): number {
    const w = this.walker;
    this.counters.tlbMisses++;
    if (w.walk(this.mmId, this.root, vpn, write) !== WALK_OK)
      return this.walkFault(va, write, FAULT_NOT_PRESENT);
    if (!w.user || (write && !w.writable)) return this.walkFault(va, write, FAULT_PROTECTION);
    const f = (w.writable ? TLBF_WRITABLE : 0) | (w.dirty ? TLBF_DIRTY : 0) | TLBF_USER;
    const s = this.tlb.insert(this.mmId, vpn, w.pfn, f);
    if (this.trace !== null)
      this.trace.emit({
        kind: 'tlbFill',
        unit: this.tlb.unit,
        mm: this.mmId,
        addr: vpn * 4096,
        pfn: w.pfn,
        writable: w.writable,
        dirty: w.dirty,
      });
    return s;
  }

  /** Translate for a write; returns the PFN or -1 (fault recorded). Sets `lastVia`. */
  translateWrite(va: number): number {
    const vpn = Math.floor(va / 4096);
    const tlb = this.tlb;
    const s = tlb.lookup(this.mmId, vpn);
    if (s >= 0 && (tlb.flags[s]! & (TLBF_WRITABLE | TLBF_DIRTY)) === (TLBF_WRITABLE | TLBF_DIRTY)) {
      this.counters.tlbHits++;
      this.lastVia = 0;
      return tlb.pfn[s]!;
    }
    return this.translateWriteSlow(va, vpn, s);
  }

  /** {@link translateWrite} after the lookup, when slot `s` (or -1) is not cached writable+dirty. */
  private translateWriteSlow(va: number, vpn: number, s: number): number {
    const tlb = this.tlb;
    if (s >= 0) {
      const f = tlb.flags[s]!;
      if ((f & TLBF_WRITABLE) === 0) {
        tlb.dropSlot(s);
        return this.fault(va, true, FAULT_PROTECTION);
      }
      // Cached clean: the CPU must re-walk to set D, and faults if the PTE no longer allows it.
      this.counters.tlbHits++;
      const w = this.walker;
      if (w.walk(this.mmId, this.root, vpn, true) !== WALK_OK) {
        tlb.dropSlot(s);
        return this.walkFault(va, true, FAULT_NOT_PRESENT);
      }
      if (!w.writable || !w.user) {
        tlb.dropSlot(s);
        return this.walkFault(va, true, FAULT_PROTECTION);
      }
      tlb.flags[s] = f | TLBF_DIRTY;
      if (tlb.pfn[s] !== w.pfn) tlb.bytes[s] = null;
      tlb.pfn[s] = w.pfn;
      this.lastVia = 1;
      return w.pfn;
    }
    const f = this.fill(va, vpn, true);
    if (f < 0) return -1;
    this.lastVia = 2;
    return tlb.pfn[f]!;
  }

  /** Translate for a read; returns the PFN or -1 (fault recorded). */
  translateRead(va: number): number {
    const vpn = Math.floor(va / 4096);
    let s = this.tlb.lookup(this.mmId, vpn);
    if (s >= 0) {
      this.counters.tlbHits++;
      return this.tlb.pfn[s]!;
    }
    s = this.fill(va, vpn, false);
    return s < 0 ? -1 : this.tlb.pfn[s]!;
  }

  /** User-mode byte store. 0 on success, -1 on a fault. */
  store8(va: number, v: number): number {
    const vpn = Math.floor(va / 4096);
    const tlb = this.tlb;
    const s = tlb.peek(this.mmId, vpn);
    let pfn: number;
    if (s >= 0 && tlb.ready[s] === 1) {
      // Ready slot (writable+dirty, bytes cached, no LRU update due): one byte checked, then the
      // write through the slot's cached frame bytes; no flags, LRU or PhysMem access.
      this.counters.tlbHits++;
      this.lastVia = 0;
      pfn = tlb.pfn[s]!;
      tlb.bytes[s]![va & 4095] = v;
    } else if (s >= 0 && (tlb.flags[s]! & (TLBF_WRITABLE | TLBF_DIRTY)) === (TLBF_WRITABLE | TLBF_DIRTY)) {
      // Hit on a writable+dirty entry (translateWrite inline): the first write through a slot
      // caches its frame bytes and makes it ready.
      tlb.touch(s);
      this.counters.tlbHits++;
      this.lastVia = 0;
      pfn = tlb.pfn[s]!;
      this.mem.write8(pfn, va & 4095, v);
      tlb.bytes[s] = this.mem.data[pfn]!;
      tlb.markReady(s);
    } else {
      if (s >= 0) tlb.touch(s);
      pfn = this.translateWriteSlow(va, vpn, s);
      if (pfn < 0) return -1;
      this.mem.write8(pfn, va & 4095, v);
    }
    this.counters.stores++;
    this.lastPfn = pfn;
    if (this.storeLog !== null || this.trace !== null) this.logStore(va, pfn, v);
    return 0;
  }

  private logStore(va: number, pfn: number, v: number): void {
    const vpn = Math.floor(va / 4096);
    const wseq = this.storeLog !== null ? this.storeLog.record(this.id, this.mmId, vpn, pfn) : -1;
    if (this.trace !== null)
      this.trace.emit({
        kind: 'store',
        mm: this.mmId,
        addr: va,
        pfn,
        value: v,
        wseq,
        via: this.lastVia === 0 ? 'tlb-hit' : this.lastVia === 1 ? 'dirty-rewalk' : 'walk',
      });
  }

  /** User-mode byte load: the value, or -1 on a fault. */
  load8(va: number): number {
    const vpn = Math.floor(va / 4096);
    const tlb = this.tlb;
    let s = tlb.lookup(this.mmId, vpn);
    if (s >= 0) this.counters.tlbHits++;
    else {
      s = this.fill(va, vpn, false);
      if (s < 0) return -1;
    }
    const pfn = tlb.pfn[s]!;
    this.counters.loads++;
    this.lastPfn = pfn;
    // Read through the slot's cached frame bytes; a never-written frame reads as zeros.
    let b = tlb.bytes[s] as Uint8Array | null;
    if (b === null) {
      const d = this.mem.data[pfn];
      if (d !== undefined) tlb.bytes[s] = b = d;
    }
    const v = b === null ? 0 : b[va & 4095]!;
    if (this.trace !== null) this.trace.emit({ kind: 'load', mm: this.mmId, addr: va, pfn, value: v });
    return v;
  }
}
