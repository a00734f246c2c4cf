/**
 * The model side of the lab: the ops of lab/PROTOCOL.md answered by the model, with replies of
 * the same shape as the guest agent's, so a differential run compares them field by field.
 *
 * It mirrors lab/module/dslab.c: two devices of {@link LAB_NPAGES} pages with one address space
 * each. `pfn` is the vmwgfx pattern (VM_PFNMAP, `.fault` inserts the page's PFN with the VMA's
 * page protection, `.pfn_mkwrite` records the page); `page` is page-backed (VM_MIXEDMAP,
 * `.fault` hands back the struct page, `.page_mkwrite` records it, locks it and returns
 * VM_FAULT_LOCKED). Both refuse COW mappings (as TTM does) and ranges beyond the device. Each
 * worker process is an mm whose tasks run on CPU `p`; the root process maps nothing.
 *
 * What the model cannot answer the way the guest does (a PFN value, the race op's timing) is
 * normalised by the comparer (compare.ts), not here.
 */
import { runToCompletion } from '../checker/task.ts';
import { entryIndexAt } from '../hw/pagetable.ts';
import { LEVEL_PTE } from '../hw/pte.ts';
import { AddressSpace } from '../mm/address-space.ts';
import { bitmapAlloc, clearBit, setBit, testBit } from '../mm/bitmap.ts';
import { Kernel } from '../mm/kernel.ts';
import { Mutex } from '../mm/locks.ts';
import { createDirtyHelpers, type DirtyHelpers } from '../mm/mapping-dirty-helpers.ts';
import { userLoad8, userStore8, vmfInsertPfnProt } from '../mm/memory.ts';
import {
  type MmStruct,
  VM_DONTDUMP,
  VM_DONTEXPAND,
  VM_FAULT_LOCKED,
  VM_FAULT_SIGBUS,
  VM_IO,
  VM_MAYWRITE,
  VM_MIXEDMAP,
  VM_PFNMAP,
  VM_READ,
  VM_SHARED,
  VM_WRITE,
  type Vma,
  type VmFault,
  type VmOps,
} from '../mm/mm-types.ts';
import {
  doMmap,
  doMprotect,
  doMunmap,
  madviseDontneed,
  mmCreate,
  PROT_READ,
  PROT_WRITE,
  switchMm,
} from '../mm/mmap.ts';
import { mappingWrprotectRange } from '../mm/rmap.ts';
import {
  bitsToHex,
  LAB_NPAGES,
  LAB_SLOTS,
  LAB_WORKERS,
  type LabDev,
  type LabOp,
  type LabProt,
  type LabReply,
} from './protocol.ts';

const EINVAL = 22;
const EEXIST = 17;
const ESRCH = 3;
const EFAULT = 14;
const EBADF = 9;

/** One test device, as lab/module/dslab.c has it. */
class ModelDevice {
  readonly file: AddressSpace;
  readonly base: number;
  readonly shadow: number;
  readonly mbits = bitmapAlloc(LAB_NPAGES);
  readonly cbits = bitmapAlloc(LAB_NPAGES);
  mk = 0;
  dfl = 0;
  readonly ops: VmOps;
  /** The driver's lock (the module's device mutex, like a BO reservation). */
  readonly lock: Mutex;

