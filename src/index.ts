/**
 * dirtyscope: an executable, bit-accurate model of how Linux tracks pages written through shared
 * mappings. This is the public facade; the CLI (`dirtyscope`) is a thin layer over it.
 *
 * Layers (DESIGN.md): hw (the machine) <- mm (the Linux model) <- drivers (vmwgfx, fbdev
 * deferred I/O) <- models / workload / linux; checker and trace are leaves.
 */

export { asModelDef, isModelPath, loadModelFile, ModelLoadError } from './api/load.ts';
// The public model API (also `dirtyscope/model`): the harness, tasks, footprints and properties
// a user's model is written with, and the loader `dirtyscope check ./model.ts` uses.
export * from './api/model.ts';
// The checker and its catalogue.
export { check, replay } from './checker/check.ts';
export type { ModelDef, ModelInstance, Violation } from './checker/model.ts';
export type { CheckResult, ReplayResult } from './checker/result.ts';
export { type KGen, runToCompletion } from './checker/task.ts';
// The machine.
export { type CounterSnapshot, Counters } from './hw/counters.ts';
export { Cpu } from './hw/cpu.ts';
export { PhysMem } from './hw/physmem.ts';
export * as pte from './hw/pte.ts';
export { SecondaryMmu } from './hw/secondary-mmu.ts';
export { StoreLog } from './hw/storelog.ts';
export { Tlb, type TlbConfig } from './hw/tlb.ts';
// Litmus files (also `dirtyscope/litmus`).
export {
  LITMUS_VERSION,
  type LitmusFile,
  LitmusFormatError,
  litmusModel,
  parseLitmus,
  readLitmusFile,
  runLitmusSuite,
  type SuiteRow,
} from './litmus/index.ts';
// The Linux model.
export { AddressSpace } from './mm/address-space.ts';
export * as bitmap from './mm/bitmap.ts';
export { Kernel, type KernelConfig, KTask } from './mm/kernel.ts';
export { Mutex, Rwsem, Spinlock } from './mm/locks.ts';
export {
  type BitmapWindow,
  cleanRecordSharedMappingRange,
  createDirtyHelpers,
  type DirtyHelpers,
  HELPER_VARIANT_NAMES,
  HELPER_VARIANTS,
  type HelperVariantName,
  wpSharedMappingRange,
} from './mm/mapping-dirty-helpers.ts';
export {
  handleMmFault,
  storeFast,
  userLoad8,
  userStore8,
  vmfInsertMixed,
  vmfInsertPfnProt,
} from './mm/memory.ts';
export * from './mm/mm-types.ts';
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
} from './mm/mmap.ts';
export { type MmuNotifierSubscription, mmuNotifierRegister } from './mm/mmu-notifier.ts';
export {
  type MmWalk,
  type MmWalkOps,
  PageWalkAction,
  walkPageMapping,
  walkPageRange,
  walkPageVma,
} from './mm/pagewalk.ts';
export { folioMkclean, mappingWrprotectRange, pfnMkcleanRange } from './mm/rmap.ts';
export { flushTlbRange, mmTlbFlushNested, mmTlbFlushPending } from './mm/tlbflush.ts';
export { MODELS } from './models/catalogue.ts';

// Traces.
export type { Trace, TraceEvent } from './trace/schema.ts';
export { TRACE_VERSION } from './trace/schema.ts';
export { TraceSink } from './trace/sink.ts';
