/**
 * The worked examples under examples/ do what docs/models.md says: the TypeScript driver model
 * passes as written and its planted bug is found (and replays), through the API and through the
 * CLI exactly as a user runs it; the example litmus file likewise. Oracle for the bug: the
 * replayed counterexample trace itself shows a store to the reported page completing after the
 * last consumer sync that delivered that page.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import ringDriver from '../../examples/ring-driver.model.ts';
import { check, replay } from '../../src/checker/check.ts';
import { litmusModel } from '../../src/litmus/build.ts';
import { readLitmusFile } from '../../src/litmus/load.ts';
import type { TraceEvent } from '../../src/trace/schema.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
  });

/** Pages (of the mapping at `base`) with a completed store after their last consumer sync. */
function lostInTrace(events: readonly TraceEvent[], base: number): number[] {
  const lastSync = new Map<number, number>();
  const lastStore = new Map<number, number>();
  events.forEach((e, i) => {
    if (e.kind === 'consumerSync') for (const p of e.pages) lastSync.set(p, i);
    if (e.kind === 'store') lastStore.set(Math.floor((e.addr - base) / 4096), i);
  });
  return [...lastStore]
    .filter(([p, i]) => (lastSync.get(p) ?? -1) < i)
    .map(([p]) => p)
    .sort((a, b) => a - b);
}

describe('examples/ring-driver.model.ts', () => {
  it('mainline: dfs explores every schedule and passes', () => {
    const r = check(ringDriver, 'mainline');
    expect(r.verdict).toBe('pass');
    expect(r.executions).toBeGreaterThan(1);
  });

  it('take-list-first: the planted bug is found, and the replayed trace shows the lost store', () => {
    const r = check(ringDriver, 'take-list-first');
    expect([r.verdict, r.property]).toEqual(['fail', 'no-lost-write']);
    const t = replay(ringDriver, 'take-list-first', r.counterexample!.schedule, { trace: true });
    expect([t.verdict, t.property]).toEqual(['fail', 'no-lost-write']);
    const events = t.trace!.events;
    const v = events.find((e) => e.kind === 'violation');
    const lost = lostInTrace(events, t.trace!.setup.vmas[0]!.start);
    expect(lost.length).toBeGreaterThan(0);
    expect(v?.kind === 'violation' ? v.pages : undefined).toEqual(lost);
  });

  it('the CLI checks it from its path: the bug exits 1 and its replay reproduces it; a pass exits 0', () => {
    const file = 'examples/ring-driver.model.ts';
    const bug = cli('check', file, '--variant', 'take-list-first', '--json');
    expect(bug.status, bug.stderr).toBe(1);
    const res = JSON.parse(bug.stdout) as {
      verdict: string;
      property: string;
      counterexample: { schedule: string };
    };
    expect([res.verdict, res.property]).toEqual(['fail', 'no-lost-write']);
    const rep = cli(
      'replay',
      file,
      '--variant',
      'take-list-first',
      '--schedule',
      res.counterexample.schedule,
      '--json',
    );
    expect(rep.status, rep.stderr).toBe(1);
    expect(JSON.parse(rep.stdout).property).toBe('no-lost-write');
    const ok = cli('check', file, '--strategy', 'random', '--max-executions', '200', '--json');
    expect(ok.status, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout).verdict).toBe('incomplete');
  });
});

describe('examples/consume-first.litmus.json', () => {
  it('mainline passes and the planted bug fails with no-lost-write', async () => {
    const def = litmusModel(await readLitmusFile(join(ROOT, 'examples/consume-first.litmus.json')));
    expect(check(def, 'mainline').verdict).toBe('pass');
    const r = check(def, 'consume-first');
    expect([r.verdict, r.property]).toEqual(['fail', 'no-lost-write']);
  });

  it('the CLI finds the bug (exit 1) and the suite over examples/ matches every expectation (exit 0)', () => {
    const bug = cli('check', 'examples/consume-first.litmus.json', '--variant', 'consume-first');
    expect(bug.status, bug.stderr).toBe(1);
    expect(bug.stdout).toContain('FAIL  no-lost-write');
    const suite = cli('litmus', 'examples');
    expect(suite.status, suite.stderr).toBe(0);
    expect(suite.stdout).toMatch(/2 checks in 1 file: 2 ok, 0 mismatch/);
  });
});
