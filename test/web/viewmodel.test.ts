import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Trace, TraceEvent } from '../../src/trace/schema.ts';
import { changedFlags, decodePte, encodePte, ptePfn } from '../../web/src/pte-bits.ts';
import { specFor, specForEvent } from '../../web/src/spec-map.ts';
import { replayNaive, TraceModel } from '../../web/src/viewmodel.ts';

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/wp-no-flush.trace.json', import.meta.url), 'utf8'),
) as Trace;

const BASE = 0x7f0000000000;

function mkTrace(events: TraceEvent[], extra: Partial<Trace['setup']> = {}): Trace {
  return {
    version: 1,
    model: 'test',
    variant: 'x',
    schedule: '',
    setup: { cpus: 2, mms: { '1': 'A' }, devices: ['gpu'], vmas: [], pageSize: 4096, ...extra },
    events: events.map((e, i) => ({ ...e, seq: i })),
  };
}

type Ev = TraceEvent extends infer E ? (E extends TraceEvent ? Omit<E, 'seq'> : never) : never;
const base = { step: 0, task: 't', cpu: 0, fn: 'f' };
const pte = (
  addr: number,
  oldF: Parameters<typeof encodePte>[1],
  newF: Parameters<typeof encodePte>[1],
): Ev => {
  const o = encodePte(0x42, oldF);
  const n = encodePte(0x42, newF);
  return {
    ...base,
    kind: 'pte',
    mm: 1,
    addr,
    level: 4,
    oldLo: o.lo,
    oldHi: o.hi,
    newLo: n.lo,
    newHi: n.hi,
    by: 'kernel',
  };
};
const fill = (unit: string, addr: number, writable: boolean, dirty: boolean, pfn = 0x42): Ev => ({
  ...base,
  kind: 'tlbFill',
  unit,
  mm: 1,
  addr,
  pfn,
  writable,
  dirty,
});

describe('pte bits', () => {
  it('decodes x86-64 bit positions including the high half', () => {
    const { lo, hi } = encodePte(0x123456789, ['PRESENT', 'RW', 'DIRTY', 'SAVED_DIRTY', 'NX']);
    expect(lo & 1).toBe(1);
    expect((lo >>> 6) & 1).toBe(1);
    expect((hi >>> 26) & 1).toBe(1); // bit 58
    expect(hi >>> 31).toBe(1); // bit 63
    const d = decodePte(lo, hi);
    expect(d).toMatchObject({
      present: true,
      rw: true,
      dirty: true,
      savedDirty: true,
      nx: true,
      accessed: false,
    });
    expect(d.pfn).toBe(0x123456789);
  });

  it('pfn round-trips over the 40-bit range', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 - 1 }), (pfn) => {
        const { lo, hi } = encodePte(pfn, ['PRESENT']);
        expect(ptePfn(lo, hi)).toBe(pfn);
      }),
    );
  });

  it('reports exactly the flags that differ', () => {
    const a = encodePte(7, ['PRESENT', 'RW', 'DIRTY']);
    const b = encodePte(7, ['PRESENT', 'ACCESSED']);
    expect(changedFlags(a.lo, a.hi, b.lo, b.hi).sort()).toEqual(['ACCESSED', 'DIRTY', 'RW']);
    const c = encodePte(8, ['PRESENT', 'RW', 'DIRTY']);
    expect(changedFlags(a.lo, a.hi, c.lo, c.hi)).toEqual(['PFN']);
  });
});

describe('spec sections', () => {
  it('maps kernel function names to spec sections', () => {
    const cases: Array<[string, string | null]> = [
      ['walkPageMapping', '2'],
      ['wpSharedMappingRange', '3'],
      ['cleanRecordSharedMappingRange', '3'],
      ['cleanRecordPte', '3'],
      ['wpCleanPreVma', '3'],
      ['vmwBoDirtyScan', '4'],
      ['fbDeferredIoWork', '5'],
      ['mappingWrprotectRange', '6'],
      ['pageVmaMkcleanOne', '6'],
      ['doWpPage', '7'],
      ['handleMmFault', '7'],
      ['wpPfnShared', '7'],
      ['hw', '8'],
      ['tlbFlush', '9'],
      ['incTlbFlushPending', '9'],
      ['somethingElse', null],
      ['', null],
    ];
    for (const [fn, sec] of cases) expect(specFor(fn)?.section ?? null, fn).toBe(sec);
    expect(specFor('doWpPage')!.anchor).toBe('7-fault-side-mmmemoryc');
    // Hardware actions without a function name point at the x86 section.
    expect(specForEvent({ fn: '', kind: 'store' })?.section).toBe('8');
    expect(specForEvent({ fn: '', kind: 'pte', by: 'hw' })?.section).toBe('8');
    expect(specForEvent({ fn: '', kind: 'pte', by: 'kernel' })).toBeNull();
    expect(specForEvent({ fn: '', kind: 'lockAcquire' })).toBeNull();
    expect(specForEvent({ fn: 'doWpPage', kind: 'store' })?.section).toBe('7');
  });
});

