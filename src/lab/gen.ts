/**
 * Random lab operation sequences (`lab diff`). A sequence starts from `reset` and a few worker
 * processes; the generator tracks what it has mapped (slot -> device, offset, pages) only to
 * aim its operations, never to predict results: the model and the guest decide those.
 *
 * The mix (per operation): mmap 12% (MAP_SHARED 85%, of those 20% from a read-only fd;
 * MAP_PRIVATE 15%, refused by the devices as TTM refuses COW; prot rw/r/none 70/20/10; offsets
 * biased to 0 and to overlapping earlier mappings, so several VMAs of several processes alias the
 * same device pages), store 22%, load 8%, pte 8%, wp 7%, clean 7% (bitmap_pgoff <= first, the
 * in/out window empty or arbitrary, nr = 0 sometimes), wrprotect 4% (kernels that have it),
 * bits 5%, scan 4%, verify 2%, munmap/mprotect/madvise 4% each on partial or whole slot ranges,
 * spawn/exit 4%.
 */
import { Prng } from '../checker/prng.ts';
import { LAB_NPAGES, LAB_SLOTS, type LabDev, type LabOp, type LabProt } from './protocol.ts';

export interface GenOptions {
  length: number;
  /** Max worker processes in a sequence (agent offers 8). */
  workers?: number;
  /** Include mapping_wrprotect_range (kernels >= 6.15). */
  wrprotect?: boolean;
}

interface SlotInfo {
  d: LabDev;
  off: number;
  n: number;
  /** Pages of the slot that were munmapped: never touched again (see below). */
  gone: boolean[];
}

/**
 * Which address mmap picks is not compared (the model has its own layout), and the kernel reuses
 * a munmapped range for the next mmap; so the generator never touches an unmapped page again,
 * and ranges (mprotect, madvise, munmap) stay inside one run of still-mapped pages. A refusal is
 * predicted (MAP_PRIVATE, PROT_WRITE from a read-only fd, beyond the device) so that the slot the
 * agent keeps is the one the generator aims at.
 */
function livePage(g: Prng, s: SlotInfo): number {
  const ok: number[] = [];
  for (let i = 0; i < s.n; i++) if (s.gone[i] !== true) ok.push(i);
  return ok.length === 0 ? -1 : ok[g.below(ok.length)]!;
}

function liveRange(g: Prng, s: SlotInfo, whole: boolean): { off: number; n: number } | null {
  const at = livePage(g, s);
  if (at < 0) return null;
  let lo = at;
  let hi = at + 1;
  while (lo > 0 && s.gone[lo - 1] !== true) lo--;
  while (hi < s.n && s.gone[hi] !== true) hi++;
  if (whole) return { off: lo, n: hi - lo };
  const off = lo + g.below(at - lo + 1);
  return { off, n: 1 + g.below(hi - off) };
}

/** Seed of sequence `i` of a run with seed `seed` (independent streams, stable across runs). */
export function seqSeed(seed: number, i: number): number {
  return (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(i + 1, 0xc2b2ae35)) >>> 0;
}

const PROTS: readonly LabProt[] = ['rw', 'rw', 'rw', 'rw', 'rw', 'rw', 'rw', 'r', 'r', 'none'];

