import type { TraceSink } from '../trace/sink.ts';
import type { Counters } from './counters.ts';

/** TLB entry flag bits (packed in one byte per slot). */
export const TLBF_VALID = 1;
/** The translation permits writes (RW set at every level when it was filled). */
export const TLBF_WRITABLE = 2;
/** The leaf's D bit was set when cached (or set by this TLB's own write); writes need no PTE access. */
export const TLBF_DIRTY = 4;
export const TLBF_USER = 8;

export type Replacement = 'lru' | 'fifo' | 'random';

export interface TlbConfig {
  /** Total entries; a power of two. */
  entries: number;
  /** Associativity; a power of two dividing `entries`. */
  ways: number;
  replacement: Replacement;
}

export const DEFAULT_TLB: TlbConfig = { entries: 1024, ways: 4, replacement: 'lru' };

/**
 * A translation cache (per CPU, or per device for a secondary MMU), in the style of v86: flat
 * typed arrays with packed flag bits plus a list of valid slots, so flushing everything costs
 * what is cached, not the size of the address space.
 *
 * Entries are tagged by (mm id, virtual page number); with PCIDs a CPU keeps other mms'
 * entries across switches. Entries are 4K-grained even for huge leaves (a huge leaf is cached
 * page by page), which is a legal x86 implementation.
 */
export class Tlb {
  readonly sets: number;
  readonly ways: number;
  readonly capacity: number;
  readonly replacement: Replacement;
  /** Virtual page number per slot (may exceed 2^32, so Float64). */
  readonly vpn: Float64Array;
  readonly mm: Int32Array;
  readonly pfn: Float64Array;
  readonly flags: Uint8Array;
  /**
   * Bytes of the frame each slot translates to, cached by the CPU's store/load fast path (null:
   * not cached yet; PhysMem never replaces a frame's array once allocated, so it cannot go stale).
   */
  readonly bytes: (Uint8Array | null)[];
  /**
   * 1 if a store may hit slot `s` with nothing but the write: valid, cached writable+dirty, frame
   * bytes cached, and (LRU) the newest of its set, so {@link lookup} would not re-stamp it. Set by
   * the CPU ({@link markReady}), cleared by anything that changes one of those.
   */
  readonly ready: Uint8Array;
  /** LRU age stamp or FIFO insertion stamp. */
  private readonly stamp: Uint32Array;
  private clock = 1;
  private rng = 0x9e3779b9;
  /** `sets - 1`, and log2(ways): the set of a vpn without a division or a multiplication. */
  readonly setMask: number;
  readonly waysLog2: number;
  private readonly lru: boolean;
  /**
   * LRU only: per set, the slot with the newest stamp. A hit on it need not re-stamp (its order
   * in the set is already newest), which keeps the hot loop free of stores on repeated hits.
   */
  private readonly mru: Int32Array;
  /** Slots holding valid entries, densely packed, and each slot's position in it (-1 if invalid). */
  readonly validSlots: Int32Array;
  private readonly validPos: Int32Array;
  nValid = 0;
  trace: TraceSink | null = null;

  constructor(
    readonly unit: string,
    readonly counters: Counters,
    cfg: TlbConfig = DEFAULT_TLB,
  ) {
    const { entries, ways } = cfg;
    if (entries < 1 || (entries & (entries - 1)) !== 0)
      throw new RangeError(`TLB entries must be a power of two, got ${entries}`);
    if (ways < 1 || (ways & (ways - 1)) !== 0 || ways > entries)
      throw new RangeError(`TLB ways must be a power of two <= entries, got ${ways}`);
    this.capacity = entries;
    this.ways = ways;
    this.sets = entries / ways;
    this.replacement = cfg.replacement;
    this.vpn = new Float64Array(entries).fill(-1);
    this.mm = new Int32Array(entries);
    this.pfn = new Float64Array(entries);
    this.flags = new Uint8Array(entries);
    this.bytes = new Array<Uint8Array | null>(entries).fill(null);
    this.ready = new Uint8Array(entries);
    this.stamp = new Uint32Array(entries);
    this.setMask = this.sets - 1;
    this.waysLog2 = Math.log2(ways);
    this.lru = cfg.replacement === 'lru';
    this.mru = new Int32Array(this.sets).fill(-1);
    this.validSlots = new Int32Array(entries);
    this.validPos = new Int32Array(entries).fill(-1);
  }

  /** Slot caching (mm, vpn), or -1. Touches the LRU stamp on a hit. */
  lookup(mm: number, vpn: number): number {
    const s = this.peek(mm, vpn);
    if (s >= 0) this.touch(s);
    return s;
  }

  /** Like {@link lookup} but without touching replacement state (for inspection and tests). */
  peek(mm: number, vpn: number): number {
    const base = (vpn & this.setMask) << this.waysLog2; // `&` on vpn > 2^32 keeps the low bits we need
    const end = base + this.ways;
    const tags = this.vpn;
    for (let s = base; s < end; s++) if (tags[s] === vpn && this.mm[s] === mm) return s;
    return -1;
  }

  /** What {@link lookup} does to replacement state on a hit of slot `s`. */
  touch(s: number): void {
    const set = s >> this.waysLog2;
    const m = this.mru[set]!;
    // Re-stamping the set's newest slot would not change the set's LRU order: skip the stores.
    if (m !== s && this.lru) {
      this.stamp[s] = this.clock++;
      this.mru[set] = s;
      if (m >= 0) this.ready[m] = 0;
    }
  }

