/**
 * Differential runs of the tracking API (`dirtyscope kernel diff`): seeded random operation
 * sequences applied to two {@link TrackingBackend}s (the real kernel and the model), every
 * observable compared per operation, a coverage report of what the run exercised, and a mismatch
 * shrunk to a short sequence with small parameters (delta debugging, then parameter shrinking).
 *
 * ## What is compared, per operation
 * - the result (ops.ts {@link applyOp}): return value or errno, every scan region and `walk_end`,
 *   every call of a resumption loop, the probe of a relative-limit scan;
 * - the page faults the operation took (`f`: real side, the thread's fault count around each
 *   access and system call; model, its hardware-fault counter), and for a multi-page `touch`
 *   which stores/loads faulted and how often (`sf`, run-length encoded);
 * - the /proc/self/pagemap flags (present, swap, file/shared, uffd-wp, exclusive, soft-dirty,
 *   guard) of every page in the operation's range (`pm`, run-length encoded), except after a
 *   scan without WP_MATCHING (it changes no entry: the next observation covers the pages);
 * - after the last operation: the full category map, protections, pagemap and fault total.
 * Faults and pagemap are compared when both backends provide them (the contract reference of
 * the tests does not); {@link DiffReport.compared} says which were.
 *
 * ## The generator (probabilities are per sequence or per operation, as stated)
 * Per sequence: MAP_SHARED 3/4, MAP_PRIVATE 1/4. Region size (pages): 1 (5%), 2..8 (13%),
 * 9..511 (38%), 512 (5%), 513..4095 (27%), 4096..65535 (9%), 65536..262143 (2%), 262144 = 2^18
 * (1%); within a class log-uniform. Per operation (weights out of 100): store 11, load 4,
 * fill 4 (dense, up to 1024 pages), touch 10 (4 in 5 stores, 1 in 5 loads, every `step`-th
 * page, step 1 (1/4, dense), 2 (1/3, one region per page), 3..9 (sparse); pages touched
 * log-uniform in 1..512, or with 1/10 in 2048..12000), wp 9, unprotect 4, scan 26, scanAll (the walk_end loop) 10, mprotect 8,
 * dontneed 8, unmap 3, remap 3.
 * Ranges: 30% overlap one of the last six ranges used (same, inside, shifted, enclosing), 10%
 * the whole region, 10% one page, 15% across or onto a page-table boundary (512 pages), else a
 * log-uniform length at a uniform start.
 * Scans: range whole 40%, empty 3%, else as above; end unaligned 1/8; WP_MATCHING 1/2. Masks:
 * the fast-path request (mask = return = WRITTEN, no anyof/inverted) 40%; exactly one field off
 * the fast path 25%; each field random 35% (zero 1/2, else a non-empty set of the categories a
 * tracked page can have, plus with 1/10 one that it cannot have). Limits: none 35%, relative
 * vec_len 20% (n-1, n, n+1, or n plus a random delta; n = regions of the unlimited answer),
 * relative max_pages 15% (likewise in pages), both relative 10%, absolute vec_len 10% (1, 2,
 * 511, 513, 1024 or random, 1/8 each; 512, 1/4), absolute max_pages 10%. 3% of single scans are invalid
 * (struct size, unknown flag, unknown category bit, unaligned start, end < start, NULL vec):
 * one error each. Never generated: vec_len 0 with WP_MATCHING (outside the comparable contract,
 * tracking.ts), huge pages.
 *
 * Same seed, same sequences, same report, byte for byte.
 */
import { Prng } from '../checker/prng.ts';
import {
  applyOp,
  isComparable,
  type OpInfo,
  observe,
  opRange,
  type RelativeLimits,
  type TrackingOp,
  touchValue,
} from './ops.ts';
import {
  PAGE_IS_FILE,
  PAGE_IS_GUARD,
  PAGE_IS_HUGE,
  PAGE_IS_PFNZERO,
  PAGE_IS_PRESENT,
  PAGE_IS_SOFT_DIRTY,
  PAGE_IS_SWAPPED,
  PAGE_IS_WPALLOWED,
  PAGE_IS_WRITTEN,
  PM_SCAN_WP_MATCHING,
} from './pagemap-scan.ts';
import {
  type PageRegion,
  type Prot,
  type Region,
  type ScanRequest,
  TrackingAccessError,
  type TrackingBackend,
} from './tracking.ts';

/** One generated sequence. */
export interface DiffCase {
  /** Index of the sequence in the run (its PRNG seed is `seqSeed(seed, index)`). */
  index: number;
  pages: number;
  shared: boolean;
  ops: TrackingOp[];
}

/** Everything compared for one step (see the file comment). */
export interface Observation {
  /** The result of the op (or of the final observation). */
  r: unknown;
  /** Faults taken by the op (or in total, at the end). */
  f?: number;
  /** Per-access faults of a touch: triples [first access index, accesses, faults each]. */
  sf?: number[];
  /** pagemap flags of the op's range (all pages at the end). */
  pm?: unknown;
}

/** One step (`step = ops.length` is the final observation). */
export interface StepResult {
  step: number;
  op: TrackingOp | null;
  a: Observation;
  b: Observation;
}

/** A mismatch, shrunk. */
export interface DiffMismatch {
  index: number;
  /** Region size after shrinking (the generated size is `originalPages`). */
  pages: number;
  originalPages: number;
  shared: boolean;
  /** Length of the sequence as generated. */
  originalLength: number;
  /** The shortest, simplest sequence found that still mismatches. */
  ops: TrackingOp[];
  /** Results of every step of `ops` on both backends (a = first backend, b = second). */
  steps: StepResult[];
  /** Index into `steps` of the first disagreement. */
  firstDiff: number;
  /** Sequence runs spent shrinking. */
  shrinkRuns: number;
}

