/**
 * `dirtyscope study crossover`: where does write-protect + fault tracking (MKWRITE) stop being
 * cheaper than harvesting hardware dirty bits (PAGETABLE), and how close does vmwgfx's switching
 * heuristic come to the best fixed method per phase?
 *
 * Grid: region size (pages of one BO) x dirty fraction (pages written per consumer round / region
 * pages) x access pattern (`random`: a fresh random page set each round; `sequential`: the same
 * contiguous run every round). Each cell runs both fixed methods through the full model
 * (`runScenarioSync`, ground truth checked) and compares modelled time.
 *
 * Regret: phase-changing workloads (sparse -> dense -> sparse ...) run with `auto` (the heuristic)
 * and with each fixed method; the oracle picks the cheaper fixed method in every phase
 * (a lower bound that ignores switching costs). regret = auto / oracle - 1. Regret runs and
 * grid cells start from a prefilled buffer (every PTE populated, unpriced).
 */
import { type RunOptions, runScenarioSync } from './run.ts';
import type { Scenario } from './scenario.ts';

export type StudyPattern = 'random' | 'sequential';

export interface StudyCell {
  pattern: StudyPattern;
  pages: number;
  dirtyFraction: number;
  dirtyPages: number;
  /** Consumer rounds run (fewer for big dense cells); costs below are per round. */
  rounds: number;
  mkwriteNs: number;
  pagetableNs: number;
  best: 'mkwrite' | 'pagetable';
  /** cost(other) / cost(best), >= 1. */
  ratio: number;
}

export interface RegretScenario {
  name: string;
  description: string;
  autoNs: number;
  mkwriteNs: number;
  pagetableNs: number;
  bestPerPhaseNs: number;
  /** auto / bestPerPhase - 1 (negative: auto beat the per-phase oracle, possible as it ignores switch costs). */
  regret: number;
  switches: number;
  phases: { mkwriteNs: number; pagetableNs: number; autoNs: number; best: 'mkwrite' | 'pagetable' }[];
}

export interface CrossoverStudy {
  kind: 'crossover-study';
  version: 1;
  quick: boolean;
  cpus: number;
  rounds: number;
  storesPerPage: number;
  regionPages: number[];
  dirtyFractions: number[];
  patterns: StudyPattern[];
  cells: StudyCell[];
  /**
   * Per pattern and region size: the dirty fraction where PAGETABLE becomes cheaper (log
   * interpolation between grid points), or null with `where` saying which method won everywhere.
   */
  crossoverByPattern: Record<
    string,
    {
      pages: number;
      fraction: number | null;
      where: 'crossover' | 'pagetable-everywhere' | 'mkwrite-everywhere';
    }[]
  >;
  regret: {
    scenarios: RegretScenario[];
    meanRegret: number;
    worstRegret: number;
    worstScenario: string;
  };
  /** The `random` grid in the visualizer's RunReport shape (web/src/report.ts). */
  report: {
    kind: 'run-report';
    version: 1;
    title: string;
    timeUnit: string;
    costUnit: string;
    series: { method: string; points: { t: number; cost: number }[] }[];
    switches: { t: number; from: string; to: string; reason?: string }[];
    crossover: {
      regionPages: number[];
      dirtyFractions: number[];
      cells: { pattern: string; best: 'mkwrite' | 'pagetable'; ratio: number }[][];
    };
  };
}

export interface StudyGrid {
  regionPages: number[];
  dirtyFractions: number[];
  rounds: number;
  maxStoresPerCell: number;
}

export interface StudyOptions {
  quick?: boolean;
  /** Override the grid (tests, custom sweeps). */
  grid?: StudyGrid;
  /** Skip the regret runs (the grid only). */
  skipRegret?: boolean;
  /** Called after each cell / regret run with (done, total). */
  onProgress?: (done: number, total: number) => void;
}

const FULL: StudyGrid = {
  regionPages: [64, 512, 4096, 32768, 262144],
  dirtyFractions: [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1],
  rounds: 6,
  maxStoresPerCell: 200_000,
};
const QUICK: StudyGrid = {
  regionPages: [64, 1024, 16384],
  dirtyFractions: [0.001, 0.01, 0.1, 1],
  rounds: 3,
  maxStoresPerCell: 40_000,
};
const STORES_PER_PAGE = 4;
const CPUS = 2;
const PATTERNS: StudyPattern[] = ['random', 'sequential'];

