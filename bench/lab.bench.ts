/**
 * Lab benchmarks, for each kernel `dirtyscope lab setup` prepared (SKIP on stderr when none):
 * - lab.bootMs.<kver>: QEMU start to the agent's READY line (3 boots; value = median, params
 *   min/max), with the data channel the guest image offers (virtio serial or ttyS1).
 * - lab.diff.opsPerSec.<kver>: operations per second through a differential run (guest and
 *   model, 200 sequences of 50, fixed seed), wall clock; params.modelOpsPerSec is the model side
 *   alone in the same process, for the ratio.
 * Wall-clock figures on a shared 2-core machine move 2x between runs: compare within one run.
 */
import { modelSide, runLabDiff } from '../src/lab/diff.ts';
import { Guest } from '../src/lab/guest.ts';
import { ModelLab } from '../src/lab/model-backend.ts';
import { labKernels, qemuPath } from '../src/lab/paths.ts';
import { LabSession } from '../src/lab/session.ts';
import type { Bench, BenchResult } from './harness.ts';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export const benchmarks: Bench[] = [
  {
    name: 'lab',
    async run(): Promise<BenchResult[]> {
      const qemu = qemuPath();
      const ks = labKernels().filter((k) => k.hasKernel && k.hasGuest);
      if (qemu === null || ks.length === 0) {
        process.stderr.write('lab: SKIP: the lab is not set up (npx dirtyscope lab setup)\n');
        return [];
      }
      const out: BenchResult[] = [];
      for (const k of ks) {
        const boots: number[] = [];
        for (let i = 0; i < 3; i++) {
          const g = await Guest.boot(k, qemu, { smp: 2 });
          boots.push(g.bootMs);
          await g.close();
        }
        out.push({
          name: `lab.bootMs.${k.kver}`,
          unit: 'ms',
          value: Math.round(median(boots)),
          params: {
            min: Math.round(Math.min(...boots)),
            max: Math.round(Math.max(...boots)),
            channel: k.virtio,
          },
        });
        const s = await LabSession.open(k, { smp: 2 });
        const mo = s.modelOptions();
        const wp = mo.wrprotect;
        const lab = new ModelLab(mo);
        const o = { sequences: 200, length: 50, seed: 11, wrprotect: wp };
        const r = await runLabDiff(s.side(), modelSide(lab), lab, o);
        await s.close();
        const m = new ModelLab(mo);
        const rm = await runLabDiff(modelSide(m), modelSide(new ModelLab(mo)), m, o);
        out.push({
          name: `lab.diff.opsPerSec.${k.kver}`,
          unit: 'ops/s',
          value: Math.round(r.ops / (r.elapsedMs / 1000)),
          params: {
            sequences: 200,
            length: 50,
            agreed: r.agreed,
            modelOpsPerSec: Math.round(rm.ops / (rm.elapsedMs / 1000)),
            channel: k.virtio,
          },
        });
      }
      return out;
    },
  },
];