/** Generate one sequence (its first op is `reset`). */
export function genSequence(seed: number, o: GenOptions): LabOp[] {
  const g = new Prng(seed);
  const maxW = Math.max(1, Math.min(o.workers ?? 3, 8));
  const ops: LabOp[] = [{ op: 'reset' }];
  const live = new Map<number, Map<number, SlotInfo>>();
  const nW = 1 + g.below(maxW);
  for (let p = 0; p < nW; p++) {
    ops.push({ op: 'spawn', p });
    live.set(p, new Map());
  }
  const dev = (): LabDev => (g.below(2) === 0 ? 'pfn' : 'page');
  const anyLive = (): number => {
    const ps = [...live.keys()];
    return ps[g.below(ps.length)]!;
  };
  const mapped = (): { p: number; m: number; s: SlotInfo } | null => {
    const all: { p: number; m: number; s: SlotInfo }[] = [];
    for (const [p, slots] of live) for (const [m, s] of slots) all.push({ p, m, s });
    return all.length === 0 ? null : all[g.below(all.length)]!;
  };
  const pageRange = (): { first: number; nr: number } => {
    const r = g.below(10);
    if (r < 3) return { first: 0, nr: LAB_NPAGES };
    if (r === 3) return { first: 1 + g.below(LAB_NPAGES - 1), nr: 0 }; // nr 0 only with first > 0 (spec §2: first 0 wraps)
    const first = g.below(24);
    return { first, nr: 1 + g.below(Math.min(LAB_NPAGES - first, 24)) };
  };
  let lastMap: { d: LabDev; off: number; n: number } | null = null;
  while (ops.length < o.length) {
    const r = g.below(100);
    if (live.size === 0 || (r < 12 && [...live.values()].every((s) => s.size >= LAB_SLOTS))) {
      const p = [0, 1, 2, 3, 4, 5, 6, 7].find((x) => !live.has(x) && x < maxW) ?? 0;
      if (!live.has(p)) {
        ops.push({ op: 'spawn', p });
        live.set(p, new Map());
        continue;
      }
    }
    if (r < 12) {
      const p = anyLive();
      const slots = live.get(p)!;
      let m = 0;
      while (slots.has(m) && m < LAB_SLOTS) m++;
      if (m >= LAB_SLOTS) continue;
      let d = dev();
      let off: number;
      let n: number;
      if (lastMap !== null && g.below(3) === 0) {
        // alias an earlier mapping: same device, overlapping pages
        d = lastMap.d;
        off = Math.min(LAB_NPAGES - 1, Math.max(0, lastMap.off + g.below(5) - 2));
        n = 1 + g.below(Math.min(LAB_NPAGES - off, lastMap.n + 4));
      } else {
        off = g.below(3) === 0 ? 0 : g.below(LAB_NPAGES);
        const rest = LAB_NPAGES - off;
        n = g.below(8) === 0 ? rest : 1 + g.below(Math.min(rest, 12));
        if (g.below(25) === 0) n = rest + 1; // beyond the device: refused
      }
      const share = g.below(100) < 85 ? 's' : 'p';
      const fd = g.below(5) === 0 ? 'ro' : 'rw';
      let prot = PROTS[g.below(PROTS.length)]!;
      if (fd === 'ro' && share === 's' && g.below(4) !== 0) prot = g.below(2) === 0 ? 'r' : 'none';
      ops.push({ op: 'mmap', p, m, d, off, n, share, prot, fd });
      const refused = share === 'p' || (fd === 'ro' && prot === 'rw') || off + n > LAB_NPAGES;
      if (!refused) slots.set(m, { d, off, n, gone: [] });
      lastMap = { d, off, n };
      continue;
    }
    const t = mapped();
    const page = t === null ? -1 : livePage(g, t.s);
    if (r < 34 && t !== null && page >= 0) {
      // one store in 30 aims one page past the slot: the agent refuses it (msg=range)
      ops.push({ op: 'store', p: t.p, m: t.m, page: g.below(30) === 0 ? t.s.n : page, v: 1 + g.below(255) });
      continue;
    }
    if (r < 42 && t !== null && page >= 0) {
      ops.push({ op: 'load', p: t.p, m: t.m, page });
      continue;
    }
    if (r < 50 && t !== null && page >= 0) {
      ops.push({ op: 'pte', p: t.p, m: t.m, page });
      continue;
    }
    if (r < 57) {
      const { first, nr } = pageRange();
      ops.push({ op: 'wp', d: dev(), first, nr });
      continue;
    }
    if (r < 64) {
      const { first, nr } = pageRange();
      const bpgoff =
        g.below(4) === 0 ? Math.max(0, first - g.below(4)) : first === 0 ? 0 : g.below(first + 1);
      const empty = g.below(3) !== 0;
      const start = empty ? LAB_NPAGES : g.below(LAB_NPAGES);
      const end = empty ? 0 : g.below(LAB_NPAGES + 1);
      ops.push({ op: 'clean', d: dev(), first, nr, bpgoff, start, end });
      continue;
    }
    if (r < 68) {
      if (o.wrprotect === false) continue;
      const { first, nr } = pageRange();
      ops.push({ op: 'wrprotect', d: dev(), pgoff: first, nr });
      continue;
    }
    if (r < 73) {
      ops.push({ op: 'bits', d: dev(), clear: g.below(2) === 0 });
      continue;
    }
    if (r < 77) {
      const { first, nr } = pageRange();
      ops.push({ op: 'scan', d: dev(), first, nr, mode: g.below(2) === 0 ? 'consume' : 'fix' });
      continue;
    }
    if (r < 79) {
      ops.push({ op: 'verify', d: dev() });
      continue;
    }
    if (r < 91 && t !== null) {
      const rg = liveRange(g, t.s, g.below(3) === 0);
      if (rg === null) continue;
      const { off, n } = rg;
      const k = r < 83 ? 'munmap' : r < 87 ? 'mprotect' : 'madvise';
      if (k === 'mprotect')
        ops.push({ op: 'mprotect', p: t.p, m: t.m, off, n, prot: PROTS[g.below(PROTS.length)]! });
      else ops.push({ op: k, p: t.p, m: t.m, off, n }); // the agent keeps the slot after munmap
      if (k === 'munmap') for (let i = off; i < off + n; i++) t.s.gone[i] = true;
      continue;
    }
    if (r < 95 && live.size > 1) {
      const p = anyLive();
      ops.push({ op: 'exit', p });
      live.delete(p);
      continue;
    }
    if (r < 100 && live.size < maxW) {
      const p = [0, 1, 2, 3, 4, 5, 6, 7].find((x) => !live.has(x))!;
      ops.push({ op: 'spawn', p });
      live.set(p, new Map());
    }
  }
  return ops;
}
