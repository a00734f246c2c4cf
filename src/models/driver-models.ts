/**
 * Models of the two driver clients (spec sections 4 and 5) built from the real driver code in
 * src/drivers: vmwgfx-style buffer objects with a GPU consumer, and fbdev deferred I/O with a
 * display. Ground truth: every completed store must reach the consumer's copy.
 */
import type { ModelDef, VariantDef } from '../checker/model.ts';
import type { KGen, Wait } from '../checker/task.ts';
import { BoDevice, type BoVariant, type MethodPolicy } from '../drivers/bo-dirty.ts';
import { SimClock } from '../drivers/clock.ts';
import { Display, Gpu } from '../drivers/consumers.ts';
import { FbDeferredIo } from '../drivers/deferred-io.ts';
import { World } from './world.ts';

function v(name: string, verdict: 'pass' | 'fail', description: string, property?: string): VariantDef {
  return { name, description, expected: property ? { verdict, property } : { verdict } };
}

/** A BO of `pages` pages mapped shared in one process, a GPU with `resources` resources over it. */
function boWorld(trace: boolean, pages: number, resources: number, policy: MethodPolicy, variant: BoVariant) {
  const w = new World(2, trace);
  const dev = new BoDevice(w.k, { variant });
  const bo = dev.createBo('bo0', pages);
  const gpu = new Gpu(w.k, dev, 1);
  gpu.addBo(bo, resources);
  gpu.onCopy = (b, page) => w.deliver([b.offset + page], 'gpu');
  const a = w.map('A', dev.mapping, bo.offset, pages, { shared: true, write: true });
  gpu.submitNow(() => policy); // tracker created (MKWRITE: everything write-protected)
  return { w, dev, bo, gpu, a };
}

export const vmwgfxMkwrite: ModelDef = {
  name: 'vmwgfx-mkwrite',
  description:
    'vmwgfx MKWRITE tracking end to end (driver code): a CPU writes a buffer object while the GPU submits ' +
    '(validation scan: wp of the window; then transfer_to_res consumes the bits and uploads). Checks that every ' +
    'write reaches device memory (P2, P14). The submission only reads the resource unless the variant says ' +
    'otherwise (a dirtying submission zaps the CPU PTEs first: vmw_bo_dirty_unmap)',
  variants: [
    v(
      'mainline',
      'fail',
      'a read-only submission (the GPU reads the resource): vmw_bo_vm_mkwrite sets the bit and drops the ' +
        'reservation before finish_mkwrite_fault makes the PTE writable; a submission in between consumes the bit, ' +
        'the write then lands untracked (the mkwrite window, see model mkwrite-window)',
      'no-lost-write',
    ),
    v(
      'pagetable',
      'pass',
      'the same workload with the PAGETABLE method: the hardware dirty bit records the write, mkwrite records nothing, no window',
    ),
    v(
      'mkwrite-locked',
      'pass',
      'proposed fix on the driver code: vmw_bo_vm_mkwrite keeps the reservation until the PTE is writable (model extension VmOps.pfnMkwriteDone)',
    ),
    v(
      'dirtying-submit',
      'pass',
      'mainline driver, but the submission writes the resource: vmw_resource_do_validate zaps its CPU PTEs ' +
        '(vmw_bo_dirty_unmap) before transfer_to_res, so a write fault in the window finds its PTE gone, refaults and ' +
        'records the page again: the window is closed for dirtying submissions',
    ),
    v(
      'scan-fix',
      'pass',
      'a fix the driver can make alone: the MKWRITE scan write-protects page by page and a page whose own ' +
        'write-protect changed no PTE keeps its bit (reported now, and again at the next scan); one mapping',
    ),
    v(
      'scan-fix-two-mappings',
      'fail',
      'scan-fix with a second process mapping the same BO page, writable after an earlier write: its PTE makes the ' +
        "page's write-protect change one PTE while the first process's write fault is still between pfn_mkwrite and " +
        'finish_mkwrite_fault, so the bit is cleared and that write lands untracked',
      'no-lost-write',
    ),
  ],
  create(variant, { trace }) {
    const driverVariant: BoVariant =
      variant === 'mkwrite-locked'
        ? 'mkwrite-locked'
        : variant.startsWith('scan-fix')
          ? 'scan-fix'
          : 'mainline';
    const policy: MethodPolicy = variant === 'pagetable' ? 'pagetable' : 'mkwrite';
    const { w, dev, bo, gpu, a } = boWorld(trace, 2, 1, policy, driverVariant);
    if (variant === 'scan-fix-two-mappings') {
      const b = w.map('B', dev.mapping, bo.offset, bo.pages, { shared: true, write: true });
      w.setupStore(1, b, 0); // B's PTE writable+dirty, page 0's bit set
      w.setupLoad(0, a, 0); // A's PTE present, read-only (MKWRITE)
    }
    w.writer('writer', 0, a, [0]);
    w.spawn(
      'gpu',
      1,
      gpu.submit(() => policy, variant === 'dirtying-submit'),
    );
    return w.instance(() => {
      gpu.submitNow();
      return w.checkDelivered();
    });
  },
};

