/**
 * `cli.startupMs`: wall-clock milliseconds for `dirtyscope --version` through the package's bin
 * with the BUILT CLI (dist/), median of 15 runs after one warm-up; params carry min, max, the
 * quartiles and the same figures for a bare `node -e ""` in the same process
 * (`cli.startupOverNode` is the ratio of the medians, the figure to compare across machines).
 * dist/ is built first (tsc -p tsconfig.build.json) if it is missing or older than src/, so the
 * bench never measures the tsx fallback. Goal (issue 13): under 300 ms on the CI machine.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Bench } from './harness.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUNS = 15;

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

function quantile(sorted: number[], q: number): number {
  const i = (sorted.length - 1) * q;
  const lo = Math.floor(i);
  return sorted[lo]! + (sorted[Math.ceil(i)]! - sorted[lo]!) * (i - lo);
}

/** Milliseconds per run of `node args...` (sorted), after one warm-up run. */
function time(args: string[]): number[] {
  const env = { ...process.env, NODE_OPTIONS: '' };
  const once = () => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`bench cli: node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return ms;
  };
  once();
  return Array.from({ length: RUNS }, once).sort((a, b) => a - b);
}

const r1 = (x: number) => Math.round(x * 10) / 10;

export const benchmarks: Bench[] = [
  {
    name: 'cli.startup',
    run() {
      const built = join(ROOT, 'dist', 'cli', 'main.js');
      let rebuilt = false;
      if (!existsSync(built) || newest(join(ROOT, 'src')) > statSync(built).mtimeMs) {
        const b = spawnSync(
          process.execPath,
          [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
          {
            cwd: ROOT,
            encoding: 'utf8',
          },
        );
        if (b.status !== 0) throw new Error(`bench cli: build failed: ${b.stdout}${b.stderr}`);
        rebuilt = true;
      }
      const cli = time([join(ROOT, 'bin', 'dirtyscope.js'), '--version']);
      const node = time(['-e', '']);
      const params = {
        runs: RUNS,
        rebuilt,
        min: r1(cli[0]!),
        p25: r1(quantile(cli, 0.25)),
        p75: r1(quantile(cli, 0.75)),
        max: r1(cli[cli.length - 1]!),
        nodeMedian: r1(quantile(node, 0.5)),
        nodeMin: r1(node[0]!),
        nodeMax: r1(node[node.length - 1]!),
      };
      const median = quantile(cli, 0.5);
      return [
        { name: 'cli.startupMs', unit: 'ms', value: r1(median), params },
        {
          name: 'cli.startupOverNode',
          unit: 'ratio',
          value: Math.round((median / quantile(node, 0.5)) * 100) / 100,
          params: { runs: RUNS },
        },
      ];
    },
  },
];
