/**
 * x86-64 paging-structure entries, bit for bit (spec section 8).
 *
 * An entry is 64 bits held as two 32-bit words: `lo` (bits 0..31) and `hi` (bits 32..63), each a
 * uint32 in a `Uint32Array`. Helpers here are pure functions on those two numbers; none allocates.
 * Bit N of the entry is bit N of `lo` for N < 32 and bit N-32 of `hi` otherwise.
 */

// Low word (bits 0..31).
export const PTE_PRESENT = 1 << 0;
export const PTE_RW = 1 << 1;
export const PTE_USER = 1 << 2;
export const PTE_PWT = 1 << 3;
export const PTE_PCD = 1 << 4;
export const PTE_ACCESSED = 1 << 5;
export const PTE_DIRTY = 1 << 6;
/** Bit 7: PSE in a PMD/PUD (huge leaf); PAT in a 4K PTE. */
export const PTE_PSE = 1 << 7;
export const PTE_GLOBAL = 1 << 8;
/** Bit 9 (SOFTW1): special mapping, no struct page (PFNMAP). */
export const PTE_SPECIAL = 1 << 9;
/** Bit 10 (SOFTW2): userfaultfd write-protect. */
export const PTE_UFFD_WP = 1 << 10;
/** Bit 11 (SOFTW3): soft-dirty. */
export const PTE_SOFT_DIRTY = 1 << 11;
/** Bit 12 of a huge leaf: PAT. */
export const PTE_PAT_LARGE = 1 << 12;

// High word (bits 32..63), as bit positions within `hi`.
/** Bit 58 (SOFTW5): SavedDirty, the software copy of D for write-protected pages with user shadow stacks. */
export const PTE_HI_SAVED_DIRTY = 1 << (58 - 32);
/** Bit 63: no-execute. `>>> 0` keeps it an unsigned 32-bit value. */
export const PTE_HI_NX = (1 << (63 - 32)) >>> 0;
/** Bits 32..51 of the entry carry PFN bits 20..39. */
export const PTE_HI_PFN_MASK = 0x000f_ffff;

/** Low-word PFN mask for a 4K leaf: bits 12..31. */
export const PTE_LO_PFN_MASK_4K = 0xffff_f000 >>> 0;

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 4096;
export const PTRS_PER_TABLE = 512;
export const PMD_SHIFT = 21;
export const PUD_SHIFT = 30;
export const P4D_SHIFT = 39;
/** Pages per 2 MiB and 1 GiB leaf. */
export const PMD_PAGES = 512;
export const PUD_PAGES = 512 * 512;

/** Level numbering used across the project (matches `pte_hole` depth): 0 PGD .. 4 PTE. */
export const LEVEL_PGD = 0;
export const LEVEL_P4D = 1;
export const LEVEL_PUD = 2;
export const LEVEL_PMD = 3;
export const LEVEL_PTE = 4;

const TWO20 = 1048576;

export function pteNone(lo: number, hi: number): boolean {
  return lo === 0 && hi === 0;
}
export function ptePresent(lo: number): boolean {
  return (lo & PTE_PRESENT) !== 0;
}
export function pteWrite(lo: number): boolean {
  return (lo & PTE_RW) !== 0;
}
/** The kernel's dirty test: hardware D or SavedDirty. */
export function pteDirty(lo: number, hi: number): boolean {
  return (lo & PTE_DIRTY) !== 0 || (hi & PTE_HI_SAVED_DIRTY) !== 0;
}
/** Hardware D alone. */
export function pteHwDirty(lo: number): boolean {
  return (lo & PTE_DIRTY) !== 0;
}
export function pteYoung(lo: number): boolean {
  return (lo & PTE_ACCESSED) !== 0;
}
export function pteSpecial(lo: number): boolean {
  return (lo & PTE_SPECIAL) !== 0;
}
export function pteUffdWp(lo: number): boolean {
  return (lo & PTE_UFFD_WP) !== 0;
}
/** A PMD or PUD entry that is a present huge leaf (PSE set). Meaningless for a 4K PTE (bit 7 is PAT there). */
export function entryHuge(lo: number): boolean {
  return (lo & (PTE_PRESENT | PTE_PSE)) === (PTE_PRESENT | PTE_PSE);
}

