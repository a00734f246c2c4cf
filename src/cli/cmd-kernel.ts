/**
 * `dirtyscope kernel probe [--json]`: can this machine run the real-kernel backend? (exit 3 with
 * `SKIP: reason` when not.)
 * `dirtyscope kernel bench [--json] [--quick] [--sizes MiB,...] [--out FILE | --no-out]`: measure
 * the kernel's write-protect walk, scan-and-reprotect and write-fault costs per page and write
 * the cost-model figures to FILE (default docs/kernel-costs.json).
 *
 * Other commands under `kernel` (e.g. `kernel diff`) attach themselves with
 * {@link kernelCommand}, which finds or creates the `kernel` command whatever the registration
 * order.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { type KernelBenchResult, runKernelBench } from '../linux/kernel-bench.ts';
import { modelBenchSide } from '../linux/model-bench.ts';
import { type ProbeResult, probeKernel, skipReason } from '../linux/probe.ts';
import { EXIT_SKIP, SkipError, UsageError } from './errors.ts';
import { formatKernelBench, formatProbe } from './format/kernel.ts';
import { err, setExitCode, out as writeOut } from './io.ts';

/** The `kernel` command group on `program` (created on first use). */
export function kernelCommand(program: Command): Command {
  const found = program.commands.find((c) => c.name() === 'kernel');
  if (found) return found;
  return program
    .command('kernel')
    .description('the real Linux kernel: userfaultfd write-protect + PAGEMAP_SCAN');
}

/**
 * A SKIP: with --json one JSON document `{skip: true, stage, reason}` on stdout and exit code 3;
 * otherwise `SKIP: reason` through SkipError (main prints it, exit 3).
 */
export function skipOut(probe: ProbeResult, json: boolean): void {
  if (probe.ok) return;
  if (json) {
    writeOut(
      `${JSON.stringify({ skip: true, stage: probe.stage, reason: probe.reason, facts: probe.facts })}\n`,
    );
    setExitCode(EXIT_SKIP);
    return;
  }
  throw new SkipError(skipReason(probe)!);
}

function parseSizes(text: string): number[] {
  const out: number[] = [];
  for (const part of text.split(',')) {
    const mib = Number(part.trim());
    if (!Number.isInteger(mib) || mib < 1 || mib > 64 * 1024) {
      throw new UsageError(`--sizes: '${part}' is not a whole number of MiB in 1..65536`);
    }
    out.push(mib * 1024 * 1024);
  }
  return out;
}

export function register(program: Command): void {
  const kernel = kernelCommand(program);

  kernel
    .command('probe')
    .description('check userfaultfd (WP_ASYNC, WP_UNPOPULATED, WP_HUGETLBFS_SHMEM) and PAGEMAP_SCAN')
    .option('--json', 'print one JSON document')
    .action((opts: { json?: boolean }) => {
      const r = probeKernel();
      if (!r.ok) return skipOut(r, opts.json ?? false);
      writeOut(opts.json ? `${JSON.stringify(r)}\n` : formatProbe(r));
    });

  kernel
    .command('bench')
    .description('measure write-protect, scan-and-reprotect and write-fault costs on the real kernel')
    .option('--json', 'print one JSON document')
    .option('--quick', 'small sizes (64 MiB, 256 MiB) instead of 1 GiB and 4 GiB')
    .option('--sizes <MiB,...>', 'sizes to measure, in MiB')
    .option('--out <file>', 'write the cost-model figures here', 'docs/kernel-costs.json')
    .option('--no-out', 'do not write a cost file')
    .action((opts: { json?: boolean; quick?: boolean; sizes?: string; out: string | false }) => {
      const sizes = opts.sizes === undefined ? undefined : parseSizes(opts.sizes);
      const probe = probeKernel();
      if (!probe.ok) return skipOut(probe, opts.json ?? false);
      const result: KernelBenchResult = runKernelBench({
        quick: opts.quick ?? false,
        model: modelBenchSide(),
        ...(sizes ? { sizes } : {}),
        ...(opts.json ? {} : { onProgress: (l: string) => err(`  ${l}\n`) }),
      });
      const outFile = opts.out === false ? null : opts.out;
      if (outFile !== null) {
        const file = {
          ...result.costs,
          source: 'dirtyscope kernel bench',
          quick: result.quick,
          rows: result.rows,
        };
        try {
          writeFileSync(outFile, `${JSON.stringify(file, null, 2)}\n`);
        } catch (e) {
          throw new UsageError(`--out ${outFile}: cannot write (${(e as NodeJS.ErrnoException).code ?? e})`);
        }
      }
      writeOut(
        opts.json ? `${JSON.stringify({ ...result, out: outFile })}\n` : formatKernelBench(result, outFile),
      );
    });
}