describe('view-model on the wp-vs-writer / no-tlb-flush counterexample', () => {
  const model = new TraceModel(fixture, { snapshotEvery: 4 });
  const vIdx = fixture.events.findIndex((e) => e.kind === 'violation');
  const wpIdx = fixture.events.findIndex((e) => e.kind === 'pte' && e.fn === 'wpPte');

  it('marks the violating step and explains it with the violation message', () => {
    const v = model.stateAt(vIdx);
    expect(v.violationHere).not.toBeNull();
    expect(v.violationHere!.property).toBe('wp-complete');
    expect(v.violationHere!.message).toBe((fixture.events[vIdx] as { message: string }).message);
    expect(v.pastViolation).toBe(true);
    const before = model.stateAt(vIdx - 1);
    expect(before.violationHere).toBeNull();
    expect(before.pastViolation).toBe(false);
    expect(before.firstViolation!.seq).toBe(vIdx);
  });

  it('the CPU 0 entry turns stale exactly when wp clears RW, and RW is the changed bit', () => {
    const before = model.stateAt(wpIdx - 1);
    const e0 = before.cpus.find((c) => c.unit === 'cpu0')!.entries[0]!;
    expect(e0).toMatchObject({ writable: true, dirty: true, stale: false, pteKnown: true });
    const at = model.stateAt(wpIdx);
    const e1 = at.cpus.find((c) => c.unit === 'cpu0')!.entries[0]!;
    expect(e1.stale).toBe(true);
    expect(e1.staleReasons).toEqual(['writable-but-pte-readonly']);
    const p = at.ptes.find((x) => x.addr === 0x7f0000001000)!;
    expect(p.changed).toEqual(['RW']);
    const ev = fixture.events[wpIdx] as { oldLo: number; oldHi: number };
    expect(p.prev).toEqual({ lo: ev.oldLo, hi: ev.oldHi });
    expect(model.stateAt(wpIdx + 1).ptes[0]!.prev).toBeNull();
    expect(p.bits.rw).toBe(false);
    expect(p.bits.dirty).toBe(true);
    // Still stale at the violation: no flush happened.
    expect(model.stateAt(vIdx).cpus[0]!.entries[0]!.stale).toBe(true);
  });

  it('shows the function and its spec section, locks, notifier and consumer state', () => {
    const at = model.stateAt(wpIdx);
    expect(at.fn).toBe('wpPte');
    expect(at.spec?.section).toBe('3');
    expect(at.locks.map((l) => l.lock).sort()).toEqual(['i_mmap_rwsem', 'ptl(mm1:0x7f0000000000)']);
    expect(at.activeNotifiers).toHaveLength(1);
    const end = model.stateAt(vIdx);
    expect(end.locks).toEqual([]);
    expect(end.activeNotifiers).toEqual([]);
    expect(end.notifierFlushLog.map((l) => l.kind)).toEqual(['notifierStart', 'notifierEnd']);
    expect(end.consumers[0]).toMatchObject({ consumer: 'gpu', last: [1], syncs: 1 });
    expect(end.bitmaps[0]).toMatchObject({ owner: 'bo0', bits: [], windowOk: true });
    // Two CPUs from setup, even though only CPU 0 ever cached anything.
    expect(end.cpus.map((c) => c.unit)).toEqual(['cpu0', 'cpu1']);
  });
});

