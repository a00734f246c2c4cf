/**
 * Access-pattern generators. A generator fills a reusable batch of operations held in typed arrays
 * (struct of arrays: no object per store); a runner drains it with `next(batch)` until it returns 0.
 *
 * Page numbers are indices into the workload's page space (0 .. pages-1): the scenario's buffers
 * laid end to end in file order (see `bufferBases` in scenario.ts). Offsets are byte offsets inside
 * the 4 KiB page. A store's `value` is its 1-based sequence number (mod 2^32), so a consumer that
 * copied a stale page is caught by comparing values with the ground-truth log.
 *
 * Split of work: a `PageSource` decides *where* stores go (the pattern); `OpGenerator` decides
 * how many, which CPU issues each, and where the sync points fall. The source is called once per
 * run of stores between sync points (not once per store), so the per-op loop stays monomorphic.
 */
import { Prng } from './prng.ts';

export const PAGE_SIZE = 4096;
export const OP_STORE = 1;
export const OP_LOAD = 2;
/** A consumer sync point (GPU command submission / fsync of the framebuffer). Carries no page. */
export const OP_SYNC = 3;
export type OpKind = typeof OP_STORE | typeof OP_LOAD | typeof OP_SYNC;
/** CPUs are stored in a Uint8Array. */
export const MAX_CPUS = 256;

/** A batch of operations; entry i is (kind[i], cpu[i], page[i], offset[i], value[i]) for i < length. */
export interface OpBatch {
  readonly kind: Uint8Array;
  readonly cpu: Uint8Array;
  readonly page: Uint32Array;
  readonly offset: Uint16Array;
  readonly value: Uint32Array;
  length: number;
  readonly capacity: number;
}

export function createBatch(capacity = 4096): OpBatch {
  if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`batch capacity must be >= 1`);
  return {
    kind: new Uint8Array(capacity),
    cpu: new Uint8Array(capacity),
    page: new Uint32Array(capacity),
    offset: new Uint16Array(capacity),
    value: new Uint32Array(capacity),
    length: 0,
    capacity,
  };
}

/** Where stores go. `fill` writes page and offset of `n` consecutive stores starting at index `at`. */
export interface PageSource {
  readonly pages: number;
  fill(page: Uint32Array, offset: Uint16Array, at: number, n: number): void;
}

// ---------------------------------------------------------------------------------------------
// Pattern parameters (the scenario schema in scenario.ts produces exactly these shapes)

/**
 * sparse: the run is cut into phases of `phaseStores` stores; each phase picks `pagesPerPhase`
 * distinct pages uniformly at random, and each store of the phase hits one of them uniformly.
 * `phaseStores` defaults to the workload's `syncEvery` (one page set per consumer round), or to
 * all stores when there is no sync.
 */
export interface SparseParams {
  pattern: 'sparse';
  pagesPerPhase: number;
  phaseStores?: number | undefined;
}

/**
 * sequential: sweeps pages `start .. start+length-1` in order, `storesPerPage` consecutive 4-byte
 * words per page, then starts over. With `storesPerPage` 1, each sweep of `length` stores touches
 * every page of the window exactly once.
 */
export interface SequentialParams {
  pattern: 'sequential';
  start?: number | undefined;
  length?: number | undefined;
  storesPerPage?: number | undefined;
}

/**
 * hotset: a fixed random set of round(pages * hotFraction) pages (at least 1) receives a store
 * with probability `hotProbability`; otherwise the store hits a uniformly chosen cold page.
 */
export interface HotSetParams {
  pattern: 'hotset';
  hotFraction: number;
  hotProbability: number;
}

/** zipf: page of rank r (ranks are a random permutation of the pages) has weight 1 / r^exponent. */
export interface ZipfParams {
  pattern: 'zipf';
  exponent: number;
}

/**
 * rectangles: a `width` x `height` framebuffer of `bpp` bytes per pixel, `lineLength` bytes per
 * line (default width*bpp), mapped from page 0. Each rectangle of `rectWidth` x `rectHeight`
 * pixels (each side uniform in 1..max if `randomSize`) is placed uniformly inside the screen and
 * written pixel by pixel, row-major: one store per pixel, at the pixel's first byte.
 */
