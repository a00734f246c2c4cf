/** Human output of `dirtyscope kernel diff` (pure functions of plain data). */
import {
  type Coverage,
  type DiffReport,
  type Observation,
  REQUIRED_COVERAGE,
  type StepResult,
} from '../../linux/diff.ts';
import type { ProtRun, RelativeLimits, TrackingOp } from '../../linux/ops.ts';
import { categoryNames } from '../../linux/pagemap-scan.ts';
import {
  type PagemapRun,
  type PageRegion,
  pagemapFlagNames,
  type ScanRequest,
} from '../../linux/tracking.ts';

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
      return formatScan(op.req) + formatRel(op.rel);
    case 'scanAll':
      return `resume-loop ${formatScan(op.req)}${formatRel(op.rel)}`;
    case 'touch':
      return `${op.write ? 'store' : 'load'} every ${op.step === 1 ? '' : `${op.step}th `}page of [${op.s},${op.s + op.n})`;
    case 'fill':
    case 'wp':
    case 'unprotect':
    case 'dontneed':
    case 'unmap':
    case 'remap':
      return `${op.k} [${op.s},${op.s + op.n})`;
  }
}

function formatRel(rel: RelativeLimits | undefined): string {
  if (rel === undefined) return '';
  const d = (x: number) => (x === 0 ? '' : x > 0 ? `+${x}` : `${x}`);
  const parts: string[] = [];
  if (rel.vec !== undefined) parts.push(`vec_len=n${d(rel.vec)}`);
  if (rel.max !== undefined) parts.push(`max_pages=m${d(rel.max)}`);
  return ` ${parts.join(' ')} (n, m: regions, pages of the unlimited answer)`;
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

/** At most `head` items, then `…(k more)…`, then the last `tail`. */
function elide(items: string[], head = 6, tail = 3): string {
  if (items.length <= head + tail + 1) return items.join(', ');
  return [...items.slice(0, head), `…(${items.length - head - tail} more)…`, ...items.slice(-tail)].join(
    ', ',
  );
}

function formatRegions(regions: PageRegion[]): string {
  return regions.length === 0
    ? 'no regions'
    : `${regions.length} region${regions.length === 1 ? '' : 's'}: ${elide(regions.map((r) => `[${r.start},${r.end}) ${categoryNames(r.categories)}`))}`;
}

function formatPagemap(x: unknown): string {
  if (!Array.isArray(x)) return formatResult(x);
  return elide((x as PagemapRun[]).map((r) => `[${r.start},${r.end}) ${pagemapFlagNames(r.flags)}`));
}

/** An observation: the result, then faults and pagemap if compared. */
export function formatObservation(o: Observation): string {
  const parts = [formatResult(o.r)];
  if (o.f !== undefined) parts.push(`faults ${o.f}`);
  if (o.sf !== undefined && o.sf.length > 0) {
    const runs: string[] = [];
    for (let i = 0; i < o.sf.length; i += 3)
      runs.push(`#${o.sf[i]}${o.sf[i + 1]! > 1 ? `..${o.sf[i]! + o.sf[i + 1]! - 1}` : ''}:${o.sf[i + 2]}`);
    parts.push(`faults per access ${elide(runs)}`);
  }
  if (o.pm !== undefined) parts.push(`pagemap ${formatPagemap(o.pm)}`);
  return parts.join('; ');
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
    const runs = (o.prots as ProtRun[]).map((x) => `[${x.start},${x.end}) ${x.prot ?? 'unmapped'}`);
    return `categories ${formatResult(o.scan)}; prot ${elide(runs)}`;
  }
  const probe =
    typeof o.probe === 'object' && o.probe !== null
      ? ` (unlimited answer: ${String((o.probe as { regions: number }).regions)} regions, ${String((o.probe as { pages: number }).pages)} pages)`
      : '';
  if ('sum' in o) return `loaded, checksum ${String(o.sum)}`;
  if (o.ok === false) return `${String(o.errno)}${'calls' in o ? ` at call ${String(o.calls)}` : ''}`;
  if (o.ok === true && 'calls' in o && isRegionList(o.regions)) {
    const ends = elide((o.walkEnds as number[]).map(String));
    return `${String(o.calls)} calls, walk_end ${ends}${o.capped ? ' (capped)' : ''}; ${formatRegions(o.regions)}${probe}`;
  }
  if (o.ok === true && isRegionList(o.regions)) {
    return `${formatRegions(o.regions)}; walk_end ${String(o.walkEnd)}${probe}`;
  }
  if (o.ok === true) return 'ok';
  return JSON.stringify(x);
}

function stepLines(s: StepResult, names: [string, string], first: boolean): string[] {
  const what = s.op === null ? 'observe (full category map, pagemap, fault total)' : formatOp(s.op);
  const ra = formatObservation(s.a);
  const rb = formatObservation(s.b);
  const mark = first ? '>>' : '  ';
  const head = `${mark} ${String(s.step + 1).padStart(3)}. ${what}`;
  if (ra === rb) return [`${head}\n         both:  ${ra}`];
  const w = Math.max(names[0].length, names[1].length);
  return [`${head}\n         ${names[0].padEnd(w)}: ${ra}\n         ${names[1].padEnd(w)}: ${rb}`];
}

/** The coverage report: every required feature with its count, grouped; misses called out. */
export function formatCoverage(c: Coverage): string {
  const groups = new Map<string, string[]>();
  for (const key of REQUIRED_COVERAGE) {
    const group = key.startsWith('scan.masks.') ? 'scan.masks' : key.slice(0, key.indexOf('.'));
    const list = groups.get(group) ?? [];
    const n = c.counts[key] ?? 0;
    list.push(`${key.slice(group.length).replace(/^\./, '')} ${n === 0 ? 'MISSING' : n}`);
    groups.set(group, list);
  }
  const lines = ['coverage (operations per feature; region.*: sequences):'];
  for (const [g, items] of groups) lines.push(`  ${g.replace(/\.$/, '')}: ${items.join(', ')}`);
  lines.push(
    c.missing.length === 0
      ? `every listed boundary exercised (${REQUIRED_COVERAGE.length} features)`
      : `COVERAGE MISSING ${c.missing.length} of ${REQUIRED_COVERAGE.length}: ${c.missing.join(', ')}`,
  );
  return `${lines.join('\n')}\n`;
}

export function formatDiff(r: DiffReport): string {
  const [a, b] = r.backends;
  const head = `kernel diff: seed ${r.seed}, ${r.sequences} sequences of ${r.length} operations; compared per operation: ${r.compared.join(', ')}`;
  if (r.agreed) {
    return `${head}\n${a} and ${b} agree on every observable (${r.ran} sequences, ${r.ops} operations on each side).\n${formatCoverage(r.coverage)}`;
  }
  const m = r.mismatch!;
  const lines = [
    head,
    `MISMATCH in sequence ${m.index} (${m.pages} pages${m.pages === m.originalPages ? '' : `, generated with ${m.originalPages}`}, ${m.shared ? 'MAP_SHARED' : 'MAP_PRIVATE'}),` +
      ` shrunk from ${m.originalLength} to ${m.ops.length} operations (${m.shrinkRuns} runs):`,
  ];
  for (const s of m.steps) lines.push(...stepLines(s, [a, b], s.step === m.steps[m.firstDiff]?.step));
  lines.push(`(${r.ran - 1} sequences agreed before this one)`);
  return `${lines.join('\n')}\n${formatCoverage(r.coverage)}`;
}
