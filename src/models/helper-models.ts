/**
 * Models of the seed helpers racing CPUs, devices and each other (spec 11.1-11.3). Each model
 * lists the helper variants where the difference shows and the verdict expected of each.
 */
import type { ModelDef, VariantDef, Violation } from '../checker/model.ts';
import { runToCompletion } from '../checker/task.ts';
import { entryIndexAt } from '../hw/pagetable.ts';
import { LEVEL_PMD } from '../hw/pte.ts';
import { AddressSpace } from '../mm/address-space.ts';
import { bitmapAlloc, clearBit, testBit } from '../mm/bitmap.ts';
import { insertPfnPmd } from '../mm/huge.ts';
import {
  createDirtyHelpers,
  type DirtyHelpers,
  HELPER_VARIANTS,
  type HelperVariantName,
} from '../mm/mapping-dirty-helpers.ts';
import { userStore8 } from '../mm/memory.ts';
import { VM_PFNMAP } from '../mm/mm-types.ts';
import { doMprotect, doMunmap, PROT_READ, PROT_WRITE, switchMm } from '../mm/mmap.ts';
import { mappingWrprotectRange } from '../mm/rmap.ts';
import { TrackerDevice, World } from './world.ts';

function v(name: string, verdict: 'pass' | 'fail', property?: string, description?: string): VariantDef {
  const info = HELPER_VARIANTS[name as HelperVariantName];
  const desc = description ?? (info ? `${info.source}. Failure guarded against: ${info.failure}` : name);
  return { name, description: desc, expected: property ? { verdict, property } : { verdict } };
}

function helpersFor(variant: string): DirtyHelpers {
  return createDirtyHelpers((variant in HELPER_VARIANTS ? variant : 'mainline') as HelperVariantName);
}

/** Scanner step of the MKWRITE protocol: wp the range, then consume the recorded bits. */
function* mkwriteScan(w: World, dev: TrackerDevice, h: DirtyHelpers, check: boolean) {
  yield* dev.lock.lock();
  yield* h.wpSharedMappingRange(w.k, dev.file, 0, dev.pages);
  if (check) {
    const bad = w.checkWpComplete(dev.file, 0, dev.pages);
    if (bad) w.fail(bad);
  }
  dev.consume();
  dev.lock.unlock();
}

/**
 * The `scan-fix` scanner: write-protect page by page; every page with its bit set is delivered,
 * but its bit is cleared only if write-protecting THAT page changed a PTE (found it writable).
 * A set bit with a read-only PTE may belong to a fault between pfn_mkwrite and
 * finish_mkwrite_fault: it stays set, so the next round delivers the page again after the write.
 * (Delivering it now too keeps a page whose PTE was zapped after the write from waiting forever.)
 */
function* mkwriteScanFix(w: World, dev: TrackerDevice, h: DirtyHelpers) {
  yield* dev.lock.lock();
  const got: number[] = [];
  for (let p = 0; p < dev.pages; p++) {
    const n = yield* h.wpSharedMappingRange(w.k, dev.file, p, 1);
    if (testBit(dev.bitmap, p)) {
      got.push(p);
      if (n > 0) clearBit(dev.bitmap, p);
    }
  }
  w.deliver(got, 'gpu');
  dev.lock.unlock();
}

/** wp then clean_record over file pages [0, pages) into a throw-away bitmap. */
function* wpThenClean(w: World, h: DirtyHelpers, file: AddressSpace, pages: number) {
  yield* h.wpSharedMappingRange(w.k, file, 0, pages);
  const bm = bitmapAlloc(pages);
  yield* h.cleanRecordSharedMappingRange(w.k, file, 0, pages, 0, bm, { start: pages, end: 0 });
}

/** Scanner step of the PAGETABLE protocol: clean_record the range, consume the bits. */
function* pagetableScan(w: World, dev: TrackerDevice, h: DirtyHelpers, wpFirst: boolean) {
  yield* dev.lock.lock();
  if (wpFirst) yield* h.wpSharedMappingRange(w.k, dev.file, 0, dev.pages);
  const win = { start: dev.pages, end: 0 };
  yield* h.cleanRecordSharedMappingRange(w.k, dev.file, 0, dev.pages, 0, dev.bitmap, win, 'tracker');
  dev.consume();
  dev.lock.unlock();
}

/** The final sync (after every task ended): one more round of the protocol, then the ground-truth check. */
function finalPagetable(w: World, dev: TrackerDevice, h: DirtyHelpers): Violation | null {
  runToCompletion(pagetableScan(w, dev, h, false));
  return w.checkDelivered();
}

