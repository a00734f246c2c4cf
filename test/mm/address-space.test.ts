/** i_mmap interval tree (spec §1, §2 step 1): overlap queries, order, unlink, lock assertions. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runToCompletion } from '../../src/checker/task.ts';
import { AddressSpace } from '../../src/mm/address-space.ts';
import { KTask } from '../../src/mm/kernel.ts';
import { VM_MAYSHARE, VM_SHARED, Vma } from '../../src/mm/mm-types.ts';
import { mmCreate } from '../../src/mm/mmap.ts';
import { kernel, PAGE } from './fixtures.ts';

describe('AddressSpace i_mmap', () => {
  it('overlapping() equals a naive filter, ascending pgoff then link order (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ pgoff: fc.integer({ min: 0, max: 60 }), pages: fc.integer({ min: 1, max: 20 }) }),
          { minLength: 1, maxLength: 25 },
        ),
        fc.array(fc.nat({ max: 24 }), { maxLength: 8 }),
        fc.integer({ min: 0, max: 90 }),
        fc.integer({ min: 0, max: 30 }),
        (layout, removeIdx, first, span) => {
          const k = kernel(1);
          const f = new AddressSpace(k, 'f', true, 100);
          const mm = mmCreate(k, 'A');
          const linked: Vma[] = [];
          runToCompletion(f.iMmapRwsem.downWrite());
          layout.forEach((l, n) => {
            const v = new Vma(
              mm,
              n * 64 * PAGE,
              (n * 64 + l.pages) * PAGE,
              l.pgoff,
              VM_SHARED | VM_MAYSHARE,
              null,
              f,
            );
            f.link(v);
            linked.push(v);
          });
          const removed = new Set<Vma>();
          for (const r of removeIdx) {
            const v = linked[r % linked.length]!;
            if (removed.has(v)) continue;
            f.unlink(v);
            removed.add(v);
          }
          f.iMmapRwsem.upWrite();
          const live = linked.filter((v) => !removed.has(v));
          expect(f.mappedVmas).toBe(live.length);
          const last = first + span;
          const naive = live
            .filter((v) => v.pgoff <= last && v.pgoff + v.pages - 1 >= first)
            .sort((a, b) => a.pgoff - b.pgoff || linked.indexOf(a) - linked.indexOf(b));
          runToCompletion(f.iMmapRwsem.downRead());
          expect(f.overlapping(first, last)).toEqual(naive);
          f.iMmapRwsem.upRead();
        },
      ),
      { numRuns: 300 },
    );
  });

  it('link order among equal pgoffs is kept after a relink (split) puts a VMA at the end', () => {
    const k = kernel(1);
    const f = new AddressSpace(k, 'f', true, 100);
    const mm = mmCreate(k, 'A');
    const mk = (n: number) => new Vma(mm, n * 64 * PAGE, (n * 64 + 4) * PAGE, 10, VM_SHARED, null, f);
    const [a, b, c] = [mk(0), mk(1), mk(2)];
    runToCompletion(f.iMmapRwsem.downWrite());
    f.link(a);
    f.link(b);
    f.link(c);
    f.unlink(a);
    f.link(a);
    expect(f.overlapping(0, 100)).toEqual([b, c, a]);
    f.iMmapRwsem.upWrite();
  });

  it('link/unlink assert the write lock; unlinking a VMA that is not linked throws', () => {
    const k = kernel(1);
    k.setCurrent(new KTask('t', 0));
    const f = new AddressSpace(k, 'f', true, 100);
    const v = new Vma(mmCreate(k, 'A'), 0, 4 * PAGE, 0, VM_SHARED, null, f);
    expect(() => f.link(v)).toThrow(/lockdep.*i_mmap_rwsem\(f\).*write/);
    runToCompletion(f.iMmapRwsem.downRead());
    expect(() => f.link(v)).toThrow(/lockdep/);
    f.iMmapRwsem.upRead();
    runToCompletion(f.iMmapRwsem.downWrite());
    expect(() => f.unlink(v)).toThrow(/not linked/);
    f.link(v);
    f.iMmapRwsem.upWrite();
    expect(() => f.unlink(v)).toThrow(/lockdep/);
    // another task holding it for write does not count
    runToCompletion(f.iMmapRwsem.downWrite());
    k.setCurrent(new KTask('other', 1));
    expect(() => f.unlink(v)).toThrow(/lockdep/);
  });
});
