/**
 * source-DPOR and optimal DPOR against an independent oracle: the brute-force trace counter
 * (trace-count.ts enumerates every interleaving and counts lexicographic normal forms), on the
 * standard benchmark programs (programs.ts) at sizes small enough to enumerate. Also: soundness on
 * random lock programs (same final states as exploring every interleaving), replay and shrinking
 * under the new strategies, and multi-object footprints.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { check, replay } from '../../src/checker/check.ts';
import type { ModelDef, ModelInstance, ModelTask } from '../../src/checker/model.ts';
import { independentFp } from '../../src/checker/scheduler.ts';
import { access, footprint, footprintAccesses, type TaskBody, type Wait } from '../../src/checker/task.ts';
import {
  filesystem,
  independent,
  indexer,
  lastzero,
  type Program,
  readers,
  toModel,
  writers,
} from './programs.ts';
import { ALL_TOYS, makeCounter } from './toys.ts';
import { countTraces } from './trace-count.ts';

const DPOR = ['source-dpor', 'optimal-dpor'] as const;

function factorial(n: number): number {
  return n <= 1 ? 1 : n * factorial(n - 1);
}

describe('brute-force trace counter (the oracle) on closed forms', () => {
  it('independent(N) has 1 trace, writers(N) N!, readers(N) 2^N', () => {
    for (let n = 1; n <= 5; n++) {
      expect(countTraces(independent(n)).traces).toBe(1);
      expect(countTraces(writers(n)).traces).toBe(factorial(n));
      expect(countTraces(readers(n)).traces).toBe(2 ** n);
    }
    expect(countTraces(independent(5)).interleavings).toBe(120);
  });

  it('lastzero(N) has (N+3)·2^(N-2) traces (brute force for N = 2, 3; the bench uses the formula)', () => {
    for (const n of [2, 3]) expect(countTraces(lastzero(n)).traces).toBe((n + 3) * 2 ** (n - 2));
  });

  it('collisions multiply the traces of indexer and filesystem by 2 each', () => {
    // indexer with 2 messages in a table of 128: no collision below 12 threads.
    expect(countTraces(indexer(3, 128, 2)).traces).toBe(1);
    // filesystem with 2 blocks: thread 1 starts at block 2 mod 2 = 0, thread 0's block.
    expect(countTraces(filesystem(2, 2, 32)).traces).toBe(2);
    // one inode shared by both threads: whoever locks it first allocates.
    expect(countTraces(filesystem(2, 2, 1)).traces).toBe(2);
    expect(countTraces(filesystem(2, 26, 32)).traces).toBe(1);
  });
});

// Small instances of every program (each enumerable in well under a second).
const SMALL: Program[] = [
  independent(4),
  writers(4),
  readers(1),
  readers(4),
  lastzero(2),
  lastzero(3),
  indexer(2, 4, 2),
  indexer(3, 8, 2),
  indexer(3, 128, 2),
  filesystem(2, 2, 32),
  filesystem(2, 2, 1),
  filesystem(2, 26, 32),
];

describe('DPOR explores one execution per Mazurkiewicz trace', () => {
  for (const p of SMALL) {
    it(`${p.name} (${p.threads} threads)`, () => {
      const oracle = countTraces(p);
      expect(oracle.deadlocks).toBe(0);
      const opt = check(toModel(p), 'mainline', { strategy: 'optimal-dpor' });
      const src = check(toModel(p), 'mainline', { strategy: 'source-dpor' });
      const dfs = check(toModel(p), 'mainline', { iterativeBounding: false });
      for (const r of [opt, src, dfs]) expect(r.verdict).toBe('pass');
      // Completed executions: exactly one per trace for every reducing strategy.
      expect(opt.executions).toBe(oracle.traces);
      expect(src.executions).toBe(oracle.traces);
      expect(dfs.executions).toBe(oracle.traces);
      // Optimal DPOR never starts a redundant execution (locks are declared exclusive).
      expect(opt.pruned).toBe(0);
      expect(src.executions + src.pruned).toBeLessThanOrEqual(1.2 * oracle.traces);
    });
  }

  it('filesystem with locks NOT declared exclusive: still exact, at the price of dropped reversals', () => {
    for (const p of [filesystem(2, 2, 32), filesystem(2, 2, 1)]) {
      const oracle = countTraces(p);
      const def = toModel(p, { exclusiveLocks: false });
      for (const strategy of DPOR) {
        const r = check(def, 'mainline', { strategy });
        expect(r.executions).toBe(oracle.traces);
        // The reversal with the release that let the waiter run is impossible: the execution that
        // tries it is abandoned when the replay meets the parked task.
        expect(r.pruned).toBeLessThanOrEqual(1);
      }
    }
  });

  it('lastzero(4..7): beyond the brute-force counter, the formula, dfs with sleep sets and optimal DPOR agree', () => {
    for (let n = 4; n <= 7; n++) {
      const traces = (n + 3) * 2 ** (n - 2);
      const r = check(toModel(lastzero(n)), 'mainline', { strategy: 'optimal-dpor' });
      const d = check(toModel(lastzero(n)), 'mainline', { iterativeBounding: false });
      expect(d.executions).toBe(traces);
      expect(r.executions).toBe(traces);
      expect(r.pruned).toBe(0);
    }
  });
});

// ---- soundness on random lock programs (the reduction.test.ts generator, with locks) ----

type Op = { k: 'r' | 'w'; o: number } | { k: 'lock' } | { k: 'unlock' };
const LOCK_OBJ = 10;

interface State {
  obj: number[];
  local: number[];
  holder: number;
}

function fpOf(op: Op): number {
  return op.k === 'r' ? access(op.o, false) : op.k === 'w' ? access(op.o, true) : access(LOCK_OBJ, true);
}

function* program(ops: Op[], s: State, me: number, wait: Wait): TaskBody {
  if (ops[0]?.k === 'lock') yield wait;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.k === 'lock') s.holder = me;
    else if (op.k === 'unlock') s.holder = -1;
    else if (op.k === 'r') s.local[me] = s.local[me]! * 3 + s.obj[op.o]!;
    else s.obj[op.o] = s.local[me]! * 7 + me * 13 + i;
    const next = ops[i + 1];
    if (next !== undefined) yield next.k === 'lock' ? wait : fpOf(next);
  }
}

function makeProgram(tasks: Op[][], finals: Set<string>, exclusive = false): ModelDef {
  return {
    name: 'random-program',
    description: '',
    variants: [{ name: 'v', description: '', expected: { verdict: 'pass' } }],
    create(): ModelInstance {
      const s: State = { obj: [0, 0, 0], local: tasks.map(() => 1), holder: -1 };
      const wait: Wait = {
        waitingFor: 'lock',
        ready: () => s.holder === -1,
        footprint: access(LOCK_OBJ, true),
        exclusive,
      };
      const ts: ModelTask[] = tasks.map((ops, me) => ({
        name: `t${me}`,
        cpu: me,
        ctx: { task: `t${me}`, cpu: me, fn: '' },
        body: program(ops, s, me, wait),
        footprint: ops[0] !== undefined && ops[0].k !== 'lock' ? fpOf(ops[0]) : access(100 + me, false),
      }));
      return {
        tasks: ts,
        trace: null,
        checkFinal: () => {
          finals.add(`${s.obj.join(',')}|${s.local.join(',')}`);
          return null;
        },
      };
    },
  };
}

const rw = fc.record({ k: fc.constantFrom<'r' | 'w'>('r', 'w'), o: fc.integer({ min: 0, max: 2 }) });
const taskOps = (pre: number, mid: number, post: number) =>
  fc
    .tuple(
      fc.array(rw, { maxLength: pre }),
      fc.array(rw, { minLength: 1, maxLength: mid }),
      fc.array(rw, { maxLength: post }),
      fc.boolean(),
    )
    .map(([a, b, c, locked]): Op[] =>
      locked ? [...a, { k: 'lock' }, ...b, { k: 'unlock' }, ...c] : [...a, ...b, ...c],
    );
const programs = fc.oneof(
  fc.array(taskOps(1, 2, 1), { minLength: 2, maxLength: 2 }),
  fc.array(taskOps(1, 1, 1), { minLength: 3, maxLength: 3 }),
);

describe('DPOR soundness on random programs with a lock', () => {
  it('reaches the same final states as exploring every interleaving, in no more executions', () => {
    fc.assert(
      fc.property(programs, fc.boolean(), (tasks, exclusive) => {
        const full = new Set<string>();
        const all = check(makeProgram(tasks, full), 'v', { reduction: false, iterativeBounding: false });
        expect(all.verdict).toBe('pass');
        const sleepOnly = check(makeProgram(tasks, new Set()), 'v', { iterativeBounding: false });
        for (const strategy of DPOR) {
          const got = new Set<string>();
          const r = check(makeProgram(tasks, got, exclusive), 'v', { strategy });
          expect(r.verdict).toBe('pass');
          expect([...got].sort()).toEqual([...full].sort());
          // Sleep sets complete one execution per trace; DPOR the same number.
          expect(r.executions).toBe(sleepOnly.executions);
          if (strategy === 'optimal-dpor' && exclusive) expect(r.pruned).toBe(0);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('schedules, replay and shrinking under DPOR', () => {
  for (const strategy of DPOR) {
    it(`${strategy}: a counterexample replays to the same failure`, () => {
      const def = makeCounter(3);
      const r = check(def, 'racy', { strategy });
      expect(r.verdict).toBe('fail');
      expect(r.strategy).toBe(strategy);
      expect(r.property).toBe('no-lost-update');
      const again = replay(def, 'racy', r.counterexample!.schedule);
      expect(again.verdict).toBe('fail');
      expect(again.property).toBe('no-lost-update');
      expect(r.counterexample!.preemptions).toBeLessThanOrEqual(r.counterexample!.shrunkFrom.preemptions);
    });
    it(`${strategy}: passes the locked counter and rejects a preemption bound`, () => {
      expect(check(makeCounter(3), 'locked', { strategy }).verdict).toBe('pass');
      expect(() => check(makeCounter(2), 'locked', { strategy, preemptionBound: 1 })).toThrow(/dfs only/);
    });
  }
});

describe('DPOR on the toy models (deadlock, livelock, crash, lost update)', () => {
  for (const def of ALL_TOYS) {
    for (const v of def.variants) {
      it(`${def.name}/${v.name}: the expected verdict under both DPOR strategies`, () => {
        for (const strategy of DPOR) {
          const r = check(def, v.name, { strategy, maxSteps: 200 });
          expect(r.verdict).toBe(v.expected.verdict);
          if (v.expected.property !== undefined) expect(r.property).toBe(v.expected.property);
        }
      });
    }
  }
});

describe('multi-object footprints', () => {
  it('are interned numbers below -1 whose accesses commute pairwise', () => {
    const a = footprint(access(1, true), access(2, false));
    expect(a).toBeLessThan(-1);
    expect(footprint(access(2, false), access(1, true))).toBe(a);
    expect(footprintAccesses(a)).toEqual([access(1, true), access(2, false)]);
    // a write covers a read of the same object; one access is a plain access code
    expect(footprint(access(3, false), access(3, true))).toBe(access(3, true));
    expect(independentFp(a, access(2, false))).toBe(true);
    expect(independentFp(a, access(2, true))).toBe(false);
    expect(independentFp(a, access(1, false))).toBe(false);
    expect(independentFp(a, access(5, true))).toBe(true);
    expect(independentFp(a, footprint(access(5, true), access(2, false)))).toBe(true);
    expect(independentFp(a, -1)).toBe(false);
  });

  it('let DPOR commute steps on disjoint object sets', () => {
    // Two tasks, each one step on two objects: disjoint sets -> 1 trace, overlapping -> 2.
    const mk = (fa: number, fb: number): ModelDef => ({
      name: 'multi',
      description: '',
      variants: [{ name: 'v', description: '', expected: { verdict: 'pass' } }],
      create: () => ({
        tasks: [fa, fb].map((f, i) => ({
          name: `t${i}`,
          cpu: i,
          ctx: { task: `t${i}`, cpu: i, fn: '' },
          body: twoSteps(f),
          footprint: f,
        })),
        trace: null,
        checkFinal: () => null,
      }),
    });
    const disjoint = mk(
      footprint(access(0, true), access(1, true)),
      footprint(access(2, true), access(3, true)),
    );
    const overlap = mk(
      footprint(access(0, true), access(1, true)),
      footprint(access(1, false), access(3, true)),
    );
    for (const strategy of ['dfs', ...DPOR] as const) {
      expect(check(disjoint, 'v', { strategy }).executions).toBe(1);
      // each task: two steps on the same set; overlapping sets conflict: C(4,2) = 6 orders, of
      // which the traces are the interleavings of the conflicting pairs: all 6 are distinct.
      expect(check(overlap, 'v', { strategy }).executions).toBe(6);
    }
  });
});

function* twoSteps(f: number): TaskBody {
  yield f;
}
