/**
 * Scenario files: what `dirtyscope run <scenario.json | builtin-name>` runs. A scenario names the
 * machine, the buffers (shared mappings) and how each is tracked, the workload that writes them,
 * the consumer that syncs them, and optional cost overrides. Validated with zod; the first problem
 * becomes a one-line `ScenarioError` naming the field path (`scenario.workload.stores: ...`).
 *
 * Page space: the workload addresses the buffers laid end to end in file order; `bufferBases`
 * maps a workload page back to (buffer, page inside it).
 */
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { costParamsSchema, firstIssue } from './cost-model.ts';
import { WorkloadInputError } from './errors.ts';
import { readInputFile } from './files.ts';
import {
  type BasicPatternParams,
  createGenerator,
  MAX_CPUS,
  type OpBatch,
  type OpGenerator,
  RectanglesSource,
  type WorkloadParams,
} from './generators.ts';
import { readTrace } from './trace-replay.ts';

export class ScenarioError extends WorkloadInputError {
  override name = 'ScenarioError';
}

export const SCENARIO_VERSION = 1;

const intIn = (lo: number, hi: number, what = `an integer in [${lo}, ${hi}]`) => {
  const error = `expected ${what}`;
  return z.number({ error }).int({ error }).min(lo, { error }).max(hi, { error });
};
const posInt = intIn(1, Number.MAX_SAFE_INTEGER, 'a positive integer');

/**
 * Most stores one scenario may ask for: about 20 minutes of `run --method all` on a 2-core
 * machine (about a million stores per second per method), far above any built-in (1M).
 */
export const MAX_STORES = 1_000_000_000;
/** Most TLB entries per CPU (a real second-level TLB has 1.5k-3k). */
export const MAX_TLB_ENTRIES = 65_536;
/** Longest simulated deferred-I/O delay: a day, in ms. */
export const MAX_DEFERRED_IO_DELAY_MS = 86_400_000;
const storeCount = intIn(1, MAX_STORES);
const nonNegInt = intIn(0, Number.MAX_SAFE_INTEGER, 'an integer >= 0');
const fraction = (lo: 'open' | 'closed') => {
  const error = lo === 'open' ? 'expected a number in (0, 1]' : 'expected a number in [0, 1]';
  const n = z.number({ error }).max(1, { error });
  return lo === 'open' ? n.gt(0, { error }) : n.min(0, { error });
};
const nonEmpty = z
  .string({ error: 'expected a non-empty string' })
  .min(1, { error: 'expected a non-empty string' });

const sparse = { pattern: z.literal('sparse'), pagesPerPhase: posInt, phaseStores: posInt.optional() };
const sequential = {
  pattern: z.literal('sequential'),
  start: nonNegInt.optional(),
  length: posInt.optional(),
  storesPerPage: intIn(1, 1024).optional(),
};
const hotset = {
  pattern: z.literal('hotset'),
  hotFraction: fraction('open'),
  hotProbability: fraction('closed'),
};
const zipf = {
  pattern: z.literal('zipf'),
  exponent: z
    .number({ error: 'expected a number in [0, 10]' })
    .min(0)
    .max(10, { error: 'expected a number in [0, 10]' }),
};
const rectangles = {
  pattern: z.literal('rectangles'),
  width: intIn(1, 65536),
  height: intIn(1, 65536),
  bpp: intIn(1, 16),
  rectWidth: posInt,
  rectHeight: posInt,
  lineLength: posInt.optional(),
  randomSize: z.boolean({ error: 'expected true or false' }).optional(),
};
const basicShapes = [sparse, sequential, hotset, zipf, rectangles] as const;

const stream = {
  stores: storeCount,
  syncEvery: nonNegInt,
  cpuMode: z.enum(['roundRobin', 'random']).optional(),
  finalSync: z.boolean({ error: 'expected true or false' }).optional(),
};

const phaseSchema = z.discriminatedUnion(
  'pattern',
  basicShapes.map((s) => z.strictObject({ ...s, stores: storeCount })) as unknown as [
    z.ZodObject<typeof sparse & { stores: typeof storeCount }, z.core.$strict>,
    z.ZodObject<typeof sequential & { stores: typeof storeCount }, z.core.$strict>,
    z.ZodObject<typeof hotset & { stores: typeof storeCount }, z.core.$strict>,
    z.ZodObject<typeof zipf & { stores: typeof storeCount }, z.core.$strict>,
    z.ZodObject<typeof rectangles & { stores: typeof storeCount }, z.core.$strict>,
  ],
);

