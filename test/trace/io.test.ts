import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  parseTrace,
  readTraceFile,
  serializeTrace,
  TraceFormatError,
  validateTrace,
  writeTraceFileAtomic,
} from '../../src/trace/io.ts';
import type { Trace } from '../../src/trace/schema.ts';
import { TraceSink } from '../../src/trace/sink.ts';

function sample(): Trace {
  const s = new TraceSink();
  s.ctx = { task: 'writer0', cpu: 0, fn: 'handleMmFault' };
  s.emit({ kind: 'fault', mm: 0, addr: 0x1000, write: true, reason: 'protection', outcome: 'mkwrite' });
  s.step = 1;
  s.emit({
    kind: 'pte',
    mm: 0,
    addr: 0x1000,
    level: 4,
    oldLo: 0x25,
    oldHi: 0,
    newLo: 0x67,
    newHi: 0,
    by: 'kernel',
  });
  s.emit({ kind: 'lockAcquire', lock: 'ptl', mode: 'exclusive' });
  s.emit({ kind: 'notifierStart', mm: 0, start: 0, end: 0x2000, event: 'PROTECTION_PAGE' });
  s.emit({ kind: 'call', args: { start: 0, nr: 2, dry: false }, ret: 1 });
  s.emit({ kind: 'violation', property: 'no-lost-write', message: 'page 1 lost', pages: [1] });
  return {
    version: 1,
    model: 'm',
    variant: 'mainline',
    schedule: 'v1:AB',
    setup: { cpus: 2, mms: { '0': 'proc A' }, devices: ['gpu'], vmas: [], pageSize: 4096 },
    events: s.events,
    verdict: 'fail',
    property: 'no-lost-write',
  };
}

describe('trace io', () => {
  it('serialize -> parse round-trips, and serialization is canonical', () => {
    const t = sample();
    const text = serializeTrace(t);
    const back = parseTrace(text);
    expect(back).toEqual(t);
    expect(serializeTrace(back)).toBe(text);
    // One event per line.
    expect(text.split('\n').filter((l) => l.includes('"seq"'))).toHaveLength(t.events.length);
  });

  it('note events with arbitrary text round-trip', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 5 }), (texts) => {
        const s = new TraceSink();
        for (const text of texts) s.emit({ kind: 'note', text });
        const t: Trace = { ...sample(), events: s.events };
        expect(parseTrace(serializeTrace(t))).toEqual(t);
      }),
    );
  });

  it('errors are one line naming the source, the path and the problem', () => {
    const t = sample() as unknown as Record<string, unknown>;
    const cases: Array<[unknown, RegExp]> = [
      [{ ...t, version: 2 }, /^x\.json: version: unsupported trace version 2/],
      [{ ...t, model: 3 }, /^x\.json: model: /],
      [{ ...t, events: [{ ...sample().events[0], kind: 'bogus' }] }, /^x\.json: events\.0\.kind: /],
      [
        {
          ...t,
          events: [
            { ...sample().events[1], seq: 0 },
            { ...sample().events[1], seq: 5 },
          ],
        },
        /events\.1\.seq: seq must be 1/,
      ],
      [{ ...t, events: [{ ...sample().events[1], by: 'cpu' }] }, /^x\.json: events\.0\.by: /],
    ];
    for (const [value, re] of cases) {
      let err: unknown;
      try {
        validateTrace(value, 'x.json');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TraceFormatError);
      expect((err as Error).message).toMatch(re);
      expect((err as Error).message).not.toContain('\n');
    }
    expect(() => parseTrace('{not json', 'y.json')).toThrow(/^y\.json: not JSON: /);
  });

  it('writes atomically and reads back; a failed write leaves the old file intact', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ds-trace-'));
    const path = join(dir, 't.json');
    writeFileSync(path, 'old');
    await writeTraceFileAtomic(path, sample());
    expect(readdirSync(dir)).toEqual(['t.json']);
    expect(await readTraceFile(path)).toEqual(sample());
    // Writing into a missing directory fails cleanly.
    await expect(writeTraceFileAtomic(join(dir, 'no', 't.json'), sample())).rejects.toThrow(
      /cannot write: ENOENT/,
    );
    expect(readFileSync(path, 'utf8')).toBe(serializeTrace(sample()));
    await expect(readTraceFile(join(dir, 'missing.json'))).rejects.toThrow(
      /missing\.json: cannot read: ENOENT/,
    );
  });
});
