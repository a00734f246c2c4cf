/**
 * The view-model: pure functions from a trace to "what the machine looked like after event k".
 * No DOM here, so it is unit-tested in Node (test/web/viewmodel.test.ts).
 *
 * Position k means "events[0..k] have been applied" (k = -1: nothing yet). The timeline steps by
 * event, and the scheduler step of the current event is shown next to it.
 *
 * Speed: a `TraceModel` keeps a full copy of the replay state every `snapshotEvery` events,
 * built once at load. Stepping forward applies one event to a working copy (O(1)); any other
 * jump clones the nearest snapshot at or before the target and replays at most
 * `snapshotEvery - 1` events, so a 10,000-event trace seeks in well under a millisecond.
 */
import type {
  TlbFillEvent,
  TlbFlushEvent,
  Trace,
  TraceEvent,
  TraceSetup,
  ViolationEvent,
} from '../../src/trace/schema.ts';
import { changedFlags, type DecodedPte, decodePte, hex, pteDirtyBits, ptePfn } from './pte-bits.ts';
import { type SpecRef, specForEvent } from './spec-map.ts';

// ---------------------------------------------------------------------------------------------
// Replay state (mutable while replaying; records inside the maps are immutable, so a clone only
// copies the maps).

interface PteRec {
  readonly mm: number;
  readonly addr: number;
  readonly level: number;
  readonly lo: number;
  readonly hi: number;
  /** seq of the event that last wrote it. */
  readonly seq: number;
}

interface TlbRec {
  readonly mm: number;
  /** Page-aligned virtual address. */
  readonly addr: number;
  readonly pfn: number;
  readonly writable: boolean;
  readonly dirty: boolean;
  readonly seq: number;
}

interface BitmapRec {
  bits: Set<number>;
  start: number;
  end: number;
  seq: number;
}

interface LockRec {
  holders: Array<{ task: string; mode: string }>;
  waiters: Array<{ task: string; mode: string }>;
}

interface NotifierRec {
  readonly seq: number;
  readonly task: string;
  readonly mm: number;
  readonly start: number;
  readonly end: number;
  readonly event: string;
}

interface ConsumerRec {
  last: number[];
  all: Set<number>;
  syncs: number;
  seq: number;
}

export interface ReplayState {
  /** Events applied so far. */
  applied: number;
  ptes: Map<string, PteRec>;
  /** unit key ("cpu0", "dev:0") -> page key -> entry. */
  units: Map<string, Map<string, TlbRec>>;
  bitmaps: Map<string, BitmapRec>;
  locks: Map<string, LockRec>;
  notifiers: NotifierRec[];
  consumers: Map<string, ConsumerRec>;
}

export function emptyState(): ReplayState {
  return {
    applied: 0,
    ptes: new Map(),
    units: new Map(),
    bitmaps: new Map(),
    locks: new Map(),
    notifiers: [],
    consumers: new Map(),
  };
}

export function cloneState(s: ReplayState): ReplayState {
  const units = new Map<string, Map<string, TlbRec>>();
  for (const [k, v] of s.units) units.set(k, new Map(v));
  const bitmaps = new Map<string, BitmapRec>();
  for (const [k, v] of s.bitmaps)
    bitmaps.set(k, { bits: new Set(v.bits), start: v.start, end: v.end, seq: v.seq });
  const locks = new Map<string, LockRec>();
  for (const [k, v] of s.locks) locks.set(k, { holders: v.holders.slice(), waiters: v.waiters.slice() });
  const consumers = new Map<string, ConsumerRec>();
  for (const [k, v] of s.consumers)
    consumers.set(k, { last: v.last, all: new Set(v.all), syncs: v.syncs, seq: v.seq });
  return {
    applied: s.applied,
    ptes: new Map(s.ptes),
    units,
    bitmaps,
    locks,
    notifiers: s.notifiers.slice(),
    consumers,
  };
}

export function pteKey(mm: number, addr: number, level: number): string {
  return `${mm}:${addr}:${level}`;
}

