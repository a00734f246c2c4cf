import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { StoreLog } from '../../src/hw/storelog.ts';

describe('StoreLog', () => {
  it('records in order with consecutive sequence numbers, growing past its initial size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.integer({ min: -4, max: 8 }), fc.nat(5), fc.nat(2 ** 40), fc.nat(2 ** 40)), {
          maxLength: 100,
        }),
        (initial, recs) => {
          const log = new StoreLog(initial);
          recs.forEach(([cpu, mm, vpn, pfn], i) => {
            expect(log.record(cpu, mm, vpn, pfn)).toBe(i);
          });
          expect(log.length).toBe(recs.length);
          recs.forEach(([cpu, mm, vpn, pfn], i) => {
            expect([log.cpu[i], log.mm[i], log.vpn[i], log.pfn[i]]).toEqual([cpu, mm, vpn, pfn]);
          });
        },
      ),
    );
  });
});
