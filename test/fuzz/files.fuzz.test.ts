/**
 * Fuzz: malformed input files of every kind the CLI reads: scenario files (`run FILE`), trace
 * workloads (a scenario's `workload.file`), cost files (`run --costs FILE`) and visualizer traces
 * (`serve FILE`), plus non-regular files (directory, /dev/zero, FIFO) and oversized ones. Every
 * one must end with exit 2 and one stderr line naming the problem, quickly (a device or a huge
 * file is refused before it is read). Generated from a fixed seed; run in-process.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fuzzAll } from './harness.ts';

const SEED = 1414;
const sample = <T>(arb: fc.Arbitrary<T>, n: number, seed = SEED): T[] => fc.sample(arb, { seed, numRuns: n });

/** A small valid scenario (the base every mutation starts from). */
const BASE = {
  version: 1,
  name: 'fuzz-base',
  description: 'small',
  seed: 3,
  machine: { cpus: 2, tlbEntries: 64 },
  buffers: [
    { name: 'a', pages: 16, method: 'auto' },
    { name: 'b', pages: 8 },
  ],
  workload: {
    pattern: 'hotset',
    hotFraction: 0.5,
    hotProbability: 0.9,
    stores: 200,
    syncEvery: 50,
    finalSync: true,
  },
  consumer: 'gpu',
  deferredIoDelayMs: 10,
  costs: { wpFaultNs: 1000 },
};

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** Values no field of that type accepts. */
function badFor(v: Json): fc.Arbitrary<Json> {
  if (typeof v === 'number')
    return fc.constantFrom<Json>(-1, -0.5, 1e300, 2 ** 64, '1', null, true, [], {}, { __proto__: 1 } as Json);
  if (typeof v === 'string') return fc.constantFrom<Json>(1, null, true, [], {}, ['x']);
  if (typeof v === 'boolean') return fc.constantFrom<Json>(1, 'true', null, []);
  if (Array.isArray(v)) return fc.constantFrom<Json>({}, 'x', 1, null, []);
  return fc.constantFrom<Json>([], 'x', 1, null);
}

/** Every path (list of keys) in a JSON value, for mutation. */
function paths(v: Json, at: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [];
  if (Array.isArray(v)) for (const [i, x] of v.entries()) out.push([...at, i], ...paths(x, [...at, i]));
  else if (v !== null && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) out.push([...at, k], ...paths(x, [...at, k]));
  return out;
}

function getAt(v: Json, p: (string | number)[]): Json {
  let cur: Json = v;
  for (const k of p) cur = (cur as Record<string | number, Json>)[k]!;
  return cur;
}

function setAt(v: Json, p: (string | number)[], x: Json): Json {
  const copy = structuredClone(v);
  let cur = copy as Record<string | number, Json>;
  for (const k of p.slice(0, -1)) cur = cur[k] as Record<string | number, Json>;
  cur[p.at(-1)!] = x;
  return copy;
}

/** A scenario text that is certainly invalid. */
const badScenario = (base: Json): fc.Arbitrary<string> => {
  const ps = paths(base);
  const mutate = fc
    .constantFrom(...ps)
    .chain((p) => badFor(getAt(base, p)).map((x) => JSON.stringify(setAt(base, p, x))));
  const objPaths = [
    [],
    ...ps.filter((p) => {
      const x = getAt(base, p);
      return x !== null && typeof x === 'object' && !Array.isArray(x);
    }),
  ];
  const extraKey = fc
    .tuple(fc.constantFrom(...objPaths), fc.constantFrom('__proto__', 'constructor', 'toString', 'extra', ''))
    .map(([p, k]) => {
      const copy = structuredClone(base);
      const target = (p.length === 0 ? copy : getAt(copy, p)) as Record<string, Json>;
      Object.defineProperty(target, k, { value: 1, enumerable: true, configurable: true, writable: true });
      return JSON.stringify(copy);
    });
  const text = JSON.stringify(base);
  const truncated = fc.integer({ min: 0, max: text.length - 2 }).map((n) => text.slice(0, n));
  const junk = fc
    .tuple(
      fc.integer({ min: 0, max: text.length }),
      fc.constantFrom('\u0000', '}', '{', ',', '"', '\uFFFF', 'NaN'),
    )
    .map(([i, j]) => text.slice(0, i) + j + text.slice(i))
    .filter((t) => {
      try {
        JSON.parse(t);
        return false;
      } catch {
        return true;
      }
    });
  return fc.oneof(mutate, mutate, extraKey, truncated, junk);
};

