/**
 * `dirtyscope kernel probe [--json]`: can this machine run the real-kernel backend? (exit 3 with
 * `SKIP: reason` when not.)
 * `dirtyscope kernel bench [--json] [--quick] [--sizes MiB,...] [--out FILE]`: measure
 * the kernel's write-protect walk, scan-and-reprotect and write-fault costs per page, and with
 * --out write the cost-model figures to FILE (nothing is written without it: the tracked
 * docs/kernel-costs.json changes only when named).
 *
 * Other commands under `kernel` (e.g. `kernel diff`) attach themselves with
 * {@link kernelCommand}, which finds or creates the `kernel` command whatever the registration
 * order.
 */
import { totalmem } from 'node:os';
import type { Command } from 'commander';
import { type KernelBenchResult, runKernelBench } from '../linux/kernel-bench.ts';
import { modelBenchSide } from '../linux/model-bench.ts';
import { type ProbeResult, probeKernel, skipReason } from '../linux/probe.ts';
import { EXIT_SKIP, SkipError, UsageError } from './errors.ts';
import { formatKernelBench, formatProbe } from './format/kernel.ts';
import { err, setExitCode, out as writeOut } from './io.ts';
import { checkOutputFile, writeFileAtomic } from './outputs.ts';

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

/**
 * Bounds of `--sizes`, in MiB. The least is 4 MiB: the first-write measurement times faults in
 * batches of 1024 pages, so a smaller region gives no sample at all. The most is the default
 * largest size (4 GiB), and at most an eighth of this machine's memory: the bench maps the region
 * and the model side mirrors it, each several times over during the sweep.
 */
export const KERNEL_BENCH_MIN_MIB = 4;
export function kernelBenchMaxMib(): number {
  return Math.max(KERNEL_BENCH_MIN_MIB, Math.min(4096, Math.floor(totalmem() / (8 * 1024 * 1024))));
}
/** Most sizes one `--sizes` list may name. */
export const KERNEL_BENCH_MAX_SIZES = 8;

export function parseSizes(text: string): number[] {
  const out: number[] = [];
  const max = kernelBenchMaxMib();
  const parts = text.split(',');
  if (parts.length > KERNEL_BENCH_MAX_SIZES)
    throw new UsageError(`--sizes: at most ${KERNEL_BENCH_MAX_SIZES} sizes, got ${parts.length}`);
  for (const part of parts) {
    const t = part.trim();
    const mib = Number(t);
    if (!/^\d+$/.test(t) || mib < KERNEL_BENCH_MIN_MIB || mib > max) {
      throw new UsageError(
        `--sizes: '${t.slice(0, 40)}' is not a whole number of MiB in ${KERNEL_BENCH_MIN_MIB}..${max} (the most is an eighth of this machine's memory, at most 4096)`,
      );
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
    .option(
      '--out <file>',
      'write the cost-model figures to FILE (e.g. docs/kernel-costs.json); none by default',
    )
    .option('--no-out', 'write no cost file (the default; kept for old scripts)')
    .action((opts: { json?: boolean; quick?: boolean; sizes?: string; out?: string | false }) => {
      const sizes = opts.sizes === undefined ? undefined : parseSizes(opts.sizes);
      if (typeof opts.out === 'string') checkOutputFile(opts.out, '--out');
      const probe = probeKernel();
      if (!probe.ok) return skipOut(probe, opts.json ?? false);
      const result: KernelBenchResult = runKernelBench({
        quick: opts.quick ?? false,
        model: modelBenchSide(),
        ...(sizes ? { sizes } : {}),
        ...(opts.json ? {} : { onProgress: (l: string) => err(`  ${l}\n`) }),
      });
      const outFile = typeof opts.out === 'string' ? opts.out : null;
      if (outFile !== null) {
        const file = {
          ...result.costs,
          source: 'dirtyscope kernel bench',
          quick: result.quick,
          rows: result.rows,
        };
        writeFileAtomic(outFile, `${JSON.stringify(file, null, 2)}\n`, '--out');
      }
      writeOut(
        opts.json ? `${JSON.stringify({ ...result, out: outFile })}\n` : formatKernelBench(result, outFile),
      );
    });
}
