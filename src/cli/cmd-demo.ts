/**
 * `dirtyscope demo [--json] [--full]` (what `npm start` runs): the built-in coherent-GPU scenario
 * (every method) and the framebuffer scenario, end to end, with the ground-truth check and
 * coherence verified, and a short human summary. By default the workloads are shortened
 * (300k and 200k stores) so the demo takes seconds; --full runs them as defined.
 *
 * Exit 0 if every write reached its consumer, 1 otherwise.
 */
import type { Command } from 'commander';
import { type RunResult, runScenarioSync } from '../workload/run.ts';
import { loadScenario, type Scenario } from '../workload/scenario.ts';
import { EXIT_OK, EXIT_VIOLATION } from './errors.ts';
import { type DemoResult, formatDemo } from './format/run.ts';
import { setExitCode, out as writeOut } from './io.ts';

export const DEMO_STORES: Readonly<Record<string, number>> = {
  'coherent-gpu': 300_000,
  framebuffer: 200_000,
};

function shortened(name: string, full: boolean): Scenario {
  const s = loadScenario(name);
  const w = s.workload;
  if (!full && w.pattern !== 'trace' && w.pattern !== 'phases')
    w.stores = Math.min(w.stores, DEMO_STORES[name]!);
  return s;
}

export function runDemo(full = false): DemoResult {
  const runs: RunResult[] = [
    runScenarioSync(shortened('coherent-gpu', full)),
    runScenarioSync(shortened('framebuffer', full)),
  ];
  return { runs, ok: runs.every((r) => r.ok) };
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('run the coherent-GPU and framebuffer scenarios end to end and summarise')
    .option('--full', 'run the built-in workloads at full length')
    .option('--json', 'print {runs, ok} as one JSON document')
    .action((a: { json?: boolean; full?: boolean }) => {
      const d = runDemo(a.full === true);
      writeOut(a.json === true ? `${JSON.stringify(d)}\n` : formatDemo(d));
      setExitCode(d.ok ? EXIT_OK : EXIT_VIOLATION);
    });
}
