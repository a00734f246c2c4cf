/**
 * Law-style checkers for dirty tracking, judged against ground truth (the store log of every
 * completed store, `new Kernel({ storeLog: true })`), never against the model's own bookkeeping.
 *
 * Usage: build a {@link DirtyLaws} over a kernel, the tracked file and the mms that map it;
 * register every bitmap the helpers record into; report consumption with {@link DirtyLaws.consume};
 * call the `check*` methods at the points a law must hold. Each returns a list of violations
 * (empty = the law holds), so a property can print them.
 *
 * Laws (spec 11.1):
 * - noLostWrite (P1/P4, guarantee b): for every store S to file page p through mm m, unless p was
 *   consumed after S, bit p is set in some registered bitmap or m's PTE of p is dirty.
 *   Consumption must only happen while no clean_record is in flight (the caller's lock): then a
 *   store through a stale dirty TLB entry (cleaned, recorded, not yet flushed) is covered by the
 *   bit set just before it, which cannot be consumed before the flush.
 * - cleanRecordA (guarantee a): every (mm, page) whose PTE was dirty when the call began has its
 *   bit set on return and is clean, unless a store to it through that mm completed during the call.
 * - wpComplete (P3): on return from wp, no PTE in range of a qualifying VMA is writable and no CPU
 *   TLB or registered secondary MMU caches a writable translation, unless the kernel made that PTE
 *   writable again (a write fault: mkwrite / reuse) after the call began.
 * - windowCovers (P6): every set bit lies in [start, end).
 */
import { entryIndexAt } from '../../src/hw/pagetable.ts';
import { LEVEL_PTE, PTE_DIRTY, PTE_PRESENT, PTE_RW, pfn4k, pteDirty } from '../../src/hw/pte.ts';
import type { SecondaryMmu } from '../../src/hw/secondary-mmu.ts';
import { TLBF_WRITABLE } from '../../src/hw/tlb.ts';
import type { AddressSpace } from '../../src/mm/address-space.ts';
import { testBit } from '../../src/mm/bitmap.ts';
import type { Kernel } from '../../src/mm/kernel.ts';
import { type MmStruct, VM_HUGETLB, VM_MAYWRITE, VM_SHARED, type Vma } from '../../src/mm/mm-types.ts';
import { type EventInput, TraceSink } from '../../src/trace/sink.ts';

/** The VMA filter of the helpers (spec 3.2). */
export function qualifies(vma: Vma): boolean {
  return (vma.flags & (VM_SHARED | VM_MAYWRITE | VM_HUGETLB)) === (VM_SHARED | VM_MAYWRITE);
}

export interface TrackedBitmap {
  readonly name: string;
  readonly bitmap: Uint32Array;
  readonly bitmapPgoff: number;
  /** Bits the bitmap holds. */
  readonly nbits: number;
}

/**
 * A trace sink that keeps no events, only the last time (event count) the kernel made each PTE
 * writable: the witness that a write fault legitimately re-enabled writes after a wp began.
 * Install with `new Kernel({ trace: sink })`.
 */
export class WritableWitnessSink extends TraceSink {
  clock = 0;
  /** "mm:addr" -> clock of the last kernel RW 0 -> 1 transition. */
  readonly madeWritable = new Map<string, number>();
  /** "mm:addr" -> clock of the last kernel D 0 -> 1 transition (a write fault, before its store). */
  readonly madeDirty = new Map<string, number>();

  override emit(e: EventInput): void {
    this.clock++;
    if (e.kind === 'pte' && e.by === 'kernel' && e.level === LEVEL_PTE) {
      if ((e.oldLo & PTE_RW) === 0 && (e.newLo & PTE_RW) !== 0)
        this.madeWritable.set(`${e.mm}:${e.addr - (e.addr % 4096)}`, this.clock);
      if ((e.oldLo & PTE_DIRTY) === 0 && (e.newLo & PTE_DIRTY) !== 0)
        this.madeDirty.set(`${e.mm}:${e.addr - (e.addr % 4096)}`, this.clock);
    }
  }
}

export class DirtyLaws {
  readonly bitmaps: TrackedBitmap[] = [];
  private processed = 0;
  /** "mmId:page" -> seq of the last store. */
  private readonly lastStore = new Map<string, number>();
  /** page -> store-log length when it was last consumed (stores with seq below are covered). */
  private readonly consumedAt = new Map<number, number>();
  private readonly mmById = new Map<number, MmStruct>();
  /** Stores processed so far that hit a file page through a qualifying VMA. */
  trackedStores = 0;

