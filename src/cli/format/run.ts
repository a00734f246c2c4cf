/**
 * Human output of `dirtyscope run`, `demo` and `study crossover` (pure functions of plain data).
 */
import type { MethodResult, RunResult } from '../../workload/run.ts';
import type { CrossoverStudy } from '../../workload/study.ts';

function num(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function bytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}

export function modelledTime(ns: number): string {
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(0)} ns`;
}

function table(head: string[], rows: string[][]): string[] {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  ');
  return [line(head), w.map((x) => '-'.repeat(x)).join('  '), ...rows.map(line)];
}

function methodRow(m: MethodResult): string[] {
  return [
    m.method,
    num(m.pagesWritten),
    num(m.tracked),
    num(m.missed),
    m.coherent ? 'yes' : `NO (${num(m.incoherent)})`,
    bytes(m.bytesCopied),
    num(m.faults),
    num(m.flushes),
    num(m.ipis),
    num(m.methodSwitches),
    modelledTime(m.modelledNs),
  ];
}

const HEAD = [
  'method',
  'written',
  'tracked',
  'missed',
  'coherent',
  'copied',
  'faults',
  'flushes',
  'IPIs',
  'switches',
  'modelled time',
];

/** The `run` report: scenario line, table per method, cheapest method, switches, verdict. */
export function formatRun(r: RunResult): string {
  const s = r.scenario;
  const out: string[] = [];
  out.push(`${s.name}: ${s.description ?? ''}`.trimEnd());
  out.push(
    `  ${num(s.stores)} stores on ${s.cpus} CPU(s), ${s.consumer} consumer, buffers: ${s.buffers
      .map((b) => `${b.name} (${num(b.pages)} pages, ${b.method})`)
      .join(', ')}`,
  );
  out.push('');
  out.push(...table(HEAD, r.methods.map(methodRow)));
  out.push('');
  out.push(
    '  written = pages written between syncs (ground truth, summed over rounds); tracked = pages the consumer received;',
  );
  out.push('  missed = written pages the consumer did not receive (must be 0).');
  for (const m of r.methods) {
    if (m.tracked <= m.pagesWritten) continue;
    const toPagetable = r.switches.some(
      (w) => w.run === m.method && w.from === 'mkwrite' && w.to === 'pagetable',
    );
    out.push(
      `  ${m.method}: tracked exceeds written by ${num(m.tracked - m.pagesWritten)}: pages sent that were not written (safe, costs copies)${
        toPagetable
          ? '; at its mkwrite -> pagetable switch the driver marks the whole recorded window dirty, as vmwgfx does'
          : ''
      }.`,
    );
  }
  if (r.methods.length > 1) {
    const best = [...r.methods].sort((a, b) => a.modelledNs - b.modelledNs)[0]!;
    out.push(`  cheapest: ${best.method} (${modelledTime(best.modelledNs)} modelled)`);
  }
  if (r.switches.length > 0) {
    out.push(`  method switches (${r.switches.length}):`);
    for (const w of r.switches.slice(0, 8))
      out.push(
        `    [${w.run}] after ${num(w.t)} stores: ${w.buffer} ${w.from} -> ${w.to} (${w.reason ?? ''})`,
      );
    if (r.switches.length > 8) out.push(`    ... ${r.switches.length - 8} more (see --json)`);
  }
  out.push(
    r.ok ? 'OK: no write missed, consumer copies coherent.' : 'FAIL: writes were missed or copies are stale.',
  );
  return `${out.join('\n')}\n`;
}

export interface DemoResult {
  runs: RunResult[];
  ok: boolean;
}

/** `demo`: a short story of the two built-in clients. */
export function formatDemo(d: DemoResult): string {
  const out: string[] = [];
  for (const r of d.runs) {
    out.push(formatRun(r).trimEnd());
    const s = r.scenario;
    if (s.consumer === 'gpu' && r.methods.length > 1) {
      const by = new Map(r.methods.map((m) => [m.method, m]));
      const mk = by.get('mkwrite');
      const pt = by.get('pagetable');
      const au = by.get('auto');
      if (mk !== undefined && pt !== undefined) {
        const ratio = mk.modelledNs / Math.max(1, pt.modelledNs);
        out.push(
          `  In short: mkwrite took ${num(mk.wpFaults)} write-protect faults; pagetable let the hardware set dirty bits ` +
            `(${num(pt.wpFaults)} such faults) and is ${ratio >= 1 ? `${ratio.toFixed(1)}x cheaper` : `${(1 / ratio).toFixed(1)}x dearer`} here.`,
        );
      }
      if (au !== undefined)
        out.push(
          `  vmwgfx's heuristic (auto) switched ${num(au.methodSwitches)} time(s) and cost ${modelledTime(au.modelledNs)}.`,
        );
    }
    if (s.consumer === 'display') {
      const m = r.methods[0]!;
      out.push(
        `  In short: ${num(m.faults)} faults queued pages for the delayed work; the display received ` +
          `${num(m.tracked)} page copies (${bytes(m.bytesCopied)}) and matches the screen.`,
      );
    }
    out.push('');
  }
  out.push(d.ok ? 'Demo OK: every write reached its consumer.' : 'Demo FAILED: see above.');
  return `${out.join('\n')}\n`;
}

