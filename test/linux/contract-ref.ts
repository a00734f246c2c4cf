/**
 * An executable reading of the {@link Region} contract in src/linux/tracking.ts: a per-page state
 * table, nothing more (no page tables, no TLBs). It exists to check that the contract as written
 * is what the kernel does (contract.test.ts runs random operation sequences on it and on the real
 * kernel and compares every outcome), and it runs the tracking suite itself. It is a test oracle,
 * not the model: the model backend (src/linux/model-backend.ts) derives the same answers from the
 * simulated page tables of src/mm.
 */
import {
  PAGE_IS_FILE,
  PAGE_IS_PRESENT,
  PAGE_IS_SWAPPED,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PM_SCAN_CATEGORIES,
  PM_SCAN_CHECK_WPASYNC,
  PM_SCAN_WP_MATCHING,
  SIZEOF_PM_SCAN_ARG,
} from '../../src/linux/pagemap-scan.ts';
import {
  type CollectOptions,
  type CollectResult,
  collectRequest,
  type OpenOptions,
  type OpOutcome,
  type PageRegion,
  type Prot,
  type Region,
  type ScanOutcome,
  type ScanRequest,
  TrackingAccessError,
  type TrackingBackend,
} from '../../src/linux/tracking.ts';

/** Page states of the contract. */
export const enum S {
  Unmapped = 0,
  Empty = 1,
  Marker = 2,
  PresentWp = 3,
  PresentWritten = 4,
}

const OK: OpOutcome = { ok: true };
const PAGE = 4096;

export class RefBackend implements TrackingBackend {
  readonly name = 'reference';
  open(pages: number, opts: OpenOptions = {}): RefRegion {
    return new RefRegion(pages, opts.shared ?? true);
  }
}

export class RefRegion implements Region {
  readonly pageSize = PAGE;
  readonly state: Uint8Array;
  readonly prot: (Prot | null)[];
  /** MAP_PRIVATE: the page is an anonymous copy (PRESENT without FILE). */
  readonly anon: Uint8Array;
  private readonly file = new Map<number, Uint8Array>();
  private readonly copy = new Map<number, Uint8Array>();
  private closed = false;

  constructor(
    readonly pages: number,
    readonly shared: boolean,
  ) {
    this.state = new Uint8Array(pages).fill(S.Empty);
    this.prot = new Array(pages).fill('rw');
    this.anon = new Uint8Array(pages);
  }

  private range(s: number, n: number): void {
    if (this.closed) throw new Error('region is closed');
    if (!Number.isInteger(s) || !Number.isInteger(n) || s < 0 || n < 0 || s + n > this.pages) {
      throw new RangeError(`page range (${s}, ${n})`);
    }
  }

  categories(p: number): number {
    const st = this.state[p]!;
    const A = PAGE_IS_WPALLOWED;
    if (st === S.Empty) return A | PAGE_IS_WRITTEN;
    if (st === S.Marker) return A | PAGE_IS_SWAPPED;
    const c = A | PAGE_IS_PRESENT | (this.anon[p] ? 0 : PAGE_IS_FILE);
    return st === S.PresentWritten ? c | PAGE_IS_WRITTEN : c;
  }

  protOf(page: number): Prot | null {
    this.range(page, 1);
    return this.prot[page]!;
  }

  store(page: number, offset: number, value: number): void {
    this.range(page, 1);
    if (this.prot[page] !== 'rw') throw new TrackingAccessError(page, 'store to a page that is not writable');
    this.state[page] = S.PresentWritten;
    let bytes: Uint8Array;
    if (this.shared) {
      bytes = this.file.get(page) ?? new Uint8Array(PAGE);
      this.file.set(page, bytes);
    } else {
      bytes = this.copy.get(page) ?? new Uint8Array(this.file.get(page) ?? new Uint8Array(PAGE));
      this.copy.set(page, bytes);
      this.anon[page] = 1;
    }
    bytes[offset] = value;
  }

  load(page: number, offset: number): number {
    this.range(page, 1);
    const pr = this.prot[page];
    if (pr === null || pr === 'none')
      throw new TrackingAccessError(page, 'load from a page that is not readable');
    const st = this.state[page]!;
    if (st === S.Empty) this.state[page] = S.PresentWritten;
    else if (st === S.Marker) this.state[page] = S.PresentWp;
    const bytes = (this.shared ? undefined : this.copy.get(page)) ?? this.file.get(page);
    return bytes ? bytes[offset]! : 0;
  }

  fill(startPage: number, nPages: number, value: number): void {
    this.range(startPage, nPages);
    for (let p = startPage; p < startPage + nPages; p++) {
      if (this.prot[p] !== 'rw') throw new TrackingAccessError(p, 'fill of a page that is not writable');
    }
    for (let p = startPage; p < startPage + nPages; p++) {
      this.store(p, 0, value);
      const b = (this.shared ? this.file : this.copy).get(p)!;
      b.fill(value);
    }
  }

  private anyMapped(s: number, n: number): boolean {
    for (let p = s; p < s + n; p++) if (this.state[p] !== S.Unmapped) return true;
    return false;
  }

  armWriteProtect(s: number, n: number): OpOutcome {
    this.range(s, n);
    if (n > 0 && !this.anyMapped(s, n)) return { ok: false, errno: 'ENOENT' };
    for (let p = s; p < s + n; p++) this.protect(p);
    return OK;
  }

  private protect(p: number): void {
    const st = this.state[p];
    if (st === S.Empty) this.state[p] = S.Marker;
    else if (st === S.PresentWritten) this.state[p] = S.PresentWp;
  }

