/**
 * `dirtyscope lab diff`: seeded random sequences (gen.ts) run on the guest kernel and on the model
 * through one interface ({@link LabSide}); every reply is compared per operation (compare.ts).
 * A disagreement is shrunk (delta debugging over the operations, then over single operations)
 * to a short sequence, printed with both sides' replies. Coverage of what the sequences
 * exercised is counted on the model's state as the run goes.
 *
 * Throughput: sequences go to the guest in pipelined batches (`reset` is an operation, so a
 * batch is many sequences back to back); the model answers the same operations in process.
 */
import { diffReplies, type Normalized, normalizeReply, type PfnResolver } from './compare.ts';
import { genSequence, seqSeed } from './gen.ts';
import type { ModelLab } from './model-backend.ts';
import { decodePte, LAB_NPAGES, type LabOp, type LabReply } from './protocol.ts';

/** One side of a differential run. */
export interface LabSide {
  readonly name: string;
  run(ops: readonly LabOp[]): Promise<LabReply[]>;
  resolvePfn: PfnResolver;
}

/** The model as a side. */
export function modelSide(lab: ModelLab): LabSide {
  return {
    name: 'model',
    run: (ops) => Promise.resolve(ops.map((o) => lab.exec(o))),
    resolvePfn: (pfn) => lab.devicePage(pfn),
  };
}

export interface LabStep {
  op: LabOp;
  a: Normalized;
  b: Normalized;
  differ: string[];
}

export interface LabMismatch {
  index: number;
  seed: number;
  originalLength: number;
  ops: LabOp[];
  steps: LabStep[];
  firstDiff: number;
  shrinkRuns: number;
}

export type CoverageKey =
  | 'ops'
  | 'mmapShared'
  | 'mmapPrivate'
  | 'mmapReadOnlyFd'
  | 'mmapRefused'
  | 'mmapPfn'
  | 'mmapPage'
  | 'vmasPerMapping>=3'
  | 'aliasedPages'
  | 'multiProcessMapping'
  | 'partialRange'
  | 'munmapOrMprotectBeforeHelper'
  | 'storeFaulted'
  | 'storeNoFault'
  | 'storeSegv'
  | 'storeBus'
  | 'mkwriteCalls'
  | 'wpChanged'
  | 'cleanRecorded'
  | 'cleanWindowIn'
  | 'cleanBitmapPgoff'
  | 'wrprotectChanged'
  | 'scanFixKept'
  | 'readOnlyVmaFirst'
  | 'exitWithMappings'
  | 'pteWritable'
  | 'pteDirtyReadOnly';

/** Boundaries a run should reach; a run whose coverage misses one says so. */
export const REQUIRED_COVERAGE: readonly CoverageKey[] = [
  'mmapShared',
  'mmapPrivate',
  'mmapReadOnlyFd',
  'mmapRefused',
  'mmapPfn',
  'mmapPage',
  'vmasPerMapping>=3',
  'aliasedPages',
  'multiProcessMapping',
  'partialRange',
  'munmapOrMprotectBeforeHelper',
  'storeFaulted',
  'storeNoFault',
  'storeSegv',
  'mkwriteCalls',
  'wpChanged',
  'cleanRecorded',
  'cleanWindowIn',
  'cleanBitmapPgoff',
  'readOnlyVmaFirst',
  'exitWithMappings',
  'pteWritable',
  'pteDirtyReadOnly',
];

export type Coverage = Record<CoverageKey, number>;

export function emptyCoverage(): Coverage {
  const c = {} as Coverage;
  for (const k of [
    ...REQUIRED_COVERAGE,
    'ops',
    'storeBus',
    'wrprotectChanged',
    'scanFixKept',
  ] as CoverageKey[])
    c[k] = 0;
  return c;
}

/** Count what `op` exercised, from the model's state just before (`pre`) and its reply. */
class CoverageCounter {
  readonly c = emptyCoverage();
  private mutatedSinceHelper = false;
  constructor(private readonly lab: ModelLab) {}

