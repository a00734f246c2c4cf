/**
 * `dirtyscope litmus`: a folder as a regression suite. Expectations as written pass (exit 0); a
 * file whose expectation contradicts the checker is a MISMATCH row and exit 1; a bad file is one
 * line and exit 2 before anything is checked. Oracle for the verdicts: the catalogue's expected
 * verdicts for the same story (ro-shared-first: mainline fails wp-complete, walk-continue passes).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runLitmusCommand } from '../../src/cli/cmd-litmus.ts';
import { UsageError } from '../../src/cli/errors.ts';
import { MODELS } from '../../src/models/catalogue.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'litmus', 'ro-shared-first.litmus.json');
const dir = mkdtempSync(join(tmpdir(), 'dirtyscope-litmus-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function folder(name: string, mutate?: (doc: { variants: { expect: object }[] }) => void): string {
  const d = join(dir, name);
  mkdirSync(d);
  if (mutate === undefined) cpSync(SRC, join(d, 'ro-shared-first.litmus.json'));
  else {
    const doc = JSON.parse(readFileSync(SRC, 'utf8'));
    mutate(doc);
    writeFileSync(join(d, 'ro-shared-first.litmus.json'), JSON.stringify(doc));
  }
  return d;
}

describe('dirtyscope litmus', () => {
  it('expectations as written: every row ok, exit 0, verdicts as the catalogue expects', async () => {
    const out = await runLitmusCommand([folder('good')], { json: true });
    expect(out.exitCode).toBe(0);
    const rows = JSON.parse(out.stdout).rows as {
      variant: string;
      verdict: string;
      property?: string;
      status: string;
    }[];
    const cat = MODELS.find((m) => m.name === 'ro-shared-first')!;
    expect(rows.map((r) => [r.variant, r.verdict, r.property, r.status])).toEqual(
      cat.variants.map((v) => [v.name, v.expected.verdict, v.expected.property, 'ok']),
    );
  });

  it('a contradicted expectation is a MISMATCH row and exit 1', async () => {
    const d = folder('bad', (doc) => {
      doc.variants[0]!.expect = { verdict: 'pass' };
    });
    const out = await runLitmusCommand([d], {});
    expect(out.exitCode).toBe(1);
    expect(out.stdout).toMatch(/ro-shared-first\s+mainline\s+pass\s+fail \(wp-complete\).*MISMATCH/);
    expect(out.stdout).toMatch(/2 checks in 1 file: 1 ok, 1 mismatch/);
  });

  it('a sampling strategy leaves a pass unconfirmed (not a mismatch) and still finds the failure', async () => {
    const out = await runLitmusCommand([folder('random')], {
      strategy: 'random',
      maxExecutions: '300',
      json: true,
    });
    const rows = JSON.parse(out.stdout).rows as { variant: string; status: string }[];
    expect(rows.map((r) => [r.variant, r.status])).toEqual([
      ['mainline', 'ok'],
      ['walk-continue', 'unconfirmed'],
    ]);
    expect(out.exitCode).toBe(0);
  });

  it('bad input is a UsageError naming the file (folder without litmus files, invalid file, bad option)', async () => {
    const empty = join(dir, 'empty');
    mkdirSync(empty);
    await expect(runLitmusCommand([empty], {})).rejects.toThrow(/no \*\.litmus\.json files/);
    const d = folder('invalid', (doc) => {
      doc.variants[0]!.expect = { verdict: 'maybe' };
    });
    await expect(runLitmusCommand([d], {})).rejects.toThrow(UsageError);
    await expect(runLitmusCommand([d], {})).rejects.toThrow(/variants\.0\.expect\.verdict/);
    await expect(runLitmusCommand([folder('opt')], { strategy: 'bfs' })).rejects.toThrow(/unknown strategy/);
  });

  it('the spawned CLI: exit 1 on a mismatch, exit 2 with one stderr line on a bad file', () => {
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'litmus', ...args], {
        cwd: ROOT,
        encoding: 'utf8',
      });
    const mm = cli(join(dir, 'bad'));
    expect(mm.status, mm.stderr).toBe(1);
    const bad = cli(join(dir, 'invalid'));
    expect(bad.status).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
