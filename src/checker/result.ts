/** Plain-data results of the checker (formatted only by src/cli/format/check.ts). */
import type { Trace } from '../trace/schema.ts';

export type Strategy = 'dfs' | 'source-dpor' | 'optimal-dpor' | 'random' | 'pct';
export const STRATEGIES: readonly Strategy[] = ['dfs', 'source-dpor', 'optimal-dpor', 'random', 'pct'];
/** Strategies that explore exhaustively: a finished search is a `pass`. */
export const EXHAUSTIVE: readonly Strategy[] = ['dfs', 'source-dpor', 'optimal-dpor'];

export interface Counterexample {
  /** Schedule string (schedule.ts) that reproduces the failure with `replay`. */
  schedule: string;
  /** Steps of the failing execution. */
  steps: number;
  /** Preemptions (switches away from a still-enabled task) in it. */
  preemptions: number;
  /** Before shrinking: the failure as first found, and how many runs shrinking took. */
  shrunkFrom: { schedule: string; steps: number; preemptions: number; runs: number };
  /** The failing execution re-run with tracing, ending in a `violation` event. */
  trace: Trace;
}

export interface CheckResult {
  /**
   * pass: dfs (or a DPOR strategy: every Mazurkiewicz trace) explored every schedule (within `preemptionBound` if present) and no property failed;
   * fail: a property failed (see counterexample); incomplete: a budget ran out first (random and
   * pct always end this way when they find nothing).
   */
  verdict: 'pass' | 'fail' | 'incomplete';
  model: string;
  variant: string;
  strategy: Strategy;
  property?: string;
  message?: string;
  /** Executions run to the end (or to a failure). */
  executions: number;
  /** Executions abandoned as redundant by the partial-order reduction. */
  pruned: number;
  /** Distinct `hashState()` values seen after steps (only if the model hashes its state). */
  distinctStates?: number;
  elapsedMs: number;
  /** Part of `elapsedMs` spent exploring (before shrinking and tracing a counterexample). */
  searchMs: number;
  /** Step bound per execution that was used (replay a livelock with the same bound). */
  maxSteps: number;
  /** Why the verdict is incomplete. */
  reason?: string;
  seed?: number;
  /** dfs: the bound, present only when it limited the search (pass = all schedules within it). */
  preemptionBound?: number;
  /** dfs, incomplete: every schedule with at most this many preemptions was explored. */
  completedPreemptionBound?: number;
  reduction?: boolean;
  iterativeBounding?: boolean;
  /** dfs with iterative bounding: executions re-run at a higher level (not in `executions`). */
  repeated?: number;
  pctDepth?: number;
  /** source-dpor / optimal-dpor: races reversed, and reversals dropped as impossible (dpor.ts). */
  dpor?: { races: number; infeasible: number };
  /** Footprint audit run: steps audited, accesses recorded, steps that declared more than used. */
  audit?: { steps: number; accesses: number; overDeclared: number };
  counterexample?: Counterexample;
}

export interface ReplayResult {
  verdict: 'pass' | 'fail';
  model: string;
  variant: string;
  /** The full schedule of the execution (the input, completed if it was a prefix). */
  schedule: string;
  steps: number;
  preemptions: number;
  property?: string;
  message?: string;
  /** Present when requested. */
  trace?: Trace;
}

export interface Progress {
  executions: number;
  pruned: number;
  elapsedMs: number;
}