/** What a run exercised: operations per feature/boundary, and the required ones it missed. */
export interface Coverage {
  /** Operations (or sequences, for `region.*`) that exercised each feature, sorted by name. */
  counts: Record<string, number>;
  /** Required features ({@link REQUIRED_COVERAGE}) with a count of 0. */
  missing: string[];
}

export interface DiffReport {
  version: 2;
  backends: [string, string];
  seed: number;
  sequences: number;
  length: number;
  /** Sequences run (fewer than `sequences` if a mismatch stopped the run). */
  ran: number;
  /** Operations applied per backend. */
  ops: number;
  /** Observables compared: always `result`; `faults` and `pagemap` when both backends have them. */
  compared: string[];
  agreed: boolean;
  mismatch: DiffMismatch | null;
  coverage: Coverage;
}

export interface DiffOptions {
  sequences: number;
  length: number;
  seed: number;
  /** Fixed region size instead of the random mix. */
  pages?: number;
  /** Called every `progressEvery` sequences (stderr progress in the CLI). */
  onProgress?: (done: number, total: number) => void;
  progressEvery?: number;
  /** Budget of sequence runs for shrinking (default 3000). */
  shrinkBudget?: number;
}

// ---------------------------------------------------------------------------------------------
// generator

const PROTS: readonly Prot[] = ['none', 'read', 'rw'];
/** Categories a page of a tracked memfd mapping can have. */
const CATS = [PAGE_IS_WPALLOWED, PAGE_IS_WRITTEN, PAGE_IS_FILE, PAGE_IS_PRESENT, PAGE_IS_SWAPPED];
/** Accepted categories it never has (on this setup). */
const NEVER = [PAGE_IS_PFNZERO, PAGE_IS_HUGE, PAGE_IS_SOFT_DIRTY, PAGE_IS_GUARD];
const W = PAGE_IS_WRITTEN;

/** Region size classes: [percent, lo, hi] (log-uniform within). */
const SIZE_CLASSES: readonly (readonly [number, number, number])[] = [
  [5, 1, 1],
  [13, 2, 8],
  [38, 9, 511],
  [5, 512, 512],
  [27, 513, 4095],
  [9, 4096, 65535],
  [2, 65536, 262143],
  [1, 262144, 262144],
];

/** Largest region the generator makes (2^18 pages, 1 GiB). */
export const MAX_PAGES = 262144;
const TOUCH_MAX = 12000;
const FILL_MAX = 1024;
const P_UNMAPPED = 255;
const P_CODE: Record<Prot, number> = { none: 0, read: 1, rw: 3 };

/** Log-uniform integer in [lo, hi]. */
function logUniform(g: Prng, lo: number, hi: number): number {
  if (hi <= lo) return lo;
  const x = Math.exp(Math.log(lo) + (g.u32() / 4294967296) * (Math.log(hi + 1) - Math.log(lo)));
  return Math.min(hi, Math.max(lo, Math.floor(x)));
}

/** Generator state of one sequence: size, recent ranges, a shadow of the protections. */
interface Gen {
  g: Prng;
  pages: number;
  recent: { s: number; n: number }[];
  /** Protection codes as the generator expects them (bias only: never needed for correctness). */
  prot: Uint8Array;
}

function remember(st: Gen, r: { s: number; n: number }): void {
  if (r.n === 0) return;
  st.recent.push({ s: r.s, n: r.n });
  if (st.recent.length > 6) st.recent.shift();
}

function clampRange(P: number, s: number, n: number): { s: number; n: number } {
  const s2 = Math.max(0, Math.min(P - 1, s));
  return { s: s2, n: Math.max(0, Math.min(P - s2, n)) };
}

/** A page range (see the file comment for the mix). */
function pickRange(st: Gen): { s: number; n: number } {
  const { g, pages: P } = st;
  const r = g.below(100);
  if (r < 30 && st.recent.length > 0) {
    const b = st.recent[g.below(st.recent.length)]!;
    switch (g.below(4)) {
      case 0:
        return clampRange(P, b.s, b.n);
      case 1: {
        const s = b.s + g.below(b.n);
        return clampRange(P, s, 1 + g.below(b.s + b.n - s));
      }
      case 2: {
        const shift = g.below(b.n + 1) - (b.n >> 1);
        return clampRange(P, b.s + shift, b.n);
      }
      default: {
        const s = Math.max(0, b.s - g.below(b.n + 1));
        return clampRange(P, s, b.s + b.n - s + g.below(b.n + 1));
      }
    }
  }
  if (r < 40) return { s: 0, n: P };
  if (r < 50) return { s: g.below(P), n: 1 };
  if (r < 65 && P > 512) {
    const boundary = 512 * (1 + g.below(Math.floor((P - 1) / 512)));
    const v = g.below(3);
    if (v === 0) return clampRange(P, boundary - 1 - g.below(3), 2 + g.below(6)); // across
    if (v === 1) return clampRange(P, boundary, 512); // one whole table
    return clampRange(P, boundary - 512 * (1 + g.below(2)), 1024 + g.below(3) - 1); // tables +-1
  }
  const n = logUniform(g, 1, P);
  return { s: g.below(P - n + 1), n };
}