const workloadSchema = z.discriminatedUnion('pattern', [
  z.strictObject({ ...sparse, ...stream }),
  z.strictObject({ ...sequential, ...stream }),
  z.strictObject({ ...hotset, ...stream }),
  z.strictObject({ ...zipf, ...stream }),
  z.strictObject({ ...rectangles, ...stream }),
  z.strictObject({ pattern: z.literal('phases'), phases: z.array(phaseSchema).min(1), ...stream }),
  /** Replay of a recorded JSON-lines trace; `file` is relative to the scenario file. */
  z.strictObject({ pattern: z.literal('trace'), file: nonEmpty }),
]);

export const scenarioSchema = z.strictObject({
  version: z.literal(SCENARIO_VERSION, { error: `expected ${SCENARIO_VERSION}` }),
  name: nonEmpty,
  description: z.string({ error: 'expected a string' }).optional(),
  seed: intIn(0, 0xffffffff),
  machine: z.strictObject({ cpus: intIn(1, MAX_CPUS), tlbEntries: intIn(1, MAX_TLB_ENTRIES).optional() }),
  buffers: z
    .array(
      z.strictObject({
        name: nonEmpty,
        pages: intIn(1, 1 << 26),
        /** auto: the driver's rule (small -> pagetable, large -> mkwrite) and its switching heuristic. */
        method: z.enum(['auto', 'mkwrite', 'pagetable']).optional(),
      }),
    )
    .min(1, { error: 'expected at least one buffer' }),
  workload: workloadSchema,
  consumer: z.enum(['gpu', 'display']),
  /** Simulated delay of the deferred-I/O work (display consumer), in ms. Default 1000. */
  deferredIoDelayMs: z
    .number({ error: `expected a number in [0, ${MAX_DEFERRED_IO_DELAY_MS}]` })
    .min(0, { error: `expected a number in [0, ${MAX_DEFERRED_IO_DELAY_MS}]` })
    .max(MAX_DEFERRED_IO_DELAY_MS, { error: `expected a number in [0, ${MAX_DEFERRED_IO_DELAY_MS}]` })
    .optional(),
  costs: costParamsSchema.optional(),
});

export type Scenario = z.infer<typeof scenarioSchema>;
export type ScenarioWorkload = Scenario['workload'];
export type BufferMethod = NonNullable<Scenario['buffers'][number]['method']>;

// the schema's generated workloads are exactly the generator's parameter shapes
type GeneratedWorkload = Exclude<ScenarioWorkload, { pattern: 'trace' }>;
const _shapeCheck = (w: GeneratedWorkload): WorkloadParams => w;
void _shapeCheck;

function fail(path: string, msg: string): never {
  throw new ScenarioError(`${path}: ${msg}`);
}

function checkPattern(p: BasicPatternParams, pages: number, path: string): void {
  switch (p.pattern) {
    case 'sparse':
      if (p.pagesPerPhase > pages)
        fail(`${path}.pagesPerPhase`, `expected at most ${pages} (the workload's pages)`);
      return;
    case 'sequential': {
      const start = p.start ?? 0;
      if (start >= pages) fail(`${path}.start`, `expected less than ${pages} (the workload's pages)`);
      if (p.length !== undefined && start + p.length > pages)
        fail(`${path}.length`, `expected at most ${pages - start} (pages after start)`);
      return;
    }
    case 'rectangles': {
      if (p.rectWidth > p.width) fail(`${path}.rectWidth`, `expected at most width (${p.width})`);
      if (p.rectHeight > p.height) fail(`${path}.rectHeight`, `expected at most height (${p.height})`);
      const line = p.lineLength ?? p.width * p.bpp;
      if (line < p.width * p.bpp)
        fail(`${path}.lineLength`, `expected at least width*bpp (${p.width * p.bpp})`);
      const need = RectanglesSource.pagesFor(p.width, p.height, p.bpp, line);
      if (need > pages)
        fail(
          path,
          `a ${p.width}x${p.height}x${p.bpp} framebuffer needs ${need} pages, buffers have ${pages}`,
        );
      return;
    }
    case 'hotset':
    case 'zipf':
      return;
  }
}

