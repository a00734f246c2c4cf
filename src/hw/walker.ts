import type { TraceSink } from '../trace/sink.ts';
import type { Counters } from './counters.ts';
import type { PhysMem } from './physmem.ts';
import {
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

const TWO27 = 2 ** 27;
const TWO36 = 2 ** 36;

/**
 * Table index of `vpn` at `level` (0 = PGD .. 4 = PTE) for a `levels`-level hierarchy.
 * `>>>` and `&` work on the low 32 bits of vpn, which is exact for every level below the top
 * two; the top levels use a division.
 */
export function tableIndex(vpn: number, level: number, levels: number): number {
  // Distance from the PTE level in 9-bit steps.
  const shift = LEVEL_PTE - level;
  if (levels === 4 && level <= 1) return Math.floor(vpn / TWO27) & 511; // PGD (P4D folded into it)
  switch (shift) {
    case 0:
      return vpn & 511;
    case 1:
      return (vpn >>> 9) & 511;
    case 2:
      return (vpn >>> 18) & 511;
    case 3:
      return Math.floor(vpn / TWO27) & 511;
    default:
      return Math.floor(vpn / TWO36) & 511;
  }
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
    let table = root;
    let rw = true;
    let user = true;
    const first = this.levels === 5 ? 0 : 1;
    for (let level = first; level <= LEVEL_PTE; level++) {
      const idx = slotOf[table]! * 512 + tableIndex(vpn, level, this.levels);
      let e = lo[idx]!;
      if ((e & PTE_PRESENT) === 0) {
        this.status = WALK_NOT_PRESENT;
        this.leafIdx = idx;
        this.leafLevel = level;
        return WALK_NOT_PRESENT;
      }
      rw = rw && (e & PTE_RW) !== 0;
      user = user && (e & PTE_USER) !== 0;
      const leaf =
        level === LEVEL_PTE || ((level === LEVEL_PMD || level === LEVEL_PUD) && (e & PTE_PSE) !== 0);
      if ((e & PTE_ACCESSED) === 0 || (leaf && write && rw && user && (e & PTE_DIRTY) === 0)) {
        // Locked RMW: set A (and D on a permitted write to a leaf).
        const ne = (e | PTE_ACCESSED | (leaf && write && rw && user ? PTE_DIRTY : 0)) >>> 0;
        lo[idx] = ne;
        this.counters.hwAdUpdates++;
        if (this.trace !== null)
          this.trace.emit({
            kind: 'pte',
            mm,
            addr: vpn * 4096,
            level,
            oldLo: e,
            oldHi: hi[idx]!,
            newLo: ne,
            newHi: hi[idx]!,
            by: 'hw',
          });
        e = ne;
      }
      if (leaf) {
        const h = hi[idx]!;
        this.status = WALK_OK;
        this.leafIdx = idx;
        this.leafLevel = level;
        this.writable = rw;
        this.user = user;
        this.dirty = (e & PTE_DIRTY) !== 0;
        if (level === LEVEL_PTE) this.pfn = pfn4k(e, h);
        else if (level === LEVEL_PMD) this.pfn = pfn2m(e, h) + (vpn & 511);
        else this.pfn = pfn1g(e, h) + (vpn % 262144);
        return WALK_OK;
      }
      table = pfn4k(e, hi[idx]!);
    }
    /* c8 ignore next */
    throw new Error('unreachable: walk fell off the PTE level');
  }
}
