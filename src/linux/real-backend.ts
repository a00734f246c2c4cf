/**
 * The real-kernel {@link TrackingBackend}: a memfd mapped MAP_SHARED (or MAP_PRIVATE), registered
 * with a userfaultfd in async write-protect mode, scanned with PAGEMAP_SCAN. Stores go through a
 * typed-array view over the mapping, i.e. they are real CPU stores that take real faults.
 *
 * Call {@link probeKernel} (probe.ts) first: constructing a region on a kernel without the
 * features throws SyscallError.
 */
import { readFileSync } from 'node:fs';
import {
  getLibc,
  type Libc,
  MADV_DONTNEED,
  MADV_NOHUGEPAGE,
  MAP_ANONYMOUS,
  MAP_FIXED,
  MAP_FIXED_NOREPLACE,
  MAP_NORESERVE,
  MAP_PRIVATE,
  MAP_SHARED,
  MFD_CLOEXEC,
  PROT_NONE,
  PROT_READ,
  PROT_WRITE,
  SyscallError,
} from './libc.ts';
import { openPagemap, PAGE_IS_WRITTEN, pagemapScan, ScanVec, SIZEOF_PM_SCAN_ARG } from './pagemap-scan.ts';
import { type FaultSink, getPerfFaults } from './perf-faults.ts';
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
import {
  REQUIRED_FEATURES,
  UFFDIO_REGISTER_MODE_WP,
  UFFDIO_WRITEPROTECT_MODE_WP,
  uffdApi,
  uffdOpen,
  uffdRegister,
  uffdWriteprotect,
} from './uffd.ts';

// prot table codes (one byte per page)
const P_NONE = 0;
const P_READ = 1;
const P_RW = 3;
const P_UNMAPPED = 255;
const protCode: Record<Prot, number> = { none: P_NONE, read: P_READ, rw: P_RW };
const protBits: Record<Prot, number> = { none: PROT_NONE, read: PROT_READ, rw: PROT_READ | PROT_WRITE };

/** Views cover 2^18 pages (1 GiB) each: one typed array need not span a multi-GiB mapping. */
const CHUNK_SHIFT = 18;
const CHUNK_MASK = (1 << CHUNK_SHIFT) - 1;

const OK: OpOutcome = Object.freeze({ ok: true }) as OpOutcome;

function fail(e: unknown): { ok: false; errno: string } {
  if (e instanceof SyscallError) return { ok: false, errno: e.code };
  throw e;
}

/** Page tables span 2 MiB of address space (512 PTEs). */
export const TABLE_SPAN = 2 * 1024 * 1024;

/**
 * Map `len` bytes of `fd` at a 2 MiB-aligned address: reserve `len + 2 MiB` of PROT_NONE address
 * space, map the file over the aligned part with MAP_FIXED, give back the slop. Page index k of
 * the region is then always entry k % 512 of page table k / 512.
 */
