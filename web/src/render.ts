/**
 * HTML for each panel, as pure functions of the view state (strings, escaped). The DOM layer
 * (main.ts) only assigns them, so what a panel shows can be tested without a browser.
 */
import type { Trace } from '../../src/trace/schema.ts';
import { hex, PTE_FLAGS } from './pte-bits.ts';
import {
  describeEvent,
  type StaleReason,
  type TlbEntryView,
  type UnitView,
  type ViewState,
} from './viewmodel.ts';

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESC[c]!);
}

/** Where the spec is served (by `dirtyscope serve`, from ../shared/spec/kernel-spec.md). */
export const SPEC_URL = 'spec/kernel-spec.md';

const STALE_TEXT: Record<StaleReason, string> = {
  'not-present': 'PTE not present',
  'writable-but-pte-readonly': 'cached writable, PTE read-only',
  'dirty-but-pte-clean': 'cached dirty, PTE clean',
  'pfn-differs': 'cached frame differs from PTE',
};

function mmLabel(trace: Trace, mm: number): string {
  const l = trace.setup.mms[String(mm)];
  return l ? `${mm} (${l})` : String(mm);
}

/** Page index within the first VMA of `mm` that covers `addr` (file page offset), if any. */
export function pgoffOf(trace: Trace, mm: number, addr: number): number | null {
  for (const v of trace.setup.vmas)
    if (v.mm === mm && addr >= v.start && addr < v.end)
      return v.pgoff + Math.floor((addr - v.start) / trace.setup.pageSize);
  return null;
}

/** Pages (file page offsets) the shown violation is about, once the position reached it. */
function violationPages(v: ViewState): Set<number> {
  const f = v.violationHere ?? (v.pastViolation ? v.firstViolation : null);
  return new Set(f?.pages ?? []);
}

function addrCell(trace: Trace, mm: number, addr: number, vp: Set<number>): string {
  const pg = pgoffOf(trace, mm, addr);
  const tag = pg !== null && vp.has(pg) ? ' <strong class="viol-tag">violation page</strong>' : '';
  return `<code>${hex(addr)}</code>${pg !== null ? ` <span class="dim">pg ${pg}</span>` : ''}${tag}`;
}

export function renderNow(trace: Trace, v: ViewState): string {
  const parts: string[] = [];
  parts.push(`<p class="desc" data-testid="now-desc">${esc(v.description)}</p>`);
  if (v.event) {
    const fn = v.fn ? `<code>${esc(v.fn)}</code>` : '<span class="dim">(no function)</span>';
    const spec = v.spec
      ? ` — <a href="${SPEC_URL}#${v.spec.anchor}" data-testid="spec-link" target="_blank" rel="noopener">spec §${esc(v.spec.section)} ${esc(v.spec.title)}</a>`
      : '';
    parts.push(
      `<p>Event #${v.index} (events #0–#${v.total - 1}) · scheduler step ${v.step} · task <strong>${esc(v.task)}</strong>${v.cpu >= 0 ? ` on CPU ${v.cpu}` : ''} · in ${fn}${spec}</p>`,
    );
  } else parts.push(`<p>${trace.events.length} events. Press <kbd>→</kbd> to apply the first.</p>`);
  return parts.join('');
}

function raw(lo: number, hi: number): string {
  return `${(hi >>> 0).toString(16).padStart(8, '0')}_${(lo >>> 0).toString(16).padStart(8, '0')}`;
}

/** Rows shown per table; big traces show the most relevant ones and say how many are hidden. */
export const MAX_ROWS = 200;

/**
 * The `max` most relevant items (by `score`, higher first; ties: earlier first), in their
 * original order, plus how many were left out.
 */
export function topRows<T>(
  items: readonly T[],
  max: number,
  score: (x: T) => number,
): { rows: T[]; hidden: number } {
  if (items.length <= max) return { rows: items.slice(), hidden: 0 };
  const idx = items.map((_, i) => i);
  idx.sort((a, b) => score(items[b]!) - score(items[a]!) || a - b);
  const keep = idx.slice(0, max).sort((a, b) => a - b);
  return { rows: keep.map((i) => items[i]!), hidden: items.length - max };
}

function hiddenNote(hidden: number, what: string, which: string): string {
  return hidden > 0 ? `<p class="dim">${hidden} more ${what} not shown (listed: ${which}).</p>` : '';
}

