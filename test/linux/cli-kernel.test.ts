/** `dirtyscope kernel probe|bench`: exit codes, SKIP, one JSON document. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { probeKernel, skipReason } from '../../src/linux/probe.ts';
import { loadCostFile } from '../../src/workload/cost-model.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'dirtyscope.js');
const reason = skipReason(probeKernel());

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('dirtyscope kernel', () => {
  it('probe: SKIP forced -> exit 3, `SKIP: reason`; with --json one document', () => {
    const r = run(['kernel', 'probe'], { DIRTYSCOPE_KERNEL_SKIP: 'because' });
    expect(r.code).toBe(3);
    expect(r.out).toBe('SKIP: forced: DIRTYSCOPE_KERNEL_SKIP is set: because\n');
    const j = run(['kernel', 'probe', '--json'], { DIRTYSCOPE_KERNEL_SKIP: 'because' });
    expect(j.code).toBe(3);
    expect(JSON.parse(j.out)).toMatchObject({ skip: true, stage: 'forced' });
  });

  it('bench: bad --sizes is a one-line usage error, exit 2', () => {
    const r = run(['kernel', 'bench', '--sizes', '0', '--no-out']);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain('--sizes');
  });

  it.skipIf(reason !== null)(
    `probe on this machine reports every stage checked${reason ? ` [SKIP: ${reason}]` : ''}`,
    () => {
      const r = run(['kernel', 'probe', '--json']);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.out);
      expect(j.ok).toBe(true);
      expect(j.facts.missingFeatures).toEqual([]);
    },
  );

  it.skipIf(reason !== null)(
    `bench --json writes a cost file the cost model loads${reason ? ` [SKIP: ${reason}]` : ''}`,
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'dirtyscope-kb-'));
      try {
        const out = join(dir, 'costs.json');
        const r = run(['kernel', 'bench', '--json', '--quick', '--sizes', '8', '--out', out]);
        expect(r.code).toBe(0);
        const j = JSON.parse(r.out);
        expect(
          j.rows.map((x: { op: string; writtenPct?: number }) => `${x.op}${x.writtenPct ?? ''}`),
        ).toEqual([
          'writeProtect',
          'scanReprotect0',
          'scanReprotect1',
          'scanReprotect10',
          'scanReprotect100',
          'wpFault',
        ]);
        for (const row of j.rows) {
          expect(row.kernel).toBeGreaterThan(0);
          expect(row.model).toBeGreaterThan(0); // the model side (src/linux/model-bench.ts)
          expect(row.ratio).toBeCloseTo(row.model / row.kernel);
        }
        const loaded = loadCostFile(out);
        expect(Object.keys(loaded.costs).sort()).toEqual([
          'scanNsPerPage',
          'scanNsPerWrittenPage',
          'wpFaultNs',
          'wpWalkNsPerPage',
        ]);
        expect(loaded.measuredOn).toContain('Linux');
        expect(JSON.parse(readFileSync(out, 'utf8')).wpFaultNs).toBe(j.costs.wpFaultNs);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
