/**
 * Counterexample shrinking: look for a schedule that fails with the SAME property in no more steps
 * and with fewer preemptions (then fewer steps, then a shorter schedule string).
 *
 * Candidates, each re-run without tracing (a schedule that runs out is completed
 * non-preemptively, so a shorter schedule means fewer context switches):
 *  1. prefixes of the choice list, shortest first;
 *  2. per choice point: drop it, or repeat the previous choice instead (removes a switch).
 * Effort is bounded by `maxRuns` re-executions and `maxMs`.
 */
import { Executor } from './engine.ts';
import type { ModelDef } from './model.ts';
import { encodeSchedule } from './schedule.ts';
import { EXEC_VIOLATION } from './scheduler.ts';
import { runSchedule } from './trace-run.ts';

export interface ShrinkOptions {
  readonly maxSteps: number;
  /** Re-executions allowed (default 500). */
  readonly maxRuns?: number;
  /** Time allowed in ms (default 2000). */
  readonly maxMs?: number;
}

export interface Shrunk {
  choices: number[];
  steps: number;
  preemptions: number;
  runs: number;
}

interface Cand {
  choices: number[];
  steps: number;
  preemptions: number;
  len: number;
}

/** True if `a` is strictly better than `b` and not longer. */
export function better(a: Cand, b: Cand): boolean {
  if (a.steps > b.steps) return false;
  if (a.preemptions !== b.preemptions) return a.preemptions < b.preemptions;
  if (a.steps !== b.steps) return a.steps < b.steps;
  return a.len < b.len;
}

export function shrinkSchedule(
  def: ModelDef,
  variant: string,
  property: string,
  start: { choices: number[]; steps: number; preemptions: number },
  opts: ShrinkOptions,
): Shrunk {
  const maxRuns = opts.maxRuns ?? 500;
  const deadline = performance.now() + (opts.maxMs ?? 2000);
  const exec = new Executor();
  let runs = 0;
  let best: Cand = { ...start, len: encodeSchedule(start.choices).length };

  const attempt = (choices: number[]): boolean => {
    if (runs >= maxRuns || performance.now() > deadline) return false;
    runs++;
    const r = runSchedule(def, variant, choices, { trace: false, maxSteps: opts.maxSteps, exec });
    if (r.status !== EXEC_VIOLATION || r.property !== property) return false;
    const c: Cand = {
      choices: r.choices,
      steps: r.steps,
      preemptions: r.preemptions,
      len: encodeSchedule(r.choices).length,
    };
    if (!better(c, best)) return false;
    best = c;
    return true;
  };
  const budgetLeft = (): boolean => runs < maxRuns && performance.now() <= deadline;

  // 1. Shortest failing prefix.
  for (let k = 0; k < best.choices.length && budgetLeft(); k++) {
    if (attempt(best.choices.slice(0, k))) break;
  }
  // 2. Local edits until a fixpoint (or the budget ends).
  let improved = true;
  while (improved && budgetLeft()) {
    improved = false;
    for (let i = 0; i < best.choices.length && budgetLeft(); i++) {
      const c = best.choices;
      if (i > 0 && c[i] !== c[i - 1]) {
        const same = c.slice();
        same[i] = c[i - 1]!;
        if (attempt(same)) {
          improved = true;
          continue;
        }
      }
      if (attempt(c.slice(0, i).concat(c.slice(i + 1)))) improved = true;
    }
  }
  return { choices: best.choices, steps: best.steps, preemptions: best.preemptions, runs };
}
