import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { check } from '../../src/checker/check.ts';
import { Executor } from '../../src/checker/engine.ts';
import type { ModelDef, ModelInstance } from '../../src/checker/model.ts';
import { ReplayScheduler } from '../../src/checker/replay.ts';
import { EXEC_OK, independent } from '../../src/checker/scheduler.ts';
import { access, type TaskBody } from '../../src/checker/task.ts';
import {
  crash,
  deadlock,
  livelock,
  makeCounter,
  makeIndependent,
  makeMessagePassing,
  oneStep,
} from './toys.ts';

const dfs = (def: ModelDef, variant: string, extra: Parameters<typeof check>[2] = {}) =>
  check(def, variant, { strategy: 'dfs', ...extra });

describe('dfs interleaving counts', () => {
  it('2 tasks x 2 steps, no shared state: 6 without reduction, 1 with sleep sets', () => {
    // a1 a2 b1 b2 | a1 b1 a2 b2 | a1 b1 b2 a2 | b1 a1 a2 b2 | b1 a1 b2 a2 | b1 b2 a1 a2 = C(4,2) = 6.
    // All steps commute: one Mazurkiewicz trace. Sleep sets explore it once; the two other
    // branches (b1 first after a1, b1 first at the root) end with every enabled task asleep.
    const def = makeIndependent(2, 2);
    const plain = dfs(def, 'mainline', { reduction: false, iterativeBounding: false });
    expect(plain).toMatchObject({ verdict: 'pass', executions: 6, pruned: 0 });
    const reduced = dfs(def, 'mainline', { iterativeBounding: false });
    expect(reduced).toMatchObject({ verdict: 'pass', executions: 1, pruned: 2 });
    // Iterative bounding (default) counts each distinct execution once: same totals.
    expect(dfs(def, 'mainline', { reduction: false })).toMatchObject({ verdict: 'pass', executions: 6 });
    expect(dfs(def, 'mainline')).toMatchObject({ verdict: 'pass', executions: 1 });
  });

  it('3 tasks x 1 step: 3! = 6 orders; 1 with sleep sets', () => {
    // abc acb bac bca cab cba
    const def = makeIndependent(3, 1);
    expect(dfs(def, 'mainline', { reduction: false }).executions).toBe(6);
    expect(dfs(def, 'mainline').executions).toBe(1);
  });

  it('2 tasks x 3 steps: C(6,3) = 20 interleavings', () => {
    expect(dfs(makeIndependent(2, 3), 'mainline', { reduction: false }).executions).toBe(20);
  });

  it('tasks that never yield are one step each: 3 such tasks give 3! = 6 orders', () => {
    expect(dfs(oneStep, 'mainline', { reduction: false }).executions).toBe(6);
  });

  it('reduction keeps every interleaving when all steps conflict (2 x 2 writes to one object)', () => {
    const def = makeIndependent(2, 2, true);
    expect(dfs(def, 'mainline', { reduction: false }).executions).toBe(6);
    expect(dfs(def, 'mainline').executions).toBe(6);
  });

  it('preemption bound 0 and 1 on 2 x 2', () => {
    // Preemption = switch away from a task that could still run.
    // AABB 0, ABAB 2, ABBA 1, BAAB 1, BABA 2, BBAA 0 -> bound 0: 2 schedules, bound 1: 4.
    const def = makeIndependent(2, 2);
    expect(dfs(def, 'mainline', { reduction: false, preemptionBound: 0 }).executions).toBe(2);
    expect(dfs(def, 'mainline', { reduction: false, preemptionBound: 1 }).executions).toBe(4);
    expect(dfs(def, 'mainline', { reduction: false, preemptionBound: 2 }).executions).toBe(6);
  });

  it('locked counter: 10 interleavings, 6 Mazurkiewicz traces', () => {
    // Each task: s1 yield the lock (no-op, reads L), s2 take L + read x, s3 write x, s4 release L.
    // Critical sections s2..s4 cannot overlap. If A enters first: A1 A2 A3 A4 then B2 B3 B4, with
    // B1 (always enabled) in any of 5 places before B2 -> 5; same with B first -> 10.
    // B1 reads L: it commutes with A1 (read) and A3 (x), not with A2 / A4 (write L), so only 3
    // placements of B1 are distinct traces per order -> 6.
    const def = makeCounter(2);
    expect(dfs(def, 'locked', { reduction: false })).toMatchObject({ verdict: 'pass', executions: 10 });
    expect(dfs(def, 'locked')).toMatchObject({ verdict: 'pass', executions: 6 });
  });

  it('n tasks x k steps: (nk)! / (k!)^n interleavings without reduction, 1 with (independent steps)', () => {
    const fact = (x: number): number => (x <= 1 ? 1 : x * fact(x - 1));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), (n, k) => {
        const def = makeIndependent(n, k);
        expect(dfs(def, 'mainline', { reduction: false }).executions).toBe(fact(n * k) / fact(k) ** n);
        expect(dfs(def, 'mainline').executions).toBe(1);
        // All steps on one object: nothing commutes, reduction keeps every interleaving.
        const shared = makeIndependent(n, k, true);
        expect(dfs(shared, 'mainline').executions).toBe(fact(n * k) / fact(k) ** n);
      }),
    );
  });

  it('footprint independence law', () => {
    expect(independent(access(1, true), access(2, true))).toBe(true);
    expect(independent(access(1, false), access(1, false))).toBe(true);
    expect(independent(access(1, false), access(1, true))).toBe(false);
    expect(independent(access(1, true), access(1, true))).toBe(false);
    expect(independent(-1, access(2, false))).toBe(false);
  });
});

