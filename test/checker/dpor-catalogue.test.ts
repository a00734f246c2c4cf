/**
 * The catalogue under the DPOR strategies, with today's coarse footprints: every verdict is the
 * one the catalogue expects (a different verdict would be a soundness bug: unknown footprints
 * must conflict with everything), and on mainline-style passes DPOR completes exactly as many
 * executions as dfs with sleep sets (both: one per trace under the same dependence). Only the
 * models that finish in about a second are run here; docs/checker.md has the full table.
 */
import { describe, expect, it } from 'vitest';
import { check } from '../../src/checker/check.ts';
import { MODELS } from '../../src/models/catalogue.ts';

const FAST = new Set([
  'wp-vs-writer',
  'clean-vs-writer',
  'secondary-mmu',
  'cow-private',
  'huge-pmd',
  'vmwgfx-transfer',
]);

describe('catalogue under DPOR (coarse footprints)', () => {
  for (const def of MODELS.filter((d) => FAST.has(d.name))) {
    for (const v of def.variants) {
      it(`${def.name}/${v.name}: expected verdict under both DPOR strategies`, () => {
        const dfs = check(def, v.name, { iterativeBounding: false, shrink: false });
        for (const strategy of ['source-dpor', 'optimal-dpor'] as const) {
          const r = check(def, v.name, { strategy, shrink: false });
          expect(r.verdict).toBe(v.expected.verdict);
          if (v.expected.property !== undefined) expect(r.property).toBe(v.expected.property);
          if (r.verdict === 'pass') expect(r.executions).toBe(dfs.executions);
        }
      });
    }
  }
  it('covers the fast models', () => {
    expect(MODELS.filter((d) => FAST.has(d.name)).length).toBe(FAST.size);
  });
});
