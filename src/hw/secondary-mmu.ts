import type { TraceSink } from '../trace/sink.ts';
import type { Counters } from './counters.ts';
import type { PhysMem } from './physmem.ts';
import type { StoreLog } from './storelog.ts';
import { TLBF_DIRTY, TLBF_USER, TLBF_WRITABLE, Tlb, type TlbConfig } from './tlb.ts';
import { HwWalker, WALK_OK } from './walker.ts';

/**
 * A secondary MMU: a device (IOMMU SVA, KVM, an HMM driver) that translates through the CPU
 * page tables of a bound mm and keeps its own translation cache. Unlike a CPU TLB it is never
 * shot down by CPU TLB flushes: only an mmu-notifier invalidation (`invalidateRange`) drops
 * entries. Device writes follow the CPU's A/D rules (a walk on a permitted write sets D; a
 * cached writable+dirty translation writes without touching the PTE).
 */
export class SecondaryMmu {
  readonly tlb: Tlb;
  readonly walker: HwWalker;
  /** mm id -> root PFN of the bound address spaces. */
  private readonly roots = new Map<number, number>();
  faultAddr = 0;
  /**
   * Invalidations begun and not yet ended (kept by the notifier subscription). While non-zero the
   * device must not create translations from the CPU page tables (KVM's mmu_invalidate_in_progress:
   * a fault racing an invalidation retries), else it could cache a PTE the kernel is changing.
   */
  invalidationsInProgress = 0;
  trace: TraceSink | null = null;
  storeLog: StoreLog | null = null;

  constructor(
    readonly id: number,
    readonly mem: PhysMem,
    readonly counters: Counters,
    cfg: TlbConfig = { entries: 256, ways: 4, replacement: 'lru' },
  ) {
    this.tlb = new Tlb(`dev:${id}`, counters, cfg);
    this.walker = new HwWalker(mem, counters);
  }

  setTrace(t: TraceSink | null): void {
    this.trace = t;
    this.tlb.trace = t;
    this.walker.trace = t;
  }

  bind(mmId: number, root: number): void {
    this.roots.set(mmId, root);
  }

  /** Device write of one byte at `va` in `mmId`. 0 on success, -1 if the device must request a fault. */
  store8(mmId: number, va: number, v: number): number {
    const vpn = Math.floor(va / 4096);
    const tlb = this.tlb;
    let s = tlb.lookup(mmId, vpn);
    let pfn: number;
    if (s >= 0 && (tlb.flags[s]! & (TLBF_WRITABLE | TLBF_DIRTY)) === (TLBF_WRITABLE | TLBF_DIRTY)) {
      pfn = tlb.pfn[s]!;
    } else {
      const root = this.roots.get(mmId);
      if (root === undefined) throw new Error(`device ${this.id} is not bound to mm ${mmId}`);
      const w = this.walker;
      if (
        this.invalidationsInProgress > 0 ||
        w.walk(mmId, root, vpn, true) !== WALK_OK ||
        !w.writable ||
        !w.user
      ) {
        if (s >= 0) tlb.dropSlot(s);
        this.faultAddr = va;
        return -1;
      }
      pfn = w.pfn;
      s = tlb.insert(mmId, vpn, pfn, TLBF_WRITABLE | TLBF_DIRTY | TLBF_USER);
      this.counters.deviceTlbFills++;
      if (this.trace !== null)
        this.trace.emit({
          kind: 'tlbFill',
          unit: tlb.unit,
          mm: mmId,
          addr: vpn * 4096,
          pfn,
          writable: true,
          dirty: true,
        });
    }
    this.mem.write8(pfn, va & 4095, v);
    this.counters.deviceWrites++;
    const wseq = this.storeLog !== null ? this.storeLog.record(-1 - this.id, mmId, vpn, pfn) : -1;
    if (this.trace !== null)
      this.trace.emit({ kind: 'store', mm: mmId, addr: va, pfn, value: v, wseq, via: 'tlb-hit' });
    return 0;
  }

  /** mmu-notifier invalidation: drop cached translations of `mmId` in [start, end) (bytes). */
  invalidateRange(mmId: number, start: number, end: number): void {
    this.counters.deviceInvalidations++;
    this.tlb.flushRange(mmId, Math.floor(start / 4096), Math.ceil(end / 4096));
  }

  /** Whether the device holds a writable translation for (mmId, va). For property checks. */
  holdsWritable(mmId: number, va: number): boolean {
    const s = this.tlb.peek(mmId, Math.floor(va / 4096));
    return s >= 0 && (this.tlb.flags[s]! & TLBF_WRITABLE) !== 0;
  }
}