  constructor(
    readonly k: Kernel,
    readonly kind: LabDev,
  ) {
    this.file = new AddressSpace(k, `dslab_${kind}`, false, LAB_NPAGES);
    this.base = kind === 'pfn' ? k.mem.allocIo(LAB_NPAGES) : k.mem.allocRam(LAB_NPAGES);
    this.shadow = k.mem.allocIo(LAB_NPAGES);
    this.lock = new Mutex(k, `dslab_${kind} lock`);
    const dev = this;
    this.ops =
      kind === 'pfn'
        ? Object.freeze({
            name: 'dslab_pfn_vm_ops',
            *fault(kk: Kernel, vmf: VmFault) {
              dev.dfl++;
              if (vmf.pgoff >= LAB_NPAGES) return VM_FAULT_SIGBUS;
              return yield* vmfInsertPfnProt(
                kk,
                vmf.vma,
                vmf.address,
                dev.base + vmf.pgoff,
                vmf.vma.pageProt,
              );
            },
            *pfnMkwrite(_kk: Kernel, vmf: VmFault) {
              yield* dev.lock.lock();
              dev.mk++;
              setBit(dev.mbits, vmf.pgoff);
              dev.lock.unlock();
              return 0;
            },
          })
        : Object.freeze({
            name: 'dslab_page_vm_ops',
            *fault(_kk: Kernel, vmf: VmFault) {
              yield* dev.lock.lock();
              dev.dfl++;
              const ok = vmf.pgoff < LAB_NPAGES;
              if (ok) vmf.page = dev.base + vmf.pgoff;
              dev.lock.unlock();
              return ok ? 0 : VM_FAULT_SIGBUS;
            },
            *pageMkwrite(kk: Kernel, vmf: VmFault) {
              yield* dev.lock.lock();
              dev.mk++;
              setBit(dev.mbits, vmf.pgoff);
              dev.lock.unlock();
              yield* kk.pageLock(vmf.page).lock();
              return VM_FAULT_LOCKED;
            },
          });
    this.file.defaultOps = this.ops;
    this.file.mmapHook = (_kk, vma) => {
      if ((vma.flags & (VM_SHARED | VM_MAYWRITE)) === VM_MAYWRITE) return -EINVAL; // no COW, as TTM
      if (vma.pgoff + vma.pages > LAB_NPAGES) return -EINVAL;
      vma.flags |= kind === 'pfn' ? VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_DONTDUMP : VM_MIXEDMAP;
      vma.ops = dev.ops;
      return 0;
    };
  }

  reset(): void {
    this.mbits.fill(0);
    this.cbits.fill(0);
    this.mk = 0;
    this.dfl = 0;
    for (let i = 0; i < LAB_NPAGES; i++) {
      this.k.mem.data[this.base + i]?.fill(0);
      this.k.mem.data[this.shadow + i]?.fill(0);
    }
  }
}

interface Worker {
  mm: MmStruct;
  cpu: number;
  /** Start address of each slot's mapping (as mmap returned it), or -1, and its length in pages. */
  slots: number[];
  slotPages: number[];
}

function protBits(p: LabProt): number {
  return p === 'rw' ? PROT_READ | PROT_WRITE : p === 'r' ? PROT_READ : 0;
}

function hex(bits: Uint32Array): string {
  const list: number[] = [];
  for (let i = 0; i < LAB_NPAGES; i++) if (testBit(bits, i)) list.push(i);
  return bitsToHex(list, LAB_NPAGES);
}

/** The model answering lab ops. One instance = one booted guest; {@link reset} = `reset`. */
export class ModelLab {
  readonly name = 'model';
  k!: Kernel;
  dev!: Record<LabDev, ModelDevice>;
  private workers = new Map<number, Worker>();
  private helpers: DirtyHelpers;
  /** Whether this kernel has mapping_wrprotect_range (6.15+). */
  readonly hasWrprotect: boolean;

  /** Write-protect moves D to SavedDirty (x86, as Linux 7.2 does in the lab; 6.1 does not). */
  readonly savedDirty: boolean;

  constructor(
    opts: {
      helperVariant?: Parameters<typeof createDirtyHelpers>[0];
      wrprotect?: boolean;
      savedDirty?: boolean;
    } = {},
  ) {
    this.helpers = createDirtyHelpers(opts.helperVariant ?? 'mainline');
    this.hasWrprotect = opts.wrprotect ?? true;
    this.savedDirty = opts.savedDirty ?? false;
    this.reset();
  }

  /** A fresh machine: no workers, zeroed devices. */
  reset(): void {
    this.k = new Kernel({
      cpus: LAB_WORKERS,
      explore: false,
      shadowStack: this.savedDirty,
      tlb: { entries: 64, ways: 4, replacement: 'lru' },
    });
    this.dev = { pfn: new ModelDevice(this.k, 'pfn'), page: new ModelDevice(this.k, 'page') };
    this.workers = new Map();
  }

  /** The worker's mapping slot: its start address and the VMAs now inside [start, start + pages). */
  slotVmas(p: number, m: number, pages: number): Vma[] {
    const w = this.workers.get(p);
    const start = w?.slots[m];
    if (w === undefined || start === undefined || start < 0) return [];
    return w.mm.vmas.filter((v) => v.start < start + pages * 4096 && v.end > start);
  }