export interface RectanglesParams {
  pattern: 'rectangles';
  width: number;
  height: number;
  bpp: number;
  rectWidth: number;
  rectHeight: number;
  lineLength?: number | undefined;
  randomSize?: boolean | undefined;
}

export type BasicPatternParams =
  | SparseParams
  | SequentialParams
  | HotSetParams
  | ZipfParams
  | RectanglesParams;

/** phases: each entry runs for its `stores`, then the next; after the last, the list repeats. */
export interface PhasesParams {
  pattern: 'phases';
  phases: (BasicPatternParams & { stores: number })[];
}

export type PatternParams = BasicPatternParams | PhasesParams;

export type CpuMode = 'roundRobin' | 'random';

/** Stream shape shared by all patterns. */
export interface StreamParams {
  /** Total stores. */
  stores: number;
  /** A sync op after every `syncEvery` stores; 0 = none (except the final one). */
  syncEvery: number;
  /** roundRobin: store i runs on cpu i mod cpus; random: a uniform cpu per store. */
  cpuMode?: CpuMode | undefined;
  /** A sync after the last store unless one was just emitted (default true). */
  finalSync?: boolean | undefined;
}

export type WorkloadParams = PatternParams & StreamParams;

// ---------------------------------------------------------------------------------------------
// Sources

function checkPages(pages: number): void {
  if (!Number.isInteger(pages) || pages < 1 || pages > 0xffffffff)
    throw new RangeError(`pages must be an integer in [1, 2^32-1], got ${pages}`);
}

/** 2^22: the range of the high bits of a draw whose low 10 bits chose a word offset. */
const HIGH22 = 4194304;

/** 0..n-1 in a Uint32Array. */
function identity(n: number): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  return a;
}

