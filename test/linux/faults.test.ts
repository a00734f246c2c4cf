/**
 * Faults and pagemap flags per operation, model and kernel, against values measured on Linux
 * 6.18 with `kernel diff` (docs/kernel-diff.md, findings 2 and 3). Each row is a short history
 * and the faults the next store to page 0 takes; the model must give the kernel's number, and
 * where the kernel backend runs here, the kernel must still give it.
 */
import { describe, expect, it } from 'vitest';
import { ModelBackend } from '../../src/linux/model-backend.ts';
import { applyOp, type TrackingOp } from '../../src/linux/ops.ts';
import { probeKernel, skipReason } from '../../src/linux/probe.ts';
import { KernelBackend } from '../../src/linux/real-backend.ts';
import {
  PM_FILE,
  PM_MMAP_EXCLUSIVE,
  PM_PRESENT,
  PM_SWAP,
  PM_UFFD_WP,
  type TrackingBackend,
} from '../../src/linux/tracking.ts';

const reason = skipReason(probeKernel());

/** [name, shared, history, faults of the next store to page 0 (Linux 6.18)]. */
const st: TrackingOp = { k: 'store', p: 0, v: 1 };
const ROWS: [string, boolean, TrackingOp[], number][] = [
  ['fresh page', true, [], 1],
  ['written page', true, [st], 0],
  ['protected empty page (marker): fault in, then the wp fault', true, [{ k: 'wp', s: 0, n: 1 }], 2],
  ['written then protected', true, [st, { k: 'wp', s: 0, n: 1 }], 1],
  // finding 2: un-protecting or mprotect(rw) never makes a shared PTE writable in a uffd-wp VMA
  ['written, unprotected (shared)', true, [st, { k: 'unprotect', s: 0, n: 1 }], 1],
  [
    'written, protected, unprotected (shared)',
    true,
    [st, { k: 'wp', s: 0, n: 1 }, { k: 'unprotect', s: 0, n: 1 }],
    1,
  ],
  [
    'written, mprotect read, mprotect rw (shared)',
    true,
    [st, { k: 'mprotect', s: 0, n: 1, prot: 'read' }, { k: 'mprotect', s: 0, n: 1, prot: 'rw' }],
    1,
  ],
  [
    'written, mprotect rw again (no change: no PTE touched)',
    true,
    [st, { k: 'mprotect', s: 0, n: 1, prot: 'rw' }],
    0,
  ],
  // private: our anonymous copy is upgraded by both
  ['written, unprotected (private)', false, [st, { k: 'unprotect', s: 0, n: 1 }], 0],
  [
    'written, mprotect read, mprotect rw (private)',
    false,
    [st, { k: 'mprotect', s: 0, n: 1, prot: 'read' }, { k: 'mprotect', s: 0, n: 1, prot: 'rw' }],
    0,
  ],
  ['written, mprotect rw again (private)', false, [st, { k: 'mprotect', s: 0, n: 1, prot: 'rw' }], 0],
  ['read, then store: COW (private)', false, [{ k: 'load', p: 0 }], 1],
  ['protected empty page (private): fault in, wp fault', false, [{ k: 'wp', s: 0, n: 1 }], 2],
];

function nextStoreFaults(backend: TrackingBackend, shared: boolean, history: TrackingOp[]): number {
  const r = backend.open(4, { shared });
  try {
    for (const op of history) applyOp(r, op);
    const f0 = r.faults!();
    r.store(0, 7, 9);
    return r.faults!() - f0;
  } finally {
    r.close();
  }
}

const backends: [string, () => TrackingBackend, string | null][] = [
  ['model', () => new ModelBackend(), null],
  ['kernel', () => new KernelBackend(), reason],
];

for (const [name, make, skip] of backends) {
  describe.skipIf(skip !== null)(`faults of the next store: ${name}${skip ? ` [SKIP: ${skip}]` : ''}`, () => {
    for (const [what, shared, history, faults] of ROWS)
      it(`${what}: ${faults}`, () => {
        expect(nextStoreFaults(make(), shared, history)).toBe(faults);
      });
  });

  describe.skipIf(skip !== null)(`pagemap flags: ${name}${skip ? ` [SKIP: ${skip}]` : ''}`, () => {
    it('empty, marker, present-wp, present-written, private copy, unmapped', () => {
      const be = make();
      const r = be.open(8, { shared: true });
      try {
        r.armWriteProtect(1, 1); // marker
        r.store(2, 0, 1);
        r.armWriteProtect(2, 1); // present-wp
        r.store(3, 0, 1); // present-written
        r.unmap(5, 1);
        const P = PM_PRESENT | PM_FILE | PM_MMAP_EXCLUSIVE;
        expect(r.pagemap!(0, 6)).toEqual([
          { start: 0, end: 1, flags: 0 },
          { start: 1, end: 2, flags: PM_SWAP | PM_UFFD_WP },
          { start: 2, end: 3, flags: P | PM_UFFD_WP },
          { start: 3, end: 4, flags: P },
          { start: 4, end: 6, flags: 0 },
        ]);
      } finally {
        r.close();
      }
      const q = be.open(2, { shared: false });
      try {
        q.load(0, 0); // the file page, mapped read-only
        q.store(1, 0, 1); // an anonymous copy: not FILE
        expect(q.pagemap!(0, 2)).toEqual([
          { start: 0, end: 1, flags: PM_PRESENT | PM_FILE | PM_MMAP_EXCLUSIVE },
          { start: 1, end: 2, flags: PM_PRESENT | PM_MMAP_EXCLUSIVE },
        ]);
      } finally {
        q.close();
      }
    });
  });
}
