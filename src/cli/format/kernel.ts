/** Human output of `dirtyscope kernel probe|bench` (pure functions of plain data). */
import type { BenchRow, KernelBenchResult } from '../../linux/kernel-bench.ts';
import type { ProbeResult } from '../../linux/probe.ts';

export function formatProbe(r: ProbeResult): string {
  const f = r.facts;
  const lines = [
    r.ok ? 'kernel backend: usable' : `kernel backend: SKIP at ${r.stage}: ${r.reason}`,
    `  kernel          ${f.platform} ${f.release} (${f.arch})`,
  ];
  if (f.pageSize !== undefined) lines.push(`  page size       ${f.pageSize}`);
  if (f.unprivilegedUserfaultfd !== undefined) {
    lines.push(`  vm.unprivileged_userfaultfd = ${f.unprivilegedUserfaultfd}`);
  }
  if (f.shmemThp !== undefined) lines.push(`  shmem THP       ${f.shmemThp}`);
  if (f.uffdFeatures !== undefined) lines.push(`  uffd features   ${f.uffdFeatures}`);
  if (f.missingFeatures !== undefined && f.missingFeatures.length > 0) {
    lines.push(`  missing         ${f.missingFeatures.join(', ')}`);
  }
  if (r.ok)
    lines.push(
      '  checked         userfaultfd, UFFDIO_API, UFFDIO_REGISTER(WP), UFFDIO_WRITEPROTECT, PAGEMAP_SCAN',
    );
  return `${lines.join('\n')}\n`;
}

function size(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${bytes / 1024 ** 3} GiB` : `${bytes / 1024 ** 2} MiB`;
}

function num(x: number | null, digits = 2): string {
  return x === null ? '-' : x.toFixed(digits);
}

function label(r: BenchRow): string {
  if (r.op === 'scanReprotect') return `scan+reprotect ${r.writtenPct}% written`;
  if (r.op === 'writeProtect') return 'write-protect (populated)';
  return 'first write to protected page';
}

export function formatKernelBench(r: KernelBenchResult, outFile: string | null): string {
  const m = r.measuredOn;
  const lines = [
    `real kernel: Linux ${m.release} ${m.arch}, ${m.cpu} (${m.cpus} CPUs)${r.quick ? ', quick sizes' : ''}`,
  ];
  for (const n of r.notes) lines.push(`note: ${n}`);
  const head = ['work', 'size', 'kernel', 'median', 'unit', 'model', 'model/kernel'];
  const rows = r.rows.map((x) => [
    label(x),
    x.op === 'wpFault' ? `${x.pages} pages` : size(x.sizeBytes),
    num(x.kernel),
    num(x.kernelMedian),
    x.unit,
    num(x.model),
    num(x.ratio),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  lines.push(fmt(head));
  for (const row of rows) lines.push(fmt(row));
  const c = r.costs;
  lines.push(
    `costs: wpFaultNs ${c.wpFaultNs}, wpWalkNsPerPage ${c.wpWalkNsPerPage}, scanNsPerPage ${c.scanNsPerPage}, scanNsPerWrittenPage ${c.scanNsPerWrittenPage}`,
  );
  if (outFile !== null) lines.push(`wrote ${outFile}`);
  return `${lines.join('\n')}\n`;
}
