import type { TraceEvent } from './schema.ts';

/** Distributive Omit so each event kind keeps its own fields. */
export type EventInput = TraceEvent extends infer E
  ? E extends TraceEvent
    ? Omit<E, 'seq' | 'step' | 'task' | 'cpu' | 'fn'>
    : never
  : never;

/**
 * Who is running: the scheduler glue points `TraceSink.ctx` at the running task's context on
 * every switch, and kernel code sets `fn` on entry to a traced function (restoring it on exit),
 * so interleaved tasks each keep their own "current function".
 */
export interface TraceContext {
  task: string;
  cpu: number;
  fn: string;
}

/**
 * Collects events. The model holds `TraceSink | null`; with null, tracing costs one comparison.
 */
export class TraceSink {
  readonly events: TraceEvent[] = [];
  step = 0;
  ctx: TraceContext = { task: 'init', cpu: -1, fn: '' };

  emit(e: EventInput): void {
    const c = this.ctx;
    const ev = { seq: this.events.length, step: this.step, task: c.task, cpu: c.cpu, fn: c.fn, ...e };
    this.events.push(ev as TraceEvent);
  }
}
