import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/cli/cmd-demo.ts';
import { runOptions, runRunCommand } from '../../src/cli/cmd-run.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { formatDemo } from '../../src/cli/format/run.ts';
import { loadScenario } from '../../src/workload/scenario.ts';

describe('run command', () => {
  it('--json prints exactly one JSON document, a run report', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ds-cli-'));
    const s = loadScenario('framebuffer');
    if (s.workload.pattern !== 'trace') s.workload.stores = 5_000;
    writeFileSync(join(dir, 'fb.json'), JSON.stringify(s));
    const out = await runRunCommand(join(dir, 'fb.json'), { json: true });
    expect(out.stdout.trim().split('\n')).toHaveLength(1);
    const doc = JSON.parse(out.stdout) as { kind: string; methods: { method: string; missed: number }[] };
    expect(doc.kind).toBe('run-report');
    expect(doc.methods.map((m) => m.method)).toEqual(['deferred-io']);
    expect(out.exitCode).toBe(0);
  });

  it('validates options', () => {
    expect(runOptions({}).methods).toEqual(['auto', 'mkwrite', 'pagetable']);
    expect(runOptions({ method: 'mkwrite' }).methods).toEqual(['mkwrite']);
    expect(() => runOptions({ method: 'fast' })).toThrow(UsageError);
    expect(() => runOptions({ resources: '0' })).toThrow(/--resources/);
    expect(() => runOptions({ boVariant: 'x' })).toThrow(/transfer-max-bug/);
    expect(() => runOptions({ helperVariant: 'x' })).toThrow(/no-tlb-flush/);
    expect(runOptions({ processes: 'per-cpu', defioVariant: 'page-lock' })).toMatchObject({
      processes: 'per-cpu',
      defioVariant: 'page-lock',
    });
  });

  it('exit code 1 when a write is missed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ds-cli-'));
    const s = loadScenario('coherent-gpu');
    if (s.workload.pattern !== 'trace') s.workload.stores = 20_000;
    writeFileSync(join(dir, 'g.json'), JSON.stringify(s));
    const out = await runRunCommand(join(dir, 'g.json'), {
      method: 'pagetable',
      boVariant: 'transfer-max-bug',
      resources: '4',
    });
    expect(out.exitCode).toBe(1);
    expect(out.stdout).toMatch(/FAIL/);
  });
});

describe('demo', () => {
  it('runs both clients end to end, coherent, with a summary', () => {
    const d = runDemo();
    expect(d.ok).toBe(true);
    expect(d.runs.map((r) => r.scenario.name)).toEqual(['coherent-gpu', 'framebuffer']);
    const txt = formatDemo(d);
    expect(txt).toMatch(/Demo OK/);
    expect(txt).toMatch(/In short: mkwrite took/);
  }, 120_000);
});
