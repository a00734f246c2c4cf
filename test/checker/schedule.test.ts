import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeSchedule, encodeSchedule, ScheduleFormatError } from '../../src/checker/schedule.ts';

describe('schedule strings', () => {
  it('encodes runs: [0,0,0,1,1,0] -> v1:A3B2A; [] -> v1:', () => {
    expect(encodeSchedule([0, 0, 0, 1, 1, 0])).toBe('v1:A3B2A');
    expect(encodeSchedule([])).toBe('v1:');
    expect(encodeSchedule([25, 26, 30, 30])).toBe('v1:Zae2');
  });

  it('decode(encode(c)) = c for every choice list', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 300 }), (c) => {
        expect(decodeSchedule(encodeSchedule(c))).toEqual(c);
      }),
    );
  });

  it('any string either decodes to a list that re-encodes to it, or is a one-line format error', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('v', '1', ':', 'A', 'B', 'e', 'f', '0', '2', '9', ' ') }),
        (s) => {
          let c: number[];
          try {
            c = decodeSchedule(s);
          } catch (e) {
            expect(e).toBeInstanceOf(ScheduleFormatError);
            expect((e as Error).message).not.toContain('\n');
            return;
          }
          expect(encodeSchedule(c)).toBe(s);
        },
      ),
    );
  });

  it('names the problem in errors', () => {
    expect(() => decodeSchedule('A2')).toThrow(/must start with 'v1:'/);
    expect(() => decodeSchedule('v1:A?')).toThrow(/unexpected '\?' at position 4/);
    expect(() => decodeSchedule('v1:A1')).toThrow(/run length '1'/);
    expect(() => decodeSchedule('v1:A02')).toThrow(/run length '02'/);
    expect(() => decodeSchedule('v1:A99999999999')).toThrow(/more than/);
  });

  it('is short: 1000 choices alternating in runs of 10 fit in ~300 characters', () => {
    const c = Array.from({ length: 1000 }, (_, i) => Math.floor(i / 10) % 2);
    expect(encodeSchedule(c).length).toBeLessThan(310);
  });
});
