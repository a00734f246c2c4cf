/**
 * Checker benchmarks.
 * - checker.trivial.execsPerSec: 2 tasks x 2 steps, no shared state, dfs without reduction (6
 *   executions per check), repeated until >= 200,000 executions. Goal >= 100,000/s.
 * - checker.dfs.<toy>.executions[.noReduction]: executions dfs needs for a toy, with and without
 *   sleep sets.
 * - checker.<model>.<variant>.msToCounterexample for every catalogue pair expected to fail, and
 *   checker.<model>.mainline.execsPerSec / .executions[.noReduction] (filled as models arrive).
 */
import { check } from '../src/checker/check.ts';
import type { ModelDef } from '../src/checker/model.ts';
import { MODELS } from '../src/models/catalogue.ts';
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

export const benchmarks: Bench[] = [
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