/** Moves k uniformly chosen distinct elements of `perm` to its front (partial Fisher-Yates). */
function chooseFront(perm: Uint32Array, k: number, rng: Prng): void {
  const n = perm.length;
  for (let i = 0; i < k; i++) {
    const j = i + rng.below(n - i);
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
}

export class SparseSource implements PageSource {
  readonly pages: number;
  readonly pagesPerPhase: number;
  readonly phaseStores: number;
  /** A permutation of the pages; the current phase's set is its first `pagesPerPhase` entries. */
  private readonly perm: Uint32Array;
  private inPhase: number;
  private readonly rng: Prng;

  constructor(pages: number, pagesPerPhase: number, phaseStores: number, rng: Prng) {
    checkPages(pages);
    if (!Number.isInteger(pagesPerPhase) || pagesPerPhase < 1 || pagesPerPhase > pages)
      throw new RangeError(`pagesPerPhase must be an integer in [1, ${pages}], got ${pagesPerPhase}`);
    if (!Number.isInteger(phaseStores) || phaseStores < 1)
      throw new RangeError(`phaseStores must be a positive integer, got ${phaseStores}`);
    this.pages = pages;
    this.pagesPerPhase = pagesPerPhase;
    this.phaseStores = phaseStores;
    this.perm = identity(pages);
    this.rng = rng;
    this.inPhase = phaseStores; // the first store starts a phase
  }

  fill(page: Uint32Array, offset: Uint16Array, at: number, n: number): void {
    const { perm, rng, pagesPerPhase: k, phaseStores } = this;
    let inPhase = this.inPhase;
    const end = at + n;
    for (let i = at; i < end; i++) {
      if (inPhase === phaseStores) {
        chooseFront(perm, k, rng);
        inPhase = 0;
      }
      inPhase++;
      // one draw for both: low 10 bits pick the word, high 22 bits the page (k <= 2^22; else 2 draws)
      const u = rng.nextU32();
      offset[i] = (u & 1023) << 2;
      page[i] = perm[k <= HIGH22 ? (((u >>> 10) * k) / HIGH22) | 0 : rng.below(k)]!;
    }
    this.inPhase = inPhase;
  }
}

export class SequentialSource implements PageSource {
  readonly pages: number;
  readonly start: number;
  readonly length: number;
  readonly storesPerPage: number;
  private idx = 0; // page index within the window
  private word = 0; // store index within the page

  constructor(pages: number, start = 0, length = pages - start, storesPerPage = 1) {
    checkPages(pages);
    if (!Number.isInteger(start) || start < 0 || start >= pages)
      throw new RangeError(`start must be an integer in [0, ${pages - 1}], got ${start}`);
    if (!Number.isInteger(length) || length < 1 || start + length > pages)
      throw new RangeError(`length must be an integer in [1, ${pages - start}], got ${length}`);
    if (!Number.isInteger(storesPerPage) || storesPerPage < 1 || storesPerPage > PAGE_SIZE / 4)
      throw new RangeError(`storesPerPage must be an integer in [1, ${PAGE_SIZE / 4}], got ${storesPerPage}`);
    this.pages = pages;
    this.start = start;
    this.length = length;
    this.storesPerPage = storesPerPage;
  }

  fill(page: Uint32Array, offset: Uint16Array, at: number, n: number): void {
    const { start, length, storesPerPage } = this;
    let idx = this.idx;
    let word = this.word;
    const end = at + n;
    for (let i = at; i < end; i++) {
      page[i] = start + idx;
      offset[i] = word << 2;
      if (++word === storesPerPage) {
        word = 0;
        if (++idx === length) idx = 0;
      }
    }
    this.idx = idx;
    this.word = word;
  }
}

export class HotSetSource implements PageSource {
  readonly pages: number;
  readonly hotCount: number;
  readonly hotProbability: number;
  /** First `hotCount` entries are the hot pages, the rest the cold ones. */
  private readonly perm: Uint32Array;
  private readonly hotFlag: Uint8Array;
  private readonly rng: Prng;
  /** hotProbability scaled to a 32-bit threshold, so the hot/cold draw is an integer compare. */
  private readonly threshold: number;

  constructor(pages: number, hotFraction: number, hotProbability: number, rng: Prng) {
    checkPages(pages);
    if (!(hotFraction > 0 && hotFraction <= 1))
      throw new RangeError(`hotFraction must be in (0, 1], got ${hotFraction}`);
    if (!(hotProbability >= 0 && hotProbability <= 1))
      throw new RangeError(`hotProbability must be in [0, 1], got ${hotProbability}`);
    this.pages = pages;
    this.hotCount = Math.min(pages, Math.max(1, Math.round(pages * hotFraction)));
    this.hotProbability = hotProbability;
    this.rng = rng;
    this.perm = identity(pages);
    chooseFront(this.perm, this.hotCount, rng);
    this.hotFlag = new Uint8Array(pages);
    for (let i = 0; i < this.hotCount; i++) this.hotFlag[this.perm[i]!] = 1;
    this.threshold = this.hotCount === pages ? 4294967296 : Math.round(hotProbability * 4294967296);
  }

  isHot(page: number): boolean {
    return this.hotFlag[page] === 1;
  }

  fill(page: Uint32Array, offset: Uint16Array, at: number, n: number): void {
    const { perm, rng, hotCount, threshold } = this;
    const coldCount = this.pages - hotCount;
    const end = at + n;
    for (let i = at; i < end; i++) {
      const u = rng.nextU32();
      offset[i] = (u & 1023) << 2;
      const hot = rng.nextU32() < threshold;
      const m = hot ? hotCount : coldCount;
      // the word's draw also picks the page inside the chosen set (see SparseSource.fill)
      const j = m <= HIGH22 ? (((u >>> 10) * m) / HIGH22) | 0 : rng.below(m);
      page[i] = perm[hot ? j : hotCount + j]!;
    }
  }
}

export class ZipfSource implements PageSource {
  readonly pages: number;
  readonly exponent: number;
  /** cdf[r] = P(rank <= r), ranks 0-based. */
  private readonly cdf: Float64Array;
  private readonly perm: Uint32Array;
  private readonly rng: Prng;

  constructor(pages: number, exponent: number, rng: Prng) {
    checkPages(pages);
    if (!(exponent >= 0 && exponent <= 10))
      throw new RangeError(`exponent must be in [0, 10], got ${exponent}`);
    this.pages = pages;
    this.exponent = exponent;
    this.rng = rng;
    this.perm = identity(pages);
    chooseFront(this.perm, pages, rng);
    const cdf = new Float64Array(pages);
    let sum = 0;
    for (let r = 0; r < pages; r++) {
      sum += 1 / (r + 1) ** exponent;
      cdf[r] = sum;
    }
    for (let r = 0; r < pages; r++) cdf[r] = cdf[r]! / sum;
    cdf[pages - 1] = 1;
    this.cdf = cdf;
  }

  /** The page of rank `r` (0 = most frequent). */
  pageOfRank(r: number): number {
    return this.perm[r]!;
  }

  fill(page: Uint32Array, offset: Uint16Array, at: number, n: number): void {
    const { cdf, perm, rng } = this;
    const last = this.pages - 1;
    const end = at + n;
    for (let i = at; i < end; i++) {
      const u = rng.nextFloat();
      let lo = 0;
      let hi = last;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (cdf[mid]! > u) hi = mid;
        else lo = mid + 1;
      }
      page[i] = perm[lo]!;
      offset[i] = (rng.nextU32() & 1023) << 2;
    }
  }
}