  unprotect(s: number, n: number): OpOutcome {
    this.range(s, n);
    if (n > 0 && !this.anyMapped(s, n)) return { ok: false, errno: 'ENOENT' };
    for (let p = s; p < s + n; p++) {
      const st = this.state[p];
      if (st === S.Marker) this.state[p] = S.Empty;
      else if (st === S.PresentWp) this.state[p] = S.PresentWritten;
    }
    return OK;
  }

  collect(opts: CollectOptions): CollectResult {
    const r = this.scan(collectRequest(this.pages, opts));
    if (!r.ok) throw new Error(`collect failed: ${r.errno}`);
    return { regions: r.regions, walkEnd: r.walkEnd };
  }

  scan(req: ScanRequest): ScanOutcome {
    if (this.closed) throw new Error('region is closed');
    const flags = req.flags ?? 0;
    const inv = req.categoryInverted ?? 0;
    const mask = req.categoryMask ?? PAGE_IS_WRITTEN;
    const anyof = req.categoryAnyofMask ?? 0;
    const ret = req.returnMask ?? PAGE_IS_WRITTEN;
    const maxPages = req.maxPages ?? 0;
    const vecLen = req.vecLen ?? Math.max(1, req.endPage - req.startPage);
    const so = req.startByteOffset ?? 0;
    const eo = req.endByteOffset ?? 0;
    const known = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
    const bad = (x: number) => Math.floor(x / 2 ** 9) !== 0 || (x & ~PM_SCAN_CATEGORIES) !== 0;
    if ((req.structSize ?? SIZEOF_PM_SCAN_ARG) !== SIZEOF_PM_SCAN_ARG) return { ok: false, errno: 'EINVAL' };
    if (Math.floor(flags / 4) !== 0 || (flags & ~known) !== 0) return { ok: false, errno: 'EINVAL' };
    if (bad(inv) || bad(mask) || bad(anyof) || bad(ret)) return { ok: false, errno: 'EINVAL' };
    if (so % PAGE !== 0) return { ok: false, errno: 'EINVAL' };
    const start = req.startPage + so / PAGE;
    const endBytes = req.endPage * PAGE + eo;
    if (endBytes < start * PAGE) return { ok: false, errno: 'EFAULT' };
    if (req.vecNull && vecLen > 0) return { ok: false, errno: 'EINVAL' };
    const end = Math.ceil(endBytes / PAGE);
    const wp = (flags & PM_SCAN_WP_MATCHING) !== 0;
    const regions: PageRegion[] = [];
    if (vecLen === 0) {
      // no output: the walk only write-protects (every mapped page of the range)
      if (wp) for (let p = start; p < end; p++) this.protect(p);
      return { ok: true, regions, walkEnd: end };
    }
    let total = 0;
    // the kernel copies regions out in batches of 512; walk_end is set where a batch fills up and
    // is not reset when a later batch reaches `end` (Linux 6.18, docs/kernel-diff.md finding 1)
    let inBatch = 0;
    let stoppedAt = -1;
    for (let p = start; p < end; p++) {
      if (this.state[p] === S.Unmapped) continue;
      const cat = this.categories(p);
      const c = cat ^ inv;
      if ((c & mask) !== mask || (anyof !== 0 && (c & anyof) === 0)) continue;
      if (maxPages !== 0 && total === maxPages) return { ok: true, regions, walkEnd: p };
      const rep = cat & ret;
      const last = regions[regions.length - 1];
      if (last !== undefined && last.end === p && last.categories === rep) last.end = p + 1;
      else {
        if (regions.length === vecLen) return { ok: true, regions, walkEnd: p };
        if (inBatch === 512) {
          stoppedAt = p;
          inBatch = 0;
        }
        regions.push({ start: p, end: p + 1, categories: rep });
        inBatch++;
      }
      total++;
      if (wp && cat & PAGE_IS_WRITTEN) this.protect(p);
    }
    return { ok: true, regions, walkEnd: stoppedAt >= 0 ? stoppedAt : end };
  }

  mprotect(s: number, n: number, prot: Prot): OpOutcome {
    this.range(s, n);
    for (let p = s; p < s + n; p++) {
      if (this.state[p] === S.Unmapped) return { ok: false, errno: 'ENOMEM' };
      this.prot[p] = prot;
    }
    return OK;
  }

  dontneed(s: number, n: number): OpOutcome {
    this.range(s, n);
    let hole = false;
    for (let p = s; p < s + n; p++) {
      const st = this.state[p];
      if (st === S.Unmapped) hole = true;
      else if (st === S.PresentWp) this.state[p] = S.Marker;
      else if (st === S.PresentWritten) this.state[p] = S.Empty;
      this.anon[p] = 0;
      this.copy.delete(p);
    }
    return hole ? { ok: false, errno: 'ENOMEM' } : OK;
  }

  unmap(s: number, n: number): OpOutcome {
    this.range(s, n);
    for (let p = s; p < s + n; p++) {
      this.state[p] = S.Unmapped;
      this.prot[p] = null;
      this.anon[p] = 0;
      this.copy.delete(p);
    }
    return OK;
  }

  remap(s: number, n: number): OpOutcome {
    this.range(s, n);
    for (let p = s; p < s + n; p++) if (this.state[p] !== S.Unmapped) return { ok: false, errno: 'EEXIST' };
    for (let p = s; p < s + n; p++) {
      this.state[p] = S.Empty;
      this.prot[p] = 'rw';
    }
    return OK;
  }

  close(): void {
    this.closed = true;
  }
}
