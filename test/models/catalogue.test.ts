/**
 * The catalogue's expected verdicts are part of the product: mainline passes where the kernel is
 * correct, every bug variant fails with the property its review comment names, and where the
 * model finds a real mainline problem the proposed fix passes. Every counterexample replays.
 */
import { describe, expect, it } from 'vitest';
import { check, replay } from '../../src/checker/check.ts';
import { MODELS } from '../../src/models/catalogue.ts';

describe('model catalogue', () => {
  it('has unique model names and every model has a mainline variant', () => {
    const names = MODELS.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    for (const m of MODELS) expect(m.variants.map((v) => v.name)).toContain('mainline');
  });

  for (const m of MODELS) {
    for (const v of m.variants) {
      it(`${m.name} / ${v.name} -> ${v.expected.verdict}${v.expected.property ? ` (${v.expected.property})` : ''}`, () => {
        const bound = m.checkDefaults?.preemptionBound;
        const r = check(m, v.name, {
          ...(bound === undefined ? {} : { preemptionBound: bound }),
          maxExecutions: 200_000,
        });
        expect(r.verdict).toBe(v.expected.verdict);
        if (v.expected.verdict === 'fail') {
          expect(r.property).toBe(v.expected.property);
          const cx = r.counterexample!;
          // The shrunk counterexample replays to the same property, byte for byte.
          const a = replay(m, v.name, cx.schedule, { trace: true });
          const b = replay(m, v.name, cx.schedule, { trace: true });
          expect(a.verdict).toBe('fail');
          expect(a.property).toBe(v.expected.property);
          expect(JSON.stringify(a.trace)).toBe(JSON.stringify(b.trace));
        }
      });
    }
  }
});
