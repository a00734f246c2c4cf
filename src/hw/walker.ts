import type { TraceSink } from '../trace/sink.ts';
import type { Counters } from './counters.ts';
import type { PhysMem } from './physmem.ts';
import {
  LEVEL_P4D,
  LEVEL_PGD,
  LEVEL_PMD,
  LEVEL_PTE,
  LEVEL_PUD,
  PTE_ACCESSED,
  PTE_DIRTY,
  PTE_PRESENT,
  PTE_PSE,
  PTE_RW,
  PTE_USER,
  pfn1g,
  pfn2m,
  pfn4k,
} from './pte.ts';

export const WALK_OK = 0;
export const WALK_NOT_PRESENT = 1;

const TWO32 = 2 ** 32;

/**
 * Table index of `vpn` at `level` (0 = PGD .. 4 = PTE) for a `levels`-level hierarchy.
 * `>>>` and `&` work on the low 32 bits of vpn, which is exact for every level below the top
 * two; the top levels combine them with the high half (one division, exact below 2^53).
 */
export function tableIndex(vpn: number, level: number, levels: number): number {
  if (level >= LEVEL_PUD) return (vpn >>> (9 * (LEVEL_PTE - level))) & 511;
  const hi = Math.floor(vpn / TWO32);
  // vpn bits 27..35: the P4D, or the PGD in 4-level mode (P4D folded into it)
  if (level === 1 || levels === 4) return ((vpn >>> 27) | (hi << 5)) & 511;
  return (hi >>> 4) & 511; // vpn bits 36..44: the LA57 PGD
}

/**
 * The hardware page walker (MMU). Linux-agnostic: it reads the tables from physical memory,
 * sets ACCESSED (and DIRTY for a write that is permitted) with locked read-modify-writes, and
 * reports the translation through its output fields (no allocation per walk).
 *
 * x86 semantics: write permission is the AND of RW over every level, user access the AND of
 * USER; a huge leaf is a present PUD/PMD entry with PSE set.
 */
export class HwWalker {
  // Output of the last walk.
  status = WALK_OK;
  /** Flat index (PhysMem pool) of the leaf entry, or of the non-present entry that stopped the walk. */
  leafIdx = -1;
  /** Level of that entry (LEVEL_PUD/PMD/PTE for leaves). */
  leafLevel = LEVEL_PTE;
  /** 4K PFN that `vpn` translates to. */
  pfn = 0;
  writable = false;
  user = false;
  /** Leaf D bit after the walk (after setting it, for a permitted write). */
  dirty = false;
  trace: TraceSink | null = null;

  constructor(
    readonly mem: PhysMem,
    readonly counters: Counters,
    /** 4 or 5 (LA57). */
    readonly levels: 4 | 5 = 4,
  ) {}

  private traceAd(mm: number, vpn: number, level: number, idx: number, oldLo: number, newLo: number): void {
    const hi = this.mem.ptHi[idx]!;
    this.trace!.emit({
      kind: 'pte',
      mm,
      addr: vpn * 4096,
      level,
      oldLo,
      oldHi: hi,
      newLo,
      newHi: hi,
      by: 'hw',
    });
  }