  /** Cache a translation; evicts within the set if needed. Returns the slot. */
  insert(mm: number, vpn: number, pfn: number, flags: number): number {
    const set = vpn & this.setMask;
    const base = set << this.waysLog2;
    const end = base + this.ways;
    const tags = this.vpn;
    const stamp = this.stamp;
    // One pass over the set: the slot already caching (mm, vpn), else the first free way, else
    // the first way with the oldest stamp (the same choices as three separate scans).
    let match = -1;
    let free = -1;
    let oldest = base;
    for (let s = base; s < end; s++) {
      const t = tags[s]!;
      if (t === vpn && this.mm[s] === mm) {
        match = s;
        break;
      }
      if (t === -1) {
        if (free < 0) free = s;
      } else if (stamp[s]! < stamp[oldest]!) oldest = s;
    }
    let victim = match >= 0 ? match : free;
    if (victim < 0) {
      if (this.replacement === 'random') {
        // xorshift32: deterministic, seeded per TLB
        let x = this.rng;
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        this.rng = x >>> 0;
        victim = base + (this.rng & (this.ways - 1));
      } else victim = oldest;
      // Evicted and refilled in place: the slot stays in the valid list.
    } else if (this.validPos[victim]! < 0) {
      this.validPos[victim] = this.nValid;
      this.validSlots[this.nValid++] = victim;
    }
    tags[victim] = vpn;
    this.mm[victim] = mm;
    this.pfn[victim] = pfn;
    this.flags[victim] = flags | TLBF_VALID;
    this.bytes[victim] = null;
    this.ready[victim] = 0;
    stamp[victim] = this.clock++;
    const m = this.mru[set]!;
    if (m >= 0 && this.lru) this.ready[m] = 0;
    this.mru[set] = victim;
    return victim;
  }

  /**
   * Slot `s`, just looked up (so the newest of its set), is writable+dirty with `bytes[s]` set:
   * later stores may take the ready fast path.
   */
  markReady(s: number): void {
    this.ready[s] = 1;
  }

  /** Invalidate one slot (no counting; used by eviction and by the walker on a fault). */
  dropSlot(s: number): void {
    const p = this.validPos[s]!;
    if (p < 0) return;
    const last = this.validSlots[--this.nValid]!;
    this.validSlots[p] = last;
    this.validPos[last] = p;
    this.validPos[s] = -1;
    this.vpn[s] = -1;
    this.flags[s] = 0;
    this.bytes[s] = null;
    this.ready[s] = 0;
  }

  private traceFlush(
    mm: number,
    scope: 'page' | 'range' | 'mm' | 'all',
    start: number,
    end: number,
    dropped: number,
    ipi: boolean,
  ): void {
    this.trace!.emit({ kind: 'tlbFlush', unit: this.unit, mm, scope, start, end, dropped, ipi });
  }

  /** INVLPG: drop the entry for one page. Returns entries dropped. */
  flushPage(mm: number, vpn: number, ipi = false): number {
    this.counters.tlbFlushPage++;
    const s = this.peek(mm, vpn);
    let n = 0;
    if (s >= 0) {
      this.dropSlot(s);
      n = 1;
    }
    this.counters.tlbEntriesDropped += n;
    if (this.trace !== null) this.traceFlush(mm, 'page', vpn * 4096, vpn * 4096 + 4096, n, ipi);
    return n;
  }

  /** Drop entries of `mm` for pages [startVpn, endVpn). Returns entries dropped. */
  flushRange(mm: number, startVpn: number, endVpn: number, ipi = false): number {
    this.counters.tlbFlushRange++;
    let n = 0;
    if (endVpn - startVpn <= this.nValid) {
      for (let v = startVpn; v < endVpn; v++) {
        const s = this.peek(mm, v);
        if (s >= 0) {
          this.dropSlot(s);
          n++;
        }
      }
    } else {
      for (let i = this.nValid - 1; i >= 0; i--) {
        const s = this.validSlots[i]!;
        const v = this.vpn[s]!;
        if (this.mm[s] === mm && v >= startVpn && v < endVpn) {
          this.dropSlot(s);
          n++;
        }
      }
    }
    this.counters.tlbEntriesDropped += n;
    if (this.trace !== null) this.traceFlush(mm, 'range', startVpn * 4096, endVpn * 4096, n, ipi);
    return n;
  }

  /** Drop every entry of `mm`. */
  flushMm(mm: number, ipi = false): number {
    this.counters.tlbFlushMm++;
    let n = 0;
    for (let i = this.nValid - 1; i >= 0; i--) {
      const s = this.validSlots[i]!;
      if (this.mm[s] === mm) {
        this.dropSlot(s);
        n++;
      }
    }
    this.counters.tlbEntriesDropped += n;
    if (this.trace !== null) this.traceFlush(mm, 'mm', 0, 0, n, ipi);
    return n;
  }

  /** Drop everything. */
  flushAll(ipi = false): number {
    this.counters.tlbFlushAll++;
    const n = this.nValid;
    while (this.nValid > 0) this.dropSlot(this.validSlots[this.nValid - 1]!);
    this.counters.tlbEntriesDropped += n;
    if (this.trace !== null) this.traceFlush(-1, 'all', 0, 0, n, ipi);
    return n;
  }
}