/** A page whose shadow protection allows the access (3 tries, then any page). */
function pickPage(st: Gen, write: boolean): number {
  let p = 0;
  for (let i = 0; i < 3; i++) {
    p = st.g.below(st.pages);
    const c = st.prot[p]!;
    if (write ? c === P_CODE.rw : c === P_CODE.rw || c === P_CODE.read) return p;
  }
  return p;
}

/** A non-empty set of `CATS` (and with 1/10 one of `NEVER`). */
function catSet(g: Prng): number {
  let m = 0;
  while (m === 0) for (const c of CATS) if (g.below(2) === 0) m |= c;
  if (g.below(10) === 0) m |= NEVER[g.below(NEVER.length)]!;
  return m;
}

/** Masks of a scan: the fast path, one field off it, or random (see the file comment). */
function masks(g: Prng, req: ScanRequest): void {
  const r = g.below(100);
  if (r < 40) {
    if (g.below(2) === 0) {
      req.categoryMask = W;
      req.returnMask = W;
    } // else the defaults (the same request)
    return;
  }
  req.categoryMask = W;
  req.returnMask = W;
  req.categoryAnyofMask = 0;
  req.categoryInverted = 0;
  if (r < 65) {
    switch (g.below(4)) {
      case 0: {
        let m = catSet(g);
        if (m === W) m |= PAGE_IS_WPALLOWED;
        req.categoryMask = g.below(4) === 0 ? 0 : m;
        break;
      }
      case 1: {
        let m = catSet(g);
        if (m === W) m = W | PAGE_IS_PRESENT;
        req.returnMask = g.below(4) === 0 ? 0 : m;
        break;
      }
      case 2:
        req.categoryAnyofMask = catSet(g);
        break;
      default:
        req.categoryInverted = catSet(g);
    }
    return;
  }
  req.categoryMask = g.below(2) === 0 ? 0 : catSet(g);
  req.categoryInverted = g.below(2) === 0 ? 0 : catSet(g);
  req.categoryAnyofMask = g.below(2) === 0 ? 0 : catSet(g);
  req.returnMask = g.below(2) === 0 ? 0 : catSet(g);
}

function relDelta(g: Prng): number {
  const v = g.below(4);
  if (v < 3) return v - 1;
  return g.below(41) - 20;
}

/** Limits of a scan (`loop`: inside a resumption loop, which must make progress). */
function limits(g: Prng, req: ScanRequest, loop: boolean): RelativeLimits | undefined {
  const r = g.below(100);
  if (r < 35) return undefined;
  if (r < 55) return { vec: relDelta(g) };
  if (r < 70) return { max: relDelta(g) };
  if (r < 80) return { vec: relDelta(g), max: relDelta(g) };
  if (r < 90) {
    const v = g.below(8);
    req.vecLen = [1, 2, 511, 512, 512, 513, 1024][v] ?? (loop ? 1 : 0) + g.below(64);
    return undefined;
  }
  req.maxPages = 1 + (g.below(2) === 0 ? g.below(8) : logUniform(g, 1, 20000));
  return undefined;
}

/** The range of a scan: whole 40%, empty 3%, else {@link pickRange}; end unaligned 1/8. */
function scanRange(st: Gen, req: ScanRequest): void {
  const { g, pages } = st;
  const r = g.below(100);
  let s = 0;
  let n = pages;
  if (r >= 40 && r < 43) {
    s = g.below(pages + 1);
    n = 0;
  } else if (r >= 43) ({ s, n } = pickRange(st));
  req.startPage = s;
  req.endPage = s + n;
  if (n > 0 && g.below(8) === 0) req.endByteOffset = -(1 + g.below(4095)); // end rounds up
}

/** One invalid request (a single error each). */
function invalidate(g: Prng, req: ScanRequest): void {
  switch (g.below(6)) {
    case 0:
      req.structSize = g.below(2) === 0 ? 88 : 104;
      break;
    case 1:
      req.flags = (req.flags ?? 0) | (1 << (2 + g.below(6)));
      break;
    case 2: {
      const bit = 1 << (9 + g.below(8));
      const f = g.below(4);
      if (f === 0) req.categoryMask = (req.categoryMask ?? W) | bit;
      else if (f === 1) req.categoryInverted = bit;
      else if (f === 2) req.categoryAnyofMask = bit;
      else req.returnMask = (req.returnMask ?? W) | bit;
      break;
    }
    case 3:
      req.startByteOffset = 1 + g.below(4095);
      break;
    case 4:
      req.endPage = req.startPage;
      req.endByteOffset = -4096 * (1 + g.below(3));
      break;
    default:
      req.vecNull = true;
      req.vecLen = 1 + g.below(4);
  }
}

function scanOp(st: Gen, loop: boolean): TrackingOp {
  const g = st.g;
  const req: ScanRequest = { startPage: 0, endPage: 0 };
  scanRange(st, req);
  if (g.below(2) === 0) req.flags = PM_SCAN_WP_MATCHING;
  masks(g, req);
  const rel = limits(g, req, loop);
  if (!loop && g.below(100) < 3) {
    delete req.endByteOffset;
    invalidate(g, req);
  }
  if (!isComparable({ k: 'scan', req })) req.vecLen = 1;
  if (req.startPage !== req.endPage) remember(st, { s: req.startPage, n: req.endPage - req.startPage });
  const k = loop ? 'scanAll' : 'scan';
  return rel === undefined ? { k, req } : { k, req, rel };
}

