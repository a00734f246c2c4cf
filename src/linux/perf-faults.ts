/**
 * Page faults of this thread, attributed to the address they hit: the kernel's software events
 * PERF_COUNT_SW_PAGE_FAULTS_MIN and _MAJ, sampled at every event with the faulting address
 * (PERF_SAMPLE_ADDR) into a ring buffer this module reads directly (no system call per read).
 *
 * Why not `getrusage(RUSAGE_THREAD)` deltas around an operation: they also count the faults the
 * JavaScript runtime itself takes on fresh heap and malloc pages inside the bracket (measured on
 * this machine: spurious faults in most 50-operation sequences, docs/kernel-diff.md). The two
 * perf events are emitted at the very point where the kernel increments the counters getrusage
 * reports (mm_account_fault: `min_flt`/`maj_flt`), so counting the samples whose address lies in
 * a region is exactly "the thread's faults, restricted to the region's pages".
 *
 * User-mode faults only (`exclude_kernel`), so it works with perf_event_paranoid up to 2; the
 * tracking operations never make the kernel fault on a region's pages on the caller's behalf.
 */
import { getLibc, type Libc, MAP_SHARED, PROT_READ, PROT_WRITE } from './libc.ts';

/** `PERF_TYPE_SOFTWARE` (linux/perf_event.h). */
const PERF_TYPE_SOFTWARE = 1;
/** `PERF_COUNT_SW_PAGE_FAULTS_MIN`, `_MAJ` (linux/perf_event.h). */
const PERF_COUNT_SW_PAGE_FAULTS_MIN = 5;
const PERF_COUNT_SW_PAGE_FAULTS_MAJ = 6;
/** `PERF_SAMPLE_ADDR`. */
const PERF_SAMPLE_ADDR = 1 << 3;
/** attr flag bits: exclude_kernel (bit 5), exclude_hv (bit 6). */
const ATTR_EXCLUDE_KERNEL = 1 << 5;
const ATTR_EXCLUDE_HV = 1 << 6;
/** `PERF_ATTR_SIZE_VER5`: every field this module sets is in it. */
const PERF_ATTR_SIZE = 112;
/** `PERF_FLAG_FD_CLOEXEC`. */
const PERF_FLAG_FD_CLOEXEC = 8;
/** `PERF_RECORD_SAMPLE`, `PERF_RECORD_LOST`. */
const PERF_RECORD_SAMPLE = 9;
const PERF_RECORD_LOST = 2;
/** Offsets in `struct perf_event_mmap_page`. */
const DATA_HEAD = 1024;
const DATA_TAIL = 1032;

/** One sampled event: fd, its mapping, and the reader position. */
interface Ring {
  fd: number;
  addr: number;
  len: number;
  dataOff: number;
  dataSize: number;
  u32: Uint32Array;
  bytes: Uint8Array;
}

/** A range whose faults are counted. */
export interface FaultSink {
  lo: number;
  hi: number;
  count: number;
}

/**
 * The sampler (one per process; see {@link getPerfFaults}). Register address ranges with
 * {@link track}, call {@link drain} before reading a sink's count.
 */
export class PerfFaults {
  private readonly rings: Ring[];
  private readonly sinks = new Set<FaultSink>();
  /** Samples the kernel dropped (ring full): counts are not exact once this is non-zero. */
  lost = 0;

  constructor(libc: Libc) {
    const pages = libc.pageSize;
    this.rings = [];
    try {
      for (const [config, dataPages] of [
        [PERF_COUNT_SW_PAGE_FAULTS_MIN, 512],
        [PERF_COUNT_SW_PAGE_FAULTS_MAJ, 8],
      ] as const) {
        const attr = new Uint8Array(PERF_ATTR_SIZE);
        const v = new DataView(attr.buffer);
        v.setUint32(0, PERF_TYPE_SOFTWARE, true);
        v.setUint32(4, PERF_ATTR_SIZE, true);
        v.setUint32(8, config, true);
        v.setUint32(16, 1, true); // sample_period
        v.setUint32(24, PERF_SAMPLE_ADDR, true);
        v.setUint32(40, ATTR_EXCLUDE_KERNEL | ATTR_EXCLUDE_HV, true);
        const fd = libc.perfEventOpen(attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
        const len = (1 + dataPages) * pages;
        let addr: number;
        try {
          addr = libc.mmap(0, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        } catch (e) {
          libc.close(fd);
          throw e;
        }
        const buf = libc.view(addr, len);
        const u32 = new Uint32Array(buf);
        this.rings.push({
          fd,
          addr,
          len,
          dataOff: pages,
          dataSize: dataPages * pages,
          u32,
          bytes: new Uint8Array(buf),
        });
      }
    } catch (e) {
      for (const r of this.rings) {
        libc.munmap(r.addr, r.len);
        libc.close(r.fd);
      }
      throw e;
    }
  }

  /** Count faults in `[lo, hi)` from now on (until {@link untrack}). */
  track(lo: number, hi: number): FaultSink {
    this.drain();
    const s: FaultSink = { lo, hi, count: 0 };
    this.sinks.add(s);
    return s;
  }

  untrack(s: FaultSink): void {
    this.drain();
    this.sinks.delete(s);
  }

  /** Read every new sample and credit it to the sink whose range holds its address. */
  drain(): void {
    for (const r of this.rings) {
      const u = r.u32;
      const head = u[DATA_HEAD >> 2]! + u[(DATA_HEAD >> 2) + 1]! * 4294967296;
      let tail = u[DATA_TAIL >> 2]! + u[(DATA_TAIL >> 2) + 1]! * 4294967296;
      while (tail < head) {
        const at = tail % r.dataSize;
        const type = this.u32At(r, at);
        const size = this.u32At(r, at + 4) >>> 16;
        if (type === PERF_RECORD_SAMPLE) {
          const addr = this.u32At(r, at + 8) + this.u32At(r, at + 12) * 4294967296;
          for (const s of this.sinks) if (addr >= s.lo && addr < s.hi) s.count++;
        } else if (type === PERF_RECORD_LOST) {
          this.lost += this.u32At(r, at + 16) + this.u32At(r, at + 20) * 4294967296;
        }
        if (size === 0) break; // never: a record has a header
        tail += size;
      }
      u[DATA_TAIL >> 2] = tail % 4294967296;
      u[(DATA_TAIL >> 2) + 1] = Math.floor(tail / 4294967296);
    }
  }

  /** Little-endian u32 at byte offset `at` of the data area (records may wrap around). */
  private u32At(r: Ring, at: number): number {
    const b = r.bytes;
    const o = r.dataOff;
    const n = r.dataSize;
    return (
      (b[o + (at % n)]! |
        (b[o + ((at + 1) % n)]! << 8) |
        (b[o + ((at + 2) % n)]! << 16) |
        (b[o + ((at + 3) % n)]! << 24)) >>>
      0
    );
  }
}

let inst: PerfFaults | null | undefined;
let why = '';

/** The process's sampler, or null if perf events cannot be opened here ({@link perfFaultsUnavailable} says why). */
export function getPerfFaults(): PerfFaults | null {
  if (inst === undefined) {
    try {
      inst = new PerfFaults(getLibc());
    } catch (e) {
      inst = null;
      why = e instanceof Error ? e.message : String(e);
    }
  }
  return inst;
}

/** Why {@link getPerfFaults} returned null ('' if it did not). */
export function perfFaultsUnavailable(): string {
  return why;
}
