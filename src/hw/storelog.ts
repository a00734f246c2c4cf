/**
 * Ground truth: every completed user (or device) store, in order, with a sequence number.
 * Properties are checked against this log, never against the model's own bits. Typed arrays,
 * grown by doubling; appending costs a few array writes.
 */
export class StoreLog {
  length = 0;
  cpu: Int32Array;
  mm: Int32Array;
  vpn: Float64Array;
  pfn: Float64Array;

  constructor(initial = 1024) {
    this.cpu = new Int32Array(initial);
    this.mm = new Int32Array(initial);
    this.vpn = new Float64Array(initial);
    this.pfn = new Float64Array(initial);
  }

  private grow(): void {
    const n = this.cpu.length * 2;
    const c = new Int32Array(n);
    c.set(this.cpu);
    this.cpu = c;
    const m = new Int32Array(n);
    m.set(this.mm);
    this.mm = m;
    const v = new Float64Array(n);
    v.set(this.vpn);
    this.vpn = v;
    const p = new Float64Array(n);
    p.set(this.pfn);
    this.pfn = p;
  }

  /** Record a store; returns its sequence number. `cpu` is -1-devId for device writes. */
  record(cpu: number, mm: number, vpn: number, pfn: number): number {
    if (this.length === this.cpu.length) this.grow();
    const i = this.length++;
    this.cpu[i] = cpu;
    this.mm[i] = mm;
    this.vpn[i] = vpn;
    this.pfn[i] = pfn;
    return i;
  }
}
