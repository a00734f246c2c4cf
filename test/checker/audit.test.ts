/**
 * Footprint audit (src/checker/audit.ts) on toy models: a wrong footprint makes the reduction
 * silently miss a bug; the audit catches the wrong footprint itself.
 */
import { describe, expect, it } from 'vitest';
import { PROP_FOOTPRINT } from '../../src/checker/audit.ts';
import { check } from '../../src/checker/check.ts';
import type { ModelDef, ModelInstance, ModelTask } from '../../src/checker/model.ts';
import { access, footprint, type TaskBody } from '../../src/checker/task.ts';

const A = 0;
const B = 1;

interface Acct {
  a: number;
  b: number;
}

// biome-ignore lint/correctness/useYield: a task that never yields runs as one step
function* copyAtoB(s: Acct): TaskBody {
  s.b = s.a;
}

// biome-ignore lint/correctness/useYield: a task that never yields runs as one step
function* setA(s: Acct): TaskBody {
  s.a = 1;
}

function task(name: string, cpu: number, body: TaskBody, fp: number): ModelTask {
  return { name, cpu, body, ctx: { task: name, cpu, fn: name }, footprint: fp };
}

/**
 * `copy` does b = a in one step, `set` does a = 1. Property "stale": b must stay 0, which fails
 * when `set` runs first (not the first, non-preemptive, execution). Variant `honest` declares
 * copy's footprint as {read a, write b}; `planted` forgets the read of a (the planted bug).
 */
const copyModel: ModelDef = {
  name: 'copy',
  description: 'b = a races a = 1',
  variants: [
    { name: 'honest', description: 'exact footprints', expected: { verdict: 'fail', property: 'stale' } },
    {
      name: 'planted',
      description: 'copy forgets it reads a',
      expected: { verdict: 'fail', property: 'stale' },
    },
  ],
  create(variant, opts): ModelInstance {
    const raw: Acct = { a: 0, b: 0 };
    const s =
      opts.audit === undefined
        ? raw
        : opts.audit.trackObject(raw, (k) => (k === 'a' ? A : k === 'b' ? B : undefined));
    const copyFp = variant === 'honest' ? footprint(access(A, false), access(B, true)) : access(B, true);
    return {
      tasks: [task('copy', 0, copyAtoB(s), copyFp), task('set', 1, setA(s), access(A, true))],
      trace: null,
      checkFinal: () => (raw.b === 0 ? null : { property: 'stale', message: `b is ${raw.b}` }),
    };
  },
};

describe('footprint audit', () => {
  for (const strategy of ['dfs', 'source-dpor', 'optimal-dpor'] as const) {
    it(`${strategy}: honest footprints find the bug, and pass the audit on the way`, () => {
      const r = check(copyModel, 'honest', { strategy });
      expect(r.property).toBe('stale');
      const audited = check(copyModel, 'honest', { strategy, audit: true });
      expect(audited.property).toBe('stale');
      expect(audited.audit!.steps).toBeGreaterThan(0);
      expect(audited.audit!.accesses).toBeGreaterThan(0);
    });

    it(`${strategy}: a planted wrong footprint hides the bug, and the audit catches it`, () => {
      // The reduction trusts the footprint: copy and set "commute", one execution, no failure.
      const blind = check(copyModel, 'planted', { strategy });
      expect(blind.verdict).toBe('pass');
      expect(blind.executions).toBe(1);
      const audited = check(copyModel, 'planted', { strategy, audit: true });
      expect(audited.verdict).toBe('fail');
      expect(audited.property).toBe(PROP_FOOTPRINT);
      expect(audited.message).toBe(
        'step 0: task copy made a read of object 0, but its declared footprint does not name it',
      );
      // The counterexample replays (with the audit) to the same failure, as a trace.
      expect(audited.counterexample!.trace.property).toBe(PROP_FOOTPRINT);
    });
  }

  it('an unknown footprint covers everything; audit runs report what they audited', () => {
    const r = check(
      {
        ...copyModel,
        create(_v, opts) {
          const inst = copyModel.create('planted', opts);
          return { ...inst, tasks: inst.tasks.map((t) => ({ ...t, footprint: -1 })) };
        },
      },
      'planted',
      { audit: true },
    );
    expect(r.property).toBe('stale');
  });

  it('tracks typed-array elements: a write declared as a read is flagged', () => {
    const def: ModelDef = {
      name: 'array',
      description: '',
      variants: [{ name: 'v', description: '', expected: { verdict: 'pass' } }],
      create(_v, opts): ModelInstance {
        const raw = new Int32Array(4);
        const arr = opts.audit === undefined ? raw : opts.audit.trackArray(raw, (i) => 100 + i);
        return {
          tasks: [task('w', 0, bump(arr, 2), access(102, false))],
          trace: null,
          checkFinal: () => null,
        };
      },
    };
    expect(check(def, 'v').verdict).toBe('pass');
    const r = check(def, 'v', { audit: true });
    expect(r.property).toBe(PROP_FOOTPRINT);
    expect(r.message).toBe(
      'step 0: task w made a write of object 102, but its declared footprint declares only a read of it',
    );
  });

  it('counts steps that declare more than they touch (sound, but reduces less)', () => {
    const def: ModelDef = {
      name: 'over',
      description: '',
      variants: [{ name: 'v', description: '', expected: { verdict: 'pass' } }],
      create(_v, opts): ModelInstance {
        const raw = new Int32Array(4);
        const arr = opts.audit === undefined ? raw : opts.audit.trackArray(raw, (i) => i);
        return {
          tasks: [task('w', 0, bump(arr, 1), footprint(access(1, true), access(3, true)))],
          trace: null,
          checkFinal: () => null,
        };
      },
    };
    const r = check(def, 'v', { audit: true });
    expect(r.verdict).toBe('pass');
    expect(r.audit).toEqual({ steps: 1, accesses: 2, overDeclared: 1 });
  });
});

// biome-ignore lint/correctness/useYield: a task that never yields runs as one step
function* bump(arr: Int32Array, i: number): TaskBody {
  arr[i] = arr[i]! + 1;
}