/** `study crossover`: the grid, the heuristic's regret, where the plot went. */
export function formatStudy(st: CrossoverStudy, plotPath: string | null): string {
  const out: string[] = [];
  out.push(
    `Crossover study: ${st.cells.length} cells (${st.regionPages.length} sizes x ${st.dirtyFractions.length} dirty fractions x ${st.patterns.length} patterns), ${st.rounds} rounds each`,
  );
  for (const pat of st.patterns) {
    out.push('');
    out.push(`pattern ${pat}: cheaper method (cost ratio other/best), rows = dirty fraction per round`);
    const head = ['dirty \\ pages', ...st.regionPages.map(String)];
    const rows = st.dirtyFractions.map((f) => [
      `${(f * 100).toFixed(f < 0.01 ? 2 : 1)}%`,
      ...st.regionPages.map((p) => {
        const c = st.cells.find((x) => x.pattern === pat && x.pages === p && x.dirtyFraction === f)!;
        return `${c.best === 'mkwrite' ? 'MK' : 'PT'} ${c.ratio.toFixed(1)}x`;
      }),
    ]);
    out.push(...table(head, rows));
  }
  out.push('');
  out.push(
    'MK = write-protect + mkwrite faults cheaper, PT = hardware dirty bits (page-table scan) cheaper.',
  );
  for (const pat of st.patterns) {
    const x = st.crossoverByPattern[pat];
    if (x !== undefined)
      out.push(
        `  ${pat}: ${x
          .map(
            (c) =>
              `${c.pages} pages: ${
                c.fraction !== null
                  ? `crossover near ${(c.fraction * 100).toPrecision(2)}%`
                  : c.where === 'pagetable-everywhere'
                    ? `pagetable cheaper at every fraction (>= ${(st.dirtyFractions[0]! * 100).toPrecision(2)}%)`
                    : c.where === 'mkwrite-everywhere'
                      ? 'mkwrite cheaper at every fraction'
                      : 'mixed'
              }`,
          )
          .join('; ')}`,
      );
  }
  out.push('');
  const rg = st.regret;
  out.push(
    `Heuristic regret (auto vs best fixed method per phase) on ${rg.scenarios.length} phase-changing runs: mean ${(rg.meanRegret * 100).toFixed(1)}%, worst ${(rg.worstRegret * 100).toFixed(1)}% (${rg.worstScenario}).`,
  );
  for (const s of rg.scenarios)
    out.push(
      `  ${s.name.padEnd(28)} auto ${modelledTime(s.autoNs).padStart(10)}  best-per-phase ${modelledTime(s.bestPerPhaseNs).padStart(10)}  regret ${(s.regret * 100).toFixed(1)}%  (${s.switches} switches)`,
    );
  if (plotPath !== null) out.push(`Plot: ${plotPath}`);
  return `${out.join('\n')}\n`;
}
