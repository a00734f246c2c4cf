/** Human output of `dirtyscope litmus` (a pure function of the suite rows). */
import type { SuiteRow } from '../../litmus/suite.ts';

function expectText(e: SuiteRow['expected']): string {
  return e.verdict === 'fail' ? `fail (${e.property ?? 'any'})` : 'pass';
}

function gotText(r: SuiteRow): string {
  return r.verdict === 'fail' ? `fail (${r.property ?? '?'})` : r.verdict;
}

/** One row per file and variant, then a summary line. */
export function formatLitmusTable(rows: readonly SuiteRow[]): string {
  const head = ['model', 'variant', 'expected', 'got', 'executions', 'time', 'result'];
  const body = rows.map((r) => [
    r.model,
    r.variant,
    expectText(r.expected),
    gotText(r),
    r.executions.toLocaleString('en-US'),
    `${(r.elapsedMs / 1000).toFixed(2)} s`,
    r.status === 'ok' ? 'ok' : r.status === 'mismatch' ? 'MISMATCH' : 'unconfirmed',
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 4 || i === 5 ? c.padStart(w[i]!) : c.padEnd(w[i]!)))
      .join('  ')
      .trimEnd();
  const n = (s: SuiteRow['status']) => rows.filter((r) => r.status === s).length;
  const files = new Set(rows.map((r) => r.file)).size;
  const summary =
    `${rows.length} checks in ${files} file${files === 1 ? '' : 's'}: ${n('ok')} ok, ${n('mismatch')} mismatch` +
    (n('unconfirmed') > 0
      ? `, ${n('unconfirmed')} unconfirmed (budget ran out before a pass was proven)`
      : '');
  return `${[line(head), ...body.map(line), summary].join('\n')}\n`;
}