export class RectanglesSource implements PageSource {
  readonly pages: number;
  readonly width: number;
  readonly height: number;
  readonly bpp: number;
  readonly lineLength: number;
  readonly rectWidth: number;
  readonly rectHeight: number;
  readonly randomSize: boolean;
  private readonly rng: Prng;
  // current rectangle and position inside it; rw = 0 means "start a new rectangle"
  private rx = 0;
  private ry = 0;
  private rw = 0;
  private rh = 0;
  private dx = 0;
  private dy = 0;
  /** Rectangles started so far (for tests and reports). */
  rectangles = 0;

  constructor(pages: number, p: Omit<RectanglesParams, 'pattern'>, rng: Prng) {
    checkPages(pages);
    const int = (name: string, v: number, lo: number, hi: number) => {
      if (!Number.isInteger(v) || v < lo || v > hi)
        throw new RangeError(`${name} must be an integer in [${lo}, ${hi}], got ${v}`);
    };
    int('width', p.width, 1, 1 << 16);
    int('height', p.height, 1, 1 << 16);
    int('bpp', p.bpp, 1, 16);
    const lineLength = p.lineLength ?? p.width * p.bpp;
    int('lineLength', lineLength, p.width * p.bpp, 1 << 24);
    int('rectWidth', p.rectWidth, 1, p.width);
    int('rectHeight', p.rectHeight, 1, p.height);
    const bytes = lineLength * (p.height - 1) + p.width * p.bpp;
    if (bytes > pages * PAGE_SIZE)
      throw new RangeError(
        `a ${p.width}x${p.height}x${p.bpp} framebuffer needs ${Math.ceil(bytes / PAGE_SIZE)} pages, region has ${pages}`,
      );
    this.pages = pages;
    this.width = p.width;
    this.height = p.height;
    this.bpp = p.bpp;
    this.lineLength = lineLength;
    this.rectWidth = p.rectWidth;
    this.rectHeight = p.rectHeight;
    this.randomSize = p.randomSize ?? false;
    this.rng = rng;
  }

  /** Pages a framebuffer of these dimensions occupies. */
  static pagesFor(width: number, height: number, bpp: number, lineLength = width * bpp): number {
    return Math.ceil((lineLength * (height - 1) + width * bpp) / PAGE_SIZE);
  }

  private startRect(): void {
    const rng = this.rng;
    const w = this.randomSize ? 1 + rng.below(this.rectWidth) : this.rectWidth;
    const h = this.randomSize ? 1 + rng.below(this.rectHeight) : this.rectHeight;
    this.rx = rng.below(this.width - w + 1);
    this.ry = rng.below(this.height - h + 1);
    this.rw = w;
    this.rh = h;
    this.dx = 0;
    this.dy = 0;
    this.rectangles++;
  }

