/**
 * Integration: the counterexample traces of every catalogue pair expected to fail validate against
 * the trace schema, survive a write/read round trip byte for byte, and equal the replay's trace.
 */
import { describe, expect, it } from 'vitest';
import { check, replay } from '../../src/checker/check.ts';
import { MODELS } from '../../src/models/catalogue.ts';
import { parseTrace, serializeTrace, validateTrace } from '../../src/trace/io.ts';

const FAILING = MODELS.flatMap((m) =>
  m.variants.filter((v) => v.expected.verdict === 'fail').map((v) => [m, v] as const),
);

describe('catalogue counterexample traces', () => {
  it('the catalogue has failing pairs to check', () => {
    expect(FAILING.length).toBeGreaterThan(0);
  });
  for (const [m, v] of FAILING) {
    it(`${m.name}/${v.name}`, () => {
      const r = check(m, v.name, { strategy: 'dfs', timeMs: 20_000 });
      expect(r.verdict).toBe('fail');
      const trace = r.counterexample!.trace;
      const name = `${m.name}-${v.name}.json`;
      expect(validateTrace(JSON.parse(JSON.stringify(trace)), name)).toEqual(trace);
      const text = serializeTrace(trace);
      expect(serializeTrace(parseTrace(text, name))).toBe(text);
      const again = replay(m, v.name, r.counterexample!.schedule, { trace: true, maxSteps: r.maxSteps });
      expect(serializeTrace(again.trace!)).toBe(text);
    });
  }
});
