/**
 * The model {@link TrackingBackend}: the same tracking API as the real kernel backend
 * (real-backend.ts), answered by the simulated kernel of src/mm. Each region is its own simulated
 * machine (one CPU, one mm): a shmem-like file (AddressSpace without writeback) of `pages` pages,
 * mapped MAP_SHARED or MAP_PRIVATE read-write at a 2 MiB-aligned address (the real backend's
 * layout, so PTE table k covers pages [512k, 512k + 512)), and registered for async uffd-wp
 * (src/mm/userfaultfd.ts). Stores and loads are CPU accesses through the simulated TLB and page
 * tables, taking real model faults; scans are the model's PAGEMAP_SCAN (src/mm/pagemap-scan.ts).
 *
 * Nothing here decides a category or a transition: the answers come from the page tables.
 * Bookkeeping here is only what the real backend also keeps (per-page protection, to refuse
 * accesses that would be SIGSEGV) and the syscall-level errno rules that live above the mm
 * routines in the kernel (mprotect/madvise over unmapped holes, MAP_FIXED_NOREPLACE).
 */
import { runToCompletion } from '../checker/task.ts';
import type { Cpu } from '../hw/cpu.ts';
import { AddressSpace } from '../mm/address-space.ts';
import { Kernel, KTask } from '../mm/kernel.ts';
import type { MmStruct } from '../mm/mm-types.ts';
import { doMmap, doMprotect, doMunmap, mmCreate, PROT_READ, PROT_WRITE, switchMm } from '../mm/mmap.ts';
import {
  type PagemapScanVariant,
  PM_SCAN_ARG_SIZE,
  pagemapFlagsRange,
  pagemapScanRaw,
  recycleScanResult,
} from '../mm/pagemap-scan.ts';
import {
  madviseDontneedUffd,
  UFFD_MODEL_FEATURES,
  type UffdCtx,
  uffdLoadFast,
  uffdOpen,
  uffdRegisterWp,
  uffdStoreFast,
  uffdWriteprotect,
} from '../mm/userfaultfd.ts';
import { PAGE_IS_WRITTEN } from './pagemap-scan.ts';
import {
  assertPageOffset,
  assertPageRange,
  type CollectOptions,
  type CollectResult,
  collectRequest,
  type OpenOptions,
  type OpOutcome,
  type PagemapRun,
  type PageRegion,
  type Prot,
  pushPagemapRuns,
  type Region,
  type ScanOutcome,
  type ScanRequest,
  TrackingAccessError,
  type TrackingBackend,
} from './tracking.ts';

const P_NONE = 0;
const P_READ = 1;
const P_RW = 3;
const P_UNMAPPED = 255;
const protCode: Record<Prot, number> = { none: P_NONE, read: P_READ, rw: P_RW };
const protBits: Record<Prot, number> = { none: 0, read: PROT_READ, rw: PROT_READ | PROT_WRITE };

const PAGE = 4096;
/** Where every region is mapped (2 MiB aligned). */
const BASE = 0x7f00_0000_0000;

const OK: OpOutcome = Object.freeze({ ok: true }) as OpOutcome;

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  12: 'ENOMEM',
  14: 'EFAULT',
  17: 'EEXIST',
  22: 'EINVAL',
};

/** Symbolic errno of a negative model return value. */
export function errnoName(neg: number): string {
  return ERRNO_NAMES[-neg] ?? `E${-neg}`;
}

function outcome(r: number): OpOutcome {
  return r >= 0 ? OK : { ok: false, errno: errnoName(r) };
}

/** Options of {@link ModelBackend}. */
export interface ModelBackendOptions {
  /**
   * PAGEMAP_SCAN as Linux 6.18 does it (`mainline`, default) or as documented (`documented`:
   * see {@link PagemapScanVariant}). The backend's name is `model` or `model-documented`.
   */
  scanVariant?: PagemapScanVariant;
}

/** Scratch for pagemap reads (one per process: results are copied out before it is reused). */
let pmBuf = new Uint16Array(4096);

/** The model as a {@link TrackingBackend}. */
export class ModelBackend implements TrackingBackend {
  readonly name: string;
  private readonly scanVariant: PagemapScanVariant;
  constructor(opts: ModelBackendOptions = {}) {
    this.scanVariant = opts.scanVariant ?? 'mainline';
    this.name = this.scanVariant === 'mainline' ? 'model' : `model-${this.scanVariant}`;
  }
  open(pages: number, opts: OpenOptions = {}): ModelRegion {
    return new ModelRegion(pages, opts.shared ?? true, this.scanVariant);
  }
}

