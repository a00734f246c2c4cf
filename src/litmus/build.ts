/**
 * A litmus file as a checkable model: the interpreter builds each execution from the public model
 * API only (`../api/model.ts`, what `dirtyscope/model` exports), exactly as a TypeScript model
 * would. Steps map one to one onto the catalogue's building blocks (a `scan` step is the
 * catalogue's driver scan round), so a litmus file that restates a catalogue model explores the
 * same executions (tested: same verdicts and execution counts).
 */
import {
  createDirtyHelpers,
  type DirtyHelpers,
  doMprotect,
  doMunmap,
  FAULT_FLAG_USER,
  FAULT_FLAG_WRITE,
  type HelperVariantName,
  handleMmFault,
  type KGen,
  type ModelDef,
  type ModelInstance,
  madviseDontneed,
  mappingWrprotectRange,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  properties,
  runToCompletion,
  type SecondaryMmu,
  switchMm,
  TrackerDevice,
  userLoad8,
  userStore8,
  type Violation,
  VM_FAULT_ERROR,
  type Vma,
  World,
} from '../api/model.ts';
import type { LitmusFile, LitmusStep } from './schema.ts';

type Variant = LitmusFile['variants'][number];

/** Everything a step needs in one execution. */
interface Ctx {
  readonly w: World;
  readonly dev: TrackerDevice;
  readonly h: DirtyHelpers;
  readonly vmas: ReadonlyMap<string, Vma>;
  readonly mmus: readonly SecondaryMmu[];
  readonly variant: string;
  readonly pages: number;
}

const PROT = { none: PROT_NONE, r: PROT_READ, rw: PROT_READ | PROT_WRITE } as const;

function active(s: LitmusStep, variant: string): boolean {
  if (s.only !== undefined && !s.only.includes(variant)) return false;
  if (s.except?.includes(variant)) return false;
  return true;
}

/** The catalogue's driver scan round (MKWRITE: wp + consume; PAGETABLE: [wp +] clean_record + consume). */
function* scan(c: Ctx, check: boolean, wpFirst: boolean): KGen<void> {
  const { w, dev, h } = c;
  yield* dev.lock.lock();
  if (dev.method === 'mkwrite') {
    yield* h.wpSharedMappingRange(w.k, dev.file, 0, dev.pages);
    if (check) {
      const bad = properties.wpComplete(w, dev.file, 0, dev.pages);
      if (bad) w.fail(bad);
    }
  } else {
    if (wpFirst) yield* h.wpSharedMappingRange(w.k, dev.file, 0, dev.pages);
    const win = { start: dev.pages, end: 0 };
    yield* h.cleanRecordSharedMappingRange(w.k, dev.file, 0, dev.pages, 0, dev.bitmap, win, 'tracker');
  }
  dev.consume();
  dev.lock.unlock();
}

/**
 * Run one step on `cpu` (-1: no CPU). Returns false when the task must stop (a fatal fault with
 * `onFault: "stop"`, or a crash already reported).
 */
function* step(c: Ctx, s: LitmusStep, cpu: number, who: string, setup = false): KGen<boolean> {
  const { w, dev, h } = c;
  const k = w.k;
  const vma = 'mapping' in s ? c.vmas.get(s.mapping)! : undefined;
  if (vma !== undefined && cpu >= 0 && s.op !== 'device-store') switchMm(k, cpu, vma.mm);
  switch (s.op) {
    case 'store': {
      const r = yield* userStore8(
        k,
        k.cpus[cpu]!,
        vma!.mm,
        vma!.addrOf(s.page),
        s.value ?? 1 + (s.page % 200),
      );
      if (r === 0) return true;
      if (s.onFault !== 'stop')
        w.fail({ property: 'crash', message: `${who}: store to page ${s.page} got a fatal fault (${r})` });
      return false;
    }
    case 'load': {
      yield* userLoad8(k, k.cpus[cpu]!, vma!.mm, vma!.addrOf(s.page));
      return true;
    }
    case 'fault': {
      const r = yield* handleMmFault(
        k,
        vma!.mm,
        vma!.addrOf(s.page),
        FAULT_FLAG_USER | (s.write ? FAULT_FLAG_WRITE : 0),
      );
      return (r & VM_FAULT_ERROR) === 0;
    }
    case 'wp': {
      const first = s.first ?? 0;
      const nr = s.nr ?? c.pages - first;
      yield* h.wpSharedMappingRange(k, dev.file, first, nr);
      if (s.check === true) {
        const bad = properties.wpComplete(w, dev.file, first, nr);
        if (bad) w.fail(bad);
      }
      return true;
    }
    case 'clean': {
      const first = s.first ?? 0;
      const nr = s.nr ?? c.pages - first;
      const win = { start: c.pages, end: 0 };
      yield* h.cleanRecordSharedMappingRange(k, dev.file, first, nr, 0, dev.bitmap, win, 'tracker');
      return true;
    }
    case 'wrprotect': {
      const first = s.first ?? 0;
      yield* mappingWrprotectRange(k, dev.file, first, dev.pfnBase + first, s.nr ?? c.pages - first);
      return true;
    }
    case 'lock':
      yield* dev.lock.lock();
      return true;
    case 'unlock':
      dev.lock.unlock();
      return true;
    case 'consume':
      dev.consume();
      return true;
    case 'scan':
      yield* scan(c, s.check === true, s.wpFirst === true);
      return true;
    case 'mprotect':
      yield* doMprotect(k, vma!.mm, vma!.addrOf(s.page), (s.pages ?? 1) * 4096, PROT[s.prot]);
      return true;
    case 'munmap':
      yield* doMunmap(k, vma!.mm, vma!.addrOf(s.page), (s.pages ?? 1) * 4096);
      return true;
    case 'madvise-dontneed':
      yield* madviseDontneed(k, vma!.mm, vma!.addrOf(s.page), (s.pages ?? 1) * 4096);
      return true;
    case 'device-store': {
      // Non-zero: the device must request a fault (its translation is gone or read-only); during
      // setup that means the model is broken, during the race it is the expected outcome.
      const r = c.mmus[s.device]!.store8(vma!.mm.id, vma!.addrOf(s.page), s.value ?? 1 + (s.page % 200));
      return !setup || r === 0;
    }
    case 'yield':
      yield undefined;
      return true;
  }
}

