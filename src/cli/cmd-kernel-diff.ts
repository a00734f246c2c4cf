/**
 * `dirtyscope kernel diff [--sequences N] [--length L] [--seed S] [--pages P]
 * [--model-variant V] [--json]`: run seeded random operation sequences on the real kernel and
 * on the model, compare every observable per operation (results, faults, pagemap flags), print
 * the coverage report, and on a mismatch print the shortest sequence that still shows it
 * (exit 1). SKIP (exit 3) when the kernel backend cannot run here. Attaches itself to the
 * `kernel` command (cmd-kernel.ts).
 */
import type { Command } from 'commander';
import { runDiff } from '../linux/diff.ts';
import { ModelBackend } from '../linux/model-backend.ts';
import { probeKernel } from '../linux/probe.ts';
import { KernelBackend } from '../linux/real-backend.ts';
import { kernelCommand, skipOut } from './cmd-kernel.ts';
import { EXIT_VIOLATION, UsageError } from './errors.ts';
import { formatDiff } from './format/kernel-diff.ts';

function int(name: string, text: string, min: number, max: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new UsageError(`${name}: '${text}' is not a whole number in ${min}..${max}`);
  }
  return v;
}

interface DiffCliOptions {
  sequences: string;
  length: string;
  seed: string;
  pages?: string;
  modelVariant: string;
  json?: boolean;
  progress?: boolean;
}

export function register(program: Command): void {
  kernelCommand(program)
    .command('diff')
    .description('random operation sequences on the real kernel and the model: results must be identical')
    .option('--sequences <n>', 'number of sequences', '1000')
    .option('--length <l>', 'operations per sequence', '50')
    .option('--seed <s>', 'PRNG seed', '1')
    .option('--pages <p>', 'region size in pages (default: a random mix of 1..2^18, see docs/kernel-diff.md)')
    .option(
      '--model-variant <v>',
      'mainline (the model of Linux 6.18) or documented (PAGEMAP_SCAN walk_end as documented)',
      'mainline',
    )
    .option('--json', 'print one JSON document')
    .option('--no-progress', 'no progress lines on stderr')
    .action((opts: DiffCliOptions) => {
      const sequences = int('--sequences', opts.sequences, 1, 10_000_000);
      const length = int('--length', opts.length, 1, 100_000);
      const seed = int('--seed', opts.seed, 0, 0xffffffff);
      const pages = opts.pages === undefined ? undefined : int('--pages', opts.pages, 1, 1 << 18);
      const variant = opts.modelVariant;
      if (variant !== 'mainline' && variant !== 'documented')
        throw new UsageError(`--model-variant: '${variant}' is not mainline or documented`);
      const json = opts.json ?? false;
      const probe = probeKernel();
      if (!probe.ok) return skipOut(probe, json);
      const quiet = json || opts.progress === false;
      const report = runDiff(new KernelBackend(), new ModelBackend({ scanVariant: variant }), {
        sequences,
        length,
        seed,
        ...(pages === undefined ? {} : { pages }),
        ...(quiet
          ? {}
          : { onProgress: (d: number, t: number) => process.stderr.write(`  ${d}/${t} sequences\n`) }),
      });
      process.stdout.write(json ? `${JSON.stringify(report)}\n` : formatDiff(report));
      if (!report.agreed) process.exitCode = EXIT_VIOLATION;
    });
}
