/**
 * Replay of a recorded access trace, JSON lines (version 1):
 *
 *   {"version":1}
 *   {"op":"store","cpu":0,"page":12,"offset":0,"value":7}
 *   {"op":"load","cpu":1,"page":12,"offset":8}
 *   {"op":"sync"}
 *
 * The first non-blank line is the version header; blank lines are skipped. Fields are exact:
 * an unknown or missing field, a wrong type or an out-of-range number is a `TraceError` whose
 * one-line message names the source, the line number and the field. Reading streams (lines of at
 * most MAX_TRACE_LINE characters, from regular files only) into the same reusable OpBatch as the
 * generators.
 */
import { createReadStream } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { WorkloadInputError } from './errors.ts';
import { checkRegularFile } from './files.ts';
import {
  MAX_CPUS,
  OP_LOAD,
  OP_STORE,
  OP_SYNC,
  type OpBatch,
  type OpGenerator,
  PAGE_SIZE,
} from './generators.ts';

export const TRACE_VERSION = 1;

export class TraceError extends WorkloadInputError {
  override name = 'TraceError';
  readonly line: number;
  readonly field: string | undefined;
  constructor(source: string, line: number, field: string | undefined, msg: string) {
    super(`${source}:${line}: ${field === undefined ? '' : `field "${field}": `}${msg}`);
    this.line = line;
    this.field = field;
  }
}

/** Bounds a trace must respect (e.g. the scenario's page count and CPU count). */
export interface TraceLimits {
  pages?: number;
  cpus?: number;
}

const FIELDS: ReadonlyMap<string, readonly string[]> = new Map([
  ['store', ['op', 'cpu', 'page', 'offset', 'value']],
  ['load', ['op', 'cpu', 'page', 'offset']],
  ['sync', ['op']],
]);
const KIND: ReadonlyMap<string, number> = new Map([
  ['store', OP_STORE],
  ['load', OP_LOAD],
  ['sync', OP_SYNC],
]);

/**
 * Longest trace line accepted, in UTF-16 code units: a real line is under 100; the cap keeps a
 * file without newlines (or one huge nested value) from filling memory or the parser's stack.
 */
export const MAX_TRACE_LINE = 4096;

function show(v: unknown): string {
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    s = undefined;
  }
  if (s === undefined) s = typeof v === 'object' && v !== null ? '(a nested value)' : String(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** Parses one trace line into `batch` at index `at`. */
export function parseTraceLine(
  text: string,
  lineNo: number,
  source: string,
  limits: TraceLimits,
  batch: OpBatch,
  at: number,
): void {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new TraceError(source, lineNo, undefined, 'not valid JSON');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o))
    throw new TraceError(source, lineNo, undefined, `expected a JSON object, got ${show(o)}`);
  const rec = o as Record<string, unknown>;
  const op = rec.op;
  if (op === undefined) throw new TraceError(source, lineNo, 'op', 'missing');
  const fields = typeof op === 'string' ? FIELDS.get(op) : undefined;
  if (typeof op !== 'string' || fields === undefined)
    throw new TraceError(source, lineNo, 'op', `expected "store", "load" or "sync", got ${show(op)}`);
  for (const k of Object.keys(rec))
    if (!fields.includes(k)) throw new TraceError(source, lineNo, k, `unknown field for a ${op}`);
  const int = (name: string, hi: number): number => {
    const v = rec[name];
    if (v === undefined) throw new TraceError(source, lineNo, name, 'missing');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > hi)
      throw new TraceError(source, lineNo, name, `expected an integer in [0, ${hi}], got ${show(v)}`);
    return v;
  };
  batch.kind[at] = KIND.get(op)!;
  if (op === 'sync') {
    batch.cpu[at] = 0;
    batch.page[at] = 0;
    batch.offset[at] = 0;
    batch.value[at] = 0;
    return;
  }
  batch.cpu[at] = int('cpu', (limits.cpus ?? MAX_CPUS) - 1);
  batch.page[at] = int('page', (limits.pages ?? 0x100000000) - 1);
  batch.offset[at] = int('offset', PAGE_SIZE - 1);
  batch.value[at] = op === 'store' ? int('value', 0xffffffff) : 0;
}

function checkHeader(text: string, source: string, lineNo: number): void {
  let o: unknown;
  try {
    o = JSON.parse(text);
  } catch {
    throw new TraceError(source, lineNo, undefined, 'not valid JSON (expected the header {"version":1})');
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o) || !('version' in o))
    throw new TraceError(source, lineNo, 'version', 'missing: the first line must be {"version":1}');
  const v = (o as { version: unknown }).version;
  if (v !== TRACE_VERSION)
    throw new TraceError(
      source,
      lineNo,
      'version',
      `unsupported trace version ${show(v)} (expected ${TRACE_VERSION})`,
    );
}

