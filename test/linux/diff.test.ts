/**
 * Differential runs (src/linux/diff.ts): the generator is deterministic and stays inside the
 * comparable contract; the model agrees with the contract reference (everywhere) and with the
 * real kernel (where the probe allows); a planted model bug is found and shrunk to a 1-minimal
 * sequence; the CLI's exit codes and SKIP.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatDiff, formatOp } from '../../src/cli/format/kernel-diff.ts';
import { generateCase, REQUIRED_COVERAGE, runCase, runDiff, sameData, shrink } from '../../src/linux/diff.ts';
import { ModelBackend, type ModelRegion } from '../../src/linux/model-backend.ts';
import { isComparable } from '../../src/linux/ops.ts';
import { probeKernel, skipReason } from '../../src/linux/probe.ts';
import { KernelBackend } from '../../src/linux/real-backend.ts';
import type {
  OpenOptions,
  OpOutcome,
  ScanOutcome,
  ScanRequest,
  TrackingBackend,
} from '../../src/linux/tracking.ts';
import { RefBackend } from './contract-ref.ts';

const reason = skipReason(probeKernel());
const BIN = join(import.meta.dirname, '..', '..', 'bin', 'dirtyscope.js');

/** The model with a planted bug: MADV_DONTNEED does nothing (and says ok). */
class NoDontneedBackend implements TrackingBackend {
  readonly name = 'mutant';
  private readonly inner = new ModelBackend();
  open(pages: number, opts?: OpenOptions): ModelRegion {
    const r = this.inner.open(pages, opts);
    r.dontneed = (): OpOutcome => ({ ok: true });
    return r;
  }
}

/** The model with a planted bug that only a big answer shows: a scan drops its 601st region and beyond. */
class TruncatingBackend implements TrackingBackend {
  readonly name = 'truncating';
  private readonly inner = new ModelBackend();
  open(pages: number, opts?: OpenOptions): ModelRegion {
    const r = this.inner.open(pages, opts);
    const scan = r.scan.bind(r);
    r.scan = (req: ScanRequest): ScanOutcome => {
      const x = scan(req);
      return x.ok && x.regions.length > 600 ? { ...x, regions: x.regions.slice(0, 600) } : x;
    };
    return r;
  }
}

describe('generator coverage (the fast version of the default run: fixed seed, model on both sides)', () => {
  // coverage counts come from side a's results; the model answers as the kernel does (the
  // kernel-vs-model run below and `kernel diff` check that), so this fixes the generator's reach
  const r = runDiff(new ModelBackend(), new ModelBackend(), { sequences: 300, length: 50, seed: 2 });

  it('reaches every listed boundary in 300 sequences of seed 2', () => {
    expect(r.agreed).toBe(true);
    expect(r.coverage.missing).toEqual([]);
    for (const key of REQUIRED_COVERAGE) expect(r.coverage.counts[key], key).toBeGreaterThan(0);
  });

  it('thousands of regions: scans beyond 2048 and 4096, resumption loops beyond the 512-region batch', () => {
    expect(r.coverage.counts['scan.regions>=4096']).toBeGreaterThanOrEqual(1);
    expect(r.coverage.counts['scan.regions>=2048']).toBeGreaterThanOrEqual(2);
    expect(r.coverage.counts['scan.regions>512']).toBeGreaterThanOrEqual(5);
    expect(r.coverage.counts['resume.regions>512']).toBeGreaterThanOrEqual(5);
  });

  it('compares results, faults and pagemap flags when both sides have them', () => {
    expect(r.compared).toEqual(['result', 'faults', 'pagemap']);
    const withRef = runDiff(new RefBackend(), new ModelBackend(), { sequences: 2, length: 5, seed: 1 });
    expect(withRef.compared).toEqual(['result']);
  });

  it('a run that misses boundaries says which (fixed 4-page regions reach no big answer)', () => {
    const small = runDiff(new ModelBackend(), new ModelBackend(), {
      sequences: 20,
      length: 20,
      seed: 1,
      pages: 4,
    });
    expect(small.coverage.missing).toContain('scan.regions>512');
    expect(small.coverage.missing).toContain('region.pages=262144');
    expect(formatDiff(small)).toMatch(/COVERAGE MISSING \d+ of \d+: .*scan\.regions>512/);
    expect(formatDiff(r)).toContain(`every listed boundary exercised (${REQUIRED_COVERAGE.length} features)`);
  });
});

