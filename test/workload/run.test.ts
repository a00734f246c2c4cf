import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runRunCommand } from '../../src/cli/cmd-run.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { type RunResult, runNamed, runScenarioSync } from '../../src/workload/run.ts';
import {
  BUILTIN_SCENARIOS,
  loadScenario,
  type Scenario,
  ScenarioError,
} from '../../src/workload/scenario.ts';

/** A built-in scaled down to about `stores` stores (phases scaled proportionally). */
function small(name: string, stores: number): Scenario {
  const s = loadScenario(name);
  const w = s.workload;
  if (w.pattern === 'trace') return s;
  if (w.pattern === 'phases') {
    const f = stores / w.stores;
    for (const p of w.phases) p.stores = Math.max(1, Math.round(p.stores * f));
    w.stores = w.phases.reduce((a, p) => a + p.stores, 0);
  } else w.stores = Math.min(w.stores, stores);
  return s;
}

function expectClean(r: RunResult): void {
  for (const m of r.methods) {
    expect(m.missed, `${r.scenario.name}/${m.method} missed`).toBe(0);
    expect(m.coherent, `${r.scenario.name}/${m.method} coherent`).toBe(true);
    expect(m.tracked).toBeGreaterThanOrEqual(m.pagesWritten);
    expect(m.pagesWritten).toBeGreaterThan(0);
  }
  expect(r.ok).toBe(true);
}

describe('run: coherence end to end for every built-in', () => {
  for (const name of Object.keys(BUILTIN_SCENARIOS)) {
    it(`${name}: every method, no write missed, consumer coherent`, () => {
      const r = runScenarioSync(small(name, 40_000));
      expectClean(r);
      const gpu = r.scenario.consumer === 'gpu';
      expect(r.methods.map((m) => m.method)).toEqual(
        gpu ? ['auto', 'mkwrite', 'pagetable'] : ['deferred-io'],
      );
      if (gpu) {
        const [, mk, pt] = r.methods;
        // same stores, same pages written: only the tracking differs
        expect(mk!.pagesWritten).toBe(pt!.pagesWritten);
        expect(mk!.wpFaults).toBeGreaterThan(pt!.wpFaults);
      }
    });
  }

  it('framebuffer: both worker variants, and per-CPU processes', () => {
    for (const defioVariant of ['mainline', 'page-lock'] as const)
      expectClean(runScenarioSync(small('framebuffer', 30_000), { defioVariant, processes: 'per-cpu' }));
  });

  it('the delayed work fires on the simulated clock between syncs', () => {
    const s = small('framebuffer', 30_000);
    if (s.workload.pattern === 'trace') throw new Error('unexpected');
    s.workload.syncEvery = 0; // no fsync: only the timer (and the last close) flush
    const r = runScenarioSync(s, { storeIntervalNs: 100_000 }); // 30k stores = 3 s simulated
    expectClean(r);
    expect(r.methods[0]!.counters.pagesCopied).toBeGreaterThan(0);
  });

  it('per-CPU processes (each page mapped twice) stay coherent', () => {
    expectClean(runScenarioSync(small('coherent-gpu', 20_000), { processes: 'per-cpu', resourcesPerBo: 3 }));
  });
});

describe('run: the ground-truth check can fail', () => {
  it('transfer-max-bug loses writes of other resources sharing a BO', () => {
    const r = runScenarioSync(small('coherent-gpu', 30_000), {
      boVariant: 'transfer-max-bug',
      resourcesPerBo: 4,
      methods: ['pagetable'],
    });
    expect(r.methods[0]!.missed).toBeGreaterThan(0);
    expect(r.ok).toBe(false);
  });

  it('helpers without a TLB flush miss writes through stale writable TLB entries (R1)', () => {
    const s = small('coherent-gpu', 30_000);
    // a TLB large enough to keep the hot set: with 64 entries the stale entries are evicted first
    s.machine.tlbEntries = 1024;
    const r = runScenarioSync(s, { helperVariant: 'no-tlb-flush', methods: ['mkwrite', 'pagetable'] });
    for (const m of r.methods) expect(m.missed, m.method).toBeGreaterThan(0);
  });
});

