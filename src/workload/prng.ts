/**
 * A small seeded PRNG (sfc32: 128-bit state, adds/xors/shifts only, no multiplication) used by
 * every workload so that the same seed gives the same operations, byte for byte.
 *
 * Streams are forked by label (`fork('cpu-pick')`), derived from the parent's *key* and the label,
 * never from the parent's current state: adding a draw to one stream never shifts another.
 */

/** FNV-1a over the UTF-16 code units of `s`, 32 bits. */
export function hashLabel(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** One step of splitmix32 on `x` (used to spread a seed over the state and to mix keys). */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

const TWO_32 = 4294967296;

export class Prng {
  /** The key this stream was created from (seed or seed+label mix); forks derive from it. */
  readonly key: number;
  /**
   * sfc32 state a, b, c, d. In an Int32Array, not four fields: int32 values outside the 31-bit
   * small-integer range would be boxed heap numbers in fields (measured ~2x slower per draw).
   */
  private readonly s = new Int32Array(4);

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`prng seed must be an integer, got ${seed}`);
    this.key = seed >>> 0;
    const a = mix32(this.key);
    const b = mix32(a ^ 0x6a09e667);
    const c = mix32(b ^ 0xbb67ae85);
    this.s[0] = a;
    this.s[1] = b;
    this.s[2] = c;
    this.s[3] = 1;
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  /** An independent stream named `label`; the same (key, label) always gives the same stream. */
  fork(label: string): Prng {
    return new Prng(mix32(this.key ^ mix32(hashLabel(label))));
  }

  /** Uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s = this.s;
    const a = s[0]!;
    const b = s[1]!;
    const c = s[2]!;
    const d = s[3]!;
    const t = (((a + b) | 0) + d) | 0;
    s[3] = (d + 1) | 0;
    s[0] = b ^ (b >>> 9);
    s[1] = (c + (c << 3)) | 0;
    s[2] = (((c << 21) | (c >>> 11)) + t) | 0;
    return t >>> 0;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextU32() / TWO_32;
  }

  /**
   * Uniform integer in [0, n) for 1 <= n <= 2^32 by multiply-shift (bias at most n / 2^32, far
   * below anything a workload can observe; no rejection loop so the draw count is fixed).
   */
  below(n: number): number {
    return Math.floor((this.nextU32() * n) / TWO_32);
  }

  /** Internal state, for tests and for checkpointing a stream. */
  state(): [number, number, number, number] {
    const s = this.s;
    return [s[0]! >>> 0, s[1]! >>> 0, s[2]! >>> 0, s[3]! >>> 0];
  }
}