  fill(page: Uint32Array, offset: Uint16Array, at: number, n: number): void {
    const { bpp, lineLength } = this;
    const end = at + n;
    for (let i = at; i < end; i++) {
      if (this.rw === 0) this.startRect();
      const addr = (this.ry + this.dy) * lineLength + (this.rx + this.dx) * bpp;
      page[i] = Math.floor(addr / PAGE_SIZE);
      offset[i] = addr % PAGE_SIZE;
      if (++this.dx === this.rw) {
        this.dx = 0;
        if (++this.dy === this.rh) this.rw = 0;
      }
    }
  }
}

export class PhasesSource implements PageSource {
  readonly pages: number;
  readonly sources: readonly PageSource[];
  readonly lengths: readonly number[];
  private cur = 0;
  private left: number;

  constructor(pages: number, sources: PageSource[], lengths: number[]) {
    checkPages(pages);
    if (sources.length === 0 || sources.length !== lengths.length)
      throw new RangeError('phases needs at least one phase, each with a length');
    for (const l of lengths)
      if (!Number.isInteger(l) || l < 1)
        throw new RangeError(`phase stores must be a positive integer, got ${l}`);
    this.pages = pages;
    this.sources = sources;
    this.lengths = lengths;
    this.left = lengths[0]!;
  }

  /** Index of the phase that store number `i` (0-based, counted by this source) belongs to. */
  phaseAt(i: number): number {
    let total = 0;
    for (const l of this.lengths) total += l;
    i %= total;
    for (let p = 0; p < this.lengths.length; p++) {
      if (i < this.lengths[p]!) return p;
      i -= this.lengths[p]!;
    }
    return this.lengths.length - 1; // unreachable: i < total
  }