function pageOf(addr: number, pageSize: number): number {
  // Arithmetic, not bit masks: user addresses exceed 2^32.
  return addr - (addr % pageSize);
}

/**
 * Unit names: "dev:N" (or any "dev..." name) is a secondary MMU; a CPU may be named "N", "cpuN"
 * or "cpu:N". Everything is normalised to "cpuN" / the device name.
 */
export function normaliseUnit(unit: string): string {
  if (unit.startsWith('dev')) return unit;
  const m = /^(?:cpu:?)?(\d+)$/i.exec(unit);
  return m ? `cpu${m[1]}` : unit;
}

export function isDeviceUnit(unit: string): boolean {
  return unit.startsWith('dev');
}

function unitMap(s: ReplayState, unit: string): Map<string, TlbRec> {
  let m = s.units.get(unit);
  if (!m) {
    m = new Map();
    s.units.set(unit, m);
  }
  return m;
}

function applyFlush(s: ReplayState, e: TlbFlushEvent, pageSize: number): void {
  const u = normaliseUnit(e.unit);
  const targets = u === '*' || u === 'all' ? [...s.units.values()] : [unitMap(s, u)];
  for (const m of targets) {
    if (e.scope === 'all') {
      m.clear();
      continue;
    }
    const end = e.scope === 'page' && e.end <= e.start ? e.start + pageSize : e.end;
    for (const [k, r] of m) {
      if (r.mm !== e.mm) continue;
      if (e.scope === 'mm' || (r.addr < end && r.addr + pageSize > e.start)) m.delete(k);
    }
  }
}

function lockRec(s: ReplayState, lock: string): LockRec {
  let r = s.locks.get(lock);
  if (!r) {
    r = { holders: [], waiters: [] };
    s.locks.set(lock, r);
  }
  return r;
}