  /** Live worker mms. */
  mms(): MmStruct[] {
    return [...this.workers.values()].map((w) => w.mm);
  }

  /** Device page index of a PFN (for PTE comparison), or -1. */
  devicePage(pfn: number): { d: LabDev; page: number } | null {
    for (const d of ['pfn', 'page'] as const) {
      const b = this.dev[d].base;
      if (pfn >= b && pfn < b + LAB_NPAGES) return { d, page: pfn - b };
    }
    return null;
  }

  exec(op: LabOp): LabReply {
    const k = this.k;
    switch (op.op) {
      case 'ping':
        return { ret: 0, kv: {} };
      case 'run':
        return { ret: -38, kv: { msg: 'guest-program' } }; // guest programs have no model counterpart
      case 'reset':
        this.reset();
        return { ret: 0, kv: {} };
      case 'spawn': {
        if (this.workers.has(op.p)) return { ret: -EEXIST, kv: {} };
        const mm = mmCreate(k, `worker${op.p}`);
        this.workers.set(op.p, {
          mm,
          cpu: op.p,
          slots: new Array<number>(LAB_SLOTS).fill(-1),
          slotPages: new Array<number>(LAB_SLOTS).fill(0),
        });
        return { ret: 0, kv: {} };
      }
      case 'exit': {
        const w = this.workers.get(op.p);
        if (w === undefined) return { ret: -ESRCH, kv: {} };
        // exit_mmap: every VMA zapped and unlinked.
        for (const v of [...w.mm.vmas]) runToCompletion(doMunmap(k, w.mm, v.start, v.end - v.start));
        this.workers.delete(op.p);
        return { ret: 0, kv: {} };
      }
      case 'wp': {
        const d = this.dev[op.d];
        // nr == 0 with first > 0: the kernel's interval query finds nothing (spec §2); the
        // model's walker asserts nr >= 1, so answer here. nr == 0 at first 0 wraps: never sent.
        if (op.nr === 0) return { ret: 0, kv: {} };
        return {
          ret: runToCompletion(this.helpers.wpSharedMappingRange(k, d.file, op.first, op.nr)),
          kv: {},
        };
      }
      case 'clean': {
        const d = this.dev[op.d];
        if (op.bpgoff > op.first || op.first + op.nr - op.bpgoff > LAB_NPAGES || op.nr < 0 || op.bpgoff < 0)
          return { ret: -EINVAL, kv: {} };
        const win = { start: op.start, end: op.end };
        if (op.nr === 0) {
          // The walk visits nothing (first > 0, see wp); the window is still initialised as the
          // helper does: "none set" (start >= end) becomes [nr, 0).
          const none = win.start >= win.end;
          const kv = {
            start: String(none ? 0 : win.start),
            end: String(none ? 0 : win.end),
            cbits: hex(d.cbits),
          };
          return { ret: 0, kv };
        }
        const ret = runToCompletion(
          this.helpers.cleanRecordSharedMappingRange(k, d.file, op.first, op.nr, op.bpgoff, d.cbits, win),
        );
        return { ret, kv: { start: String(win.start), end: String(win.end), cbits: hex(d.cbits) } };
      }
      case 'wrprotect': {
        if (!this.hasWrprotect) return { ret: -38, kv: {} };
        const d = this.dev[op.d];
        if (op.pgoff < 0 || op.nr < 0 || op.pgoff + op.nr > LAB_NPAGES) return { ret: -EINVAL, kv: {} };
        return {
          ret: runToCompletion(mappingWrprotectRange(k, d.file, op.pgoff, d.base + op.pgoff, op.nr)),
          kv: {},
        };
      }
      case 'bits': {
        const d = this.dev[op.d];
        const kv = { mbits: hex(d.mbits), cbits: hex(d.cbits), mk: String(d.mk), flt: String(d.dfl) };
        if (op.clear) {
          d.mbits.fill(0);
          d.cbits.fill(0);
          d.mk = 0;
          d.dfl = 0;
        }
        return { ret: 0, kv };
      }
      case 'delay':
        return { ret: 0, kv: {} };
      case 'scan':
        return this.scan(op.d, op.first, op.nr, op.mode);
      case 'verify': {
        const d = this.dev[op.d];
        const stale: number[] = [];
        for (let i = 0; i < LAB_NPAGES; i++) if (!k.mem.samePage(d.base + i, d.shadow + i)) stale.push(i);
        return { ret: 0, kv: { stale: bitsToHex(stale, LAB_NPAGES) } };
      }
      default:
        return this.workerOp(op);
    }
  }

