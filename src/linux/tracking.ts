/**
 * The tracking API shared by the real kernel backend ({@link ./real-backend.ts}) and the model
 * backend (src/linux/model-backend.ts, on top of src/mm). One operation sequence runs on both and
 * the results compare with deep equality, so everything here is in PAGE INDICES relative to the
 * region's first page, never in addresses, and every outcome is plain data.
 *
 * ## The object being modelled
 * A {@link Region} is `pages` pages of one memfd (shmem) file, mapped at one contiguous virtual
 * range with `MAP_SHARED` (default) or `MAP_PRIVATE`, `PROT_READ|PROT_WRITE`, and registered with
 * a userfaultfd in write-protect mode with features WP_ASYNC | WP_UNPOPULATED |
 * WP_HUGETLBFS_SHMEM (spec §10.1). Page `i` of the region is page `i` of the file. Freshly opened:
 * no page of the file has been touched, no PTE exists, nothing is write-protected. There are no
 * huge pages (the real backend sets MADV_NOHUGEPAGE; the probe skips if shmem THP is forced).
 *
 * ## Semantics a backend must reproduce (observed on Linux 6.18.44; docs/kernel.md)
 * Each mapped page is in one of four states, per its PTE in the VMA covering it:
 * `empty` (no PTE, no marker), `marker` (a uffd-wp PTE marker in an empty PTE), `present-wp`
 * (present PTE with the uffd-wp bit), `present-written` (present PTE without it). Its categories:
 * | state            | categories                                          |
 * |------------------|-----------------------------------------------------|
 * | empty            | WPALLOWED \| WRITTEN                                |
 * | marker           | WPALLOWED \| SWAPPED (a marker is a swap-format entry) |
 * | present-wp       | WPALLOWED \| PRESENT \| FILE*                        |
 * | present-written  | WPALLOWED \| PRESENT \| FILE* \| WRITTEN              |
 * (*) FILE unless the page is a MAP_PRIVATE copy made by a store (anonymous): then PRESENT only.
 * PROT_NONE/READ do not change the state or its categories. Unmapped pages belong to no VMA and
 * are never reported by any scan (whatever the masks). PFNZERO, HUGE, SOFT_DIRTY, GUARD never
 * occur. Category bits 0..8 (WPALLOWED..GUARD, `PM_SCAN_CATEGORIES`) are accepted in masks;
 * bit 9 and above are rejected with EINVAL (6.18).
 * Transitions:
 * - store/fill: any state -> present-written (async uffd-wp: the fault clears the bit; a shared
 *   page keeps FILE, a MAP_PRIVATE page becomes an anonymous copy, i.e. loses FILE).
 * - load: empty -> present-written (!: a read fault over an empty PTE maps the page without the
 *   uffd-wp bit, so it reports WRITTEN); marker -> present-wp; present states unchanged.
 * - {@link Region.armWriteProtect} (UFFDIO_WRITEPROTECT mode WP): empty -> marker,
 *   present-written -> present-wp. Unmapped pages in the range are skipped (ok), but a non-empty
 *   range with no mapped page at all fails with ENOENT.
 * - {@link Region.unprotect} (mode 0): marker -> empty, present-wp -> present-written; ENOENT
 *   as for armWriteProtect.
 * - scan with PM_SCAN_WP_MATCHING: every page REPORTED (matching and within the limits) that is
 *   WRITTEN goes present-written -> present-wp, empty -> marker.
 * - {@link Region.dontneed} (MADV_DONTNEED): present-wp -> marker, present-written -> empty;
 *   a shared page's data survives in the file, a private copy is dropped. If the range contains an
 *   unmapped page: ENOMEM, but every mapped page of the range is still zapped.
 * - {@link Region.mprotect}: state unchanged. If the range contains an unmapped page: ENOMEM and
 *   only the pages before the first unmapped page change protection (none if it is the first).
 * - {@link Region.unmap} (munmap): pages become unmapped; always ok.
 * - {@link Region.remap}: unmapped -> empty, rw (same file pages, registered for uffd-wp);
 *   EEXIST (nothing changes) if any page of the range is mapped.
 * A fresh Region is all `empty`, all rw.
 *
 * Scan output (one {@link Region.scan} call): pages are visited in order from `startPage`;
 * `c = categories ^ categoryInverted`; a page matches if `(c & categoryMask) === categoryMask` and
 * (`categoryAnyofMask === 0` or `c & categoryAnyofMask`). A matching page is reported with
 * `categories & returnMask` (the un-inverted categories). Consecutive reported pages with equal
 * reported categories merge into one region; unmapped pages break runs. Limits: a matching page
 * that would make the total reported pages exceed `maxPages` (if non-zero), or need a new region
 * when `vecLen` regions are already used, is not reported and the walk stops: `walkEnd` is that
 * page's index; with a reported region cut short by `maxPages`, `walkEnd` is the first page not
 * reported. Otherwise `walkEnd = endPage` (end rounded up). `vecLen = 0` (with vec non-NULL or
 * NULL) reports nothing and walks to the end. Errnos: struct size != 96, unknown flag bits,
 * unknown category bits in any mask, start not page-aligned, NULL vec with `vecLen > 0` -> EINVAL;
 * `endPage < startPage` -> EFAULT (when several apply, which one wins is not part of the
 * contract). A zero-length range is ok with no regions and `walkEnd = endPage`.
 * A WP_MATCHING scan only protects pages it reports.
 *
 * NOT in the comparable contract: `vecLen = 0` together with PM_SCAN_WP_MATCHING. The kernel then
 * takes a fast path: inside an existing page table it write-protects EVERY entry of the range
 * (masks and maxPages ignored), while pages without a page table are protected only if they
 * match the masks. Which tables exist depends on history (faults and WP create them; munmap,
 * and MADV_DONTNEED with CONFIG_PT_RECLAIM, free them). The real backend maps every region at a
 * 2 MiB-aligned address, so table k covers pages [512k, 512k+512) if a backend wants to model it;
 * differential tests should not generate this combination otherwise. test/linux/contract-ref.ts
 * is an executable reading of this contract, checked against the kernel by random sequences.
 *
 * ## Errors
 * Operations return {@link OpOutcome}/{@link ScanOutcome}: `{ok: false, errno: 'EINVAL'}` with the
 * symbolic errno the kernel gives. Only misuse of the API itself (page index out of
 * `[0, pages]`, a closed region, a store to a page that is unmapped or lacks the protection for
 * the access) throws: {@link TrackingAccessError} for the latter (a real store there would be
 * SIGSEGV), RangeError for the former.
 */
