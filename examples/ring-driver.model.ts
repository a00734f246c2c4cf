/**
 * Worked example: a model of a small driver that tracks dirty pages its own way, checked against
 * the kernel's helpers with `dirtyscope check examples/ring-driver.model.ts`.
 *
 * The driver ("ring") exports a device buffer to user space through a shared PFN mapping and
 * keeps a dirty LIST (not a bitmap). Its protocol:
 *  - fault: map the page read-only, so the first write raises a write-protect fault;
 *  - pfn_mkwrite: under the driver lock, append the page to the dirty list; the lock is held
 *    until the PTE is writable, so a flush cannot slip in between. `pfnMkwriteDone` is a MODEL
 *    EXTENSION (the proposed fix of the catalogue's `mkwrite-window`): today's kernel has no such
 *    hook. Without it the checker finds that window in this driver too, once the app also writes
 *    a page for the first time during the race (try: unlock in pfnMkwrite, and writer pages
 *    [1, 0]);
 *  - flush (a kernel worker): under the driver lock, write-protect AND clean every PTE of the
 *    buffer (`mapping_wrprotect_range`), then hand the dirty list to the device.
 *
 * The planted bug (variant `take-list-first`) swaps the two flush steps: it hands over the list
 * BEFORE write-protecting. A write that lands in between goes through a PTE that is still
 * writable, takes no fault, is never listed, and after the write-protect it never will be: the
 * checker finds the interleaving and prints a replayable schedule.
 *
 * Copy this file, rename the driver, and change `fault`/`pfnMkwrite`/`flush` to your driver's.
 */
import {
  AddressSpace,
  defineModel,
  type Kernel,
  type KGen,
  Mutex,
  mappingWrprotectRange,
  properties,
  runToCompletion,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_IO,
  VM_PFNMAP,
  VM_SHARED,
  type VmFault,
  type VmOps,
  vmfInsertPfnProt,
  vmGetPageProt,
  World,
} from 'dirtyscope/model';

type Variant = 'mainline' | 'take-list-first';

/** The driver: a buffer of `pages` device pages and a dirty list. */
class RingDriver {
  readonly file: AddressSpace;
  readonly pfnBase: number;
  readonly lock: Mutex;
  readonly dirty = new Set<number>();
  readonly ops: VmOps;

  constructor(
    readonly w: World,
    readonly pages: number,
    readonly variant: Variant,
  ) {
    const k = w.k;
    this.file = new AddressSpace(k, 'ring', false, pages);
    this.pfnBase = k.mem.allocIo(pages);
    this.lock = new Mutex(k, 'ring lock');
    const drv = this;
    this.ops = Object.freeze({
      name: 'ring',
      // Map read-only (VM_SHARED masked out of the protection), so writes fault into pfnMkwrite.
      *fault(kk: Kernel, vmf: VmFault): KGen<number> {
        const prot = vmGetPageProt(vmf.vma.flags & ~VM_SHARED);
        return yield* vmfInsertPfnProt(kk, vmf.vma, vmf.address, drv.pfnBase + vmf.pgoff, prot);
      },
      *pfnMkwrite(_kk: Kernel, vmf: VmFault): KGen<number> {
        yield* drv.lock.lock();
        drv.dirty.add(vmf.pgoff);
        return 0; // the lock is released in pfnMkwriteDone, once the PTE is writable
      },
      pfnMkwriteDone: () => drv.lock.unlock(),
    });
    this.file.mmapHook = (_kk, vma) => {
      vma.flags |= VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP;
      vma.ops = drv.ops;
      return 0;
    };
  }

  /** Hand the dirty list to the device (what the device will copy). */
  private takeList(): void {
    const pages = [...this.dirty].sort((a, b) => a - b);
    this.dirty.clear();
    this.w.deliver(pages, 'device');
  }

  /** One flush round of the worker. */
  *flush(): KGen<void> {
    yield* this.lock.lock();
    if (this.variant === 'take-list-first') this.takeList(); // BUG: the list is taken too early
    yield* mappingWrprotectRange(this.w.k, this.file, 0, this.pfnBase, this.pages);
    if (this.variant === 'mainline') this.takeList();
    this.lock.unlock();
  }
}

export default defineModel({
  name: 'ring-driver',
  description:
    'A driver that records writes in a dirty list at pfn_mkwrite and flushes (write-protect + hand over the list) ' +
    'from a worker; every completed write must reach the device (no-lost-write)',
  variants: [
    {
      name: 'mainline',
      description: 'flush write-protects first, then takes the list (under the driver lock)',
      expected: { verdict: 'pass' },
    },
    {
      name: 'take-list-first',
      description: 'flush takes the list before write-protecting: a write in between is never listed',
      expected: { verdict: 'fail', property: 'no-lost-write' },
    },
  ],
  create(variant, { trace }) {
    const w = new World(2, trace); // 2 CPUs
    const drv = new RingDriver(w, 2, variant as Variant);
    const a = w.map('app', drv.file, 0, 2, { shared: true, write: true });
    w.setupStore(0, a, 0); // before the race: page 0 was written (listed, PTE writable + dirty)
    w.writer('app', 0, a, [0]); // the race: the app writes page 0 again on cpu0 ...
    w.spawn('flush', 1, drv.flush()); // ... while the worker flushes on cpu1
    // At the end: one more flush (the next round), then the ground truth.
    return w.instance(() => {
      runToCompletion(drv.flush());
      return properties.noLostWrite(w);
    });
  },
});