describe('run: report shape and determinism', () => {
  it('is a run report (series per method, switches) and byte-identical across runs', () => {
    const a = runScenarioSync(small('phase-change', 60_000));
    const b = runScenarioSync(small('phase-change', 60_000));
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(a.kind).toBe('run-report');
    expect(a.version).toBe(1);
    expect(a.series.map((s) => s.method)).toEqual(['auto', 'mkwrite', 'pagetable']);
    for (const s of a.series) {
      expect(s.points.length).toBeGreaterThan(1);
      expect(s.points.every((p) => Number.isFinite(p.t) && Number.isFinite(p.cost) && p.cost >= 0)).toBe(
        true,
      );
      const total = s.points.reduce((x, p) => x + p.cost, 0);
      const m = a.methods.find((x) => x.method === s.method)!;
      expect(total).toBeCloseTo(m.modelledNs / 1000, 3);
    }
    for (const w of a.switches) expect(w.run).toBe('auto');
  });

  it('phase costs add up to the total', () => {
    const s = small('phase-change', 60_000);
    const r = runScenarioSync(s, { methods: ['pagetable'], phaseBoundaries: [10_000, 40_000] });
    const m = r.methods[0]!;
    expect(m.phaseCostsNs).toHaveLength(3);
    expect(m.phaseCostsNs!.reduce((a, b) => a + b, 0)).toBeCloseTo(m.modelledNs, 3);
  });
});

describe('run: inputs', () => {
  it('an unknown built-in is a ScenarioError listing the built-ins', async () => {
    await expect(runNamed('no-such-scenario')).rejects.toThrow(ScenarioError);
    await expect(runNamed('no-such-scenario')).rejects.toThrow(/coherent-gpu, framebuffer/);
  });

  it('the CLI maps scenario errors to a one-line UsageError naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ds-run-'));
    const f = join(dir, 'bad.json');
    const s = structuredClone(BUILTIN_SCENARIOS['coherent-gpu']!) as unknown as {
      machine: { cpus: unknown };
    };
    s.machine.cpus = 0;
    writeFileSync(f, JSON.stringify(s));
    const err = await runRunCommand(f, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/scenario\.machine\.cpus/);
    expect((err as Error).message).not.toContain('\n');
    await expect(runRunCommand('coherent-gpu', { method: 'fastest' })).rejects.toThrow(/--method/);
  });

  it('replays a trace workload (async path) with the same checks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ds-trace-'));
    const lines = ['{"version":1}'];
    for (let i = 0; i < 200; i++)
      lines.push(`{"op":"store","cpu":${i % 2},"page":${(i * 7) % 40},"offset":${i % 64},"value":${i + 1}}`);
    lines.push('{"op":"sync"}', '{"op":"load","cpu":0,"page":3,"offset":0}');
    for (let i = 0; i < 50; i++)
      lines.push(`{"op":"store","cpu":1,"page":${i % 40},"offset":8,"value":${i + 7}}`);
    writeFileSync(join(dir, 'w.jsonl'), `${lines.join('\n')}\n`);
    const scen = {
      version: 1,
      name: 'trace-test',
      seed: 1,
      machine: { cpus: 2 },
      buffers: [{ name: 'a', pages: 40 }],
      workload: { pattern: 'trace', file: 'w.jsonl' },
      consumer: 'gpu',
    };
    writeFileSync(join(dir, 's.json'), JSON.stringify(scen));
    const r = await runNamed(join(dir, 's.json'));
    expectClean(r);
    expect(r.methods[0]!.stores).toBe(250);
    expect(r.methods[0]!.loads).toBe(1);
    expect(r.methods[0]!.syncs).toBe(2); // the explicit one and the final one
  });

  it('formats a human table with every method and the verdict', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ds-fmt-'));
    const f = join(dir, 's.json');
    writeFileSync(f, JSON.stringify(small('sparse-large', 5_000)));
    const out = await runRunCommand(f, { method: 'pagetable' });
    expect(out.stdout).toMatch(/pagetable/);
    expect(out.stdout).toMatch(/OK: no write missed/);
    expect(out.exitCode).toBe(0);
  });
});
