import { PAGE_SIZE, PTRS_PER_TABLE } from './pte.ts';

/** Frame kinds. */
export const FRAME_FREE = 0;
/** Ordinary RAM with a struct page (page cache, anon, vmalloc'ed framebuffers). */
export const FRAME_RAM = 1;
/** Device / IO memory without struct pages (mapped by VM_PFNMAP VMAs). */
export const FRAME_IO = 2;
/** A page-table page. Its 512 entries live in the shared `ptLo`/`ptHi` pool. */
export const FRAME_PAGETABLE = 3;

/**
 * Physical memory: frames numbered by PFN, each with a kind. RAM and IO frames hold bytes,
 * allocated lazily on first write (a never-written frame reads as zeros). Page-table frames
 * hold 512 64-bit entries in two flat `Uint32Array` pools (`ptLo`, `ptHi`), slot-indexed: the
 * entry `i` of the table in frame `pfn` is at `ptSlot[pfn] * 512 + i`.
 *
 * Frame 0 is never handed out, so PFN 0 in an entry is always a bug the tests can see.
 */
export class PhysMem {
  kind: Uint8Array;
  ptSlot: Int32Array;
  ptLo: Uint32Array;
  ptHi: Uint32Array;
  /**
   * Per-frame bytes, allocated on first write (sparse array). Once allocated, a frame keeps its
   * array for good (copies go into it), so TLBs may cache it per slot (`Tlb.bytes`).
   */
  readonly data: (Uint8Array | undefined)[] = [];
  private nextPfn = 1;
  private nextSlot = 0;
  private readonly freeSlots: number[] = [];
  private readonly freeTablePfns: number[] = [];
  /** Inverse of `ptSlot`: the PFN of the table in each slot (-1 when free). */
  readonly slotPfn: number[] = [];
  /** Number of page-table frames currently in use. */
  tablesInUse = 0;

  constructor(initialFrames = 1024, initialTables = 64) {
    this.kind = new Uint8Array(initialFrames);
    this.ptSlot = new Int32Array(initialFrames).fill(-1);
    this.ptLo = new Uint32Array(initialTables * PTRS_PER_TABLE);
    this.ptHi = new Uint32Array(initialTables * PTRS_PER_TABLE);
  }

  /** Number of PFNs handed out so far (highest PFN + 1). */
  get frames(): number {
    return this.nextPfn;
  }

  private growFrames(need: number): void {
    if (need <= this.kind.length) return;
    let n = Math.max(1, this.kind.length); // from 0, doubling would never reach `need`
    while (n < need) n *= 2;
    const k = new Uint8Array(n);
    k.set(this.kind);
    this.kind = k;
    const s = new Int32Array(n).fill(-1);
    s.set(this.ptSlot);
    this.ptSlot = s;
  }

  private allocFrames(n: number, kind: number): number {
    if (!Number.isInteger(n) || n < 1)
      throw new RangeError(`frame count must be a positive integer, got ${n}`);
    const first = this.nextPfn;
    this.growFrames(first + n);
    this.kind.fill(kind, first, first + n);
    this.nextPfn += n;
    return first;
  }

  /** Allocate `n` physically contiguous RAM frames; returns the first PFN. */
  allocRam(n: number): number {
    return this.allocFrames(n, FRAME_RAM);
  }

  /**
   * Allocate `n` contiguous RAM frames whose first PFN is aligned to `align` frames (for huge
   * leaves: 512 for 2 MiB).
   */
  allocRamAligned(n: number, align: number): number {
    const pad = (align - (this.nextPfn % align)) % align;
    if (pad > 0) this.allocFrames(pad, FRAME_FREE);
    return this.allocFrames(n, FRAME_RAM);
  }

  /** Allocate `n` contiguous device frames (no struct page). */
  allocIo(n: number): number {
    return this.allocFrames(n, FRAME_IO);
  }

  /** Allocate a zeroed page-table frame; returns its PFN. */
  allocPageTable(): number {
    let pfn = this.freeTablePfns.pop();
    if (pfn === undefined) pfn = this.allocFrames(1, FRAME_PAGETABLE);
    else this.kind[pfn] = FRAME_PAGETABLE;
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      slot = this.nextSlot++;
      if ((slot + 1) * PTRS_PER_TABLE > this.ptLo.length) {
        const size = Math.max(PTRS_PER_TABLE, this.ptLo.length * 2); // an empty pool must grow too
        const lo = new Uint32Array(size);
        lo.set(this.ptLo);
        this.ptLo = lo;
        const hi = new Uint32Array(size);
        hi.set(this.ptHi);
        this.ptHi = hi;
      }
    }
    const base = slot * PTRS_PER_TABLE;
    this.ptLo.fill(0, base, base + PTRS_PER_TABLE);
    this.ptHi.fill(0, base, base + PTRS_PER_TABLE);
    this.ptSlot[pfn] = slot;
    this.slotPfn[slot] = pfn;
    this.tablesInUse++;
    return pfn;
  }

  /** Free a page-table frame (its PFN may be reused for another table). */
  freePageTable(pfn: number): void {
    if (this.kind[pfn] !== FRAME_PAGETABLE) throw new Error(`pfn ${pfn} is not a page table`);
    this.freeSlots.push(this.ptSlot[pfn]!);
    this.slotPfn[this.ptSlot[pfn]!] = -1;
    this.ptSlot[pfn] = -1;
    this.kind[pfn] = FRAME_FREE;
    this.freeTablePfns.push(pfn);
    this.tablesInUse--;
  }

  /** Flat index of entry `i` of the table in frame `tablePfn`. */
  entryIndex(tablePfn: number, i: number): number {
    return this.ptSlot[tablePfn]! * PTRS_PER_TABLE + i;
  }

  /** True for frames that have a struct page (RAM). */
  hasStructPage(pfn: number): boolean {
    return this.kind[pfn] === FRAME_RAM;
  }

  /** Whether `pfn` can hold data (RAM or IO). */
  isDataFrame(pfn: number): boolean {
    const k = this.kind[pfn];
    return k === FRAME_RAM || k === FRAME_IO;
  }

  read8(pfn: number, off: number): number {
    const d = this.data[pfn];
    return d === undefined ? 0 : d[off]!;
  }

  write8(pfn: number, off: number, v: number): void {
    let d = this.data[pfn];
    if (d === undefined) {
      d = new Uint8Array(PAGE_SIZE);
      this.data[pfn] = d;
    }
    d[off] = v;
  }

  /** Copy of a frame's bytes (zeros if never written). */
  readPage(pfn: number): Uint8Array {
    const d = this.data[pfn];
    return d === undefined ? new Uint8Array(PAGE_SIZE) : d.slice();
  }

  /** Compare two frames' contents without allocating. */
  samePage(a: number, b: number): boolean {
    const x = this.data[a];
    const y = this.data[b];
    if (x === undefined && y === undefined) return true;
    for (let i = 0; i < PAGE_SIZE; i++)
      if ((x === undefined ? 0 : x[i]) !== (y === undefined ? 0 : y[i])) return false;
    return true;
  }

  /** Copy frame `src` into frame `dst` (COW copies, device copies). */
  copyPage(dst: number, src: number): void {
    const s = this.data[src];
    const d = this.data[dst];
    // In place (never a new array for an allocated frame: TLBs cache it); never-written reads as 0.
    if (s === undefined) d?.fill(0);
    else if (d === undefined) this.data[dst] = s.slice();
    else d.set(s);
  }
}
