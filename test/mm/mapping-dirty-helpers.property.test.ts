/**
 * Guarantees a) and b) of clean_record_shared_mapping_range and the wp postcondition (P3), as
 * fast-check properties over random operation sequences on the aliasing world (mm A maps file
 * pages [0, 16), mm B pages [4, 12); CPUs switch between them), judged against the ground-truth
 * store log (test/laws), never against the model's own bits:
 * - sequential: several CPUs, warm and cold TLBs, each operation runs to completion;
 * - interleaved: explore mode, CPUs, a scanner (clean_record + consume, the caller's lock) and two
 *   wp callers as actors, one generator step at a time under a seeded random schedule.
 * Each property is also run against a bug variant to show it can fail.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type KGen, runToCompletion } from '../../src/checker/task.ts';
import { bitmapAlloc } from '../../src/mm/bitmap.ts';
import { KTask } from '../../src/mm/kernel.ts';
import {
  createDirtyHelpers,
  type DirtyHelpers,
  type HelperVariantName,
} from '../../src/mm/mapping-dirty-helpers.ts';
import { userLoad8, userStore8 } from '../../src/mm/memory.ts';
import { switchMm } from '../../src/mm/mmap.ts';
import { checkWindowCovers, type TrackedBitmap } from '../laws/dirty-laws.ts';
import { prng } from './fixtures.ts';
import {
  type Actor,
  B_PAGES,
  B_PGOFF,
  FILE_PAGES,
  interleave,
  type Op,
  type World,
  world,
} from './helpers-fixtures.ts';

type UserOp =
  | { kind: 'store'; cpu: number; page: number }
  | { kind: 'load'; cpu: number; page: number }
  | { kind: 'switch'; cpu: number }
  | { kind: 'flush'; cpu: number };
type HelperOp =
  | { kind: 'wp'; first: number; nr: number; caller: number }
  | { kind: 'clean'; first: number; nr: number; bm: number }
  | { kind: 'consume'; bm: number; from: number; to: number };
type AnyOp = UserOp | HelperOp;

const CPUS = 3;

/**
 * Operation arbitraries. `hot` concentrates everything on file pages [4, 6) (mapped by both mms)
 * with short helper ranges, so that interleaved steps collide often.
 */
function arbs(hot: boolean): fc.Arbitrary<AnyOp> {
  const maxPage = hot ? 1 : 15;
  const range = hot
    ? fc
        .tuple(fc.integer({ min: 4, max: 5 }), fc.integer({ min: 1, max: 2 }))
        .map(([first, nr]) => ({ first, nr: Math.min(nr, 6 - first) }))
    : fc
        .tuple(fc.nat(FILE_PAGES - 1), fc.integer({ min: 1, max: FILE_PAGES }))
        .map(([first, nr]) => ({ first, nr: Math.min(nr, FILE_PAGES - first) }));
  const page = hot ? fc.nat(maxPage).map((p) => p + 4) : fc.nat(maxPage);
  const userOp: fc.Arbitrary<UserOp> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ kind: fc.constant('store' as const), cpu: fc.nat(CPUS - 1), page }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('load' as const), cpu: fc.nat(CPUS - 1), page }) },
    {
      weight: hot ? 0 : 1,
      arbitrary: fc.record({ kind: fc.constant('switch' as const), cpu: fc.nat(CPUS - 1) }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('flush' as const), cpu: fc.nat(CPUS - 1) }) },
  );
  const helperOp: fc.Arbitrary<HelperOp> = fc.oneof(
    { weight: hot ? 4 : 2, arbitrary: range.map((r) => ({ kind: 'wp' as const, ...r, caller: 0 })) },
    {
      weight: 3,
      arbitrary: fc.tuple(range, fc.nat(1)).map(([r, bm]) => ({ kind: 'clean' as const, ...r, bm })),
    },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.nat(1), fc.nat(FILE_PAGES), fc.nat(FILE_PAGES))
        .map(([bm, x, y]) => ({ kind: 'consume' as const, bm, from: Math.min(x, y), to: Math.max(x, y) })),
    },
  );
  return fc.oneof({ weight: 3, arbitrary: userOp }, { weight: 2, arbitrary: helperOp });
}

/** The two recording bitmaps: bm0 at pgoff 0 (16 bits), bm1 at pgoff 2 (14 bits: pages 2..15). */
interface Rec {
  b: TrackedBitmap;
  win: { start: number; end: number };
}
function bitmaps(w: World): Rec[] {
  const rs = [
    { b: { name: 'bm0', bitmap: bitmapAlloc(16), bitmapPgoff: 0, nbits: 16 }, win: { start: 16, end: 0 } },
    { b: { name: 'bm1', bitmap: bitmapAlloc(14), bitmapPgoff: 2, nbits: 14 }, win: { start: 14, end: 0 } },
  ];
  for (const r of rs) w.laws.register(r.b);
  return rs;
}

