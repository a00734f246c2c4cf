/**
 * run/study benchmarks. Names are stable.
 * - run.coherentGpu.simStoresPerSec: simulated stores per second of `runScenarioSync` on the
 *   built-in coherent-gpu scenario (2M stores, 2 CPUs, GPU submission every 10k stores, the
 *   `auto` method), end to end: generator, storeFast per store, faults, scans, copies, the
 *   ground-truth check. Goal >= 20M/s. params: cpuShare (CPU time / wall: below ~0.9 the machine
 *   was busy and the figure is pessimistic), tlbMissRate (the scenario's 64-entry TLB and
 *   106-page hot set make about half the stores walk), perCpuSecond (stores per CPU-second).
 * - study.crossover.wallMs: wall time of `study crossover --quick` (grid + regret runs).
 */
import { runScenarioSync } from '../src/workload/run.ts';
import { loadScenario } from '../src/workload/scenario.ts';
import { crossoverStudy } from '../src/workload/study.ts';
import type { Bench, BenchResult } from './harness.ts';

function timed<T>(fn: () => T): { value: T; wallNs: number; cpuNs: number } {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const value = fn();
  const wallNs = Number(process.hrtime.bigint() - t0);
  const c = process.cpuUsage(c0);
  return { value, wallNs, cpuNs: (c.user + c.system) * 1000 };
}

function coherentGpu(): BenchResult[] {
  // warm-up (JIT) on a shortened copy
  const warm = loadScenario('coherent-gpu');
  if (warm.workload.pattern !== 'trace') warm.workload.stores = 200_000;
  runScenarioSync(warm, { methods: ['auto'] });
  const s = loadScenario('coherent-gpu');
  const t = timed(() => runScenarioSync(s, { methods: ['auto'] }));
  const m = t.value.methods[0]!;
  if (!t.value.ok) throw new Error('run bench: the run missed writes');
  return [
    {
      name: 'run.coherentGpu.simStoresPerSec',
      unit: 'stores/s',
      value: m.stores / (t.wallNs / 1e9),
      params: {
        scenario: 'coherent-gpu',
        method: 'auto',
        stores: m.stores,
        cpuShare: +(t.cpuNs / t.wallNs).toFixed(2),
        perCpuSecond: Math.round(m.stores / (t.cpuNs / 1e9)),
        tlbMissRate: +(m.counters.tlbMisses / m.stores).toFixed(3),
        goal: 20_000_000,
      },
    },
  ];
}

function studyQuick(): BenchResult[] {
  const t = timed(() => crossoverStudy({ quick: true }));
  return [
    {
      name: 'study.crossover.wallMs',
      unit: 'ms',
      value: t.wallNs / 1e6,
      params: { quick: true, cells: t.value.cells.length, cpuShare: +(t.cpuNs / t.wallNs).toFixed(2) },
    },
  ];
}

export const benchmarks: Bench[] = [
  { name: 'run.coherentGpu.simStoresPerSec', run: coherentGpu },
  { name: 'study.crossover.wallMs', run: studyQuick },
];
