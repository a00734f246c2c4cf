import type { KGen } from '../checker/task.ts';
import { CpuMask } from '../hw/cpumask.ts';
import type { AddressSpace } from './address-space.ts';
import type { Kernel } from './kernel.ts';
import type { Rwsem } from './locks.ts';

// vm_flags (values are the model's own; names are the kernel's).
export const VM_READ = 1 << 0;
export const VM_WRITE = 1 << 1;
export const VM_EXEC = 1 << 2;
export const VM_SHARED = 1 << 3;
export const VM_MAYREAD = 1 << 4;
export const VM_MAYWRITE = 1 << 5;
export const VM_MAYEXEC = 1 << 6;
export const VM_MAYSHARE = 1 << 7;
export const VM_PFNMAP = 1 << 10;
export const VM_IO = 1 << 14;
export const VM_DONTEXPAND = 1 << 18;
export const VM_DONTDUMP = 1 << 26;
export const VM_MIXEDMAP = 1 << 28;
export const VM_HUGETLB = 1 << 22;
/** Registered with userfaultfd write-protect. */
export const VM_UFFD_WP = 1 << 12;

const FLAG_NAMES: Array<[number, string]> = [
  [VM_READ, 'VM_READ'],
  [VM_WRITE, 'VM_WRITE'],
  [VM_EXEC, 'VM_EXEC'],
  [VM_SHARED, 'VM_SHARED'],
  [VM_MAYREAD, 'VM_MAYREAD'],
  [VM_MAYWRITE, 'VM_MAYWRITE'],
  [VM_MAYEXEC, 'VM_MAYEXEC'],
  [VM_MAYSHARE, 'VM_MAYSHARE'],
  [VM_PFNMAP, 'VM_PFNMAP'],
  [VM_IO, 'VM_IO'],
  [VM_DONTEXPAND, 'VM_DONTEXPAND'],
  [VM_DONTDUMP, 'VM_DONTDUMP'],
  [VM_MIXEDMAP, 'VM_MIXEDMAP'],
  [VM_HUGETLB, 'VM_HUGETLB'],
  [VM_UFFD_WP, 'VM_UFFD_WP'],
];

export function vmFlagNames(flags: number): string[] {
  return FLAG_NAMES.filter(([b]) => (flags & b) !== 0).map(([, n]) => n);
}

// vm_fault_t bits.
export const VM_FAULT_OOM = 0x1;
export const VM_FAULT_SIGBUS = 0x2;
export const VM_FAULT_MAJOR = 0x4;
export const VM_FAULT_SIGSEGV = 0x40;
export const VM_FAULT_NOPAGE = 0x100;
export const VM_FAULT_LOCKED = 0x200;
export const VM_FAULT_RETRY = 0x400;
export const VM_FAULT_ERROR = VM_FAULT_OOM | VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV;

// Fault flags.
export const FAULT_FLAG_WRITE = 1 << 0;
export const FAULT_FLAG_MKWRITE = 1 << 1;
export const FAULT_FLAG_ALLOW_RETRY = 1 << 2;
/** With ALLOW_RETRY: return VM_FAULT_RETRY without waiting and without dropping the mmap lock. */
export const FAULT_FLAG_RETRY_NOWAIT = 1 << 3;
export const FAULT_FLAG_KILLABLE = 1 << 4;
/** This fault is a retry (after VM_FAULT_RETRY): a handler may no longer ask for another one. */
export const FAULT_FLAG_TRIED = 1 << 5;
export const FAULT_FLAG_USER = 1 << 6;
export const FAULT_FLAG_INTERRUPTIBLE = 1 << 9;
/** FAULT_FLAG_DEFAULT: what the arch fault handler starts a user fault with. */
export const FAULT_FLAG_DEFAULT = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | FAULT_FLAG_INTERRUPTIBLE;

/** struct vm_fault: what a fault handler sees. */
export interface VmFault {
  vma: Vma;
  address: number;
  pgoff: number;
  flags: number;
  /** PTE value seen at fault entry (orig_pte). */
  origLo: number;
  origHi: number;
  /** Flat index of the PTE (or -1 if the table does not exist yet). */
  ptep: number;
  /** PFN of the page the fault resolved to (with a struct page), or -1. */
  page: number;
}

/** vm_operations_struct. Every handler returns vm_fault_t bits. */
export interface VmOps {
  readonly name: string;
  fault?(k: Kernel, vmf: VmFault): KGen<number>;
  pageMkwrite?(k: Kernel, vmf: VmFault): KGen<number>;
  pfnMkwrite?(k: Kernel, vmf: VmFault): KGen<number>;
  /**
   * MODEL EXTENSION (not in the kernel; absent = mainline): called after finish_mkwrite_fault
   * for a PFN mapping, whatever its outcome, so a driver can hold its lock from pfn_mkwrite until
   * the PTE is writable (the PFN analogue of returning VM_FAULT_LOCKED). Expresses a proposed fix.
   */
  pfnMkwriteDone?(k: Kernel, vmf: VmFault): void;
  /**
   * MODEL EXTENSION (not in the kernel; absent = mainline): called by zap_pte_range, under the
   * PTL, for each dirty PTE without a struct page it discards, so a driver could record the
   * write. Expresses a proposed fix for quirk Q10.
   */
  zapDirtyPfn?(k: Kernel, vma: Vma, pgoff: number): void;
}

/** A virtual memory area: [start, end) of an mm mapping file pages [pgoff, pgoff + pages). */
export class Vma {
  /** vm_page_prot low bits (PTE flags used for new PTEs); computed by vmaSetPageProt. */
  pageProt = 0;
  constructor(
    readonly mm: MmStruct,
    public start: number,
    public end: number,
    public pgoff: number,
    public flags: number,
    public ops: VmOps | null,
    readonly file: AddressSpace | null,
    /** Driver-private data (vm_private_data). */
    public privateData: unknown = null,
  ) {}

  get pages(): number {
    return (this.end - this.start) / 4096;
  }

  /** linear_page_index: file page offset of `addr`. */
  pgoffOf(addr: number): number {
    return Math.floor((addr - this.start) / 4096) + this.pgoff;
  }

  /** Address of file page `pgoff` inside this VMA. */
  addrOf(pgoff: number): number {
    return this.start + (pgoff - this.pgoff) * 4096;
  }

  toString(): string {
    return `vma[mm${this.mm.id} 0x${this.start.toString(16)}-0x${this.end.toString(16)} pgoff ${this.pgoff} ${vmFlagNames(this.flags).join('|')}]`;
  }
}

/** struct mm_struct: page-table root, VMAs, deferred-flush bookkeeping, CPUs that ran it. */
export class MmStruct {
  readonly vmas: Vma[] = [];
  /** tlb_flush_pending. */
  tlbFlushPending = 0;
  /** mm_cpumask: CPU i is in it once CPU i ran this mm (never cleared in this model, as x86 lazily keeps it). */
  readonly cpumask = new CpuMask();
  /** Notifier subscriptions on this mm. */
  readonly notifiers: import('./mmu-notifier.ts').MmuNotifierSubscription[] = [];
  /** invalidate_range_start calls without their end yet. */
  activeInvalidations = 0;
  /** Invalidations started per subscription minus ended (for the balance invariant). */
  constructor(
    readonly id: number,
    readonly root: number,
    readonly mmapLock: Rwsem,
    readonly name: string,
  ) {}

  findVma(addr: number): Vma | null {
    for (const v of this.vmas) if (addr >= v.start && addr < v.end) return v;
    return null;
  }
}
