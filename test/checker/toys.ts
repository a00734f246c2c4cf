/**
 * Toy models for the checker's own tests and benchmarks. NOT registered in MODELS.
 *
 * Object ids used in footprints are per toy; `access(obj, write)` from task.ts.
 */
import type { ModelDef, ModelInstance, ModelTask, Violation } from '../../src/checker/model.ts';
import { access, type TaskBody, type Wait } from '../../src/checker/task.ts';
import { TraceSink } from '../../src/trace/sink.ts';

// Task bodies are top-level generator functions: tsx/esbuild (keepNames) wraps every function
// EXPRESSION in a `__name` call, which costs microseconds per created instance.
function task(name: string, cpu: number, body: TaskBody, footprint?: number): ModelTask {
  if (footprint === undefined) return { name, cpu, body, ctx: { task: name, cpu, fn: name } };
  return { name, cpu, body, ctx: { task: name, cpu, fn: name }, footprint };
}

function variants(...vs: Array<[string, 'pass' | 'fail', string?]>): ModelDef['variants'] {
  return vs.map(([name, verdict, property]) => ({
    name,
    description: `${name} toy variant`,
    expected: property === undefined ? { verdict } : { verdict, property },
  }));
}

/**
 * `n` tasks x `k` steps each, every step on the task's own object (or, with `shared`, a write to
 * one common object). Step j of a task is the code after its j-th yield.
 */
export function makeIndependent(n: number, k: number, shared = false): ModelDef {
  const names = Array.from({ length: n }, (_, i) => `t${i}`);
  return {
    name: `independent-${n}x${k}${shared ? '-shared' : ''}`,
    description: 'independent tasks (reduction demo)',
    variants: variants(['mainline', 'pass']),
    create(): ModelInstance {
      const tasks: ModelTask[] = [];
      for (let i = 0; i < n; i++) {
        const fp = access(shared ? 0 : i, true);
        tasks.push(task(names[i]!, i, independentBody(fp, k), fp));
      }
      return { tasks, trace: null, checkFinal: noViolation };
    },
  };
}

function noViolation(): Violation | null {
  return null;
}

function* independentBody(fp: number, k: number): TaskBody {
  for (let j = 1; j < k; j++) yield fp;
}

/** The cheapest possible model: 2 tasks x 2 steps, no shared state (bench checker.trivial). */
export const trivial: ModelDef = makeIndependent(2, 2);

const X = 0;
const LOCK = 1;

class ToyLock implements Wait {
  holder = -1;
  readonly footprint: number;
  constructor(
    readonly waitingFor: string,
    id: number,
  ) {
    this.footprint = access(id, true);
  }
  ready(): boolean {
    return this.holder === -1;
  }
}

/**
 * Shared counter incremented by `n` tasks. Variants:
 * - racy: read x (step 1), then write x+1 (step 2) -> lost update ("no-lost-update");
 * - atomic: read and write in one step -> passes;
 * - locked: take a lock (parking while it is held), read, write, release -> passes.
 * Traced: `load`/`store` events on addr 0, lock events.
 */
export function makeCounter(n = 2): ModelDef {
  return {
    name: 'counter',
    description: `${n} tasks increment a shared counter`,
    variants: variants(['racy', 'fail', 'no-lost-update'], ['atomic', 'pass'], ['locked', 'pass']),
    create(variant, opts): ModelInstance {
      const trace = opts.trace ? new TraceSink() : null;
      const s = { x: 0, writes: 0 };
      const lock = new ToyLock('lock L', LOCK);
      const load = (): number => {
        trace?.emit({ kind: 'load', mm: 0, addr: 0, pfn: 0, value: s.x });
        return s.x;
      };
      const store = (v: number): void => {
        s.x = v;
        trace?.emit({ kind: 'store', mm: 0, addr: 0, pfn: 0, value: v, wseq: s.writes++, via: 'tlb-hit' });
      };
      const tasks: ModelTask[] = [];
      for (let i = 0; i < n; i++) {
        let body: TaskBody;
        let first: number;
        if (variant === 'racy') {
          first = access(X, false);
          body = (function* (): TaskBody {
            const v = load();
            yield access(X, true);
            store(v + 1);
          })();
        } else if (variant === 'atomic') {
          first = access(X, true);
          // biome-ignore lint/correctness/useYield: a task that never yields runs as one step
          body = (function* (): TaskBody {
            store(load() + 1);
          })();
        } else {
          first = access(LOCK, false);
          body = (function* (): TaskBody {
            yield lock;
            lock.holder = i;
            trace?.emit({ kind: 'lockAcquire', lock: 'L', mode: 'exclusive' });
            const v = load();
            yield access(X, true);
            store(v + 1);
            yield access(LOCK, true);
            lock.holder = -1;
            trace?.emit({ kind: 'lockRelease', lock: 'L', mode: 'exclusive' });
          })();
        }
        tasks.push(task(`inc${i}`, i, body, first));
      }
      return {
        tasks,
        trace,
        checkFinal: (): Violation | null =>
          s.x === n
            ? null
            : { property: 'no-lost-update', message: `counter is ${s.x} after ${n} increments` },
        hashState: () => `${s.x}/${lock.holder}`,
      };
    },
  };
}

/**
 * Message passing litmus: writer `data = 1; flag = 1`, reader `r1 = flag; r2 = data`. Every final
 * outcome "r1,r2" is added to `outcomes`. Variant `sc` keeps program order; `reordered` lets the
 * writer publish the flag first (as a store buffer might), making "1,0" reachable.
 */
