/** Human output of `dirtyscope kernel diff` (pure functions of plain data). */
import type { DiffReport, StepResult } from '../../linux/diff.ts';
import type { TrackingOp } from '../../linux/ops.ts';
import { categoryNames } from '../../linux/pagemap-scan.ts';
import type { PageRegion, ScanRequest } from '../../linux/tracking.ts';

/** One operation as a short line, e.g. `scan [0,48) WP max_pages=3`. */
export function formatOp(op: TrackingOp): string {
  switch (op.k) {
    case 'store':
      return `store page ${op.p} = ${op.v}`;
    case 'load':
      return `load page ${op.p}`;
    case 'mprotect':
      return `mprotect [${op.s},${op.s + op.n}) ${op.prot}`;
    case 'scan':
      return formatScan(op.req);
    default:
      return `${op.k} [${op.s},${op.s + op.n})`;
  }
}

function formatScan(q: ScanRequest): string {
  const parts = [`scan [${q.startPage},${q.endPage})`];
  if (q.endByteOffset) parts[0] = `scan [${q.startPage},${q.endPage}${q.endByteOffset}B)`;
  if (q.startByteOffset) parts.push(`start+${q.startByteOffset}B`);
  if ((q.flags ?? 0) & 1) parts.push('WP_MATCHING');
  if ((q.flags ?? 0) & 2) parts.push('CHECK_WPASYNC');
  if ((q.flags ?? 0) & ~3) parts.push(`flags=0x${(q.flags ?? 0).toString(16)}`);
  if (q.categoryMask !== undefined) parts.push(`mask=${categoryNames(q.categoryMask)}`);
  if (q.categoryInverted) parts.push(`inverted=${categoryNames(q.categoryInverted)}`);
  if (q.categoryAnyofMask) parts.push(`anyof=${categoryNames(q.categoryAnyofMask)}`);
  if (q.returnMask !== undefined) parts.push(`return=${categoryNames(q.returnMask)}`);
  if (q.maxPages) parts.push(`max_pages=${q.maxPages}`);
  if (q.vecLen !== undefined) parts.push(`vec_len=${q.vecLen}`);
  if (q.vecNull) parts.push('vec=NULL');
  if (q.structSize !== undefined) parts.push(`size=${q.structSize}`);
  return parts.join(' ');
}

function isRegionList(x: unknown): x is PageRegion[] {
  return Array.isArray(x) && x.every((r) => typeof r === 'object' && r !== null && 'start' in r);
}

/** A result in one line: regions as `[s,e) CATS`, outcomes as `ok` / errno. */
export function formatResult(x: unknown): string {
  if (x === 'ok') return 'ok';
  if (typeof x === 'number') return `${x}`;
  if (typeof x !== 'object' || x === null) return JSON.stringify(x);
  const o = x as Record<string, unknown>;
  if ('threw' in o) return `threw ${String(o.threw)}`;
  if ('access' in o) return `SIGSEGV at page ${String(o.access)}`;
  if ('scan' in o && 'prots' in o) {
    const prots = (o.prots as (string | null)[])
      .map((p) => (p === null ? '-' : p === 'rw' ? 'w' : p[0]))
      .join('');
    return `categories ${formatResult(o.scan)}; prot ${prots} (w rw, r read, n none, - unmapped)`;
  }
  if (o.ok === false) return String(o.errno);
  if (o.ok === true && isRegionList(o.regions)) {
    const regs = o.regions.map((r) => `[${r.start},${r.end}) ${categoryNames(r.categories)}`);
    return `${regs.length === 0 ? 'no regions' : regs.join(', ')}; walk_end ${String(o.walkEnd)}`;
  }
  if (o.ok === true) return 'ok';
  return JSON.stringify(x);
}

function stepLines(s: StepResult, names: [string, string], first: boolean): string[] {
  const what = s.op === null ? 'observe (full category map)' : formatOp(s.op);
  const ra = formatResult(s.a);
  const rb = formatResult(s.b);
  const mark = first ? '>>' : '  ';
  const head = `${mark} ${String(s.step + 1).padStart(3)}. ${what}`;
  if (ra === rb) return [`${head}\n         both:  ${ra}`];
  const w = Math.max(names[0].length, names[1].length);
  return [`${head}\n         ${names[0].padEnd(w)}: ${ra}\n         ${names[1].padEnd(w)}: ${rb}`];
}

export function formatDiff(r: DiffReport): string {
  const [a, b] = r.backends;
  const head = `kernel diff: seed ${r.seed}, ${r.sequences} sequences of ${r.length} operations`;
  if (r.agreed) {
    return `${head}\n${a} and ${b} agree on every result (${r.ran} sequences, ${r.ops} operations each).\n`;
  }
  const m = r.mismatch!;
  const lines = [
    head,
    `MISMATCH in sequence ${m.index} (${m.pages} pages, ${m.shared ? 'MAP_SHARED' : 'MAP_PRIVATE'}),` +
      ` shrunk from ${m.originalLength} to ${m.ops.length} operations (${m.shrinkRuns} runs):`,
  ];
  for (const s of m.steps) lines.push(...stepLines(s, [a, b], s.step === m.steps[m.firstDiff]?.step));
  lines.push(`(${r.ran - 1} sequences agreed before this one)`);
  return `${lines.join('\n')}\n`;
}
