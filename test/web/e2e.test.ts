/**
 * End-to-end: build the app into a temporary directory, serve it with `startServer` (the code
 * behind `dirtyscope serve`), drive Debian's Chromium through playwright-core, load the seed
 * counterexample, step to the violation with the keyboard and check what the views show.
 * A screenshot lands in artifacts/web-e2e-violation.png.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWeb, type RunningServer, startServer } from '../../src/cli/cmd-serve.ts';
import type { Trace } from '../../src/trace/schema.ts';
import { encodeShare } from '../../web/src/share.ts';
import { requireOrSkip } from '../capability.ts';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
// DIRTYSCOPE_REQUIRE=browser turns this suite's skip into a failure.
const browserCap = requireOrSkip(
  'browser',
  hasChromium ? null : `${CHROMIUM} is missing (install it with apt-get install chromium)`,
);
const FIXTURE = new URL('../fixtures/wp-no-flush.trace.json', import.meta.url).pathname;
const ARTIFACTS = new URL('../../artifacts/', import.meta.url).pathname;
const trace = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Trace;
const violationIdx = trace.events.findIndex((e) => e.kind === 'violation');
const wpIdx = trace.events.findIndex((e) => e.kind === 'pte' && e.fn === 'wpPte');
const violationMsg = (trace.events[violationIdx] as { message: string }).message;

describe.skipIf(browserCap.skip)(`web e2e in headless Chromium${browserCap.label}`, () => {
  let dist = '';
  let srv: RunningServer;
  let browser: Browser;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    dist = mkdtempSync(join(tmpdir(), 'dirtyscope-web-'));
    await buildWeb(dist);
    srv = await startServer({ port: 0, host: '127.0.0.1', traces: [FIXTURE], dist });
    browser = await chromium.launch({
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
  });

  afterAll(async () => {
    await browser?.close();
    await srv?.close();
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  /** Open a fresh page; `pageErrors` then collects that page's errors only. */
  async function open(path: string): Promise<Page> {
    pageErrors.length = 0;
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') pageErrors.push(m.text());
    });
    await page.goto(srv.url + path);
    await page.waitForFunction(() => document.documentElement.dataset.state !== undefined);
    return page;
  }

  it('opens the served counterexample and steps to the violation with the keyboard', async () => {
    const page = await open('');
    expect(await page.getAttribute('html', 'data-state')).toBe('ready');
    await expect(page.textContent('#trace-title')).resolves.toBe('wp-vs-writer / no-tlb-flush');
    await page.focus('#scrubber');
    // Step to wp's PTE change: RW is the changed bit and CPU 0's entry turns stale.
    for (let i = -1; i < wpIdx; i++) await page.keyboard.press('ArrowRight');
    await page.waitForFunction((k) => window.__dirtyscope.position === k, wpIdx);
    const changed = await page.$$eval('#ptes td.bit.changed', (tds) =>
      tds.map((td) => td.getAttribute('title')),
    );
    expect(changed).toEqual(['RW = 0 (changed by this event)']);
    await expect(page.textContent('[data-testid=spec-link]')).resolves.toContain('spec §3');
    expect(await page.isHidden('#violation')).toBe(true);

    for (let i = wpIdx; i < violationIdx; i++) await page.keyboard.press('ArrowRight');
    await page.waitForFunction((k) => window.__dirtyscope.position === k, violationIdx);
    // The violation is marked and explained in one sentence.
    expect(await page.isVisible('#violation')).toBe(true);
    await expect(page.textContent('[data-testid=violation-message]')).resolves.toBe(violationMsg);
    // CPU 0's TLB entry is stale versus the PTE; CPU 1 has nothing cached.
    const stale = await page.$$eval('[data-testid=tlb-cpu0] tr.stale', (rows) =>
      rows.map((r) => ({ addr: r.getAttribute('data-addr'), text: r.textContent ?? '' })),
    );
    expect(stale).toHaveLength(1);
    expect(stale[0]!.addr).toBe('0x7f0000001000');
    expect(stale[0]!.text).toContain('STALE');
    expect(stale[0]!.text).toContain('cached writable, PTE read-only');
    await expect(page.textContent('[data-testid=tlb-cpu1]')).resolves.toContain('empty');
    // The PTE shows RW clear, D set.
    const rwCell = await page.getAttribute('#ptes tr[data-addr="0x7f0000001000"] td[title^="RW"]', 'title');
    expect(rwCell).toMatch(/^RW = 0/);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'web-e2e-violation.png'), fullPage: true });
    // Home/End and scheduler-step keys.
    await page.keyboard.press('Home');
    await page.waitForFunction(() => window.__dirtyscope.position === -1);
    await page.keyboard.press('Shift+ArrowRight');
    await page.waitForFunction(() => window.__dirtyscope.position === 0);
    await page.keyboard.press('Shift+ArrowRight');
    await page.waitForFunction(
      (k) => window.__dirtyscope.position === k,
      trace.events.findIndex((e) => e.step === 1),
    );
    await page.keyboard.press('End');
    await page.waitForFunction((k) => window.__dirtyscope.position === k, trace.events.length - 1);
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('opens a trace from a #t= share link and jumps to the violation with V', async () => {
    const page = await open(`#t=${await encodeShare(JSON.stringify(trace))}`);
    await expect(page.textContent('#status')).resolves.toContain('share link');
    await page.keyboard.press('v');
    await page.waitForFunction((k) => window.__dirtyscope.position === k, violationIdx);
    await expect(page.textContent('[data-testid=violation-message]')).resolves.toBe(violationMsg);
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('lists the gallery and opens its seed counterexample', async () => {
    const page = await open('?view=gallery');
    await page.waitForSelector('#gallery a');
    const items = await page.$$eval('#gallery li', (lis) => lis.map((li) => li.querySelectorAll('p').length));
    expect(items.length).toBeGreaterThan(0);
    expect(items.every((n) => n === 2)).toBe(true);
    await page.click('#gallery a');
    await page.waitForFunction(() => window.__dirtyscope?.ready === true);
    await expect(page.textContent('#trace-title')).resolves.toBe('wp-vs-writer / no-tlb-flush');
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('every checker counterexample in the gallery opens and explains its violation', async () => {
    const index = JSON.parse(
      readFileSync(new URL('../../web/public/gallery/index.json', import.meta.url), 'utf8'),
    ) as Array<{
      file: string;
    }>;
    const page = await open('?view=gallery');
    for (const { file } of index) {
      const t = JSON.parse(
        readFileSync(new URL(`../../web/public/gallery/${file}`, import.meta.url), 'utf8'),
      ) as Trace;
      const v = t.events.find((e) => e.kind === 'violation') as { seq: number; message: string };
      await page.goto(`${srv.url}?trace=${encodeURIComponent(`gallery/${file}`)}`);
      await page.waitForFunction(() => window.__dirtyscope?.ready === true);
      await page.keyboard.press('v');
      await page.waitForFunction((k) => window.__dirtyscope.position === k, v.seq);
      await expect(page.textContent('[data-testid=violation-message]'), file).resolves.toBe(v.message);
    }
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('renders a run report with chart.js charts and the crossover table', async () => {
    const page = await open('?report=examples/run-report.json');
    await page.waitForSelector('#cost-chart');
    expect(await page.isVisible('#view-report')).toBe(true);
    const canvases = await page.$$eval('#report canvas', (cs) =>
      cs.map((c) => (c as HTMLCanvasElement).width > 0 && (c as HTMLCanvasElement).height > 0),
    );
    expect(canvases).toEqual([true, true]);
    const cells = await page.$$eval('[data-testid=crossover-table] tbody td', (tds) => tds.length);
    expect(cells).toBe(16);
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('opens traces by file picker, by drag-and-drop and by the URL form', async () => {
    const page = await open('?view=gallery');
    const other = 'concurrent-wp--no-tlb-flush.json';
    const otherPath = new URL(`../../web/public/gallery/${other}`, import.meta.url).pathname;
    // File picker.
    await page.setInputFiles('#file-input', FIXTURE);
    await page.waitForFunction(() => window.__dirtyscope?.ready === true);
    await expect(page.textContent('#trace-title')).resolves.toBe('wp-vs-writer / no-tlb-flush');
    await expect(page.textContent('#status')).resolves.toContain('wp-no-flush.trace.json');
    // Drag and drop: a DataTransfer carrying the file, dropped on the page.
    const otherText = readFileSync(otherPath, 'utf8');
    const dt = await page.evaluateHandle(
      ([name, body]) => {
        const d = new DataTransfer();
        d.items.add(new File([body], name, { type: 'application/json' }));
        return d;
      },
      [other, otherText] as const,
    );
    await page.dispatchEvent('body', 'drop', { dataTransfer: dt });
    await page.waitForFunction((n) => document.getElementById('status')?.textContent?.includes(n), other);
    const t = JSON.parse(otherText) as Trace;
    await expect(page.textContent('#trace-title')).resolves.toBe(`${t.model} / ${t.variant}`);
    // URL form.
    await page.fill('#url-input', 'gallery/wp-vs-writer-no-tlb-flush.json');
    await page.press('#url-input', 'Enter');
    await page.waitForFunction(() => location.search.includes('trace='));
    await page.waitForFunction(() =>
      document.getElementById('trace-title')?.textContent?.startsWith('wp-vs-writer'),
    );
    // Keys typed into the URL field do not move the timeline.
    const before = await page.evaluate(() => window.__dirtyscope.position);
    await page.press('#url-input', 'End');
    expect(await page.evaluate(() => window.__dirtyscope.position)).toBe(before);
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('reports a bad trace URL in one line instead of failing silently', async () => {
    const page = await open('?trace=nope.json');
    await page.waitForFunction(() => document.documentElement.dataset.state === 'error');
    await expect(page.textContent('#status')).resolves.toMatch(/^Could not (fetch|open) nope\.json/);
    await page.close();
  });
});