export function makeMessagePassing(outcomes: Set<string>): ModelDef {
  const DATA = 0;
  const FLAG = 1;
  return {
    name: 'mp',
    description: 'message passing litmus',
    variants: variants(['sc', 'pass'], ['reordered', 'pass']),
    create(variant): ModelInstance {
      const s = { data: 0, flag: 0, r1: -1, r2: -1 };
      const writer =
        variant === 'sc'
          ? (function* (): TaskBody {
              s.data = 1;
              yield access(FLAG, true);
              s.flag = 1;
            })()
          : (function* (): TaskBody {
              s.flag = 1;
              yield access(DATA, true);
              s.data = 1;
            })();
      const reader = (function* (): TaskBody {
        s.r1 = s.flag;
        yield access(DATA, false);
        s.r2 = s.data;
      })();
      return {
        tasks: [
          task('writer', 0, writer, access(variant === 'sc' ? DATA : FLAG, true)),
          task('reader', 1, reader, access(FLAG, false)),
        ],
        trace: null,
        checkFinal: () => {
          outcomes.add(`${s.r1},${s.r2}`);
          return null;
        },
      };
    },
  };
}

/** Two tasks take two locks in opposite order: "deadlock" in some schedules. */
export const deadlock: ModelDef = {
  name: 'deadlock',
  description: 'ABBA lock order',
  variants: variants(['abba', 'fail', 'deadlock'], ['ordered', 'pass']),
  create(variant): ModelInstance {
    const a = new ToyLock('lock A', 0);
    const b = new ToyLock('lock B', 1);
    const take = function* (me: number, first: ToyLock, second: ToyLock): TaskBody {
      yield first;
      first.holder = me;
      yield second;
      second.holder = me;
      yield undefined;
      second.holder = -1;
      first.holder = -1;
    };
    return {
      tasks: [
        task('p0', 0, take(0, a, b)),
        task('p1', 1, variant === 'abba' ? take(1, b, a) : take(1, a, b)),
      ],
      trace: null,
      checkFinal: noViolation,
    };
  },
};

/**
 * `spinner` waits for a flag that `setter` sets after one step: a busy-wait. DFS runs the spinner
 * first (non-preemptive), so the step bound reports "livelock"; variant `blocking` parks on a Wait
 * instead and passes.
 */
export const livelock: ModelDef = {
  name: 'livelock',
  description: 'busy-wait on a flag',
  variants: variants(['spin', 'fail', 'livelock'], ['blocking', 'pass']),
  create(variant): ModelInstance {
    const s = { flag: false };
    const spinner =
      variant === 'spin'
        ? (function* (): TaskBody {
            while (!s.flag) yield access(0, false);
          })()
        : (function* (): TaskBody {
            yield { waitingFor: 'flag', ready: () => s.flag, footprint: access(0, false) };
          })();
    const setter = (function* (): TaskBody {
      yield access(0, true);
      s.flag = true;
    })();
    return {
      tasks: [task('spinner', 0, spinner, access(0, false)), task('setter', 1, setter, access(1, false))],
      trace: null,
      checkFinal: noViolation,
    };
  },
};

/** A task throws when it observes the other task's write: "crash" with the error message. */
export const crash: ModelDef = {
  name: 'crash',
  description: 'a task throws in some schedules',
  variants: variants(['mainline', 'fail', 'crash']),
  create(): ModelInstance {
    const s = { x: 0 };
    return {
      tasks: [
        task(
          'a',
          0,
          (function* (): TaskBody {
            yield access(0, false);
            if (s.x === 1) throw new Error('saw x == 1');
          })(),
          access(1, false),
        ),
        task(
          'b',
          1,
          // biome-ignore lint/correctness/useYield: a task that never yields runs as one step
          (function* (): TaskBody {
            s.x = 1;
          })(),
          access(0, true),
        ),
      ],
      trace: null,
      checkFinal: noViolation,
    };
  },
};

/** Tasks that never yield: each is one step. */
export const oneStep: ModelDef = {
  name: 'one-step',
  description: 'three tasks that never yield',
  variants: variants(['mainline', 'pass']),
  create(): ModelInstance {
    const order: string[] = [];
    const t = (name: string): ModelTask =>
      task(
        name,
        0,
        // biome-ignore lint/correctness/useYield: a task that never yields runs as one step
        (function* (): TaskBody {
          order.push(name);
        })(),
      );
    return { tasks: [t('a'), t('b'), t('c')], trace: null, checkFinal: noViolation };
  },
};

function* stepper(s: { x: number }, k: number): TaskBody {
  for (let j = 0; j < k; j++) {
    s.x++;
    yield access(0, true);
  }
}

// biome-ignore lint/correctness/useYield: a task that never yields runs as one step
function* observer(s: { x: number; seen: number }): TaskBody {
  s.seen = s.x;
}

/**
 * Depth-1 ordering bug (shuttle's PCT example): `long` takes `k` steps, `observer` one; the bug
 * shows only if the observer runs after ALL of long's steps ("starved"). A random walk needs k
 * coin flips in a row (2^-k); PCT at depth 1 needs long to get the higher priority (1/2).
 */
export function makeStarvation(k: number): ModelDef {
  return {
    name: 'starvation',
    description: 'the observer must run last',
    variants: variants(['mainline', 'fail', 'starved']),
    create(): ModelInstance {
      const s = { x: 0, seen: -1 };
      return {
        tasks: [
          task('long', 0, stepper(s, k), access(0, true)),
          task('observer', 1, observer(s), access(0, false)),
        ],
        trace: null,
        checkFinal: () =>
          s.seen === k ? { property: 'starved', message: `observer ran after all ${k} steps` } : null,
      };
    },
  };
}

export const ALL_TOYS: readonly ModelDef[] = [makeCounter(), deadlock, livelock, crash];
