/**
 * Kernel bitmaps over Uint32Array: the index math equals the kernel's little-endian array of
 * 64-bit longs (checked against a BigInt model), and find_next_bit / find_next_zero_bit /
 * bitmap_weight / bitmap_set / bitmap_clear obey their laws against a Set model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BITS_PER_LONG,
  bitmapAlloc,
  bitmapClear,
  bitmapSet,
  bitmapToList,
  bitmapWeight,
  clearBit,
  findNextBit,
  findNextZeroBit,
  setBit,
  testBit,
} from '../../src/mm/bitmap.ts';

/** The kernel view: unsigned long[] (64-bit) read from the same little-endian bytes. */
function asLongs(map: Uint32Array): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < map.length; i += 2) out.push(BigInt(map[i]!) | (BigInt(map[i + 1] ?? 0) << 32n));
  return out;
}
function kernelTestBit(longs: bigint[], nr: number): boolean {
  return ((longs[Math.floor(nr / BITS_PER_LONG)]! >> BigInt(nr % BITS_PER_LONG)) & 1n) === 1n;
}

const NBITS = 300;
const bits = fc.uniqueArray(fc.nat(NBITS - 1), { maxLength: 80 });

function build(set: number[]): Uint32Array {
  const m = bitmapAlloc(NBITS);
  for (const b of set) setBit(m, b);
  return m;
}

describe('bitmap index math', () => {
  it('allocates BITS_TO_LONGS(n) longs (2 words each)', () => {
    for (const [n, words] of [
      [1, 2],
      [64, 2],
      [65, 4],
      [128, 4],
      [300, 10],
    ] as const)
      expect(bitmapAlloc(n).length).toBe(words);
  });

  it('bit n lives in 32-bit word n>>>5, which is the little-endian layout of 64-bit longs (BigInt model)', () => {
    fc.assert(
      fc.property(bits, (set) => {
        const m = build(set);
        // Same bytes seen as a kernel unsigned long[]: bit n is bit n%64 of long n/64.
        const longs = asLongs(m);
        const bytes = new Uint8Array(m.buffer);
        const want = new Set(set);
        for (let n = 0; n < NBITS; n++) {
          const views = [kernelTestBit(longs, n), testBit(m, n), ((bytes[n >> 3]! >> (n & 7)) & 1) === 1]; // byte n/8, bit n%8
          if (views.some((v) => v !== want.has(n))) expect({ n, views }).toEqual({ n, views: [want.has(n)] });
        }
      }),
    );
  });

  it('bit 31 and bit 63 use the top bits of their words (no sign trouble)', () => {
    const m = bitmapAlloc(128);
    setBit(m, 31);
    setBit(m, 63);
    expect(m[0]).toBe(0x8000_0000);
    expect(m[1]).toBe(0x8000_0000);
    expect(asLongs(m)[0]).toBe(0x8000_0000_8000_0000n);
    expect(findNextBit(m, 128, 0)).toBe(31);
    expect(findNextBit(m, 128, 32)).toBe(63);
    clearBit(m, 31);
    expect(bitmapToList(m, 128)).toEqual([63]);
  });
});

describe('find / weight / set / clear laws', () => {
  it('findNextBit returns the least set bit >= offset below size, else size', () => {
    fc.assert(
      fc.property(bits, fc.nat(NBITS + 5), fc.nat(NBITS), (set, offset, size) => {
        const m = build(set);
        const want = Math.min(size, ...set.filter((b) => b >= offset && b < size));
        expect(findNextBit(m, size, offset)).toBe(offset >= size ? size : want);
      }),
    );
  });

  it('findNextZeroBit returns the least clear bit >= offset below size, else size', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.nat(NBITS - 1), { maxLength: NBITS }),
        fc.nat(NBITS),
        fc.nat(NBITS),
        (set, offset, size) => {
          const m = build(set);
          let want = size;
          for (let i = offset; i < size; i++)
            if (!set.includes(i)) {
              want = i;
              break;
            }
          expect(findNextZeroBit(m, size, offset)).toBe(want);
        },
      ),
    );
  });

  it('weight and list agree with the set; set/clear ranges act on exactly [start, start + len)', () => {
    fc.assert(
      fc.property(bits, fc.nat(NBITS - 1), fc.nat(NBITS), fc.boolean(), (set, start, len0, doSet) => {
        const len = Math.min(len0, NBITS - start);
        const m = build(set);
        expect(bitmapWeight(m, NBITS)).toBe(set.length);
        expect(bitmapToList(m, NBITS)).toEqual([...set].sort((a, b) => a - b));
        if (doSet) bitmapSet(m, start, len);
        else bitmapClear(m, start, len);
        const got: number[] = [];
        const want: number[] = [];
        for (let i = 0; i < NBITS; i++) {
          const inRange = i >= start && i < start + len;
          if (testBit(m, i)) got.push(i);
          if (inRange ? doSet : set.includes(i)) want.push(i);
        }
        expect(got).toEqual(want);
      }),
    );
  });
});
