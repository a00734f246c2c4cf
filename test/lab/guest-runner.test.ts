/**
 * The guest runner without QEMU: a fake QEMU (fixtures/fake-qemu.mjs) serves the data channel.
 * Checks READY parsing, pipelined replies, that a BUG on the console becomes a report, and that a
 * guest which stops answering is turned into a GuestFailure by the watchdog (never a hang).
 */
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Guest, GuestFailure } from '../../src/lab/guest.ts';
import type { LabKernel } from '../../src/lab/paths.ts';

const fake = join(import.meta.dirname, 'fixtures', 'fake-qemu.mjs');
const kernel: LabKernel = {
  kver: 'fake-1.0',
  meta: { kver: 'fake-1.0', kbuild: '/nonexistent', source: 'test' },
  kernel: '/nonexistent/kernel',
  initramfs: '/nonexistent/initramfs',
  hasKernel: true,
  hasGuest: true,
  fresh: true,
  virtio: 'none',
  major: 1,
  minor: 0,
};

describe('lab guest runner (fake QEMU)', () => {
  it('boots to READY, answers pipelined requests, reports a console BUG, and the watchdog catches a silent guest', async () => {
    chmodSync(fake, 0o755);
    const g = await Guest.boot(kernel, fake, { bootTimeoutMs: 20_000, replyTimeoutMs: 400 });
    try {
      expect(g.ready).toEqual({ kver: 'fake-1.0', npages: 64, mod: false, wrprotect: false, fb: false });
      expect(g.bootMs).toBeGreaterThan(0);
      const r = await g.run([{ op: 'ping' }, { op: 'ping' }, { op: 'ping' }]);
      expect(r).toEqual([
        { ret: 0, kv: {} },
        { ret: 0, kv: {} },
        { ret: 0, kv: {} },
      ]);
      const reports = g.takeReports();
      expect(reports.map((x) => x.kind)).toEqual(['bug']);
      expect(reports[0]!.line).toContain('BUG: kernel NULL pointer dereference');
      expect(g.takeReports()).toEqual([]); // reported once
      await expect(g.run([{ op: 'ping' }, { op: 'reset' }])).rejects.toThrow(GuestFailure);
      expect(g.failed?.message).toMatch(/stopped answering \(1\/2 replies/);
    } finally {
      await g.close();
    }
  }, 60_000);

  it('a guest that never says READY is a GuestFailure after the boot timeout', async () => {
    await expect(Guest.boot(kernel, '/bin/true', { bootTimeoutMs: 1_000 })).rejects.toThrow(GuestFailure);
  }, 30_000);
});
