/** Human output of `dirtyscope lab ...`. */
import type { FindingResult } from '../../lab/confirm.ts';
import type { LabDiffReport } from '../../lab/diff.ts';
import type { LabKernel } from '../../lab/paths.ts';
import { encodeOp } from '../../lab/protocol.ts';
import type { LabFinding } from '../../lab/session.ts';
import type { SetupResult } from '../../lab/setup.ts';

export function formatStatus(dir: string, qemu: string | null, kernels: LabKernel[]): string {
  const lines = [`lab cache: ${dir}`, `qemu-system-x86_64: ${qemu ?? 'not installed'}`];
  if (kernels.length === 0) lines.push('kernels: none (run: dirtyscope lab setup)');
  for (const k of kernels) {
    const state = !k.hasKernel
      ? 'kernel image missing'
      : !k.hasGuest
        ? 'guest not built'
        : k.fresh
          ? 'ready'
          : 'ready (guest built from older lab/ sources: lab setup rebuilds it)';
    lines.push(`  ${k.kver.padEnd(24)} ${k.meta.source.padEnd(14)} ${state}`);
  }
  return `${lines.join('\n')}\n`;
}

export function formatSetup(r: SetupResult): string {
  const lines = r.steps.map(
    (s) =>
      `  ${s.ok ? 'ok  ' : 'FAIL'} ${s.step} (${(s.ms / 1000).toFixed(1)} s)${s.detail ? `: ${s.detail}` : ''}`,
  );
  lines.push(r.ok ? 'lab setup: ready' : 'lab setup: FAILED');
  return `${lines.join('\n')}\n`;
}

function formatFindings(f: readonly LabFinding[]): string[] {
  const out: string[] = [];
  for (const x of f) {
    out.push(`KERNEL ${x.kind.toUpperCase()} during ${x.during}: ${x.line}`);
    for (const l of x.log.slice(0, 40)) out.push(`  | ${l}`);
  }
  return out;
}

export function formatLabDiff(r: LabDiffReport, kernelFindings: readonly LabFinding[]): string {
  const lines: string[] = [];
  lines.push(
    `lab diff: ${r.sides[0]} vs ${r.sides[1]}: ${r.ran} sequences (of ${r.sequences}), ${r.ops} operations, seed ${r.seed}, ${(r.elapsedMs / 1000).toFixed(1)} s (${Math.round(r.ops / Math.max(0.001, r.elapsedMs / 1000))} ops/s)`,
  );
  lines.push(r.agreed ? 'AGREE: every reply identical' : 'DISAGREE');
  if (r.mismatch !== null) {
    const m = r.mismatch;
    lines.push(
      `sequence ${m.index} (seed ${m.seed}), ${m.originalLength} ops, shrunk to ${m.ops.length} in ${m.shrinkRuns} runs; first difference at step ${m.firstDiff}:`,
    );
    m.steps.forEach((s, i) => {
      const mark = s.differ.length > 0 ? '!!' : '  ';
      lines.push(`${mark} ${String(i).padStart(3)} ${encodeOp(i, s.op).slice(String(i).length + 1)}`);
      lines.push(`        ${r.sides[0]}: ${JSON.stringify(s.a)}`);
      if (s.differ.length > 0)
        lines.push(`        ${r.sides[1]}: ${JSON.stringify(s.b)}   (differ: ${s.differ.join(', ')})`);
    });
  }
  lines.push('coverage (operations that exercised each):');
  const entries = Object.entries(r.coverage);
  for (let i = 0; i < entries.length; i += 3)
    lines.push(
      `  ${entries
        .slice(i, i + 3)
        .map(([k, v]) => `${k} ${v}`.padEnd(36))
        .join('')}`.trimEnd(),
    );
  if (r.missing.length > 0) lines.push(`coverage MISSING: ${r.missing.join(', ')}`);
  lines.push(...formatFindings(kernelFindings));
  return `${lines.join('\n')}\n`;
}

export function formatConfirm(
  results: readonly FindingResult[],
  kernelFindings: readonly LabFinding[],
): string {
  const lines: string[] = [];
  for (const f of results) {
    lines.push(`${f.name.padEnd(15)} ${f.verdict.toUpperCase().padEnd(15)} Linux ${f.kernel}: ${f.title}`);
    lines.push(`    ${f.reason}`);
    const mv = f.model;
    lines.push(
      `    model checker (${mv.name}/${mv.variant}): ${mv.verdict}${mv.property ? ` (${mv.property})` : ''}${mv.schedule ? `, schedule ${mv.schedule}` : ''}; ${mv.executions} executions`,
    );
    if (f.modelAgrees !== null)
      lines.push(
        `    model backend on the same operations: ${f.modelAgrees ? 'agrees on every experiment' : 'DISAGREES'}`,
      );
    for (const e of f.experiments) {
      lines.push(
        `    [${e.role}] ${e.name}: write lost in ${e.hits}/${e.attempts}${e.modelHit !== null ? ` (model: ${e.modelHit ? 'lost' : 'kept'})` : ''}`,
      );
      for (const ev of e.evidence) lines.push(`        ${ev}`);
    }
  }
  lines.push(...formatFindings(kernelFindings));
  return `${lines.join('\n')}\n`;
}