describe('reachable outcomes (litmus style)', () => {
  it('message passing: r1=flag, r2=data never reads 1,0 in program order', () => {
    for (const reduction of [false, true]) {
      const outcomes = new Set<string>();
      expect(dfs(makeMessagePassing(outcomes), 'sc', { reduction }).verdict).toBe('pass');
      expect([...outcomes].sort()).toEqual(['0,0', '0,1', '1,1']);
    }
  });

  it('message passing with the writes reordered reaches 1,0', () => {
    for (const reduction of [false, true]) {
      const outcomes = new Set<string>();
      dfs(makeMessagePassing(outcomes), 'reordered', { reduction });
      expect([...outcomes].sort()).toEqual(['0,0', '0,1', '1,0', '1,1']);
    }
  });

  it('racy counter reaches final values 1 and 2; sleep sets give the same set', () => {
    // Observe every final value with a model that never fails.
    const racy = makeCounter(2);
    for (const reduction of [false, true]) {
      const finals = new Set<number>();
      const observing: ModelDef = {
        ...racy,
        create(variant, opts): ModelInstance {
          const inst = racy.create(variant, opts);
          return {
            ...inst,
            checkFinal: () => {
              finals.add(inst.checkFinal() === null ? 2 : 1);
              return null;
            },
          };
        },
      };
      const r = dfs(observing, 'racy', { reduction });
      expect(r.verdict).toBe('pass');
      expect([...finals].sort()).toEqual([1, 2]);
      // r0 w0 r1 w1 | r0 r1 w0 w1 | r0 r1 w1 w0 | r1 r0 w0 w1 | r1 r0 w1 w0 | r1 w1 r0 w0 = 6;
      // r0 and r1 (reads) commute, so {r0r1.., r1r0..} pairs are one trace: 4 traces.
      expect(r.executions).toBe(reduction ? 4 : 6);
    }
  });
});

describe('failures', () => {
  it('finds the lost update in the racy counter and none in the fixed ones', () => {
    const def = makeCounter(3);
    const r = dfs(def, 'racy');
    expect(r.verdict).toBe('fail');
    expect(r.property).toBe('no-lost-update');
    expect(r.counterexample!.trace.events.at(-1)).toMatchObject({
      kind: 'violation',
      property: 'no-lost-update',
    });
    expect(dfs(def, 'locked').verdict).toBe('pass');
    expect(dfs(def, 'atomic').verdict).toBe('pass');
  });

  it('all tasks parked is a deadlock naming what each waits for', () => {
    const r = dfs(deadlock, 'abba');
    expect(r.verdict).toBe('fail');
    expect(r.property).toBe('deadlock');
    expect(r.message).toContain('p0 waits for lock B');
    expect(r.message).toContain('p1 waits for lock A');
    expect(dfs(deadlock, 'ordered').verdict).toBe('pass');
  });

  it('exceeding the step bound is a livelock failure, not a hang', () => {
    const r = dfs(livelock, 'spin', { maxSteps: 200 });
    expect(r).toMatchObject({ verdict: 'fail', property: 'livelock' });
    expect(r.counterexample!.steps).toBe(200);
    expect(dfs(livelock, 'blocking').verdict).toBe('pass');
  });

  it('an exception in a task is a crash with its message', () => {
    const r = dfs(crash, 'mainline');
    expect(r).toMatchObject({ verdict: 'fail', property: 'crash', message: 'saw x == 1' });
  });

  it('a Wait parks the task until ready() holds', () => {
    const log: string[] = [];
    const gate = { open: false };
    const def: ModelDef = {
      name: 'gate',
      description: '',
      variants: [{ name: 'v', description: '', expected: { verdict: 'pass' } }],
      create: () => ({
        tasks: [
          {
            name: 'waiter',
            cpu: 0,
            ctx: { task: 'waiter', cpu: 0, fn: '' },
            body: (function* (): TaskBody {
              yield { waitingFor: 'gate', ready: () => gate.open };
              log.push(`waiter sees ${gate.open}`);
            })(),
          },
          {
            name: 'opener',
            cpu: 1,
            ctx: { task: 'opener', cpu: 1, fn: '' },
            body: (function* (): TaskBody {
              yield;
              gate.open = true;
            })(),
          },
        ],
        trace: null,
        checkFinal: () => null,
      }),
    };
    const ex = new Executor();
    // Replay "waiter first" at every choice: the waiter still cannot pass the gate early.
    const st = ex.run(def.create('v', { trace: false }), new ReplayScheduler([0, 0, 0]), 100, null);
    expect(st).toBe(EXEC_OK);
    expect(log).toEqual(['waiter sees true']);
  });

  it('distinct states are counted when the model hashes its state', () => {
    // locked counter (2 tasks): x in {0,1,2} x holder in {-1,0,1}, reachable: 0/-1 0/0 0/1 1/0 1/1 1/-1 2/0 2/1 2/-1.
    expect(dfs(makeCounter(2), 'locked', { reduction: false }).distinctStates).toBe(9);
    expect(dfs(makeIndependent(2, 2), 'mainline').distinctStates).toBeUndefined();
  });
});

