/**
 * `dirtyscope lab setup|status|diff|confirm`: the real kernel's own helpers in a guest under QEMU,
 * beside the model (src/lab/, lab/). Missing capability (QEMU, a set-up kernel) is a SKIP (exit 3).
 */
import type { Command } from 'commander';
import { FINDINGS, type FindingResult, runConfirm } from '../lab/confirm.ts';
import { modelSide, runLabDiff } from '../lab/diff.ts';
import { GuestFailure } from '../lab/guest.ts';
import { ModelLab } from '../lab/model-backend.ts';
import {
  type LabKernel,
  labDir,
  labKernels,
  qemuPath,
  selectKernel,
  validKernelSelector,
} from '../lab/paths.ts';
import { type LabFinding, LabSession } from '../lab/session.ts';
import { labSetup, type SetupWhich } from '../lab/setup.ts';
import { EXIT_SKIP, EXIT_VIOLATION, SkipError, UsageError } from './errors.ts';
import { formatConfirm, formatLabDiff, formatSetup, formatStatus } from './format/lab.ts';

function int(name: string, text: string, min: number, max: number): number {
  const v = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(v) || v < min || v > max)
    throw new UsageError(`${name}: '${text}' is not a whole number in ${min}..${max}`);
  return v;
}

function skip(reason: string, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify({ skip: true, reason })}\n`);
    process.exitCode = EXIT_SKIP;
    return;
  }
  throw new SkipError(reason);
}

/** The kernels a command runs on, or a SKIP reason. */
function pickKernels(want: string | undefined, all: boolean): LabKernel[] | string {
  if (want !== undefined && !validKernelSelector(want))
    throw new UsageError(`--kernel: '${want}' is not a kernel selector (e.g. 6.1, 7.x, or a full version)`);
  if (qemuPath() === null) return 'the lab needs qemu-system-x86_64 (run: dirtyscope lab setup)';
  const ks = labKernels();
  if (want === undefined && all) {
    const ready = ks.filter((k) => k.hasKernel && k.hasGuest);
    return ready.length > 0 ? ready : 'no lab kernel is set up (run: dirtyscope lab setup)';
  }
  const k = selectKernel(ks, want);
  if (k === null)
    return want === undefined
      ? 'no lab kernel is set up (run: dirtyscope lab setup)'
      : `no set-up lab kernel matches '${want}' (have: ${ks.map((x) => x.kver).join(', ') || 'none'}; run: dirtyscope lab setup)`;
  return [k];
}

const progressOn = (json: boolean, flag: boolean | undefined) => !json && flag !== false;

export function register(program: Command): void {
  const lab = program
    .command('lab')
    .description("the kernel's own helpers in a QEMU guest, beside the model");

  lab
    .command('setup')
    .description(
      'install and build what the lab needs (Debian packages, kernels, test module, guest agent); idempotent',
    )
    .option('--kernel <which>', 'stable (Debian stable), sid (Debian unstable) or all', 'all')
    .option('--json', 'print one JSON document')
    .action((o: { kernel: string; json?: boolean }) => {
      if (!['stable', 'sid', 'all'].includes(o.kernel))
        throw new UsageError(`--kernel: '${o.kernel}' must be stable, sid or all`);
      const json = o.json === true;
      const r = labSetup(o.kernel as SetupWhich, (s) => process.stderr.write(`${s}\n`));
      if (r.skip !== null) return skip(r.skip, json);
      process.stdout.write(json ? `${JSON.stringify(r)}\n` : formatSetup(r));
      if (!r.ok) process.exitCode = 1;
    });

  lab
    .command('status')
    .description('what the lab has ready, per kernel')
    .option('--json', 'print one JSON document')
    .action((o: { json?: boolean }) => {
      const ks = labKernels();
      const q = qemuPath();
      if (o.json === true)
        process.stdout.write(`${JSON.stringify({ dir: labDir(), qemu: q, kernels: ks })}\n`);
      else process.stdout.write(formatStatus(labDir(), q, ks));
    });

  lab
    .command('diff')
    .description('random operation sequences in the guest kernel and on the model: every reply must agree')
    .option('--sequences <n>', 'number of sequences', '200')
    .option('--length <l>', 'operations per sequence', '50')
    .option('--seed <s>', 'PRNG seed', '1')
    .option('--kernel <k>', 'which lab kernel: 6.1, 7.x, or a full version (default: the oldest set up)')
    .option('--batch <b>', 'sequences per pipelined guest batch', '20')
    .option('--json', 'print one JSON document')
    .option('--no-progress', 'no progress lines on stderr')
    .action(
      async (o: {
        sequences: string;
        length: string;
        seed: string;
        kernel?: string;
        batch: string;
        json?: boolean;
        progress?: boolean;
      }) => {
        const sequences = int('--sequences', o.sequences, 1, 1_000_000);
        const length = int('--length', o.length, 3, 10_000);
        const seed = int('--seed', o.seed, 0, 0xffffffff);
        const batch = int('--batch', o.batch, 1, 1000);
        const json = o.json === true;
        const ks = pickKernels(o.kernel, false);
        if (typeof ks === 'string') return skip(ks, json);
        const k = ks[0]!;
        const log = progressOn(json, o.progress) ? (s: string) => process.stderr.write(`${s}\n`) : () => {};
        log(`lab diff: booting ${k.kver} ...`);
        const session = await LabSession.open(k, { smp: 2 });
        log(`lab diff: ${k.kver} ready in ${(session.guest.bootMs / 1000).toFixed(1)} s`);
        const lab = new ModelLab(session.modelOptions());
        session.during = 'lab diff';
        let report: Awaited<ReturnType<typeof runLabDiff>>;
        let lastLog = 0;
        try {
          report = await runLabDiff(session.side(), modelSide(lab), lab, {
            sequences,
            length,
            seed,
            batch,
            wrprotect: session.guest.ready?.wrprotect === true,
            onProgress: (d, t) => {
              const now = Date.now();
              if (now - lastLog > 10_000 || d === t) {
                lastLog = now;
                log(`  ${d}/${t} sequences`);
              }
            },
          });
        } catch (e) {
          if (!(e instanceof GuestFailure)) throw e;
          await session.close();
          const f = session.findings;
          process.stdout.write(
            json
              ? `${JSON.stringify({ error: e.message, kernelFindings: f })}\n`
              : `lab diff: guest failure: ${e.message}\n${formatFindingsText(f)}`,
          );
          process.exitCode = EXIT_VIOLATION;
          return;
        }
        await session.close();
        const findings = session.findings;
        process.stdout.write(
          json
            ? `${JSON.stringify({ ...report, kernel: k.kver, kernelFindings: findings })}\n`
            : formatLabDiff(report, findings),
        );
        if (!report.agreed || findings.length > 0) process.exitCode = EXIT_VIOLATION;
      },
    );

  lab
    .command('confirm')
    .argument('[finding]', `one of: ${FINDINGS.map((f) => f.name).join(', ')} (default: all)`)
    .description(
      "replay the catalogue's findings on real kernels: reproduced or not, beside the model's verdict",
    )
    .option('--kernel <k>', 'which lab kernel (default: every kernel set up)')
    .option('--attempts <n>', 'attempts per race experiment', '3')
    .option('--json', 'print one JSON document')
    .option('--no-progress', 'no progress lines on stderr')
    .action(
      async (
        finding: string | undefined,
        o: { kernel?: string; attempts: string; json?: boolean; progress?: boolean },
      ) => {
        const attempts = int('--attempts', o.attempts, 1, 100);
        const json = o.json === true;
        const which = finding === undefined ? FINDINGS : FINDINGS.filter((f) => f.name === finding);
        if (which.length === 0)
          throw new UsageError(
            `unknown finding '${finding}' (findings: ${FINDINGS.map((f) => f.name).join(', ')})`,
          );
        const ks = pickKernels(o.kernel, true);
        if (typeof ks === 'string') return skip(ks, json);
        const log = progressOn(json, o.progress) ? (s: string) => process.stderr.write(`${s}\n`) : () => {};
        const results: FindingResult[] = [];
        const kernelFindings: LabFinding[] = [];
        for (const k of ks) {
          log(`lab confirm: booting ${k.kver} ...`);
          const session = await LabSession.open(k, { smp: 2 });
          session.during = 'lab confirm';
          try {
            results.push(...(await runConfirm(session.confirmTarget(), which, { attempts, log })));
          } finally {
            await session.close();
            kernelFindings.push(...session.findings);
          }
        }
        process.stdout.write(
          json
            ? `${JSON.stringify({ version: 1, results, kernelFindings })}\n`
            : formatConfirm(results, kernelFindings),
        );
        if (kernelFindings.length > 0) process.exitCode = EXIT_VIOLATION;
      },
    );
}

function formatFindingsText(f: readonly LabFinding[]): string {
  return f
    .map(
      (x) =>
        `KERNEL ${x.kind.toUpperCase()} during ${x.during}: ${x.line}\n${x.log.map((l) => `  | ${l}`).join('\n')}\n`,
    )
    .join('');
}