  before(op: LabOp): { partial: boolean } {
    let partial = false;
    if (op.op === 'munmap' || op.op === 'mprotect' || op.op === 'madvise') {
      const vmas = this.lab.slotVmas(op.p, op.m, op.off + op.n);
      for (const v of vmas) if (v.pages > op.n || op.off > 0) partial = true;
    }
    if (op.op === 'wp' || op.op === 'clean' || op.op === 'scan' || op.op === 'wrprotect') {
      const d = this.lab.dev[op.d];
      const vmas = d.file.overlapping(0, LAB_NPAGES - 1);
      const firstRo = vmas.findIndex((v) => (v.flags & 8) === 0); // VM_SHARED clear
      const laterRw = vmas.findIndex((v, i) => i > firstRo && (v.flags & 0x28) === 0x28);
      if (firstRo >= 0 && laterRw > firstRo) this.c.readOnlyVmaFirst++;
    }
    if (op.op === 'exit' && this.lab.mms().some((m) => m.vmas.length > 0)) this.c.exitWithMappings++;
    return { partial };
  }

  after(op: LabOp, r: LabReply, pre: { partial: boolean }): void {
    const c = this.c;
    c.ops++;
    const kv = r.kv;
    switch (op.op) {
      case 'mmap':
        if (op.share === 's') c.mmapShared++;
        else c.mmapPrivate++;
        if (op.fd === 'ro') c.mmapReadOnlyFd++;
        if (r.ret < 0) c.mmapRefused++;
        else if (op.d === 'pfn') c.mmapPfn++;
        else c.mmapPage++;
        break;
      case 'munmap':
      case 'mprotect':
      case 'madvise':
        if (pre.partial) c.partialRange++;
        if (op.op !== 'madvise' && r.ret === 0) this.mutatedSinceHelper = true;
        break;
      case 'store':
        if (r.ret === 0 && kv.flt === '0') c.storeNoFault++;
        if (r.ret === 0 && kv.flt !== '0') c.storeFaulted++;
        if (kv.sig === 'SEGV') c.storeSegv++;
        if (kv.sig === 'BUS') c.storeBus++;
        if (kv.mk !== undefined && kv.mk !== '0') c.mkwriteCalls++;
        break;
      case 'wp':
      case 'clean':
      case 'scan':
      case 'wrprotect':
        if (this.mutatedSinceHelper) c.munmapOrMprotectBeforeHelper++;
        this.mutatedSinceHelper = false;
        if (op.op === 'wp' && r.ret > 0) c.wpChanged++;
        if (op.op === 'wrprotect' && r.ret > 0) c.wrprotectChanged++;
        if (op.op === 'clean') {
          if (r.ret > 0) c.cleanRecorded++;
          if (op.start < op.end) c.cleanWindowIn++;
          if (op.bpgoff < op.first) c.cleanBitmapPgoff++;
        }
        break;
      case 'pte': {
        const d = kv.pte === undefined ? null : decodePte(kv.pte);
        if (d !== null) {
          if (d.bits.includes('rw')) c.pteWritable++;
          else if (d.bits.includes('dirty') || d.bits.includes('savedDirty')) c.pteDirtyReadOnly++;
        }
        break;
      }
      default:
        break;
    }
    // State-wide facts, after the op.
    for (const d of ['pfn', 'page'] as const) {
      const vmas = this.lab.dev[d].file.overlapping(0, LAB_NPAGES - 1);
      if (vmas.length >= 3) c['vmasPerMapping>=3']++;
      const mms = new Set(vmas.map((v) => v.mm.id));
      if (mms.size >= 2) c.multiProcessMapping++;
      let aliased = false;
      for (let i = 0; i < vmas.length && !aliased; i++)
        for (let j = i + 1; j < vmas.length && !aliased; j++) {
          const x = vmas[i]!;
          const y = vmas[j]!;
          if (x.pgoff < y.pgoff + y.pages && y.pgoff < x.pgoff + x.pages) aliased = true;
        }
      if (aliased) c.aliasedPages++;
    }
  }
}

export interface LabDiffOptions {
  sequences: number;
  length: number;
  seed: number;
  wrprotect: boolean;
  /** Sequences per pipelined guest batch. */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
  /** Stop early (shrinking included) when this returns true. */
  shouldStop?: () => boolean;
}

export interface LabDiffReport {
  version: 1;
  sides: [string, string];
  seed: number;
  sequences: number;
  length: number;
  ran: number;
  ops: number;
  agreed: boolean;
  mismatch: LabMismatch | null;
  coverage: Coverage;
  missing: CoverageKey[];
  elapsedMs: number;
}

