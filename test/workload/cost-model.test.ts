import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type CounterSnapshot, Counters } from '../../src/hw/counters.ts';
import {
  COST_COMPONENTS,
  COST_PARAM_NAMES,
  type CostInput,
  type CostParams,
  CostParamsError,
  DEFAULT_COSTS,
  loadCostFile,
  modelCost,
  parseCostParams,
  resolveCosts,
} from '../../src/workload/cost-model.ts';
import { WorkloadInputError } from '../../src/workload/errors.ts';

const zero = (): CounterSnapshot => new Counters().snapshot();
const KEYS = Object.keys(zero()) as (keyof CounterSnapshot)[];

const countersArb: fc.Arbitrary<CostInput> = fc
  .record({
    vals: fc.array(fc.integer({ min: 0, max: 1_000_000 }), {
      minLength: KEYS.length,
      maxLength: KEYS.length,
    }),
    wp: fc.integer({ min: 0, max: 1_000_000 }),
  })
  .map(({ vals, wp }) => {
    const c = zero() as CostInput;
    KEYS.forEach((k, i) => {
      c[k] = vals[i]!;
    });
    // the split must be a subset of what it splits
    c.ptesChanged = Math.min(c.ptesChanged, c.ptesVisited);
    c.ptesChangedByWp = Math.min(wp, c.ptesChanged);
    return c;
  });

const add = (a: CostInput, b: CostInput): CostInput => {
  const c = zero() as CostInput;
  for (const k of KEYS) c[k] = a[k] + b[k];
  c.ptesChangedByWp = (a.ptesChangedByWp ?? 0) + (b.ptesChangedByWp ?? 0);
  return c;
};

const paramsArb: fc.Arbitrary<CostParams> = fc
  .array(fc.double({ min: 0, max: 1e5, noNaN: true }), {
    minLength: COST_PARAM_NAMES.length,
    maxLength: COST_PARAM_NAMES.length,
  })
  .map((v) => Object.fromEntries(COST_PARAM_NAMES.map((k, i) => [k, v[i]!])) as unknown as CostParams);

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));

describe('modelCost laws', () => {
  it('zero counters cost nothing', () => {
    const b = modelCost(zero());
    expect(b.totalNs).toBe(0);
    for (const k of COST_COMPONENTS) expect(b[k]).toBe(0);
  });

  it('additive: cost(a + b) = cost(a) + cost(b), per component', () => {
    fc.assert(
      fc.property(countersArb, countersArb, paramsArb, (a, b, p) => {
        const ca = modelCost(a, p);
        const cb = modelCost(b, p);
        const cab = modelCost(add(a, b), p);
        for (const k of [...COST_COMPONENTS, 'totalNs'] as const)
          expect(close(cab[k], ca[k] + cb[k])).toBe(true);
      }),
    );
  });

  it('total is the sum of the components; all are >= 0', () => {
    fc.assert(
      fc.property(countersArb, paramsArb, (c, p) => {
        const b = modelCost(c, p);
        let s = 0;
        for (const k of COST_COMPONENTS) {
          expect(b[k]).toBeGreaterThanOrEqual(0);
          s += b[k];
        }
        expect(close(b.totalNs, s)).toBe(true);
      }),
    );
  });

  it('monotone: one more event of any kind never lowers the total', () => {
    fc.assert(
      fc.property(countersArb, fc.constantFrom(...KEYS), (c, k) => {
        // ptesChangedByWp is a sub-count of ptesChanged (a wp-changed PTE is also a changed PTE):
        // one more such event raises both, else it would only re-price an existing change.
        const more =
          k === 'ptesChangedByWp'
            ? { ...c, ptesChangedByWp: c.ptesChangedByWp + 1, ptesChanged: c.ptesChanged + 1 }
            : { ...c, [k]: c[k] + 1 };
        expect(modelCost(more).totalNs).toBeGreaterThanOrEqual(modelCost(c).totalNs);
      }),
    );
  });

  it('linear in the prices: doubling every price doubles the total', () => {
    fc.assert(
      fc.property(countersArb, paramsArb, (c, p) => {
        const p2 = Object.fromEntries(COST_PARAM_NAMES.map((k) => [k, p[k] * 2])) as unknown as CostParams;
        expect(close(modelCost(c, p2).totalNs, 2 * modelCost(c, p).totalNs)).toBe(true);
      }),
    );
  });

  it('every price is used by some counter (no dead parameter)', () => {
    const c = zero() as CostInput;
    for (const k of KEYS) c[k] = 3;
    c.ptesVisited = 10;
    c.ptesChangedByWp = 1;
    for (const k of COST_PARAM_NAMES) {
      const p = { ...DEFAULT_COSTS, [k]: DEFAULT_COSTS[k] + 1000 };
      expect(modelCost(c, p).totalNs, k).toBeGreaterThan(modelCost(c).totalNs);
    }
  });
});