import {
  PAGE_IS_WRITTEN,
  type PageRegionAddr as PageRegionAddrType,
  PM_SCAN_WP_MATCHING,
} from './pagemap-scan.ts';

/** Protection of a page: `none`, `read` (PROT_READ) or `rw` (PROT_READ|PROT_WRITE). */
export type Prot = 'none' | 'read' | 'rw';

/** Options for {@link TrackingBackend.open}. */
export interface OpenOptions {
  /** `MAP_SHARED` (true, default) or `MAP_PRIVATE` (false). */
  shared?: boolean;
}

/** A reported run of pages `[start, end)` (page indices relative to the region) with its categories. */
export interface PageRegion {
  start: number;
  end: number;
  categories: number;
}

/**
 * A run `[start, end)` of pages (relative indices) whose /proc/self/pagemap entries carry the same
 * flag bits: `flags` is the entry shifted right by 55 (see {@link PM_PRESENT} and friends); the
 * frame bits below 55 (a PFN or a swap entry, zero without CAP_SYS_ADMIN) are not part of it.
 */
export interface PagemapRun {
  start: number;
  end: number;
  flags: number;
}

/** pagemap flag bits as in {@link PagemapRun.flags} (Documentation/admin-guide/mm/pagemap.rst). */
export const PM_SOFT_DIRTY = 1 << 0; // bit 55
export const PM_MMAP_EXCLUSIVE = 1 << 1; // bit 56
export const PM_UFFD_WP = 1 << 2; // bit 57
export const PM_GUARD_REGION = 1 << 3; // bit 58
export const PM_FILE = 1 << 6; // bit 61
export const PM_SWAP = 1 << 7; // bit 62
export const PM_PRESENT = 1 << 8; // bit 63