/** A tracked memfd mapping on the simulated kernel (see {@link Region}). */
export class ModelRegion implements Region {
  readonly pages: number;
  readonly pageSize = PAGE;
  readonly shared: boolean;
  /** The simulated machine (exposed for tests and benchmarks). */
  readonly k: Kernel;
  readonly mm: MmStruct;
  readonly file: AddressSpace;
  readonly cpu: Cpu;
  readonly base = BASE;
  private readonly ctx: UffdCtx;
  private readonly prot: Uint8Array;
  private closed = false;

  constructor(
    pages: number,
    shared: boolean,
    private readonly scanVariant: PagemapScanVariant = 'mainline',
  ) {
    if (!Number.isInteger(pages) || pages < 1) throw new RangeError(`region of ${pages} pages`);
    this.pages = pages;
    this.shared = shared;
    const k = new Kernel({ cpus: 1 });
    k.setCurrent(new KTask('user', 0));
    this.k = k;
    this.mm = mmCreate(k, 'tracking');
    switchMm(k, 0, this.mm);
    this.cpu = k.cpus[0]!;
    this.file = new AddressSpace(k, 'memfd', false, pages);
    const v = runToCompletion(
      doMmap(k, this.mm, this.file, {
        addr: BASE,
        length: pages * PAGE,
        prot: PROT_READ | PROT_WRITE,
        shared,
        pgoff: 0,
        fdWritable: true,
      }),
    );
    if (typeof v === 'number') throw new Error(`model mmap failed: ${errnoName(v)}`);
    const ctx = uffdOpen(this.mm, UFFD_MODEL_FEATURES);
    if (typeof ctx === 'number') throw new Error(`model UFFDIO_API failed: ${errnoName(ctx)}`);
    this.ctx = ctx;
    const r = runToCompletion(uffdRegisterWp(k, ctx, BASE, pages * PAGE));
    if (r < 0) throw new Error(`model UFFDIO_REGISTER failed: ${errnoName(r)}`);
    this.prot = new Uint8Array(pages).fill(P_RW);
  }

  private checkRange(startPage: number, nPages: number): void {
    assertPageRange(this.closed, this.pages, startPage, nPages);
  }

  private checkPage(page: number, offset: number): void {
    assertPageOffset(this.closed, this.pages, PAGE, page, offset);
  }

  private addr(page: number): number {
    return BASE + page * PAGE;
  }

  protOf(page: number): Prot | null {
    this.checkPage(page, 0);
    const p = this.prot[page]!;
    return p === P_UNMAPPED ? null : p === P_RW ? 'rw' : p === P_READ ? 'read' : 'none';
  }

  store(page: number, offset: number, value: number): void {
    this.checkPage(page, offset);
    if (this.prot[page] !== P_RW) throw new TrackingAccessError(page, 'store to a page that is not writable');
    const r = uffdStoreFast(this.k, this.cpu, this.mm, this.addr(page) + offset, value & 0xff);
    if (r !== 0) throw new Error(`model store to page ${page} faulted fatally (${r})`);
  }

  load(page: number, offset: number): number {
    this.checkPage(page, offset);
    const p = this.prot[page]!;
    if (p === P_UNMAPPED || p === P_NONE)
      throw new TrackingAccessError(page, 'load from a page that is not readable');
    const v = uffdLoadFast(this.k, this.cpu, this.mm, this.addr(page) + offset);
    if (v < 0) throw new Error(`model load from page ${page} faulted fatally (${-v})`);
    return v;
  }

  fill(startPage: number, nPages: number, value: number): void {
    this.checkRange(startPage, nPages);
    for (let p = startPage; p < startPage + nPages; p++) {
      if (this.prot[p] !== P_RW) throw new TrackingAccessError(p, 'fill of a page that is not writable');
    }
    const v = value & 0xff;
    for (let p = startPage; p < startPage + nPages; p++) {
      const r = uffdStoreFast(this.k, this.cpu, this.mm, this.addr(p), v);
      if (r !== 0) throw new Error(`model fill of page ${p} faulted fatally (${r})`);
      // the other 4095 bytes go to the frame the first store just wrote through (same
      // translation, D already set): one typed-array fill instead of 4095 simulated stores
      this.k.mem.write8(this.cpu.lastPfn, 0, v);
      this.k.mem.data[this.cpu.lastPfn]!.fill(v);
    }
  }

