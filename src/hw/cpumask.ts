/**
 * A set of CPU numbers of any size (struct cpumask): one bit per CPU in 32-bit words that grow on
 * demand, so CPU 32 and beyond are as exact as CPU 0 (a single 32-bit integer wraps `1 << 32` to
 * bit 0). Iteration is in ascending CPU order, like for_each_cpu.
 */
export class CpuMask {
  private words: Uint32Array = new Uint32Array(1);

  /** cpumask_set_cpu. */
  set(cpu: number): void {
    if (!Number.isInteger(cpu) || cpu < 0) throw new RangeError(`cpu ${cpu} is not a CPU number`);
    const w = cpu >>> 5;
    if (w >= this.words.length) {
      const grown = new Uint32Array(Math.max(w + 1, this.words.length * 2));
      grown.set(this.words);
      this.words = grown;
    }
    this.words[w]! |= 1 << (cpu & 31);
  }

  /** cpumask_test_cpu. */
  has(cpu: number): boolean {
    const w = cpu >>> 5;
    return w < this.words.length && (this.words[w]! & (1 << (cpu & 31))) !== 0;
  }

  /** cpumask_weight. */
  count(): number {
    let n = 0;
    for (const x of this.words) {
      let v = x;
      while (v !== 0) {
        v &= v - 1;
        n++;
      }
    }
    return n;
  }

  /** for_each_cpu: calls `fn` for every CPU in the set, ascending. */
  forEach(fn: (cpu: number) => void): void {
    const ws = this.words;
    for (let w = 0; w < ws.length; w++) {
      let v = ws[w]!;
      while (v !== 0) {
        const low = v & -v;
        fn(w * 32 + 31 - Math.clz32(low));
        v = (v ^ low) >>> 0;
      }
    }
  }

  /** The CPUs in the set, ascending. */
  toArray(): number[] {
    const out: number[] = [];
    this.forEach((c) => {
      out.push(c);
    });
    return out;
  }
}
