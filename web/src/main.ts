/**
 * The DOM layer: loads a trace (file picker, drag-and-drop, `?trace=URL`, `#t=` share link, or the
 * traces `dirtyscope serve` lists at traces/index.json), keeps one position, renders every panel
 * from the view-model at that position. Also the gallery and the run-report pages.
 */
import type { Trace } from '../../src/trace/schema.ts';
import { renderGallery } from './gallery.ts';
import {
  renderBitmaps,
  renderConsumers,
  renderLocks,
  renderLog,
  renderNotifiers,
  renderNow,
  renderPtes,
  renderUnits,
  renderViolation,
} from './render.ts';
import type { RunReport } from './report.ts';
import { decodeShare, encodeShare, shareParam } from './share.ts';
import './style.css';
import { classifyDocument, type Loaded, parseDocument } from './trace-io.ts';
import { TraceModel } from './viewmodel.ts';

/** Hooks for the end-to-end test and the benchmark (read-only use). */
interface DirtyscopeHooks {
  ready: boolean;
  /** performance.now() when the first trace became interactive. */
  readyAt: number;
  /** performance.now() at each load stage of the latest trace (fetched, parsed, indexed, rendered). */
  marks: Record<string, number>;
  position: number;
  length: number;
  seek(k: number): void;
}
declare global {
  interface Window {
    __dirtyscope: DirtyscopeHooks;
  }
}

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el;
}

const statusEl = $('status');
function status(msg: string, isError = false): void {
  statusEl.textContent = msg;
  statusEl.classList.toggle('error', isError);
}

