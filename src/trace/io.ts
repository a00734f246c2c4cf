/**
 * Reading, validating and writing trace documents (schema.ts). Validation uses zod; every error is
 * one line naming the source, the JSON path and the problem, e.g.
 * `run.json: events.3.kind: Invalid discriminator value. Expected 'store' | ...`.
 *
 * `parseTrace` / `serializeTrace` are pure (usable in the browser); the file helpers load node:fs
 * lazily so importing this module never pulls Node built-ins into a web bundle.
 */
import { z } from 'zod';
import { TRACE_VERSION, type Trace, type TraceEventKind } from './schema.ts';

/** A trace that cannot be read or does not match the schema; one-line message. */
export class TraceFormatError extends Error {}

const int = z.number().int();
const base = { seq: int.nonnegative(), step: int.nonnegative(), task: z.string(), cpu: int, fn: z.string() };

const eventSchema = z.discriminatedUnion('kind', [
  z.object({
    ...base,
    kind: z.literal('store'),
    mm: int,
    addr: z.number(),
    pfn: z.number(),
    value: z.number(),
    wseq: int,
    via: z.enum(['tlb-hit', 'dirty-rewalk', 'walk']),
  }),
  z.object({
    ...base,
    kind: z.literal('load'),
    mm: int,
    addr: z.number(),
    pfn: z.number(),
    value: z.number(),
  }),
  z.object({
    ...base,
    kind: z.literal('fault'),
    mm: int,
    addr: z.number(),
    write: z.boolean(),
    reason: z.enum(['not-present', 'protection']),
    outcome: z.string().optional(),
  }),
  z.object({
    ...base,
    kind: z.literal('pte'),
    mm: int,
    addr: z.number(),
    level: int.min(0).max(4),
    oldLo: z.number(),
    oldHi: z.number(),
    newLo: z.number(),
    newHi: z.number(),
    by: z.enum(['hw', 'kernel']),
  }),
  z.object({
    ...base,
    kind: z.literal('tlbFill'),
    unit: z.string(),
    mm: int,
    addr: z.number(),
    pfn: z.number(),
    writable: z.boolean(),
    dirty: z.boolean(),
  }),
  z.object({
    ...base,
    kind: z.literal('tlbFlush'),
    unit: z.string(),
    mm: int,
    scope: z.enum(['page', 'range', 'mm', 'all']),
    start: z.number(),
    end: z.number(),
    dropped: int.nonnegative(),
    ipi: z.boolean(),
  }),
  z.object({
    ...base,
    kind: z.enum(['notifierStart', 'notifierEnd']),
    mm: int,
    start: z.number(),
    end: z.number(),
    event: z.string(),
  }),
  z.object({
    ...base,
    kind: z.enum(['lockAcquire', 'lockRelease', 'lockBlock']),
    lock: z.string(),
    mode: z.enum(['read', 'write', 'exclusive']),
  }),
  z.object({
    ...base,
    kind: z.enum(['bitmapSet', 'bitmapClear']),
    owner: z.string(),
    index: int,
    start: int,
    end: int,
  }),
  z.object({ ...base, kind: z.literal('consumerSync'), consumer: z.string(), pages: z.array(int) }),
  z.object({
    ...base,
    kind: z.enum(['call', 'return']),
    args: z.record(z.string(), z.union([z.number(), z.string(), z.boolean()])).optional(),
    ret: z.union([z.number(), z.string()]).optional(),
  }),
  z.object({ ...base, kind: z.enum(['note', 'warn']), text: z.string() }),
  z.object({
    ...base,
    kind: z.literal('violation'),
    property: z.string(),
    message: z.string(),
    pages: z.array(z.number()).optional(),
  }),
]);

// Compile-time guard: the validated event kinds are exactly schema.ts's kinds (a kind added
// there without a zod schema here fails `tsc`).
type ValidatedKind = z.infer<typeof eventSchema>['kind'];
const kindsMatch: [ValidatedKind] extends [TraceEventKind]
  ? [TraceEventKind] extends [ValidatedKind]
    ? true
    : never
  : never = true;
void kindsMatch;

const setupSchema = z.object({
  cpus: int.nonnegative(),
  mms: z.record(z.string(), z.string()),
  devices: z.array(z.string()),
  vmas: z.array(
    z.object({ mm: int, start: z.number(), end: z.number(), pgoff: z.number(), flags: z.array(z.string()) }),
  ),
  pageSize: int.positive(),
});

export const traceSchema = z
  .object({
    version: z.literal(TRACE_VERSION),
    model: z.string(),
    variant: z.string(),
    schedule: z.string(),
    seed: z.number().optional(),
    setup: setupSchema,
    events: z.array(eventSchema),
    verdict: z.enum(['pass', 'fail']).optional(),
    property: z.string().optional(),
  })
  .superRefine((t, ctx) => {
    for (let i = 0; i < t.events.length; i++) {
      if (t.events[i]!.seq !== i) {
        ctx.addIssue({
          code: 'custom',
          path: ['events', i, 'seq'],
          message: `seq must be ${i} (0-based position)`,
        });
        return;
      }
    }
  });

/** Validate an already-parsed value as a trace; `source` names it in errors. */
export function validateTrace(value: unknown, source = 'trace'): Trace {
  if (typeof value === 'object' && value !== null && 'version' in value && value.version !== TRACE_VERSION) {
    throw new TraceFormatError(
      `${source}: version: unsupported trace version ${JSON.stringify(value.version)} (this build reads ${TRACE_VERSION})`,
    );
  }
  const r = traceSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const path = issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.');
    throw new TraceFormatError(`${source}: ${path}: ${issue.message.replace(/\s+/g, ' ')}`);
  }
  // The input itself (not zod's copy): fields the schema does not know are kept, order preserved.
  return value as Trace;
}

/** Parse and validate trace JSON text. */
export function parseTrace(text: string, source = 'trace'): Trace {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new TraceFormatError(`${source}: not JSON: ${(e as Error).message.replace(/\s+/g, ' ')}`);
  }
  return validateTrace(value, source);
}

/**
 * Canonical text of a trace: top-level fields one per line, one event per line (diffable), a
 * trailing newline. Same trace object -> same bytes.
 */
export function serializeTrace(trace: Trace): string {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(trace)) {
    if (v === undefined) continue;
    if (k === 'events') {
      const evs = (v as unknown[]).map((e) => `    ${JSON.stringify(e)}`);
      parts.push(evs.length === 0 ? '  "events": []' : `  "events": [\n${evs.join(',\n')}\n  ]`);
    } else {
      parts.push(`  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
    }
  }
  return `{\n${parts.join(',\n')}\n}\n`;
}

/** Read and validate a trace file. */
export async function readTraceFile(path: string): Promise<Trace> {
  const { readFile } = await import('node:fs/promises');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new TraceFormatError(
      `${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return parseTrace(text, path);
}

let tmpCounter = 0;

/**
 * Write a trace atomically: the text goes to a temporary file next to `path`, which is then
 * renamed over it, so readers see the old file or the whole new one, never half of it.
 */
export async function writeTraceFileAtomic(path: string, trace: Trace): Promise<void> {
  const { writeFile, rename, unlink } = await import('node:fs/promises');
  const tmp = `${path}.tmp-${process.pid}-${tmpCounter++}`;
  try {
    await writeFile(tmp, serializeTrace(trace), { encoding: 'utf8', flag: 'wx' });
    await rename(tmp, path);
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw new TraceFormatError(
      `${path}: cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}
