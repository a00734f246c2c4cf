import IntervalTree from '@flatten-js/interval-tree';
import type { KGen } from '../checker/task.ts';
import type { Kernel } from './kernel.ts';
import { Rwsem } from './locks.ts';
import type { Vma, VmOps } from './mm-types.ts';

/**
 * struct address_space: a file's pages and `i_mmap`, the interval tree of every VMA mapping
 * them, keyed by the inclusive file-page interval [vm_pgoff, vm_pgoff + pages - 1] and
 * protected by `i_mmap_rwsem` (read for walkers, write for link/unlink).
 *
 * The tree is @flatten-js/interval-tree (a red-black interval tree). Ties (equal start) keep
 * insertion order through a monotonically increasing link sequence in the key, so "linked
 * earlier" is visited first, as in the kernel (spec quirk Q1 depends on visit order).
 */
export class AddressSpace {
  readonly iMmapRwsem: Rwsem;
  private readonly tree = new IntervalTree<Vma>();
  private readonly keys = new Map<Vma, [number, number]>();
  private linkSeq = 0;
  /** Page-cache pages by file page index (PFN of a RAM frame), allocated on first fault. */
  readonly pages = new Map<number, number>();
  /** Page-cache pages marked dirty (folio_mark_dirty): by shared write faults and by zaps of dirty PTEs. */
  readonly dirtyPages = new Set<number>();
  /**
   * Optional mmap hook of the file (f_op->mmap): may change flags/ops, or refuse (negative errno).
   */
  mmapHook: ((k: Kernel, vma: Vma) => number) | null = null;
  /** Default vm_ops for VMAs of this file (set by mmapHook or the file type). */
  defaultOps: VmOps | null = null;

  constructor(
    readonly k: Kernel,
    readonly name: string,
    /** Whether the backing store does writeback (a disk file: write-notify; shmem/memfd: not). */
    readonly canWriteback: boolean,
    /** Size in pages (for SIGBUS beyond EOF). */
    public sizePages: number,
  ) {
    this.iMmapRwsem = new Rwsem(k, `i_mmap_rwsem(${name})`);
  }

  /** Link a VMA into i_mmap. Caller holds i_mmap_rwsem for write. */
  link(vma: Vma): void {
    this.iMmapRwsem.assertWriteHeld();
    // Key: [pgoff + tie-break fraction, last page]. The fraction orders equal starts by link time.
    const seq = ++this.linkSeq;
    const key: [number, number] = [vma.pgoff + seq / 2 ** 20, vma.pgoff + vma.pages - 1 + 0.5];
    this.tree.insert(key, vma);
    this.keys.set(vma, key);
  }

  /** Unlink a VMA. Caller holds i_mmap_rwsem for write. */
  unlink(vma: Vma): void {
    this.iMmapRwsem.assertWriteHeld();
    const key = this.keys.get(vma);
    if (key === undefined) throw new Error(`${vma} is not linked in ${this.name}`);
    this.tree.remove(key, vma);
    this.keys.delete(vma);
  }

  /**
   * VMAs whose file interval overlaps [first, last] (inclusive), in interval-tree order
   * (ascending start pgoff, then link order). Caller holds i_mmap_rwsem.
   */
  overlapping(first: number, last: number): Vma[] {
    const hits = this.tree.search([first, last + 0.75]) as Vma[];
    // The tree returns values in key order already; sort defensively by the stored key.
    return hits
      .filter((v) => v.pgoff <= last && v.pgoff + v.pages - 1 >= first)
      .sort((a, b) => this.keys.get(a)![0] - this.keys.get(b)![0]);
  }

  get mappedVmas(): number {
    return this.keys.size;
  }

  /** Page-cache lookup/allocation for file page `pgoff` (RAM frame with a struct page). */
  findOrCreatePage(pgoff: number): number {
    let pfn = this.pages.get(pgoff);
    if (pfn === undefined) {
      pfn = this.k.mem.allocRam(1);
      this.pages.set(pgoff, pfn);
    }
    return pfn;
  }

  *lockRead(): KGen<void> {
    yield* this.iMmapRwsem.downRead();
  }
}
