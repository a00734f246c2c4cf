/**
 * `kernel diff` throughput (src/linux/diff.ts):
 * - kernel.diff.opsPerSec: operations per second of a differential run, each operation applied
 *   to the real kernel AND the model and every observable compared (result, faults, pagemap),
 *   generation and coverage counting included: the default generator mix, 100 sequences of 50
 *   operations per sample, seed 1 (the first 100 sequences of the default run). Best of 3
 *   samples; params carry the median and the spread (max - min).
 * On a machine where the probe says SKIP, it reports nothing and says why on stderr.
 */
import { runDiff } from '../src/linux/diff.ts';
import { ModelBackend } from '../src/linux/model-backend.ts';
import { probeKernel, skipReason } from '../src/linux/probe.ts';
import { KernelBackend } from '../src/linux/real-backend.ts';
import type { Bench, BenchResult } from './harness.ts';

const SEQUENCES = 100;
const LENGTH = 50;
const SAMPLES = 3;

export const benchmarks: Bench[] = [
  {
    name: 'kernel.diff',
    run(): BenchResult[] {
      const skip = skipReason(probeKernel());
      if (skip !== null) {
        process.stderr.write(`kernel.diff: SKIP: ${skip}\n`);
        return [];
      }
      const rates: number[] = [];
      for (let s = 0; s < SAMPLES; s++) {
        const t0 = process.hrtime.bigint();
        const r = runDiff(new KernelBackend(), new ModelBackend(), {
          sequences: SEQUENCES,
          length: LENGTH,
          seed: 1,
        });
        const sec = Number(process.hrtime.bigint() - t0) / 1e9;
        if (!r.agreed)
          throw new Error(`kernel.diff: the kernel and the model disagree (sequence ${r.mismatch?.index})`);
        rates.push(r.ops / sec);
      }
      rates.sort((a, b) => a - b);
      const round = (x: number) => Math.round(x * 10) / 10;
      return [
        {
          name: 'kernel.diff.opsPerSec',
          unit: 'ops/s',
          value: round(rates[rates.length - 1]!),
          params: {
            sequences: SEQUENCES,
            length: LENGTH,
            seed: 1,
            samples: SAMPLES,
            median: round(rates[SAMPLES >> 1]!),
            spread: round(rates[rates.length - 1]! - rates[0]!),
          },
        },
      ];
    },
  },
];