function finalMkwrite(w: World, dev: TrackerDevice): Violation | null {
  // Bits recorded by mkwrite since the last scan are delivered now (the consumer's next round).
  dev.consume();
  return w.checkDelivered();
}

export const wpVsWriter: ModelDef = {
  name: 'wp-vs-writer',
  description:
    'MKWRITE tracking: a writer with a warm writable+dirty TLB entry races wp_shared_mapping_range + consumption; ' +
    'after wp returns no writable translation may remain (P3) and no write may bypass pfn_mkwrite (P2)',
  variants: [
    v('mainline', 'pass'),
    v('no-tlb-flush', 'fail', 'wp-complete'),
    v(
      'rfc-2019',
      'pass',
      undefined,
      `${HELPER_VARIANTS['rfc-2019'].source}. Its bugs are not reachable here (no device, only shared VMAs, D loss irrelevant to MKWRITE)`,
    ),
  ],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const dev = new TrackerDevice(w, 2, 'mkwrite');
    const a = w.map('A', dev.file, 0, 2, { shared: true, write: true });
    w.setupStore(0, a, 0); // pfn_mkwrite recorded page 0; cpu0 caches it writable+dirty
    const h = helpersFor(variant);
    w.writer('writer', 0, a, [0, 0]);
    w.spawn('scan', 1, mkwriteScan(w, dev, h, true));
    return w.instance(() => finalMkwrite(w, dev));
  },
};

export const cleanVsWriter: ModelDef = {
  name: 'clean-vs-writer',
  description:
    'PAGETABLE tracking: a writer with a warm writable+dirty TLB entry races a clean_record_shared_mapping_range ' +
    'round; every completed write must reach the consumer (P1, P4; the wp-then-clean protocol is wp-clean-vs-writer)',
  variants: [
    v('mainline', 'pass'),
    v('no-tlb-flush', 'fail', 'no-lost-write'),
    v(
      'nonatomic-rmw',
      'pass',
      undefined,
      'clean alone: the split read/write-back only erases a D bit that it records in the same step, so nothing is lost here; the loss needs a wp first (see wp-clean-vs-writer)',
    ),
  ],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const dev = new TrackerDevice(w, 1, 'pagetable');
    const a = w.map('A', dev.file, 0, 1, { shared: true, write: true });
    w.setupStore(0, a, 0);
    const h = helpersFor(variant);
    runToCompletion(pagetableScan(w, dev, h, false));
    w.writer('writer', 0, a, [0, 0]);
    w.spawn('scan', 1, pagetableScan(w, dev, h, false));
    return w.instance(() => finalPagetable(w, dev, h));
  },
};

export const wpCleanVsWriter: ModelDef = {
  name: 'wp-clean-vs-writer',
  description:
    'The exact-snapshot protocol of spec 3.8 (and vmwgfx PAGETABLE->MKWRITE switch): wp_shared_mapping_range then ' +
    'clean_record while a writer dirties the page through a cached clean entry; no D bit may be lost (P9, R2)',
  variants: [
    v('mainline', 'pass'),
    v('nonatomic-rmw', 'fail', 'no-lost-write'),
    v('rfc-2019', 'fail', 'no-lost-write'),
  ],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const dev = new TrackerDevice(w, 1, 'pagetable');
    const a = w.map('A', dev.file, 0, 1, { shared: true, write: true });
    w.setupStore(0, a, 0);
    const h = helpersFor(variant);
    runToCompletion(pagetableScan(w, dev, h, false)); // PTE writable and clean, TLB flushed
    w.writer('writer', 0, a, [0]);
    w.spawn('scan', 1, pagetableScan(w, dev, h, true));
    return w.instance(() => finalPagetable(w, dev, h));
  },
};