describe('sequence generator', () => {
  it('is deterministic per (seed, index) and independent of other sequences', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.integer({ min: 0, max: 10_000 }),
        (seed, i) => {
          expect(generateCase(seed, i, 20)).toEqual(generateCase(seed, i, 20));
          expect(generateCase(seed, i, 20)).not.toEqual(generateCase(seed, i + 1, 20));
        },
      ),
      { numRuns: 50 },
    );
  });

  it('never leaves the comparable contract, and stays in the region', () => {
    for (let i = 0; i < 400; i++) {
      const c = generateCase(3, i, 50);
      expect(c.pages).toBeGreaterThanOrEqual(1);
      expect(c.pages).toBeLessThanOrEqual(262144);
      for (const op of c.ops) {
        expect(isComparable(op)).toBe(true);
        if (op.k === 'store' || op.k === 'load') expect(op.p).toBeLessThan(c.pages);
        else if (op.k === 'scan' || op.k === 'scanAll') expect(op.req.endPage).toBeLessThanOrEqual(c.pages);
        else expect(op.s + op.n).toBeLessThanOrEqual(c.pages);
      }
    }
  });

  it('produces every kind of operation, scans with and without WP_MATCHING and with cut-offs', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 50; i++)
      for (const op of generateCase(9, i, 50).ops) {
        seen.add(op.k);
        if (op.k === 'scan') {
          seen.add((op.req.flags ?? 0) & 1 ? 'scan+wp' : 'scan-wp');
          if (op.req.maxPages) seen.add('maxPages');
          if (op.req.vecLen !== undefined) seen.add('vecLen');
        }
      }
    expect([...seen].sort()).toEqual(
      [
        'store',
        'load',
        'fill',
        'wp',
        'unprotect',
        'scan',
        'scanAll',
        'touch',
        'scan+wp',
        'scan-wp',
        'maxPages',
        'vecLen',
        'mprotect',
        'dontneed',
        'unmap',
        'remap',
      ].sort(),
    );
  });

  it('sameData is structural equality, whatever the key order', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (x) => {
        expect(sameData(x, structuredClone(x))).toBe(true);
      }),
    );
    expect(sameData({ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 })).toBe(true);
    expect(sameData({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(sameData([1, 2], [2, 1])).toBe(false);
  });
});

describe('model vs the contract reference (runs everywhere)', () => {
  it('300 sequences of 50 operations agree', () => {
    const r = runDiff(new RefBackend(), new ModelBackend(), { sequences: 300, length: 50, seed: 11 });
    expect(r.mismatch).toBeNull();
    expect(r).toMatchObject({ agreed: true, ran: 300, ops: 300 * 50 });
  });
});

describe.skipIf(reason !== null)(`model vs the real kernel${reason ? ` [SKIP: ${reason}]` : ''}`, () => {
  it('300 sequences of 50 operations agree', () => {
    const r = runDiff(new KernelBackend(), new ModelBackend(), { sequences: 300, length: 50, seed: 5 });
    expect(r.mismatch).toBeNull();
    expect(r.agreed).toBe(true);
  });
});

describe('a bug seen only in a big answer shrinks to something readable', () => {
  const report = runDiff(new ModelBackend(), new TruncatingBackend(), {
    sequences: 400,
    length: 50,
    seed: 2,
  });

  it('is found, and shrinks to a few operations on a small region', () => {
    expect(report.agreed).toBe(false);
    const m = report.mismatch!;
    expect(m.ops.length).toBeLessThanOrEqual(3);
    expect(m.pages).toBeLessThan(m.originalPages);
    expect(m.pages).toBeLessThanOrEqual(4096);
    // still the big answer: the first difference is a scan with more than 600 regions
    const d = m.steps[m.firstDiff]!;
    expect(d.op?.k === 'scan' || d.op?.k === 'scanAll' || d.op === null).toBe(true);
  });

  it('the human report stays short: long region lists are elided', () => {
    const text = formatDiff(report);
    expect(text).toContain('more)…');
    for (const line of text.split('\n')) expect(line.length).toBeLessThan(2500);
    expect(text.split('\n').length).toBeLessThan(40);
  });
});

