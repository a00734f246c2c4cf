/**
 * A lab session: one booted guest plus what the host learned about it (the device PFNs, to
 * compare PTEs), the kernel reports collected so far, and reboots after a hang or crash.
 */
import { existsSync } from 'node:fs';
import type { ConfirmSession } from './confirm.ts';
import type { LabSide } from './diff.ts';
import { Guest, GuestFailure, type GuestOptions, type KernelReport } from './guest.ts';
import { type LabKernel, qemuPath } from './paths.ts';
import { decodePte, LAB_NPAGES, type LabDev, type LabOp, type LabReply } from './protocol.ts';

/** A kernel report or a guest failure, with where it happened. */
export interface LabFinding {
  kind: KernelReport['kind'] | 'hang' | 'crash';
  line: string;
  log: string[];
  /** What the host was running when it was seen. */
  during: string;
}

export class LabSession {
  readonly findings: LabFinding[] = [];
  reboots = 0;
  bases: Record<LabDev, number> = { pfn: -1, page: -1 };
  during = 'boot';

  private constructor(
    readonly kernel: LabKernel,
    public guest: Guest,
    private readonly qemu: string,
    private readonly opts: GuestOptions,
  ) {}

  static async open(kernel: LabKernel, opts: GuestOptions = {}): Promise<LabSession> {
    const qemu = qemuPath();
    if (qemu === null) throw new GuestFailure('qemu-system-x86_64 is not installed', []);
    if (!existsSync(kernel.kernel) || !existsSync(kernel.initramfs))
      throw new GuestFailure(`kernel ${kernel.kver} is not set up (run: dirtyscope lab setup)`, []);
    let g: Guest;
    try {
      g = await Guest.boot(kernel, qemu, opts);
    } catch (e) {
      if (!(e instanceof GuestFailure)) throw e;
      // One retry: a TCG guest on a loaded host occasionally fails to come up. Say so, with the
      // console, so a kernel that really fails to boot is still visible.
      process.stderr.write(
        `lab: ${kernel.kver}: boot failed (${e.message}); retrying once. Console tail:\n${e.consoleTail.slice(-15).join('\n')}\n`,
      );
      g = await Guest.boot(kernel, qemu, opts);
    }
    const s = new LabSession(kernel, g, qemu, opts);
    s.collect('boot');
    if (g.ready?.mod === true) await s.learnBases();
    return s;
  }

  /** Map page 0 of each device once and read its PTE: the device's first PFN. */
  private async learnBases(): Promise<void> {
    const ops: LabOp[] = [{ op: 'reset' }, { op: 'spawn', p: 7 }];
    const devs: LabDev[] = ['pfn', 'page'];
    devs.forEach((d, i) => {
      ops.push(
        { op: 'mmap', p: 7, m: 15 - i, d, off: 0, n: 1, share: 's', prot: 'r', fd: 'rw' },
        { op: 'load', p: 7, m: 15 - i, page: 0 },
        { op: 'pte', p: 7, m: 15 - i, page: 0 },
      );
    });
    ops.push({ op: 'reset' });
    const r = await this.guest.run(ops);
    devs.forEach((d, i) => {
      const pte = r[4 + 3 * i]?.kv.pte;
      const p = pte === undefined ? null : decodePte(pte);
      if (p !== null) this.bases[d] = p.pfn;
    });
  }

  resolvePfn = (pfn: number): { d: LabDev; page: number } | null => {
    for (const d of ['pfn', 'page'] as const) {
      const b = this.bases[d];
      if (b >= 0 && pfn >= b && pfn < b + LAB_NPAGES) return { d, page: pfn - b };
    }
    return null;
  };

  /** Move new console reports into findings. */
  collect(during: string): LabFinding[] {
    const fresh = this.guest.takeReports().map((r) => ({ kind: r.kind, line: r.line, log: r.log, during }));
    this.findings.push(...fresh);
    return fresh;
  }

  /** Run ops; a hang or crash becomes a finding, the guest is rebooted, and the error rethrown. */
  async run(ops: readonly LabOp[]): Promise<LabReply[]> {
    try {
      const r = await this.guest.run(ops);
      this.collect(this.during);
      return r;
    } catch (e) {
      if (!(e instanceof GuestFailure)) throw e;
      this.collect(this.during);
      this.findings.push({
        kind: /answering/.test(e.message) ? 'hang' : 'crash',
        line: e.message,
        log: e.consoleTail,
        during: this.during,
      });
      await this.reboot();
      throw e;
    }
  }

  async reboot(): Promise<void> {
    await this.guest.close();
    this.reboots++;
    this.guest = await Guest.boot(this.kernel, this.qemu, this.opts);
    this.collect('reboot');
    if (this.guest.ready?.mod === true) await this.learnBases();
  }

  /**
   * What the model must mirror of this kernel: `mapping_wrprotect_range` (the guest says whether
   * it has it) and SavedDirty on write-protect (observed on 7.2, not on 6.1).
   */
  modelOptions(): { wrprotect: boolean; savedDirty: boolean } {
    return { wrprotect: this.guest.ready?.wrprotect === true, savedDirty: this.kernel.major >= 7 };
  }

  /** This guest as the target of `lab confirm` (2 CPUs, as every session boots). */
  confirmTarget(): ConfirmSession {
    const k = this.kernel;
    return {
      kver: k.kver,
      ready: this.guest.ready,
      smp: this.guest.opts.smp,
      savedDirty: this.modelOptions().savedDirty,
      major: k.major,
      minor: k.minor,
      run: (ops) => this.run(ops),
    };
  }

  side(): LabSide {
    return { name: `linux ${this.kernel.kver}`, run: (ops) => this.run(ops), resolvePfn: this.resolvePfn };
  }

  async close(): Promise<void> {
    this.collect('close');
    await this.guest.close();
  }
}
