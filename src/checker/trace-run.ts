/** Runs one schedule, optionally traced, and builds the trace document (shared by check, replay, shrink). */
import { TRACE_VERSION, type Trace, type TraceSetup } from '../trace/schema.ts';
import { TraceSink } from '../trace/sink.ts';
import { FootprintAudit } from './audit.ts';
import { Executor } from './engine.ts';
import type { ModelDef, ModelInstance } from './model.ts';
import { ReplayScheduler } from './replay.ts';
import { encodeSchedule } from './schedule.ts';
import { EXEC_ABANDONED, EXEC_VIOLATION, type ExecStatus } from './scheduler.ts';

export interface ScheduleRun {
  status: ExecStatus;
  /** Choices actually made (the input, completed or cut to what the execution needed). */
  choices: number[];
  steps: number;
  preemptions: number;
  property?: string;
  message?: string;
  /** Replay mismatch (a choice named a task that was not enabled). */
  error: string | null;
  /** Schedule entries left unused when the execution ended. */
  unused: number;
  trace: Trace | null;
}

export function runSchedule(
  def: ModelDef,
  variant: string,
  choices: ArrayLike<number>,
  opts: { trace: boolean; maxSteps: number; exec?: Executor; audit?: boolean },
): ScheduleRun {
  const exec = opts.exec ?? new Executor();
  const sched = new ReplayScheduler(choices);
  const audit = opts.audit === true ? new FootprintAudit() : null;
  const inst = def.create(variant, audit === null ? { trace: opts.trace } : { trace: opts.trace, audit });
  exec.audit = audit;
  const status = exec.run(inst, sched, opts.maxSteps, null);
  exec.audit = null;
  sched.end(status);
  const out: ScheduleRun = {
    status,
    choices: exec.choices(),
    steps: exec.steps,
    preemptions: exec.preemptions,
    error: status === EXEC_ABANDONED ? (sched.error ?? 'abandoned') : null,
    unused: choices.length - sched.used,
    trace: null,
  };
  if (status === EXEC_VIOLATION) {
    out.property = exec.violation!.property;
    out.message = exec.violation!.message;
  }
  if (opts.trace && status !== EXEC_ABANDONED) out.trace = buildTrace(def.name, variant, inst, exec);
  return out;
}

function buildTrace(model: string, variant: string, inst: ModelInstance, exec: Executor): Trace {
  const sink = inst.trace ?? new TraceSink();
  const v = exec.violation;
  const last = sink.events.at(-1);
  // A model may record the violation itself; then it is not appended a second time.
  const recorded = last !== undefined && last.kind === 'violation' && last.property === v?.property;
  if (v !== null && !recorded) {
    if (exec.violationTask >= 0) {
      sink.ctx = inst.tasks[exec.violationTask]!.ctx;
      sink.step = exec.steps - 1;
    } else {
      sink.ctx = {
        task: 'checker',
        cpu: -1,
        fn: v.property === 'deadlock' || v.property === 'livelock' ? 'scheduler' : 'checkFinal',
      };
      sink.step = exec.steps;
    }
    sink.emit(
      v.pages === undefined
        ? { kind: 'violation', property: v.property, message: v.message }
        : { kind: 'violation', property: v.property, message: v.message, pages: [...v.pages] },
    );
  }
  const trace: Trace = {
    version: TRACE_VERSION,
    model,
    variant,
    schedule: encodeSchedule(exec.choices()),
    setup: inst.setup ?? defaultSetup(inst),
    events: sink.events,
    verdict: v === null ? 'pass' : 'fail',
  };
  if (v !== null) trace.property = v.property;
  return trace;
}

function defaultSetup(inst: ModelInstance): TraceSetup {
  let cpus = 0;
  for (const t of inst.tasks) cpus = Math.max(cpus, t.cpu + 1);
  return { cpus, mms: {}, devices: [], vmas: [], pageSize: 4096 };
}