  fill(page: Uint32Array, offset: Uint16Array, at: number, n: number): void {
    while (n > 0) {
      const m = Math.min(n, this.left);
      this.sources[this.cur]!.fill(page, offset, at, m);
      at += m;
      n -= m;
      this.left -= m;
      if (this.left === 0) {
        this.cur = (this.cur + 1) % this.sources.length;
        this.left = this.lengths[this.cur]!;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The op stream

export class OpGenerator {
  readonly source: PageSource;
  readonly stores: number;
  readonly syncEvery: number;
  readonly cpus: number;
  readonly cpuMode: CpuMode;
  readonly finalSync: boolean;
  private readonly rng: Prng;
  /** Stores emitted so far (also the sequence number of the last store). */
  storesEmitted = 0;
  syncsEmitted = 0;
  private sinceSync = 0;
  private pendingSync = false;
  private rr = 0;
  private rrStrip = new Uint8Array(0);

  constructor(source: PageSource, s: StreamParams & { cpus?: number }, rng: Prng) {
    if (!Number.isInteger(s.stores) || s.stores < 0) throw new RangeError(`stores must be an integer >= 0`);
    if (!Number.isInteger(s.syncEvery) || s.syncEvery < 0)
      throw new RangeError(`syncEvery must be an integer >= 0`);
    const cpus = s.cpus ?? 1;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > MAX_CPUS)
      throw new RangeError(`cpus must be an integer in [1, ${MAX_CPUS}]`);
    this.source = source;
    this.stores = s.stores;
    this.syncEvery = s.syncEvery;
    this.cpus = cpus;
    this.cpuMode = s.cpuMode ?? 'roundRobin';
    this.finalSync = s.finalSync ?? true;
    this.rng = rng;
  }

  get done(): boolean {
    return this.storesEmitted === this.stores && !this.pendingSync;
  }

  /** Refills `batch` from index 0; returns the number of ops written (0 once the stream is done). */
  next(batch: OpBatch): number {
    const { kind, cpu, page, offset, value, capacity } = batch;
    const cpus = this.cpus;
    const syncEvery = this.syncEvery;
    let len = 0;
    while (len < capacity) {
      if (this.pendingSync) {
        kind[len] = OP_SYNC;
        cpu[len] = 0;
        page[len] = 0;
        offset[len] = 0;
        value[len] = 0;
        len++;
        this.pendingSync = false;
        this.syncsEmitted++;
        continue;
      }
      const left = this.stores - this.storesEmitted;
      if (left === 0) break;
      let n = Math.min(capacity - len, left);
      if (syncEvery > 0) n = Math.min(n, syncEvery - this.sinceSync);
      this.source.fill(page, offset, len, n);
      const end = len + n;
      // separate simple loops (native fill for kind): measured faster than one loop writing three arrays
      kind.fill(OP_STORE, len, end);
      // value = 1-based sequence number mod 2^32, kept in int32 arithmetic (no double -> uint32 conversion)
      const seq0 = (this.storesEmitted - len + 1) | 0;
      for (let i = len; i < end; i++) value[i] = (seq0 + i) | 0;
      if (this.cpuMode === 'roundRobin') {
        // copy from a precomputed 0,1,..,cpus-1,0,1.. strip (native memcpy; measured faster than a per-op loop)
        let strip = this.rrStrip;
        if (strip.length < n + cpus) {
          strip = new Uint8Array(Math.max(n, capacity) + cpus);
          for (let i = 0; i < strip.length; i++) strip[i] = i % cpus;
          this.rrStrip = strip;
        }
        cpu.set(strip.subarray(this.rr, this.rr + n), len);
        this.rr = (this.rr + n) % cpus;
      } else {
        const rng = this.rng;
        for (let i = len; i < end; i++) cpu[i] = rng.below(cpus);
      }
      len = end;
      this.storesEmitted += n;
      this.sinceSync += n;
      if (syncEvery > 0 && this.sinceSync === syncEvery) {
        this.pendingSync = true;
        this.sinceSync = 0;
      } else if (this.storesEmitted === this.stores && this.finalSync && this.sinceSync > 0) {
        this.pendingSync = true;
        this.sinceSync = 0;
      }
    }
    batch.length = len;
    return len;
  }
}

// ---------------------------------------------------------------------------------------------
// Factory

/** Builds the page source for `p` over `pages` pages; `defaultPhaseStores` feeds sparse phases. */
export function createSource(
  p: PatternParams,
  pages: number,
  rng: Prng,
  defaultPhaseStores: number,
): PageSource {
  switch (p.pattern) {
    case 'sparse':
      return new SparseSource(
        pages,
        p.pagesPerPhase,
        p.phaseStores ?? defaultPhaseStores,
        rng.fork('sparse'),
      );
    case 'sequential':
      return new SequentialSource(
        pages,
        p.start ?? 0,
        p.length ?? pages - (p.start ?? 0),
        p.storesPerPage ?? 1,
      );
    case 'hotset':
      return new HotSetSource(pages, p.hotFraction, p.hotProbability, rng.fork('hotset'));
    case 'zipf':
      return new ZipfSource(pages, p.exponent, rng.fork('zipf'));
    case 'rectangles':
      return new RectanglesSource(pages, p, rng.fork('rectangles'));
    case 'phases':
      return new PhasesSource(
        pages,
        p.phases.map((q, i) =>
          createSource(q, pages, rng.fork(`phase${i}`), Math.min(q.stores, defaultPhaseStores)),
        ),
        p.phases.map((q) => q.stores),
      );
  }
}

/**
 * The op stream for workload `w` over `pages` pages on `cpus` CPUs, deterministic for `seed`.
 * The pattern and the CPU choice draw from separate forked streams.
 */
export function createGenerator(w: WorkloadParams, pages: number, cpus: number, seed: number): OpGenerator {
  const root = new Prng(seed);
  const phaseDefault = w.syncEvery > 0 ? w.syncEvery : Math.max(1, w.stores);
  const source = createSource(w, pages, root.fork('pattern'), phaseDefault);
  const stream: StreamParams & { cpus: number } = { stores: w.stores, syncEvery: w.syncEvery, cpus };
  if (w.cpuMode !== undefined) stream.cpuMode = w.cpuMode;
  if (w.finalSync !== undefined) stream.finalSync = w.finalSync;
  return new OpGenerator(source, stream, root.fork('cpu'));
}