describe('view-model behaviour', () => {
  const A = BASE + 0x1000;

  it('a clean cached entry is stale once the PTE dirty bit is cleared only if it cached dirty', () => {
    const t = mkTrace([
      pte(A, [], ['PRESENT', 'RW', 'DIRTY']),
      fill('0', A, true, true),
      fill('cpu1', A, true, false),
      pte(A, ['PRESENT', 'RW', 'DIRTY'], ['PRESENT', 'RW']),
    ] as TraceEvent[]);
    const v = new TraceModel(t).stateAt(3);
    const [c0, c1] = v.cpus;
    expect(c0!.entries[0]!.staleReasons).toEqual(['dirty-but-pte-clean']);
    expect(c1!.entries[0]!.stale).toBe(false);
  });

  it('SAVED_DIRTY counts as dirty; a not-present PTE makes every cached entry stale', () => {
    const t = mkTrace([
      pte(A, [], ['PRESENT', 'DIRTY']),
      fill('cpu0', A, false, true),
      pte(A, ['PRESENT', 'DIRTY'], ['PRESENT', 'SAVED_DIRTY']),
      pte(A, ['PRESENT', 'SAVED_DIRTY'], []),
    ] as TraceEvent[]);
    const m = new TraceModel(t);
    expect(m.stateAt(2).cpus[0]!.entries[0]!.stale).toBe(false);
    expect(m.stateAt(3).cpus[0]!.entries[0]!.staleReasons).toEqual(['not-present']);
  });

  it('flushes drop only what their scope covers, and secondary MMUs are separate units', () => {
    const B = A + 0x1000;
    const t = mkTrace([
      fill('cpu0', A, true, true),
      fill('cpu0', B, true, true),
      fill('dev:0', A, true, false),
      {
        ...base,
        kind: 'tlbFlush',
        unit: 'cpu0',
        mm: 1,
        scope: 'page',
        start: B,
        end: B + 0x1000,
        dropped: 1,
        ipi: false,
      },
      {
        ...base,
        kind: 'tlbFlush',
        unit: 'cpu0',
        mm: 2,
        scope: 'mm',
        start: 0,
        end: 0,
        dropped: 0,
        ipi: true,
      },
      {
        ...base,
        kind: 'tlbFlush',
        unit: 'dev:0',
        mm: 1,
        scope: 'range',
        start: A,
        end: B,
        dropped: 1,
        ipi: false,
      },
    ] as TraceEvent[]);
    const m = new TraceModel(t);
    const v3 = m.stateAt(3);
    expect(v3.cpus[0]!.entries.map((e) => e.addr)).toEqual([A]);
    expect(v3.cpus[0]!.flushedHere).toBe(1);
    expect(v3.devices[0]!.entries).toHaveLength(1);
    expect(v3.devices[0]!.label).toBe('dev:0 (gpu)');
    expect(m.stateAt(4).cpus[0]!.entries).toHaveLength(1); // other mm: untouched
    expect(m.stateAt(5).devices[0]!.entries).toHaveLength(0);
  });

  it('tracks the bitmap window and flags a bit outside it', () => {
    const bm = (kind: 'bitmapSet' | 'bitmapClear', index: number, start: number, end: number): Ev => ({
      ...base,
      kind,
      owner: 'bo0',
      index,
      start,
      end,
    });
    const t = mkTrace([
      bm('bitmapSet', 3, 3, 4),
      bm('bitmapSet', 7, 3, 8),
      bm('bitmapSet', 9, 3, 8),
    ] as TraceEvent[]);
    const m = new TraceModel(t);
    expect(m.stateAt(1).bitmaps[0]).toMatchObject({
      bits: [3, 7],
      start: 3,
      end: 8,
      windowOk: true,
      changedIndex: 7,
    });
    expect(m.stateAt(2).bitmaps[0]!.windowOk).toBe(false);
  });

  it('a store through a writable clean entry makes the cached entry dirty', () => {
    const t = mkTrace([
      pte(A, [], ['PRESENT', 'RW']),
      fill('cpu0', A, true, false),
      { ...base, kind: 'store', mm: 1, addr: A + 8, pfn: 0x42, value: 1, wseq: 1, via: 'dirty-rewalk' },
    ] as TraceEvent[]);
    const m = new TraceModel(t);
    expect(m.stateAt(1).cpus[0]!.entries[0]!.dirty).toBe(false);
    const e = m.stateAt(2).cpus[0]!.entries[0]!;
    expect(e.dirty).toBe(true);
    // PTE still clean in the trace (no pte event for D): the cached D is now stale.
    expect(e.staleReasons).toEqual(['dirty-but-pte-clean']);
  });

  it('scheduler-step boundaries', () => {
    const t = mkTrace(
      [0, 0, 1, 1, 1, 3].map((step) => ({ ...base, step, kind: 'note', text: '' })) as TraceEvent[],
    );
    const m = new TraceModel(t);
    expect(m.stepBoundary(-1, 1)).toBe(0);
    expect(m.stepBoundary(0, 1)).toBe(2);
    expect(m.stepBoundary(3, 1)).toBe(5);
    expect(m.stepBoundary(5, 1)).toBe(5);
    expect(m.stepBoundary(3, -1)).toBe(2);
    expect(m.stepBoundary(2, -1)).toBe(0);
    expect(m.stepBoundary(0, -1)).toBe(-1);
  });
});

