/**
 * Law: sleep-set reduction never changes the set of reachable final states (steps with honest
 * footprints commute iff the reduction says they do), and never explores more executions.
 * Checked on random small programs: 2-3 tasks, reads/writes on 3 shared objects, and an optional
 * critical section under one lock (a Wait).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { check } from '../../src/checker/check.ts';
import type { ModelDef, ModelInstance, ModelTask } from '../../src/checker/model.ts';
import { access, type TaskBody, type Wait } from '../../src/checker/task.ts';

type Op = { k: 'r' | 'w'; o: number } | { k: 'lock' } | { k: 'unlock' };
const LOCK_OBJ = 10;

interface State {
  obj: number[];
  local: number[];
  holder: number;
}

function footprint(op: Op): number {
  return op.k === 'r' ? access(op.o, false) : op.k === 'w' ? access(op.o, true) : access(LOCK_OBJ, true);
}

function* program(ops: Op[], s: State, me: number, wait: Wait): TaskBody {
  if (ops[0]?.k === 'lock') yield wait; // a no-op first step that parks on the lock
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.k === 'lock') s.holder = me;
    else if (op.k === 'unlock') s.holder = -1;
    else if (op.k === 'r') s.local[me] = s.local[me]! * 3 + s.obj[op.o]!;
    else s.obj[op.o] = s.local[me]! * 7 + me * 13 + i;
    const next = ops[i + 1];
    if (next !== undefined) yield next.k === 'lock' ? wait : footprint(next);
  }
}

function makeProgram(tasks: Op[][], finals: Set<string>): ModelDef {
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
      };
      const ts: ModelTask[] = tasks.map((ops, me) => ({
        name: `t${me}`,
        cpu: me,
        ctx: { task: `t${me}`, cpu: me, fn: '' },
        body: program(ops, s, me, wait),
        footprint:
          ops[0]?.k === 'lock'
            ? access(100 + me, false)
            : ops[0]
              ? footprint(ops[0])
              : access(100 + me, false),
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
// A task: some accesses, optionally with a lock around a middle part. Sizes keep the unreduced
// search small: 2 tasks of <= 6 ops (<= C(14,7) = 3432 interleavings), or 3 tasks of <= 3 ops
// (<= 12!/(4!4!4!) = 34650 with the no-op first step of a locking task).
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
  fc.array(taskOps(0, 1, 0), { minLength: 3, maxLength: 3 }),
);

describe('sleep-set reduction', () => {
  it('preserves the set of reachable final states and never explores more', () => {
    fc.assert(
      fc.property(programs, (tasks) => {
        const full = new Set<string>();
        const reduced = new Set<string>();
        const a = check(makeProgram(tasks, full), 'v', { reduction: false });
        const b = check(makeProgram(tasks, reduced), 'v', { reduction: true });
        expect(a.verdict).toBe('pass');
        expect(b.verdict).toBe('pass');
        expect([...reduced].sort()).toEqual([...full].sort());
        // The same without iterative preemption bounding (one unbounded pass).
        const single = new Set<string>();
        check(makeProgram(tasks, single), 'v', { reduction: true, iterativeBounding: false });
        expect([...single].sort()).toEqual([...full].sort());
        expect(b.executions).toBeLessThanOrEqual(a.executions);
      }),
      { numRuns: 100 },
    );
  });

  it('reduces something on programs with independent steps', () => {
    const tasks: Op[][] = [
      [
        { k: 'w', o: 0 },
        { k: 'r', o: 1 },
      ],
      [
        { k: 'w', o: 2 },
        { k: 'r', o: 1 },
      ],
    ];
    const a = check(makeProgram(tasks, new Set()), 'v', { reduction: false });
    const b = check(makeProgram(tasks, new Set()), 'v');
    // All four steps pairwise independent (different objects, or two reads of object 1).
    expect(a.executions).toBe(6);
    expect(b.executions).toBe(1);
  });
});