async function compareRun(a: LabSide, b: LabSide, ops: readonly LabOp[]): Promise<LabStep[]> {
  const [ra, rb] = await Promise.all([a.run(ops), b.run(ops)]);
  return ops.map((op, i) => {
    const na = normalizeReply(ra[i]!, a.resolvePfn);
    const nb = normalizeReply(rb[i]!, b.resolvePfn);
    return { op, a: na, b: nb, differ: diffReplies(na, nb) };
  });
}

function firstDiff(steps: LabStep[]): number {
  return steps.findIndex((s) => s.differ.length > 0);
}

/** Shrink `ops` (ops[0] is `reset`) to a shorter sequence that still disagrees. */
export async function shrinkLab(
  a: LabSide,
  b: LabSide,
  ops: LabOp[],
  budget = 400,
): Promise<{ ops: LabOp[]; steps: LabStep[]; runs: number }> {
  let cur = ops;
  let steps = await compareRun(a, b, cur);
  let runs = 1;
  // Cut everything after the first disagreement.
  const f = firstDiff(steps);
  if (f >= 0) {
    cur = cur.slice(0, f + 1);
    steps = steps.slice(0, f + 1);
  }
  let chunk = Math.max(1, Math.floor((cur.length - 1) / 2));
  while (chunk >= 1 && runs < budget) {
    let progressed = false;
    for (let i = 1; i + chunk <= cur.length - 1 && runs < budget; ) {
      const cand = [...cur.slice(0, i), ...cur.slice(i + chunk)];
      const s = await compareRun(a, b, cand);
      runs++;
      const fd = firstDiff(s);
      if (fd >= 0) {
        cur = cand.slice(0, fd + 1);
        steps = s.slice(0, fd + 1);
        progressed = true;
      } else i += chunk;
    }
    if (!progressed) chunk = Math.floor(chunk / 2);
  }
  return { ops: cur, steps, runs };
}

export async function runLabDiff(
  guest: LabSide,
  model: LabSide,
  lab: ModelLab,
  o: LabDiffOptions,
): Promise<LabDiffReport> {
  const t0 = performance.now();
  const cov = new CoverageCounter(lab);
  const batch = Math.max(1, o.batch ?? 20);
  let ran = 0;
  let nops = 0;
  let mismatch: LabMismatch | null = null;
  for (let i = 0; i < o.sequences && mismatch === null; i += batch) {
    if (o.shouldStop?.() === true) break;
    const seqs: { index: number; seed: number; ops: LabOp[] }[] = [];
    for (let j = i; j < Math.min(o.sequences, i + batch); j++) {
      const seed = seqSeed(o.seed, j);
      seqs.push({ index: j, seed, ops: genSequence(seed, { length: o.length, wrprotect: o.wrprotect }) });
    }
    const all = seqs.flatMap((s) => s.ops);
    const ra = await guest.run(all);
    // The model runs op by op so coverage sees its state before and after each.
    const rb: LabReply[] = [];
    for (const op of all) {
      const pre = cov.before(op);
      const r = (await model.run([op]))[0]!;
      cov.after(op, r, pre);
      rb.push(r);
    }
    let at = 0;
    for (const s of seqs) {
      const n = s.ops.length;
      let bad = -1;
      for (let k = 0; k < n; k++) {
        const na = normalizeReply(ra[at + k]!, guest.resolvePfn);
        const nb = normalizeReply(rb[at + k]!, model.resolvePfn);
        if (diffReplies(na, nb).length > 0) {
          bad = k;
          break;
        }
      }
      at += n;
      ran++;
      nops += n;
      if (bad >= 0) {
        const sh = await shrinkLab(guest, model, s.ops);
        mismatch = {
          index: s.index,
          seed: s.seed,
          originalLength: n,
          ops: sh.ops,
          steps: sh.steps,
          firstDiff: firstDiff(sh.steps),
          shrinkRuns: sh.runs,
        };
        break;
      }
    }
    o.onProgress?.(ran, o.sequences);
  }
  const missing = REQUIRED_COVERAGE.filter((k) => cov.c[k] === 0);
  return {
    version: 1,
    sides: [guest.name, model.name],
    seed: o.seed,
    sequences: o.sequences,
    length: o.length,
    ran,
    ops: nops,
    agreed: mismatch === null,
    mismatch,
    coverage: cov.c,
    missing,
    elapsedMs: Math.round(performance.now() - t0),
  };
}
