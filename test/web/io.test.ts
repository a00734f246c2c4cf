import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Trace } from '../../src/trace/schema.ts';
import { renderPtes, renderUnits, renderViolation, topRows } from '../../web/src/render.ts';
import { cumulative, ReportFormatError, validateRunReport } from '../../web/src/report.ts';
import {
  decodeShare,
  detectFormat,
  encodeShare,
  fromBase64Url,
  shareParam,
  toBase64Url,
} from '../../web/src/share.ts';
import { parseDocument, TraceFormatError } from '../../web/src/trace-io.ts';
import { TraceModel } from '../../web/src/viewmodel.ts';

const text = readFileSync(new URL('../fixtures/wp-no-flush.trace.json', import.meta.url), 'utf8');
const fixture = JSON.parse(text) as Trace;
const exampleReport = readFileSync(
  new URL('../../web/public/examples/run-report.json', import.meta.url),
  'utf8',
);

describe('share links', () => {
  it('base64url round-trips any bytes and uses no +, / or =', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        const s = toBase64Url(b);
        expect(s).not.toMatch(/[+/=]/);
        expect(fromBase64Url(s)).toEqual(b);
      }),
    );
  });

  it('a trace survives encode/decode in every compression format, and compresses', async () => {
    const compact = JSON.stringify(fixture);
    for (const f of ['gzip', 'deflate', 'deflate-raw'] as const) {
      const s = await encodeShare(compact, f);
      expect(detectFormat(fromBase64Url(s))).toBe(f);
      expect(await decodeShare(s)).toBe(compact);
      expect(s.length).toBeLessThan(compact.length / 2);
    }
  });

  it('reads t= from a hash with other parameters', () => {
    expect(shareParam('#t=abc')).toBe('abc');
    expect(shareParam('#x=1&t=q-_')).toBe('q-_');
    expect(shareParam('#x=1')).toBeNull();
  });
});

describe('reading documents', () => {
  it('accepts the fixture as a trace and the example as a run report', () => {
    expect(parseDocument(text).kind).toBe('trace');
    const r = parseDocument(exampleReport);
    expect(r.kind).toBe('report');
  });

  const bad: Array<[string, RegExp]> = [
    ['{', /not valid JSON/],
    ['[]', /not a JSON object/],
    ['{"version":2}', /unsupported trace version 2/],
    ['{"version":1,"setup":{"cpus":1,"pageSize":4096}}', /missing "events"/],
    [
      '{"version":1,"setup":{"cpus":1,"pageSize":4096},"events":[{"seq":0,"step":0,"cpu":0,"kind":"zap"}]}',
      /event 0: unknown/,
    ],
    [
      '{"version":1,"setup":{"cpus":1,"pageSize":4096},"events":[{"seq":3,"step":0,"cpu":0,"kind":"note"}]}',
      /"seq" is 3/,
    ],
  ];
  for (const [doc, msg] of bad)
    it(`rejects ${doc.slice(0, 40)}`, () => {
      expect(() => parseDocument(doc)).toThrow(TraceFormatError);
      expect(() => parseDocument(doc)).toThrow(msg);
    });

  it('validates run reports and accumulates cost', () => {
    const r = validateRunReport(JSON.parse(exampleReport));
    expect(r.crossover!.cells).toHaveLength(r.crossover!.dirtyFractions.length);
    expect(() =>
      validateRunReport({ kind: 'run-report', version: 1, series: [{ method: 'm', points: [{ t: 'x' }] }] }),
    ).toThrow(ReportFormatError);
    expect(() =>
      validateRunReport({
        kind: 'run-report',
        version: 1,
        series: [],
        crossover: {
          regionPages: [1, 2],
          dirtyFractions: [0.5],
          cells: [[{ pattern: 'p', best: 'mkwrite', ratio: 1 }]],
        },
      }),
    ).toThrow(/rows of regionPages.length cells/);
    expect(
      cumulative([
        { t: 0, cost: 2 },
        { t: 1, cost: 3 },
        { t: 2, cost: 0 },
      ]).map((p) => p.cost),
    ).toEqual([2, 5, 5]);
  });
});

describe('panel HTML', () => {
  const m = new TraceModel(fixture);
  const vIdx = fixture.events.findIndex((e) => e.kind === 'violation');

  it('marks the stale entry and the violation, escaping text', () => {
    const v = m.stateAt(vIdx);
    const tlb = renderUnits(fixture, v, v.cpus, '');
    expect(tlb).toMatch(/<tr class="stale" data-addr="0x7f0000001000">/);
    expect(tlb).toContain('STALE');
    // The violation is about page 1: its rows are tagged from the violating step on, not before.
    expect(tlb).toContain('violation page');
    expect(renderPtes(fixture, v)).toContain('violation page');
    expect(renderPtes(fixture, m.stateAt(vIdx - 1))).not.toContain('violation page');
    expect(renderViolation(v)).toContain('This step violates');
    expect(renderViolation(m.stateAt(vIdx - 1))).toBe('');
    const evil = { ...v, violationHere: { ...v.violationHere!, message: '<img src=x onerror=alert(1)>' } };
    expect(renderViolation(evil)).not.toContain('<img');
  });

  it('highlights exactly the changed bits of the PTE', () => {
    const wpIdx = fixture.events.findIndex((e) => e.kind === 'pte' && e.fn === 'wpPte');
    const html = renderPtes(fixture, m.stateAt(wpIdx));
    expect(html.match(/class="bit[^"]*changed"/g)).toHaveLength(1);
    expect(html).toContain('title="RW = 0 (changed by this event)"');
  });
});

describe('row capping', () => {
  it('keeps the highest-scoring rows in their original order and counts the rest', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 40 }),
        fc.integer({ min: 0, max: 45 }),
        (scores, max) => {
          const items = scores.map((s, i) => ({ s, i }));
          const { rows, hidden } = topRows(items, max, (x) => x.s);
          expect(rows.length).toBe(Math.min(max, items.length));
          expect(hidden).toBe(items.length - rows.length);
          expect(rows.map((r) => r.i)).toEqual([...rows.map((r) => r.i)].sort((a, b) => a - b));
          const minKept = Math.min(...rows.map((r) => r.s));
          const kept = new Set(rows.map((r) => r.i));
          for (const x of items) if (!kept.has(x.i)) expect(x.s).toBeLessThanOrEqual(minKept);
        },
      ),
    );
  });
});
