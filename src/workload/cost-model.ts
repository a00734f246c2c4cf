/**
 * The cost model: counted events (a CounterSnapshot) times a price per event = modelled time.
 * Linear by construction: cost(a + b) = cost(a) + cost(b), and no price is negative, so more
 * events never cost less. Prices default to figures measured on this machine (docs/cost-model.md
 * lists each with its source) and can be overridden by a partial object, a scenario's `costs`, or
 * a JSON file such as docs/kernel-costs.json written by the real-kernel backend.
 */
import { z } from 'zod';
import type { CounterSnapshot } from '../hw/counters.ts';
import { WorkloadInputError } from './errors.ts';
import { readInputFile } from './files.ts';

/** Prices, all in nanoseconds per event (copyNsPerByte per byte). */
export interface CostParams {
  /** A store or load that hits the TLB (and a cached-dirty entry for stores). */
  accessNs: number;
  /** A hardware page walk (TLB fill, or the re-walk of a store through a clean cached entry). */
  hwWalkNs: number;
  /** A locked read-modify-write of the accessed/dirty bits by the page walker. */
  hwAdUpdateNs: number;
  /** A write fault on a present read-only PTE of a shared mapping, resolved by write-notify. */
  wpFaultNs: number;
  /** A fault on a missing PTE of a shared mapping (maps the page). */
  notPresentFaultNs: number;
  /** A copy-on-write fault (allocates and copies a page). */
  cowFaultNs: number;
  /** A fault that finds the PTE already fixed (another CPU won the race). */
  spuriousFaultNs: number;
  /** The driver's page_mkwrite/pfn_mkwrite callback itself (on top of the fault). */
  mkwriteNs: number;
  /** Write-protect walk, per PTE write-protected (walk + change), only for `ptesChangedByWp`. */
  wpWalkNsPerPage: number;
  /** Report-and-reprotect scan, per PTE visited. */
  scanNsPerPage: number;
  /** Report-and-reprotect scan, extra per PTE changed (a written page: clear, record, protect). */
  scanNsPerWrittenPage: number;
  /** Fixed cost of one helper call (locks, interval-tree lookup, walk setup). */
  helperCallNs: number;
  /** A local TLB flush of one page (invlpg). */
  tlbFlushPageNs: number;
  /** A local ranged flush (a few invlpg or a full flush, whichever the kernel picks). */
  tlbFlushRangeNs: number;
  /** A local flush of one mm (CR3 reload). */
  tlbFlushMmNs: number;
  /** A local flush of everything, global entries included. */
  tlbFlushAllNs: number;
  /** A TLB-shootdown IPI to another CPU, including the wait for its acknowledgement. */
  ipiNs: number;
  /** One mmu-notifier invalidate_range_start or _end call. */
  notifierNs: number;
  /** A device (secondary MMU) store. */
  deviceWriteNs: number;
  /** A device translation fill (IOMMU/ATS walk). */
  deviceTlbFillNs: number;
  /** A device TLB invalidation (with completion wait). */
  deviceInvalidationNs: number;
  /** Copying dirty data to the consumer, per byte. */
  copyNsPerByte: number;
  /** A driver scan of one buffer object (validation bookkeeping, not its page walk). */
  driverScanNs: number;
}

/**
 * Defaults. Measured on this machine (AMD EPYC, 2 vCPUs, by C programs, see the issue): wp fault
 * 470-850 ns, wp walk 16-35 ns/page, scan ~1 ns/page + 9-40 ns per written page, IPI ~14 us with
 * the target CPU busy, TLB-hit store ~0.35 ns. The rest are estimates, justified in
 * docs/cost-model.md.
 */
export const DEFAULT_COSTS: Readonly<CostParams> = Object.freeze({
  accessNs: 0.35,
  hwWalkNs: 10,
  hwAdUpdateNs: 20,
  wpFaultNs: 650,
  notPresentFaultNs: 1000,
  cowFaultNs: 1500,
  spuriousFaultNs: 300,
  mkwriteNs: 30,
  wpWalkNsPerPage: 25,
  scanNsPerPage: 1,
  scanNsPerWrittenPage: 25,
  helperCallNs: 300,
  tlbFlushPageNs: 50,
  tlbFlushRangeNs: 200,
  tlbFlushMmNs: 150,
  tlbFlushAllNs: 300,
  ipiNs: 14000,
  notifierNs: 20,
  deviceWriteNs: 0.35,
  deviceTlbFillNs: 500,
  deviceInvalidationNs: 1000,
  copyNsPerByte: 0.1,
  driverScanNs: 100,
});