  constructor(
    readonly k: Kernel,
    readonly file: AddressSpace,
    mms: readonly MmStruct[],
    readonly devices: readonly SecondaryMmu[] = [],
  ) {
    if (k.storeLog === null) throw new Error('DirtyLaws needs new Kernel({ storeLog: true })');
    for (const m of mms) this.mmById.set(m.id, m);
  }

  register(b: TrackedBitmap): void {
    this.bitmaps.push(b);
  }

  /** The VMA of `mm` mapping `file` at `addr`, or null. */
  private vmaAt(mm: MmStruct, addr: number): Vma | null {
    const v = mm.findVma(addr);
    return v !== null && v.file === this.file ? v : null;
  }

  /** Fold new store-log entries into the per-(mm, page) last-store table. */
  sync(): void {
    const log = this.k.storeLog!;
    for (; this.processed < log.length; this.processed++) {
      const i = this.processed;
      const mm = this.mmById.get(log.mm[i]!);
      if (mm === undefined) continue;
      const addr = log.vpn[i]! * 4096;
      const vma = this.vmaAt(mm, addr);
      if (vma === null || !qualifies(vma)) continue;
      const page = vma.pgoffOf(addr);
      const expect = this.file.pages.get(page);
      if (expect !== undefined && expect !== log.pfn[i])
        throw new Error(`store ${i} through shared ${vma} hit pfn ${log.pfn[i]}, page ${page} is ${expect}`);
      this.lastStore.set(`${mm.id}:${page}`, i);
      this.trackedStores++;
    }
  }

  /** The consumer took (and cleared) bits [from, to) of `b`: stores so far to those pages are covered. */
  consume(b: TrackedBitmap, from: number, to: number): number[] {
    this.sync();
    const now = this.k.storeLog!.length;
    const taken: number[] = [];
    for (let idx = from; idx < to; idx++) {
      if (testBit(b.bitmap, idx)) {
        taken.push(idx + b.bitmapPgoff);
        this.consumedAt.set(idx + b.bitmapPgoff, now);
      }
      b.bitmap[idx >>> 5]! &= ~(1 << (idx & 31));
    }
    return taken;
  }

  private recorded(page: number): boolean {
    for (const b of this.bitmaps) {
      const idx = page - b.bitmapPgoff;
      if (idx >= 0 && idx < b.nbits && testBit(b.bitmap, idx)) return true;
    }
    return false;
  }

  /** [lo, hi] of the PTE of `addr` in `mm`, or null if there is no PTE table. */
  pteOf(mm: MmStruct, addr: number): [number, number] | null {
    const i = entryIndexAt(this.k.mem, mm.root, Math.floor(addr / 4096), LEVEL_PTE, this.k.levels, false);
    return i < 0 ? null : [this.k.mem.ptLo[i]!, this.k.mem.ptHi[i]!];
  }

  /** Law b / P1 / P4 (see the file header). */
  checkNoLostWrite(): string[] {
    this.sync();
    const out: string[] = [];
    for (const [key, seq] of this.lastStore) {
      const [mmId, pageS] = key.split(':');
      const page = Number(pageS);
      if (seq < (this.consumedAt.get(page) ?? 0)) continue;
      if (this.recorded(page)) continue;
      const mm = this.mmById.get(Number(mmId))!;
      const vma = mm.vmas.find((v) => v.file === this.file && page >= v.pgoff && page < v.pgoff + v.pages);
      if (vma === undefined) continue; // unmapped since: zapping is another law's business
      const e = this.pteOf(mm, vma.addrOf(page));
      if (e !== null && (e[0] & PTE_PRESENT) !== 0 && pteDirty(e[0], e[1])) continue;
      out.push(`lost write: store #${seq} to page ${page} via mm${mmId}: no bit set and PTE clean`);
    }
    return out;
  }