export const mkwriteWindow: ModelDef = {
  name: 'mkwrite-window',
  description:
    'MKWRITE tracking: pfn_mkwrite sets the bit under the driver lock and drops it; the PTE becomes writable only ' +
    'later, in finish_mkwrite_fault. A scan (wp + consume) in between finds the PTE read-only, changes nothing and ' +
    'consumes the bit; the write then lands through a writable PTE with its bit clear (P2/P14). Same window as ' +
    'fb_defio quirk Q3, for PFN mappings that have no page lock. The scan stands for a vmwgfx read-only submission; ' +
    'a dirtying one zaps the PTEs before consuming the bits and closes the window (vmwgfx-mkwrite/dirtying-submit)',
  variants: [
    v(
      'mainline',
      'fail',
      'no-lost-write',
      'the kernel today with a vmwgfx-style MKWRITE tracker (the model finds the mkwrite-to-PTE window)',
    ),
    v(
      'mkwrite-locked',
      'pass',
      undefined,
      'proposed fix: the driver keeps its lock from pfn_mkwrite until the PTE is writable (a PFN analogue of VM_FAULT_LOCKED)',
    ),
    v(
      'scan-fix',
      'pass',
      undefined,
      'a fix a driver can make alone: the scan clears a bit only when write-protecting THAT page found a writable ' +
        'PTE (wp per page, count > 0); a set bit with a read-only PTE is delivered and kept for the next round. One mapping ' +
        '(two mappings: model mkwrite-window-two-mappings)',
    ),
  ],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const dev = new TrackerDevice(w, 1, 'mkwrite', variant === 'mkwrite-locked');
    const a = w.map('A', dev.file, 0, 1, { shared: true, write: true });
    const h = helpersFor('mainline');
    w.writer('writer', 0, a, [0]);
    w.spawn('scan', 1, variant === 'scan-fix' ? mkwriteScanFix(w, dev, h) : mkwriteScan(w, dev, h, false));
    return w.instance(() => finalMkwrite(w, dev));
  },
};

export const mkwriteWindowTwoMappings: ModelDef = {
  name: 'mkwrite-window-two-mappings',
  description:
    'The mkwrite window with a second mapping of the same device page (another process, writable and dirty after ' +
    "an earlier write whose bit is still set): process A's write fault is between pfn_mkwrite and " +
    "finish_mkwrite_fault when the scan runs. Decides whether B's writable PTE can hide A's fault in flight from a " +
    'scan that trusts the write-protect count (P2/P14)',
  variants: [
    v('mainline', 'fail', 'no-lost-write', 'the kernel today with a vmwgfx-style MKWRITE tracker'),
    v(
      'scan-fix',
      'fail',
      'no-lost-write',
      "the driver-only fix of mkwrite-window: write-protecting the page changes B's writable PTE (count 1), so the " +
        "bit is cleared while A's fault is still in flight; A's write then lands through a writable PTE with its bit clear",
    ),
    v(
      'mkwrite-locked',
      'pass',
      undefined,
      'the lock held from pfn_mkwrite until the PTE is writable: no scan runs while any fault is in flight',
    ),
  ],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const dev = new TrackerDevice(w, 1, 'mkwrite', variant === 'mkwrite-locked');
    const a = w.map('A', dev.file, 0, 1, { shared: true, write: true });
    const b = w.map('B', dev.file, 0, 1, { shared: true, write: true });
    w.setupStore(1, b, 0); // pfn_mkwrite recorded page 0; B's PTE writable+dirty
    w.setupLoad(0, a, 0); // A's PTE present and read-only
    const h = helpersFor('mainline');
    w.writer('writer', 0, a, [0]);
    w.spawn('scan', 1, variant === 'scan-fix' ? mkwriteScanFix(w, dev, h) : mkwriteScan(w, dev, h, false));
    return w.instance(() => finalMkwrite(w, dev));
  },
};

export const concurrentWp: ModelDef = {
  name: 'concurrent-wp',
  description:
    "Peter Zijlstra's v5 review: two concurrent wp_shared_mapping_range calls while cpu0 caches page 0 writable; " +
    'each caller, on return, must see no writable translation left (P3, P8)',
  variants: [
    v('mainline', 'pass'),
    v('no-nested-flush', 'fail', 'wp-complete'),
    v('no-tlb-flush', 'fail', 'wp-complete'),
    v(
      'rfc-2019',
      'pass',
      undefined,
      `${HELPER_VARIANTS['rfc-2019'].source}. Its i_mmap write lock serialises the two calls, so R5 cannot happen`,
    ),
  ],
  create(variant, { trace }) {
    const w = new World(3, trace);
    const dev = new TrackerDevice(w, 2, 'mkwrite');
    const a = w.map('A', dev.file, 0, 2, { shared: true, write: true });
    w.setupStore(0, a, 0);
    w.setupStore(0, a, 1);
    const h = helpersFor(variant);
    for (const [name, cpu] of [
      ['wp1', 1],
      ['wp2', 2],
    ] as const) {
      w.spawn(
        name,
        cpu,
        (function* () {
          yield* h.wpSharedMappingRange(w.k, dev.file, 0, 2);
          const bad = w.checkWpComplete(dev.file, 0, 2);
          if (bad) w.fail(bad);
        })(),
      );
    }
    return w.instance(() => null);
  },
};