/** Apply one event to the replay state (mutates `s`). */
export function applyEvent(s: ReplayState, e: TraceEvent, pageSize: number): void {
  s.applied++;
  switch (e.kind) {
    case 'pte':
      s.ptes.set(pteKey(e.mm, e.addr, e.level), {
        mm: e.mm,
        addr: e.addr,
        level: e.level,
        lo: e.newLo,
        hi: e.newHi,
        seq: e.seq,
      });
      return;
    case 'tlbFill': {
      const addr = pageOf(e.addr, pageSize);
      unitMap(s, normaliseUnit(e.unit)).set(`${e.mm}:${addr}`, {
        mm: e.mm,
        addr,
        pfn: e.pfn,
        writable: e.writable,
        dirty: e.dirty,
        seq: e.seq,
      });
      return;
    }
    case 'tlbFlush':
      applyFlush(s, e, pageSize);
      return;
    case 'store': {
      // A store through a cached writable entry makes the CPU's cached D bit 1 (it set D in the
      // PTE, which arrives as its own pte event, or found it already set).
      if (e.cpu < 0) return;
      const m = s.units.get(`cpu${e.cpu}`);
      if (!m) return;
      const k = `${e.mm}:${pageOf(e.addr, pageSize)}`;
      const r = m.get(k);
      if (r?.writable && !r.dirty) m.set(k, { ...r, dirty: true, seq: e.seq });
      return;
    }
    case 'bitmapSet':
    case 'bitmapClear': {
      let b = s.bitmaps.get(e.owner);
      if (!b) {
        b = { bits: new Set(), start: e.start, end: e.end, seq: e.seq };
        s.bitmaps.set(e.owner, b);
      }
      if (e.kind === 'bitmapSet') b.bits.add(e.index);
      else b.bits.delete(e.index);
      b.start = e.start;
      b.end = e.end;
      b.seq = e.seq;
      return;
    }
    case 'lockAcquire': {
      const r = lockRec(s, e.lock);
      r.waiters = r.waiters.filter((w) => w.task !== e.task);
      r.holders.push({ task: e.task, mode: e.mode });
      return;
    }
    case 'lockRelease': {
      const r = lockRec(s, e.lock);
      const i = r.holders.findIndex((h) => h.task === e.task);
      if (i >= 0) r.holders.splice(i, 1);
      return;
    }
    case 'lockBlock': {
      const r = lockRec(s, e.lock);
      if (!r.waiters.some((w) => w.task === e.task)) r.waiters.push({ task: e.task, mode: e.mode });
      return;
    }
    case 'notifierStart':
      s.notifiers.push({ seq: e.seq, task: e.task, mm: e.mm, start: e.start, end: e.end, event: e.event });
      return;
    case 'notifierEnd': {
      // Pair with the latest open start of the same task, mm and range (else same task and mm).
      let i = -1;
      for (let j = s.notifiers.length - 1; j >= 0; j--) {
        const n = s.notifiers[j]!;
        if (n.task === e.task && n.mm === e.mm && n.start === e.start && n.end === e.end) {
          i = j;
          break;
        }
        if (i < 0 && n.task === e.task && n.mm === e.mm) i = j;
      }
      if (i >= 0) s.notifiers.splice(i, 1);
      return;
    }
    case 'consumerSync': {
      let c = s.consumers.get(e.consumer);
      if (!c) {
        c = { last: [], all: new Set(), syncs: 0, seq: e.seq };
        s.consumers.set(e.consumer, c);
      }
      c.last = e.pages.slice().sort((a, b) => a - b);
      for (const p of e.pages) c.all.add(p);
      c.syncs++;
      c.seq = e.seq;
      return;
    }
    default:
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Derived view (plain data, rendered by the UI).

export interface PteView {
  key: string;
  mm: number;
  addr: number;
  level: number;
  lo: number;
  hi: number;
  bits: DecodedPte;
  /** Flags (and 'PFN') changed by the current event; empty if the current event did not touch it. */
  changed: string[];
  /** The value before the current event, if the current event wrote this entry. */
  prev: { lo: number; hi: number } | null;
  /** seq of the event that last wrote it. */
  lastSeq: number;
}

export type StaleReason = 'not-present' | 'writable-but-pte-readonly' | 'dirty-but-pte-clean' | 'pfn-differs';

export interface TlbEntryView {
  mm: number;
  addr: number;
  pfn: number;
  writable: boolean;
  dirty: boolean;
  /** Whether a level-4 PTE for this page appears in the trace so far (else staleness is unknown). */
  pteKnown: boolean;
  stale: boolean;
  staleReasons: StaleReason[];
  /** Filled (or re-filled) by the current event. */
  filledHere: boolean;
}

export interface UnitView {
  /** "cpu0", "dev:0". */
  unit: string;
  label: string;
  entries: TlbEntryView[];
  /** Entries dropped by the current event, if it is a flush of this unit. */
  flushedHere: number;
}

export interface BitmapView {
  owner: string;
  bits: number[];
  start: number;
  end: number;
  /** Spec P6: every set bit inside [start, end), and "none set" iff start >= end. */
  windowOk: boolean;
  changedIndex: number | null;
}

export interface LockView {
  lock: string;
  holders: Array<{ task: string; mode: string }>;
  waiters: Array<{ task: string; mode: string }>;
}

export interface ConsumerView {
  consumer: string;
  /** Pages copied by the latest sync. */
  last: number[];
  /** Every page ever copied. */
  all: number[];
  syncs: number;
  syncedHere: boolean;
}

export interface ViolationView {
  seq: number;
  step: number;
  property: string;
  message: string;
  pages: number[];
}

export interface LogLine {
  seq: number;
  step: number;
  task: string;
  kind: string;
  text: string;
}

export interface ViewState {
  /** Current position: events[0..index] applied (-1: none). */
  index: number;
  total: number;
  event: TraceEvent | null;
  /** One line saying what the current event did. */
  description: string;
  step: number;
  task: string;
  cpu: number;
  fn: string;
  spec: SpecRef | null;
  ptes: PteView[];
  cpus: UnitView[];
  devices: UnitView[];
  bitmaps: BitmapView[];
  locks: LockView[];
  /** Notifier ranges started and not yet ended. */
  activeNotifiers: Array<{
    seq: number;
    task: string;
    mm: number;
    start: number;
    end: number;
    event: string;
  }>;
  /** The latest notifier and flush events up to here, newest last. */
  notifierFlushLog: LogLine[];
  consumers: ConsumerView[];
  /** Set iff the current event is a violation. */
  violationHere: ViolationView | null;
  /** The first violation in the trace (at any position), for the timeline mark. */
  firstViolation: ViolationView | null;
  /** True once the position is at or past the first violation. */
  pastViolation: boolean;
}

const LOG_LINES = 12;

function hexPages(pages: readonly number[]): string {
  return pages.length <= 8 ? pages.join(', ') : `${pages.slice(0, 8).join(', ')}, … (${pages.length} pages)`;
}

function where(e: TraceEvent): string {
  return e.cpu >= 0 ? `${e.task} on CPU ${e.cpu}` : e.task;
}

/** One line describing an event, for the current-step panel and the logs. */
export function describeEvent(e: TraceEvent): string {
  const w = where(e);
  switch (e.kind) {
    case 'store':
      return `${w} stores ${hex(e.value)} to ${hex(e.addr)} (pfn ${hex(e.pfn)}, write #${e.wseq}) via ${e.via}`;
    case 'load':
      return `${w} loads ${hex(e.value)} from ${hex(e.addr)} (pfn ${hex(e.pfn)})`;
    case 'fault':
      return `${w} takes a ${e.write ? 'write' : 'read'} fault (${e.reason}) at ${hex(e.addr)}${e.outcome ? ` -> ${e.outcome}` : ''}`;
    case 'pte': {
      const ch = changedFlags(e.oldLo, e.oldHi, e.newLo, e.newHi);
      const lvl = e.level === 4 ? 'PTE' : `level-${e.level} entry`;
      return `${e.by === 'hw' ? 'hardware' : w} changes the ${lvl} for ${hex(e.addr)} (mm ${e.mm}): ${ch.length ? ch.join(', ') : 'no flag change'}`;
    }
    case 'tlbFill':
      return `${normaliseUnit(e.unit)} caches ${hex(e.addr)} -> pfn ${hex(e.pfn)} (${e.writable ? 'writable' : 'read-only'}, ${e.dirty ? 'dirty' : 'clean'})`;
    case 'tlbFlush':
      return `${w} flushes ${normaliseUnit(e.unit)} (${e.scope} ${hex(e.start)}..${hex(e.end)}, ${e.dropped} dropped${e.ipi ? ', IPI' : ''})`;
    case 'notifierStart':
      return `${w} starts mmu-notifier invalidation ${hex(e.start)}..${hex(e.end)} (${e.event})`;
    case 'notifierEnd':
      return `${w} ends mmu-notifier invalidation ${hex(e.start)}..${hex(e.end)} (${e.event})`;
    case 'lockAcquire':
      return `${w} takes ${e.lock} (${e.mode})`;
    case 'lockRelease':
      return `${w} releases ${e.lock} (${e.mode})`;
    case 'lockBlock':
      return `${w} blocks on ${e.lock} (${e.mode})`;
    case 'bitmapSet':
      return `${w} sets bit ${e.index} of ${e.owner} (window ${e.start}..${e.end})`;
    case 'bitmapClear':
      return `${w} clears bit ${e.index} of ${e.owner} (window ${e.start}..${e.end})`;
    case 'consumerSync':
      return `${e.consumer} copies pages [${hexPages(e.pages)}]`;
    case 'call':
      return `${w} calls ${e.fn}${
        e.args
          ? `(${Object.entries(e.args)
              .map(([k, v]) => `${k}=${typeof v === 'number' ? hex(v) : String(v)}`)
              .join(', ')})`
          : '()'
      }`;
    case 'return':
      return `${w} returns from ${e.fn}${e.ret !== undefined ? ` = ${String(e.ret)}` : ''}`;
    case 'note':
      return `${w}: ${e.text}`;
    case 'warn':
      return `WARNING in ${e.fn || e.task}: ${e.text}`;
    case 'violation':
      return `Violation of ${e.property}: ${e.message}`;
  }
}

function violationView(e: ViolationEvent): ViolationView {
  return { seq: e.seq, step: e.step, property: e.property, message: e.message, pages: e.pages ?? [] };
}

function unitLabel(unit: string, setup: TraceSetup): string {
  if (unit.startsWith('cpu')) return `CPU ${unit.slice(3)}`;
  const m = /^dev:(\d+)$/.exec(unit);
  if (m) {
    const name = setup.devices[Number(m[1])];
    return name && name !== unit ? `${unit} (${name})` : unit;
  }
  return unit;
}

function compareUnits(a: string, b: string): number {
  const na = Number(/\d+$/.exec(a)?.[0] ?? Number.NaN);
  const nb = Number(/\d+$/.exec(b)?.[0] ?? Number.NaN);
  if (!Number.isNaN(na) && !Number.isNaN(nb) && na !== nb) return na - nb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Precomputed per-trace facts the view needs (independent of the position). */
export interface TraceIndex {
  /** seqs (positions) of notifier and tlbFlush events, ascending. */
  notifierFlushPositions: number[];
  firstViolation: ViolationView | null;
  violationPositions: number[];
  /** Position of the first event of each scheduler step, ascending. */
  stepStarts: number[];
}

export function indexTrace(trace: Trace): TraceIndex {
  const notifierFlushPositions: number[] = [];
  const violationPositions: number[] = [];
  const stepStarts: number[] = [];
  let firstViolation: ViolationView | null = null;
  let lastStep = Number.NaN;
  trace.events.forEach((e, i) => {
    if (e.kind === 'notifierStart' || e.kind === 'notifierEnd' || e.kind === 'tlbFlush')
      notifierFlushPositions.push(i);
    if (e.kind === 'violation') {
      violationPositions.push(i);
      firstViolation ??= violationView(e);
    }
    if (e.step !== lastStep) {
      stepStarts.push(i);
      lastStep = e.step;
    }
  });
  return { notifierFlushPositions, firstViolation, violationPositions, stepStarts };
}

/** Largest i with arr[i] <= x, or -1. */
export function floorIndex(arr: readonly number[], x: number): number {
  let lo = 0;
  let hi = arr.length - 1;
  let ans = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid]! <= x) {
      ans = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return ans;
}

function staleness(
  r: TlbRec,
  pte: PteRec | undefined,
): { pteKnown: boolean; stale: boolean; reasons: StaleReason[] } {
  if (!pte) return { pteKnown: false, stale: false, reasons: [] };
  const reasons: StaleReason[] = [];
  const present = (pte.lo & 1) === 1;
  if (!present) reasons.push('not-present');
  else {
    if (r.writable && ((pte.lo >>> 1) & 1) === 0) reasons.push('writable-but-pte-readonly');
    if (r.dirty && !pteDirtyBits(pte.lo, pte.hi)) reasons.push('dirty-but-pte-clean');
    if (ptePfn(pte.lo, pte.hi) !== r.pfn) reasons.push('pfn-differs');
  }
  return { pteKnown: true, stale: reasons.length > 0, reasons };
}

/** Build the view of a replay state positioned after `state.applied` events. */
export function buildView(trace: Trace, idx: TraceIndex, s: ReplayState): ViewState {
  const index = s.applied - 1;
  const ev = index >= 0 ? trace.events[index]! : null;
  const pageSize = trace.setup.pageSize;

  const ptes: PteView[] = [];
  for (const [key, r] of s.ptes) {
    const here = ev?.kind === 'pte' && pteKey(ev.mm, ev.addr, ev.level) === key;
    const changed = here ? changedFlags(ev.oldLo, ev.oldHi, ev.newLo, ev.newHi) : [];
    const prev = here ? { lo: ev.oldLo, hi: ev.oldHi } : null;
    ptes.push({
      key,
      mm: r.mm,
      addr: r.addr,
      level: r.level,
      lo: r.lo,
      hi: r.hi,
      bits: decodePte(r.lo, r.hi),
      changed,
      prev,
      lastSeq: r.seq,
    });
  }
  ptes.sort((a, b) => a.mm - b.mm || a.addr - b.addr || a.level - b.level);

  const unitNames = new Set<string>();
  for (let c = 0; c < trace.setup.cpus; c++) unitNames.add(`cpu${c}`);
  for (let d = 0; d < trace.setup.devices.length; d++) unitNames.add(`dev:${d}`);
  for (const u of s.units.keys()) unitNames.add(u);
  const cpus: UnitView[] = [];
  const devices: UnitView[] = [];
  const flushUnit = ev?.kind === 'tlbFlush' ? normaliseUnit(ev.unit) : null;
  const fill = ev?.kind === 'tlbFill' ? (ev as TlbFillEvent) : null;
  for (const unit of [...unitNames].sort(compareUnits)) {
    const entries: TlbEntryView[] = [];
    for (const r of s.units.get(unit)?.values() ?? []) {
      const pte = s.ptes.get(pteKey(r.mm, r.addr, 4));
      const st = staleness(r, pte);
      entries.push({
        mm: r.mm,
        addr: r.addr,
        pfn: r.pfn,
        writable: r.writable,
        dirty: r.dirty,
        pteKnown: st.pteKnown,
        stale: st.stale,
        staleReasons: st.reasons,
        filledHere:
          fill !== null &&
          normaliseUnit(fill.unit) === unit &&
          fill.mm === r.mm &&
          pageOf(fill.addr, pageSize) === r.addr,
      });
    }
    entries.sort((a, b) => a.mm - b.mm || a.addr - b.addr);
    const flushedHere =
      flushUnit !== null && (flushUnit === unit || flushUnit === '*' || flushUnit === 'all')
        ? (ev as TlbFlushEvent).dropped
        : 0;
    const view: UnitView = { unit, label: unitLabel(unit, trace.setup), entries, flushedHere };
    (isDeviceUnit(unit) ? devices : cpus).push(view);
  }

  const bitmaps: BitmapView[] = [];
  for (const [owner, b] of s.bitmaps) {
    const bits = [...b.bits].sort((x, y) => x - y);
    const inside = bits.every((i) => i >= b.start && i < b.end);
    const windowOk = inside && (bits.length === 0) === b.start >= b.end;
    const changedIndex =
      ev && (ev.kind === 'bitmapSet' || ev.kind === 'bitmapClear') && ev.owner === owner ? ev.index : null;
    bitmaps.push({ owner, bits, start: b.start, end: b.end, windowOk, changedIndex });
  }
  bitmaps.sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));

  const locks: LockView[] = [];
  for (const [lock, r] of s.locks) {
    if (r.holders.length === 0 && r.waiters.length === 0) continue;
    locks.push({ lock, holders: r.holders.slice(), waiters: r.waiters.slice() });
  }
  locks.sort((a, b) => (a.lock < b.lock ? -1 : a.lock > b.lock ? 1 : 0));

  const nf: LogLine[] = [];
  const last = floorIndex(idx.notifierFlushPositions, index);
  for (let i = Math.max(0, last - LOG_LINES + 1); i <= last; i++) {
    const e = trace.events[idx.notifierFlushPositions[i]!]!;
    nf.push({ seq: e.seq, step: e.step, task: e.task, kind: e.kind, text: describeEvent(e) });
  }

  const consumers: ConsumerView[] = [];
  for (const [consumer, c] of s.consumers)
    consumers.push({
      consumer,
      last: c.last.slice(),
      all: [...c.all].sort((a, b) => a - b),
      syncs: c.syncs,
      syncedHere: ev?.kind === 'consumerSync' && ev.consumer === consumer,
    });
  consumers.sort((a, b) => (a.consumer < b.consumer ? -1 : 1));

  return {
    index,
    total: trace.events.length,
    event: ev,
    description: ev ? describeEvent(ev) : 'Initial state: no event applied yet.',
    step: ev?.step ?? 0,
    task: ev?.task ?? '',
    cpu: ev?.cpu ?? -1,
    fn: ev?.fn ?? '',
    spec: ev ? specForEvent(ev) : null,
    ptes,
    cpus,
    devices,
    bitmaps,
    locks,
    activeNotifiers: s.notifiers.map((n: NotifierRec) => ({ ...n })),
    notifierFlushLog: nf,
    consumers,
    violationHere: ev?.kind === 'violation' ? violationView(ev) : null,
    firstViolation: idx.firstViolation,
    pastViolation: idx.firstViolation !== null && index >= idx.firstViolation.seq,
  };
}