/** `PRESENT|FILE|...` rendering of pagemap flags (0 = `-`). */
export function pagemapFlagNames(f: number): string {
  const names: string[] = [];
  if (f & PM_PRESENT) names.push('PRESENT');
  if (f & PM_SWAP) names.push('SWAP');
  if (f & PM_FILE) names.push('FILE');
  if (f & PM_GUARD_REGION) names.push('GUARD');
  if (f & PM_UFFD_WP) names.push('UFFD_WP');
  if (f & PM_MMAP_EXCLUSIVE) names.push('EXCL');
  if (f & PM_SOFT_DIRTY) names.push('SOFT_DIRTY');
  const rest = f & ~0x1cf;
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.length ? names.join('|') : '-';
}

/**
 * Append pages `first + i` with flags `flags[i]` (`i < n`) to a run-length list (pages in
 * increasing order, after any already in `out`). One comparison per page, an object per run.
 */
export function pushPagemapRuns(
  out: PagemapRun[],
  first: number,
  flags: { readonly [i: number]: number },
  n: number,
  shift = 0,
  stride = 1,
): void {
  if (n === 0) return;
  let runStart = first;
  let cur = flags[0]! >>> shift;
  const last = out[out.length - 1];
  let open: PagemapRun | null = last !== undefined && last.end === first && last.flags === cur ? last : null;
  for (let i = 1; i < n; i++) {
    const f = flags[i * stride]! >>> shift;
    if (f === cur) continue;
    if (open !== null) open.end = first + i;
    else out.push({ start: runStart, end: first + i, flags: cur });
    open = null;
    runStart = first + i;
    cur = f;
  }
  if (open !== null) open.end = first + n;
  else out.push({ start: runStart, end: first + n, flags: cur });
}

/** Success or a kernel error, as data. */
export type OpOutcome = { ok: true } | { ok: false; errno: string };

/**
 * A PAGEMAP_SCAN request in page units. Every field of `struct pm_scan_arg` is reachable:
 * `start`/`end` via `startPage`/`endPage` (+ byte adjustments), `vec`/`vec_len` via `vecLen`
 * and `vecNull`, the rest directly. Defaults make the common "which pages were written" call short.
 */
export interface ScanRequest {
  /** First page (relative); `start = base + startPage * pageSize + startByteOffset`. */
  startPage: number;
  /** End page, exclusive; `end = base + endPage * pageSize + endByteOffset`. */
  endPage: number;
  /** Added to `start` in bytes (non-zero and not a page multiple -> EINVAL). Default 0. */
  startByteOffset?: number;
  /** Added to `end` in bytes (the kernel rounds `end` up to a page). Default 0. */
  endByteOffset?: number;
  /** `flags` (raw bits; PM_SCAN_WP_MATCHING, PM_SCAN_CHECK_WPASYNC; others -> EINVAL). Default 0. */
  flags?: number;
  /** Default 0. */
  categoryInverted?: number;
  /** Default PAGE_IS_WRITTEN. */
  categoryMask?: number;
  /** Default 0. */
  categoryAnyofMask?: number;
  /** Default PAGE_IS_WRITTEN. */
  returnMask?: number;
  /** `max_pages`; 0 = unlimited. Default 0. */
  maxPages?: number;
  /** `vec_len` in regions. Default: `max(1, endPage - startPage)` (never a limit). */
  vecLen?: number;
  /** Pass `vec = NULL` (with `vecLen` as given; non-zero -> EINVAL). Default false. */
  vecNull?: boolean;
  /** `size` field override (anything but 96 -> EINVAL). Default 96. */
  structSize?: number;
}

