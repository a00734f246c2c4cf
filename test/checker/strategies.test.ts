import { describe, expect, it } from 'vitest';
import { check, replay } from '../../src/checker/check.ts';
import type { ModelDef } from '../../src/checker/model.ts';
import type { Strategy } from '../../src/checker/result.ts';
import { decodeSchedule } from '../../src/checker/schedule.ts';
import { crash, deadlock, livelock, makeCounter, makeStarvation } from './toys.ts';

const FAILING: Array<[ModelDef, string, string]> = [
  [makeCounter(2), 'racy', 'no-lost-update'],
  [makeCounter(3), 'racy', 'no-lost-update'],
  [deadlock, 'abba', 'deadlock'],
  [livelock, 'spin', 'livelock'],
  [crash, 'mainline', 'crash'],
];
const STRATS: Strategy[] = ['dfs', 'random', 'pct'];

describe('every strategy finds every toy bug, and every counterexample replays', () => {
  for (const [def, variant, property] of FAILING) {
    for (const strategy of STRATS) {
      // A uniform random walk starves the spinner's partner with probability 2^-300: random is
      // not expected to report this livelock (checked separately below).
      if (property === 'livelock' && strategy === 'random') continue;
      it(`${def.name}/${variant} with ${strategy}`, () => {
        const r = check(def, variant, { strategy, maxSteps: 300, maxExecutions: 5000 });
        expect(r.verdict).toBe('fail');
        expect(r.property).toBe(property);
        const ce = r.counterexample!;
        const again = replay(def, variant, ce.schedule, { trace: true, maxSteps: 300 });
        expect(again).toMatchObject({
          verdict: 'fail',
          property,
          steps: ce.steps,
          preemptions: ce.preemptions,
        });
        expect(again.schedule).toBe(ce.schedule);
        // Byte for byte: the counterexample's trace is the replay's trace.
        expect(JSON.stringify(again.trace)).toBe(JSON.stringify(ce.trace));
        // The unshrunk schedule reproduces the same property too.
        expect(replay(def, variant, ce.shrunkFrom.schedule, { maxSteps: 300 }).property).toBe(property);
      });
    }
  }
});

it('random walks are fair enough not to report the busy-wait as a livelock', () => {
  expect(check(livelock, 'spin', { strategy: 'random', maxSteps: 300, maxExecutions: 2000 }).verdict).toBe(
    'incomplete',
  );
});

describe('determinism', () => {
  it('same seed -> same result and trace, byte for byte', () => {
    for (const strategy of ['random', 'pct'] as const) {
      for (const seed of [1, 2, 3, 12345]) {
        const a = check(makeCounter(3), 'racy', { strategy, seed });
        const b = check(makeCounter(3), 'racy', { strategy, seed });
        const strip = (r: typeof a) => JSON.stringify({ ...r, elapsedMs: 0, searchMs: 0 });
        expect(strip(a)).toBe(strip(b));
      }
    }
  });

  it('different seeds explore differently (random walks on 4 tasks)', () => {
    const schedules = new Set<string>();
    for (let seed = 0; seed < 20; seed++) {
      schedules.add(
        check(makeCounter(4), 'racy', { strategy: 'random', seed, shrink: false }).counterexample!.schedule,
      );
    }
    expect(schedules.size).toBeGreaterThan(1);
  });
});