/**
 * One cell: the application has filled the whole region once (RunOptions.prefill: every PTE is
 * populated, as after uploading a buffer, so scans see the whole region), then writes `dirty`
 * pages per consumer round. Only those rounds are priced.
 */
function cellScenario(pattern: StudyPattern, pages: number, dirty: number, rounds: number): Scenario {
  const perRound = dirty * STORES_PER_PAGE;
  return {
    version: 1,
    name: `cell-${pattern}-${pages}-${dirty}`,
    seed: pages * 7919 + dirty,
    machine: { cpus: CPUS },
    buffers: [{ name: 'bo', pages }],
    workload:
      pattern === 'random'
        ? {
            pattern: 'sparse',
            pagesPerPhase: dirty,
            phaseStores: perRound,
            stores: perRound * rounds,
            syncEvery: perRound,
          }
        : {
            pattern: 'sequential',
            start: 0,
            length: dirty,
            storesPerPage: STORES_PER_PAGE,
            stores: perRound * rounds,
            syncEvery: perRound,
          },
    consumer: 'gpu',
  };
}

function runCell(
  pattern: StudyPattern,
  pages: number,
  fraction: number,
  maxRounds: number,
  maxStores: number,
): StudyCell {
  const dirty = Math.max(1, Math.round(pages * fraction));
  // big dense cells get fewer rounds
  const rounds = Math.max(2, Math.min(maxRounds, Math.floor(maxStores / (dirty * STORES_PER_PAGE))));
  const r = runScenarioSync(cellScenario(pattern, pages, dirty, rounds), {
    methods: ['mkwrite', 'pagetable'],
    prefill: true,
  });
  if (!r.ok) throw new Error(`study cell ${pattern}/${pages}/${dirty}: writes were missed`);
  const mk = r.methods[0]!.modelledNs / rounds;
  const pt = r.methods[1]!.modelledNs / rounds;
  const best = mk <= pt ? 'mkwrite' : 'pagetable';
  return {
    pattern,
    pages,
    dirtyFraction: fraction,
    dirtyPages: dirty,
    rounds,
    mkwriteNs: mk,
    pagetableNs: pt,
    best,
    ratio: Math.max(mk, pt) / Math.max(1e-9, Math.min(mk, pt)),
  };
}

/** Where log(mk/pt) crosses 0 going up the fractions (log-log interpolation). */
function crossoverFraction(cells: StudyCell[]): {
  fraction: number | null;
  where: 'crossover' | 'pagetable-everywhere' | 'mkwrite-everywhere';
} {
  for (let i = 1; i < cells.length; i++) {
    const a = cells[i - 1]!;
    const b = cells[i]!;
    const la = Math.log(a.mkwriteNs / a.pagetableNs);
    const lb = Math.log(b.mkwriteNs / b.pagetableNs);
    if (la <= 0 && lb > 0) {
      const t = la === lb ? 0 : -la / (lb - la);
      const f = Math.exp(
        Math.log(a.dirtyFraction) + t * (Math.log(b.dirtyFraction) - Math.log(a.dirtyFraction)),
      );
      return { fraction: f, where: 'crossover' };
    }
  }
  if (cells.every((c) => c.best === 'pagetable')) return { fraction: null, where: 'pagetable-everywhere' };
  if (cells.every((c) => c.best === 'mkwrite')) return { fraction: null, where: 'mkwrite-everywhere' };
  return { fraction: null, where: 'crossover' };
}

export interface PhaseDef {
  name: string;
  description: string;
  pages: number;
  syncEvery: number;
  /** sparse: random pages; cluster: the same contiguous pages from page 0; dense: the whole BO. */
  phases: { kind: 'sparse' | 'cluster' | 'dense'; rounds: number; pagesPerRound: number }[];
}

