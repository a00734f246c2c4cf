/**
 * A persistent guest: QEMU (TCG) boots a lab kernel with the lab initramfs once; operation
 * batches then go to the guest agent over the data serial port and replies come back in order
 * (lab/PROTOCOL.md). The kernel console (first serial port) is watched for oopses, BUGs and
 * WARNs: each is kept as a {@link KernelReport}, never swallowed. A watchdog turns a guest that
 * stops answering into a {@link GuestFailure}; the caller reboots (see {@link GuestPool}).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LabKernel } from './paths.ts';
import { encodeOp, type LabOp, type LabReply, parseReply } from './protocol.ts';

export interface ReadyInfo {
  kver: string;
  npages: number;
  mod: boolean;
  wrprotect: boolean;
  fb: boolean;
}

/** Something the guest kernel printed that a kernel developer must see (oops, BUG, WARN, panic). */
export interface KernelReport {
  kind: 'oops' | 'bug' | 'warn' | 'panic' | 'lockup';
  /** The first line that matched. */
  line: string;
  /** Console lines around it (up to 60). */
  log: string[];
}

export class GuestFailure extends Error {
  constructor(
    message: string,
    readonly consoleTail: string[],
  ) {
    super(message);
  }
}

export interface GuestOptions {
  smp?: number;
  memMiB?: number;
  /** Boot to READY within this many ms (TCG on a loaded 2-core machine: generous). */
  bootTimeoutMs?: number;
  /** A batch that makes no progress for this long means the guest hung. */
  replyTimeoutMs?: number;
  /** Extra kernel command line. */
  append?: string;
  /** Use the emulated UART even where virtio serial is available. */
  serialOnly?: boolean;
}

const REPORT_PATTERNS: Array<[RegExp, KernelReport['kind']]> = [
  [/Kernel panic/, 'panic'],
  [/\bOops\b|general protection fault/, 'oops'],
  [/\bBUG:/, 'bug'],
  [/soft lockup|hard LOCKUP|rcu_sched self-detected stall|rcu: INFO/, 'lockup'],
  [/WARNING: CPU:/, 'warn'],
];

// ANSI escapes and carriage returns the serial console adds.
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g');

export function cleanConsoleLine(s: string): string {
  return s.replace(ANSI, '').replace(/\r/g, '');
}

/** Scan console lines for reports; `from` = index of the first new line. */
export function findReports(lines: string[], from: number): KernelReport[] {
  const out: KernelReport[] = [];
  for (let i = from; i < lines.length; i++) {
    const l = lines[i]!;
    for (const [re, kind] of REPORT_PATTERNS) {
      if (re.test(l)) {
        out.push({ kind, line: l.trim(), log: lines.slice(Math.max(0, i - 5), i + 55) });
        i += 20; // one report per burst
        break;
      }
    }
  }
  return out;
}

export class Guest {
  readonly consoleLines: string[] = [];
  private consolePartial = '';
  private reportedUpTo = 0;
  ready: ReadyInfo | null = null;
  bootMs = 0;
  private sock: Socket | null = null;
  private rx = '';
  private nextId = 1;
  private waiting: Array<{ id: number; resolve: (r: LabReply) => void }> = [];
  private failWith: GuestFailure | null = null;
  private onFail: ((e: GuestFailure) => void) | null = null;
  private readyResolve: ((line: string) => void) | null = null;
  private exited = false;

  private constructor(
    readonly kernel: LabKernel,
    private readonly proc: ChildProcess,
    private readonly dir: string,
    readonly opts: Required<GuestOptions>,
  ) {}

