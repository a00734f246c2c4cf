/**
 * The run report the visualizer plots (`dirtyscope run` / study output). Plain JSON; the
 * producer (src/cli run/study, written separately) should emit exactly this shape.
 *
 * ```json
 * {
 *   "kind": "run-report", "version": 1,
 *   "title": "vmwgfx BO, 256 pages, sequential writer",
 *   "timeUnit": "ms", "costUnit": "modelled µs",
 *   "series": [ { "method": "mkwrite",   "points": [ { "t": 0, "cost": 12.5 }, ... ] },
 *               { "method": "pagetable", "points": [ ... ] } ],
 *   "switches": [ { "t": 40, "from": "mkwrite", "to": "pagetable", "reason": "dirty > 80%" } ],
 *   "crossover": {
 *     "regionPages": [16, 64, 256],
 *     "dirtyFractions": [0.01, 0.1, 0.5],
 *     "cells": [ [ { "pattern": "seq", "best": "mkwrite", "ratio": 3.2 }, ... one per regionPages ],
 *                ... one row per dirtyFractions ]
 *   }
 * }
 * ```
 */

/** Tracking methods of the vmwgfx-style driver (spec §4). Other strings are allowed for new methods. */
export type DirtyMethodName = 'mkwrite' | 'pagetable';

export interface CostPoint {
  /** Time since the run started, in `timeUnit`. */
  t: number;
  /** Cost accumulated in the interval ending at t (not cumulative), in `costUnit`. */
  cost: number;
}

export interface MethodSeries {
  method: DirtyMethodName | string;
  points: CostPoint[];
}

export interface MethodSwitch {
  t: number;
  from: string;
  to: string;
  /** Why the driver switched (e.g. the heuristic that fired). */
  reason?: string;
}

export interface CrossoverCell {
  /** Access pattern measured in this cell (e.g. "seq", "random", "strided"). */
  pattern: string;
  /** The cheaper method. */
  best: DirtyMethodName;
  /** cost(other method) / cost(best), >= 1. */
  ratio: number;
}

export interface CrossoverMap {
  /** Column axis: tracked region sizes in pages. */
  regionPages: number[];
  /** Row axis: fraction of the region written per round, 0..1. */
  dirtyFractions: number[];
  /** cells[row][col]: row indexes dirtyFractions, col indexes regionPages. */
  cells: CrossoverCell[][];
}

export interface RunReport {
  kind: 'run-report';
  version: 1;
  title?: string;
  timeUnit: string;
  costUnit: string;
  series: MethodSeries[];
  switches: MethodSwitch[];
  crossover?: CrossoverMap;
}

export class ReportFormatError extends Error {}

function isNum(x: unknown): x is number {
  return typeof x === 'number' && Number.isFinite(x);
}

/** Check a parsed value against RunReport; throws ReportFormatError naming the first problem. */
export function validateRunReport(x: unknown): RunReport {
  const r = x as Partial<RunReport> & Record<string, unknown>;
  if (typeof r !== 'object' || r === null || r.kind !== 'run-report')
    throw new ReportFormatError('not a run report');
  if (r.version !== 1) throw new ReportFormatError(`unsupported run report version ${String(r.version)}`);
  if (!Array.isArray(r.series)) throw new ReportFormatError('"series" must be an array');
  for (const s of r.series) {
    if (typeof s?.method !== 'string' || !Array.isArray(s.points))
      throw new ReportFormatError('each series needs "method" and "points"');
    for (const p of s.points)
      if (!isNum(p?.t) || !isNum(p?.cost))
        throw new ReportFormatError(`series ${s.method}: points need numeric t, cost`);
  }
  if (r.switches === undefined) r.switches = [];
  if (!Array.isArray(r.switches)) throw new ReportFormatError('"switches" must be an array');
  for (const w of r.switches)
    if (!isNum(w?.t) || typeof w.from !== 'string' || typeof w.to !== 'string')
      throw new ReportFormatError('each switch needs t, from, to');
  if (r.crossover !== undefined) {
    const c = r.crossover;
    if (!Array.isArray(c.regionPages) || !Array.isArray(c.dirtyFractions) || !Array.isArray(c.cells))
      throw new ReportFormatError('crossover needs regionPages, dirtyFractions and cells');
    if (
      c.cells.length !== c.dirtyFractions.length ||
      c.cells.some((row) => row.length !== c.regionPages.length)
    )
      throw new ReportFormatError(
        'crossover cells must be dirtyFractions.length rows of regionPages.length cells',
      );
  }
  if (typeof r.timeUnit !== 'string') r.timeUnit = '';
  if (typeof r.costUnit !== 'string') r.costUnit = '';
  return r as RunReport;
}

/** Cumulative cost per method, for the "cost over time" plot. */
export function cumulative(points: readonly CostPoint[]): CostPoint[] {
  let acc = 0;
  return points.map((p) => {
    acc += p.cost;
    return { t: p.t, cost: acc };
  });
}