/** Reference semantics: replay events[0..k] from scratch (O(k)). Tests compare against it. */
export function replayNaive(trace: Trace, k: number): ViewState {
  const s = emptyState();
  for (let i = 0; i <= k && i < trace.events.length; i++)
    applyEvent(s, trace.events[i]!, trace.setup.pageSize);
  return buildView(trace, indexTrace(trace), s);
}

export interface TraceModelOptions {
  /** Keep a snapshot every this many events (default 128). */
  snapshotEvery?: number;
  /** Build every snapshot in the constructor (default false: built on demand or by `buildMore`). */
  eager?: boolean;
}

/**
 * A loaded trace with snapshots, positioned anywhere in O(snapshotEvery) and stepped in O(1).
 * Snapshots are built progressively: the UI becomes interactive after indexing, then calls
 * `buildMore` from idle callbacks; a seek past the built frontier extends it first.
 */
export class TraceModel {
  readonly trace: Trace;
  readonly index: TraceIndex;
  readonly snapshotEvery: number;
  /** snaps[i] = state with i * snapshotEvery events applied. */
  private readonly snaps: ReplayState[] = [];
  /** State with `frontier.applied` events applied, continuing the snapshot chain. */
  private frontier: ReplayState;
  private cur: ReplayState;

  constructor(trace: Trace, opts: TraceModelOptions = {}) {
    this.trace = trace;
    this.snapshotEvery = Math.max(1, Math.floor(opts.snapshotEvery ?? 128));
    this.index = indexTrace(trace);
    this.frontier = emptyState();
    this.snaps.push(cloneState(this.frontier));
    this.cur = cloneState(this.frontier);
    if (opts.eager) this.buildMore(Number.POSITIVE_INFINITY);
  }

