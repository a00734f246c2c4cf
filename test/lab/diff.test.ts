import { describe, expect, it } from 'vitest';
import { type LabSide, modelSide, REQUIRED_COVERAGE, runLabDiff } from '../../src/lab/diff.ts';
import { genSequence } from '../../src/lab/gen.ts';
import { ModelLab } from '../../src/lab/model-backend.ts';
import type { LabOp } from '../../src/lab/protocol.ts';

describe('lab diff', () => {
  it('the generator is deterministic per seed and starts every sequence from reset', () => {
    const a = genSequence(42, { length: 60 });
    expect(genSequence(42, { length: 60 })).toEqual(a);
    expect(genSequence(43, { length: 60 })).not.toEqual(a);
    expect(a[0]).toEqual({ op: 'reset' });
    expect(a).toHaveLength(60);
  });

  it('coverage: 300 sequences of 50 reach every required boundary', async () => {
    const a = new ModelLab();
    const b = new ModelLab();
    const r = await runLabDiff(modelSide(a), modelSide(b), b, {
      sequences: 300,
      length: 50,
      seed: 1,
      wrprotect: true,
    });
    expect(r.agreed).toBe(true);
    expect(r.ops).toBe(300 * 50);
    expect(r.missing).toEqual([]);
    for (const k of REQUIRED_COVERAGE) expect(r.coverage[k], k).toBeGreaterThan(0);
  });

  it('a planted disagreement (a side that forgets the first wp) is found and shrunk to a short sequence ending in it', async () => {
    const good = new ModelLab();
    const bad = new ModelLab();
    // The planted bug: wp_shared_mapping_range does nothing and returns 0.
    const planted: LabSide = {
      name: 'planted',
      run: (ops: readonly LabOp[]) =>
        Promise.resolve(ops.map((o) => (o.op === 'wp' ? { ret: 0, kv: {} } : bad.exec(o)))),
      resolvePfn: (p) => bad.devicePage(p),
    };
    const r = await runLabDiff(planted, modelSide(good), good, {
      sequences: 200,
      length: 50,
      seed: 3,
      wrprotect: true,
    });
    expect(r.agreed).toBe(false);
    const m = r.mismatch!;
    expect(m.ops.length).toBeLessThan(m.originalLength);
    expect(m.ops.length).toBeLessThanOrEqual(8);
    expect(m.firstDiff).toBe(m.ops.length - 1);
    const last = m.steps[m.firstDiff]!;
    // the first visible difference is the wp itself (its count) or what it left writable
    expect(['wp', 'store', 'pte', 'scan']).toContain(last.op.op);
    expect(m.ops[0]).toEqual({ op: 'reset' });
  });
});
