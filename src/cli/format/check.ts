/**
 * Human output of `dirtyscope list`, `check` and `replay` (pure functions of plain data).
 */
import { DEFAULT_MAX_STEPS } from '../../checker/engine.ts';
import type { CheckResult, Progress, ReplayResult } from '../../checker/result.ts';
import type { Trace, TraceEvent } from '../../trace/schema.ts';

export interface ListVariant {
  name: string;
  description: string;
  expected: { verdict: 'pass' | 'fail'; property?: string };
}
export interface ListModel {
  name: string;
  description: string;
  variants: ListVariant[];
}
export interface ListResult {
  models: ListModel[];
}

export function formatList(r: ListResult): string {
  if (r.models.length === 0) return 'No models in the catalogue yet.\n';
  const lines: string[] = [];
  for (const m of r.models) {
    lines.push(`${m.name}  ${m.description}`);
    const w = Math.max(...m.variants.map((v) => v.name.length));
    for (const v of m.variants) {
      const exp = v.expected.verdict === 'fail' ? `fail (${v.expected.property ?? '?'})` : 'pass';
      lines.push(`  ${v.name.padEnd(w)}  expect ${exp.padEnd(24)} ${v.description}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function plural(n: number, word: string): string {
  return `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;
}

function ms(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9:._-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function searchSummary(r: CheckResult): string {
  const parts: string[] = [r.strategy];
  if (r.strategy === 'dfs') {
    parts.push(r.reduction === false ? 'no reduction' : 'sleep sets');
    if (r.iterativeBounding === true) parts.push('iterative bounding');
    if (r.preemptionBound !== undefined) parts.push(`preemption bound ${r.preemptionBound}`);
  } else {
    parts.push(`seed ${r.seed ?? '?'}`);
    if (r.pctDepth !== undefined) parts.push(`depth ${r.pctDepth}`);
  }
  let s = `${plural(r.executions, 'execution')}`;
  if (r.pruned > 0) s += ` (+${r.pruned.toLocaleString('en-US')} pruned)`;
  if (r.repeated !== undefined && r.repeated > 0) s += ` (+${r.repeated.toLocaleString('en-US')} repeated)`;
  if (r.distinctStates !== undefined) s += `, ${plural(r.distinctStates, 'distinct state')}`;
  return `${s} in ${ms(r.elapsedMs)} [${parts.join(', ')}]`;
}

export function formatCheck(r: CheckResult, opts: { maxEvents?: number } = {}): string {
  const name = `${r.model}/${r.variant}`;
  const lines: string[] = [];
  if (r.verdict === 'pass') {
    const scope =
      r.preemptionBound === undefined
        ? 'every schedule'
        : `every schedule with at most ${plural(r.preemptionBound, 'preemption')}`;
    lines.push(`${name}: PASS  ${scope} explored`);
    lines.push(`  ${searchSummary(r)}`);
  } else if (r.verdict === 'incomplete') {
    lines.push(`${name}: INCOMPLETE  no violation found, but not every schedule was explored`);
    lines.push(`  ${r.reason ?? ''}`);
    if (r.completedPreemptionBound !== undefined) {
      lines.push(
        `  every schedule with at most ${plural(r.completedPreemptionBound, 'preemption')} was explored without a violation`,
      );
    }
    lines.push(`  ${searchSummary(r)}`);
  } else {
    lines.push(`${name}: FAIL  ${r.property ?? '?'}`);
    lines.push(`  ${r.message ?? ''}`);
    lines.push(`  found after ${searchSummary(r)}`);
    const c = r.counterexample;
    if (c !== undefined) {
      const f = c.shrunkFrom;
      const shrunk =
        f.schedule === c.schedule
          ? ''
          : `; shrunk from ${plural(f.steps, 'step')}, ${plural(f.preemptions, 'preemption')} in ${plural(f.runs, 'run')}`;
      lines.push(
        `  counterexample: ${c.schedule}  (${plural(c.steps, 'step')}, ${plural(c.preemptions, 'preemption')}${shrunk})`,
      );
      const steps = r.maxSteps === DEFAULT_MAX_STEPS ? '' : ` --max-steps ${r.maxSteps}`;
      lines.push(
        `  replay: dirtyscope replay ${r.model} --variant ${r.variant} --schedule ${shellQuote(c.schedule)}${steps} --trace ce.json`,
      );
      lines.push('  trace:');
      lines.push(
        formatTrace(c.trace, {
          indent: '    ',
          ...(opts.maxEvents === undefined ? {} : { maxEvents: opts.maxEvents }),
        }),
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

export function formatReplay(r: ReplayResult, traceFile?: string): string {
  const lines = [`${r.model}/${r.variant}: ${r.verdict === 'pass' ? 'PASS' : `FAIL  ${r.property ?? '?'}`}`];
  if (r.message !== undefined) lines.push(`  ${r.message}`);
  lines.push(
    `  schedule ${r.schedule}  (${plural(r.steps, 'step')}, ${plural(r.preemptions, 'preemption')})`,
  );
  if (traceFile !== undefined) lines.push(`  trace written to ${traceFile}`);
  return `${lines.join('\n')}\n`;
}

/** One status line for a TTY (no newline). */
export function formatProgress(p: Progress): string {
  const rate = p.elapsedMs > 0 ? Math.round(((p.executions + p.pruned) * 1000) / p.elapsedMs) : 0;
  return `checking: ${p.executions.toLocaleString('en-US')} executions, ${rate.toLocaleString('en-US')}/s, ${(p.elapsedMs / 1000).toFixed(1)} s`;
}

const BASE = new Set(['seq', 'step', 'task', 'cpu', 'fn', 'kind']);
const HEX = new Set(['addr', 'start', 'end', 'oldLo', 'oldHi', 'newLo', 'newHi']);

export function formatEvent(e: TraceEvent): string {
  const fields: string[] = [];
  for (const [k, v] of Object.entries(e)) {
    if (BASE.has(k) || v === undefined) continue;
    let s: string;
    if (typeof v === 'number' && HEX.has(k)) s = `0x${v.toString(16)}`;
    else if (typeof v === 'string') s = /\s/.test(v) ? JSON.stringify(v) : v;
    else s = JSON.stringify(v);
    fields.push(`${k}=${s}`);
  }
  const where = `${e.task}${e.cpu >= 0 ? `@cpu${e.cpu}` : ''}`;
  return `s${String(e.step).padEnd(4)} ${where.padEnd(14)} ${e.fn.padEnd(22)} ${e.kind.padEnd(12)} ${fields.join(' ')}`.trimEnd();
}

/**
 * The events of a trace, one per line. Setup events (task "init", before the first scheduled
 * step) are summarised in one line; long traces keep the last `maxEvents` (default 60).
 */
export function formatTrace(t: Trace, opts: { indent?: string; maxEvents?: number } = {}): string {
  const indent = opts.indent ?? '';
  const max = opts.maxEvents ?? 60;
  const evs = t.events.filter((e) => e.task !== 'init');
  const setup = t.events.length - evs.length;
  const lines: string[] = [];
  if (setup > 0) lines.push(`${indent}(${setup} setup events before the first step not shown)`);
  const from = Math.max(0, evs.length - max);
  if (from > 0) lines.push(`${indent}... ${from} earlier events (full trace: replay with --trace FILE)`);
  for (let i = from; i < evs.length; i++) lines.push(indent + formatEvent(evs[i]!));
  if (evs.length === 0) lines.push(`${indent}(no events)`);
  return lines.join('\n');
}