/** Trace-workload lines that are certainly invalid for a 2-CPU, 24-page scenario. */
const badTraceLine = fc.oneof(
  fc.constantFrom(
    '{"op":"__proto__"}',
    '{"op":"constructor"}',
    '{"op":"toString","cpu":0}',
    '{"op":"store","cpu":2,"page":0,"offset":0,"value":1}',
    '{"op":"store","cpu":0,"page":24,"offset":0,"value":1}',
    '{"op":"store","cpu":0,"page":0,"offset":4096,"value":1}',
    '{"op":"store","cpu":0,"page":0,"offset":0,"value":4294967296}',
    '{"op":"store","cpu":-1,"page":0,"offset":0,"value":1}',
    '{"op":"store","cpu":0.5,"page":0,"offset":0,"value":1}',
    '{"op":"store","cpu":"0","page":0,"offset":0,"value":1}',
    '{"op":"load","cpu":0,"page":0}',
    '{"op":"load","cpu":0,"page":0,"offset":0,"value":1}',
    '{"op":"sync","extra":1}',
    '{"op":"sync","__proto__":{"x":1}}',
    '[1,2,3]',
    '"store"',
    'null',
    '{"op":null}',
    '{}',
    'not json',
    '{"op":"sync"',
  ),
  fc.constant(`${'['.repeat(100_000)}${']'.repeat(100_000)}`),
  fc.constant(`{"op":"sync","pad":"${'x'.repeat(10_000)}"}`),
  fc.string({ minLength: 1, maxLength: 30 }).map((s) => `{"op":${JSON.stringify(`zz${s}`)}}`),
);

const badHeader = fc.constantFrom(
  '{"version":2}',
  '{"version":"1"}',
  '{}',
  '[1]',
  'x',
  '{"version":1',
  '{"op":"sync"}',
);

/** Cost files no reader accepts. */
const badCost = fc.oneof(
  fc.constantFrom(
    '{}',
    '[]',
    'null',
    '1',
    '"x"',
    '{"wpFaultNs":-1}',
    '{"wpFaultNs":"5"}',
    '{"wpFaultNs":null}',
    '{"wpFaultNs":1e999}',
    '{"wpfaultns":5}',
    '{"__proto__":{"wpFaultNs":5}}',
    '{"constructor":5}',
    '{"wpFaultNs":5',
    '',
  ),
  fc.constant(`${'['.repeat(100_000)}${']'.repeat(100_000)}`),
);

