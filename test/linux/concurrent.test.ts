/**
 * Concurrent writers vs. WP_MATCHING scans, after the intent of transact_test in the kernel's
 * pagemap_ioctl.c: worker threads store into the tracked mapping while the main thread keeps
 * scanning with PM_SCAN_WP_MATCHING; no write may be lost (each must be reported by some scan of
 * its round), duplicates are allowed (counted as extras), and a page not written in a round must
 * not be reported in it.
 *
 * Real kernel only: the writers are real CPU threads. They store through their own typed-array
 * view of the SAME mapping (threads share the address space). A separate mmap per writer would
 * be a different VMA without uffd-wp registration, invisible to a scan of this one.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { probeKernel, skipReason } from '../../src/linux/probe.ts';
import { KernelBackend } from '../../src/linux/real-backend.ts';
import { pagesOf } from '../../src/linux/tracking.ts';

const reason = skipReason(probeKernel());

// ctl[0] = round number (workers wait for it to change), ctl[1] = workers done with the round,
// ctl[2] = stop flag. Worker w owns pages [w*per, (w+1)*per) and in round r writes page p iff
// written(p, r). Between two stores it spins a little so that scans interleave with the writes.
const WORKER_SRC = `
const { workerData } = require('node:worker_threads');
const koffi = require(workerData.koffiPath);
const { addr, pageSize, first, per, control } = workerData;
const view = new Uint8Array(koffi.view(addr + first * pageSize, per * pageSize));
const ctl = new Int32Array(control);
let seen = 0;
for (;;) {
  if (Atomics.wait(ctl, 0, seen, 10000) === 'timed-out') break;
  if (Atomics.load(ctl, 2)) break;
  const round = Atomics.load(ctl, 0);
  seen = round;
  for (let i = 0; i < per; i++) {
    const p = first + i;
    if ((p * 7 + round) % 3 === 0) continue;
    view[i * pageSize + (round % pageSize)] = round & 0xff;
    for (let k = 0; k < 1000; k++) Atomics.load(ctl, 2);
  }
  Atomics.add(ctl, 1, 1);
}
`;
const writtenIn = (p: number, round: number) => (p * 7 + round) % 3 !== 0;

describe.skipIf(reason !== null)(`concurrent writers vs scans${reason ? ` [SKIP: ${reason}]` : ''}`, () => {
  it('no lost update: 3 writer threads x 32 pages, 300 rounds of scans with WP_MATCHING', async () => {
    const nWorkers = 3;
    const per = 32;
    const rounds = 300;
    const region = new KernelBackend().open(nWorkers * per);
    const control = new SharedArrayBuffer(12);
    const ctl = new Int32Array(control);
    const workers: Worker[] = [];
    try {
      region.collect({ reprotect: true });
      const koffiPath = createRequire(import.meta.url).resolve('koffi');
      for (let w = 0; w < nWorkers; w++) {
        workers.push(
          new Worker(WORKER_SRC, {
            eval: true,
            workerData: {
              koffiPath,
              addr: region.base,
              pageSize: region.pageSize,
              first: w * per,
              per,
              control,
            },
          }),
        );
      }
      await Promise.all(workers.map((w) => new Promise((res) => w.once('online', res))));
      let extras = 0;
      let concurrentReports = 0;
      const count = new Uint32Array(region.pages);
      for (let round = 1; round <= rounds; round++) {
        count.fill(0);
        Atomics.store(ctl, 1, 0);
        Atomics.store(ctl, 0, round);
        Atomics.notify(ctl, 0);
        const deadline = Date.now() + 10_000;
        while (Atomics.load(ctl, 1) < nWorkers) {
          for (const p of pagesOf(region.collect({ reprotect: true }).regions)) {
            count[p]!++;
            concurrentReports++;
          }
          if (Date.now() > deadline) throw new Error(`round ${round}: writers did not finish`);
        }
        for (const p of pagesOf(region.collect({ reprotect: true }).regions)) count[p]!++;
        for (let p = 0; p < region.pages; p++) {
          if (writtenIn(p, round)) {
            if (count[p] === 0)
              throw new Error(`lost update: page ${p} written in round ${round} never reported`);
            extras += count[p]! - 1;
          } else {
            expect(count[p], `page ${p} not written in round ${round} but reported`).toBe(0);
          }
        }
      }
      // the scans really ran while writers were writing (otherwise this tested nothing concurrent)
      expect(concurrentReports).toBeGreaterThan(0);
      expect(extras).toBeGreaterThanOrEqual(0);
    } finally {
      Atomics.store(ctl, 2, 1);
      Atomics.add(ctl, 0, 1);
      Atomics.notify(ctl, 0);
      await Promise.all(workers.map((w) => w.terminate()));
      region.close();
    }
  });
});
