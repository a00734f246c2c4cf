/**
 * Kernel-style bitmaps (include/linux/bitmap.h semantics) over a `Uint32Array`.
 *
 * The kernel stores a bitmap as an array of `unsigned long` (64-bit on x86-64): bit `nr` lives in
 * word `nr / BITS_PER_LONG` at position `nr % BITS_PER_LONG`. On a little-endian machine that
 * memory is byte-for-byte the same as an array of 32-bit words with bit `nr` in word `nr >>> 5` at
 * position `nr & 31`, which is what we use (JS bitwise operators are 32-bit). Allocation rounds
 * up to whole longs (BITS_TO_LONGS) so sizes match the kernel's.
 */
export const BITS_PER_LONG = 64;

/** BITS_TO_LONGS(n) * 2 32-bit words. */
export function bitmapAlloc(nbits: number): Uint32Array {
  return new Uint32Array(Math.ceil(nbits / BITS_PER_LONG) * 2);
}

export function setBit(map: Uint32Array, nr: number): void {
  map[nr >>> 5]! |= 1 << (nr & 31);
}

export function clearBit(map: Uint32Array, nr: number): void {
  map[nr >>> 5]! &= ~(1 << (nr & 31));
}

export function testBit(map: Uint32Array, nr: number): boolean {
  return (map[nr >>> 5]! & (1 << (nr & 31))) !== 0;
}

/** bitmap_set(map, start, len). */
export function bitmapSet(map: Uint32Array, start: number, len: number): void {
  for (let i = start; i < start + len; i++) setBit(map, i);
}

/** bitmap_clear(map, start, len). */
export function bitmapClear(map: Uint32Array, start: number, len: number): void {
  for (let i = start; i < start + len; i++) clearBit(map, i);
}

/** find_next_bit: first set bit in [offset, size), or `size`. */
export function findNextBit(map: Uint32Array, size: number, offset: number): number {
  let i = offset;
  while (i < size) {
    const w = map[i >>> 5]! >>> (i & 31);
    if (w === 0) {
      i = ((i >>> 5) + 1) << 5;
      continue;
    }
    i += 31 - Math.clz32(w & -w);
    return Math.min(i, size);
  }
  return size;
}

/** find_next_zero_bit: first clear bit in [offset, size), or `size`. */
export function findNextZeroBit(map: Uint32Array, size: number, offset: number): number {
  for (let i = offset; i < size; i++) if (!testBit(map, i)) return i;
  return size;
}

/** bitmap_weight over the first `nbits` bits. */
export function bitmapWeight(map: Uint32Array, nbits: number): number {
  let n = 0;
  for (let i = findNextBit(map, nbits, 0); i < nbits; i = findNextBit(map, nbits, i + 1)) n++;
  return n;
}

/** Indices of set bits in [0, nbits) (for tests and reports; allocates). */
export function bitmapToList(map: Uint32Array, nbits: number): number[] {
  const out: number[] = [];
  for (let i = findNextBit(map, nbits, 0); i < nbits; i = findNextBit(map, nbits, i + 1)) out.push(i);
  return out;
}
