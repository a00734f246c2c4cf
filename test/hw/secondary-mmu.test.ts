import { describe, expect, it } from 'vitest';
import { PTE_PRESENT, PTE_RW, pteHwDirty, wrprotectLo } from '../../src/hw/pte.ts';
import { SecondaryMmu } from '../../src/hw/secondary-mmu.ts';
import { StoreLog } from '../../src/hw/storelog.ts';
import { machine, map, USER_RO, USER_RW } from './fixture.ts';

function setup() {
  const m = machine(1);
  const dev = new SecondaryMmu(0, m.mem, m.counters);
  dev.bind(1, m.root);
  const pfn = m.mem.allocRam(1);
  const pte = map(m, 40, pfn, USER_RW);
  return { m, dev, pfn, pte };
}

describe('SecondaryMmu', () => {
  it('writes through the CPU page tables, sets A and D, and caches a writable translation', () => {
    const { m, dev, pfn, pte } = setup();
    expect(dev.store8(1, 40 * 4096 + 3, 9)).toBe(0);
    expect(m.mem.read8(pfn, 3)).toBe(9);
    expect(pteHwDirty(m.mem.ptLo[pte]!)).toBe(true);
    expect(dev.holdsWritable(1, 40 * 4096)).toBe(true);
    expect(m.counters.deviceWrites).toBe(1);
    expect(m.counters.deviceTlbFills).toBe(1);
  });
  it('keeps writing after the PTE is write-protected, until invalidateRange', () => {
    const { m, dev, pfn, pte } = setup();
    dev.store8(1, 40 * 4096, 1);
    m.mem.ptLo[pte] = wrprotectLo(m.mem.ptLo[pte]!, false);
    const before = m.mem.ptLo[pte];
    m.cpus[0]!.tlb.flushAll(); // a CPU flush does not reach the device
    expect(dev.store8(1, 40 * 4096 + 1, 2)).toBe(0);
    expect(m.mem.read8(pfn, 1)).toBe(2);
    expect(m.mem.ptLo[pte]).toBe(before);
    expect(m.counters.deviceTlbFills).toBe(1);
    dev.invalidateRange(1, 40 * 4096, 41 * 4096);
    expect(m.counters.deviceInvalidations).toBe(1);
    expect(dev.holdsWritable(1, 40 * 4096)).toBe(false);
    expect(dev.store8(1, 40 * 4096 + 1, 3)).toBe(-1);
    expect(dev.faultAddr).toBe(40 * 4096 + 1);
    expect(m.mem.read8(pfn, 1)).toBe(2);
  });
  it('a write to a read-only or missing PTE returns -1 and caches nothing', () => {
    const { m, dev } = setup();
    map(m, 41, m.mem.allocRam(1), USER_RO);
    expect(dev.store8(1, 41 * 4096, 1)).toBe(-1);
    expect(dev.store8(1, 42 * 4096, 1)).toBe(-1);
    expect(dev.tlb.nValid).toBe(0);
  });
  it('invalidateRange covers partial pages and only the given mm and range', () => {
    const { m, dev } = setup();
    const root2 = m.mem.allocPageTable();
    dev.bind(2, root2);
    const p = m.mem.allocRam(4);
    for (let i = 0; i < 4; i++) map(m, 50 + i, p + i, USER_RW);
    map({ ...m, root: root2 }, 50, p, USER_RW);
    for (let i = 0; i < 4; i++) dev.store8(1, (50 + i) * 4096, 1);
    dev.store8(2, 50 * 4096, 1);
    dev.invalidateRange(1, 51 * 4096 + 100, 52 * 4096 + 1); // touches pages 51 and 52
    expect([50, 51, 52, 53].map((v) => dev.holdsWritable(1, v * 4096))).toEqual([true, false, false, true]);
    expect(dev.holdsWritable(2, 50 * 4096)).toBe(true);
  });
  it('a device write to a supervisor-only PTE is refused like a user access and leaves D alone', () => {
    const { m, dev } = setup();
    const pte = map(m, 60, m.mem.allocRam(1), PTE_PRESENT | PTE_RW);
    expect(dev.store8(1, 60 * 4096, 1)).toBe(-1);
    expect(pteHwDirty(m.mem.ptLo[pte]!)).toBe(false);
    expect(dev.holdsWritable(1, 60 * 4096)).toBe(false);
  });
  it('throws when used on an mm it is not bound to', () => {
    const { dev } = setup();
    expect(() => dev.store8(7, 0, 1)).toThrow();
  });
  it('logs device writes with cpu = -1 - device id', () => {
    const { m, dev } = setup();
    const d3 = new SecondaryMmu(3, m.mem, m.counters);
    d3.bind(1, m.root);
    const log = new StoreLog();
    dev.storeLog = log;
    d3.storeLog = log;
    dev.store8(1, 40 * 4096, 1);
    d3.store8(1, 40 * 4096, 1);
    expect(log.length).toBe(2);
    expect([log.cpu[0], log.cpu[1]]).toEqual([-1, -4]);
    expect(log.vpn[1]).toBe(40);
  });
});