type ViewName = 'trace' | 'gallery' | 'report';
function showView(name: ViewName): void {
  for (const v of ['trace', 'gallery', 'report'] as const) $(`view-${v}`).hidden = v !== name;
  document.querySelectorAll<HTMLAnchorElement>('nav a[data-view]').forEach((a) => {
    if (a.dataset.view === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  });
}

// ---------------------------------------------------------------------------------------------
// Trace view

let model: TraceModel | null = null;
let pos = -1;
let renderQueued = false;

const scrubber = $('scrubber') as HTMLInputElement;
const hooks: DirtyscopeHooks = {
  ready: false,
  readyAt: 0,
  marks: {},
  position: -1,
  length: 0,
  seek: (k) => setPos(k, true),
};
window.__dirtyscope = hooks;

const lastHtml = new Map<string, string>();
/** Assign only when the panel's HTML changed: most steps change one or two panels. */
function put(id: string, html: string): void {
  if (lastHtml.get(id) === html) return;
  lastHtml.set(id, html);
  $(id).innerHTML = html;
}

function render(): void {
  renderQueued = false;
  if (!model) return;
  const t = model.trace;
  const v = model.stateAt(pos);
  put('now', renderNow(t, v));
  put('ptes', renderPtes(t, v));
  put('tlbs', renderUnits(t, v, v.cpus, 'No CPU in this trace.'));
  put('devices', renderUnits(t, v, v.devices, 'No secondary MMU in this trace.'));
  put('bitmaps', renderBitmaps(v));
  put('locks', renderLocks(v));
  put('notifiers', renderNotifiers(v));
  put('consumers', renderConsumers(v));
  put('log', renderLog(t, v));
  const viol = $('violation');
  const vh = renderViolation(v);
  viol.hidden = vh === '';
  put('violation', vh);
  viol.classList.toggle('here', v.violationHere !== null);
  scrubber.value = String(pos);
  const text = `Event ${pos} of 0 to ${model.length - 1}, scheduler step ${v.step}`;
  scrubber.setAttribute('aria-valuetext', v.event ? `${text}: ${v.description}` : 'Initial state');
  $('position').textContent =
    pos < 0 ? `start · ${model.length} events` : `#${pos} of #0–#${model.length - 1} · step ${v.step}`;
  hooks.position = pos;
}

function queueRender(sync = false): void {
  if (sync) {
    render();
    return;
  }
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(render);
}

function setPos(k: number, sync = false): void {
  if (!model) return;
  pos = Math.max(-1, Math.min(model.length - 1, Math.trunc(k)));
  queueRender(sync);
}

function renderMarks(m: TraceModel): void {
  const marks = $('marks');
  const n = Math.max(1, m.length);
  marks.innerHTML = m.index.violationPositions
    .map(
      (p) =>
        `<span class="mark viol" style="left:${(((p + 1) / n) * 100).toFixed(3)}%" title="violation at event ${p}"></span>`,
    )
    .join('');
}

/** Fill the snapshot chain in slices while the page is idle (seeks extend it on demand anyway). */
function buildInBackground(m: TraceModel): void {
  const tick = (): void => {
    if (model !== m || m.buildMore(4096)) return;
    setTimeout(tick, 0);
  };
  setTimeout(tick, 0);
}

function openTrace(trace: Trace, source: string): void {
  hooks.marks.parsed = performance.now();
  model = new TraceModel(trace);
  lastHtml.clear();
  hooks.marks.indexed = performance.now();
  $('empty').hidden = true;
  $('trace-ui').hidden = false;
  $('trace-title').textContent = `${trace.model || 'trace'} / ${trace.variant || '-'}`;
  const verdict = trace.verdict
    ? ` · verdict ${trace.verdict}${trace.property ? ` (${trace.property})` : ''}`
    : '';
  $('trace-meta').textContent =
    `${trace.events.length} events · ${trace.setup.cpus} CPUs · ${trace.setup.devices.length} device${trace.setup.devices.length === 1 ? '' : 's'}${verdict}${trace.schedule ? ` · schedule ${trace.schedule}` : ''} · from ${source}`;
  scrubber.min = '-1';
  scrubber.max = String(trace.events.length - 1);
  ($('btn-violation') as HTMLButtonElement).hidden = model.index.firstViolation === null;
  ($('share-out') as HTMLInputElement).hidden = true;
  renderMarks(model);
  showView('trace');
  setPos(-1, true);
  status(`Loaded ${source}: ${trace.events.length} events.`);
  hooks.marks.rendered = performance.now();
  buildInBackground(model);
  if (!hooks.ready) {
    hooks.ready = true;
    hooks.readyAt = performance.now();
  }
  hooks.length = trace.events.length;
  document.documentElement.dataset.state = 'ready';
}

function openLoaded(doc: Loaded, source: string): void {
  if (doc.kind === 'trace') openTrace(doc.trace, source);
  else void openReport(doc.report, source);
}

async function loadText(text: string, source: string): Promise<void> {
  try {
    openLoaded(parseDocument(text), source);
  } catch (e) {
    status(`Could not open ${source}: ${(e as Error).message}`, true);
    document.documentElement.dataset.state = 'error';
  }
}

async function loadUrl(url: string): Promise<void> {
  status(`Loading ${url}…`);
  let r: Response;
  try {
    r = await fetch(url);
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
  } catch (e) {
    status(`Could not fetch ${url}: ${(e as Error).message}`, true);
    document.documentElement.dataset.state = 'error';
    return;
  }
  // r.json() parses without materialising the text first (a 10k-step trace is ~9 MB).
  let x: unknown;
  try {
    x = await r.json();
  } catch (e) {
    status(`Could not open ${url}: not valid JSON (${(e as Error).message})`, true);
    document.documentElement.dataset.state = 'error';
    return;
  }
  hooks.marks.fetched = performance.now();
  try {
    openLoaded(classifyDocument(x), url);
  } catch (e) {
    status(`Could not open ${url}: ${(e as Error).message}`, true);
    document.documentElement.dataset.state = 'error';
  }
}

function step(delta: number): void {
  setPos(pos + delta);
}

function stepScheduler(dir: 1 | -1): void {
  if (model) setPos(model.stepBoundary(pos, dir));
}

function gotoViolation(): void {
  const v = model?.index.firstViolation;
  if (v) setPos(v.seq);
}

function isTextInput(t: EventTarget | null): boolean {
  return (
    t instanceof HTMLElement &&
    (t.tagName === 'TEXTAREA' ||
      t.tagName === 'SELECT' ||
      (t instanceof HTMLInputElement && t.type !== 'range' && t.type !== 'button' && t.type !== 'file'))
  );
}

document.addEventListener('keydown', (e) => {
  if (!model || $('view-trace').hidden || isTextInput(e.target) || e.ctrlKey || e.metaKey || e.altKey) return;
  let handled = true;
  switch (e.key) {
    case 'ArrowRight':
      if (e.shiftKey) stepScheduler(1);
      else step(1);
      break;
    case 'ArrowLeft':
      if (e.shiftKey) stepScheduler(-1);
      else step(-1);
      break;
    case 'Home':
      setPos(-1);
      break;
    case 'End':
      setPos(model.length - 1);
      break;
    case 'v':
    case 'V':
      gotoViolation();
      break;
    default:
      handled = false;
  }
  // The range input would also move itself on arrows/Home/End: we own the position.
  if (handled) e.preventDefault();
});

scrubber.addEventListener('input', () => setPos(Number(scrubber.value)));
$('btn-home').addEventListener('click', () => setPos(-1));
$('btn-prev').addEventListener('click', () => step(-1));
$('btn-next').addEventListener('click', () => step(1));
$('btn-end').addEventListener('click', () => model && setPos(model.length - 1));
$('btn-violation').addEventListener('click', gotoViolation);
$('log').addEventListener('click', (e) => {
  const b = (e.target as HTMLElement).closest<HTMLElement>('[data-goto]');
  if (b) setPos(Number(b.dataset.goto));
});

$('share-btn').addEventListener('click', async () => {
  if (!model) return;
  // The share link carries the whole trace, serialised compactly.
  const compact = JSON.stringify(model.trace);
  const link = `${location.origin}${location.pathname}#t=${await encodeShare(compact)}`;
  const out = $('share-out') as HTMLInputElement;
  out.hidden = false;
  out.value = link;
  out.select();
  try {
    await navigator.clipboard.writeText(link);
    status(`Share link copied (${link.length} characters).`);
  } catch {
    status(`Share link ready below (${link.length} characters); copy it by hand.`);
  }
});

// ---------------------------------------------------------------------------------------------
// Loading by file picker and drag-and-drop (traces and run reports alike)

async function loadFile(f: File): Promise<void> {
  await loadText(await f.text(), f.name);
}

($('file-input') as HTMLInputElement).addEventListener('change', (e) => {
  const f = (e.target as HTMLInputElement).files?.[0];
  if (f) void loadFile(f);
});

const dropHint = $('drop-hint');
let dragDepth = 0;
document.addEventListener('dragenter', (e) => {
  if (!e.dataTransfer?.types.includes('Files')) return;
  dragDepth++;
  dropHint.hidden = false;
});
document.addEventListener('dragleave', () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (dragDepth === 0) dropHint.hidden = true;
});
document.addEventListener('dragover', (e) => e.preventDefault());
document.addEventListener('drop', (e) => {
  e.preventDefault();
  dragDepth = 0;
  dropHint.hidden = true;
  const f = e.dataTransfer?.files[0];
  if (f) void loadFile(f);
});