  /** The vmwgfx-like validation scan of lab/module/dslab.c (PROTOCOL.md `scan`). */
  private scan(dn: LabDev, first: number, nr: number, mode: 'consume' | 'fix'): LabReply {
    const k = this.k;
    const d = this.dev[dn];
    if (first < 0 || nr < 0 || first + nr > LAB_NPAGES) return { ret: -EINVAL, kv: {} };
    // consume: one range-wide wp, then take every set bit. fix (the driver-side fix of the
    // mkwrite window): wp page by page and take a bit only if that page had a writable PTE
    // (lab/PROTOCOL.md; a range-wide wp first would leave every per-page wp returning 0).
    if (nr > 0 && mode === 'consume')
      runToCompletion(this.helpers.wpSharedMappingRange(k, d.file, first, nr));
    const got: number[] = [];
    for (let i = first; i < first + nr; i++) {
      const changed =
        mode === 'fix' ? runToCompletion(this.helpers.wpSharedMappingRange(k, d.file, i, 1)) : 1;
      if (!testBit(d.mbits, i) || changed === 0) continue;
      clearBit(d.mbits, i);
      k.mem.copyPage(d.shadow + i, d.base + i);
      got.push(i);
    }
    return { ret: got.length, kv: { bits: bitsToHex(got, LAB_NPAGES) } };
  }

