/**
 * x86-64 page-table entry decoding for display (spec §8). An entry arrives as the two 32-bit
 * halves the model stores (`lo` = bits 0..31, `hi` = bits 32..63), so bit positions are exact.
 */

/** A named single-bit flag: `half` is 0 for `lo`, 1 for `hi`; `bit` is the position inside that half. */
export interface PteFlagDef {
  readonly name: PteFlagName;
  readonly short: string;
  readonly half: 0 | 1;
  readonly bit: number;
  /** Bit position in the full 64-bit entry. */
  readonly pos: number;
}

export type PteFlagName =
  | 'PRESENT'
  | 'RW'
  | 'USER'
  | 'ACCESSED'
  | 'DIRTY'
  | 'PSE'
  | 'SPECIAL'
  | 'UFFD_WP'
  | 'SOFT_DIRTY'
  | 'SAVED_DIRTY'
  | 'NX';

function flag(name: PteFlagName, short: string, pos: number): PteFlagDef {
  return { name, short, half: pos >= 32 ? 1 : 0, bit: pos & 31, pos };
}

/** The flags the visualizer shows, in display order. */
export const PTE_FLAGS: readonly PteFlagDef[] = [
  flag('PRESENT', 'P', 0),
  flag('RW', 'RW', 1),
  flag('USER', 'U', 2),
  flag('ACCESSED', 'A', 5),
  flag('DIRTY', 'D', 6),
  flag('PSE', 'PS', 7),
  flag('SPECIAL', 'SP', 9),
  flag('UFFD_WP', 'UW', 10),
  flag('SOFT_DIRTY', 'SD', 11),
  flag('SAVED_DIRTY', 'SvD', 58),
  flag('NX', 'NX', 63),
];

export interface DecodedPte {
  present: boolean;
  rw: boolean;
  user: boolean;
  accessed: boolean;
  dirty: boolean;
  pse: boolean;
  special: boolean;
  uffdWp: boolean;
  softDirty: boolean;
  savedDirty: boolean;
  nx: boolean;
  /** Bits 12..51. */
  pfn: number;
}

function bitOf(lo: number, hi: number, d: PteFlagDef): boolean {
  return (((d.half === 0 ? lo : hi) >>> d.bit) & 1) === 1;
}

/** Frame number in bits 12..51: 20 bits from `lo`, 20 bits from `hi`. */
export function ptePfn(lo: number, hi: number): number {
  return (lo >>> 12) + (hi & 0xfffff) * 0x100000;
}

export function decodePte(lo: number, hi: number): DecodedPte {
  return {
    present: (lo & 1) === 1,
    rw: ((lo >>> 1) & 1) === 1,
    user: ((lo >>> 2) & 1) === 1,
    accessed: ((lo >>> 5) & 1) === 1,
    dirty: ((lo >>> 6) & 1) === 1,
    pse: ((lo >>> 7) & 1) === 1,
    special: ((lo >>> 9) & 1) === 1,
    uffdWp: ((lo >>> 10) & 1) === 1,
    softDirty: ((lo >>> 11) & 1) === 1,
    savedDirty: ((hi >>> 26) & 1) === 1,
    nx: ((hi >>> 31) & 1) === 1,
    pfn: ptePfn(lo, hi),
  };
}

/** The kernel's "dirty" test: DIRTY or SAVED_DIRTY (spec §8). */
export function pteDirtyBits(lo: number, hi: number): boolean {
  return ((lo >>> 6) & 1) === 1 || ((hi >>> 26) & 1) === 1;
}

/** Names of the flags set in an entry, in display order. */
export function setFlags(lo: number, hi: number): PteFlagName[] {
  const out: PteFlagName[] = [];
  for (const d of PTE_FLAGS) if (bitOf(lo, hi, d)) out.push(d.name);
  return out;
}

/** Names of the flags that differ between two entries, plus 'PFN' when the frame changed. */
export function changedFlags(oldLo: number, oldHi: number, newLo: number, newHi: number): string[] {
  const out: string[] = [];
  for (const d of PTE_FLAGS) if (bitOf(oldLo, oldHi, d) !== bitOf(newLo, newHi, d)) out.push(d.name);
  if (ptePfn(oldLo, oldHi) !== ptePfn(newLo, newHi)) out.push('PFN');
  return out;
}

/** Build an entry from a frame number and flag names (tests, synthetic traces, fixtures). */
export function encodePte(pfn: number, flags: readonly PteFlagName[]): { lo: number; hi: number } {
  let lo = ((pfn % 0x100000) * 0x1000) >>> 0;
  let hi = Math.floor(pfn / 0x100000) & 0xfffff;
  for (const name of flags) {
    const d = PTE_FLAGS.find((f) => f.name === name)!;
    if (d.half === 0) lo = (lo | (1 << d.bit)) >>> 0;
    else hi = (hi | (1 << d.bit)) >>> 0;
  }
  return { lo, hi };
}

/** `0x...` hex for numbers up to 2^53 (no 32-bit truncation). */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}