export const vmwgfxTransfer: ModelDef = {
  name: 'vmwgfx-transfer',
  description:
    'Two resources share one buffer object (PAGETABLE tracking); each submission transfers the dirty bits to the ' +
    'resources, which upload their own pages. Spec quirk Q5: the max-instead-of-min clamp let one resource clear ' +
    "another's bits (P6): that resource's write never reaches the GPU",
  variants: [
    v('mainline', 'pass', 'vmwgfx today (clamp with min, fixed May 2026)'),
    v(
      'transfer-max-bug',
      'fail',
      'vmw_bo_dirty_transfer_to_res before the May 2026 fix: upper clamp with max',
      'no-lost-write',
    ),
  ],
  create(variant, { trace }) {
    const { w, gpu, a } = boWorld(
      trace,
      2,
      2,
      'pagetable',
      variant === 'transfer-max-bug' ? 'transfer-max-bug' : 'mainline',
    );
    w.writer('writer', 0, a, [0, 1]);
    w.spawn(
      'gpu',
      1,
      gpu.submit(() => 'pagetable'),
    );
    return w.instance(() => {
      gpu.submitNow();
      return w.checkDelivered();
    });
  },
};

export const fbDefio: ModelDef = {
  name: 'fb-defio',
  description:
    'fbdev deferred I/O (driver code): a process writes the framebuffer; page_mkwrite queues the page, locks it ' +
    'and schedules the work; the worker write-protects each queued page (mapping_wrprotect_range) and hands the ' +
    'list to the display. Every write must reach the display (P12)',
  variants: [
    v(
      'mainline',
      'fail',
      'the worker since Feb 2025 (no page lock): spec quirk Q3, it can run between page_mkwrite and the PTE ' +
        'becoming writable, dequeue the page, and the write then lands with no further fault',
      'no-lost-write',
    ),
    v(
      'page-lock',
      'pass',
      'the worker before Feb 2025 takes the page lock around the write-protect, which waits for the PTE update',
    ),
  ],
  create(variant, { trace }) {
    const w = new World(2, trace);
    const clock = new SimClock();
    const fb = new FbDeferredIo(w.k, {
      pages: 1,
      clock,
      variant: variant === 'page-lock' ? 'page-lock' : 'mainline',
    });
    const display = new Display(w.k, fb);
    display.onCopy = (p) => w.deliver([p], 'display');
    fb.open();
    const a = w.map('A', fb.mapping, 0, 1, { shared: true, write: true });
    let writerDone = false;
    w.writer('writer', 0, a, [0]);
    // The delayed work as a kworker task: it runs whenever the work is pending (the delay is time,
    // which the checker abstracts into "any later point"), at most twice.
    const pendingOrDone: Wait = { waitingFor: 'delayed work', ready: () => fb.workPending || writerDone };
    const writerTask = w.tasks[w.tasks.length - 1]!;
    const body = writerTask.body;
    (w.tasks as unknown[])[w.tasks.length - 1] = {
      ...writerTask,
      body: (function* () {
        yield* body;
        writerDone = true;
      })(),
    };
    w.spawn(
      'kworker',
      1,
      (function* (): KGen<void> {
        for (let round = 0; round < 2; round++) {
          while (!fb.workPending && !writerDone) yield pendingOrDone;
          if (!fb.workPending) return;
          fb.workPending = false;
          yield* fb.deferredWork();
        }
      })(),
    );
    return w.instance(() => {
      fb.release(); // last close: flush_delayed_work
      return w.checkDelivered();
    });
  },
};

export const DRIVER_MODELS: ModelDef[] = [vmwgfxMkwrite, vmwgfxTransfer, fbDefio];