/** Visualizer traces `serve` refuses. */
const badServeTrace = fc.constantFrom(
  '',
  'x',
  'null',
  '[]',
  '{}',
  '{"version":999,"events":[],"setup":{}}',
  '{"version":1}',
  '{"version":1,"events":{},"setup":{}}',
  '{"version":1,"events":[]}',
  '{"version":1,"events":[],"setup":null}',
  `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
);

let dir = '';
let n = 0;
const file = (text: string, ext = '.json') => {
  const f = join(dir, `f${n++}${ext}`);
  writeFileSync(f, text);
  return f;
};

function cases(): string[][] {
  const out: string[][] = [];
  // Scenario files.
  for (const t of sample(badScenario(BASE as unknown as Json), 150)) out.push(['run', file(t)]);
  const displayBase = { ...BASE, consumer: 'display', buffers: [{ name: 'fb', pages: 8 }] };
  for (const t of sample(badScenario(displayBase as unknown as Json), 20, SEED + 9))
    out.push(['run', file(t)]);
  for (const t of [
    '',
    ' ',
    '\uFEFF{}',
    'null',
    '[]',
    '{}',
    '1',
    `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`,
  ])
    out.push(['run', file(t)]);
  // Limits a scenario can ask for (each was a hang or a crash).
  const big = (patch: Record<string, unknown>) => file(JSON.stringify({ ...BASE, ...patch }));
  out.push([
    'run',
    big({
      buffers: [
        { name: 'a', pages: 1 << 26 },
        { name: 'b', pages: 1 << 26 },
      ],
    }),
  ]);
  out.push(['run', big({ machine: { cpus: 2, tlbEntries: 2 ** 40 } })]);
  out.push(['run', big({ machine: { cpus: 2, tlbEntries: 48 } })]);
  out.push(['run', big({ machine: { cpus: 257 } })]);
  out.push(['run', big({ workload: { ...BASE.workload, stores: 2 ** 53 } })]);
  out.push(['run', big({ deferredIoDelayMs: 1e308 })]);
  out.push(['run', file('x'.repeat(5 * 1024 * 1024))]);
  out.push([
    'run',
    '--processes',
    'per-cpu',
    big({ machine: { cpus: 256 }, buffers: [{ name: 'a', pages: 1 << 26 }] }),
  ]);
  // Trace workloads: a valid header and line, then a bad line; or a bad header.
  const traceScenario = (f: string) =>
    file(JSON.stringify({ ...BASE, workload: { pattern: 'trace', file: f } }));
  const good = '{"op":"store","cpu":1,"page":3,"offset":8,"value":7}';
  for (const l of sample(badTraceLine, 60, SEED + 1))
    out.push(['run', traceScenario(file(`{"version":1}\n${good}\n${l}\n${good}\n`, '.jsonl'))]);
  for (const h of sample(badHeader, 10, SEED + 2))
    out.push(['run', traceScenario(file(`${h}\n${good}\n`, '.jsonl'))]);
  out.push(['run', traceScenario(file('', '.jsonl'))]);
  out.push(['run', traceScenario(file('\n\n\n', '.jsonl'))]);
  out.push(['run', traceScenario(file(`{"version":1}\n${'x'.repeat(1 << 20)}`, '.jsonl'))]);
  for (const p of ['/dev/zero', '/dev/urandom', dir, join(dir, 'missing.jsonl'), join(dir, 'fifo')])
    out.push(['run', traceScenario(p)]);
  // Cost files (with the small scenario, so an accidental pass costs milliseconds).
  const small = file(JSON.stringify(BASE));
  for (const c of sample(badCost, 25, SEED + 3)) out.push(['run', small, '--costs', file(c)]);
  for (const p of ['/dev/zero', dir, join(dir, 'missing.json'), join(dir, 'fifo')])
    out.push(['run', small, '--costs', p]);
  // Scenario paths that are not regular files.
  for (const p of ['/dev/zero', '/dev/urandom', dir, join(dir, 'fifo'), '/proc/self/mem'])
    out.push(['run', p]);
  // Visualizer traces.
  for (const t of sample(badServeTrace, 15, SEED + 4)) out.push(['serve', '--port', '0', file(t)]);
  out.push(['serve', '--port', '0', dir]);
  out.push(['serve', '--port', '0', join(dir, 'fifo')]);
  return out;
}

describe('fuzz: malformed input files', () => {
  let all: string[][] = [];
  let result: { failures: string[]; ran: number };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dirtyscope-fuzz-'));
    mkdirSync(join(dir, 'sub'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    all = cases();
    result = await fuzzAll(all);
  }, 300_000);
  afterAll(() => {
    if (dir !== '' && process.env.DIRTYSCOPE_FUZZ_KEEP !== '1') rmSync(dir, { recursive: true, force: true });
  });

  it('a few hundred input files: each exit 2 with one stderr line, no stack trace, no hang', () => {
    expect(result.ran).toBeGreaterThanOrEqual(300);
    expect(result.failures).toEqual([]);
  });
});