  /** Boot `kernel` and wait for the agent's READY line. */
  static async boot(kernel: LabKernel, qemu: string, o: GuestOptions = {}): Promise<Guest> {
    const opts: Required<GuestOptions> = {
      smp: o.smp ?? 2,
      memMiB: o.memMiB ?? 512,
      bootTimeoutMs: o.bootTimeoutMs ?? 180_000,
      replyTimeoutMs: o.replyTimeoutMs ?? 60_000,
      append: o.append ?? '',
      serialOnly: o.serialOnly ?? false,
    };
    const dir = mkdtempSync(join(tmpdir(), 'dslab-'));
    const sockPath = join(dir, 'data.sock');
    const args = [
      '-accel',
      opts.smp > 1 ? 'tcg,thread=multi' : 'tcg',
      '-smp',
      String(opts.smp),
      '-m',
      String(opts.memMiB),
      '-nodefaults',
      '-display',
      'none',
      '-no-reboot',
      '-kernel',
      kernel.kernel,
      '-initrd',
      kernel.initramfs,
      '-append',
      `console=ttyS0 panic=-1 loglevel=4 ${opts.append}`.trim(),
      '-chardev',
      'stdio,id=con,signal=off',
      '-serial',
      'chardev:con',
      '-chardev',
      `socket,id=data,path=${sockPath},server=on,wait=off`,
      // The data channel: a virtio serial port named `dslab` where the guest image has the
      // driver (10-50x the pipelined rate of an emulated UART under TCG, lab/module/README.md),
      // else the second UART (ttyS1). /init picks whichever exists.
      ...(kernel.virtio !== 'none' && !opts.serialOnly
        ? ['-device', 'virtio-serial-pci', '-device', 'virtserialport,chardev=data,name=dslab']
        : ['-serial', 'chardev:data']),
    ];
    const t0 = performance.now();
    const proc = spawn(qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const g = new Guest(kernel, proc, dir, opts);
    proc.stdout!.setEncoding('utf8');
    proc.stdout!.on('data', (s: string) => g.onConsole(s));
    proc.stderr!.setEncoding('utf8');
    proc.stderr!.on('data', (s: string) => g.onConsole(`[qemu] ${s}`));
    proc.on('exit', (code, sig) => {
      g.exited = true;
      g.fail(`QEMU exited (${sig ?? code}) while the guest was in use`);
    });
    try {
      const line = await g.withTimeout(
        (async () => {
          await g.connectData(sockPath, opts.bootTimeoutMs);
          return await new Promise<string>((res) => {
            g.readyResolve = res;
            g.drainRx();
          });
        })(),
        opts.bootTimeoutMs,
        `guest did not report READY within ${opts.bootTimeoutMs} ms`,
      );
      g.ready = parseReady(line);
      g.bootMs = performance.now() - t0;
      return g;
    } catch (e) {
      await g.close();
      throw e;
    }
  }

  private async connectData(path: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.exited) throw new GuestFailure('QEMU exited during boot', this.tail());
      if (existsSync(path)) {
        const ok = await new Promise<Socket | null>((res) => {
          const s = connect(path);
          s.once('connect', () => res(s));
          s.once('error', () => res(null));
        });
        if (ok !== null) {
          this.sock = ok;
          ok.setEncoding('latin1');
          ok.on('data', (d: string) => {
            this.rx += d;
            this.drainRx();
          });
          // Let QEMU's exit (with its status) be the reported cause when both happen.
          ok.on('close', () => setTimeout(() => this.fail('data channel closed'), 300));
          return;
        }
      }
      if (Date.now() > deadline) throw new GuestFailure('data channel never came up', this.tail());
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private onConsole(s: string): void {
    const text = this.consolePartial + s;
    const parts = text.split('\n');
    this.consolePartial = parts.pop() ?? '';
    for (const p of parts) {
      this.consoleLines.push(cleanConsoleLine(p));
      if (this.consoleLines.length > 20000) {
        this.consoleLines.splice(0, 10000);
        this.reportedUpTo = Math.max(0, this.reportedUpTo - 10000);
      }
    }
  }

  private drainRx(): void {
    for (;;) {
      const nl = this.rx.indexOf('\n');
      if (nl < 0) return;
      const line = this.rx.slice(0, nl).replace(/\r$/, '');
      this.rx = this.rx.slice(nl + 1);
      if (line.startsWith('DSLAB READY')) {
        this.readyResolve?.(line);
        this.readyResolve = null;
        continue;
      }
      const r = parseReply(line);
      if (r === null) continue; // noise on the channel (should not happen): ignored
      const w = this.waiting[0];
      if (w === undefined || w.id !== r.id) {
        this.fail(`reply id ${r.id} out of order (expected ${w?.id ?? 'none'}): '${line.slice(0, 120)}'`);
        return;
      }
      this.waiting.shift();
      w.resolve(r.reply);
    }
  }

  private fail(msg: string): void {
    if (this.failWith !== null) return;
    this.failWith = new GuestFailure(msg, this.tail());
    this.onFail?.(this.failWith);
  }

  /** The last console lines. */
  tail(n = 60): string[] {
    return this.consoleLines.slice(-n);
  }

  /** New oops/BUG/WARN/panic reports since the last call. */
  takeReports(): KernelReport[] {
    const r = findReports(this.consoleLines, this.reportedUpTo);
    this.reportedUpTo = this.consoleLines.length;
    return r;
  }

  get failed(): GuestFailure | null {
    return this.failWith;
  }

  /** Run `ops` pipelined; resolves with one reply per op, in order. */
  async run(ops: readonly LabOp[]): Promise<LabReply[]> {
    if (this.failWith !== null) throw this.failWith;
    if (this.sock === null) throw new GuestFailure('not connected', this.tail());
    const replies: Promise<LabReply>[] = [];
    const lines: string[] = [];
    for (const op of ops) {
      const id = this.nextId++;
      lines.push(encodeOp(id, op));
      replies.push(new Promise<LabReply>((resolve) => this.waiting.push({ id, resolve })));
    }
    this.sock.write(`${lines.join('\n')}\n`);
    // Watchdog: progress = a reply arrived; none for replyTimeoutMs = hung.
    let done = 0;
    for (const p of replies) p.then(() => done++);
    return await new Promise<LabReply[]>((resolve, reject) => {
      let last = -1;
      const timer = setInterval(() => {
        if (done === last) {
          clearInterval(timer);
          this.fail(
            `guest stopped answering (${done}/${ops.length} replies, ${this.opts.replyTimeoutMs} ms silent)`,
          );
        }
        last = done;
      }, this.opts.replyTimeoutMs);
      this.onFail = (e) => {
        clearInterval(timer);
        reject(e);
      };
      Promise.all(replies).then((r) => {
        clearInterval(timer);
        this.onFail = null;
        resolve(r);
      });
    });
  }

  private async withTimeout<T>(p: Promise<T>, ms: number, msg: string): Promise<T> {
    let t: NodeJS.Timeout | undefined;
    const to = new Promise<never>((_, rej) => {
      t = setTimeout(() => rej(new GuestFailure(msg, this.tail())), ms);
    });
    const failed = new Promise<never>((_, rej) => {
      this.onFail = (e) => rej(e);
    });
    try {
      return await Promise.race([p, to, failed]);
    } finally {
      clearTimeout(t);
      this.onFail = null;
    }
  }

  /** Stop the guest (kill QEMU) and remove its temp dir. */
  async close(): Promise<void> {
    this.failWith ??= new GuestFailure('guest closed', []);
    this.sock?.destroy();
    if (!this.exited) {
      const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
      this.proc.kill('SIGKILL');
      await gone;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function parseReady(line: string): ReadyInfo {
  const kv: Record<string, string> = {};
  for (const w of line.split(/\s+/)) {
    const eq = w.indexOf('=');
    if (eq > 0) kv[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return {
    kver: kv.kv ?? '?',
    npages: Number(kv.npages ?? 0),
    mod: kv.mod === '1',
    wrprotect: kv.wrprotect === '1',
    fb: kv.fb === '1',
  };
}