$('url-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const url = ($('url-input') as HTMLInputElement).value.trim();
  if (!url) return;
  const u = new URL(location.href);
  u.search = `?trace=${encodeURIComponent(url)}`;
  u.hash = '';
  history.pushState(null, '', u);
  void loadUrl(url);
});

// ---------------------------------------------------------------------------------------------
// Traces served by `dirtyscope serve`

interface ServedTrace {
  id: number;
  name: string;
  url: string;
}

async function servedTraces(): Promise<ServedTrace[]> {
  try {
    const r = await fetch('traces/index.json');
    if (!r.ok) return [];
    const list = (await r.json()) as ServedTrace[];
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function showServed(list: ServedTrace[]): void {
  if (list.length === 0) return;
  const sel = $('served-select') as HTMLSelectElement;
  sel.innerHTML = list
    .map((t) => `<option value="${t.url.replace(/"/g, '&quot;')}">${t.name.replace(/</g, '&lt;')}</option>`)
    .join('');
  sel.hidden = false;
  $('served-label').hidden = false;
  sel.addEventListener('change', () => void loadUrl(sel.value));
}

// ---------------------------------------------------------------------------------------------
// Gallery and run report

async function openGallery(): Promise<void> {
  showView('gallery');
  const ul = $('gallery');
  try {
    const r = await fetch('gallery/index.json');
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    ul.innerHTML = renderGallery(await r.json());
  } catch (e) {
    ul.innerHTML = `<li>Gallery index not available (${(e as Error).message}).</li>`;
  }
  document.documentElement.dataset.state = 'gallery';
}

async function openReport(report: RunReport, source: string): Promise<void> {
  showView('report');
  $('report-empty').hidden = true;
  const { renderReport } = await import('./report-view.ts');
  renderReport($('report'), report);
  status(`Loaded run report ${source}.`);
  document.documentElement.dataset.state = 'ready';
}

// ---------------------------------------------------------------------------------------------
// Start-up: ?view=, ?trace=, ?report=, #t=, then served traces.

async function start(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const view = q.get('view');
  const share = shareParam(location.hash);
  const traceUrl = q.get('trace');
  const reportUrl = q.get('report');
  const served = await servedTraces();
  showServed(served);
  if (share) {
    try {
      await loadText(await decodeShare(share), 'share link');
    } catch (e) {
      status(`Could not decode the share link: ${(e as Error).message}`, true);
    }
    return;
  }
  if (traceUrl) return loadUrl(traceUrl);
  if (reportUrl) return loadUrl(reportUrl);
  if (view === 'gallery') return openGallery();
  if (view === 'report') {
    showView('report');
    document.documentElement.dataset.state = 'empty';
    return;
  }
  showView('trace');
  if (served[0]) return loadUrl(served[0].url);
  document.documentElement.dataset.state = 'empty';
}

window.addEventListener('hashchange', () => {
  const share = shareParam(location.hash);
  if (share) void decodeShare(share).then((t) => loadText(t, 'share link'));
});

void start();
