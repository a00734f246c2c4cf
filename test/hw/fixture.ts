import { Counters } from '../../src/hw/counters.ts';
import { Cpu } from '../../src/hw/cpu.ts';
import { setPte } from '../../src/hw/pagetable.ts';
import { PhysMem } from '../../src/hw/physmem.ts';
import { mkHi, mkLo, PTE_PRESENT, PTE_RW, PTE_USER } from '../../src/hw/pte.ts';
import type { TlbConfig } from '../../src/hw/tlb.ts';

/** Test-only 64-bit view of an entry (BigInt is fine here, never in src/). */
export function entry64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

/** Split a 64-bit entry built with BigInt into the two words the model stores. */
export function words(e: bigint): [number, number] {
  return [Number(e & 0xffff_ffffn), Number((e >> 32n) & 0xffff_ffffn)];
}

export const USER_RW = PTE_PRESENT | PTE_RW | PTE_USER;
export const USER_RO = PTE_PRESENT | PTE_USER;

export interface Machine {
  mem: PhysMem;
  counters: Counters;
  root: number;
  cpus: Cpu[];
  levels: 4 | 5;
}

/** A physical memory, one address space (mm id 1) and `n` CPUs running it. */
export function machine(n = 1, levels: 4 | 5 = 4, tlb?: TlbConfig): Machine {
  const mem = new PhysMem();
  const counters = new Counters();
  const root = mem.allocPageTable();
  const cpus: Cpu[] = [];
  for (let i = 0; i < n; i++) {
    const c = new Cpu(i, mem, counters, tlb, levels);
    c.switchMm(1, root);
    cpus.push(c);
  }
  return { mem, counters, root, cpus, levels };
}

/** Map `vpn` to `pfn` with low flags `flags`; returns the flat index of the PTE. */
export function map(m: Machine, vpn: number, pfn: number, flags: number, hiFlags = 0): number {
  return setPte(m.mem, m.root, vpn, mkLo(pfn, flags), mkHi(pfn, hiFlags), m.levels);
}
