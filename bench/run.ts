import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Bench, BenchResult } from './harness.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const fi = args.indexOf('--filter');
const filter = fi >= 0 ? (args[fi + 1] ?? '') : '';
if (fi >= 0 && filter === '') {
  process.stderr.write('bench: --filter needs a PREFIX\n');
  process.exit(2);
}

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
const results: BenchResult[] = [];
for (const f of files) {
  const mod = (await import(pathToFileURL(join(here, f)).href)) as { benchmarks: Bench[] };
  for (const b of mod.benchmarks) {
    if (filter && !b.name.startsWith(filter) && !filter.startsWith(b.name)) continue;
    if (!json) process.stderr.write(`bench ${b.name} ...\n`);
    for (const r of await b.run()) {
      if (filter && !r.name.startsWith(filter)) continue;
      results.push(r);
      if (!json)
        process.stdout.write(`${r.name.padEnd(48)} ${r.value.toPrecision(4).padStart(12)} ${r.unit}\n`);
    }
  }
}
if (json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
