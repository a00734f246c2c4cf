/**
 * `dirtyscope/trace`: the versioned, JSON-serialisable trace format (what `check --trace`,
 * `replay --trace` and `run --trace` write and what the visualizer reads), with its validating
 * reader and atomic writer. Data only: no model code is loaded by this entry point's types.
 *
 * @module
 */

export {
  parseTrace,
  readTraceFile,
  serializeTrace,
  TraceFormatError,
  validateTrace,
  writeTraceFileAtomic,
} from '../trace/io.ts';
export type {
  ConsumerSyncEvent,
  FaultEvent,
  PteEvent,
  StoreEvent,
  TlbFlushEvent,
  Trace,
  TraceEvent,
  TraceEventKind,
  TraceSetup,
  ViolationEvent,
} from '../trace/schema.ts';
export { TRACE_VERSION } from '../trace/schema.ts';
export { type EventInput, type TraceContext, TraceSink } from '../trace/sink.ts';