export const secondaryMmuModel: ModelDef = {
  name: 'secondary-mmu',
  description:
    'A device (KVM/IOMMU-like secondary MMU) caches a writable translation; wp must invalidate it through mmu ' +
    'notifiers (P3, R3), and later device writes must fault into mkwrite',
  variants: [
    v('mainline', 'pass'),
    v('no-notifier', 'fail', 'wp-complete'),
    v('rfc-2019', 'fail', 'wp-complete'),
  ],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const dev = new TrackerDevice(w, 2, 'mkwrite');
    const a = w.map('A', dev.file, 0, 2, { shared: true, write: true });
    w.setupStore(0, a, 0);
    const gpu = w.addDevice(a.mm);
    if (gpu.store8(a.mm.id, a.addrOf(0), 9) !== 0) throw new Error('model setup: device write failed');
    const h = helpersFor(variant);
    w.spawn('scan', 1, mkwriteScan(w, dev, h, true));
    w.spawn(
      'device',
      -1,
      (function* () {
        yield undefined;
        // A device write either goes through a still-valid writable translation or must request a fault.
        gpu.store8(a.mm.id, a.addrOf(0), 10);
      })(),
    );
    return w.instance(() => finalMkwrite(w, dev));
  },
};

export const cowPrivate: ModelDef = {
  name: 'cow-private',
  description:
    'A private (COW) mapping of the same file pages holds its own written copy; the helpers must never modify ' +
    'private VMAs (P10, R6)',
  variants: [
    v('mainline', 'pass'),
    v('no-shared-check', 'fail', 'no-private-touch'),
    v('rfc-2019', 'fail', 'no-private-touch'),
  ],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const file = new AddressSpace(w.k, 'file', false, 2);
    const b = w.map('B', file, 0, 2, { shared: true, write: true });
    const a = w.map('A', file, 0, 2, { shared: false, write: true });
    w.setupStore(0, a, 0); // COW copy, writable+dirty anonymous page
    w.setupStore(1, b, 0);
    w.guardEntryUnchanged(
      entryIndexAt(w.k.mem, a.mm.root, a.addrOf(0) / 4096, 4, w.k.levels, false),
      'no-private-touch',
      0,
      (b0, now) =>
        `a dirty-tracking helper changed the PTE of a private COW page in mm${a.mm.id} (0x${b0.toString(16)} -> 0x${now.toString(16)})`,
    );
    w.spawn('wp+clean', 1, wpThenClean(w, helpersFor(variant), file, 2));
    return w.instance(() => null);
  },
};

export const hugePmd: ModelDef = {
  name: 'huge-pmd',
  description:
    'A writable, dirty huge PMD maps 512 device pages; the helpers must skip it with a warning, never split or ' +
    'modify it (P11, R7)',
  variants: [v('mainline', 'pass'), v('split-huge', 'fail', 'huge-untouched')],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const file = new AddressSpace(w.k, 'dev', false, 512);
    file.mmapHook = (_k, vma) => {
      vma.flags |= VM_PFNMAP;
      return 0;
    };
    const pfn = w.k.mem.allocRamAligned(512, 512);
    const a = w.map('A', file, 0, 512, { shared: true, write: true });
    if (!insertPfnPmd(w.k, a, a.start, pfn, true)) throw new Error('model setup: huge PMD');
    w.guardEntryUnchanged(
      entryIndexAt(w.k.mem, a.mm.root, a.start / 4096, LEVEL_PMD, w.k.levels, false),
      'huge-untouched',
      0,
      () => 'a dirty-tracking helper modified a huge PMD (split/zapped it: its dirty bit is lost)',
    );
    switchMm(w.k, 0, a.mm);
    w.spawn('wp+clean', 1, wpThenClean(w, helpersFor(variant), file, 512));
    return w.instance(() => null);
  },
};

export const roSharedFirst: ModelDef = {
  name: 'ro-shared-first',
  description:
    'Spec quirk Q1: a read-only MAP_SHARED mapping (O_RDONLY fd: VM_MAYSHARE only) is first in i_mmap; test_walk ' +
    'returns 1 for it and walk_page_mapping ENDS, so the writable shared VMA of another process is never ' +
    'write-protected (P3)',
  variants: [
    v(
      'mainline',
      'fail',
      'wp-complete',
      'the kernel today (the model finds Q1: wp leaves the later writable VMA untouched)',
    ),
    v('walk-continue', 'pass'),
  ],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const dev = new TrackerDevice(w, 2, 'mkwrite');
    w.map('R', dev.file, 0, 2, { shared: true, write: false, fdWritable: false });
    const b = w.map('B', dev.file, 0, 2, { shared: true, write: true });
    w.setupStore(0, b, 0);
    const h = helpersFor(variant);
    w.writer('writer', 0, b, [0]);
    w.spawn('scan', 1, mkwriteScan(w, dev, h, true));
    return w.instance(() => finalMkwrite(w, dev));
  },
};