export function renderPtes(trace: Trace, v: ViewState): string {
  if (v.ptes.length === 0) return '<p class="dim">No page-table entry touched yet.</p>';
  const { rows: ptes, hidden } = topRows(v.ptes, MAX_ROWS, (p) =>
    p.changed.length ? Number.MAX_SAFE_INTEGER : p.lastSeq,
  );
  const head = PTE_FLAGS.map((f) => `<th scope="col" title="${f.name} (bit ${f.pos})">${f.short}</th>`).join(
    '',
  );
  const vp = violationPages(v);
  const rows = ptes.map((p) => {
    const bits = PTE_FLAGS.map((f) => {
      const on = ((f.half === 0 ? p.lo : p.hi) >>> f.bit) & 1;
      const ch = p.changed.includes(f.name);
      return `<td class="bit${on ? ' on' : ''}${ch ? ' changed' : ''}" title="${f.name} = ${on}${ch ? ' (changed by this event)' : ''}">${on}${ch ? '<span class="visually-hidden"> changed</span>' : ''}</td>`;
    }).join('');
    const pfnCh = p.changed.includes('PFN');
    const cls = p.changed.length ? ' class="changed-row"' : '';
    return `<tr${cls} data-addr="${hex(p.addr)}"><td>${esc(mmLabel(trace, p.mm))}</td><td>${addrCell(trace, p.mm, p.addr, vp)}</td><td>${p.level === 4 ? 'PTE' : `L${p.level}`}</td>${bits}<td class="${pfnCh ? 'changed' : ''}"><code>${hex(p.bits.pfn)}</code></td><td><code class="dim">${raw(p.lo, p.hi)}</code>${p.prev ? ` <span class="dim">was <code>${raw(p.prev.lo, p.prev.hi)}</code></span>` : ''}</td></tr>`;
  });
  return `<table class="data" data-testid="pte-table"><caption class="visually-hidden">Entries with decoded flag bits; changed bits are highlighted</caption><thead><tr><th scope="col">mm</th><th scope="col">address</th><th scope="col">level</th>${head}<th scope="col">PFN</th><th scope="col">raw</th></tr></thead><tbody>${rows.join('')}</tbody></table>${hiddenNote(hidden, 'entries', 'the most recently written')}`;
}

function entryRow(trace: Trace, e: TlbEntryView, vp: Set<number>): string {
  const status = e.stale
    ? `<strong class="stale-tag">STALE</strong> ${esc(e.staleReasons.map((r) => STALE_TEXT[r]).join('; '))}`
    : e.pteKnown
      ? 'matches PTE'
      : '<span class="dim">PTE not in trace</span>';
  const cls = [e.stale ? 'stale' : '', e.filledHere ? 'filled' : ''].filter(Boolean).join(' ');
  return `<tr${cls ? ` class="${cls}"` : ''} data-addr="${hex(e.addr)}"><td>${esc(mmLabel(trace, e.mm))}</td><td>${addrCell(trace, e.mm, e.addr, vp)}</td><td><code>${hex(e.pfn)}</code></td><td>${e.writable ? 'W' : '<span class="dim">ro</span>'}</td><td>${e.dirty ? 'D' : '<span class="dim">clean</span>'}</td><td>${status}</td></tr>`;
}

export function renderUnits(trace: Trace, v: ViewState, units: UnitView[], emptyText: string): string {
  if (units.length === 0) return `<p class="dim">${esc(emptyText)}</p>`;
  const vp = violationPages(v);
  return units
    .map((u) => {
      const flushed = u.flushedHere
        ? ` <span class="flush-tag">flushed: ${u.flushedHere} dropped</span>`
        : '';
      // Stale and just-filled entries always make the cut.
      const { rows, hidden } = topRows(
        u.entries,
        MAX_ROWS,
        (e) => (e.stale ? 2 : 0) + (e.filledHere ? 1 : 0),
      );
      const body = u.entries.length
        ? `<table class="data"><thead><tr><th scope="col">mm</th><th scope="col">page</th><th scope="col">PFN</th><th scope="col">write</th><th scope="col">dirty</th><th scope="col">vs PTE</th></tr></thead><tbody>${rows.map((e) => entryRow(trace, e, vp)).join('')}</tbody></table>${hiddenNote(hidden, 'cached entries', 'stale and just-filled first')}`
        : '<p class="dim">empty</p>';
      return `<div class="unit" data-testid="tlb-${esc(u.unit)}"><h4>${esc(u.label)}${flushed}</h4>${body}</div>`;
    })
    .join('');
}

const MAX_BITMAP_CELLS = 256;

