import { describe, expect, it } from 'vitest';
import { formatStudy } from '../../src/cli/format/run.ts';
import { crossoverStudy, crossoverSvg, runRegret } from '../../src/workload/study.ts';

describe('crossover study', () => {
  const st = crossoverStudy({
    grid: { regionPages: [64, 4096], dirtyFractions: [0.001, 0.05, 1], rounds: 2, maxStoresPerCell: 20_000 },
    skipRegret: true,
  });

  it('has one cell per pattern x size x fraction, the cheaper method named, ratio >= 1', () => {
    expect(st.cells).toHaveLength(2 * 2 * 3);
    for (const c of st.cells) {
      expect(c.best).toBe(c.mkwriteNs <= c.pagetableNs ? 'mkwrite' : 'pagetable');
      expect(c.ratio).toBeGreaterThanOrEqual(1);
      expect(c.ratio).toBeCloseTo(
        Math.max(c.mkwriteNs, c.pagetableNs) / Math.min(c.mkwriteNs, c.pagetableNs),
        9,
      );
      expect(c.dirtyPages).toBe(Math.max(1, Math.round(c.pages * c.dirtyFraction)));
    }
  });

  it('dense rewrites of a large region favour hardware dirty bits', () => {
    const dense = st.cells.find((c) => c.pages === 4096 && c.dirtyFraction === 1 && c.pattern === 'random')!;
    expect(dense.best).toBe('pagetable');
  });

  it('the visualizer crossover grid matches the random cells', () => {
    const g = st.report.crossover;
    expect(g.cells).toHaveLength(g.dirtyFractions.length);
    for (const [i, row] of g.cells.entries())
      for (const [j, cell] of row.entries()) {
        const c = st.cells.find(
          (x) =>
            x.pattern === 'random' && x.pages === g.regionPages[j] && x.dirtyFraction === g.dirtyFractions[i],
        )!;
        expect(cell.best).toBe(c.best);
      }
  });

  it('writes a labelled SVG and a human summary', () => {
    const svg = crossoverSvg(st);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('cost(mkwrite) / cost(pagetable)');
    expect(svg).toContain('4096 pages');
    expect(svg.match(/<polyline/g)).toHaveLength(4);
    const txt = formatStudy(st, null);
    expect(txt).toMatch(/pattern random/);
    expect(txt).toMatch(/pattern sequential/);
  });

  it('regret: the per-phase oracle never exceeds either fixed method', () => {
    const r = runRegret({
      name: 'tiny',
      description: 'sparse then dense on 1024 pages',
      pages: 1024,
      syncEvery: 1024,
      phases: [
        { kind: 'sparse', rounds: 4, pagesPerRound: 4 },
        { kind: 'dense', rounds: 5, pagesPerRound: 1024 },
      ],
    });
    expect(r.phases).toHaveLength(2);
    expect(r.bestPerPhaseNs).toBeLessThanOrEqual(r.mkwriteNs + 1e-6);
    expect(r.bestPerPhaseNs).toBeLessThanOrEqual(r.pagetableNs + 1e-6);
    expect(r.regret).toBeCloseTo(r.autoNs / r.bestPerPhaseNs - 1, 9);
    expect(r.switches).toBeGreaterThanOrEqual(1); // 1024 pages start MKWRITE; dense rounds switch it
  });
});
