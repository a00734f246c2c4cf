/**
 * Visualizer benchmarks.
 * - web.trace10k.loadMs: a generated 10,000-step trace, served by `startServer`, becomes
 *   interactive (parsed, snapshots built, first render done) in headless Chromium; measured from
 *   navigation start (performance.now() in the page). Median of 5 page loads. Goal < 1000 ms.
 * - web.trace10k.seekMs: one random jump + full re-render in the page (mean of 300).
 * - web.trace10k.stepMs: one step forward (the arrow key's work) + re-render (mean of 300).
 * - web.viewmodel.build10kMs / web.viewmodel.seekUs: building every snapshot, and one random
 *   stateAt, in Node without the DOM.
 * Without /usr/bin/chromium the browser figures are not reported and the reason goes to stderr.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWeb, startServer } from '../src/cli/cmd-serve.ts';
import { syntheticTrace } from '../web/src/synthetic.ts';
import { TraceModel } from '../web/src/viewmodel.ts';
import type { Bench, BenchResult } from './harness.ts';

const CHROMIUM = '/usr/bin/chromium';
const STEPS = 10_000;

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function browserBench(traceFile: string, events: number): Promise<BenchResult[]> {
  if (!existsSync(CHROMIUM)) {
    process.stderr.write(`bench web.trace10k: skipped, ${CHROMIUM} is missing (apt-get install chromium)\n`);
    return [];
  }
  const { chromium } = await import('playwright-core');
  const dist = mkdtempSync(join(tmpdir(), 'dirtyscope-web-bench-'));
  await buildWeb(dist);
  const srv = await startServer({ port: 0, host: '127.0.0.1', traces: [traceFile], dist });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  try {
    const loads: number[] = [];
    let seekMs = 0;
    let stepMs = 0;
    for (let i = 0; i < 5; i++) {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      await page.goto(srv.url);
      await page.waitForFunction(() => window.__dirtyscope?.ready === true, undefined, { timeout: 60_000 });
      loads.push(await page.evaluate(() => window.__dirtyscope.readyAt));
      if (i === 0)
        seekMs = await page.evaluate(() => {
          const h = window.__dirtyscope;
          let x = 12345;
          const t0 = performance.now();
          for (let j = 0; j < 300; j++) {
            x = (x * 1103515245 + 12345) % 2147483648;
            h.seek(x % h.length);
          }
          return (performance.now() - t0) / 300;
        });
      if (i === 0)
        stepMs = await page.evaluate(() => {
          const h = window.__dirtyscope;
          h.seek(Math.floor(h.length / 2));
          const t0 = performance.now();
          for (let j = 0; j < 300; j++) h.seek(h.position + 1);
          return (performance.now() - t0) / 300;
        });
      await page.close();
    }
    const params = { steps: STEPS, events, runs: 5 };
    return [
      { name: 'web.trace10k.loadMs', unit: 'ms', value: median(loads), params },
      {
        name: 'web.trace10k.seekMs',
        unit: 'ms',
        value: seekMs,
        params: { steps: STEPS, events, seeks: 300 },
      },
      {
        name: 'web.trace10k.stepMs',
        unit: 'ms',
        value: stepMs,
        params: { steps: STEPS, events, moves: 300 },
      },
    ];
  } finally {
    await browser.close();
    await srv.close();
    rmSync(dist, { recursive: true, force: true });
  }
}

export const benchmarks: Bench[] = [
  {
    name: 'web.viewmodel',
    run() {
      const trace = syntheticTrace({ steps: STEPS, seed: 7 });
      const n = trace.events.length;
      const builds: number[] = [];
      let model: TraceModel | null = null;
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        model = new TraceModel(trace, { eager: true });
        builds.push(performance.now() - t0);
      }
      let x = 12345;
      const t0 = performance.now();
      for (let j = 0; j < 2000; j++) {
        x = (x * 1103515245 + 12345) % 2147483648;
        model!.stateAt(x % n);
      }
      const seekUs = ((performance.now() - t0) / 2000) * 1000;
      return [
        {
          name: 'web.viewmodel.build10kMs',
          unit: 'ms',
          value: median(builds),
          params: { steps: STEPS, events: n },
        },
        {
          name: 'web.viewmodel.seekUs',
          unit: 'us',
          value: seekUs,
          params: { steps: STEPS, events: n, seeks: 2000 },
        },
      ];
    },
  },
  {
    name: 'web.trace10k',
    async run() {
      const trace = syntheticTrace({ steps: STEPS, seed: 7 });
      const dir = mkdtempSync(join(tmpdir(), 'dirtyscope-trace10k-'));
      const file = join(dir, 'trace10k.json');
      writeFileSync(file, JSON.stringify(trace));
      try {
        return await browserBench(file, trace.events.length);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
];