function regretDefs(quick: boolean): PhaseDef[] {
  const r = quick ? 6 : 12;
  return [
    {
      name: 'sparse-dense-sparse-8192',
      description: '8192-page BO: 16 random pages per round, then whole-buffer sweeps, then sparse again',
      pages: 8192,
      syncEvery: 8192,
      phases: [
        { kind: 'sparse', rounds: r, pagesPerRound: 16 },
        { kind: 'dense', rounds: r, pagesPerRound: 8192 },
        { kind: 'sparse', rounds: r, pagesPerRound: 16 },
      ],
    },
    {
      name: 'dense-sparse-2048',
      description: '2048-page BO: whole-buffer sweeps, then 8 random pages per round',
      pages: 2048,
      syncEvery: 2048,
      phases: [
        { kind: 'dense', rounds: r, pagesPerRound: 2048 },
        { kind: 'sparse', rounds: r, pagesPerRound: 8 },
      ],
    },
    {
      name: 'cluster-dense-cluster-32768',
      description:
        '32768-page BO: 8 contiguous pages per round, then whole-buffer sweeps, then 8 pages again',
      pages: 32768,
      syncEvery: 32768,
      phases: [
        { kind: 'cluster', rounds: r, pagesPerRound: 8 },
        { kind: 'dense', rounds: r, pagesPerRound: 32768 },
        { kind: 'cluster', rounds: r, pagesPerRound: 8 },
      ],
    },
    {
      name: 'alternating-256',
      description: '256-page BO (starts PAGETABLE): short sparse and dense phases alternating',
      pages: 256,
      syncEvery: 1024,
      phases: [
        { kind: 'sparse', rounds: 4, pagesPerRound: 2 },
        { kind: 'dense', rounds: 4, pagesPerRound: 256 },
        { kind: 'sparse', rounds: 4, pagesPerRound: 2 },
        { kind: 'dense', rounds: 4, pagesPerRound: 256 },
      ],
    },
  ];
}

function regretScenario(d: PhaseDef): { s: Scenario; boundaries: number[] } {
  const phases: Extract<Scenario['workload'], { pattern: 'phases' }>['phases'] = d.phases.map((p) =>
    p.kind === 'sparse'
      ? {
          pattern: 'sparse' as const,
          pagesPerPhase: p.pagesPerRound,
          phaseStores: d.syncEvery,
          stores: p.rounds * d.syncEvery,
        }
      : {
          pattern: 'sequential' as const,
          start: 0,
          length: p.kind === 'dense' ? d.pages : p.pagesPerRound,
          storesPerPage: Math.min(
            1024,
            Math.max(1, Math.floor(d.syncEvery / (p.kind === 'dense' ? d.pages : p.pagesPerRound))),
          ),
          stores: p.rounds * d.syncEvery,
        },
  );
  const total = phases.reduce((a, p) => a + p.stores, 0);
  const boundaries: number[] = [];
  let acc = 0;
  for (const p of phases.slice(0, -1)) {
    acc += p.stores;
    boundaries.push(acc);
  }
  return {
    s: {
      version: 1,
      name: d.name,
      description: d.description,
      seed: d.pages,
      machine: { cpus: CPUS },
      buffers: [{ name: 'bo', pages: d.pages, method: 'auto' }],
      workload: { pattern: 'phases', phases, stores: total, syncEvery: d.syncEvery },
      consumer: 'gpu',
    },
    boundaries,
  };
}

export function runRegret(d: PhaseDef): RegretScenario {
  const { s, boundaries } = regretScenario(d);
  const o: RunOptions = {
    methods: ['auto', 'mkwrite', 'pagetable'],
    phaseBoundaries: boundaries,
    prefill: true,
  };
  const r = runScenarioSync(s, o);
  if (!r.ok) throw new Error(`regret scenario ${d.name}: writes were missed`);
  const [au, mk, pt] = r.methods as [(typeof r.methods)[0], (typeof r.methods)[0], (typeof r.methods)[0]];
  const phases = mk.phaseCostsNs!.map((m, i) => {
    const p = pt.phaseCostsNs![i] ?? 0;
    return {
      mkwriteNs: m,
      pagetableNs: p,
      autoNs: au.phaseCostsNs![i] ?? 0,
      best: m <= p ? 'mkwrite' : 'pagetable',
    } as const;
  });
  const oracle = phases.reduce((a, p) => a + Math.min(p.mkwriteNs, p.pagetableNs), 0);
  return {
    name: d.name,
    description: d.description,
    autoNs: au.modelledNs,
    mkwriteNs: mk.modelledNs,
    pagetableNs: pt.modelledNs,
    bestPerPhaseNs: oracle,
    regret: au.modelledNs / oracle - 1,
    switches: au.methodSwitches,
    phases: phases.map((p) => ({ ...p })),
  };
}