/** PFN of a 4K leaf, or of the next-level table in a non-leaf entry. */
export function pfn4k(lo: number, hi: number): number {
  return (lo >>> PAGE_SHIFT) + (hi & PTE_HI_PFN_MASK) * TWO20;
}
/** First PFN of a 2 MiB leaf (bits 21..51). */
export function pfn2m(lo: number, hi: number): number {
  return ((lo >>> PMD_SHIFT) << 9) + (hi & PTE_HI_PFN_MASK) * TWO20;
}
/** First PFN of a 1 GiB leaf (bits 30..51). */
export function pfn1g(lo: number, hi: number): number {
  return ((lo >>> PUD_SHIFT) << 18) + (hi & PTE_HI_PFN_MASK) * TWO20;
}

/** Low word for `pfn` with low flag bits `flags` (4K leaf or table pointer). */
export function mkLo(pfn: number, flags: number): number {
  return ((pfn % TWO20) * PAGE_SIZE + (flags & 0xfff)) >>> 0;
}
/** High word for `pfn` with high flag bits `hiFlags`. */
export function mkHi(pfn: number, hiFlags: number): number {
  return ((Math.floor(pfn / TWO20) & PTE_HI_PFN_MASK) | (hiFlags & ~PTE_HI_PFN_MASK)) >>> 0;
}

/** pte_mkclean, low word: clears D. */
export function mkcleanLo(lo: number): number {
  return (lo & ~PTE_DIRTY) >>> 0;
}
/** pte_mkclean, high word: clears SavedDirty. */
export function mkcleanHi(hi: number): number {
  return (hi & ~PTE_HI_SAVED_DIRTY) >>> 0;
}

/**
 * pte_wrprotect, low word: clears RW; with user shadow stacks (`shadowStack`) a set D moves to
 * SavedDirty (RW=0,D=1 would otherwise mean "shadow-stack page").
 */
export function wrprotectLo(lo: number, shadowStack: boolean): number {
  lo = (lo & ~PTE_RW) >>> 0;
  return shadowStack ? (lo & ~PTE_DIRTY) >>> 0 : lo;
}
/** pte_wrprotect, high word (see {@link wrprotectLo}). */
export function wrprotectHi(lo: number, hi: number, shadowStack: boolean): number {
  return shadowStack && (lo & PTE_DIRTY) !== 0 ? (hi | PTE_HI_SAVED_DIRTY) >>> 0 : hi;
}
/** pte_mkwrite, low word: sets RW; SavedDirty moves back to D. */
export function mkwriteLo(lo: number, hi: number): number {
  return ((hi & PTE_HI_SAVED_DIRTY) !== 0 ? lo | PTE_RW | PTE_DIRTY : lo | PTE_RW) >>> 0;
}
/** pte_mkwrite, high word. */
export function mkwriteHi(hi: number): number {
  return (hi & ~PTE_HI_SAVED_DIRTY) >>> 0;
}
/** pte_mkdirty, low word (with shadow stacks a read-only dirty PTE would use SavedDirty; see callers). */
export function mkdirtyLo(lo: number): number {
  return (lo | PTE_DIRTY) >>> 0;
}

const LO_NAMES: Array<[number, string]> = [
  [PTE_PRESENT, 'P'],
  [PTE_RW, 'RW'],
  [PTE_USER, 'U'],
  [PTE_PWT, 'PWT'],
  [PTE_PCD, 'PCD'],
  [PTE_ACCESSED, 'A'],
  [PTE_DIRTY, 'D'],
  [PTE_PSE, 'PSE'],
  [PTE_GLOBAL, 'G'],
  [PTE_SPECIAL, 'SPECIAL'],
  [PTE_UFFD_WP, 'UFFD_WP'],
  [PTE_SOFT_DIRTY, 'SOFT_DIRTY'],
];

/** Human-readable flags, e.g. "P RW U A D SPECIAL pfn=0x12". Not for hot paths. */
export function describeEntry(lo: number, hi: number): string {
  if (lo === 0 && hi === 0) return 'none';
  const parts: string[] = [];
  for (const [bit, name] of LO_NAMES) if ((lo & bit) !== 0) parts.push(name);
  if ((hi & PTE_HI_SAVED_DIRTY) !== 0) parts.push('SAVED_DIRTY');
  if ((hi & PTE_HI_NX) !== 0) parts.push('NX');
  parts.push(`pfn=0x${pfn4k(lo, hi).toString(16)}`);
  return parts.join(' ');
}
