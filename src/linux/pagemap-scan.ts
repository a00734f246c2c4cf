/**
 * The PAGEMAP_SCAN ioctl on /proc/self/pagemap (Linux 6.7+, spec §10.2): walk a virtual range,
 * classify each page into categories, report runs of equally-categorised matching pages as
 * `page_region`s, and optionally (PM_SCAN_WP_MATCHING) write-protect the written ones in the
 * same walk. Every field of `struct pm_scan_arg` is exposed.
 *
 * Constants are from include/uapi/linux/fs.h; the ioctl number is computed from `_IOWR`.
 */
import { getLibc, MAP_ANONYMOUS, MAP_PRIVATE, O_CLOEXEC, O_RDONLY, PROT_READ, PROT_WRITE } from './libc.ts';
import { iowr } from './uffd.ts';

/** `PAGE_IS_WPALLOWED` (linux/fs.h): the VMA is registered for async uffd-wp. */
export const PAGE_IS_WPALLOWED = 1 << 0;
/** `PAGE_IS_WRITTEN` (linux/fs.h): the page's entry lacks the uffd-wp bit. */
export const PAGE_IS_WRITTEN = 1 << 1;
/** `PAGE_IS_FILE` (linux/fs.h): file-backed (shmem/memfd included). */
export const PAGE_IS_FILE = 1 << 2;
/** `PAGE_IS_PRESENT` (linux/fs.h). */
export const PAGE_IS_PRESENT = 1 << 3;
/** `PAGE_IS_SWAPPED` (linux/fs.h). */
export const PAGE_IS_SWAPPED = 1 << 4;
/** `PAGE_IS_PFNZERO` (linux/fs.h): maps the shared zero page. */
export const PAGE_IS_PFNZERO = 1 << 5;
/** `PAGE_IS_HUGE` (linux/fs.h): THP or hugetlb. */
export const PAGE_IS_HUGE = 1 << 6;
/** `PAGE_IS_SOFT_DIRTY` (linux/fs.h). */
export const PAGE_IS_SOFT_DIRTY = 1 << 7;
/** `PAGE_IS_GUARD` (linux/fs.h, 6.15+): the page is a guard region (MADV_GUARD_INSTALL). */
export const PAGE_IS_GUARD = 1 << 8;
/** Every category bit this module knows (later kernels may know more; the kernel rejects others). */
export const PM_SCAN_CATEGORIES =
  PAGE_IS_WPALLOWED |
  PAGE_IS_WRITTEN |
  PAGE_IS_FILE |
  PAGE_IS_PRESENT |
  PAGE_IS_SWAPPED |
  PAGE_IS_PFNZERO |
  PAGE_IS_HUGE |
  PAGE_IS_SOFT_DIRTY |
  PAGE_IS_GUARD;
/** Names of the category bits, lowest first. */
export const CATEGORY_NAMES: readonly string[] = [
  'WPALLOWED',
  'WRITTEN',
  'FILE',
  'PRESENT',
  'SWAPPED',
  'PFNZERO',
  'HUGE',
  'SOFT_DIRTY',
  'GUARD',
];

/** `PM_SCAN_WP_MATCHING` (linux/fs.h): write-protect the matching written pages. */
export const PM_SCAN_WP_MATCHING = 1 << 0;
/** `PM_SCAN_CHECK_WPASYNC` (linux/fs.h): fail with EPERM on a VMA that is not WP-async capable. */
export const PM_SCAN_CHECK_WPASYNC = 1 << 1;

/** `sizeof(struct pm_scan_arg)`: 12 `__u64` fields. */
export const SIZEOF_PM_SCAN_ARG = 96;
/** `sizeof(struct page_region)`: `{__u64 start, end, categories}`. */
export const SIZEOF_PAGE_REGION = 24;
/** `PAGEMAP_SCAN = _IOWR('f', 16, struct pm_scan_arg)` = 0xc0606610. */
export const PAGEMAP_SCAN = iowr(0x66, 16, SIZEOF_PM_SCAN_ARG);

/**
 * `struct pm_scan_arg` minus the output field `walk_end` and `vec` (given separately). Addresses
 * and lengths are numbers; masks are numbers (bits up to 2^52 can be expressed, enough to send
 * unknown bits for validation tests).
 */
export interface PmScanArg {
  /** `size`: defaults to {@link SIZEOF_PM_SCAN_ARG}; anything else is rejected by the kernel. */
  size?: number;
  /** `flags`: PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC (other bits are rejected). */
  flags: number;
  /** `start`: first address; must be page aligned. */
  start: number;
  /** `end`: exclusive end address; rounded up to a page by the kernel. */
  end: number;
  /** `vec_len`: capacity of the output vector in regions (0 = report nothing, only walk). */
  vecLen: number;
  /** `max_pages`: cap on reported pages in total; 0 = unlimited. */
  maxPages: number;
  /** `category_inverted`: categories XOR-ed before matching. */
  categoryInverted: number;
  /** `category_mask`: all these (after inversion) must be set. */
  categoryMask: number;
  /** `category_anyof_mask`: if non-zero, at least one of these must be set. */
  categoryAnyofMask: number;
  /** `return_mask`: categories reported in `page_region.categories`. */
  returnMask: number;
}

/** One `struct page_region`: `[start, end)` addresses and the reported categories. */
export interface PageRegionAddr {
  start: number;
  end: number;
  categories: number;
}

/** Result of one PAGEMAP_SCAN call. */
export interface PmScanResult {
  /** The ioctl's return value: regions written to `vec`. */
  nRegions: number;
  /** `walk_end` as written back by the kernel. */
  walkEnd: number;
}