// ---------------------------------------------------------------------------------------------
// Law: positioning through snapshots (any seek order) equals replaying from scratch.

const addrArb = fc.integer({ min: 0, max: 3 }).map((p) => BASE + p * 4096 + (p === 2 ? 8 : 0));
const unitArb = fc.constantFrom('cpu0', '1', 'dev:0', 'dev:1');
const wordArb = fc.integer({ min: 0, max: 0xffffffff });
const hdr = fc.record({
  task: fc.constantFrom('w0', 'w1', 'scan'),
  cpu: fc.integer({ min: -1, max: 1 }),
  fn: fc.constantFrom('hw', 'wpPte', 'doWpPage', 'x'),
});
const evArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  fc.record({
    kind: fc.constant('pte'),
    mm: fc.constantFrom(1, 2),
    addr: addrArb,
    level: fc.constantFrom(3, 4),
    oldLo: wordArb,
    oldHi: wordArb,
    newLo: wordArb,
    newHi: wordArb,
    by: fc.constantFrom('hw', 'kernel'),
  }),
  fc.record({
    kind: fc.constant('tlbFill'),
    unit: unitArb,
    mm: fc.constantFrom(1, 2),
    addr: addrArb,
    pfn: fc.integer({ min: 0, max: 3 }),
    writable: fc.boolean(),
    dirty: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('tlbFlush'),
    unit: fc.oneof(unitArb, fc.constant('*')),
    mm: fc.constantFrom(1, 2),
    scope: fc.constantFrom('page', 'range', 'mm', 'all'),
    start: addrArb,
    end: addrArb,
    dropped: fc.nat(3),
    ipi: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('store'),
    mm: fc.constantFrom(1, 2),
    addr: addrArb,
    pfn: fc.nat(3),
    value: fc.nat(),
    wseq: fc.nat(),
    via: fc.constantFrom('tlb-hit', 'walk'),
  }),
  fc.record({
    kind: fc.constantFrom('bitmapSet', 'bitmapClear'),
    owner: fc.constantFrom('bo0', 'defio'),
    index: fc.nat(6),
    start: fc.nat(6),
    end: fc.nat(6),
  }),
  fc.record({
    kind: fc.constantFrom('lockAcquire', 'lockRelease', 'lockBlock'),
    lock: fc.constantFrom('ptl', 'i_mmap_rwsem'),
    mode: fc.constantFrom('read', 'write'),
  }),
  fc.record({
    kind: fc.constantFrom('notifierStart', 'notifierEnd'),
    mm: fc.constantFrom(1, 2),
    start: addrArb,
    end: addrArb,
    event: fc.constant('protection-page'),
  }),
  fc.record({
    kind: fc.constant('consumerSync'),
    consumer: fc.constantFrom('gpu', 'fb'),
    pages: fc.array(fc.nat(6), { maxLength: 4 }),
  }),
  fc.record({
    kind: fc.constant('violation'),
    property: fc.constant('no-lost-write'),
    message: fc.string(),
  }),
);
const traceArb = fc.array(fc.tuple(hdr, evArb, fc.boolean()), { maxLength: 60 }).map((items) => {
  let step = 0;
  const events = items.map(([h, e, next], seq) => {
    if (next) step++;
    return { ...h, ...e, seq, step } as unknown as TraceEvent;
  });
  return mkTrace(events, { devices: ['gpu'] });
});

describe('snapshot stepping law', () => {
  it('stateAt(k) through snapshots equals naive replay, for any sequence of positions', () => {
    fc.assert(
      fc.property(
        traceArb,
        fc.integer({ min: 1, max: 9 }),
        fc.array(fc.tuple(fc.integer({ min: -1, max: 70 }), fc.nat(20)), { maxLength: 12 }),
        fc.boolean(),
        (trace, every, positions, eager) => {
          const m = new TraceModel(trace, { snapshotEvery: every, eager });
          const n = trace.events.length;
          for (const [p, budget] of [...positions, [n - 1, 0], [0, 0], [n - 2, 0]] as const) {
            // Snapshots built in the background (any amount) must not change any answer.
            m.buildMore(budget);
            const k = Math.min(p, n - 1);
            expect(m.stateAt(k)).toEqual(replayNaive(trace, k));
          }
          // Stepping forward one event at a time through the whole trace.
          for (let k = -1; k < n; k++) expect(m.stateAt(k)).toEqual(replayNaive(trace, k));
        },
      ),
      { numRuns: 150 },
    );
  });
});
