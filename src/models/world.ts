/**
 * Shared harness for the checker's models: a small machine (2-3 CPUs, a few pages, 1-2 mms), a
 * device file whose driver tracks writes (MKWRITE: pfn_mkwrite sets a bit under the tracker
 * lock; PAGETABLE: writable PTEs, hardware dirty bits), tasks wrapped so the kernel knows who
 * runs, and the ground-truth properties of spec 11.1 checked against the store log.
 */
import type { ModelInstance, ModelTask, Violation } from '../checker/model.ts';
import { type KGen, runToCompletion } from '../checker/task.ts';
import { entryIndexAt } from '../hw/pagetable.ts';
import { LEVEL_PTE, PTE_RW } from '../hw/pte.ts';
import { SecondaryMmu } from '../hw/secondary-mmu.ts';
import { TLBF_WRITABLE } from '../hw/tlb.ts';
import { AddressSpace } from '../mm/address-space.ts';
import { bitmapAlloc, clearBit, setBit, testBit } from '../mm/bitmap.ts';
import { Kernel, KTask } from '../mm/kernel.ts';
import { Mutex } from '../mm/locks.ts';
import { userLoad8, userStore8, vmfInsertPfnProt, vmGetPageProt } from '../mm/memory.ts';
import {
  type MmStruct,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_IO,
  VM_MAYWRITE,
  VM_PFNMAP,
  VM_SHARED,
  type Vma,
  type VmOps,
  vmFlagNames,
} from '../mm/mm-types.ts';
import { doMmap, mmCreate, PROT_READ, PROT_WRITE, switchMm } from '../mm/mmap.ts';
import { mmuNotifierRegister } from '../mm/mmu-notifier.ts';
import type { TraceSetup } from '../trace/schema.ts';
import { TraceSink } from '../trace/sink.ts';

export type TrackMethod = 'mkwrite' | 'pagetable';

/** A device driver in the style of vmwgfx, reduced to what the helper models need. */
export class TrackerDevice {
  readonly file: AddressSpace;
  readonly pfnBase: number;
  readonly bitmap: Uint32Array;
  readonly lock: Mutex;
  readonly ops: VmOps;

  constructor(
    readonly w: World,
    readonly pages: number,
    public method: TrackMethod,
    /**
     * Proposed fix for the mkwrite window: keep the tracker lock from pfn_mkwrite until the PTE
     * is writable (model extension `pfnMkwriteDone`), so no scan can consume the bit in between.
     */
    readonly mkwriteLocked = false,
    /** Proposed fix for Q10: record dirty PFN PTEs when a zap discards them (`zapDirtyPfn`). */
    readonly zapRecords = false,
  ) {
    const k = w.k;
    this.file = new AddressSpace(k, 'dev', false, pages);
    this.pfnBase = k.mem.allocIo(pages);
    this.bitmap = bitmapAlloc(pages);
    this.lock = new Mutex(k, 'tracker lock');
    const dev = this;
    this.ops = Object.freeze({
      name: 'tracker',
      *fault(kk: Kernel, vmf: import('../mm/mm-types.ts').VmFault): KGen<number> {
        // A plain blocking lock: this stands for any tracking driver, not TTM (whose fault path
        // trylocks and may return VM_FAULT_RETRY: BoDevice.vmFault models that).
        yield* dev.lock.lock();
        const prot =
          dev.method === 'mkwrite' ? vmGetPageProt(vmf.vma.flags & ~VM_SHARED) : vmGetPageProt(vmf.vma.flags);
        const r = yield* vmfInsertPfnProt(kk, vmf.vma, vmf.address, dev.pfnBase + vmf.pgoff, prot);
        dev.lock.unlock();
        return r;
      },
      *pfnMkwrite(_kk: Kernel, vmf: import('../mm/mm-types.ts').VmFault): KGen<number> {
        yield* dev.lock.lock();
        if (dev.method === 'mkwrite') dev.record(vmf.pgoff);
        if (!mkwriteLocked) dev.lock.unlock();
        return 0;
      },
      ...(mkwriteLocked ? { pfnMkwriteDone: () => dev.lock.unlock() } : {}),
      ...(zapRecords ? { zapDirtyPfn: (_kk: Kernel, _vma: Vma, pgoff: number) => dev.record(pgoff) } : {}),
    });
    this.file.mmapHook = (_kk, vma) => {
      if ((vma.flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE) return -22; // TTM refuses COW mappings
      vma.flags |= VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP;
      vma.ops = dev.ops;
      return 0;
    };
  }

  record(page: number): void {
    setBit(this.bitmap, page);
    const t = this.w.k.trace;
    if (t !== null) t.emit({ kind: 'bitmapSet', owner: 'tracker', index: page, start: 0, end: this.pages });
  }

  /** The consumer takes every set bit (caller holds `lock`): clears them and records the delivery. */
  consume(): number[] {
    const got: number[] = [];
    for (let p = 0; p < this.pages; p++) {
      if (testBit(this.bitmap, p)) {
        clearBit(this.bitmap, p);
        got.push(p);
      }
    }
    this.w.deliver(got, 'gpu');
    return got;
  }
}

/** A model world: kernel, mms, tasks, ground truth. */
export class World {
  readonly k: Kernel;
  readonly tasks: ModelTask[] = [];
  readonly mms: MmStruct[] = [];
  readonly vmas: Vma[] = [];
  /** For each file page: store-log length at the last delivery to the consumer (-1: never). */
  readonly deliveredAt = new Map<number, number>();
  private violation: Violation | null = null;
  readonly trace: TraceSink | null;

