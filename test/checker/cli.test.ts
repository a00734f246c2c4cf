/**
 * The list/check/replay commands, driven through their logic functions with an injected toy
 * catalogue (the real MODELS has no toys), plus spawn tests of the real binary entry.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCheckCommand } from '../../src/cli/cmd-check.ts';
import { runListCommand } from '../../src/cli/cmd-list.ts';
import { runReplayCommand } from '../../src/cli/cmd-replay.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { MODELS } from '../../src/models/catalogue.ts';
import { readTraceFile } from '../../src/trace/io.ts';
import { ALL_TOYS } from './toys.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('list', () => {
  it('--json lists every model, variant and expected verdict', () => {
    const out = runListCommand(ALL_TOYS, { json: true });
    expect(out.exitCode).toBe(0);
    const doc = JSON.parse(out.stdout) as {
      models: Array<{ name: string; variants: Array<{ name: string }> }>;
    };
    expect(doc.models.map((m) => m.name)).toEqual(ALL_TOYS.map((m) => m.name));
    expect(doc.models[0]!.variants.map((v) => v.name)).toEqual(['racy', 'atomic', 'locked']);
    expect(out.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('human output names expected failures with their property', () => {
    const out = runListCommand(ALL_TOYS, {});
    expect(out.stdout).toMatch(/racy\s+expect fail \(no-lost-update\)/);
    expect(runListCommand([], {}).stdout).toContain('No models');
  });
});

describe('check', () => {
  it('exit 1 on a violation, with a replayable schedule in the JSON', async () => {
    const out = await runCheckCommand(ALL_TOYS, 'counter', { variant: 'racy', json: true });
    expect(out.exitCode).toBe(1);
    const r = JSON.parse(out.stdout);
    expect(r).toMatchObject({
      verdict: 'fail',
      property: 'no-lost-update',
      model: 'counter',
      variant: 'racy',
    });
    const rep = await runReplayCommand(ALL_TOYS, 'counter', {
      variant: 'racy',
      schedule: r.counterexample.schedule,
      json: true,
    });
    expect(rep.exitCode).toBe(1);
    expect(JSON.parse(rep.stdout)).toMatchObject({ verdict: 'fail', property: 'no-lost-update' });
  });

  it('exit 0 on pass and on incomplete (and says so)', async () => {
    const pass = await runCheckCommand(ALL_TOYS, 'counter', { variant: 'locked' });
    expect(pass.exitCode).toBe(0);
    expect(pass.stdout).toContain('PASS');
    const inc = await runCheckCommand(ALL_TOYS, 'counter', {
      variant: 'locked',
      strategy: 'random',
      maxExecutions: '20',
    });
    expect(inc.exitCode).toBe(0);
    expect(inc.stdout).toContain('INCOMPLETE');
    expect(inc.result.executions).toBe(20);
  });

  it('defaults to mainline, else the first variant', async () => {
    expect((await runCheckCommand(ALL_TOYS, 'crash', {})).result.variant).toBe('mainline');
    expect((await runCheckCommand(ALL_TOYS, 'counter', {})).result.variant).toBe('racy');
  });

  it('passes options through: strategy, seed, preemption bound, reduction, max steps, pct depth', async () => {
    const r = (
      await runCheckCommand(ALL_TOYS, 'counter', {
        variant: 'locked',
        preemptionBound: '0',
        reduction: false,
        maxSteps: '50',
      })
    ).result;
    expect(r).toMatchObject({ verdict: 'pass', preemptionBound: 0, reduction: false, executions: 2 });
    const p = (
      await runCheckCommand(ALL_TOYS, 'deadlock', {
        variant: 'abba',
        strategy: 'pct',
        seed: '7',
        pctDepth: '2',
      })
    ).result;
    expect(p).toMatchObject({ strategy: 'pct', seed: 7, pctDepth: 2, verdict: 'fail' });
    const l = await runCheckCommand(ALL_TOYS, 'livelock', { variant: 'spin', maxSteps: '40' });
    expect(l.result.counterexample!.steps).toBe(40);
    // The suggested replay command carries the step bound, and replays the same failure.
    expect(l.stdout).toContain(`--schedule ${l.result.counterexample!.schedule} --max-steps 40 `);
    const rep = await runReplayCommand(ALL_TOYS, 'livelock', {
      variant: 'spin',
      schedule: l.result.counterexample!.schedule,
      maxSteps: '40',
    });
    expect(rep.result).toMatchObject({ verdict: 'fail', property: 'livelock', steps: 40 });
  });

  it('bad input is a UsageError (exit 2) naming the problem', async () => {
    const bad: Array<[string, Parameters<typeof runCheckCommand>[2], RegExp]> = [
      ['nosuch', {}, /unknown model 'nosuch' \(models: counter, deadlock/],
      ['counter', { variant: 'x' }, /no variant 'x' \(variants: racy, atomic, locked\)/],
      ['counter', { strategy: 'bfs' }, /unknown strategy 'bfs'/],
      [
        'counter',
        { maxExecutions: '-1' },
        /--max-executions must be an integer in 1\.\.1000000000, got '-1'/,
      ],
      ['counter', { seed: '1.5' }, /--seed must be/],
      ['counter', { time: '0' }, /--time must be a positive number/],
      ['counter', { pctDepth: '0' }, /--pct-depth must be an integer in 1\.\.64, got '0'/],
      ['counter', { maxSteps: '0' }, /--max-steps must be an integer in 1\.\.1000000, got '0'/],
    ];
    for (const [model, args, msg] of bad) {
      const p = runCheckCommand(ALL_TOYS, model, args);
      await expect(p).rejects.toBeInstanceOf(UsageError);
      await expect(p).rejects.toThrow(msg);
    }
    await expect(runCheckCommand([], 'x', {})).rejects.toThrow(/the catalogue is empty/);
  });

  it('--trace writes the counterexample trace, identical to what replay writes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ds-check-'));
    const a = join(dir, 'check.json');
    const b = join(dir, 'replay.json');
    const c = await runCheckCommand(ALL_TOYS, 'deadlock', { variant: 'abba', trace: a });
    await runReplayCommand(ALL_TOYS, 'deadlock', {
      variant: 'abba',
      schedule: c.result.counterexample!.schedule,
      trace: b,
    });
    expect(readFileSync(a, 'utf8')).toBe(readFileSync(b, 'utf8'));
    expect((await readTraceFile(b)).property).toBe('deadlock');
    // Atomic write: no temporary file left behind.
    expect(readdirSync(dir).sort()).toEqual(['check.json', 'replay.json']);
  });

  it('reports progress through the injected writer on long runs', async () => {
    const lines: string[] = [];
    await runCheckCommand(
      ALL_TOYS,
      'counter',
      { variant: 'locked', strategy: 'random', time: '0.7', maxExecutions: '100000000' },
      {
        progress: (l) => lines.push(l),
      },
    );
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/^checking: [\d,]+ executions, [\d,]+\/s, \d+\.\d s$/);
  });
});

describe('replay', () => {
  it('bad schedules are UsageErrors', async () => {
    await expect(runReplayCommand(ALL_TOYS, 'counter', { variant: 'racy', schedule: 'zz' })).rejects.toThrow(
      /bad schedule 'zz': must start with 'v1:'/,
    );
    await expect(
      runReplayCommand(ALL_TOYS, 'counter', { variant: 'racy', schedule: 'v1:D' }),
    ).rejects.toBeInstanceOf(UsageError);
    await expect(
      runReplayCommand(ALL_TOYS, 'counter', {
        variant: 'racy',
        schedule: 'v1:',
        trace: '/nonexistent-dir/x.json',
      }),
    ).rejects.toThrow(/--trace \/nonexistent-dir\/x\.json: directory \/nonexistent-dir does not exist/);
  });

  it('exit 0 for a passing schedule; human output shows the full schedule', async () => {
    const r = await runReplayCommand(ALL_TOYS, 'counter', { variant: 'racy', schedule: 'v1:' });
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('schedule v1:A2');
  });
});

describe('spawned CLI', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
    });

  it('list --json exits 0 with one JSON document', () => {
    const r = cli('list', '--json');
    expect(r.status).toBe(0);
    expect(Array.isArray(JSON.parse(r.stdout).models)).toBe(true);
  });

  it('check of a catalogue bug variant exits 1 with one JSON document; replay reproduces it', () => {
    const m = MODELS.find((d) => d.variants.some((v) => v.expected.verdict === 'fail'));
    expect(m).toBeDefined();
    const v = m!.variants.find((x) => x.expected.verdict === 'fail')!;
    const r = cli('check', m!.name, '--variant', v.name, '--json');
    expect(r.status).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ verdict: 'fail', property: v.expected.property });
    const rep = cli(
      'replay',
      m!.name,
      '--variant',
      v.name,
      '--schedule',
      doc.counterexample.schedule,
      '--json',
    );
    expect(rep.status).toBe(1);
    expect(JSON.parse(rep.stdout)).toMatchObject({ verdict: 'fail', property: v.expected.property });
  });

  it('check nosuchmodel exits 2 with a one-line error', () => {
    const r = cli('check', 'nosuchmodel');
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain("unknown model 'nosuchmodel'");
  });
});