/** Run the crossover study (deterministic: no wall clock in the result). */
export function crossoverStudy(o: StudyOptions = {}): CrossoverStudy {
  const quick = o.quick ?? false;
  const g = o.grid ?? (quick ? QUICK : FULL);
  const defs = o.skipRegret === true ? [] : regretDefs(quick);
  const total = PATTERNS.length * g.regionPages.length * g.dirtyFractions.length + defs.length;
  let done = 0;
  const cells: StudyCell[] = [];
  for (const pattern of PATTERNS)
    for (const pages of g.regionPages)
      for (const f of g.dirtyFractions) {
        cells.push(runCell(pattern, pages, f, g.rounds, g.maxStoresPerCell));
        o.onProgress?.(++done, total);
      }
  const crossoverByPattern: CrossoverStudy['crossoverByPattern'] = {};
  for (const pattern of PATTERNS)
    crossoverByPattern[pattern] = g.regionPages.map((pages) => ({
      pages,
      ...crossoverFraction(cells.filter((c) => c.pattern === pattern && c.pages === pages)),
    }));
  const scenarios = defs.map((d) => {
    const r = runRegret(d);
    o.onProgress?.(++done, total);
    return r;
  });
  let worst: RegretScenario | null = null;
  for (const s of scenarios) if (worst === null || s.regret > worst.regret) worst = s;
  const cellAt = (p: number, f: number) =>
    cells.find((c) => c.pattern === 'random' && c.pages === p && c.dirtyFraction === f)!;
  return {
    kind: 'crossover-study',
    version: 1,
    quick,
    cpus: CPUS,
    rounds: g.rounds,
    storesPerPage: STORES_PER_PAGE,
    regionPages: g.regionPages,
    dirtyFractions: g.dirtyFractions,
    patterns: PATTERNS,
    cells,
    crossoverByPattern,
    regret: {
      scenarios,
      meanRegret: scenarios.length === 0 ? 0 : scenarios.reduce((a, s) => a + s.regret, 0) / scenarios.length,
      worstRegret: worst?.regret ?? 0,
      worstScenario: worst?.name ?? 'none',
    },
    report: {
      kind: 'run-report',
      version: 1,
      title: 'Crossover: cheaper dirty-tracking method per region size and dirty fraction (random pages)',
      timeUnit: 'stores',
      costUnit: 'modelled µs',
      series: [],
      switches: [],
      crossover: {
        regionPages: g.regionPages,
        dirtyFractions: g.dirtyFractions,
        cells: g.dirtyFractions.map((f) =>
          g.regionPages.map((p) => {
            const c = cellAt(p, f);
            return { pattern: 'random', best: c.best, ratio: c.ratio };
          }),
        ),
      },
    },
  };
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];