export const mprotectBypass: ModelDef = {
  name: 'mprotect-bypass',
  description:
    'Spec quirk Q4: a MKWRITE scan write-protects but does not clean, leaving read-only dirty PTEs; ' +
    'mprotect(READ) then mprotect(READ|WRITE) makes dirty PTEs writable without pfn_mkwrite, so a later write ' +
    'is never recorded (P2)',
  variants: [
    v('mainline', 'fail', 'no-lost-write', 'the kernel today with a vmwgfx-style MKWRITE scan (wp only)'),
    v(
      'scan-cleans',
      'fail',
      'no-lost-write',
      'a tempting fix that is not enough: wp then clean_record leaves a window between the two walks where mprotect upgrades the read-only dirty PTE, and clean_record keeps RW',
    ),
    v(
      'scan-wrprotect-clean',
      'pass',
      undefined,
      'proposed fix: the MKWRITE scan write-protects AND cleans each PTE in one atomic step (mapping_wrprotect_range semantics), so no dirty read-only PTE is left for mprotect to upgrade (with the mkwrite-window fix)',
    ),
  ],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const dev = new TrackerDevice(w, 1, 'mkwrite', variant !== 'mainline');
    const a = w.map('A', dev.file, 0, 1, { shared: true, write: true });
    w.setupStore(0, a, 0);
    const h = helpersFor('mainline');
    w.spawn(
      'scan',
      1,
      (function* () {
        yield* dev.lock.lock();
        if (variant === 'scan-wrprotect-clean')
          yield* mappingWrprotectRange(w.k, dev.file, 0, dev.pfnBase, 1);
        else yield* h.wpSharedMappingRange(w.k, dev.file, 0, 1);
        if (variant === 'scan-cleans') {
          const win = { start: 1, end: 0 };
          yield* h.cleanRecordSharedMappingRange(w.k, dev.file, 0, 1, 0, dev.bitmap, win, 'tracker');
        }
        dev.consume();
        dev.lock.unlock();
      })(),
    );
    w.spawn(
      'app',
      0,
      (function* () {
        switchMm(w.k, 0, a.mm);
        yield* doMprotect(w.k, a.mm, a.start, 4096, PROT_READ);
        yield* doMprotect(w.k, a.mm, a.start, 4096, PROT_READ | PROT_WRITE);
        yield* userStore8(w.k, w.k.cpus[0]!, a.mm, a.addrOf(0), 7);
      })(),
    );
    return w.instance(() => finalMkwrite(w, dev));
  },
};

export const munmapPagetable: ModelDef = {
  name: 'munmap-pagetable',
  checkDefaults: { preemptionBound: 3 },
  description:
    'Spec quirk Q10: in PAGETABLE mode the hardware D bit is the only record of a write; munmap zaps the PFN PTE ' +
    'and nothing records it first, so the write never reaches the consumer (P1)',
  variants: [
    v(
      'mainline',
      'fail',
      'no-lost-write',
      'the kernel today with a vmwgfx-style PAGETABLE tracker (pre_unmap guards only its own unmaps)',
    ),
    v(
      'zap-records',
      'pass',
      undefined,
      'proposed fix: zap_pte_range reports each dirty PFN PTE it discards to the driver (a vm_ops hook), which records it. ' +
        '(Recording at invalidate_range_start is not enough: the model shows the PTE can be dirtied after start and before the zap)',
    ),
  ],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const dev = new TrackerDevice(w, 1, 'pagetable', false, variant === 'zap-records');
    const a = w.map('A', dev.file, 0, 1, { shared: true, write: true });
    const h = helpersFor('mainline');
    w.setupStore(0, a, 0);
    runToCompletion(pagetableScan(w, dev, h, false)); // delivered; PTE writable and clean, TLB flushed
    w.writer('writer', 0, a, [0], () => {}); // a store after munmap is a SIGSEGV, not a model failure
    w.spawn(
      'app',
      0,
      (function* () {
        yield undefined;
        yield* doMunmap(w.k, a.mm, a.start, 4096);
      })(),
    );
    w.spawn('scan', 1, pagetableScan(w, dev, h, false));
    return w.instance(() => finalPagetable(w, dev, h));
  },
};

export const HELPER_MODELS: ModelDef[] = [
  wpVsWriter,
  cleanVsWriter,
  wpCleanVsWriter,
  mkwriteWindow,
  mkwriteWindowTwoMappings,
  concurrentWp,
  secondaryMmuModel,
  cowPrivate,
  hugePmd,
  roSharedFirst,
  mprotectBypass,
  munmapPagetable,
];