export function renderBitmaps(v: ViewState): string {
  if (v.bitmaps.length === 0) return '<p class="dim">No tracker bitmap changed yet.</p>';
  return v.bitmaps
    .map((b) => {
      const n = Math.min(MAX_BITMAP_CELLS, Math.max(8, b.end, (b.bits[b.bits.length - 1] ?? 0) + 1));
      const set = new Set(b.bits);
      let cells = '';
      for (let i = 0; i < n; i++) {
        const inWin = i >= b.start && i < b.end;
        const cls = `cell${set.has(i) ? ' on' : ''}${inWin ? ' win' : ''}${b.changedIndex === i ? ' changed' : ''}`;
        cells += `<span class="${cls}" title="bit ${i}${set.has(i) ? ' set' : ''}${inWin ? ', in window' : ''}">${set.has(i) ? '■' : '·'}</span>`;
      }
      const win = b.start >= b.end ? 'empty window' : `window [${b.start}, ${b.end})`;
      const bad = b.windowOk ? '' : ' <strong class="stale-tag">window does not cover every set bit</strong>';
      return `<div class="bitmap" data-testid="bitmap-${esc(b.owner)}"><h4>${esc(b.owner)}</h4><p>set: ${b.bits.length ? b.bits.join(', ') : 'none'} · ${win}${bad}</p><div class="cells" aria-hidden="true">${cells}</div></div>`;
    })
    .join('');
}

export function renderLocks(v: ViewState): string {
  if (v.locks.length === 0) return '<p class="dim">No lock held.</p>';
  const rows = v.locks.map(
    (l) =>
      `<li><code>${esc(l.lock)}</code>: held by ${l.holders.map((h) => `${esc(h.task)} (${esc(h.mode)})`).join(', ') || 'nobody'}${l.waiters.length ? `; waiting: ${l.waiters.map((w) => `${esc(w.task)} (${esc(w.mode)})`).join(', ')}` : ''}</li>`,
  );
  return `<ul class="plain">${rows.join('')}</ul>`;
}

export function renderNotifiers(v: ViewState): string {
  const active = v.activeNotifiers.length
    ? `<p>Open invalidations: ${v.activeNotifiers.map((n) => `<code>${hex(n.start)}..${hex(n.end)}</code> by ${esc(n.task)} (${esc(n.event)})`).join('; ')}</p>`
    : '<p class="dim">No invalidation in progress.</p>';
  const log = v.notifierFlushLog.length
    ? `<ol class="log">${v.notifierFlushLog.map((l) => `<li${l.seq === v.index ? ' class="current"' : ''}><span class="dim">#${l.seq}</span> ${esc(l.text)}</li>`).join('')}</ol>`
    : '<p class="dim">No notifier or flush event yet.</p>';
  return active + log;
}

export function renderConsumers(v: ViewState): string {
  if (v.consumers.length === 0) return '<p class="dim">No consumer has synchronised yet.</p>';
  return v.consumers
    .map(
      (c) =>
        `<div${c.syncedHere ? ' class="changed-row"' : ''}><h4>${esc(c.consumer)}</h4><p>${c.syncs} sync${c.syncs === 1 ? '' : 's'}; last copied pages: ${c.last.length ? c.last.join(', ') : 'none'}; ever copied: ${c.all.join(', ') || 'none'}</p></div>`,
    )
    .join('');
}

export function renderLog(trace: Trace, v: ViewState, radius = 6): string {
  const from = Math.max(0, v.index - radius);
  const to = Math.min(trace.events.length - 1, v.index + radius);
  const items: string[] = [];
  for (let i = from; i <= to; i++) {
    const e = trace.events[i]!;
    const cls = [
      i === v.index ? 'current' : '',
      i > v.index ? 'future' : '',
      e.kind === 'violation' ? 'viol' : '',
    ]
      .filter(Boolean)
      .join(' ');
    items.push(
      `<li${cls ? ` class="${cls}"` : ''}><button type="button" class="linkish" data-goto="${i}"${i === v.index ? ' aria-current="step"' : ''}>#${i}</button> <span class="dim">step ${e.step} · ${esc(e.fn || '-')}</span> ${esc(describeEvent(e))}</li>`,
    );
  }
  return `<ol class="log">${items.join('')}</ol>`;
}

export function renderViolation(v: ViewState): string {
  const f = v.violationHere ?? (v.pastViolation ? v.firstViolation : null);
  if (!f) return '';
  const here = v.violationHere ? 'This step violates' : `Event ${f.seq} violated`;
  return `<p><strong>${here} <code>${esc(f.property)}</code>:</strong> <span data-testid="violation-message">${esc(f.message)}</span></p>`;
}