/**
 * Streams a trace: yields `batch` each time it is full and once more with the rest. The same
 * batch object is refilled, so consume it before asking for the next one.
 * `input` is a path or a readable stream; `source` names it in errors.
 */
export async function* readTrace(
  input: string | Readable,
  batch: OpBatch,
  limits: TraceLimits = {},
  source: string = typeof input === 'string' ? input : 'trace',
): AsyncGenerator<OpBatch, void, void> {
  if (typeof input === 'string') {
    try {
      checkRegularFile(input, 'trace');
    } catch (e) {
      throw new TraceError(source, 0, undefined, (e as Error).message.replace(/^trace [^:]*: /, ''));
    }
  }
  const stream = typeof input === 'string' ? createReadStream(input, 'utf8') : input;
  const opened = new Promise<void>((resolve, reject) => {
    if (typeof input !== 'string') return resolve();
    stream.once('open', () => resolve());
    stream.once('error', (e: NodeJS.ErrnoException) =>
      reject(new TraceError(source, 0, undefined, `cannot read (${e.code ?? e.message})`)),
    );
  });
  await opened;
  let lineNo = 0;
  let sawHeader = false;
  let len = 0;
  let rest = '';
  const tooLong = () =>
    new TraceError(source, lineNo + 1, undefined, `line longer than ${MAX_TRACE_LINE} characters`);
  const decoder = new StringDecoder('utf8');
  try {
    for await (const chunk of stream as AsyncIterable<string | Buffer>) {
      const text = rest + (typeof chunk === 'string' ? chunk : decoder.write(chunk));
      let from = 0;
      for (let nl = text.indexOf('\n', from); nl >= 0; nl = text.indexOf('\n', from)) {
        let line = text.slice(from, nl);
        from = nl + 1;
        if (line.length > MAX_TRACE_LINE) throw tooLong();
        if (line.endsWith('\r')) line = line.slice(0, -1);
        lineNo++;
        if (line.trim() === '') continue;
        if (!sawHeader) {
          checkHeader(line, source, lineNo);
          sawHeader = true;
          continue;
        }
        parseTraceLine(line, lineNo, source, limits, batch, len++);
        if (len === batch.capacity) {
          batch.length = len;
          len = 0;
          yield batch;
        }
      }
      rest = text.slice(from);
      if (rest.length > MAX_TRACE_LINE) throw tooLong();
    }
    if (rest.endsWith('\r')) rest = rest.slice(0, -1);
    if (rest.trim() !== '') {
      lineNo++;
      if (!sawHeader) {
        checkHeader(rest, source, lineNo);
        sawHeader = true;
      } else {
        parseTraceLine(rest, lineNo, source, limits, batch, len++);
      }
    } else if (rest !== '') lineNo++;
  } finally {
    if (typeof input === 'string') stream.destroy();
  }
  if (!sawHeader)
    throw new TraceError(source, Math.max(1, lineNo), 'version', 'empty trace: no {"version":1} header');
  if (len > 0) {
    batch.length = len;
    yield batch;
  }
}

/** The JSON line of op `i` of `batch` (no newline). */
export function formatTraceOp(batch: OpBatch, i: number): string {
  const k = batch.kind[i];
  if (k === OP_SYNC) return '{"op":"sync"}';
  const head = `"cpu":${batch.cpu[i]},"page":${batch.page[i]},"offset":${batch.offset[i]}`;
  if (k === OP_LOAD) return `{"op":"load",${head}}`;
  return `{"op":"store",${head},"value":${batch.value[i]}}`;
}

/** The header line. */
export function traceHeader(): string {
  return `{"version":${TRACE_VERSION}}`;
}

/** Records everything `gen` produces as a trace on `out` (waits for drain between batches). */
export async function recordTrace(gen: OpGenerator, batch: OpBatch, out: Writable): Promise<number> {
  const write = (s: string) =>
    out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r()));
  await write(`${traceHeader()}\n`);
  let ops = 0;
  for (let n = gen.next(batch); n > 0; n = gen.next(batch)) {
    const lines: string[] = new Array(n);
    for (let i = 0; i < n; i++) lines[i] = formatTraceOp(batch, i);
    await write(`${lines.join('\n')}\n`);
    ops += n;
  }
  return ops;
}