  /** Every (vma, page) of a qualifying VMA in [first, first + nr) whose PTE is dirty now. */
  dirtySnapshot(first: number, nr: number): Array<{ vma: Vma; page: number }> {
    const out: Array<{ vma: Vma; page: number }> = [];
    for (const vma of this.file.overlapping(first, first + nr - 1)) {
      if (!qualifies(vma)) continue;
      const lo = Math.max(first, vma.pgoff);
      const hi = Math.min(first + nr, vma.pgoff + vma.pages);
      for (let p = lo; p < hi; p++) {
        const e = this.pteOf(vma.mm, vma.addrOf(p));
        if (e !== null && (e[0] & PTE_PRESENT) !== 0 && pteDirty(e[0], e[1])) out.push({ vma, page: p });
      }
    }
    return out;
  }

  /** Store-log position, for "stores since" questions. */
  now(): number {
    return this.k.storeLog!.length;
  }

  private storedSince(mm: MmStruct, page: number, since: number): boolean {
    this.sync();
    return (this.lastStore.get(`${mm.id}:${page}`) ?? -1) >= since;
  }

  /**
   * Guarantee a (see the file header). `began` = {@link now} when the call began; with concurrent
   * faults pass `witness` and its clock at the call's start (a write fault sets D before its store
   * completes).
   */
  checkCleanRecordA(
    snapshot: Array<{ vma: Vma; page: number }>,
    b: TrackedBitmap,
    began: number,
    witness?: WritableWitnessSink,
    since = 0,
  ): string[] {
    const out: string[] = [];
    for (const { vma, page } of snapshot) {
      if (!testBit(b.bitmap, page - b.bitmapPgoff))
        out.push(`guarantee a: page ${page} (dirty in ${vma} at the call) has no bit in ${b.name}`);
      const e = this.pteOf(vma.mm, vma.addrOf(page))!;
      const d = witness?.madeDirty.get(`${vma.mm.id}:${vma.addrOf(page)}`);
      if (pteDirty(e[0], e[1]) && !this.storedSince(vma.mm, page, began) && !(d !== undefined && d > since))
        out.push(`guarantee a: page ${page} still dirty in ${vma} and nobody stored since`);
    }
    return out;
  }

  /**
   * P3 (see the file header). `witness` (optional) excuses PTEs the kernel made writable after
   * clock `since`; without it every writable translation is a violation (single-task use).
   */
  checkWpComplete(first: number, nr: number, witness?: WritableWitnessSink, since = 0): string[] {
    const out: string[] = [];
    const k = this.k;
    for (const vma of this.file.overlapping(first, first + nr - 1)) {
      if (!qualifies(vma)) continue;
      const mm = vma.mm;
      const lo = Math.max(first, vma.pgoff);
      const hi = Math.min(first + nr, vma.pgoff + vma.pages);
      for (let p = lo; p < hi; p++) {
        const addr = vma.addrOf(p);
        const w = witness?.madeWritable.get(`${mm.id}:${addr}`);
        if (w !== undefined && w > since) continue;
        const e = this.pteOf(mm, addr);
        if (e !== null && (e[0] & PTE_PRESENT) !== 0 && (e[0] & PTE_RW) !== 0)
          out.push(`wp: PTE of page ${p} in ${vma} is writable`);
        for (const cpu of k.cpus) {
          const s = cpu.tlb.peek(mm.id, addr / 4096);
          if (s >= 0 && (cpu.tlb.flags[s]! & TLBF_WRITABLE) !== 0)
            out.push(`wp: cpu${cpu.id} caches page ${p} of mm${mm.id} writable`);
        }
        for (const d of this.devices)
          if (d.holdsWritable(mm.id, addr))
            out.push(`wp: device ${d.id} caches page ${p} of mm${mm.id} writable`);
      }
    }
    return out;
  }
}

/** P6: every set bit of `b` in [0, nbits) lies in [win.start, win.end). */
export function checkWindowCovers(b: TrackedBitmap, win: { start: number; end: number }): string[] {
  const out: string[] = [];
  for (let i = 0; i < b.nbits; i++)
    if (testBit(b.bitmap, i) && (i < win.start || i >= win.end))
      out.push(`window [${win.start}, ${win.end}) of ${b.name} misses bit ${i}`);
  return out;
}

/** PFN mapped at `addr` of `mm`, or -1. */
export function mappedPfn(k: Kernel, mm: MmStruct, addr: number): number {
  const i = entryIndexAt(k.mem, mm.root, Math.floor(addr / 4096), LEVEL_PTE, k.levels, false);
  if (i < 0 || (k.mem.ptLo[i]! & PTE_PRESENT) === 0) return -1;
  return pfn4k(k.mem.ptLo[i]!, k.mem.ptHi[i]!);
}
