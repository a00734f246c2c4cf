/**
 * A seeded generator of large, plausible traces (writers on several CPUs, a device, a tracker
 * scanning with clean-record rounds, a consumer), for the load benchmark and for trying the UI
 * on something big. Same seed -> same trace. Not a model: the events are consistent with each
 * other (PTE old values, TLB fills after walks, flushes after cleans) but nothing is checked.
 */
import type { Trace, TraceEvent } from '../../src/trace/schema.ts';
import { encodePte } from './pte-bits.ts';

/** mulberry32: small, fast, deterministic. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticOptions {
  /** Scheduler steps (each produces one to a dozen events). */
  steps: number;
  seed?: number;
  cpus?: number;
  pages?: number;
}

const BASE = 0x7f0000000000;
const PAGE = 4096;
const PFN0 = 0x1000;

export function syntheticTrace(opts: SyntheticOptions): Trace {
  const rnd = prng(opts.seed ?? 1);
  const cpus = opts.cpus ?? 4;
  const pages = opts.pages ?? 64;
  const events: TraceEvent[] = [];
  let step = 0;
  let wseq = 0;
  // Per-page PTE flags: present, rw, accessed, dirty.
  const pte = Array.from({ length: pages }, () => ({ lo: 0, hi: 0 }));
  // Per-CPU cached entries: page -> [writable, dirty].
  const tlb = Array.from({ length: cpus }, () => new Map<number, [boolean, boolean]>());
  const bitmap = new Set<number>();
  const int = (n: number) => Math.floor(rnd() * n);
  const emit = (task: string, cpu: number, fn: string, e: Record<string, unknown>) =>
    events.push({ seq: events.length, step, task, cpu, fn, ...e } as unknown as TraceEvent);
  const setPte = (
    task: string,
    cpu: number,
    fn: string,
    p: number,
    flags: Parameters<typeof encodePte>[1],
    by: 'hw' | 'kernel',
  ) => {
    const n = encodePte(PFN0 + p, flags);
    const o = pte[p]!;
    emit(task, cpu, fn, {
      kind: 'pte',
      mm: 1,
      addr: BASE + p * PAGE,
      level: 4,
      oldLo: o.lo,
      oldHi: o.hi,
      newLo: n.lo,
      newHi: n.hi,
      by,
    });
    pte[p] = n;
  };
  const flagsOf = (p: number) => {
    const { lo } = pte[p]!;
    return { present: (lo & 1) === 1, rw: (lo & 2) === 2, dirty: (lo & 64) === 64 };
  };
  const window = () => {
    const b = [...bitmap];
    return b.length ? { start: Math.min(...b), end: Math.max(...b) + 1 } : { start: pages, end: 0 };
  };

  for (; step < opts.steps; step++) {
    const r = rnd();
    if (r < 0.7) {
      // A user store on some CPU.
      const cpu = int(cpus);
      const task = `writer${cpu}`;
      const p = int(pages);
      const addr = BASE + p * PAGE + 8 * int(512);
      const cached = tlb[cpu]!.get(p);
      const f = flagsOf(p);
      if (cached?.[0] && cached[1]) {
        emit(task, cpu, 'hw', {
          kind: 'store',
          mm: 1,
          addr,
          pfn: PFN0 + p,
          value: int(256),
          wseq: ++wseq,
          via: 'tlb-hit',
        });
        continue;
      }
      if (!f.present || !f.rw) {
        emit(task, cpu, 'handleMmFault', {
          kind: 'fault',
          mm: 1,
          addr,
          write: true,
          reason: f.present ? 'protection' : 'not-present',
          outcome: 'mkwrite',
        });
        emit(task, cpu, 'vmwBoVmMkwrite', { kind: 'lockAcquire', lock: 'bo0.resv', mode: 'exclusive' });
        bitmap.add(p);
        emit(task, cpu, 'vmwBoVmMkwrite', { kind: 'bitmapSet', owner: 'bo0', index: p, ...window() });
        emit(task, cpu, 'vmwBoVmMkwrite', { kind: 'lockRelease', lock: 'bo0.resv', mode: 'exclusive' });
        setPte(task, cpu, 'wpPageShared', p, ['PRESENT', 'RW', 'USER', 'ACCESSED', 'DIRTY'], 'kernel');
      } else if (!f.dirty) setPte(task, cpu, 'hw', p, ['PRESENT', 'RW', 'USER', 'ACCESSED', 'DIRTY'], 'hw');
      tlb[cpu]!.set(p, [true, true]);
      emit(task, cpu, 'hw', {
        kind: 'tlbFill',
        unit: `cpu${cpu}`,
        mm: 1,
        addr: BASE + p * PAGE,
        pfn: PFN0 + p,
        writable: true,
        dirty: true,
      });
      emit(task, cpu, 'hw', {
        kind: 'store',
        mm: 1,
        addr,
        pfn: PFN0 + p,
        value: int(256),
        wseq: ++wseq,
        via: 'walk',
      });
    } else if (r < 0.8) {
      // The device reads a page through its own MMU.
      const p = int(pages);
      emit('gpu', -1, 'hw', {
        kind: 'tlbFill',
        unit: 'dev:0',
        mm: 1,
        addr: BASE + p * PAGE,
        pfn: PFN0 + p,
        writable: false,
        dirty: false,
      });
    } else if (r < 0.93) {
      // A write-protect scan over a few pages: clean + record, then flush.
      const cpu = int(cpus);
      const first = int(pages - 8);
      const start = BASE + first * PAGE;
      const end = start + 8 * PAGE;
      emit('scan', cpu, 'wpSharedMappingRange', { kind: 'call', args: { firstIndex: first, nr: 8 } });
      emit('scan', cpu, 'walkPageMapping', { kind: 'lockAcquire', lock: 'i_mmap_rwsem', mode: 'read' });
      emit('scan', cpu, 'wpCleanPreVma', {
        kind: 'notifierStart',
        mm: 1,
        start,
        end,
        event: 'protection-page',
      });
      emit('scan', cpu, 'wpPte', { kind: 'lockAcquire', lock: 'ptl', mode: 'exclusive' });
      for (let p = first; p < first + 8; p++) {
        const f = flagsOf(p);
        if (!f.present || !f.rw) continue;
        setPte(
          'scan',
          cpu,
          'wpPte',
          p,
          f.dirty ? ['PRESENT', 'USER', 'ACCESSED', 'DIRTY'] : ['PRESENT', 'USER', 'ACCESSED'],
          'kernel',
        );
      }
      emit('scan', cpu, 'wpPte', { kind: 'lockRelease', lock: 'ptl', mode: 'exclusive' });
      let dropped = 0;
      for (const m of tlb)
        for (const p of [...m.keys()])
          if (p >= first && p < first + 8) {
            m.delete(p);
            dropped++;
          }
      for (let c = 0; c < cpus; c++)
        emit('scan', cpu, 'flushTlbRange', {
          kind: 'tlbFlush',
          unit: `cpu${c}`,
          mm: 1,
          scope: 'range',
          start,
          end,
          dropped,
          ipi: c !== cpu,
        });
      emit('scan', cpu, 'wpCleanPostVma', {
        kind: 'notifierEnd',
        mm: 1,
        start,
        end,
        event: 'protection-page',
      });
      emit('gpu', -1, 'mmuNotifierInvalidateRangeEnd', {
        kind: 'tlbFlush',
        unit: 'dev:0',
        mm: 1,
        scope: 'range',
        start,
        end,
        dropped: 0,
        ipi: false,
      });
      emit('scan', cpu, 'walkPageMapping', { kind: 'lockRelease', lock: 'i_mmap_rwsem', mode: 'read' });
      emit('scan', cpu, 'wpSharedMappingRange', { kind: 'return', ret: 8 });
    } else {
      // The consumer copies what the bitmap says and clears it.
      const got = [...bitmap].sort((a, b) => a - b);
      emit('gpu', -1, 'vmwBoDirtyTransferToRes', { kind: 'consumerSync', consumer: 'gpu', pages: got });
      for (const p of got) {
        bitmap.delete(p);
        emit('gpu', -1, 'vmwBoDirtyTransferToRes', {
          kind: 'bitmapClear',
          owner: 'bo0',
          index: p,
          ...window(),
        });
      }
    }
  }
  emit('check', -1, 'wpSharedMappingRange', {
    kind: 'violation',
    property: 'no-lost-write',
    message: 'Synthetic end marker: a real counterexample would explain its violation here.',
  });
  return {
    version: 1,
    model: 'synthetic',
    variant: `steps-${opts.steps}`,
    schedule: '',
    seed: opts.seed ?? 1,
    setup: {
      cpus,
      mms: { '1': 'proc A' },
      devices: ['gpu'],
      vmas: [
        {
          mm: 1,
          start: BASE,
          end: BASE + pages * PAGE,
          pgoff: 0,
          flags: ['VM_SHARED', 'VM_MAYWRITE', 'VM_WRITE'],
        },
      ],
      pageSize: PAGE,
    },
    events,
    verdict: 'fail',
    property: 'no-lost-write',
  };
}