  /**
   * Walk `root` for `vpn`. With `write`, a permitted access also sets D in the leaf. Returns
   * WALK_OK or WALK_NOT_PRESENT; permission is left to the caller (`writable`, `user`).
   */
  walk(mm: number, root: number, vpn: number, write: boolean): number {
    const mem = this.mem;
    const lo = mem.ptLo;
    const hi = mem.ptHi;
    const slotOf = mem.ptSlot;
    this.counters.hwWalks++;
    // Table indices from the two 32-bit halves of vpn (exact below 2^53): shifts, no division per
    // level; the levels are unrolled (straight-line code, no per-level index switch).
    const vlo = vpn >>> 0;
    const vhi = (vpn - vlo) / TWO32;
    let table = root;
    // AND of the RW and USER bits of every entry on the path.
    let perm = PTE_RW | PTE_USER;
    let idx: number;
    let e: number;
    if (this.levels === 5) {
      idx = slotOf[table]! * 512 + ((vhi >>> 4) & 511); // vpn bits 36..44
      e = lo[idx]!;
      if ((e & PTE_PRESENT) === 0) return this.notPresent(idx, LEVEL_PGD);
      perm &= e;
      if ((e & PTE_ACCESSED) === 0) e = this.setBits(mm, vpn, LEVEL_PGD, idx, e, PTE_ACCESSED);
      table = pfn4k(e, hi[idx]!);
    }
    idx = slotOf[table]! * 512 + (((vlo >>> 27) | (vhi << 5)) & 511); // bits 27..35: P4D (PGD if 4-level)
    e = lo[idx]!;
    if ((e & PTE_PRESENT) === 0) return this.notPresent(idx, LEVEL_P4D);
    perm &= e;
    if ((e & PTE_ACCESSED) === 0) e = this.setBits(mm, vpn, LEVEL_P4D, idx, e, PTE_ACCESSED);
    table = pfn4k(e, hi[idx]!);
    idx = slotOf[table]! * 512 + ((vlo >>> 18) & 511);
    e = lo[idx]!;
    if ((e & PTE_PRESENT) === 0) return this.notPresent(idx, LEVEL_PUD);
    perm &= e;
    if ((e & PTE_PSE) !== 0) return this.leaf(mm, vpn, write, LEVEL_PUD, idx, e, perm);
    if ((e & PTE_ACCESSED) === 0) e = this.setBits(mm, vpn, LEVEL_PUD, idx, e, PTE_ACCESSED);
    table = pfn4k(e, hi[idx]!);
    idx = slotOf[table]! * 512 + ((vlo >>> 9) & 511);
    e = lo[idx]!;
    if ((e & PTE_PRESENT) === 0) return this.notPresent(idx, LEVEL_PMD);
    perm &= e;
    if ((e & PTE_PSE) !== 0) return this.leaf(mm, vpn, write, LEVEL_PMD, idx, e, perm);
    if ((e & PTE_ACCESSED) === 0) e = this.setBits(mm, vpn, LEVEL_PMD, idx, e, PTE_ACCESSED);
    table = pfn4k(e, hi[idx]!);
    idx = slotOf[table]! * 512 + (vlo & 511);
    e = lo[idx]!;
    if ((e & PTE_PRESENT) === 0) return this.notPresent(idx, LEVEL_PTE);
    return this.leaf(mm, vpn, write, LEVEL_PTE, idx, e, perm & e);
  }

  private notPresent(idx: number, level: number): number {
    this.status = WALK_NOT_PRESENT;
    this.leafIdx = idx;
    this.leafLevel = level;
    return WALK_NOT_PRESENT;
  }

  /** Locked RMW of entry `idx`: set `bits` (A, and D on a permitted write to a leaf). Returns the new low word. */
  private setBits(mm: number, vpn: number, level: number, idx: number, e: number, bits: number): number {
    const ne = (e | bits) >>> 0;
    this.mem.ptLo[idx] = ne;
    this.counters.hwAdUpdates++;
    if (this.trace !== null) this.traceAd(mm, vpn, level, idx, e, ne);
    return ne;
  }

  /** The walk reached a present leaf (`perm` includes it): A/D update and outputs. */
  private leaf(
    mm: number,
    vpn: number,
    write: boolean,
    level: number,
    idx: number,
    e: number,
    perm: number,
  ): number {
    const need = write && perm === (PTE_RW | PTE_USER) ? PTE_ACCESSED | PTE_DIRTY : PTE_ACCESSED;
    if ((e & need) !== need) e = this.setBits(mm, vpn, level, idx, e, need);
    this.status = WALK_OK;
    this.leafIdx = idx;
    this.leafLevel = level;
    this.writable = (perm & PTE_RW) !== 0;
    this.user = (perm & PTE_USER) !== 0;
    this.dirty = (e & PTE_DIRTY) !== 0;
    const h = this.mem.ptHi[idx]!;
    if (level === LEVEL_PTE) this.pfn = pfn4k(e, h);
    else if (level === LEVEL_PMD) this.pfn = pfn2m(e, h) + (vpn & 511);
    else this.pfn = pfn1g(e, h) + (vpn % 262144);
    return WALK_OK;
  }
}
