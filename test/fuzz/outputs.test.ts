/**
 * Output files on a full filesystem and on refused targets. A 64 KiB tmpfs is mounted (root
 * only; SKIP with the reason elsewhere, or a failure with DIRTYSCOPE_REQUIRE=tmpfs), a valid old
 * file is put there, the rest is filled, and each output option writes onto it: the command must
 * fail with exit 2 and one line, the old file must be intact byte for byte, and no temporary file
 * may be left behind. Targets that are not regular files are refused before any work.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/cli/errors.ts';
import { checkOutputDir, checkOutputFile, writeFileAtomic } from '../../src/cli/outputs.ts';
import { requireOrSkip } from '../capability.ts';
import { badInputProblem, runCli } from './harness.ts';

const root = mkdtempSync(join(tmpdir(), 'dirtyscope-out-'));
const mnt = join(root, 'tiny');
mkdirSync(mnt);

function tryMount(): string | null {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'mounting a tmpfs needs root';
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt], { stdio: 'pipe' });
    return null;
  } catch (e) {
    return `mount -t tmpfs failed: ${(e as Error).message.split('\n')[0]}`;
  }
}
const mountReason = tryMount();
const cap = requireOrSkip('tmpfs', mountReason);

const OLD = '{"old":"valid file"}\n';

/** Fill the filesystem of `dir` until a write fails with ENOSPC. */
function fill(dir: string): void {
  const chunk = Buffer.alloc(4096, 1);
  for (let i = 0; i < 100; i++) {
    try {
      writeFileSync(join(dir, `filler-${i}`), chunk);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return;
      throw e;
    }
  }
  throw new Error('could not fill the tmpfs');
}

describe.skipIf(cap.skip)(`outputs on a full filesystem${cap.label}`, () => {
  const target = join(mnt, 'out.json');
  beforeAll(() => {
    writeFileSync(target, OLD);
    fill(mnt);
  });
  afterAll(() => {
    try {
      execFileSync('umount', [mnt]);
    } catch {
      // already unmounted
    }
  });

  const intact = () => {
    expect(readFileSync(target, 'utf8')).toBe(OLD);
    expect(readdirSync(mnt).filter((f) => f.includes('.tmp-'))).toEqual([]);
  };

  it('writeFileAtomic (study --out, kernel bench --out): ENOSPC is one UsageError, the old file intact', () => {
    expect(() => writeFileAtomic(target, 'x'.repeat(200_000), '--out')).toThrow(UsageError);
    expect(() => writeFileAtomic(target, 'x'.repeat(200_000), '--out')).toThrow(/--out .*ENOSPC/);
    intact();
  });

  it('check --trace: exit 2, one line, the old file intact', async () => {
    const r = await runCli(['check', 'wp-vs-writer', '--variant', 'no-tlb-flush', '--trace', target]);
    expect(badInputProblem(r)).toBe(null);
    expect(r.stderr).toMatch(/ENOSPC/);
    intact();
  });

  it('replay --trace: exit 2, one line, the old file intact', async () => {
    const c = await runCli(['check', 'wp-vs-writer', '--variant', 'no-tlb-flush', '--json']);
    const schedule = (JSON.parse(c.stdout) as { counterexample: { schedule: string } }).counterexample
      .schedule;
    const r = await runCli([
      'replay',
      'wp-vs-writer',
      '--variant',
      'no-tlb-flush',
      '--schedule',
      schedule,
      '--trace',
      target,
    ]);
    expect(badInputProblem(r)).toBe(null);
    intact();
  });
});

describe('output targets are checked before any work', () => {
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('a device, a directory, a FIFO, a missing directory: refused with the flag named', () => {
    const fifo = join(root, 'fifo');
    execFileSync('mkfifo', [fifo]);
    for (const p of ['/dev/null', root, fifo, join(root, 'no', 'such', 'x.json')]) {
      expect(() => checkOutputFile(p, '--trace')).toThrow(UsageError);
      expect(() => checkOutputFile(p, '--trace')).toThrow(/^--trace /);
    }
    expect(statSync('/dev/null').isCharacterDevice()).toBe(true);
    expect(() => checkOutputFile(join(root, 'new.json'), '--out')).not.toThrow();
  });

  it('an output directory: created if missing, refused if a file or if its files are not regular', () => {
    expect(() => checkOutputDir(join(root, 'a', 'b'), '--out', ['x.svg'])).not.toThrow();
    writeFileSync(join(root, 'file'), 'x');
    expect(() => checkOutputDir(join(root, 'file'), '--out', [])).toThrow(/not a directory/);
    mkdirSync(join(root, 'd', 'x.svg'), { recursive: true });
    expect(() => checkOutputDir(join(root, 'd'), '--out', ['x.svg'])).toThrow(/is a directory/);
  });
});