describe('shrinking', () => {
  it('never lengthens, never adds preemptions, keeps the property', () => {
    for (const strategy of ['random', 'pct'] as const) {
      for (let seed = 0; seed < 30; seed++) {
        for (const [def, variant, property] of FAILING.slice(0, 3)) {
          const raw = check(def, variant, { strategy, seed, shrink: false });
          const shrunk = check(def, variant, { strategy, seed });
          const a = raw.counterexample!;
          const b = shrunk.counterexample!;
          expect(b.shrunkFrom.schedule).toBe(a.schedule);
          expect(b.steps).toBeLessThanOrEqual(a.steps);
          expect(b.preemptions).toBeLessThanOrEqual(a.preemptions);
          expect(shrunk.property).toBe(property);
          expect(replay(def, variant, b.schedule).property).toBe(property);
        }
      }
    }
  });

  it('shrinks the racy counter to the minimal one-preemption interleaving', () => {
    // A lost update needs both reads before both writes: r0 r1 w1 w0 (or symmetric) has one
    // preemption (after r0) and the switch back to task 0 is forced.
    for (let seed = 0; seed < 10; seed++) {
      const r = check(makeCounter(2), 'racy', { strategy: 'random', seed });
      expect(r.counterexample!.preemptions).toBe(1);
      expect(r.counterexample!.steps).toBe(4);
    }
  });

  it('a prefix of a schedule is completed non-preemptively by replay', () => {
    const r = replay(makeCounter(2), 'racy', 'v1:');
    expect(r).toMatchObject({ verdict: 'pass', preemptions: 0, steps: 4 });
    // Choice points: step 0 (both enabled) and step 1 (task 0 continues); then only task 1 is left.
    expect(decodeSchedule(r.schedule)).toEqual([0, 0]);
  });
});

describe('replay input errors', () => {
  it('rejects schedules that do not fit, with one-line messages', () => {
    const def = makeCounter(2);
    expect(() => replay(def, 'racy', 'v1:C')).toThrow(/names task 2, which is not enabled/);
    expect(() => replay(def, 'racy', 'v1:A9')).toThrow(/left after the execution ended/);
    expect(() => replay(def, 'nosuch', 'v1:')).toThrow(/no variant 'nosuch'/);
  });
});

describe('pct', () => {
  it('finds a depth-1 bug that a random walk practically never finds', () => {
    // Random: the observer must lose 20 coin flips in a row (2^-20 per execution); 200 executions
    // per seed find it with probability ~2e-4. PCT depth 1: long gets the higher priority with
    // probability 1/2 per execution.
    const def = makeStarvation(20);
    for (let seed = 0; seed < 10; seed++) {
      const p = check(def, 'mainline', { strategy: 'pct', pctDepth: 1, seed, maxExecutions: 20 });
      expect(p.verdict).toBe('fail');
      const r = check(def, 'mainline', { strategy: 'random', seed, maxExecutions: 200 });
      expect(r.verdict).toBe('incomplete');
    }
  });

  it('depth 1 never preempts: every execution runs one task to completion first', () => {
    // With no change points a task keeps running while it has the top priority.
    // So one execution either runs long first (fails, 0 preemptions) or the observer first (passes).
    const def = makeStarvation(5);
    let fails = 0;
    for (let seed = 0; seed < 20; seed++) {
      const r = check(def, 'mainline', {
        strategy: 'pct',
        pctDepth: 1,
        seed,
        maxExecutions: 1,
        shrink: false,
      });
      if (r.verdict === 'fail') {
        fails++;
        expect(r.counterexample!.preemptions).toBe(0);
      }
    }
    expect(fails).toBeGreaterThan(0);
    expect(fails).toBeLessThan(20);
  });
});

describe('counterexample traces', () => {
  it('end with exactly one violation event, also when the model records it itself', () => {
    const racy = makeCounter(2);
    const selfReporting: ModelDef = {
      ...racy,
      create(variant, opts) {
        const inst = racy.create(variant, opts);
        return {
          ...inst,
          checkFinal: () => {
            const v = inst.checkFinal();
            if (v !== null) inst.trace?.emit({ kind: 'violation', property: v.property, message: v.message });
            return v;
          },
        };
      },
    };
    for (const def of [racy, selfReporting]) {
      const trace = check(def, 'racy').counterexample!.trace;
      expect(trace.events.filter((e) => e.kind === 'violation')).toHaveLength(1);
      expect(trace.events.at(-1)).toMatchObject({ kind: 'violation', property: 'no-lost-update' });
      expect(trace).toMatchObject({ verdict: 'fail', property: 'no-lost-update' });
    }
  });
});
