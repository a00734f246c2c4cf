import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WorkloadInputError } from '../../src/workload/errors.ts';
import {
  createBatch,
  createGenerator,
  type OpBatch,
  type WorkloadParams,
} from '../../src/workload/generators.ts';
import { readTrace, recordTrace, TraceError, type TraceLimits } from '../../src/workload/trace-replay.ts';

type Row = [number, number, number, number, number];

async function readAll(input: string | Readable, limits: TraceLimits = {}, cap = 7): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const b of readTrace(input, createBatch(cap), limits, 't.jsonl'))
    for (let i = 0; i < b.length; i++)
      rows.push([b.kind[i]!, b.cpu[i]!, b.page[i]!, b.offset[i]!, b.value[i]!]);
  return rows;
}

function rowsOf(g: ReturnType<typeof createGenerator>): Row[] {
  const b: OpBatch = createBatch(50);
  const rows: Row[] = [];
  for (let n = g.next(b); n > 0; n = g.next(b))
    for (let i = 0; i < n; i++) rows.push([b.kind[i]!, b.cpu[i]!, b.page[i]!, b.offset[i]!, b.value[i]!]);
  return rows;
}

async function errorOf(text: string, limits: TraceLimits = {}): Promise<string> {
  try {
    await readAll(Readable.from([text]), limits);
  } catch (e) {
    expect(e).toBeInstanceOf(TraceError);
    expect(e).toBeInstanceOf(WorkloadInputError);
    return (e as Error).message;
  }
  throw new Error('expected a TraceError');
}

describe('trace replay', () => {
  it('parses stores, loads and syncs; skips blank lines', async () => {
    const text =
      '{"version":1}\n\n{"op":"store","cpu":1,"page":12,"offset":8,"value":7}\r\n{"op":"load","cpu":0,"page":3,"offset":4}\n{"op":"sync"}\n';
    expect(await readAll(Readable.from([text]))).toEqual([
      [1, 1, 12, 8, 7],
      [2, 0, 3, 4, 0],
      [3, 0, 0, 0, 0],
    ]);
  });

  it('round trip: recording a generator and replaying it gives the same ops', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 0, max: 50 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 1, max: 100 }),
        async (stores, syncEvery, cpus, seed, cap) => {
          const w: WorkloadParams = {
            pattern: 'hotset',
            hotFraction: 0.1,
            hotProbability: 0.9,
            stores,
            syncEvery,
            cpuMode: 'random',
          };
          const out = new PassThrough();
          const chunks: string[] = [];
          out.on('data', (c: Buffer) => chunks.push(c.toString()));
          await recordTrace(createGenerator(w, 100, cpus, seed), createBatch(17), out);
          out.end();
          const replayed = await readAll(Readable.from([chunks.join('')]), { pages: 100, cpus }, cap);
          expect(replayed).toEqual(rowsOf(createGenerator(w, 100, cpus, seed)));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('reads from a file path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trace-'));
    const f = join(dir, 'a.jsonl');
    writeFileSync(f, '{"version":1}\n{"op":"sync"}\n');
    const rows: number[] = [];
    for await (const b of readTrace(f, createBatch(4))) rows.push(b.length);
    expect(rows).toEqual([1]);
    await expect(readAll(join(dir, 'missing.jsonl'))).rejects.toThrow(/t\.jsonl:0: cannot read \(ENOENT\)/);
  });

  const H = '{"version":1}\n';
  const bad: [string, string, TraceLimits?][] = [
    ['', 't.jsonl:1: field "version": empty trace: no {"version":1} header'],
    ['{"op":"sync"}\n', 't.jsonl:1: field "version": missing: the first line must be {"version":1}'],
    ['{"version":2}\n', 't.jsonl:1: field "version": unsupported trace version 2 (expected 1)'],
    ['nope\n', 't.jsonl:1: not valid JSON (expected the header {"version":1})'],
    [`${H}{"op":"sync"}\n{"op":"store"`, 't.jsonl:3: not valid JSON'],
    [`${H}[1]`, 't.jsonl:2: expected a JSON object, got [1]'],
    [`${H}{"cpu":0}`, 't.jsonl:2: field "op": missing'],
    [`${H}{"op":"write"}`, 't.jsonl:2: field "op": expected "store", "load" or "sync", got "write"'],
    [
      `${H}{"op":"store","cpu":0,"page":-1,"offset":0,"value":1}`,
      't.jsonl:2: field "page": expected an integer in [0, 4294967295], got -1',
    ],
    [
      `${H}{"op":"store","cpu":0,"page":1,"offset":4096,"value":1}`,
      't.jsonl:2: field "offset": expected an integer in [0, 4095], got 4096',
    ],
    [`${H}{"op":"store","cpu":0,"page":1,"offset":0}`, 't.jsonl:2: field "value": missing'],
    [
      `${H}{"op":"store","cpu":0,"page":1,"offset":0,"value":1.5}`,
      't.jsonl:2: field "value": expected an integer in [0, 4294967295], got 1.5',
    ],
    [
      `${H}{"op":"load","cpu":0,"page":1,"offset":0,"value":1}`,
      't.jsonl:2: field "value": unknown field for a load',
    ],
    [`${H}{"op":"sync","cpu":0}`, 't.jsonl:2: field "cpu": unknown field for a sync'],
    [
      `${H}{"op":"load","cpu":"0","page":1,"offset":0}`,
      't.jsonl:2: field "cpu": expected an integer in [0, 255], got "0"',
    ],
    [
      `${H}{"op":"load","cpu":2,"page":1,"offset":0}`,
      't.jsonl:2: field "cpu": expected an integer in [0, 1], got 2',
      { cpus: 2 },
    ],
    [
      `${H}{"op":"load","cpu":0,"page":10,"offset":0}`,
      't.jsonl:2: field "page": expected an integer in [0, 9], got 10',
      { pages: 10 },
    ],
  ];
  for (const [text, msg, limits] of bad)
    it(`rejects ${JSON.stringify(text.slice(H.length > text.length ? 0 : text.startsWith(H) ? H.length : 0))}`, async () => {
      expect(await errorOf(text, limits)).toBe(msg);
    });
});