/** Clip a clean range to what bitmap `r` covers (bm1 starts at file page 2). */
function clip(r: Rec, first: number, nr: number): { first: number; nr: number } {
  const lo = Math.max(first, r.b.bitmapPgoff);
  return { first: lo, nr: Math.max(1, first + nr - lo) };
}

/** Address (in the CPU's current mm) for a page choice. */
function target(w: World, cpu: number, page: number): { mm: World['a']; addr: number } {
  const mm = w.k.cpus[cpu]!.mmId === w.a.id ? w.a : w.b;
  const vma = mm === w.a ? w.va : w.vb;
  const p = mm === w.a ? page : B_PGOFF + (page % B_PAGES);
  return { mm, addr: vma.start + (p - vma.pgoff) * 4096 + (page & 63) };
}

function userGen(w: World, o: UserOp): KGen<unknown> {
  const k = w.k;
  const cpu = k.cpus[o.cpu]!;
  if (o.kind === 'switch') {
    switchMm(k, o.cpu, cpu.mmId === w.a.id ? w.b : w.a);
    return (function* () {})();
  }
  if (o.kind === 'flush') {
    cpu.tlb.flushAll();
    return (function* () {})();
  }
  const { mm, addr } = target(w, o.cpu, o.page);
  return o.kind === 'store' ? userStore8(k, cpu, mm, addr, o.page) : userLoad8(k, cpu, mm, addr);
}

function consume(w: World, r: Rec, from: number, to: number): void {
  to = Math.min(to, r.b.nbits);
  if (from >= to) return;
  w.laws.consume(r.b, from, to);
  if (from <= r.win.start && to >= r.win.end) {
    r.win.start = r.b.nbits;
    r.win.end = 0;
  }
}

/** Run `ops` one at a time to completion; returns every law violation seen. */
function runSequential(variant: HelperVariantName, ops: AnyOp[], writeback: boolean): string[] {
  const h = createDirtyHelpers(variant);
  const w = world({ cpus: CPUS, writeback });
  const k = w.k;
  const recs = bitmaps(w);
  const bad: string[] = [];
  const kworker = new KTask('kworker', -1);
  for (const o of ops) {
    if (o.kind === 'wp') {
      k.setCurrent(kworker);
      runToCompletion(h.wpSharedMappingRange(k, w.file, o.first, o.nr));
      bad.push(...w.laws.checkWpComplete(o.first, o.nr));
    } else if (o.kind === 'clean') {
      const r = recs[o.bm]!;
      const { first, nr } = clip(r, o.first, o.nr);
      const snap = w.laws.dirtySnapshot(first, nr);
      const began = w.laws.now();
      k.setCurrent(kworker);
      runToCompletion(
        h.cleanRecordSharedMappingRange(k, w.file, first, nr, r.b.bitmapPgoff, r.b.bitmap, r.win),
      );
      bad.push(...w.laws.checkCleanRecordA(snap, r.b, began));
      bad.push(...w.laws.checkNoLostWrite());
      bad.push(...checkWindowCovers(r.b, r.win));
    } else if (o.kind === 'consume') {
      consume(w, recs[o.bm]!, o.from, o.to);
    } else {
      k.setCurrent(w.cpuTasks[o.cpu]!);
      const v = runToCompletion(userGen(w, o));
      if (typeof v === 'number' && v < 0) bad.push(`user op ${o.kind} failed: ${v}`);
    }
  }
  bad.push(...w.laws.checkNoLostWrite());
  return bad;
}

/**
 * Interleave: user ops on their CPU actors, clean/consume on one scanner actor (the caller's lock
 * serialises them), wp on two caller actors; seeded random schedule, one step at a time.
 */