  constructor(cpus: number, trace: boolean) {
    this.trace = trace ? new TraceSink() : null;
    // Small TLBs keep instance creation cheap: models touch a handful of pages.
    this.k = new Kernel({
      cpus,
      explore: true,
      trace: this.trace,
      storeLog: true,
      tlb: { entries: 16, ways: 4, replacement: 'lru' },
    });
  }

  /** Map `file` in a new mm at pgoff, shared/private, fd writable or not. */
  map(
    name: string,
    file: AddressSpace,
    pgoff: number,
    pages: number,
    opts: { shared: boolean; write: boolean; fdWritable?: boolean },
  ): Vma {
    const mm = mmCreate(this.k, name);
    this.mms.push(mm);
    const v = runToCompletion(
      doMmap(this.k, mm, file, {
        length: pages * 4096,
        prot: PROT_READ | (opts.write ? PROT_WRITE : 0),
        shared: opts.shared,
        pgoff,
        fdWritable: opts.fdWritable ?? true,
      }),
    );
    if (typeof v === 'number') throw new Error(`model setup: mmap failed with ${v}`);
    this.vmas.push(v);
    return v;
  }

  /** Run a store during setup (fast, not a checked step). */
  setupStore(cpu: number, vma: Vma, page: number, value = 1): void {
    switchMm(this.k, cpu, vma.mm);
    const r = runToCompletion(userStore8(this.k, this.k.cpus[cpu]!, vma.mm, vma.addrOf(page), value));
    if (r !== 0) throw new Error(`model setup: store faulted fatally (${r})`);
  }

  /** Run a load during setup (fast, not a checked step): maps the page as its fault handler does. */
  setupLoad(cpu: number, vma: Vma, page: number): void {
    switchMm(this.k, cpu, vma.mm);
    const r = runToCompletion(userLoad8(this.k, this.k.cpus[cpu]!, vma.mm, vma.addrOf(page)));
    if (r < 0) throw new Error(`model setup: load faulted fatally (${-r})`);
  }

  /** Add a task; `body` runs with the kernel's current task set to it on every resume. */
  spawn(name: string, cpu: number, body: KGen<unknown>): void {
    const kt = new KTask(name, cpu);
    const k = this.k;
    function* wrapped(): Generator<import('../checker/task.ts').Yield, void, undefined> {
      for (;;) {
        k.setCurrent(kt);
        const r = body.next();
        if (r.done === true) return;
        yield r.value;
      }
    }
    this.tasks.push({ name, cpu, body: wrapped(), ctx: kt.ctx });
  }

  /** A user thread of `vma.mm` on `cpu` storing to file pages in order. */
  writer(name: string, cpu: number, vma: Vma, pages: number[], onFatal?: (r: number) => void): void {
    const k = this.k;
    const w = this;
    this.spawn(
      name,
      cpu,
      (function* () {
        switchMm(k, cpu, vma.mm);
        for (const p of pages) {
          const r = yield* userStore8(k, k.cpus[cpu]!, vma.mm, vma.addrOf(p), 1 + (p % 200));
          if (r !== 0) {
            if (onFatal) onFatal(r);
            else
              w.fail({ property: 'crash', message: `${name}: store to page ${p} got a fatal fault (${r})` });
            return;
          }
        }
      })(),
    );
  }

  /** Record that the consumer received `pages` now. */
  deliver(pages: number[], consumer: string): void {
    const now = this.k.storeLog!.length;
    for (const p of pages) this.deliveredAt.set(p, now);
    if (this.trace !== null) this.trace.emit({ kind: 'consumerSync', consumer, pages });
  }

  fail(v: Violation): void {
    if (this.violation === null) {
      this.violation = v;
      if (this.trace !== null)
        this.trace.emit({
          kind: 'violation',
          property: v.property,
          message: v.message,
          ...(v.pages ? { pages: v.pages } : {}),
        });
    }
  }

  /** File page written by store-log entry i (via the mm + vpn -> VMA). */
  storePage(i: number): number {
    const log = this.k.storeLog!;
    const mmId = log.mm[i]!;
    const va = log.vpn[i]! * 4096;
    for (const v of this.vmas) if (v.mm.id === mmId && va >= v.start && va < v.end) return v.pgoffOf(va);
    return -1;
  }