/**
 * An output vector of `page_region`s in its own anonymous mapping, so its address is stable and
 * can be placed in `pm_scan_arg.vec`. Read it with {@link ScanVec.region} or {@link ScanVec.regions}.
 */
export class ScanVec {
  readonly capacity: number;
  readonly address: number;
  private readonly bytes: number;
  // u32 halves: reading a u64 as lo + hi * 2^32 avoids a BigInt per field
  private readonly u32: Uint32Array;
  private closed = false;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ScanVec capacity ${capacity}`);
    const libc = getLibc();
    this.capacity = capacity;
    this.bytes = Math.ceil((capacity * SIZEOF_PAGE_REGION) / libc.pageSize) * libc.pageSize;
    this.address = libc.mmap(0, this.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    this.u32 = new Uint32Array(libc.view(this.address, this.bytes));
  }

  private u64(i: number): number {
    return this.u32[2 * i]! + this.u32[2 * i + 1]! * 4294967296;
  }

  /** Region `i` (0-based) of the last scan. */
  region(i: number): PageRegionAddr {
    const b = i * 3;
    return { start: this.u64(b), end: this.u64(b + 1), categories: this.u64(b + 2) };
  }

  /**
   * Write every page of the vector once, so that the kernel's copy_to_user into it takes no page
   * fault (differential runs count faults around the ioctl).
   */
  touch(): void {
    this.u32.fill(0);
  }

  /** The first `n` regions. */
  regions(n: number): PageRegionAddr[] {
    const out: PageRegionAddr[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.region(i);
    return out;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    getLibc().munmap(this.address, this.bytes);
  }
}

// One reusable argument block (the ioctl reads and writes it during the call).
const argBuf = new BigUint64Array(12);

/**
 * One PAGEMAP_SCAN call on `pagemapFd` (an fd of /proc/self/pagemap). `vec` is the output vector
 * address (a {@link ScanVec}'s, or 0 for NULL). Throws SyscallError on failure (EINVAL, EFAULT,
 * EPERM, ENOTTY on kernels without the ioctl, ...). `walkEnd` is read back after the call.
 */
export function pagemapScan(pagemapFd: number, arg: PmScanArg, vec: number): PmScanResult {
  argBuf[0] = BigInt(arg.size ?? SIZEOF_PM_SCAN_ARG);
  argBuf[1] = BigInt(arg.flags);
  argBuf[2] = BigInt(arg.start);
  argBuf[3] = BigInt(arg.end);
  argBuf[4] = 0n; // walk_end (out)
  argBuf[5] = BigInt(vec);
  argBuf[6] = BigInt(arg.vecLen);
  argBuf[7] = BigInt(arg.maxPages);
  argBuf[8] = BigInt(arg.categoryInverted);
  argBuf[9] = BigInt(arg.categoryMask);
  argBuf[10] = BigInt(arg.categoryAnyofMask);
  argBuf[11] = BigInt(arg.returnMask);
  const n = getLibc().ioctl(pagemapFd, PAGEMAP_SCAN, argBuf);
  return { nRegions: n, walkEnd: Number(argBuf[4]!) };
}

/** Result of {@link pagemapScanAll}. */
export interface PmScanAllResult {
  /** All regions reported, in address order, as the calls returned them (not merged across calls). */
  regions: PageRegionAddr[];
  /** Number of ioctl calls made. */
  calls: number;
}

/**
 * Scan `[arg.start, arg.end)` to the end: repeat PAGEMAP_SCAN from the previous call's `walk_end`
 * until `walk_end == end` (rounded up to a page). `max_pages` applies per call, as in the kernel.
 * `vec` must hold at least `arg.vecLen` regions.
 */
export function pagemapScanAll(pagemapFd: number, arg: PmScanArg, vec: ScanVec): PmScanAllResult {
  if (arg.vecLen > vec.capacity)
    throw new RangeError(`vecLen ${arg.vecLen} > ScanVec capacity ${vec.capacity}`);
  const pageSize = getLibc().pageSize;
  const end = Math.ceil(arg.end / pageSize) * pageSize;
  const regions: PageRegionAddr[] = [];
  let start = arg.start;
  let calls = 0;
  for (;;) {
    const r = pagemapScan(pagemapFd, { ...arg, start }, vec.address);
    calls++;
    for (let i = 0; i < r.nRegions; i++) regions.push(vec.region(i));
    if (r.walkEnd >= end) break;
    if (r.walkEnd <= start && r.nRegions === 0) {
      throw new Error(`PAGEMAP_SCAN made no progress at 0x${start.toString(16)} (walk_end ${r.walkEnd})`);
    }
    start = r.walkEnd;
  }
  return { regions, calls };
}

/** Open /proc/self/pagemap read-only (PAGEMAP_SCAN needs no more). */
export function openPagemap(): number {
  return getLibc().open('/proc/self/pagemap', O_RDONLY | O_CLOEXEC);
}

/** Merge adjacent regions with equal categories (what the kernel does within one call). */
export function mergeRegions<R extends { start: number; end: number; categories: number }>(
  regions: readonly R[],
): R[] {
  const out: R[] = [];
  for (const r of regions) {
    const last = out[out.length - 1];
    if (last !== undefined && last.end === r.start && last.categories === r.categories) {
      out[out.length - 1] = { ...last, end: r.end };
    } else {
      out.push({ ...r });
    }
  }
  return out;
}

/** `WRITTEN|PRESENT` style rendering of a category mask. */
export function categoryNames(mask: number): string {
  const names: string[] = [];
  for (let b = 0; b < CATEGORY_NAMES.length; b++) if (mask & (1 << b)) names.push(CATEGORY_NAMES[b]!);
  const rest = mask & ~PM_SCAN_CATEGORIES;
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.length ? names.join('|') : '0';
}