function* task(c: Ctx, steps: readonly LitmusStep[], cpu: number, who: string): KGen<void> {
  for (const s of steps) {
    if (!active(s, c.variant)) continue;
    if (!(yield* step(c, s, cpu, who))) return;
  }
}

/** One fresh execution of variant `v`. */
function instance(l: LitmusFile, v: Variant, trace: boolean): ModelInstance {
  const m = l.machine;
  const w = new World(m.cpus, trace);
  const dev = new TrackerDevice(
    w,
    m.driver.pages,
    m.driver.tracking,
    v.mkwriteLocked === true,
    v.zapRecords === true,
  );
  const vmas = new Map<string, Vma>();
  for (const mp of m.mappings)
    vmas.set(
      mp.name,
      w.map(mp.name, dev.file, mp.pgoff ?? 0, mp.pages, {
        shared: mp.shared,
        write: mp.write,
        fdWritable: mp.fdWritable ?? true,
      }),
    );
  const c: Ctx = {
    w,
    dev,
    h: createDirtyHelpers((v.helpers ?? 'mainline') as HelperVariantName),
    vmas,
    mmus: (m.secondaryMmus ?? []).map((name) => w.addDevice(vmas.get(name)!.mm)),
    variant: v.name,
    pages: m.driver.pages,
  };
  for (const [i, s] of (l.setup ?? []).entries()) {
    if (!active(s.step, v.name)) continue;
    // Setup runs to completion before the race; anything fatal there is a broken model.
    if (!runToCompletion(step(c, s.step, s.cpu ?? 0, 'setup', true)))
      throw new Error(`litmus ${l.name}: setup step ${i} (${s.step.op}) failed`);
  }
  for (const t of l.tasks) w.spawn(t.name, t.cpu, task(c, t.steps, t.cpu, t.name));
  const finalSteps = l.final?.steps ?? [];
  const finalCheck = l.final?.check ?? 'no-lost-write';
  return w.instance((): Violation | null => {
    runToCompletion(task(c, finalSteps, 0, 'final'));
    return finalCheck === 'none' ? null : properties.noLostWrite(w);
  });
}

/** The litmus file as a {@link ModelDef} the checker (and `dirtyscope check/replay`) can run. */
export function litmusModel(l: LitmusFile): ModelDef {
  return {
    name: l.name,
    description: l.description,
    variants: l.variants.map((v) => ({
      name: v.name,
      description: v.description ?? `${l.name} with helpers ${v.helpers ?? 'mainline'}`,
      expected:
        v.expect.property === undefined
          ? { verdict: v.expect.verdict }
          : { verdict: v.expect.verdict, property: v.expect.property },
    })),
    ...(l.checkDefaults?.preemptionBound === undefined
      ? {}
      : { checkDefaults: { preemptionBound: l.checkDefaults.preemptionBound } }),
    create(variant, { trace }) {
      const v = l.variants.find((x) => x.name === variant);
      if (v === undefined) throw new Error(`litmus ${l.name} has no variant ${variant}`);
      return instance(l, v, trace);
    },
  };
}