/** One random operation (see the file comment for the weights). */
function randomOp(st: Gen): TrackingOp {
  const { g, pages: P } = st;
  const w = g.below(100);
  if (w < 11) return { k: 'store', p: pickPage(st, true), v: g.below(256) };
  if (w < 15) return { k: 'load', p: pickPage(st, false) };
  if (w < 19) {
    const r = pickRange(st);
    const n = Math.min(r.n, FILL_MAX);
    remember(st, { s: r.s, n });
    return { k: 'fill', s: r.s, n };
  }
  if (w < 29) {
    const write = g.below(5) !== 0;
    const v = g.below(12);
    const step = v < 3 ? 1 : v < 7 ? 2 : 3 + g.below(7);
    const s = pickRange(st).s;
    const count = g.below(10) === 0 ? logUniform(g, 2048, TOUCH_MAX) : logUniform(g, 1, 512);
    const n = Math.min(P - s, count * step);
    remember(st, { s, n });
    return { k: 'touch', s, n, step, write };
  }
  if (w < 38) {
    const r = pickRange(st);
    remember(st, r);
    return { k: 'wp', ...r };
  }
  if (w < 42) {
    const r = pickRange(st);
    remember(st, r);
    return { k: 'unprotect', ...r };
  }
  if (w < 68) return scanOp(st, false);
  if (w < 78) return scanOp(st, true);
  if (w < 86) {
    const r = pickRange(st);
    const prot = PROTS[g.below(3)]!;
    remember(st, r);
    for (let p = r.s; p < r.s + r.n && st.prot[p] !== P_UNMAPPED; p++) st.prot[p] = P_CODE[prot];
    return { k: 'mprotect', ...r, prot };
  }
  if (w < 94) {
    const r = pickRange(st);
    remember(st, r);
    return { k: 'dontneed', ...r };
  }
  if (w < 97) {
    const r = pickRange(st);
    const n = Math.min(r.n, Math.max(1, P >> 2));
    st.prot.fill(P_UNMAPPED, r.s, r.s + n);
    return { k: 'unmap', s: r.s, n };
  }
  // remap: prefer a hole the generator unmapped (else a random range: EEXIST)
  let s = g.below(P);
  for (let i = 0; i < 8 && st.prot[s] !== P_UNMAPPED; i++) s = g.below(P);
  let n = 0;
  const cap = 1 + g.below(Math.max(1, P >> 2));
  while (s + n < P && n < cap && (st.prot[s + n] === P_UNMAPPED || n === 0)) n++;
  if (st.prot[s] === P_UNMAPPED) st.prot.fill(P_CODE.rw, s, s + n);
  return { k: 'remap', s, n };
}