function mapAligned(libc: Libc, len: number, flags: number, fd: number): number {
  const resv = libc.mmap(0, len + TABLE_SPAN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  const base = Math.ceil(resv / TABLE_SPAN) * TABLE_SPAN;
  try {
    libc.mmap(base, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd, 0);
  } catch (e) {
    libc.munmap(resv, len + TABLE_SPAN);
    throw e;
  }
  if (base > resv) libc.munmap(resv, base - resv);
  const tail = resv + len + TABLE_SPAN - (base + len);
  if (tail > 0) libc.munmap(base + len, tail);
  return base;
}

/**
 * Process-wide resources shared by all regions: one userfaultfd (regions register their own
 * ranges on it), one /proc/self/pagemap fd, one output vector (results are copied out right after
 * each call, and JS is single-threaded). Opening them once saves ~150 us per region, which
 * matters for differential runs that open thousands of regions. They live until process exit.
 */
interface Shared {
  uffd: number;
  pagemapFd: number;
  vec: ScanVec | null;
  /** Buffer for pagemap reads (8 bytes per page), grown on demand. */
  pm: Uint8Array;
}
let sharedRes: Shared | null = null;

function getShared(libc: Libc): Shared {
  if (sharedRes !== null) return sharedRes;
  const uffd = uffdOpen();
  try {
    uffdApi(uffd, REQUIRED_FEATURES);
    sharedRes = { uffd, pagemapFd: openPagemap(), vec: null, pm: new Uint8Array(0) };
  } catch (e) {
    libc.close(uffd);
    throw e;
  }
  return sharedRes;
}

/** The shared output vector, grown to hold at least `n` regions. */
function sharedVec(sh: Shared, n: number): ScanVec {
  if (sh.vec === null || sh.vec.capacity < n) {
    sh.vec?.close();
    sh.vec = null;
    sh.vec = new ScanVec(Math.max(n, 1024));
    sh.vec.touch(); // no first-touch faults in the kernel's copy-out (faults are compared)
  }
  return sh.vec;
}

/** The real Linux kernel as a {@link TrackingBackend}. */
export class KernelBackend implements TrackingBackend {
  readonly name = 'kernel';
  open(pages: number, opts: OpenOptions = {}): KernelRegion {
    return new KernelRegion(pages, opts.shared ?? true);
  }
}

/** A memfd region on the real kernel (see {@link Region} for the contract). */
export class KernelRegion implements Region {
  readonly pages: number;
  readonly pageSize: number;
  readonly shared: boolean;
  /** Virtual address of page 0 (for worker threads that store into the same mapping). */
  readonly base: number;
  /** The memfd. */
  readonly memfd: number;
  /** The userfaultfd (shared by all regions of the process). */
  readonly uffd: number;
  private readonly libc: Libc;
  private readonly pagemapFd: number;
  private readonly prot: Uint8Array;
  private readonly views: Uint8Array[] = [];
  private readonly sh: Shared;
  private closed = false;
  /**
   * Page faults on this region's pages since it was opened (perf-faults.ts: the thread's minor
   * and major fault events whose address is in the region). Absent where perf events cannot be
   * opened (differential runs then leave faults out of the comparison).
   */
  readonly faults?: () => number;
  private readonly faultSink: FaultSink | null = null;

  constructor(pages: number, shared: boolean) {
    if (!Number.isInteger(pages) || pages < 1) throw new RangeError(`region of ${pages} pages`);
    const libc = getLibc();
    this.libc = libc;
    this.pages = pages;
    this.pageSize = libc.pageSize;
    this.shared = shared;
    const len = pages * this.pageSize;
    let memfd = -1;
    let base = -1;
    const sh = getShared(libc);
    try {
      memfd = libc.memfdCreate('dirtyscope', MFD_CLOEXEC);
      libc.ftruncate(memfd, len);
      base = mapAligned(libc, len, shared ? MAP_SHARED : MAP_PRIVATE, memfd);
      // the contract has no huge pages: keep shmem THP (shmem_enabled=always/within_size) away
      libc.madvise(base, len, MADV_NOHUGEPAGE);
      uffdRegister(sh.uffd, base, len, UFFDIO_REGISTER_MODE_WP);
    } catch (e) {
      if (base >= 0) libc.munmap(base, len);
      if (memfd >= 0) libc.close(memfd);
      throw e;
    }
    this.sh = sh;
    this.memfd = memfd;
    this.base = base;
    this.uffd = sh.uffd;
    this.pagemapFd = sh.pagemapFd;
    this.prot = new Uint8Array(pages).fill(P_RW);
    const perf = getPerfFaults();
    if (perf !== null) {
      const sink = perf.track(base, base + len);
      this.faultSink = sink;
      this.faults = () => {
        perf.drain();
        if (perf.lost > 0) throw new Error(`perf dropped ${perf.lost} fault samples: counts are not exact`);
        return sink.count;
      };
    }
    const chunkBytes = (1 << CHUNK_SHIFT) * this.pageSize;
    for (let off = 0; off < len; off += chunkBytes) {
      this.views.push(new Uint8Array(libc.view(base + off, Math.min(chunkBytes, len - off))));
    }
  }

  private checkRange(startPage: number, nPages: number): void {
    assertPageRange(this.closed, this.pages, startPage, nPages);
  }

  private checkPage(page: number, offset: number): void {
    assertPageOffset(this.closed, this.pages, this.pageSize, page, offset);
  }

  protOf(page: number): Prot | null {
    this.checkPage(page, 0);
    const p = this.prot[page]!;
    return p === P_UNMAPPED ? null : p === P_RW ? 'rw' : p === P_READ ? 'read' : 'none';
  }

  store(page: number, offset: number, value: number): void {
    this.checkPage(page, offset);
    if (this.prot[page] !== P_RW) throw new TrackingAccessError(page, 'store to a page that is not writable');
    this.views[page >>> CHUNK_SHIFT]![(page & CHUNK_MASK) * this.pageSize + offset] = value;
  }

  load(page: number, offset: number): number {
    this.checkPage(page, offset);
    const p = this.prot[page]!;
    if (p === P_UNMAPPED || p === P_NONE)
      throw new TrackingAccessError(page, 'load from a page that is not readable');
    return this.views[page >>> CHUNK_SHIFT]![(page & CHUNK_MASK) * this.pageSize + offset]!;
  }

  fill(startPage: number, nPages: number, value: number): void {
    this.checkRange(startPage, nPages);
    for (let p = startPage; p < startPage + nPages; p++) {
      if (this.prot[p] !== P_RW) throw new TrackingAccessError(p, 'fill of a page that is not writable');
    }
    let p = startPage;
    const end = startPage + nPages;
    while (p < end) {
      const chunk = p >>> CHUNK_SHIFT;
      const chunkEnd = Math.min(end, (chunk + 1) << CHUNK_SHIFT);
      this.views[chunk]!.fill(
        value,
        (p & CHUNK_MASK) * this.pageSize,
        (chunkEnd - (chunk << CHUNK_SHIFT)) * this.pageSize,
      );
      p = chunkEnd;
    }
  }

  pagemap(startPage: number, nPages: number): PagemapRun[] {
    this.checkRange(startPage, nPages);
    const out: PagemapRun[] = [];
    const CHUNK = 65536; // entries per pread (512 KiB)
    const need = Math.min(nPages, CHUNK) * 8;
    if (this.sh.pm.length < need) this.sh.pm = new Uint8Array(Math.max(need, 4096));
    const buf = this.sh.pm;
    const words = new Uint32Array(buf.buffer, buf.byteOffset, buf.length >>> 2);
    for (let p = startPage; p < startPage + nPages; ) {
      const n = Math.min(CHUNK, startPage + nPages - p);
      const got = this.libc.pread(
        this.pagemapFd,
        buf.subarray(0, n * 8),
        (this.base / this.pageSize + p) * 8,
      );
      if (got !== n * 8) throw new Error(`pagemap read: ${got} of ${n * 8} bytes`);
      // the flags are bits 55..63 of each little-endian u64: bits 23..31 of its upper half
      pushPagemapRuns(out, p, words.subarray(1), n, 23, 2);
      p += n;
    }
    return out;
  }

  /** The bytes of pages `[startPage, startPage+nPages)` within one 1 GiB chunk (benchmarks). */
  bytes(startPage: number, nPages: number): Uint8Array {
    this.checkRange(startPage, nPages);
    const chunk = startPage >>> CHUNK_SHIFT;
    if (nPages > 0 && (startPage + nPages - 1) >>> CHUNK_SHIFT !== chunk)
      throw new RangeError('range crosses a chunk');
    const off = (startPage & CHUNK_MASK) * this.pageSize;
    return this.views[chunk]!.subarray(off, off + nPages * this.pageSize);
  }

  private addr(page: number): number {
    return this.base + page * this.pageSize;
  }

  armWriteProtect(startPage: number, nPages: number): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    try {
      uffdWriteprotect(this.uffd, this.addr(startPage), nPages * this.pageSize, UFFDIO_WRITEPROTECT_MODE_WP);
      return OK;
    } catch (e) {
      return fail(e);
    }
  }

  unprotect(startPage: number, nPages: number): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    try {
      uffdWriteprotect(this.uffd, this.addr(startPage), nPages * this.pageSize, 0);
      return OK;
    } catch (e) {
      return fail(e);
    }
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
    const vecLen = req.vecLen ?? Math.max(1, endPage - startPage);
    let vec: ScanVec | null = null;
    if (!req.vecNull && vecLen > 0) vec = sharedVec(this.sh, vecLen);
    const vecAddr = vec === null ? 0 : vec.address;
    try {
      const r = pagemapScan(
        this.pagemapFd,
        {
          size: req.structSize ?? SIZEOF_PM_SCAN_ARG,
          flags: req.flags ?? 0,
          start: this.addr(startPage) + (req.startByteOffset ?? 0),
          end: this.addr(endPage) + (req.endByteOffset ?? 0),
          vecLen,
          maxPages: req.maxPages ?? 0,
          categoryInverted: req.categoryInverted ?? 0,
          categoryMask: req.categoryMask ?? PAGE_IS_WRITTEN,
          categoryAnyofMask: req.categoryAnyofMask ?? 0,
          returnMask: req.returnMask ?? PAGE_IS_WRITTEN,
        },
        vecAddr,
      );
      const ps = this.pageSize;
      const regions: PageRegion[] = new Array(r.nRegions);
      for (let i = 0; i < r.nRegions; i++) {
        const x = vec!.region(i);
        regions[i] = {
          start: (x.start - this.base) / ps,
          end: (x.end - this.base) / ps,
          categories: x.categories,
        };
      }
      return { ok: true, regions, walkEnd: (r.walkEnd - this.base) / ps };
    } catch (e) {
      return fail(e);
    }
  }

  mprotect(startPage: number, nPages: number, prot: Prot): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    try {
      this.libc.mprotect(this.addr(startPage), nPages * this.pageSize, protBits[prot]);
      this.prot.fill(protCode[prot], startPage, startPage + nPages);
      return OK;
    } catch (e) {
      // the kernel may have changed a prefix of the range before failing: re-read the truth
      this.refreshProtFromMaps();
      return fail(e);
    }
  }

  dontneed(startPage: number, nPages: number): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    try {
      this.libc.madvise(this.addr(startPage), nPages * this.pageSize, MADV_DONTNEED);
      return OK;
    } catch (e) {
      return fail(e);
    }
  }

  unmap(startPage: number, nPages: number): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    try {
      this.libc.munmap(this.addr(startPage), nPages * this.pageSize);
      this.prot.fill(P_UNMAPPED, startPage, startPage + nPages);
      return OK;
    } catch (e) {
      return fail(e);
    }
  }

  remap(startPage: number, nPages: number): OpOutcome {
    this.checkRange(startPage, nPages);
    if (nPages === 0) return OK;
    const addr = this.addr(startPage);
    const len = nPages * this.pageSize;
    let mapped = false;
    try {
      const flags = (this.shared ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED_NOREPLACE;
      const got = this.libc.mmap(
        addr,
        len,
        PROT_READ | PROT_WRITE,
        flags,
        this.memfd,
        startPage * this.pageSize,
      );
      mapped = true;
      if (got !== addr) throw new Error(`remap landed at 0x${got.toString(16)}, not 0x${addr.toString(16)}`);
      this.libc.madvise(addr, len, MADV_NOHUGEPAGE);
      uffdRegister(this.uffd, addr, len, UFFDIO_REGISTER_MODE_WP);
      this.prot.fill(P_RW, startPage, startPage + nPages);
      return OK;
    } catch (e) {
      if (mapped) this.libc.munmap(addr, len);
      return fail(e);
    }
  }

  /** Re-derive the per-page protection table from /proc/self/maps. */
  refreshProtFromMaps(): void {
    this.prot.fill(P_UNMAPPED);
    const lo = this.base;
    const hi = this.base + this.pages * this.pageSize;
    for (const line of readFileSync('/proc/self/maps', 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+)/.exec(line);
      if (!m) continue;
      const s = Math.max(lo, Number.parseInt(m[1]!, 16));
      const e = Math.min(hi, Number.parseInt(m[2]!, 16));
      if (s >= e) continue;
      const perms = m[3]!;
      const code = perms[1] === 'w' ? P_RW : perms[0] === 'r' ? P_READ : P_NONE;
      this.prot.fill(code, (s - lo) / this.pageSize, (e - lo) / this.pageSize);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.views.length = 0;
    if (this.faultSink !== null) getPerfFaults()?.untrack(this.faultSink);
    // munmap drops the uffd registration of the range with the VMA
    this.libc.munmap(this.base, this.pages * this.pageSize);
    this.libc.close(this.memfd);
  }
}
