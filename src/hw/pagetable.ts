import type { PhysMem } from './physmem.ts';
import { LEVEL_PTE, mkHi, mkLo, PTE_ACCESSED, PTE_PRESENT, PTE_PSE, PTE_RW, PTE_USER, pfn4k } from './pte.ts';
import { tableIndex } from './walker.ts';

/** Flags Linux uses for a user page-table pointer (_PAGE_TABLE): present, RW, user, accessed. */
export const TABLE_ENTRY_FLAGS = PTE_PRESENT | PTE_RW | PTE_USER | PTE_ACCESSED;

/**
 * Raw page-table plumbing shared by the kernel model and tests: find the flat index of the entry
 * for `vpn` at `level` (LEVEL_PUD / LEVEL_PMD / LEVEL_PTE), optionally allocating missing
 * intermediate tables. Returns -1 if a table is missing and `alloc` is false, or if a huge leaf
 * sits above `level`.
 */
export function entryIndexAt(
  mem: PhysMem,
  root: number,
  vpn: number,
  level: number,
  levels: 4 | 5,
  alloc: boolean,
): number {
  let table = root;
  const first = levels === 5 ? 0 : 1;
  for (let l = first; l < level; l++) {
    const idx = mem.ptSlot[table]! * 512 + tableIndex(vpn, l, levels);
    const e = mem.ptLo[idx]!;
    if ((e & PTE_PRESENT) === 0) {
      if (!alloc) return -1;
      const t = mem.allocPageTable();
      mem.ptLo[idx] = mkLo(t, TABLE_ENTRY_FLAGS);
      mem.ptHi[idx] = mkHi(t, 0);
      table = t;
      continue;
    }
    if (l > first && (e & PTE_PSE) !== 0) return -1; // huge leaf above the requested level
    table = pfn4k(e, mem.ptHi[idx]!);
  }
  return mem.ptSlot[table]! * 512 + tableIndex(vpn, level, levels);
}

/** PFN of the table that holds the entry for `vpn` at `level`, or -1 if missing. */
export function tableAt(mem: PhysMem, root: number, vpn: number, level: number, levels: 4 | 5): number {
  if (level === (levels === 5 ? 0 : 1)) return root;
  let table = root;
  const first = levels === 5 ? 0 : 1;
  for (let l = first; l < level; l++) {
    const idx = mem.ptSlot[table]! * 512 + tableIndex(vpn, l, levels);
    const e = mem.ptLo[idx]!;
    if ((e & PTE_PRESENT) === 0 || (l > first && (e & PTE_PSE) !== 0)) return -1;
    table = pfn4k(e, mem.ptHi[idx]!);
  }
  return table;
}

/** Convenience for tests: install a 4K leaf for `vpn`. Returns its flat index. */
export function setPte(
  mem: PhysMem,
  root: number,
  vpn: number,
  lo: number,
  hi: number,
  levels: 4 | 5 = 4,
): number {
  const i = entryIndexAt(mem, root, vpn, LEVEL_PTE, levels, true);
  mem.ptLo[i] = lo;
  mem.ptHi[i] = hi;
  return i;
}