describe('modelCost hand-computed cases', () => {
  it('mkwrite-style round: 1000 stores, 10 wp faults, wp walk of 512 pages, one helper call', () => {
    const c = {
      ...zero(),
      stores: 1000,
      faultsWpShared: 10,
      mkwriteCalls: 10,
      ptesVisited: 512,
      ptesChanged: 512,
    };
    const b = modelCost({ ...c, ptesChangedByWp: 512 });
    expect(b.access).toBeCloseTo(1000 * 0.35);
    expect(b.wpFault).toBe(10 * 650);
    expect(b.mkwrite).toBe(10 * 30);
    expect(b.wpWalk).toBe(512 * 25);
    expect(b.scan).toBe(0);
    expect(b.totalNs).toBeCloseTo(350 + 6500 + 300 + 12800);
  });

  it('scan of 1024 PTEs with 20 written pages, then copying them to the GPU', () => {
    const c = {
      ...zero(),
      ptesVisited: 1024,
      ptesChanged: 20,
      helperCalls: 1,
      scans: 1,
      bytesCopied: 20 * 4096,
    };
    const b = modelCost(c);
    expect(b.scan).toBe(1024 * 1 + 20 * 25);
    expect(b.helperCall).toBe(300);
    expect(b.driverScan).toBe(100);
    expect(b.copy).toBeCloseTo(20 * 4096 * 0.1);
    expect(b.totalNs).toBeCloseTo(1524 + 300 + 100 + 8192);
  });

  it('a remote shootdown: 2 range flushes and one IPI, with notifiers', () => {
    const b = modelCost({ ...zero(), tlbFlushRange: 2, ipis: 1, notifierStarts: 1, notifierEnds: 1 });
    expect(b.tlbFlush).toBe(400);
    expect(b.ipi).toBe(14000);
    expect(b.notifier).toBe(40);
    expect(b.totalNs).toBe(14440);
  });

  it('ptesChangedByWp larger than ptesChanged is clamped', () => {
    const b = modelCost({ ...zero(), ptesVisited: 5, ptesChanged: 2, ptesChangedByWp: 9 });
    expect(b.wpWalk).toBe(50);
    expect(b.scan).toBe(3);
  });
});

describe('cost parameters', () => {
  it('partial overrides replace only the named prices', () => {
    const p = resolveCosts({ wpFaultNs: 800, ipiNs: 0 });
    expect(p.wpFaultNs).toBe(800);
    expect(p.ipiNs).toBe(0);
    expect(p.scanNsPerPage).toBe(DEFAULT_COSTS.scanNsPerPage);
    expect(resolveCosts()).toEqual(DEFAULT_COSTS);
  });

  it('bad overrides name the field', () => {
    expect(() => parseCostParams({ wpFaultNs: -1 })).toThrow(
      'costs.wpFaultNs: expected a finite number in [0, 1000000000000]',
    );
    expect(() => parseCostParams({ wpFaultNs: 'x' })).toThrow(
      'costs.wpFaultNs: expected a finite number in [0, 1000000000000]',
    );
    expect(() => parseCostParams({ wpFautNs: 1 })).toThrow('costs.wpFautNs: unknown field');
    expect(() => parseCostParams({ wpFaultNs: -1 })).toThrow(WorkloadInputError);
  });

  it('loads a kernel-costs file; measuredOn is kept aside', () => {
    const dir = mkdtempSync(join(tmpdir(), 'costs-'));
    const f = join(dir, 'kernel-costs.json');
    writeFileSync(
      f,
      JSON.stringify({ wpFaultNs: 600, scanNsPerPage: 1.2, measuredOn: 'test box', extra: 1 }),
    );
    const { costs, measuredOn } = loadCostFile(f);
    expect(costs).toEqual({ wpFaultNs: 600, scanNsPerPage: 1.2 });
    expect(measuredOn).toBe('test box');
    writeFileSync(f, JSON.stringify({ wpWalkNsPerPage: null }));
    expect(() => loadCostFile(f)).toThrow(
      `${f}.wpWalkNsPerPage: expected a finite number in [0, 1000000000000]`,
    );
    writeFileSync(f, '{');
    expect(() => loadCostFile(f)).toThrow(CostParamsError);
    expect(() => loadCostFile(join(dir, 'missing.json'))).toThrow(/cannot read \(ENOENT\)/);
    // A misspelt field prices nothing: an error, not a silent run on the defaults.
    writeFileSync(f, JSON.stringify({ wpFautNs: 600 }));
    expect(() => loadCostFile(f)).toThrow(/no known cost parameter/);
  });
});