/** The PRNG seed of sequence `index`: a mix of the run's seed and the index (splitmix32). */
export function seqSeed(seed: number, index: number): number {
  let z = (seed ^ Math.imul(index + 1, 0x9e3779b9)) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** A region size drawn from {@link SIZE_CLASSES}. */
function regionSize(g: Prng): number {
  let r = g.below(100);
  for (const [pct, lo, hi] of SIZE_CLASSES) {
    if (r < pct) return logUniform(g, lo, hi);
    r -= pct;
  }
  return 1;
}

/** Sequence `index` of a run with `seed` (independent of every other sequence). */
export function generateCase(seed: number, index: number, length: number, pages?: number): DiffCase {
  const g = new Prng(seqSeed(seed, index));
  const shared = g.below(4) !== 0;
  const n = pages ?? regionSize(g);
  const st: Gen = { g, pages: n, recent: [], prot: new Uint8Array(n).fill(P_CODE.rw) };
  const ops: TrackingOp[] = new Array(length);
  for (let i = 0; i < length; i++) ops[i] = randomOp(st);
  return { index, pages: n, shared, ops };
}

// ---------------------------------------------------------------------------------------------
// comparison

/** Structural equality of plain data (JSON-like values). */
export function sameData(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x)) {
    if (!Array.isArray(y) || x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!sameData(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(y)) return false;
  const kx = Object.keys(x);
  const ky = Object.keys(y);
  if (kx.length !== ky.length) return false;
  for (const key of kx) {
    if (!Object.hasOwn(y, key)) return false;
    if (!sameData((x as Record<string, unknown>)[key], (y as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/** A backend error (not a result): carried as data so it can be compared and shown. */
function guarded(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    return { threw: e instanceof Error ? `${e.name}: ${e.message}` : String(e) };
  }
}

/** Which optional observables both regions have. */
interface Compare {
  faults: boolean;
  pagemap: boolean;
}

function compareOf(a: Region, b: Region): Compare {
  return {
    faults: typeof a.faults === 'function' && typeof b.faults === 'function',
    pagemap: typeof a.pagemap === 'function' && typeof b.pagemap === 'function',
  };
}

/** A touch, access by access, with the faults of each (triples [first, count, faults]). */
function touchWithFaults(r: Region, op: Extract<TrackingOp, { k: 'touch' }>, sf: number[]): unknown {
  const faults = r.faults!.bind(r);
  let sum = 0;
  let i = 0;
  try {
    for (let p = op.s; p < op.s + op.n; p += op.step, i++) {
      const f0 = faults();
      if (op.write) r.store(p, p % r.pageSize, touchValue(p));
      else sum = (sum * 31 + r.load(p, p % r.pageSize)) % 2147483647;
      const f = faults() - f0;
      const n = sf.length;
      if (n > 0 && sf[n - 1] === f && sf[n - 3]! + sf[n - 2]! === i) sf[n - 2]!++;
      else sf.push(i, 1, f);
    }
  } catch (e) {
    if (e instanceof TrackingAccessError) return { access: e.page };
    throw e;
  }
  return op.write ? 'ok' : { sum };
}

/** Apply one op (or the final observation, `op === null`) and observe what `cmp` asks for. */
function stepObserve(r: Region, op: TrackingOp | null, cmp: Compare, info: OpInfo | null): Observation {
  if (op === null) {
    const o: Observation = { r: guarded(() => observe(r)) };
    if (cmp.faults) o.f = r.faults!();
    if (cmp.pagemap) o.pm = guarded(() => r.pagemap!(0, r.pages));
    return o;
  }
  const f0 = cmp.faults ? r.faults!() : 0;
  let o: Observation;
  if (op.k === 'touch' && cmp.faults) {
    const sf: number[] = [];
    o = { r: guarded(() => touchWithFaults(r, op, sf)), sf };
  } else o = { r: guarded(() => applyOp(r, op, info)) };
  if (cmp.faults) o.f = r.faults!() - f0;
  if (cmp.pagemap && changesEntries(op)) {
    const { s, e } = opRange(op);
    const e2 = Math.min(r.pages, Math.max(s, e));
    o.pm = guarded(() => r.pagemap!(Math.min(s, r.pages), e2 - Math.min(s, r.pages)));
  }
  return o;
}

/** False for a scan (or resumption loop) without WP_MATCHING: it changes no page table entry. */
function changesEntries(op: TrackingOp): boolean {
  return !((op.k === 'scan' || op.k === 'scanAll') && ((op.req.flags ?? 0) & PM_SCAN_WP_MATCHING) === 0);
}

function threw(o: Observation): boolean {
  return typeof o.r === 'object' && o.r !== null && 'threw' in o.r;
}

/**
 * Run `ops` on a fresh region of each backend. Returns the index of the first disagreeing step
 * (ops.length = the final observation), or -1; with `record`, every step's results; with `cov`,
 * coverage of backend `a`'s side is counted.
 */
export function runCase(
  a: TrackingBackend,
  b: TrackingBackend,
  c: { pages: number; shared: boolean; ops: readonly TrackingOp[] },
  record: StepResult[] | null = null,
  cov: CoverageCounter | null = null,
): number {
  const ra = a.open(c.pages, { shared: c.shared });
  let rb: Region;
  try {
    rb = b.open(c.pages, { shared: c.shared });
  } catch (e) {
    ra.close();
    throw e;
  }
  const cmp = compareOf(ra, rb);
  cov?.sequence(c.pages, c.shared);
  const info: OpInfo = { probe: null, req: null };
  try {
    let first = -1;
    for (let i = 0; i <= c.ops.length; i++) {
      const op = i < c.ops.length ? c.ops[i]! : null;
      info.probe = null;
      info.req = null;
      const xa = stepObserve(ra, op, cmp, cov === null ? null : info);
      const xb = stepObserve(rb, op, cmp, null);
      if (record !== null) record.push({ step: i, op, a: xa, b: xb });
      if (op !== null && cov !== null) cov.op(op, xa, info, c.pages);
      if (!sameData(xa, xb)) {
        if (first < 0) first = i;
        if (record === null) break;
        if (op === null || threw(xa) || threw(xb)) break;
      }
    }
    return first;
  } finally {
    ra.close();
    rb.close();
  }
}

/** The observables `a` and `b` both provide (for the report). */
function comparedBy(a: TrackingBackend, b: TrackingBackend): string[] {
  const ra = a.open(1);
  const rb = b.open(1);
  try {
    const cmp = compareOf(ra, rb);
    const out = ['result'];
    if (cmp.faults) out.push('faults');
    if (cmp.pagemap) out.push('pagemap');
    return out;
  } finally {
    ra.close();
    rb.close();
  }
}

// ---------------------------------------------------------------------------------------------
// coverage

const ORDER_KINDS = ['protect', 'unprotect', 'write', 'read', 'dontneed', 'mprotect'] as const;

function orderKind(op: TrackingOp): (typeof ORDER_KINDS)[number] | null {
  switch (op.k) {
    case 'wp':
      return 'protect';
    case 'unprotect':
      return 'unprotect';
    case 'store':
    case 'fill':
      return 'write';
    case 'load':
      return 'read';
    case 'touch':
      return op.write ? 'write' : 'read';
    case 'dontneed':
      return 'dontneed';
    case 'mprotect':
      return 'mprotect';
    default:
      return null;
  }
}

const SIZE_BUCKETS: readonly [string, number, number][] = [
  ['1', 1, 1],
  ['2..511', 2, 511],
  ['512', 512, 512],
  ['513..4095', 513, 4095],
  ['4096..65535', 4096, 65535],
  ['65536..262143', 65536, 262143],
  ['262144', 262144, 262144],
];

const MASK_LETTERS = ['m', 'i', 'a', 'r'] as const;

/** Every feature/boundary the issue lists; a run that misses one says so. */
export const REQUIRED_COVERAGE: readonly string[] = [
  ...SIZE_BUCKETS.map(([n]) => `region.pages=${n}`),
  'region.shared',
  'region.private',
  'scan.regions=0',
  'scan.regions=1..511',
  'scan.regions>512',
  'scan.regions>=2048',
  'scan.regions>=4096',
  'scan.vecLen<result',
  'scan.vecLen=result',
  'scan.vecLen>result',
  'scan.vecLen<result>512',
  'scan.vecLen=result>512',
  'scan.vecLen=512,result>512',
  'scan.maxPages.cut',
  'scan.maxPages.cutInsideRegion',
  'scan.maxPages=resultPages',
  'scan.maxPages>resultPages',
  'scan.walkEnd<end',
  'scan.walkEnd=end',
  'scan.path.fast',
  'scan.path.fast+wp',
  'scan.path.generic',
  'scan.path.generic+wp',
  'scan.offFast.mask',
  'scan.offFast.return',
  'scan.offFast.anyof',
  'scan.offFast.inverted',
  ...Array.from({ length: 16 }, (_, bits) => `scan.masks.${maskCode(bits)}`),
  'scan.endUnaligned',
  'scan.partialRange',
  'scan.emptyRange',
  'scan.crossesTable',
  'scan.errno.EINVAL',
  'scan.errno.EFAULT',
  'resume.calls>=2',
  'resume.calls>=10',
  'resume.wp',
  'resume.byVecLen',
  'resume.byMaxPages',
  'resume.regions>512',
  'write.dense',
  'write.sparse',
  'read.range',
  'store.faults=0',
  'store.faults=1',
  'store.faults=2',
  'access.SIGSEGV',
  'errno.ENOENT',
  'errno.ENOMEM',
  'errno.EEXIST',
  ...ORDER_KINDS.flatMap((x) => ORDER_KINDS.map((y) => `order.${x}>${y}`)),
];

/** `m-a-` style code of which of mask/inverted/anyof/return are non-zero (bit 0 = mask). */
function maskCode(bits: number): string {
  return MASK_LETTERS.map((l, i) => ((bits >> i) & 1 ? l : '-')).join('');
}

function isScanOutcome(x: unknown): x is { ok: true; regions: PageRegion[]; walkEnd: number } {
  return typeof x === 'object' && x !== null && (x as { ok?: unknown }).ok === true && 'walkEnd' in x;
}

/** Counts features as a run goes (backend `a`'s results). */
export class CoverageCounter {
  readonly counts = new Map<string, number>();
  /** Recent range ops of the current sequence: [kind, s, e]. */
  private recent: [string, number, number][] = [];

  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }

  sequence(pages: number, shared: boolean): void {
    this.recent = [];
    for (const [name, lo, hi] of SIZE_BUCKETS)
      if (pages >= lo && pages <= hi) this.add(`region.pages=${name}`);
    this.add(shared ? 'region.shared' : 'region.private');
  }

  op(op: TrackingOp, o: Observation, info: OpInfo, pages: number): void {
    this.add(`op.${op.k}`);
    const r = o.r as Record<string, unknown> | string | number | null;
    if (typeof r === 'object' && r !== null) {
      if ('access' in r) this.add('access.SIGSEGV');
      if (r.ok === false && op.k !== 'scan' && op.k !== 'scanAll') this.add(`errno.${String(r.errno)}`);
    }
    if (op.k === 'store' && o.f !== undefined && typeof r === 'string') this.add(`store.faults=${o.f}`);
    if (op.k === 'touch' && o.sf !== undefined && op.write)
      for (let i = 0; i < o.sf.length; i += 3) this.add(`store.faults=${o.sf[i + 2]}`, o.sf[i + 1]);
    if (op.k === 'touch') {
      const accesses = Math.ceil(op.n / op.step);
      if (op.write && op.step === 1 && accesses >= 64) this.add('write.dense');
      if (op.write && op.step > 1 && accesses >= 64) this.add('write.sparse');
      if (!op.write && accesses >= 2) this.add('read.range');
    }
    if (op.k === 'fill' && op.n >= 64) this.add('write.dense');
    if (op.k === 'scan' || op.k === 'scanAll') this.scan(op, r, info, pages);
    this.order(op);
  }

  private order(op: TrackingOp): void {
    const kind = orderKind(op);
    if (kind === null) return;
    const { s, e } = opRange(op);
    if (e <= s) return;
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const [k, s0, e0] = this.recent[i]!;
      if (s0 < e && s < e0) {
        this.add(`order.${k}>${kind}`);
        break;
      }
    }
    this.recent.push([kind, s, e]);
    if (this.recent.length > 8) this.recent.shift();
  }

  private scan(
    op: Extract<TrackingOp, { k: 'scan' | 'scanAll' }>,
    r: unknown,
    info: OpInfo,
    pages: number,
  ): void {
    const req = info.req ?? op.req;
    const loop = op.k === 'scanAll';
    const x = r as Record<string, unknown> | null;
    if (x !== null && typeof x === 'object' && x.ok === false) {
      this.add(`scan.errno.${String(x.errno)}`);
      return;
    }
    const mask = req.categoryMask ?? W;
    const ret = req.returnMask ?? W;
    const anyof = req.categoryAnyofMask ?? 0;
    const inv = req.categoryInverted ?? 0;
    const wp = ((req.flags ?? 0) & PM_SCAN_WP_MATCHING) !== 0;
    const fast = mask === W && ret === W && anyof === 0 && inv === 0;
    this.add(`scan.path.${fast ? 'fast' : 'generic'}${wp ? '+wp' : ''}`);
    const off = [mask !== W, ret !== W, anyof !== 0, inv !== 0];
    if (off.filter(Boolean).length === 1)
      this.add(`scan.offFast.${['mask', 'return', 'anyof', 'inverted'][off.indexOf(true)]}`);
    this.add(`scan.masks.${maskCode((mask ? 1 : 0) | (inv ? 2 : 0) | (anyof ? 4 : 0) | (ret ? 8 : 0))}`);
    if (req.endByteOffset !== undefined && req.endByteOffset % 4096 !== 0) this.add('scan.endUnaligned');
    if (req.startPage > 0 || req.endPage < pages) this.add('scan.partialRange');
    if (req.startPage === req.endPage) this.add('scan.emptyRange');
    if (Math.floor(req.startPage / 512) !== Math.floor(Math.max(req.startPage, req.endPage - 1) / 512))
      this.add('scan.crossesTable');
    if (loop) {
      const y = x as { calls?: number; regions?: PageRegion[] } | null;
      if (y?.calls === undefined) return;
      if (y.calls >= 2) this.add('resume.calls>=2');
      if (y.calls >= 10) this.add('resume.calls>=10');
      if (y.calls >= 2 && wp) this.add('resume.wp');
      if (y.calls >= 2 && req.vecLen !== undefined && req.vecLen > 0) this.add('resume.byVecLen');
      if (y.calls >= 2 && (req.maxPages ?? 0) > 0) this.add('resume.byMaxPages');
      if ((y.regions?.length ?? 0) > 512) this.add('resume.regions>512');
      return;
    }
    if (!isScanOutcome(x)) return;
    const n = x.regions.length;
    const end = req.endPage;
    this.add(
      n === 0
        ? 'scan.regions=0'
        : n <= 511
          ? 'scan.regions=1..511'
          : n === 512
            ? 'scan.regions=512'
            : 'scan.regions>512',
    );
    if (n >= 2048) this.add('scan.regions>=2048');
    if (n >= 4096) this.add('scan.regions>=4096');
    this.add(x.walkEnd < end ? 'scan.walkEnd<end' : 'scan.walkEnd=end');
    // an absolute vec_len of 512 cut by itself (no max_pages): the answer had more than 512
    if (req.vecLen === 512 && n === 512 && x.walkEnd < end && !(req.maxPages ?? 0))
      this.add('scan.vecLen=512,result>512');
    const probe = info.probe;
    if (probe === null) return;
    // relative limits: the unlimited answer is known
    const full = probe.length;
    let fullPages = 0;
    for (const g of probe) fullPages += g.end - g.start;
    const vecLen = req.vecLen;
    if (vecLen !== undefined && full > 0 && op.rel?.vec !== undefined) {
      const rel = vecLen < full ? '<' : vecLen === full ? '=' : '>';
      this.add(`scan.vecLen${rel}result`);
      if (full > 512 && rel !== '>') this.add(`scan.vecLen${rel}result>512`);
      if (vecLen === 512 && full > 512) this.add('scan.vecLen=512,result>512');
    }
    const maxPages = req.maxPages ?? 0;
    if (maxPages > 0 && fullPages > 0 && op.rel?.max !== undefined) {
      if (maxPages === fullPages) this.add('scan.maxPages=resultPages');
      if (maxPages > fullPages) this.add('scan.maxPages>resultPages');
      let got = 0;
      for (const g of x.regions) got += g.end - g.start;
      if (maxPages < fullPages && got === maxPages && x.walkEnd < end) {
        this.add('scan.maxPages.cut');
        if (probe.some((g) => g.start < x.walkEnd && x.walkEnd < g.end))
          this.add('scan.maxPages.cutInsideRegion');
      }
    }
  }

  report(): Coverage {
    const counts: Record<string, number> = {};
    for (const k of [...this.counts.keys()].sort()) counts[k] = this.counts.get(k)!;
    return { counts, missing: REQUIRED_COVERAGE.filter((k) => !(this.counts.get(k)! > 0)) };
  }
}

// ---------------------------------------------------------------------------------------------
// shrinking

interface ShrinkCase {
  pages: number;
  shared: boolean;
  ops: TrackingOp[];
}

/** Smaller variants of one op (each a candidate replacement), simplest first. */
function simplerOps(op: TrackingOp): TrackingOp[] {
  const out: TrackingOp[] = [];
  const halve = (n: number): number[] => (n > 1 ? [1, n >> 1] : []);
  switch (op.k) {
    case 'store':
      if (op.v !== 1) out.push({ ...op, v: 1 });
      break;
    case 'touch':
      if (op.s > 0) out.push({ ...op, s: 0 }); // to the front, so the region can shrink
      for (const n of halve(op.n)) out.push({ ...op, n });
      if (op.step > 1) out.push({ ...op, step: op.step === 2 ? 1 : 2 });
      break;
    case 'fill':
    case 'wp':
    case 'unprotect':
    case 'dontneed':
    case 'unmap':
    case 'remap':
    case 'mprotect':
      if (op.s > 0) out.push({ ...op, s: 0 });
      for (const n of halve(op.n)) out.push({ ...op, n });
      if (op.n > 1) out.push({ ...op, s: op.s + (op.n >> 1), n: op.n - (op.n >> 1) });
      break;
    case 'scan':
    case 'scanAll': {
      const q = op.req;
      if (op.k === 'scanAll') out.push({ k: 'scan', req: q, ...(op.rel ? { rel: op.rel } : {}) });
      if (op.rel !== undefined) {
        const { rel: _drop, ...plain } = op;
        out.push(plain as TrackingOp);
      }
      const fields = [
        'endByteOffset',
        'startByteOffset',
        'maxPages',
        'vecLen',
        'categoryInverted',
        'categoryAnyofMask',
        'categoryMask',
        'returnMask',
        'flags',
        'structSize',
        'vecNull',
      ] as const;
      for (const f of fields)
        if (q[f] !== undefined) {
          const r2 = { ...q };
          delete r2[f];
          out.push({ ...op, req: r2 } as TrackingOp);
        }
      const n = q.endPage - q.startPage;
      if (q.startPage > 0) out.push({ ...op, req: { ...q, startPage: 0, endPage: n } } as TrackingOp);
      if (n > 1) {
        out.push({ ...op, req: { ...q, endPage: q.startPage + (n >> 1) } } as TrackingOp);
        out.push({ ...op, req: { ...q, startPage: q.startPage + (n >> 1) } } as TrackingOp);
      }
      break;
    }
    default:
      break;
  }
  return out.filter(isComparable);
}

/** The largest page index + 1 an op needs. */
function opExtent(op: TrackingOp): number {
  const { s, e } = opRange(op);
  return Math.max(e, s + 1);
}

/**
 * Shrink a mismatching case: delta debugging on the sequence (drop chunks, halving, until no
 * single op can go), then simpler parameters per op (smaller ranges and counts, fewer scan
 * fields), then a smaller region (halving, while every op still fits), repeated until nothing
 * changes or `budget` runs are spent. A 5000-region disagreement ends as a few ops on a few pages.
 */
export function shrink(
  a: TrackingBackend,
  b: TrackingBackend,
  c: DiffCase,
  budget = 3000,
): { ops: TrackingOp[]; pages: number; runs: number } {
  let cur: ShrinkCase = { pages: c.pages, shared: c.shared, ops: c.ops.slice() };
  let runs = 0;
  const fails = (x: ShrinkCase): boolean => {
    if (runs >= budget) return false;
    runs++;
    return runCase(a, b, x) >= 0;
  };
  // first cut: everything after the first disagreement is irrelevant
  const first = runCase(a, b, cur);
  runs++;
  if (first >= 0 && first < cur.ops.length) cur = { ...cur, ops: cur.ops.slice(0, first + 1) };
  for (let progress = true; progress && runs < budget; ) {
    progress = false;
    // 1. ddmin on the sequence
    let chunk = Math.max(1, cur.ops.length >> 1);
    for (;;) {
      let removed = false;
      for (let at = 0; at < cur.ops.length; ) {
        const ops = cur.ops.slice(0, at).concat(cur.ops.slice(at + chunk));
        if (ops.length < cur.ops.length && fails({ ...cur, ops })) {
          cur = { ...cur, ops };
          removed = true;
          progress = true;
        } else at += chunk;
      }
      if (chunk === 1 && !removed) break;
      if (!removed) chunk = Math.max(1, chunk >> 1);
      if (runs >= budget) break;
    }
    // 2. simpler parameters
    for (let i = 0; i < cur.ops.length && runs < budget; i++) {
      for (const cand of simplerOps(cur.ops[i]!)) {
        const ops = cur.ops.slice();
        ops[i] = cand;
        if (fails({ ...cur, ops })) {
          cur = { ...cur, ops };
          progress = true;
          i--; // try the same position again
          break;
        }
      }
    }
    // 3. a smaller region
    const need = cur.ops.reduce((m, op) => Math.max(m, opExtent(op)), 1);
    for (let p = cur.pages >> 1; p >= need && runs < budget; p >>= 1) {
      if (!fails({ ...cur, pages: p })) break;
      cur = { ...cur, pages: p };
      progress = true;
    }
    if (need < cur.pages && cur.pages > need && fails({ ...cur, pages: need })) {
      cur = { ...cur, pages: need };
      progress = true;
    }
  }
  return { ops: cur.ops, pages: cur.pages, runs };
}

// ---------------------------------------------------------------------------------------------
// the run

/** Run `opts.sequences` sequences on `a` and `b`; stop at the first mismatch and shrink it. */
export function runDiff(a: TrackingBackend, b: TrackingBackend, opts: DiffOptions): DiffReport {
  const cov = new CoverageCounter();
  const report: DiffReport = {
    version: 2,
    backends: [a.name, b.name],
    seed: opts.seed,
    sequences: opts.sequences,
    length: opts.length,
    ran: 0,
    ops: 0,
    compared: comparedBy(a, b),
    agreed: true,
    mismatch: null,
    coverage: { counts: {}, missing: [] },
  };
  const every = opts.progressEvery ?? 500;
  for (let i = 0; i < opts.sequences; i++) {
    const c = generateCase(opts.seed, i, opts.length, opts.pages);
    const first = runCase(a, b, c, null, cov);
    report.ran++;
    report.ops += first < 0 ? c.ops.length : Math.min(first + 1, c.ops.length);
    if (first >= 0) {
      const { ops, pages, runs } = shrink(a, b, c, opts.shrinkBudget);
      const steps: StepResult[] = [];
      runCase(a, b, { pages, shared: c.shared, ops }, steps);
      const firstDiff = steps.findIndex((s) => !sameData(s.a, s.b));
      report.agreed = false;
      report.mismatch = {
        index: i,
        pages,
        originalPages: c.pages,
        shared: c.shared,
        originalLength: c.ops.length,
        ops,
        steps,
        firstDiff,
        shrinkRuns: runs,
      };
      break;
    }
    if (opts.onProgress !== undefined && (i + 1) % every === 0) opts.onProgress(i + 1, opts.sequences);
  }
  report.coverage = cov.report();
  return report;
}
