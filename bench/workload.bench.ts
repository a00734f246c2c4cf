import { createBatch, createGenerator, type WorkloadParams } from '../src/workload/generators.ts';
import { type Bench, nsPerIter } from './harness.ts';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** Ops per second a generator produces into a 4096-op batch (syncs included), drained and discarded. */
function opsPerSec(name: string, w: DistributiveOmit<WorkloadParams, 'stores'>, pages: number, cpus: number) {
  const gen = createGenerator({ ...w, stores: Number.MAX_SAFE_INTEGER } as WorkloadParams, pages, cpus, 1);
  const batch = createBatch(4096);
  let sink = 0;
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  const ns = nsPerIter((iters) => {
    let done = 0;
    while (done < iters) {
      const n = gen.next(batch);
      done += n;
      sink ^= batch.page[n - 1]!; // keep the fill observable
    }
  }, 20_000_000);
  // CPU share over the whole measurement: below ~0.9 the machine was busy and ops/s is pessimistic
  const cpuUs = process.cpuUsage(cpu0);
  const cpuShare = ((cpuUs.user + cpuUs.system) * 1000) / Number(process.hrtime.bigint() - wall0);
  if (sink === -1) console.error(sink);
  return {
    name: `workload.generate.opsPerSec.${name}`,
    unit: 'ops/s',
    value: 1e9 / ns,
    params: {
      pattern: w.pattern,
      pages,
      cpus,
      syncEvery: w.syncEvery,
      batch: 4096,
      cpuShare: +cpuShare.toFixed(2),
    },
  };
}

export const benchmarks: Bench[] = [
  {
    name: 'workload.generate.opsPerSec',
    run: () => [
      opsPerSec('sparse', { pattern: 'sparse', pagesPerPhase: 32, syncEvery: 1000 }, 262_144, 2),
      opsPerSec('dense', { pattern: 'sequential', syncEvery: 4096 }, 8192, 2),
      opsPerSec(
        'hotset',
        { pattern: 'hotset', hotFraction: 0.05, hotProbability: 0.9, syncEvery: 10_000 },
        2120,
        2,
      ),
      opsPerSec(
        'rectangles',
        {
          pattern: 'rectangles',
          width: 1920,
          height: 1080,
          bpp: 4,
          rectWidth: 128,
          rectHeight: 64,
          randomSize: true,
          syncEvery: 100_000,
        },
        2025,
        2,
      ),
    ],
  },
];