/** Result of a scan: the regions (page indices, relative) and `walk_end` as a relative page index. */
export type ScanOutcome = { ok: true; regions: PageRegion[]; walkEnd: number } | { ok: false; errno: string };

/** Options of {@link Region.collect}. */
export interface CollectOptions {
  /** Default 0. */
  startPage?: number;
  /** Default: to the end of the region. */
  nPages?: number;
  /** PM_SCAN_WP_MATCHING: write-protect the reported pages again in the same walk. */
  reprotect: boolean;
  /** `max_pages`; 0/undefined = unlimited. */
  maxPages?: number;
  /** `vec_len`; undefined = unlimited. */
  vecLen?: number;
}

/** Result of {@link Region.collect}: WRITTEN regions (categories = PAGE_IS_WRITTEN) and walk_end. */
export interface CollectResult {
  regions: PageRegion[];
  walkEnd: number;
}

/** A store or load the real machine would answer with SIGSEGV. */
export class TrackingAccessError extends Error {
  readonly page: number;
  constructor(page: number, what: string) {
    super(`page ${page}: ${what}`);
    this.page = page;
  }
}

/**
 * API-misuse checks shared by every backend: a closed region, or a page range / page and offset
 * outside `[0, pages)` / `[0, pageSize)`, throw (they are caller bugs, not kernel errors).
 */
export function assertPageRange(closed: boolean, pages: number, startPage: number, nPages: number): void {
  if (closed) throw new Error('region is closed');
  if (
    !Number.isInteger(startPage) ||
    !Number.isInteger(nPages) ||
    startPage < 0 ||
    nPages < 0 ||
    startPage + nPages > pages
  ) {
    throw new RangeError(`page range (${startPage}, ${nPages}) outside [0, ${pages})`);
  }
}

export function assertPageOffset(
  closed: boolean,
  pages: number,
  pageSize: number,
  page: number,
  offset: number,
): void {
  if (closed) throw new Error('region is closed');
  if (!Number.isInteger(page) || page < 0 || page >= pages) throw new RangeError(`page ${page}`);
  if (!Number.isInteger(offset) || offset < 0 || offset >= pageSize) throw new RangeError(`offset ${offset}`);
}

/**
 * One tracked memfd mapping. Page indices are `0 <= page < pages`; ranges are
 * `(startPage, nPages)` with `startPage + nPages <= pages`; `nPages` may be 0 (no-op, ok).
 */
export interface Region {
  readonly pages: number;
  readonly pageSize: number;
  readonly shared: boolean;
  /** Current protection of `page`, or `null` if unmapped (bookkeeping, no kernel call). */
  protOf(page: number): Prot | null;
  /** Store byte `value & 0xff` at `offset` in `page`. Throws TrackingAccessError if not `rw`. */
  store(page: number, offset: number, value: number): void;
  /** Load the byte at `offset` in `page`. Throws TrackingAccessError if `none` or unmapped. */
  load(page: number, offset: number): number;
  /** Set every byte of `nPages` pages to `value` (= a store to each page). All must be `rw`. */
  fill(startPage: number, nPages: number, value: number): void;
  /** UFFDIO_WRITEPROTECT mode WP on the range. */
  armWriteProtect(startPage: number, nPages: number): OpOutcome;
  /** UFFDIO_WRITEPROTECT mode 0 on the range. */
  unprotect(startPage: number, nPages: number): OpOutcome;
  /** Written pages of a range, optionally re-protected (one PAGEMAP_SCAN call, no resumption). */
  collect(opts: CollectOptions): CollectResult;
  /** One raw PAGEMAP_SCAN call. */
  scan(req: ScanRequest): ScanOutcome;
  mprotect(startPage: number, nPages: number, prot: Prot): OpOutcome;
  /** madvise(MADV_DONTNEED). */
  dontneed(startPage: number, nPages: number): OpOutcome;
  /** munmap. */
  unmap(startPage: number, nPages: number): OpOutcome;
  /** Map the same file pages again, rw, registered for uffd-wp. */
  remap(startPage: number, nPages: number): OpOutcome;
  /** Release everything the region owns (mapping, file). Idempotent; any use afterwards throws. */
  close(): void;
  /**
   * Page faults taken by this region's operations since it was opened (the real backend: the
   * thread's fault count read around each access and system call; the model: its hardware fault
   * counter). Optional: differential runs compare faults only when both backends count them.
   */
  faults?(): number;
  /**
   * The /proc/self/pagemap flags of pages `[startPage, startPage + nPages)`, run-length encoded.
   * Optional, as {@link faults}.
   */
  pagemap?(startPage: number, nPages: number): PagemapRun[];
}

