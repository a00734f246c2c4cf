/**
 * No lost write (spec P1/P2/P12) in fast mode under randomized multi-CPU workloads, checked
 * against the ground-truth store log (never against the drivers' own bits): after every consumer
 * sync, every logged store was followed by a copy of its page to the consumer, and the copy
 * equals CPU memory.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { MethodPolicy } from '../../src/drivers/bo-dirty.ts';
import { buildBoSystem, buildFbSystem } from '../../src/drivers/consumers.ts';
import { boStore, fbStore } from './helpers.ts';

type Op = { k: 'store'; cpu: number; bo: number; page: number } | { k: 'sync' } | { k: 'tick'; ns: number };

const PAGES = [24, 40];

function opArb(cpus: number, bos: number): fc.Arbitrary<Op> {
  return fc.oneof(
    {
      weight: 8,
      arbitrary: fc.record({
        k: fc.constant('store' as const),
        cpu: fc.integer({ min: 0, max: cpus - 1 }),
        bo: fc.integer({ min: 0, max: bos - 1 }),
        page: fc.integer({ min: 0, max: 1023 }),
      }),
    },
    { weight: 1, arbitrary: fc.constant({ k: 'sync' as const }) },
    {
      weight: 1,
      arbitrary: fc.record({ k: fc.constant('tick' as const), ns: fc.integer({ min: 1, max: 2e9 }) }),
    },
  );
}

describe('no lost write against the store log', () => {
  it('GPU consumer: every method, shared or per-CPU processes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<MethodPolicy>('auto', 'mkwrite', 'pagetable'),
        fc.constantFrom<'shared' | 'per-cpu'>('shared', 'per-cpu'),
        fc.integer({ min: 1, max: 3 }),
        fc.array(opArb(3, PAGES.length), { minLength: 1, maxLength: 300 }),
        (policy, processes, resources, ops) => {
          const s = buildBoSystem({
            cpus: 3,
            bos: PAGES,
            processes,
            storeLog: true,
            resourcesPerBo: resources,
          });
          const log = s.k.storeLog!;
          const copiedAt = PAGES.map((n) => new Float64Array(n).fill(-1));
          s.gpu.onCopy = (bo, page) => {
            copiedAt[s.bos.indexOf(bo)]![page] = log.length;
          };
          s.gpu.submitNow(() => policy); // trackers
          let from = log.length;
          const check = () => {
            for (let i = from; i < log.length; i++) {
              const pfn = log.pfn[i]!;
              const b = s.bos.findIndex((bo) => pfn >= bo.ioBase && pfn < bo.ioBase + bo.pages);
              const page = pfn - s.bos[b]!.ioBase;
              expect(copiedAt[b]![page]!, `store #${i} to bo${b} page ${page}`).toBeGreaterThan(i);
              expect(s.gpu.coherent(s.bos[b]!, page)).toBe(true);
            }
            from = log.length;
          };
          for (const op of ops) {
            if (op.k === 'store') boStore(s, op.cpu, op.bo, op.page % PAGES[op.bo]!, (op.page & 0xff) + 1);
            else if (op.k === 'sync') {
              s.gpu.submitNow(() => policy);
              check();
            }
          }
          s.gpu.submitNow(() => policy);
          check();
        },
      ),
      { numRuns: 60, seed: 5 },
    );
  });

  it('display consumer: delayed work, fsync, last close; both worker variants', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<'mainline' | 'page-lock'>('mainline', 'page-lock'),
        fc.constantFrom<'shared' | 'per-cpu'>('shared', 'per-cpu'),
        fc.array(opArb(2, 1), { minLength: 1, maxLength: 300 }),
        (variant, processes, ops) => {
          const pages = 32;
          const s = buildFbSystem({ cpus: 2, pages, variant, processes, storeLog: true });
          const log = s.k.storeLog!;
          const copiedAt = new Float64Array(pages).fill(-1);
          s.display.onCopy = (p) => {
            copiedAt[p] = log.length;
          };
          let from = 0;
          const check = () => {
            for (let i = from; i < log.length; i++) {
              const p = log.pfn[i]! - s.fb.smemStart;
              expect(copiedAt[p]!, `store #${i} to page ${p}`).toBeGreaterThan(i);
              expect(s.display.coherent(p)).toBe(true);
            }
            from = log.length;
          };
          for (const op of ops) {
            if (op.k === 'store') fbStore(s, op.cpu, op.page % pages, (op.page & 0xff) + 1);
            else if (op.k === 'tick') s.clock.advance(op.ns);
            else {
              s.fb.fsync();
              check();
            }
          }
          while (s.fb.openCount > 0) s.fb.release();
          check();
        },
      ),
      { numRuns: 60, seed: 6 },
    );
  });
});