describe('iterative preemption bounding', () => {
  it('levels 0, 1, 2 on 2 x 2: 2 + 2 + 2 new executions, the rest repeats', () => {
    // Level 0: AABB BBAA. Level 1 adds ABBA BAAB (re-running the 2 of level 0). Level 2 adds
    // ABAB BABA (re-running 4); no choice was cut at level 2, so the search is complete.
    const r = dfs(makeIndependent(2, 2), 'mainline', { reduction: false });
    expect(r).toMatchObject({ verdict: 'pass', executions: 6, repeated: 6 });
    expect(r.preemptionBound).toBeUndefined();
  });

  it('finds a least-preempting failure first, before any shrinking', () => {
    for (const [def, variant] of [
      [makeCounter(3), 'racy'],
      [deadlock, 'abba'],
    ] as const) {
      const icb = dfs(def, variant, { shrink: false });
      const p = icb.counterexample!.preemptions;
      // No failure with fewer preemptions exists:
      if (p > 0) expect(dfs(def, variant, { preemptionBound: p - 1 }).verdict).toBe('pass');
      const plain = dfs(def, variant, { shrink: false, iterativeBounding: false });
      expect(p).toBeLessThanOrEqual(plain.counterexample!.preemptions);
    }
  });

  it('a pass reports the bound only if the bound cut something', () => {
    // 2 x 2 needs at most 2 preemptions: bound 5 never cuts, bound 1 does (ABAB, BABA).
    const def = makeIndependent(2, 2);
    expect(dfs(def, 'mainline', { reduction: false, preemptionBound: 5 }).preemptionBound).toBeUndefined();
    expect(dfs(def, 'mainline', { reduction: false, preemptionBound: 1 }).preemptionBound).toBe(1);
    // With sleep sets every alternative beyond one preemption is asleep anyway: nothing is cut,
    // so bound 1 is already a complete search.
    expect(dfs(def, 'mainline', { preemptionBound: 1 }).preemptionBound).toBeUndefined();
  });

  it('an incomplete search says which bound was fully explored', () => {
    // 2 x 3 with no reduction: level 0 has 2 executions, level 1 more than 3 new ones.
    const r = dfs(makeIndependent(2, 3), 'mainline', { reduction: false, maxExecutions: 5 });
    expect(r).toMatchObject({ verdict: 'incomplete', completedPreemptionBound: 0 });
  });
});

describe('budgets', () => {
  it('max executions stops dfs early with verdict incomplete', () => {
    const r = dfs(makeIndependent(2, 3), 'mainline', {
      reduction: false,
      maxExecutions: 5,
      iterativeBounding: false,
    });
    expect(r).toMatchObject({ verdict: 'incomplete', executions: 5 });
    expect(r.reason).toContain('execution budget');
  });

  it('random and pct never claim pass', () => {
    for (const strategy of ['random', 'pct'] as const) {
      const r = check(makeCounter(2), 'locked', { strategy, maxExecutions: 50 });
      expect(r).toMatchObject({ verdict: 'incomplete', executions: 50 });
    }
  });
});
