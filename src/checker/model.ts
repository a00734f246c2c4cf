import type { TraceSetup } from '../trace/schema.ts';
import type { TraceContext, TraceSink } from '../trace/sink.ts';
import type { FootprintAudit } from './audit.ts';
import type { TaskBody } from './task.ts';

/**
 * What the checker needs from a checkable model. The checker imports nothing from hw/mm/drivers:
 * models (src/models) wire those layers into this shape.
 */
export interface ModelTask {
  /** Unique within the instance ("writer0", "wp1", "gpu"). */
  readonly name: string;
  /** CPU the task runs on (-1 for a device or a pure kernel thread without a CPU). */
  readonly cpu: number;
  readonly body: TaskBody;
  /** Trace context of this task; the checker sets `trace.ctx` to it before resuming the task. */
  readonly ctx: TraceContext;
  /**
   * Optional footprint (see `access` in task.ts) of the task's FIRST step, i.e. of the code that
   * runs before its first yield. Absent: unknown (conflicts with everything for partial-order
   * reduction). Later steps take their footprint from what the task yields.
   */
  readonly footprint?: number;
}

export interface Violation {
  /** Property id (spec 11.1 / DESIGN.md), e.g. "no-lost-write", "wp-complete", "flush-pairing". */
  readonly property: string;
  /** One sentence a reviewer can read. */
  readonly message: string;
  readonly pages?: number[];
}

/** One fresh, independent execution of a model. */
export interface ModelInstance {
  readonly tasks: readonly ModelTask[];
  /** Checked after every step (cheap invariants); null if fine. */
  checkStep?(): Violation | null;
  /** Checked once all tasks finished; null if fine. */
  checkFinal(): Violation | null;
  /** Present iff the instance was created with `trace: true`. */
  readonly trace: TraceSink | null;
  /** A hash of the shared state, for counting distinct states (optional). */
  hashState?(): string;
  /** Static machine description for traces (optional; the checker fills a minimal one if absent). */
  readonly setup?: TraceSetup;
}

export interface VariantDef {
  readonly name: string;
  /** What the variant changes and which review comment / commit it comes from. */
  readonly description: string;
  /** The verdict the catalogue expects (tested). */
  readonly expected: { verdict: 'pass' | 'fail'; property?: string };
}

export interface ModelDef {
  readonly name: string;
  readonly description: string;
  readonly variants: readonly VariantDef[];
  /**
   * Options `dirtyscope check` uses when the user gives none: a preemption bound for dfs on
   * models whose full state space is too large to enumerate in seconds (the verdict then says
   * "every schedule with at most K preemptions").
   */
  readonly checkDefaults?: { readonly preemptionBound?: number };
  create(variant: string, opts: CreateOptions): ModelInstance;
}

export interface CreateOptions {
  readonly trace: boolean;
  /**
   * Present in footprint-audit runs (`check(..., { audit: true })`): the model registers its shared
   * objects with it (see audit.ts) so the checker can compare what each step touches with what the
   * step declared. Models that ignore it are simply not audited.
   */
  readonly audit?: FootprintAudit;
}