export const COST_PARAM_NAMES = Object.keys(DEFAULT_COSTS) as (keyof CostParams)[];

/** Bad cost parameters (file or object): the message is one line naming the field. */
export class CostParamsError extends WorkloadInputError {
  override name = 'CostParamsError';
}

/** Highest price of one event or page, in ns (1000 s): far above any real cost, below float trouble. */
export const MAX_PRICE_NS = 1e12;
const priceError = `expected a finite number in [0, ${MAX_PRICE_NS}]`;
const price = z
  .number({ error: priceError })
  .finite({ error: priceError })
  .min(0, { error: priceError })
  .max(MAX_PRICE_NS, { error: priceError });

/** Partial cost parameters; unknown keys are rejected (a typo must not silently do nothing). */
export const costParamsSchema = z.strictObject(
  Object.fromEntries(COST_PARAM_NAMES.map((k) => [k, price.optional()])) as {
    [K in keyof CostParams]: z.ZodOptional<typeof price>;
  },
);

/** The file written by the real-kernel backend: measured figures plus where they came from. */
export const kernelCostsFileSchema = z.object({
  wpFaultNs: price.optional(),
  wpWalkNsPerPage: price.optional(),
  scanNsPerPage: price.optional(),
  scanNsPerWrittenPage: price.optional(),
  ipiNs: price.optional(),
  accessNs: price.optional(),
  measuredOn: z.string({ error: 'expected a string' }).optional(),
});

/** Formats the first zod issue as `prefix.path: message`. */
export function firstIssue(prefix: string, err: z.ZodError): string {
  const issue = err.issues[0]!;
  const path = [...issue.path];
  if (issue.code === 'unrecognized_keys') {
    path.push(issue.keys[0]!);
    return `${[prefix, ...path.map(String)].join('.')}: unknown field`;
  }
  return `${[prefix, ...path.map(String)].join('.')}: ${issue.message}`;
}