  private workerOp(op: LabOp): LabReply {
    if (!('p' in op)) return { ret: -EINVAL, kv: { msg: 'op' } };
    const w = this.workers.get(op.p);
    if (w === undefined) return { ret: -ESRCH, kv: {} };
    // The agent's request checks (lab/agent/agent.c): an empty slot, or a page/range outside the
    // slot's mapping as mmap made it, is a bad request: -EINVAL, no counters, nothing run.
    if (op.op !== 'mmap' && 'm' in op) {
      if (w.slots[op.m] === undefined || w.slots[op.m]! < 0)
        return { ret: -EINVAL, kv: { msg: 'empty_slot' } };
      const n = w.slotPages[op.m]!;
      if ('page' in op && op.page >= n) return { ret: -EINVAL, kv: { msg: 'range' } };
      if ('off' in op && op.off + op.n > n) return { ret: -EINVAL, kv: { msg: 'range' } };
    }
    const k = this.k;
    const c = k.counters;
    const before = c.hwFaults;
    const mkBefore = this.dev.pfn.mk + this.dev.page.mk;
    const dflBefore = this.dev.pfn.dfl + this.dev.page.dfl;
    switchMm(k, w.cpu, w.mm);
    const cpu = k.cpus[w.cpu]!;
    let fatal = false;
    let r: LabReply;
    const slot = 'm' in op ? w.slots[op.m] : undefined;
    switch (op.op) {
      case 'mmap': {
        const v = runToCompletion(
          doMmap(k, w.mm, this.dev[op.d].file, {
            length: op.n * 4096,
            prot: protBits(op.prot),
            shared: op.share === 's',
            pgoff: op.off,
            fdWritable: op.fd === 'rw',
          }),
        );
        if (typeof v === 'number') r = { ret: v, kv: {} };
        else {
          w.slots[op.m] = v.start; // a used slot is overwritten (its old mapping stays mapped)
          w.slotPages[op.m] = op.n;
          r = { ret: 0, kv: {} };
        }
        break;
      }
      case 'munmap':
      case 'madvise':
      case 'mprotect': {
        if (slot === undefined || slot < 0) {
          r = { ret: -EBADF, kv: { msg: 'slot' } };
          break;
        }
        const start = slot + op.off * 4096;
        const len = op.n * 4096;
        let ret: number;
        if (op.op === 'munmap') ret = runToCompletion(doMunmap(k, w.mm, start, len));
        else if (op.op === 'madvise')
          ret = Math.min(0, runToCompletion(madviseDontneed(k, w.mm, start, len))); // madvise(2) returns 0 or -errno
        else if (op.op === 'mprotect')
          ret = runToCompletion(doMprotect(k, w.mm, start, len, protBits(op.prot)));
        else ret = -EINVAL;
        r = { ret, kv: {} };
        break;
      }
      case 'store': {
        if (slot === undefined || slot < 0) {
          r = { ret: -EBADF, kv: { msg: 'slot' } };
          break;
        }
        const f = runToCompletion(userStore8(k, cpu, w.mm, slot + op.page * 4096, op.v));
        if (f === 0) r = { ret: 0, kv: {} };
        else {
          fatal = true;
          r = { ret: -EFAULT, kv: { sig: (f & VM_FAULT_SIGBUS) !== 0 ? 'BUS' : 'SEGV' } };
        }
        break;
      }
      case 'load': {
        if (slot === undefined || slot < 0) {
          r = { ret: -EBADF, kv: { msg: 'slot' } };
          break;
        }
        const v = runToCompletion(userLoad8(k, cpu, w.mm, slot + op.page * 4096));
        if (v >= 0) r = { ret: v, kv: {} };
        else {
          fatal = true;
          r = { ret: -EFAULT, kv: { sig: (-v & VM_FAULT_SIGBUS) !== 0 ? 'BUS' : 'SEGV' } };
        }
        break;
      }
      case 'pte': {
        if (slot === undefined || slot < 0) {
          r = { ret: -EBADF, kv: { msg: 'slot' } };
          break;
        }
        const vpn = slot / 4096 + op.page;
        const i = entryIndexAt(k.mem, w.mm.root, vpn, LEVEL_PTE, k.levels, false);
        if (i < 0 || (k.mem.ptLo[i] === 0 && k.mem.ptHi[i] === 0)) r = { ret: 0, kv: { pte: 'none' } };
        else {
          let v = (BigInt(k.mem.ptHi[i]! >>> 0) << 32n) | BigInt(k.mem.ptLo[i]! >>> 0);
          const vma = w.mm.findVma(slot + op.page * 4096);
          if (vma !== null && (vma.flags & (VM_READ | VM_WRITE)) === 0 && (v & 1n) === 1n) {
            // MODEL DEVIATION, rendered here: the model keeps a PROT_NONE mapping's PTEs present
            // (no USER, no RW); x86 Linux stores PAGE_NONE: PRESENT, USER and RW clear, PROTNONE
            // set and the PFN inverted (L1TF). Either way every access faults and the VMA check
            // refuses it; the lab compares the kernel's encoding.
            const pfnMask = ((1n << 40n) - 1n) << 12n;
            v = (v & ~pfnMask & ~0x7n) | 0x100n | (~v & pfnMask);
          }
          r = { ret: 0, kv: { pte: v.toString(16).padStart(16, '0') } };
        }
        break;
      }
      case 'race': {
        // Sequentially, the race is the store followed by the scan: the model's interleavings are
        // the checker's business (models mkwrite-window, vmwgfx-mkwrite), not the differential run's.
        if (slot === undefined || slot < 0) {
          r = { ret: -EBADF, kv: { msg: 'slot' } };
          break;
        }
        const f = runToCompletion(userStore8(k, cpu, w.mm, slot + op.page * 4096, op.v));
        if (f !== 0) fatal = true;
        const s = this.scan(op.d, op.first, op.nr, op.mode);
        r = {
          ret: s.ret,
          kv: { ...s.kv, ...(f !== 0 ? { sig: (f & VM_FAULT_SIGBUS) !== 0 ? 'BUS' : 'SEGV' } : {}) },
        };
        break;
      }
      default:
        r = { ret: -EINVAL, kv: { msg: 'op' } };
    }
    // The kernel counts a fault in min_flt only when it did not fail (mm_account_fault).
    const faults = c.hwFaults - before - (fatal ? 1 : 0);
    r.kv.flt = String(faults);
    r.kv.mk = String(this.dev.pfn.mk + this.dev.page.mk - mkBefore);
    r.kv.dfl = String(this.dev.pfn.dfl + this.dev.page.dfl - dflBefore);
    return r;
  }
}