/** Cross-field rules zod cannot see: unique buffer names, patterns that fit the page space. */
function checkSemantics(s: Scenario, where: string): void {
  const seen = new Set<string>();
  s.buffers.forEach((b, i) => {
    if (seen.has(b.name)) fail(`${where}.buffers.${i}.name`, `duplicate buffer name "${b.name}"`);
    seen.add(b.name);
  });
  const pages = totalPages(s);
  if (pages > 0xffffffff) fail(`${where}.buffers`, 'expected at most 2^32-1 pages in total');
  const w = s.workload;
  if (w.pattern === 'trace') return;
  if (w.pattern === 'phases' && w.phases.reduce((a, p) => a + p.stores, 0) > MAX_STORES)
    fail(`${where}.workload.phases`, `expected at most ${MAX_STORES} stores over all phases`);
  if (w.pattern === 'phases')
    for (const [i, p] of w.phases.entries()) checkPattern(p, pages, `${where}.workload.phases.${i}`);
  else checkPattern(w, pages, `${where}.workload`);
}

function issueMessage(prefix: string, err: z.ZodError): string {
  const line = firstIssue(prefix, err);
  // zod's stock messages start with "Invalid input: " / a capital; keep ours uniform
  return line
    .replace(/: Invalid input: (expected .*), received undefined$/, ': missing ($1)')
    .replace(/: Invalid input: /, ': ')
    .replace(/: ([A-Z])(?=[a-z])/, (_m, c: string) => `: ${c.toLowerCase()}`);
}

/** Validates parsed JSON as a scenario; `where` prefixes field paths (default `scenario`). */
export function parseScenario(json: unknown, where = 'scenario'): Scenario {
  const r = scenarioSchema.safeParse(json);
  if (!r.success) throw new ScenarioError(issueMessage(where, r.error));
  checkSemantics(r.data, where);
  return r.data;
}

/** Parses scenario JSON text; a syntax error names the source. */
export function parseScenarioText(text: string, source = 'scenario'): Scenario {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(`${source}: not valid JSON (${(e as Error).message.split('\n')[0]})`);
  }
  return parseScenario(json, 'scenario');
}

// ---------------------------------------------------------------------------------------------
// Built-in scenarios

/**
 * coherent-gpu: vmwgfx-style emulated coherent memory. Three buffer objects (two small enough
 * for the page-table method, one large texture that starts in mkwrite mode), a hot-set workload
 * from two CPUs, and a GPU command submission every 10k stores.
 */
export const COHERENT_GPU: Scenario = {
  version: 1,
  name: 'coherent-gpu',
  description: 'vmwgfx-style coherent buffer objects written from 2 CPUs, GPU submission every 10k stores',
  seed: 1,
  machine: { cpus: 2, tlbEntries: 64 },
  buffers: [
    { name: 'vertices', pages: 64, method: 'auto' },
    { name: 'constants', pages: 8, method: 'auto' },
    { name: 'texture', pages: 2048, method: 'auto' },
  ],
  workload: {
    pattern: 'hotset',
    hotFraction: 0.05,
    hotProbability: 0.9,
    stores: 2_000_000,
    syncEvery: 10_000,
  },
  consumer: 'gpu',
};

/**
 * framebuffer: fbdev deferred I/O on a 1920x1080 32-bpp screen (2025 pages); random rectangles
 * up to 128x64 pixels are drawn; the display receives page lists from the delayed work.
 */
export const FRAMEBUFFER: Scenario = {
  version: 1,
  name: 'framebuffer',
  description: 'fbdev deferred I/O: random rectangles drawn into a 1920x1080x4 framebuffer',
  seed: 2,
  machine: { cpus: 2, tlbEntries: 64 },
  buffers: [{ name: 'fb', pages: RectanglesSource.pagesFor(1920, 1080, 4) }],
  workload: {
    pattern: 'rectangles',
    width: 1920,
    height: 1080,
    bpp: 4,
    rectWidth: 128,
    rectHeight: 64,
    randomSize: true,
    stores: 1_000_000,
    syncEvery: 100_000,
  },
  consumer: 'display',
  deferredIoDelayMs: 1000,
};

/** phase-change: sparse -> dense -> sparse on one 8192-page buffer, to exercise method switching. */
export const PHASE_CHANGE: Scenario = {
  version: 1,
  name: 'phase-change',
  description: 'sparse, then dense sequential sweeps, then sparse again, on one 32 MiB buffer object',
  seed: 3,
  machine: { cpus: 2, tlbEntries: 64 },
  buffers: [{ name: 'surface', pages: 8192, method: 'auto' }],
  workload: {
    pattern: 'phases',
    phases: [
      { pattern: 'sparse', pagesPerPhase: 16, stores: 200_000 },
      { pattern: 'sequential', stores: 8192 * 40 },
      { pattern: 'sparse', pagesPerPhase: 16, stores: 200_000 },
    ],
    stores: 200_000 + 8192 * 40 + 200_000,
    syncEvery: 4096,
  },
  consumer: 'gpu',
};