/** Validates a partial override; throws CostParamsError naming the field. */
export function parseCostParams(input: unknown, where = 'costs'): Partial<CostParams> {
  const r = costParamsSchema.safeParse(input);
  if (!r.success) throw new CostParamsError(firstIssue(where, r.error));
  const out: Partial<CostParams> = {};
  for (const k of COST_PARAM_NAMES) {
    const v = r.data[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** Defaults with `overrides` applied (validated). */
export function resolveCosts(overrides?: unknown): CostParams {
  return { ...DEFAULT_COSTS, ...(overrides === undefined ? {} : parseCostParams(overrides)) };
}

/**
 * Reads a kernel-costs JSON file (e.g. docs/kernel-costs.json) into a partial override.
 * `measuredOn` is returned separately; other unknown fields are ignored (the file may carry
 * raw measurements the model does not price).
 */
export function loadCostFile(path: string): { costs: Partial<CostParams>; measuredOn?: string } {
  let text: string;
  try {
    text = readInputFile(path, 'cost file', 1024 * 1024);
  } catch (e) {
    throw new CostParamsError(e instanceof Error ? e.message.replace(/^cost file /, '') : String(e));
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new CostParamsError(`${path}: not JSON (${(e as Error).message})`);
  }
  const r = kernelCostsFileSchema.safeParse(json);
  if (!r.success) throw new CostParamsError(firstIssue(path, r.error));
  const { measuredOn, ...rest } = r.data;
  const costs: Partial<CostParams> = {};
  for (const [k, v] of Object.entries(rest)) if (v !== undefined) costs[k as keyof CostParams] = v;
  // A file that prices nothing is a mistake (a misspelt field would otherwise pass silently).
  if (Object.keys(costs).length === 0)
    throw new CostParamsError(
      `${path}: no known cost parameter (expected e.g. wpFaultNs, wpWalkNsPerPage, scanNsPerPage)`,
    );
  return measuredOn === undefined ? { costs } : { costs, measuredOn };
}

/**
 * What the model prices: the shared counters, plus split counts the counters may not (yet) hold.
 * `ptesChangedByWp`: PTEs changed by pure write-protect walks (wpSharedMappingRange,
 * mappingWrprotectRange), a subset of `ptesChanged`; priced at wpWalkNsPerPage instead of the scan
 * prices. Absent = 0 (every change priced as a scan change).
 */
export type CostInput = CounterSnapshot & { ptesChangedByWp?: number };

/** Modelled time per component, in ns; `totalNs` is their sum. */
export interface CostBreakdown {
  access: number;
  hwWalk: number;
  hwAdUpdate: number;
  wpFault: number;
  otherFault: number;
  mkwrite: number;
  wpWalk: number;
  scan: number;
  helperCall: number;
  tlbFlush: number;
  ipi: number;
  notifier: number;
  device: number;
  copy: number;
  driverScan: number;
  totalNs: number;
}

export const COST_COMPONENTS = [
  'access',
  'hwWalk',
  'hwAdUpdate',
  'wpFault',
  'otherFault',
  'mkwrite',
  'wpWalk',
  'scan',
  'helperCall',
  'tlbFlush',
  'ipi',
  'notifier',
  'device',
  'copy',
  'driverScan',
] as const satisfies readonly Exclude<keyof CostBreakdown, 'totalNs'>[];

/**
 * Prices counted events. Not priced on purpose (they would double count): `tlbMisses` and
 * `tlbHits` (every miss is a walk in `hwWalks`; hits are in the access price), `hwFaults` (each
 * is also counted by kind), `tlbEntriesDropped` (the refill is priced as walks), `pagesCopied`
 * (the copy is priced per byte), `methodSwitches` (the switch's work is its walks), `scans`
 * is priced as driverScanNs.
 */
export function modelCost(c: CostInput, p: CostParams = DEFAULT_COSTS): CostBreakdown {
  const wpChanged = Math.min(c.ptesChangedByWp ?? 0, c.ptesChanged);
  const b: CostBreakdown = {
    access: (c.stores + c.loads) * p.accessNs,
    hwWalk: c.hwWalks * p.hwWalkNs,
    hwAdUpdate: c.hwAdUpdates * p.hwAdUpdateNs,
    wpFault: c.faultsWpShared * p.wpFaultNs,
    otherFault:
      c.faultsNotPresent * p.notPresentFaultNs +
      c.faultsCow * p.cowFaultNs +
      c.faultsSpurious * p.spuriousFaultNs,
    mkwrite: c.mkwriteCalls * p.mkwriteNs,
    // a wp-changed PTE's visit is inside wpWalkNsPerPage, so it is not priced again as a visit
    wpWalk: wpChanged * p.wpWalkNsPerPage,
    scan:
      (c.ptesVisited - wpChanged) * p.scanNsPerPage + (c.ptesChanged - wpChanged) * p.scanNsPerWrittenPage,
    helperCall: c.helperCalls * p.helperCallNs,
    tlbFlush:
      c.tlbFlushPage * p.tlbFlushPageNs +
      c.tlbFlushRange * p.tlbFlushRangeNs +
      c.tlbFlushMm * p.tlbFlushMmNs +
      c.tlbFlushAll * p.tlbFlushAllNs,
    ipi: c.ipis * p.ipiNs,
    notifier: (c.notifierStarts + c.notifierEnds) * p.notifierNs,
    device:
      c.deviceWrites * p.deviceWriteNs +
      c.deviceTlbFills * p.deviceTlbFillNs +
      c.deviceInvalidations * p.deviceInvalidationNs,
    copy: c.bytesCopied * p.copyNsPerByte,
    driverScan: c.scans * p.driverScanNs,
    totalNs: 0,
  };
  let total = 0;
  for (const k of COST_COMPONENTS) total += b[k];
  b.totalNs = total;
  return b;
}
