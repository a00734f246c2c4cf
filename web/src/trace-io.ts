/**
 * Reading traces from untrusted JSON (files, URLs, share links): checks the envelope and every
 * event's common fields, so the views can rely on the schema. One error message per problem.
 */
import { TRACE_VERSION, type Trace, type TraceEvent } from '../../src/trace/schema.ts';
import { type RunReport, validateRunReport } from './report.ts';

const KINDS: ReadonlySet<string> = new Set<TraceEvent['kind']>([
  'store',
  'load',
  'fault',
  'pte',
  'tlbFill',
  'tlbFlush',
  'notifierStart',
  'notifierEnd',
  'lockAcquire',
  'lockRelease',
  'lockBlock',
  'bitmapSet',
  'bitmapClear',
  'consumerSync',
  'call',
  'return',
  'note',
  'warn',
  'violation',
]);

export class TraceFormatError extends Error {}

function isObj(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Validate an already-parsed value as a Trace; throws TraceFormatError naming the problem. */
export function validateTrace(x: unknown): Trace {
  if (!isObj(x)) throw new TraceFormatError('not a JSON object');
  if (x.version !== TRACE_VERSION)
    throw new TraceFormatError(
      `unsupported trace version ${JSON.stringify(x.version)} (expected ${TRACE_VERSION})`,
    );
  const setup = x.setup;
  if (!isObj(setup)) throw new TraceFormatError('missing "setup"');
  if (typeof setup.cpus !== 'number' || typeof setup.pageSize !== 'number' || setup.pageSize <= 0)
    throw new TraceFormatError('"setup" needs numeric "cpus" and "pageSize"');
  if (!Array.isArray(setup.devices)) setup.devices = [];
  if (!isObj(setup.mms)) setup.mms = {};
  if (!Array.isArray(setup.vmas)) setup.vmas = [];
  if (!Array.isArray(x.events)) throw new TraceFormatError('missing "events" array');
  const evs = x.events as unknown[];
  for (let i = 0; i < evs.length; i++) {
    const e = evs[i];
    if (!isObj(e) || typeof e.kind !== 'string' || !KINDS.has(e.kind))
      throw new TraceFormatError(`event ${i}: unknown or missing "kind"`);
    if (e.seq !== i) throw new TraceFormatError(`event ${i}: "seq" is ${String(e.seq)}, expected ${i}`);
    if (typeof e.step !== 'number' || typeof e.cpu !== 'number')
      throw new TraceFormatError(`event ${i}: "step" and "cpu" must be numbers`);
    if (typeof e.task !== 'string') e.task = '';
    if (typeof e.fn !== 'string') e.fn = '';
  }
  if (typeof x.model !== 'string') x.model = '';
  if (typeof x.variant !== 'string') x.variant = '';
  if (typeof x.schedule !== 'string') x.schedule = '';
  return x as unknown as Trace;
}

export type Loaded = { kind: 'trace'; trace: Trace } | { kind: 'report'; report: RunReport };

/** Classify and validate a parsed JSON document: a run report (`"kind": "run-report"`) or a trace. */
export function classifyDocument(x: unknown): Loaded {
  if (isObj(x) && x.kind === 'run-report') return { kind: 'report', report: validateRunReport(x) };
  return { kind: 'trace', trace: validateTrace(x) };
}

/** Parse a JSON text that is either a trace or a run report. */
export function parseDocument(text: string): Loaded {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (e) {
    throw new TraceFormatError(`not valid JSON (${(e as Error).message})`);
  }
  return classifyDocument(x);
}
