/**
 * The model answering lab ops: each expectation below is the kernel's behaviour as the spec (and
 * the real kernel, in the lab) states it, not a replay of the model's own output.
 */
import { describe, expect, it } from 'vitest';
import { ModelLab } from '../../src/lab/model-backend.ts';
import { decodePte, hexToBits, type LabOp, type LabReply } from '../../src/lab/protocol.ts';

function run(ops: LabOp[], lab = new ModelLab()): LabReply[] {
  return ops.map((o) => lab.exec(o));
}
const bits = (r: LabReply) => decodePte(r.kv.pte!)?.bits ?? 'none';

const shared = (p: number, m: number, d: 'pfn' | 'page' = 'pfn', off = 0, n = 4): LabOp => ({
  op: 'mmap',
  p,
  m,
  d,
  off,
  n,
  share: 's',
  prot: 'rw',
  fd: 'rw',
});

describe('lab model backend', () => {
  it('PFN device: a first write fault maps read-only (vmf_insert_pfn under write notify), the retry goes through pfn_mkwrite', () => {
    const r = run([
      { op: 'spawn', p: 0 },
      shared(0, 0),
      { op: 'store', p: 0, m: 0, page: 1, v: 9 },
      { op: 'pte', p: 0, m: 0, page: 1 },
      { op: 'load', p: 0, m: 0, page: 1 },
      { op: 'bits', d: 'pfn', clear: false },
    ]);
    expect(r[2]).toEqual({ ret: 0, kv: { flt: '2', mk: '1', dfl: '1' } });
    expect(bits(r[3]!)).toEqual(['present', 'rw', 'user', 'accessed', 'dirty', 'special']);
    expect(r[4]!.ret).toBe(9);
    expect(r[4]!.kv.flt).toBe('0');
    expect(hexToBits(r[5]!.kv.mbits!)).toEqual([1]);
  });

  it('page device: one write fault runs .fault then page_mkwrite and maps writable (do_shared_fault)', () => {
    const r = run([
      { op: 'spawn', p: 0 },
      shared(0, 0, 'page'),
      { op: 'store', p: 0, m: 0, page: 2, v: 1 },
      { op: 'pte', p: 0, m: 0, page: 2 },
    ]);
    expect(r[2]!.kv).toMatchObject({ flt: '1', mk: '1', dfl: '1' });
    expect(bits(r[3]!)).toEqual(['present', 'rw', 'user', 'accessed', 'dirty']);
  });

  it('wp_shared_mapping_range counts the PTEs it write-protects; the dirty bit stays; the next store faults into mkwrite', () => {
    const r = run([
      { op: 'spawn', p: 0 },
      { op: 'spawn', p: 1 },
      shared(0, 0),
      shared(1, 0),
      { op: 'store', p: 0, m: 0, page: 0, v: 1 },
      { op: 'store', p: 1, m: 0, page: 0, v: 2 },
      { op: 'wp', d: 'pfn', first: 0, nr: 4 },
      { op: 'pte', p: 0, m: 0, page: 0 },
      { op: 'store', p: 0, m: 0, page: 0, v: 3 },
    ]);
    expect(r[6]!.ret).toBe(2); // one PTE in each process (spec Q6: counts are PTE counts)
    expect(bits(r[7]!)).toEqual(['present', 'user', 'accessed', 'dirty', 'special']);
    expect(r[8]!.kv).toMatchObject({ flt: '1', mk: '1' });
  });

  it('clean_record records dirty PTEs at pgoff - bitmap_pgoff and widens the window', () => {
    const r = run([
      { op: 'spawn', p: 0 },
      shared(0, 0, 'pfn', 4, 8),
      { op: 'store', p: 0, m: 0, page: 1, v: 1 }, // pgoff 5
      { op: 'store', p: 0, m: 0, page: 3, v: 1 }, // pgoff 7
      { op: 'clean', d: 'pfn', first: 4, nr: 8, bpgoff: 2, start: 64, end: 0 },
      { op: 'clean', d: 'pfn', first: 4, nr: 8, bpgoff: 2, start: 64, end: 0 },
    ]);
    expect(r[4]!.ret).toBe(2);
    expect(hexToBits(r[4]!.kv.cbits!)).toEqual([3, 5]);
    expect([r[4]!.kv.start, r[4]!.kv.end]).toEqual(['3', '6']);
    expect(r[5]!.ret).toBe(0); // cleaned: nothing dirty left
  });

  it('the devices refuse COW mappings (as TTM) and ranges beyond the device; an O_RDONLY fd maps shared read-only', () => {
    const r = run([
      { op: 'spawn', p: 0 },
      { op: 'mmap', p: 0, m: 0, d: 'pfn', off: 0, n: 4, share: 'p', prot: 'r', fd: 'rw' },
      { op: 'mmap', p: 0, m: 1, d: 'pfn', off: 62, n: 4, share: 's', prot: 'rw', fd: 'rw' },
      { op: 'mmap', p: 0, m: 2, d: 'pfn', off: 0, n: 4, share: 's', prot: 'rw', fd: 'ro' },
      { op: 'mmap', p: 0, m: 3, d: 'pfn', off: 0, n: 4, share: 's', prot: 'r', fd: 'ro' },
      { op: 'store', p: 0, m: 3, page: 0, v: 1 },
      { op: 'mprotect', p: 0, m: 3, off: 0, n: 4, prot: 'rw' },
    ]);
    expect(r.slice(1, 5).map((x) => x.ret)).toEqual([-22, -22, -13, 0]);
    expect(r[5]).toMatchObject({ ret: -14, kv: { sig: 'SEGV', flt: '0' } });
    expect(r[6]!.ret).toBe(-13); // no VM_MAYWRITE: mprotect cannot add write
  });

  it('exit zaps the process mappings: later helpers see nothing of it', () => {
    const r = run([
      { op: 'spawn', p: 0 },
      shared(0, 0),
      { op: 'store', p: 0, m: 0, page: 0, v: 1 },
      { op: 'exit', p: 0 },
      { op: 'wp', d: 'pfn', first: 0, nr: 4 },
      { op: 'store', p: 0, m: 0, page: 0, v: 1 },
    ]);
    expect(r[4]!.ret).toBe(0);
    expect(r[5]!.ret).toBe(-3); // no such worker
  });

  it('scan consume takes the mkwrite bits and copies the pages; verify compares the copy', () => {
    const lab = new ModelLab();
    const r = run(
      [
        { op: 'spawn', p: 0 },
        shared(0, 0),
        { op: 'store', p: 0, m: 0, page: 2, v: 7 },
        { op: 'verify', d: 'pfn' },
        { op: 'scan', d: 'pfn', first: 0, nr: 4, mode: 'consume' },
        { op: 'verify', d: 'pfn' },
        { op: 'scan', d: 'pfn', first: 0, nr: 4, mode: 'consume' },
      ],
      lab,
    );
    expect(hexToBits(r[3]!.kv.stale!)).toEqual([2]);
    expect(r[4]!.ret).toBe(1);
    expect(hexToBits(r[4]!.kv.bits!)).toEqual([2]);
    expect(hexToBits(r[5]!.kv.stale!)).toEqual([]);
    expect(r[6]!.ret).toBe(0);
  });

  it('scan fix keeps a bit whose page has no writable PTE (a fault still in flight, or unmapped)', () => {
    const r = run([
      { op: 'spawn', p: 0 },
      shared(0, 0),
      { op: 'store', p: 0, m: 0, page: 1, v: 7 },
      { op: 'munmap', p: 0, m: 0, off: 1, n: 1 },
      { op: 'scan', d: 'pfn', first: 0, nr: 4, mode: 'fix' },
      { op: 'bits', d: 'pfn', clear: false },
    ]);
    expect(r[4]!.ret).toBe(0);
    expect(hexToBits(r[5]!.kv.mbits!)).toEqual([1]);
  });

  it('with SavedDirty (Linux 7.2), write-protecting a dirty PTE by wp or by mprotect moves D to bit 58', () => {
    const lab = new ModelLab({ savedDirty: true });
    const r = run(
      [
        { op: 'spawn', p: 0 },
        shared(0, 0),
        { op: 'store', p: 0, m: 0, page: 0, v: 1 },
        { op: 'store', p: 0, m: 0, page: 1, v: 1 },
        { op: 'wp', d: 'pfn', first: 0, nr: 1 },
        { op: 'pte', p: 0, m: 0, page: 0 },
        { op: 'mprotect', p: 0, m: 0, off: 1, n: 1, prot: 'r' },
        { op: 'pte', p: 0, m: 0, page: 1 },
      ],
      lab,
    );
    expect(bits(r[5]!)).toEqual(['present', 'user', 'accessed', 'special', 'savedDirty']);
    expect(bits(r[7]!)).toEqual(['present', 'user', 'accessed', 'special', 'savedDirty']);
  });
});
