/**
 * Checker benchmarks.
 * - checker.trivial.execsPerSec: 2 tasks x 2 steps, no shared state, dfs without reduction (6
 *   executions per check), repeated until >= 200,000 executions. Goal >= 100,000/s.
 * - checker.dfs.<toy>.executions[.noReduction]: executions dfs needs for a toy, with and without
 *   sleep sets.
 * - checker.dpor.<program>.ratio / .sourceRatio: executions explored (completed + abandoned) per
 *   Mazurkiewicz trace by optimal DPOR / source-DPOR on the standard benchmark programs
 *   (test/checker/programs.ts); .ms / .sourceMs: search time, median of 3 (min and max in params).
 * - checker.<model>.<variant>.msToCounterexample for every catalogue pair expected to fail, and
 *   checker.<model>.mainline.execsPerSec / .executions[.noReduction] (filled as models arrive).
 */
import { check } from '../src/checker/check.ts';
import type { ModelDef } from '../src/checker/model.ts';
import { MODELS } from '../src/models/catalogue.ts';
import {
  filesystem,
  independent,
  indexer,
  lastzero,
  type Program,
  readers,
  toModel,
  writers,
} from '../test/checker/programs.ts';
import { makeCounter, trivial } from '../test/checker/toys.ts';
import type { Bench, BenchResult } from './harness.ts';

function execsPerSec(def: ModelDef, variant: string, minExecs: number, reduction: boolean): number {
  // Warm-up, then best of 3 rounds.
  // One plain pass per check (no iterative-bounding re-runs): measures the engine loop.
  const opts = { reduction, iterativeBounding: false };
  check(def, variant, opts);
  let best = 0;
  for (let round = 0; round < 3; round++) {
    let execs = 0;
    const t0 = performance.now();
    while (execs < minExecs) execs += check(def, variant, opts).executions;
    const s = (performance.now() - t0) / 1000;
    best = Math.max(best, execs / s);
  }
  return best;
}

/**
 * The done-when sizes of issue 12 and their trace counts, each derived independently of the
 * checker: independent threads commute (1 trace); N writers of one variable: N! orders; readers:
 * each of the N reads is before or after the write (2^N); lastzero(N): (N+3)·2^(N-2), 15,360 at
 * N = 12 as published (the brute-force counter confirms it at N = 2, 3, dfs with sleep sets at
 * N = 4..7, in test/checker/dpor.test.ts);
 * indexer(15): 128-slot table, threads 11..14 each collide with threads 0..3 on 3 messages, each
 * collision has 2 orders (2^12); filesystem(16): threads 13..15 start at the blocks of threads
 * 0..2, each pair has 2 orders (2^3). The small sizes of each formula are asserted against the
 * brute-force counter in the tests.
 */
const DPOR_PROGRAMS: ReadonlyArray<[string, Program, number]> = [
  ['independent-20', independent(20), 1],
  ['writers-7', writers(7), 5040],
  ['readers-16', readers(16), 2 ** 16],
  ['lastzero-12', lastzero(12), (12 + 3) * 2 ** (12 - 2)],
  ['indexer-15', indexer(15), 2 ** 12],
  ['filesystem-16', filesystem(16), 2 ** 3],
];

function median3(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[1]!;
}

export const benchmarks: Bench[] = [
  {
    name: 'checker.dpor.',
    run: (): BenchResult[] => {
      const out: BenchResult[] = [];
      for (const [name, prog, traces] of DPOR_PROGRAMS) {
        const def = toModel(prog);
        for (const strategy of ['optimal-dpor', 'source-dpor'] as const) {
          const times: number[] = [];
          let executions = 0;
          let pruned = 0;
          for (let i = 0; i < 3; i++) {
            const r = check(def, 'mainline', { strategy, timeMs: 60_000 });
            times.push(r.searchMs);
            executions = r.executions;
            pruned = r.pruned;
            if (r.verdict !== 'pass') throw new Error(`${name}: ${strategy} verdict ${r.verdict}`);
          }
          const src = strategy === 'source-dpor';
          out.push({
            name: `checker.dpor.${name}.${src ? 'sourceRatio' : 'ratio'}`,
            unit: 'executions/trace',
            value: (executions + pruned) / traces,
            params: { strategy, executions, pruned, traces },
          });
          out.push({
            name: `checker.dpor.${name}.${src ? 'sourceMs' : 'ms'}`,
            unit: 'ms',
            value: Math.round(median3(times)),
            params: { strategy, min: Math.round(Math.min(...times)), max: Math.round(Math.max(...times)) },
          });
        }
      }
      return out;
    },
  },
  {
    name: 'checker.trivial.execsPerSec',
    run: (): BenchResult[] => [
      {
        name: 'checker.trivial.execsPerSec',
        unit: 'executions/s',
        value: Math.round(execsPerSec(trivial, 'mainline', 200_000, false)),
        params: {
          tasks: 2,
          stepsPerTask: 2,
          strategy: 'dfs',
          reduction: false,
          iterativeBounding: false,
          minExecutions: 200_000,
        },
      },
    ],
  },
  {
    name: 'checker.dfs.counter-locked',
    run: (): BenchResult[] => {
      const def = makeCounter(3);
      const out: BenchResult[] = [];
      for (const reduction of [true, false]) {
        const r = check(def, 'locked', { reduction });
        out.push({
          name: `checker.dfs.counter-locked.executions${reduction ? '' : '.noReduction'}`,
          unit: 'executions',
          value: r.executions,
          params: { tasks: 3, reduction, pruned: r.pruned, verdict: r.verdict },
        });
      }
      return out;
    },
  },
  {
    name: 'checker.',
    run: (): BenchResult[] => {
      const out: BenchResult[] = [];
      for (const def of MODELS) {
        for (const v of def.variants) {
          if (v.expected.verdict === 'fail') {
            let best = Number.POSITIVE_INFINITY;
            for (let i = 0; i < 3; i++) {
              const r = check(def, v.name, { timeMs: 10_000, shrink: false });
              // Time to the failing execution: search only (not the traced re-run).
              if (r.verdict === 'fail') best = Math.min(best, r.searchMs);
            }
            out.push({
              name: `checker.${def.name}.${v.name}.msToCounterexample`,
              unit: 'ms',
              value: Number.isFinite(best) ? best : -1,
              params: { strategy: 'dfs', found: Number.isFinite(best) },
            });
          }
        }
        if (def.variants.some((v) => v.name === 'mainline')) {
          for (const reduction of [true, false]) {
            const r = check(def, 'mainline', { reduction, timeMs: 10_000, shrink: false });
            out.push({
              name: `checker.${def.name}.mainline.executions${reduction ? '' : '.noReduction'}`,
              unit: 'executions',
              value: r.executions,
              params: { reduction, verdict: r.verdict, pruned: r.pruned },
            });
            if (reduction) {
              out.push({
                name: `checker.${def.name}.mainline.execsPerSec`,
                unit: 'executions/s',
                value: Math.round((r.executions + r.pruned + (r.repeated ?? 0)) / (r.searchMs / 1000)),
                params: { reduction, verdict: r.verdict },
              });
            }
          }
        }
      }
      return out;
    },
  },
];
