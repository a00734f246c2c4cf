import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cleanConsoleLine, findReports, parseReady } from '../../src/lab/guest.ts';
import { bitsToHex, decodePte, encodeOp, hexToBits, parseReply } from '../../src/lab/protocol.ts';

describe('lab wire format (lab/PROTOCOL.md)', () => {
  it('encodes requests with keys in the documented order', () => {
    expect(encodeOp(7, { op: 'clean', d: 'pfn', first: 2, nr: 5, bpgoff: 1, start: 64, end: 0 })).toBe(
      '7 clean d=pfn first=2 nr=5 bpgoff=1 start=64 end=0',
    );
    expect(encodeOp(1, { op: 'bits', d: 'page', clear: true })).toBe('1 bits d=page clear=1');
    expect(encodeOp(1, { op: 'bits', d: 'page', clear: false })).toBe('1 bits d=page');
    expect(encodeOp(3, { op: 'run', prog: 'fbtest', args: '' })).toBe('3 run prog=fbtest');
  });

  it('parses replies, keeping every key=value word', () => {
    expect(parseReply('12 -14 sig=SEGV flt=0 mk=0 dfl=0')).toEqual({
      id: 12,
      reply: { ret: -14, kv: { sig: 'SEGV', flt: '0', mk: '0', dfl: '0' } },
    });
    expect(parseReply('DSLAB READY v=1')).toBeNull();
    expect(parseReply('')).toBeNull();
  });

  it('bitmap hex: the example of PROTOCOL.md (pages {0,5} of 8 -> "12")', () => {
    expect(bitsToHex([0, 5], 8)).toBe('12');
    expect(hexToBits('12')).toEqual([0, 5]);
  });

  it('bitmap hex round-trips any set of pages of a 64-page device', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 63 }), { maxLength: 64 }), (bits) => {
        const sorted = [...bits].sort((a, b) => a - b);
        const hex = bitsToHex(sorted, 64);
        expect(hex).toHaveLength(16);
        expect(hexToBits(hex)).toEqual(sorted);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes the x86-64 PTE bits the lab compares (spec §8 positions)', () => {
    // present, rw, user, accessed, dirty, special; pfn 0x1234; NX set (ignored)
    const v = (1n << 63n) | (0x1234n << 12n) | 0x267n;
    const d = decodePte(v.toString(16).padStart(16, '0'));
    expect(d).toEqual({ bits: ['present', 'rw', 'user', 'accessed', 'dirty', 'special'], pfn: 0x1234 });
    expect(decodePte('none')).toBeNull();
    // PROT_NONE on x86: present clear, PROTNONE (bit 8) set, PFN stored inverted (L1TF)
    const inv = (~0x1234n & ((1n << 40n) - 1n)) << 12n;
    expect(decodePte((inv | 0x120n).toString(16).padStart(16, '0'))).toEqual({
      bits: ['accessed', 'protnone'],
      pfn: 0x1234,
    });
  });

  it('parses the READY line', () => {
    expect(parseReady('DSLAB READY v=1 kv=6.1.0-57-amd64 npages=64 mod=1 wrprotect=0 fb=0')).toEqual({
      kver: '6.1.0-57-amd64',
      npages: 64,
      mod: true,
      wrprotect: false,
      fb: false,
    });
  });

  it('finds oopses and WARNs on the console, after stripping escapes', () => {
    const esc = String.fromCharCode(27);
    const lines = [
      'booting',
      `${esc}[0mWARNING: CPU: 1 PID: 77 at mm/pagewalk.c:123 walk_page_mapping+0x1/0x2\r`,
      ...Array.from({ length: 30 }, (_, i) => `trace ${i}`),
      'BUG: kernel NULL pointer dereference, address: 0000000000000008',
    ].map(cleanConsoleLine);
    const r = findReports(lines, 0);
    expect(r.map((x) => x.kind)).toEqual(['warn', 'bug']);
    expect(r[0]!.line.startsWith('WARNING: CPU: 1')).toBe(true);
    expect(findReports(lines, lines.length)).toEqual([]);
  });
});