/** sparse-large: a 1 GiB buffer with 32 pages written between submissions (mkwrite territory). */
export const SPARSE_LARGE: Scenario = {
  version: 1,
  name: 'sparse-large',
  description: '1 GiB buffer object, 32 random pages written between GPU submissions',
  seed: 4,
  machine: { cpus: 2, tlbEntries: 64 },
  buffers: [{ name: 'heap', pages: 262_144, method: 'auto' }],
  workload: { pattern: 'sparse', pagesPerPhase: 32, stores: 1_000_000, syncEvery: 1000 },
  consumer: 'gpu',
};

export const BUILTIN_SCENARIOS: Readonly<Record<string, Scenario>> = Object.freeze({
  'coherent-gpu': COHERENT_GPU,
  framebuffer: FRAMEBUFFER,
  'phase-change': PHASE_CHANGE,
  'sparse-large': SPARSE_LARGE,
});

/** Most bytes of a scenario file (a real one is a few hundred). */
export const MAX_SCENARIO_BYTES = 4 * 1024 * 1024;

/** `name` is a built-in scenario's name (own keys only: `constructor` or `__proto__` is not). */
export function isBuiltinScenario(name: string): boolean {
  return Object.hasOwn(BUILTIN_SCENARIOS, name);
}

/**
 * A built-in by name, else a scenario file by path. Returns a fresh deep copy (callers may
 * mutate it, e.g. to apply command-line overrides).
 */
export function loadScenario(nameOrPath: string): Scenario {
  if (isBuiltinScenario(nameOrPath)) return structuredClone(BUILTIN_SCENARIOS[nameOrPath]!);
  let text: string;
  try {
    text = readInputFile(nameOrPath, 'scenario', MAX_SCENARIO_BYTES);
  } catch (e) {
    const msg = e instanceof Error ? e.message.replace(/^scenario /, '') : String(e);
    throw new ScenarioError(`${msg}; built-in scenarios: ${Object.keys(BUILTIN_SCENARIOS).join(', ')}`);
  }
  return parseScenarioText(text, nameOrPath);
}

// ---------------------------------------------------------------------------------------------
// Helpers for the runner

export function totalPages(s: Scenario): number {
  let n = 0;
  for (const b of s.buffers) n += b.pages;
  return n;
}

/** First workload page of each buffer, plus the total at the end (length buffers+1). */
export function bufferBases(s: Scenario): Uint32Array {
  const bases = new Uint32Array(s.buffers.length + 1);
  for (let i = 0; i < s.buffers.length; i++) bases[i + 1] = bases[i]! + s.buffers[i]!.pages;
  return bases;
}

/** Index of the buffer holding workload page `page` (binary search in `bases`). */
export function bufferOf(bases: Uint32Array, page: number): number {
  let lo = 0;
  let hi = bases.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (bases[mid]! <= page) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The op generator of a generated (non-trace) scenario, deterministic for `seed` (default s.seed). */
export function scenarioGenerator(s: Scenario, seed = s.seed): OpGenerator {
  const w = s.workload;
  if (w.pattern === 'trace')
    throw new ScenarioError('scenario.workload: a trace workload is replayed, not generated');
  return createGenerator(w, totalPages(s), s.machine.cpus, seed);
}

/** Directory a scenario's relative paths (a trace `file`) resolve against: the file's, or cwd for a built-in. */
export function scenarioBaseDir(nameOrPath: string): string {
  return isBuiltinScenario(nameOrPath) ? process.cwd() : dirname(resolve(nameOrPath));
}

/**
 * Every op of the scenario's workload, generated or replayed from its trace, in batches: yields
 * `batch` refilled each time (consume it before the next). A trace is checked against the
 * scenario's page count and CPU count; a bad line throws TraceError (a WorkloadInputError).
 */
export async function* scenarioBatches(
  s: Scenario,
  batch: OpBatch,
  baseDir = process.cwd(),
): AsyncGenerator<OpBatch, void, void> {
  const w = s.workload;
  if (w.pattern === 'trace') {
    yield* readTrace(resolve(baseDir, w.file), batch, { pages: totalPages(s), cpus: s.machine.cpus }, w.file);
    return;
  }
  const g = scenarioGenerator(s);
  while (g.next(batch) > 0) yield batch;
}