  get length(): number {
    return this.trace.events.length;
  }

  /** Whether every snapshot has been built. */
  get complete(): boolean {
    return this.frontier.applied >= this.length;
  }

  /** Extend the snapshot chain by about `budget` events; returns true when complete. */
  buildMore(budget: number): boolean {
    const f = this.frontier;
    const ps = this.trace.setup.pageSize;
    const stop = Math.min(this.length, f.applied + budget);
    while (f.applied < stop) {
      applyEvent(f, this.trace.events[f.applied]!, ps);
      if (f.applied % this.snapshotEvery === 0) this.snaps.push(cloneState(f));
    }
    return this.complete;
  }

  /** Move the working state so that events[0..k] are applied (k clamped to [-1, length-1]). */
  private seek(k: number): void {
    const target = Math.max(0, Math.min(this.length, k + 1));
    const si = Math.floor(target / this.snapshotEvery);
    if (si >= this.snaps.length) this.buildMore(si * this.snapshotEvery - this.frontier.applied);
    const cur = this.cur.applied;
    if (target < cur || target - cur > this.snapshotEvery) this.cur = cloneState(this.snaps[si]!);
    const ps = this.trace.setup.pageSize;
    while (this.cur.applied < target) applyEvent(this.cur, this.trace.events[this.cur.applied]!, ps);
  }

  /** The view after events[0..k]. */
  stateAt(k: number): ViewState {
    this.seek(k);
    return buildView(this.trace, this.index, this.cur);
  }

  /** Position of the first event of the scheduler step after (dir=1) or before (dir=-1) position k. */
  stepBoundary(k: number, dir: 1 | -1): number {
    const starts = this.index.stepStarts;
    const i = floorIndex(starts, k);
    if (dir === 1) return i + 1 < starts.length ? starts[i + 1]! : this.length - 1;
    // Back: to the start of this step if we are inside it, else to the start of the previous one.
    if (i >= 0 && starts[i]! < k) return starts[i]!;
    return i - 1 >= 0 ? starts[i - 1]! : -1;
  }
}
