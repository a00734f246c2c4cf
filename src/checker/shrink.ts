/**
 * Counterexample shrinking: look for a schedule that fails with the SAME property in no more steps
 * and with fewer preemptions (then fewer steps, then a shorter schedule string).
 *
 * Candidates, each re-run without tracing (a schedule that runs out is completed
 * non-preemptively, so a shorter schedule means fewer context switches):
 *  1. prefixes of the choice list, shortest first;
 *  2. per choice point: repeat the previous choice instead (removes a switch) or drop it; then
 *     drop a whole run of equal choices; then run another task at one choice point.
 * Effort is bounded by `maxRuns` re-executions and `maxMs`.
 */
import { Executor } from './engine.ts';
import type { ModelDef } from './model.ts';
import { encodeSchedule } from './schedule.ts';
import { EXEC_VIOLATION } from './scheduler.ts';
import { runSchedule } from './trace-run.ts';

export interface ShrinkOptions {
  readonly maxSteps: number;
  /** Re-run candidates under the footprint audit (a `footprint-audit` failure needs it). */
  readonly audit?: boolean;
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
    const r = runSchedule(def, variant, choices, {
      trace: false,
      maxSteps: opts.maxSteps,
      exec,
      audit: opts.audit ?? false,
    });
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
  // 2. Local edits until a fixpoint (or the budget ends): cheap edits first, then wider ones.
  let improved = true;
  while (improved && budgetLeft()) {
    improved = false;
    // 2a. Per choice: continue the previous task instead (removes a switch), or drop it.
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
    if (improved) continue;
    // 2b. Drop a whole run of equal choices (up to two switches at once).
    for (let i = 0; i < best.choices.length && budgetLeft(); ) {
      const c = best.choices;
      let j = i + 1;
      while (j < c.length && c[j] === c[i]) j++;
      if (j - i > 1 && attempt(c.slice(0, i).concat(c.slice(j)))) improved = true;
      else i = j;
    }
    if (improved) continue;
    // 2c. Run a different task at one choice point.
    let maxTask = 0;
    for (const t of best.choices) maxTask = Math.max(maxTask, t);
    for (let i = 0; i < best.choices.length && budgetLeft(); i++) {
      const c = best.choices;
      for (let t = 0; t <= maxTask && budgetLeft(); t++) {
        if (t === c[i] || (i > 0 && t === c[i - 1])) continue;
        const other = c.slice();
        other[i] = t;
        if (attempt(other)) {
          improved = true;
          break;
        }
      }
    }
  }
  return { choices: best.choices, steps: best.steps, preemptions: best.preemptions, runs };
}