function esc(t: string): string {
  return t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function fmtFrac(f: number): string {
  const pct = f * 100;
  return `${pct >= 1 ? pct.toFixed(0) : Number(pct.toPrecision(1))}%`;
}

/**
 * The study as a readable SVG (hand-built; a file artifact): one panel per pattern, x = dirty
 * fraction per round (log), y = modelled cost ratio mkwrite / pagetable (log, clamped to
 * 1/10..10), one line per region size; above the y = 1 line hardware dirty bits win.
 */
export function crossoverSvg(st: CrossoverStudy): string {
  const W = 1020;
  const H = 520;
  const panelW = 420;
  const panelH = 330;
  const top = 70;
  const lefts = [70, 70 + panelW + 70];
  const fx = st.dirtyFractions;
  const xMin = Math.log10(fx[0]!);
  const xMax = Math.log10(fx[fx.length - 1]!);
  const yMin = -1;
  const yMax = 1;
  const o: string[] = [];
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
  );
  // An accessible name for screen readers (and biome's a11y rule on the committed SVG).
  o.push('<title>Dirty tracking crossover: mkwrite vs pagetable cost ratio by dirty fraction</title>');
  o.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  o.push(
    `<text x="${W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">Dirty tracking crossover: mkwrite (write-protect + faults) vs pagetable (hardware dirty bits)</text>`,
  );
  o.push(
    `<text x="${W / 2}" y="44" text-anchor="middle" fill="#444">modelled cost ratio per consumer round, ${st.cpus} CPUs, ${st.rounds} rounds, ${st.storesPerPage} stores per written page; above 1: pagetable cheaper</text>`,
  );
  st.patterns.forEach((pat, pi) => {
    const L = lefts[pi]!;
    const X = (f: number) => L + ((Math.log10(f) - xMin) / (xMax - xMin)) * panelW;
    const Y = (r: number) => {
      const v = Math.max(yMin, Math.min(yMax, Math.log10(r)));
      return top + panelH - ((v - yMin) / (yMax - yMin)) * panelH;
    };
    o.push(`<rect x="${L}" y="${top}" width="${panelW}" height="${panelH}" fill="#fafafa" stroke="#888"/>`);
    o.push(`<rect x="${L}" y="${top}" width="${panelW}" height="${Y(1) - top}" fill="#eef5ff"/>`);
    o.push(
      `<text x="${L + panelW / 2}" y="${top - 8}" text-anchor="middle" font-weight="bold">${esc(pat)} pages each round</text>`,
    );
    for (const r of [0.1, 0.2, 0.5, 1, 2, 5, 10]) {
      const y = Y(r);
      const one = r === 1;
      o.push(
        `<line x1="${L}" y1="${y}" x2="${L + panelW}" y2="${y}" stroke="${one ? '#000' : '#ddd'}" stroke-width="${one ? 1.5 : 1}"${one ? ' stroke-dasharray="6 3"' : ''}/>`,
      );
      o.push(
        `<text x="${L - 6}" y="${y + 4}" text-anchor="end">${r < 1 ? `1/${Math.round(1 / r)}` : `${r}x`}</text>`,
      );
    }
    for (const f of fx) {
      const x = X(f);
      o.push(`<line x1="${x}" y1="${top + panelH}" x2="${x}" y2="${top + panelH + 5}" stroke="#888"/>`);
      o.push(
        `<text x="${x}" y="${top + panelH + 18}" text-anchor="middle" font-size="10">${fmtFrac(f)}</text>`,
      );
    }
    o.push(
      `<text x="${L + panelW / 2}" y="${top + panelH + 36}" text-anchor="middle">pages written per round / region pages (log)</text>`,
    );
    o.push(
      `<text transform="translate(${L - 48},${top + panelH / 2}) rotate(-90)" text-anchor="middle">cost(mkwrite) / cost(pagetable) (log)</text>`,
    );
    o.push(`<text x="${L + 6}" y="${top + 16}" fill="#246">pagetable cheaper</text>`);
    o.push(`<text x="${L + 6}" y="${top + panelH - 8}" fill="#642">mkwrite cheaper</text>`);
    st.regionPages.forEach((pages, i) => {
      const cs = st.cells.filter((c) => c.pattern === pat && c.pages === pages);
      const pts = cs.map(
        (c) => `${X(c.dirtyFraction).toFixed(1)},${Y(c.mkwriteNs / c.pagetableNs).toFixed(1)}`,
      );
      const col = COLORS[i % COLORS.length]!;
      o.push(`<polyline fill="none" stroke="${col}" stroke-width="2" points="${pts.join(' ')}"/>`);
      for (const p of pts) {
        const [x, y] = p.split(',');
        o.push(`<circle cx="${x}" cy="${y}" r="3" fill="${col}"/>`);
      }
    });
  });
  // legend
  const ly = top + panelH + 58;
  o.push(`<text x="70" y="${ly}" font-weight="bold">region size:</text>`);
  st.regionPages.forEach((pages, i) => {
    const x = 160 + i * 172;
    const col = COLORS[i % COLORS.length]!;
    o.push(`<line x1="${x}" y1="${ly - 4}" x2="${x + 24}" y2="${ly - 4}" stroke="${col}" stroke-width="3"/>`);
    o.push(
      `<text x="${x + 30}" y="${ly}">${pages} pages (${((pages * 4) / 1024).toFixed(pages < 256 ? 2 : 0)} MiB)</text>`,
    );
  });
  const rg = st.regret;
  o.push(
    `<text x="70" y="${ly + 28}">vmwgfx heuristic regret vs best fixed method per phase: mean ${(rg.meanRegret * 100).toFixed(1)}%, worst ${(rg.worstRegret * 100).toFixed(1)}% (${esc(rg.worstScenario)})</text>`,
  );
  o.push('</svg>');
  return `${o.join('\n')}\n`;
}