  armWriteProtect(startPage: number, nPages: number): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    return outcome(
      runToCompletion(uffdWriteprotect(this.k, this.mm, this.addr(startPage), nPages * PAGE, true)),
    );
  }

  unprotect(startPage: number, nPages: number): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    return outcome(
      runToCompletion(uffdWriteprotect(this.k, this.mm, this.addr(startPage), nPages * PAGE, false)),
    );
  }

  collect(opts: CollectOptions): CollectResult {
    const r = this.scan(collectRequest(this.pages, opts));
    if (!r.ok) throw new Error(`collect: PAGEMAP_SCAN failed with ${r.errno}`);
    return { regions: r.regions, walkEnd: r.walkEnd };
  }

  scan(req: ScanRequest): ScanOutcome {
    if (this.closed) throw new Error('region is closed');
    const { startPage, endPage } = req;
    if (!Number.isInteger(startPage) || !Number.isInteger(endPage) || startPage < 0 || endPage > this.pages) {
      throw new RangeError(`scan pages [${startPage}, ${endPage}) outside [0, ${this.pages}]`);
    }
    const r = runToCompletion(
      pagemapScanRaw(
        this.k,
        this.mm,
        {
          size: req.structSize ?? PM_SCAN_ARG_SIZE,
          flags: req.flags ?? 0,
          start: this.addr(startPage) + (req.startByteOffset ?? 0),
          end: this.addr(endPage) + (req.endByteOffset ?? 0),
          vecNull: req.vecNull ?? false,
          vecLen: req.vecLen ?? Math.max(1, endPage - startPage),
          maxPages: req.maxPages ?? 0,
          categoryInverted: req.categoryInverted ?? 0,
          categoryMask: req.categoryMask ?? PAGE_IS_WRITTEN,
          categoryAnyofMask: req.categoryAnyofMask ?? 0,
          returnMask: req.returnMask ?? PAGE_IS_WRITTEN,
        },
        this.scanVariant,
      ),
    );
    if (r.ret < 0) return { ok: false, errno: errnoName(r.ret) };
    // push into a packed array (perf: cheaper than filling a preallocated holey one)
    const regions: PageRegion[] = [];
    const { starts, ends, categories } = r;
    for (let i = 0; i < r.ret; i++)
      regions.push({
        start: (starts[i]! - BASE) / PAGE,
        end: (ends[i]! - BASE) / PAGE,
        categories: categories[i]!,
      });
    recycleScanResult(r); // the next scan reuses the typed arrays
    return { ok: true, regions, walkEnd: (r.walkEnd - BASE) / PAGE };
  }

  /** First unmapped page in [s, s + n), or -1. */
  private firstHole(s: number, n: number): number {
    for (let p = s; p < s + n; p++) if (this.prot[p] === P_UNMAPPED) return p;
    return -1;
  }

  mprotect(startPage: number, nPages: number, prot: Prot): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    // mprotect walks the VMAs from start: ENOMEM at the first gap, after changing what precedes it
    const hole = this.firstHole(startPage, nPages);
    const upto = hole < 0 ? startPage + nPages : hole;
    if (upto > startPage) {
      const r = runToCompletion(
        doMprotect(this.k, this.mm, this.addr(startPage), (upto - startPage) * PAGE, protBits[prot]),
      );
      if (r < 0) return outcome(r);
      this.prot.fill(protCode[prot], startPage, upto);
    }
    return hole < 0 ? OK : { ok: false, errno: 'ENOMEM' };
  }

  dontneed(startPage: number, nPages: number): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    return outcome(
      runToCompletion(madviseDontneedUffd(this.k, this.mm, this.addr(startPage), nPages * PAGE)),
    );
  }

  unmap(startPage: number, nPages: number): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    const r = runToCompletion(doMunmap(this.k, this.mm, this.addr(startPage), nPages * PAGE));
    if (r < 0) return outcome(r);
    this.prot.fill(P_UNMAPPED, startPage, startPage + nPages);
    return OK;
  }

  remap(startPage: number, nPages: number): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    // MAP_FIXED_NOREPLACE: EEXIST if anything is mapped there
    for (let p = startPage; p < startPage + nPages; p++)
      if (this.prot[p] !== P_UNMAPPED) return { ok: false, errno: 'EEXIST' };
    const v = runToCompletion(
      doMmap(this.k, this.mm, this.file, {
        addr: this.addr(startPage),
        length: nPages * PAGE,
        prot: PROT_READ | PROT_WRITE,
        shared: this.shared,
        pgoff: startPage,
        fdWritable: true,
      }),
    );
    if (typeof v === 'number') return outcome(v);
    const r = runToCompletion(uffdRegisterWp(this.k, this.ctx, this.addr(startPage), nPages * PAGE));
    if (r < 0) return outcome(r);
    this.prot.fill(P_RW, startPage, startPage + nPages);
    return OK;
  }

  /** Hardware faults the simulated CPU took (each one handled by the model's fault path). */
  faults(): number {
    return this.k.counters.hwFaults;
  }

  pagemap(startPage: number, nPages: number): PagemapRun[] {
    this.checkRange(startPage, nPages);
    const out: PagemapRun[] = [];
    if (pmBuf.length < nPages) pmBuf = new Uint16Array(Math.max(nPages, 2 * pmBuf.length));
    pagemapFlagsRange(this.k, this.mm, this.addr(startPage), nPages, pmBuf);
    pushPagemapRuns(out, startPage, pmBuf, nPages);
    return out;
  }

  close(): void {
    this.closed = true;
  }
}
