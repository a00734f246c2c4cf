/**
 * Run-report page: cost per method over time (with method switches), and the crossover map,
 * drawn with chart.js (loaded only when a report is opened). Every chart has a table twin so
 * the numbers are readable without the canvas.
 */
import { Chart, registerables } from 'chart.js';
import { esc } from './render.ts';
import { cumulative, type RunReport } from './report.ts';

Chart.register(...registerables);

const METHOD_COLOURS: Record<string, string> = { mkwrite: '#0b5cad', pagetable: '#b34700' };
const FALLBACK = ['#2f6b2f', '#6a3d9a', '#8c564b'];

function colour(method: string, i: number): string {
  return METHOD_COLOURS[method] ?? FALLBACK[i % FALLBACK.length]!;
}

let charts: Chart[] = [];

export function renderReport(root: HTMLElement, r: RunReport): void {
  for (const c of charts) c.destroy();
  charts = [];
  const switches = r.switches
    .map(
      (s) =>
        `<li>t = ${s.t} ${esc(r.timeUnit)}: ${esc(s.from)} → ${esc(s.to)}${s.reason ? ` (${esc(s.reason)})` : ''}</li>`,
    )
    .join('');
  root.innerHTML = `
    ${r.title ? `<h3>${esc(r.title)}</h3>` : ''}
    <figure class="chart"><canvas id="cost-chart" role="img" aria-label="Cumulative cost per method over time"></canvas>
      <figcaption>Cumulative cost (${esc(r.costUnit)}) per method over time (${esc(r.timeUnit)}); vertical lines mark method switches.</figcaption></figure>
    <h4>Method switches</h4>${switches ? `<ol>${switches}</ol>` : '<p class="dim">none</p>'}
    ${r.crossover ? '<figure class="chart"><canvas id="crossover-chart" role="img" aria-label="Crossover map"></canvas><figcaption>Crossover map: which method is cheaper for each region size and dirty fraction (size = cost ratio).</figcaption></figure><div id="crossover-table"></div>' : ''}`;

  const cost = root.querySelector<HTMLCanvasElement>('#cost-chart')!;
  const switchLines = {
    id: 'switchLines',
    afterDatasetsDraw(chart: Chart) {
      const x = chart.scales.x;
      const area = chart.chartArea;
      if (!x) return;
      const ctx = chart.ctx;
      ctx.save();
      ctx.strokeStyle = '#333';
      ctx.setLineDash([4, 4]);
      for (const s of r.switches) {
        const px = x.getPixelForValue(s.t);
        ctx.beginPath();
        ctx.moveTo(px, area.top);
        ctx.lineTo(px, area.bottom);
        ctx.stroke();
      }
      ctx.restore();
    },
  };
  charts.push(
    new Chart(cost, {
      type: 'line',
      data: {
        datasets: r.series.map((s, i) => ({
          label: s.method,
          data: cumulative(s.points).map((p) => ({ x: p.t, y: p.cost })),
          borderColor: colour(s.method, i),
          backgroundColor: colour(s.method, i),
          pointRadius: 0,
          borderWidth: 2,
        })),
      },
      options: {
        animation: false,
        parsing: false,
        scales: {
          x: { type: 'linear', title: { display: true, text: `time (${r.timeUnit})` } },
          y: { title: { display: true, text: `cumulative cost (${r.costUnit})` } },
        },
      },
      plugins: [switchLines],
    }),
  );

  const cm = r.crossover;
  if (cm) {
    const canvas = root.querySelector<HTMLCanvasElement>('#crossover-chart')!;
    const maxRatio = Math.max(1, ...cm.cells.flat().map((c) => c.ratio));
    const byBest = (best: string) =>
      cm.cells.flatMap((row, ri) =>
        row
          .map((c, ci) => ({ c, ci }))
          .filter(({ c }) => c.best === best)
          .map(({ c, ci }) => ({
            x: ci,
            y: ri,
            r: 6 + 14 * Math.min(1, (c.ratio - 1) / Math.max(1e-9, maxRatio - 1)),
            ratio: c.ratio,
            pattern: c.pattern,
          })),
      );
    charts.push(
      new Chart(canvas, {
        type: 'bubble',
        data: {
          datasets: ['mkwrite', 'pagetable'].map((m, i) => ({
            label: `${m} cheaper`,
            data: byBest(m),
            backgroundColor: colour(m, i),
          })),
        },
        options: {
          animation: false,
          scales: {
            x: {
              type: 'linear',
              min: -0.5,
              max: cm.regionPages.length - 0.5,
              // Ticks exactly on the cell centres (the axis spans -0.5 .. n-0.5).
              afterBuildTicks: (axis) => {
                axis.ticks = cm.regionPages.map((_, i) => ({ value: i }));
              },
              ticks: { callback: (v) => String(cm.regionPages[Number(v)] ?? '') },
              title: { display: true, text: 'region size (pages)' },
            },
            y: {
              type: 'linear',
              min: -0.5,
              max: cm.dirtyFractions.length - 0.5,
              afterBuildTicks: (axis) => {
                axis.ticks = cm.dirtyFractions.map((_, i) => ({ value: i }));
              },
              ticks: { callback: (v) => String(cm.dirtyFractions[Number(v)] ?? '') },
              title: { display: true, text: 'dirty fraction' },
            },
          },
          plugins: {
            tooltip: {
              callbacks: {
                label: (ctx) => {
                  const d = ctx.raw as { ratio: number; pattern: string };
                  return `${ctx.dataset.label} by ×${d.ratio.toFixed(2)} (${d.pattern})`;
                },
              },
            },
          },
        },
      }),
    );
    const head = cm.regionPages.map((p) => `<th scope="col">${p} pages</th>`).join('');
    const rows = cm.cells
      .map(
        (row, ri) =>
          `<tr><th scope="row">${cm.dirtyFractions[ri]}</th>${row.map((c) => `<td class="best-${esc(c.best)}">${esc(c.best)} ×${c.ratio.toFixed(2)} <span class="dim">${esc(c.pattern)}</span></td>`).join('')}</tr>`,
      )
      .join('');
    root.querySelector('#crossover-table')!.innerHTML =
      `<table class="data" data-testid="crossover-table"><caption>Crossover map (rows: dirty fraction)</caption><thead><tr><th scope="col">dirty fraction</th>${head}</tr></thead><tbody>${rows}</tbody></table>`;
  }
}