describe('a planted bug is found and shrunk', () => {
  const report = runDiff(new ModelBackend(), new NoDontneedBackend(), {
    sequences: 200,
    length: 50,
    seed: 2,
  });

  it('the run stops at the first mismatching sequence', () => {
    expect(report.agreed).toBe(false);
    const m = report.mismatch!;
    expect(report.ran).toBe(m.index + 1);
    expect(m.ops.length).toBeLessThan(m.originalLength);
  });

  it('the shrunk sequence is 1-minimal: it mismatches, and dropping any one operation agrees', () => {
    const m = report.mismatch!;
    const model = new ModelBackend();
    const mutant = new NoDontneedBackend();
    const c = { pages: m.pages, shared: m.shared };
    expect(runCase(model, mutant, { ...c, ops: m.ops })).toBeGreaterThanOrEqual(0);
    expect(m.pages).toBeLessThanOrEqual(m.originalPages);
    for (let i = 0; i < m.ops.length; i++) {
      const fewer = m.ops.slice(0, i).concat(m.ops.slice(i + 1));
      expect(runCase(model, mutant, { ...c, ops: fewer }), `without op ${i}`).toBe(-1);
    }
    // the smallest witness of a missing DONTNEED: populate a page, then drop it
    expect(m.ops).toHaveLength(2);
    expect(m.ops[1]!.k).toBe('dontneed');
    expect(m.steps[m.firstDiff]!.a).not.toEqual(m.steps[m.firstDiff]!.b);
  });

  it('shrink is deterministic', () => {
    const m = report.mismatch!;
    const c = generateCase(2, m.index, 50);
    const again = shrink(new ModelBackend(), new NoDontneedBackend(), c);
    expect(again.ops).toEqual(m.ops);
    expect(again.pages).toBe(m.pages);
  });

  it('the human report shows the sequence and both outputs of the first difference', () => {
    const text = formatDiff(report);
    expect(text).toContain(`MISMATCH in sequence ${report.mismatch!.index}`);
    expect(text).toContain('>>');
    expect(text).toMatch(/\n\s+model\s*: /);
    expect(text).toMatch(/\n\s+mutant\s*: /);
    for (const op of report.mismatch!.ops) expect(text).toContain(formatOp(op));
  });
});

describe('dirtyscope kernel diff', () => {
  const run = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [BIN, 'kernel', 'diff', ...args], {
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('SKIP when the kernel backend cannot run: exit 3, never a pass', () => {
    const r = run(['--sequences', '5'], { DIRTYSCOPE_KERNEL_SKIP: 'test' });
    expect(r.code).toBe(3);
    expect(r.out).toMatch(/^SKIP: /);
    const j = run(['--sequences', '5', '--json'], { DIRTYSCOPE_KERNEL_SKIP: 'test' });
    expect(j.code).toBe(3);
    expect(JSON.parse(j.out)).toMatchObject({ skip: true });
  });

  it('bad input is a one-line usage error, exit 2', () => {
    const r = run(['--length', 'x']);
    expect(r.code).toBe(2);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });

  it.skipIf(reason !== null)(
    `agrees on a small run, one JSON document, same seed same bytes${reason ? ` [SKIP: ${reason}]` : ''}`,
    () => {
      const a = run(['--sequences', '40', '--length', '30', '--seed', '4', '--json']);
      expect(a.code).toBe(0);
      const j = JSON.parse(a.out);
      expect(j).toMatchObject({ agreed: true, ran: 40, backends: ['kernel', 'model'] });
      expect(j.compared).toEqual(['result', 'faults', 'pagemap']);
      expect(j.coverage.missing.length).toBeGreaterThan(0); // 40 short sequences cannot reach all
      expect(Object.keys(j.coverage.counts).length).toBeGreaterThan(20);
      expect(run(['--sequences', '40', '--length', '30', '--seed', '4', '--json']).out).toBe(a.out);
    },
  );
});