  /**
   * P1/P2/P12 "no lost write": every store that completed has been delivered to the consumer
   * by a sync that began after it. `pages` restricts the check (e.g. to shared pages).
   */
  checkDelivered(pages?: (p: number) => boolean): Violation | null {
    const log = this.k.storeLog!;
    const lost = new Set<number>();
    for (let i = 0; i < log.length; i++) {
      const p = this.storePage(i);
      if (p < 0 || (pages !== undefined && !pages(p))) continue;
      if ((this.deliveredAt.get(p) ?? -1) <= i) lost.add(p);
    }
    if (lost.size === 0) return null;
    const list = [...lost].sort((a, b) => a - b);
    return {
      property: 'no-lost-write',
      message: `a write to page ${list.join(', ')} completed but never reached the consumer: no later sync saw its bit or dirty PTE`,
      pages: list,
    };
  }

  /**
   * P3 "wp-complete": no qualifying PTE for file pages [first, first+nr) is writable, and no CPU
   * TLB or secondary MMU holds a writable translation for them.
   */
  checkWpComplete(file: AddressSpace, first: number, nr: number): Violation | null {
    const k = this.k;
    for (const v of this.vmas) {
      if (v.file !== file || (v.flags & (VM_SHARED | VM_MAYWRITE)) !== (VM_SHARED | VM_MAYWRITE)) continue;
      for (let p = Math.max(first, v.pgoff); p < Math.min(first + nr, v.pgoff + v.pages); p++) {
        const va = v.addrOf(p);
        const vpn = va / 4096;
        const i = entryIndexAt(k.mem, v.mm.root, vpn, LEVEL_PTE, k.levels, false);
        if (i >= 0 && (k.mem.ptLo[i]! & PTE_RW) !== 0)
          return {
            property: 'wp-complete',
            message: `after wp_shared_mapping_range returned, the PTE of page ${p} in mm${v.mm.id} is still writable`,
            pages: [p],
          };
        for (const c of k.cpus) {
          const s = c.tlb.peek(v.mm.id, vpn);
          if (s >= 0 && (c.tlb.flags[s]! & TLBF_WRITABLE) !== 0)
            return {
              property: 'wp-complete',
              message: `after wp_shared_mapping_range returned, cpu${c.id} still caches page ${p} of mm${v.mm.id} writable (no flush reached it)`,
              pages: [p],
            };
        }
        for (const d of k.devices)
          if (d.holdsWritable(v.mm.id, va))
            return {
              property: 'wp-complete',
              message: `after wp_shared_mapping_range returned, device ${d.id} still holds a writable translation of page ${p} (no mmu notifier invalidated it)`,
              pages: [p],
            };
      }
    }
    return null;
  }

  /** Attach a secondary MMU bound to `mm`, invalidated by mmu-notifier range starts (KVM-like). */
  addDevice(mm: MmStruct): SecondaryMmu {
    const d = new SecondaryMmu(this.k.devices.length, this.k.mem, this.k.counters);
    this.k.addDevice(d);
    d.bind(mm.id, mm.root);
    mmuNotifierRegister(mm, {
      name: `dev${d.id}`,
      invalidateRangeStart: (r) => {
        d.invalidationsInProgress++;
        d.invalidateRange(r.mm.id, r.start, r.end);
      },
      invalidateRangeEnd: () => {
        d.invalidationsInProgress--;
      },
    });
    return d;
  }

  setup(): TraceSetup {
    return {
      cpus: this.k.cpus.length,
      mms: Object.fromEntries(this.mms.map((m) => [String(m.id), m.name])),
      devices: this.k.devices.map((d) => `dev:${d.id}`),
      vmas: this.vmas.map((v) => ({
        mm: v.mm.id,
        start: v.start,
        end: v.end,
        pgoff: v.pgoff,
        flags: vmFlagNames(v.flags),
      })),
      pageSize: 4096,
    };
  }

  private readonly guards: Array<() => Violation | null> = [];

  /**
   * Invariant checked after every step: the low word of page-table entry `ptep` (flat index)
   * keeps the value it has now; else `property` fails with `message(before, now)`.
   */
  guardEntryUnchanged(
    ptep: number,
    property: string,
    page: number,
    message: (before: number, now: number) => string,
  ): void {
    const mem = this.k.mem;
    const before = mem.ptLo[ptep]!;
    this.guards.push(() => {
      const now = mem.ptLo[ptep]!;
      return now === before ? null : { property, message: message(before, now), pages: [page] };
    });
  }

  /** The ModelInstance: per-step check returns the first recorded violation. */
  instance(final: () => Violation | null): ModelInstance {
    if (this.trace !== null) this.trace.ctx = { task: 'init', cpu: -1, fn: '' };
    return {
      tasks: this.tasks,
      trace: this.trace,
      setup: this.setup(),
      checkStep: () => {
        for (const g of this.guards) {
          const v = g();
          if (v !== null) this.fail(v);
        }
        return this.violation;
      },
      checkFinal: () => {
        if (this.violation !== null) return this.violation;
        const setupTask = new KTask('final', -1);
        this.k.setCurrent(setupTask);
        const v = final();
        if (v !== null) this.fail(v);
        return v;
      },
    };
  }
}