function runInterleaved(
  variant: HelperVariantName,
  ops: AnyOp[],
  writeback: boolean,
  seed: number,
  stick: number,
  window: number,
  onStep?: (w: World, task: KTask) => void,
): string[] {
  const h: DirtyHelpers = createDirtyHelpers(variant);
  const w = world({ cpus: CPUS, writeback, explore: true, witness: true });
  const k = w.k;
  const wit = w.witness!;
  const recs = bitmaps(w);
  const bad: string[] = [];
  const cpuActors: Actor[] = w.cpuTasks.map((task) => ({ task, ops: [] }));
  const scanner: Actor = { task: new KTask('scanner', -1), ops: [] };
  const wpActors: Actor[] = [
    { task: new KTask('wp0', -1), ops: [] },
    { task: new KTask('wp1', -1), ops: [] },
  ];
  let nthWp = 0;
  for (let seq = 0; seq < ops.length; seq++) {
    const o = ops[seq]!;
    if (o.kind === 'wp') {
      let since = 0;
      const op: Op = {
        seq,
        label: `wp ${o.first}+${o.nr}`,
        start: () => {
          since = wit.clock;
          return h.wpSharedMappingRange(k, w.file, o.first, o.nr);
        },
        done: () => bad.push(...w.laws.checkWpComplete(o.first, o.nr, wit, since)),
      };
      wpActors[nthWp++ % 2]!.ops.push(op);
    } else if (o.kind === 'clean') {
      const r = recs[o.bm]!;
      const { first, nr } = clip(r, o.first, o.nr);
      let snap: ReturnType<World['laws']['dirtySnapshot']> = [];
      let began = 0;
      let since = 0;
      scanner.ops.push({
        seq,
        label: `clean ${first}+${nr} -> ${r.b.name}`,
        start: () => {
          snap = w.laws.dirtySnapshot(first, nr);
          began = w.laws.now();
          since = wit.clock;
          return h.cleanRecordSharedMappingRange(k, w.file, first, nr, r.b.bitmapPgoff, r.b.bitmap, r.win);
        },
        done: () => {
          bad.push(...w.laws.checkCleanRecordA(snap, r.b, began, wit, since));
          bad.push(...w.laws.checkNoLostWrite());
          bad.push(...checkWindowCovers(r.b, r.win));
        },
      });
    } else if (o.kind === 'consume') {
      scanner.ops.push({
        seq,
        label: 'consume',
        start: () => {
          consume(w, recs[o.bm]!, o.from, o.to);
          return (function* () {})();
        },
      });
    } else {
      cpuActors[o.cpu]!.ops.push({
        seq,
        label: o.kind,
        start: () => userGen(w, o),
        done: (v) => {
          if (typeof v === 'number' && v < 0) bad.push(`user op ${o.kind} failed: ${v}`);
        },
      });
    }
  }
  interleave(
    k,
    [...cpuActors, scanner, ...wpActors],
    prng(seed),
    stick,
    onStep && ((t) => onStep(w, t)),
    window,
  );
  bad.push(...w.laws.checkNoLostWrite());
  // Structural: balanced notifier start/end and deferred-flush counts.
  if (k.counters.notifierStarts !== k.counters.notifierEnds) bad.push('unbalanced notifier start/end');
  if (w.a.tlbFlushPending !== 0 || w.b.tlbFlushPending !== 0) bad.push('tlb_flush_pending not back to 0');
  return bad;
}

const seqProp = (variant: HelperVariantName, hot = false) =>
  fc.property(
    fc.array(arbs(hot), { minLength: 1, maxLength: 60, size: 'medium' }),
    fc.boolean(),
    (ops, wb) => {
      const bad = runSequential(variant, ops, wb);
      if (bad.length > 0) throw new Error(bad.slice(0, 5).join('\n'));
    },
  );

const ilvProp = (variant: HelperVariantName, hot = false) =>
  fc.property(
    fc.array(arbs(hot), { minLength: hot ? 30 : 1, maxLength: hot ? 80 : 50, size: 'medium' }),
    fc.boolean(),
    fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    fc.constantFrom(0, 0.8, 0.95),
    fc.constantFrom(2, 3, 4, Number.POSITIVE_INFINITY),
    (ops, wb, seed, stick, window) => {
      const bad = runInterleaved(variant, ops, wb, seed, stick, window);
      if (bad.length > 0) throw new Error(bad.slice(0, 5).join('\n'));
    },
  );

describe('clean_record guarantees a/b and the wp postcondition against the store log', () => {
  it('sequential, several CPUs (mainline)', () => {
    fc.assert(seqProp('mainline'), { numRuns: 300 });
  });

  it('interleaved in explore mode with a seeded random schedule (mainline)', () => {
    fc.assert(ilvProp('mainline'), { numRuns: 200 });
  });

  it('interleaved, hot pages shared by both mms (mainline)', () => {
    fc.assert(ilvProp('mainline', true), { numRuns: 300 });
  });

  // The same properties must be able to fail: each catches the bug of a variant.
  it.each<[HelperVariantName, 'seq' | 'ilv']>([
    ['no-tlb-flush', 'seq'],
    ['nonatomic-rmw', 'ilv'],
    ['no-nested-flush', 'ilv'],
  ])('detects the %s variant (%s, hot pages)', (variant, mode) => {
    const params = { numRuns: variant === 'no-nested-flush' ? 3000 : 1000, seed: 42 };
    const failed =
      mode === 'seq'
        ? fc.check(seqProp(variant, true), params).failed
        : fc.check(ilvProp(variant, true), params).failed;
    expect(failed).toBe(true);
  });
});
