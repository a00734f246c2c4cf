/**
 * `dirtyscope/model`: everything needed to write a checkable model of your own code racing the
 * Linux dirty-tracking helpers, and check it with `dirtyscope check ./my-model.ts` (or `.js`).
 *
 * A model is a {@link ModelDef}: a name, named {@link VariantDef variants} (each with the verdict
 * you expect), and `create(variant, {trace})`, which builds ONE fresh execution: a small machine
 * (the {@link World} harness: kernel, CPUs, mms, mappings, devices), a few tasks (generator
 * functions that `yield` wherever another task could interleave), and the property to check at
 * the end ({@link properties}). The checker then explores the interleavings of those tasks.
 *
 * ```ts
 * import { defineModel, World, TrackerDevice, properties } from 'dirtyscope/model';
 * export default defineModel({
 *   name: 'my-driver',
 *   description: 'what the model shows',
 *   variants: [{ name: 'mainline', description: 'as written', expected: { verdict: 'pass' } }],
 *   create(variant, { trace }) {
 *     const w = new World(2, trace);
 *     // ... map a file, spawn tasks with w.spawn / w.writer ...
 *     return w.instance(() => properties.noLostWrite(w));
 *   },
 * });
 * ```
 *
 * `examples/my-driver.model.ts` is a complete worked example; docs/models.md ("Write your own
 * model") walks through it. The catalogue's own models (src/models) are built from these pieces.
 *
 * @module
 */
import type { ModelDef, Violation } from '../checker/model.ts';
import type { AddressSpace } from '../mm/address-space.ts';
import type { World } from '../models/world.ts';

// ---------------------------------------------------------------------------------------------
// The checker contract: what a model is, what a task yields.
// ---------------------------------------------------------------------------------------------
export type { ModelDef, ModelInstance, ModelTask, VariantDef, Violation } from '../checker/model.ts';
export type { CheckResult, Counterexample, ReplayResult, Strategy } from '../checker/result.ts';
export { access, type KGen, runToCompletion, type TaskBody, type Wait, type Yield } from '../checker/task.ts';
// ---------------------------------------------------------------------------------------------
// The two driver clients (built from the driver code in src/drivers) and their consumers.
// ---------------------------------------------------------------------------------------------
export { BO_VARIANTS, BoDevice, type BoVariant, type MethodPolicy } from '../drivers/bo-dirty.ts';
export { SimClock } from '../drivers/clock.ts';
export { Display, Gpu } from '../drivers/consumers.ts';
export { DEFIO_VARIANTS, type DefioVariant, FbDeferredIo } from '../drivers/deferred-io.ts';
// ---------------------------------------------------------------------------------------------
// The machine (hw) and the Linux model (mm) a model's tasks call.
// ---------------------------------------------------------------------------------------------
export { Counters } from '../hw/counters.ts';
export { Cpu } from '../hw/cpu.ts';
export { entryIndexAt } from '../hw/pagetable.ts';
export {
  LEVEL_P4D,
  LEVEL_PGD,
  LEVEL_PMD,
  LEVEL_PTE,
  LEVEL_PUD,
  PAGE_SIZE,
  PTE_ACCESSED,
  PTE_DIRTY,
  PTE_PRESENT,
  PTE_RW,
  PTE_SPECIAL,
} from '../hw/pte.ts';
export { SecondaryMmu } from '../hw/secondary-mmu.ts';
export { StoreLog } from '../hw/storelog.ts';
export { TLBF_DIRTY, TLBF_VALID, TLBF_WRITABLE } from '../hw/tlb.ts';
export { AddressSpace } from '../mm/address-space.ts';
export { bitmapAlloc, bitmapToList, clearBit, findNextBit, setBit, testBit } from '../mm/bitmap.ts';
export { insertPfnPmd } from '../mm/huge.ts';
export { Kernel, type KernelConfig, KTask } from '../mm/kernel.ts';
export { Mutex, Rwsem, Spinlock } from '../mm/locks.ts';
export {
  type BitmapWindow,
  createDirtyHelpers,
  type DirtyHelpers,
  HELPER_VARIANT_NAMES,
  HELPER_VARIANTS,
  type HelperVariantName,
} from '../mm/mapping-dirty-helpers.ts';
export {
  handleMmFault,
  userLoad8,
  userStore8,
  vmfInsertMixed,
  vmfInsertPfnProt,
  vmGetPageProt,
} from '../mm/memory.ts';
export {
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  type MmStruct,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_FAULT_ERROR,
  VM_FAULT_NOPAGE,
  VM_FAULT_SIGBUS,
  VM_IO,
  VM_MAYSHARE,
  VM_MAYWRITE,
  VM_MIXEDMAP,
  VM_PFNMAP,
  VM_SHARED,
  VM_WRITE,
  type Vma,
  type VmFault,
  type VmOps,
  vmFlagNames,
} from '../mm/mm-types.ts';
export {
  doMmap,
  doMprotect,
  doMunmap,
  madviseDontneed,
  mmCreate,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  switchMm,
  unmapMappingRange,
} from '../mm/mmap.ts';
export { type MmuNotifierSubscription, mmuNotifierRegister } from '../mm/mmu-notifier.ts';
export { mappingWrprotectRange, pfnMkcleanRange } from '../mm/rmap.ts';
// ---------------------------------------------------------------------------------------------
// The harness: a world (kernel + mms + mappings + tasks + ground truth) and a ready-made tracking
// driver (vmwgfx-style; MKWRITE or PAGETABLE).
// ---------------------------------------------------------------------------------------------
export { TrackerDevice, type TrackMethod, World } from '../models/world.ts';

// ---------------------------------------------------------------------------------------------
// Traces (a model's instance carries a TraceSink when created with `trace: true`).
// ---------------------------------------------------------------------------------------------
export type { TraceSetup } from '../trace/schema.ts';
export { type TraceContext, TraceSink } from '../trace/sink.ts';

/**
 * Identity function that gives a model definition its type, so a plain object literal in a user's
 * module is checked against {@link ModelDef} (and gets editor completion).
 */
export function defineModel(def: ModelDef): ModelDef {
  return def;
}

/**
 * The ground-truth properties (DESIGN.md "What the checker checks", spec 11.1), checked against
 * the store log and the machine state, never against a driver's own bookkeeping. Each returns
 * `null` when the property holds, else the {@link Violation} to report.
 */
export const properties = {
  /**
   * **no-lost-write**: every user store that completed has been delivered to the consumer
   * (`World.deliver`, `TrackerDevice.consume`) by a sync that began after it. Call it at the end
   * of an execution, after the consumer's final sync. `pages` restricts the check to some file
   * pages (e.g. only the shared ones).
   */
  noLostWrite(w: World, pages?: (page: number) => boolean): Violation | null {
    return w.checkDelivered(pages);
  },
  /**
   * **wp-complete**: no writable shared PTE maps file pages `[first, first + nr)`, and no CPU TLB
   * or secondary MMU still caches a writable translation of them. Call it right after
   * `wp_shared_mapping_range` returns (inside the task), and report a failure with `w.fail(v)`.
   */
  wpComplete(w: World, file: AddressSpace, first: number, nr: number): Violation | null {
    return w.checkWpComplete(file, first, nr);
  },
} as const;