/** A way to create {@link Region}s: the real kernel or the model. */
export interface TrackingBackend {
  /** `'kernel'` or `'model'`. */
  readonly name: string;
  open(pages: number, opts?: OpenOptions): Region;
}

/** Translate absolute kernel regions into relative page indices. */
export function toPageRegions(
  regions: readonly PageRegionAddrType[],
  base: number,
  pageSize: number,
): PageRegion[] {
  const out: PageRegion[] = new Array(regions.length);
  for (let i = 0; i < regions.length; i++) {
    const r = regions[i]!;
    out[i] = { start: (r.start - base) / pageSize, end: (r.end - base) / pageSize, categories: r.categories };
  }
  return out;
}

/** The {@link ScanRequest} that {@link Region.collect} issues (shared by both backends). */
export function collectRequest(pages: number, opts: CollectOptions): ScanRequest {
  const startPage = opts.startPage ?? 0;
  const nPages = opts.nPages ?? pages - startPage;
  const req: ScanRequest = {
    startPage,
    endPage: startPage + nPages,
    flags: opts.reprotect ? PM_SCAN_WP_MATCHING : 0,
    categoryMask: PAGE_IS_WRITTEN,
    returnMask: PAGE_IS_WRITTEN,
    maxPages: opts.maxPages ?? 0,
  };
  if (opts.vecLen !== undefined) req.vecLen = opts.vecLen;
  return req;
}

/** Result of {@link scanToEnd}. */
export interface ScanToEndResult {
  regions: PageRegion[];
  calls: number;
}

/**
 * Run `req` repeatedly, each time from the previous `walkEnd`, until the range is done (the
 * userspace resumption loop). Works on any backend. Throws on a scan error or on no progress.
 */
export function scanToEnd(region: Region, req: ScanRequest): ScanToEndResult {
  const regions: PageRegion[] = [];
  let start = req.startPage;
  let calls = 0;
  for (;;) {
    const r = region.scan({ ...req, startPage: start });
    calls++;
    if (!r.ok) throw new Error(`scan from page ${start} failed: ${r.errno}`);
    for (const x of r.regions) regions.push(x);
    if (r.walkEnd >= req.endPage) break;
    if (r.walkEnd <= start && r.regions.length === 0)
      throw new Error(`scan made no progress at page ${start}`);
    start = r.walkEnd;
  }
  return { regions, calls };
}

/** Expand regions into the sorted list of their page indices. */
export function pagesOf(regions: readonly PageRegion[]): number[] {
  const out: number[] = [];
  for (const r of regions) for (let p = r.start; p < r.end; p++) out.push(p);
  return out;
}

/** Compress a sorted list of page indices into regions with the given categories. */
export function regionsOf(pages: readonly number[], categories: number): PageRegion[] {
  const out: PageRegion[] = [];
  for (const p of pages) {
    const last = out[out.length - 1];
    if (last !== undefined && last.end === p) last.end = p + 1;
    else out.push({ start: p, end: p + 1, categories });
  }
  return out;
}
