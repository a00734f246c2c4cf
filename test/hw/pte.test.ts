import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  describeEntry,
  entryHuge,
  mkcleanHi,
  mkcleanLo,
  mkdirtyLo,
  mkHi,
  mkLo,
  mkwriteHi,
  mkwriteLo,
  PTE_ACCESSED,
  PTE_DIRTY,
  PTE_GLOBAL,
  PTE_HI_NX,
  PTE_HI_PFN_MASK,
  PTE_HI_SAVED_DIRTY,
  PTE_LO_PFN_MASK_4K,
  PTE_PAT_LARGE,
  PTE_PCD,
  PTE_PRESENT,
  PTE_PSE,
  PTE_PWT,
  PTE_RW,
  PTE_SOFT_DIRTY,
  PTE_SPECIAL,
  PTE_UFFD_WP,
  PTE_USER,
  pfn1g,
  pfn2m,
  pfn4k,
  pteDirty,
  pteHwDirty,
  pteNone,
  ptePresent,
  pteSpecial,
  pteUffdWp,
  pteWrite,
  pteYoung,
  wrprotectHi,
  wrprotectLo,
} from '../../src/hw/pte.ts';
import { entry64, words } from './fixture.ts';

const bit = (n: number): bigint => 1n << BigInt(n);

describe('entry bit positions (spec section 8)', () => {
  const lowBits: Array<[string, number, number]> = [
    ['PRESENT', PTE_PRESENT, 0],
    ['RW', PTE_RW, 1],
    ['USER', PTE_USER, 2],
    ['PWT', PTE_PWT, 3],
    ['PCD', PTE_PCD, 4],
    ['ACCESSED', PTE_ACCESSED, 5],
    ['DIRTY', PTE_DIRTY, 6],
    ['PSE', PTE_PSE, 7],
    ['GLOBAL', PTE_GLOBAL, 8],
    ['SPECIAL', PTE_SPECIAL, 9],
    ['UFFD_WP', PTE_UFFD_WP, 10],
    ['SOFT_DIRTY', PTE_SOFT_DIRTY, 11],
    ['PAT_LARGE', PTE_PAT_LARGE, 12],
  ];
  for (const [name, mask, n] of lowBits) {
    it(`${name} is bit ${n} of the 64-bit entry`, () => {
      expect(entry64(mask, 0)).toBe(bit(n));
    });
  }
  it('SAVED_DIRTY is bit 58 and NX bit 63 (high word)', () => {
    expect(entry64(0, PTE_HI_SAVED_DIRTY)).toBe(bit(58));
    expect(entry64(0, PTE_HI_NX)).toBe(bit(63));
    expect(PTE_HI_NX).toBeGreaterThan(0); // kept unsigned
  });
  it('the PFN field is bits 12..51', () => {
    let field = 0n;
    for (let i = 12; i <= 51; i++) field |= bit(i);
    expect(entry64(PTE_LO_PFN_MASK_4K, PTE_HI_PFN_MASK)).toBe(field);
  });
  it('the flag helpers test exactly their bit', () => {
    const [lo, hi] = words(bit(0) | bit(1) | bit(5) | bit(6) | bit(9) | bit(10));
    expect(ptePresent(lo)).toBe(true);
    expect(pteWrite(lo)).toBe(true);
    expect(pteYoung(lo)).toBe(true);
    expect(pteHwDirty(lo)).toBe(true);
    expect(pteDirty(lo, hi)).toBe(true);
    expect(pteSpecial(lo)).toBe(true);
    expect(pteUffdWp(lo)).toBe(true);
    const [lo2, hi2] = words(bit(2) | bit(7) | bit(8) | bit(11) | bit(63));
    expect(ptePresent(lo2)).toBe(false);
    expect(pteWrite(lo2)).toBe(false);
    expect(pteYoung(lo2)).toBe(false);
    expect(pteDirty(lo2, hi2)).toBe(false);
    expect(pteSpecial(lo2)).toBe(false);
    expect(pteUffdWp(lo2)).toBe(false);
    expect(pteNone(0, 0)).toBe(true);
    expect(pteNone(0, PTE_HI_NX)).toBe(false);
    expect(pteNone(PTE_DIRTY, 0)).toBe(false);
  });
  it('entryHuge needs both PRESENT and PSE', () => {
    expect(entryHuge(PTE_PRESENT | PTE_PSE)).toBe(true);
    expect(entryHuge(PTE_PSE)).toBe(false);
    expect(entryHuge(PTE_PRESENT)).toBe(false);
  });
});

const pfn40 = fc.bigInt({ min: 0n, max: (1n << 40n) - 1n });
const loFlags = fc.integer({ min: 0, max: 0xfff });

describe('PFN encoding', () => {
  it('mkLo/mkHi place the pfn at bits 12..51 and flags at 0..11 (BigInt reference)', () => {
    fc.assert(
      fc.property(pfn40, loFlags, (p, flags) => {
        const pfn = Number(p);
        const e = entry64(mkLo(pfn, flags), mkHi(pfn, 0));
        expect(e).toBe((p << 12n) | BigInt(flags));
      }),
    );
  });
  it('high flags do not disturb the pfn and stay at their bits', () => {
    fc.assert(
      fc.property(pfn40, fc.boolean(), fc.boolean(), (p, sd, nx) => {
        const pfn = Number(p);
        const hiFlags = (sd ? PTE_HI_SAVED_DIRTY : 0) | (nx ? PTE_HI_NX : 0);
        const lo = mkLo(pfn, PTE_PRESENT);
        const hi = mkHi(pfn, hiFlags);
        expect(pfn4k(lo, hi)).toBe(pfn);
        const e = entry64(lo, hi);
        expect((e >> 58n) & 1n).toBe(sd ? 1n : 0n);
        expect((e >> 63n) & 1n).toBe(nx ? 1n : 0n);
      }),
    );
  });
  it('round-trips: pfn4k(mkLo, mkHi) = pfn for every pfn < 2^40 and any flags', () => {
    fc.assert(
      fc.property(pfn40, loFlags, (p, flags) => {
        const pfn = Number(p);
        expect(pfn4k(mkLo(pfn, flags), mkHi(pfn, 0))).toBe(pfn);
      }),
    );
  });
  it('pfn4k decodes an entry built with BigInt, ignoring flag bits', () => {
    fc.assert(
      fc.property(
        pfn40,
        fc.bigInt({ min: 0n, max: 0xfffn }),
        fc.bigInt({ min: 0n, max: 0xfffn }),
        (p, f, top) => {
          const [lo, hi] = words((top << 52n) | (p << 12n) | f);
          expect(pfn4k(lo, hi)).toBe(Number(p));
        },
      ),
    );
  });
  it('pfn2m returns a 512-aligned pfn; PAT_LARGE (bit 12) is not part of it', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 31n) - 1n }), fc.boolean(), (q, pat) => {
        const p = q << 9n; // 2M-aligned pfn < 2^40
        const flags = PTE_PRESENT | PTE_PSE | (pat ? PTE_PAT_LARGE : 0);
        const [lo, hi] = words((p << 12n) | BigInt(flags));
        expect(pfn2m(lo, hi)).toBe(Number(p));
        expect(pfn2m(mkLo(Number(p), flags) | (pat ? PTE_PAT_LARGE : 0), mkHi(Number(p), 0))).toBe(Number(p));
      }),
    );
  });
  it('pfn1g returns a 2^18-aligned pfn; bits 12..29 are not part of it', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 22n) - 1n }), (q) => {
        const p = q << 18n;
        const [lo, hi] = words((p << 12n) | bit(12) | BigInt(PTE_PRESENT | PTE_PSE));
        expect(pfn1g(lo, hi)).toBe(Number(p));
        expect(pfn1g(mkLo(Number(p), PTE_PRESENT | PTE_PSE), mkHi(Number(p), 0))).toBe(Number(p));
      }),
    );
  });
  it('mkLo/mkHi return unsigned 32-bit words', () => {
    const pfn = 2 ** 40 - 1;
    const lo = mkLo(pfn, 0xfff);
    const hi = mkHi(pfn, PTE_HI_NX | PTE_HI_SAVED_DIRTY);
    for (const w of [lo, hi]) {
      expect(Number.isInteger(w)).toBe(true);
      expect(w).toBeGreaterThanOrEqual(0);
      expect(w).toBeLessThan(2 ** 32);
    }
  });
});

// Arbitrary 64-bit entries, as words.
const anyEntry = fc.tuple(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }));

describe('dirty, clean, wrprotect, mkwrite', () => {
  it('pteDirty = D or SAVED_DIRTY', () => {
    fc.assert(
      fc.property(anyEntry, ([lo, hi]) => {
        const e = entry64(lo, hi);
        expect(pteDirty(lo, hi)).toBe(((e >> 6n) & 1n) === 1n || ((e >> 58n) & 1n) === 1n);
      }),
    );
  });
  it('mkclean clears both dirty bits and nothing else', () => {
    fc.assert(
      fc.property(anyEntry, ([lo, hi]) => {
        const nlo = mkcleanLo(lo);
        const nhi = mkcleanHi(hi);
        expect(pteDirty(nlo, nhi)).toBe(false);
        expect(entry64(nlo, nhi)).toBe(entry64(lo, hi) & ~(bit(6) | bit(58)));
      }),
    );
  });
  it('wrprotect without shadow stacks clears RW only', () => {
    fc.assert(
      fc.property(anyEntry, ([lo, hi]) => {
        const nlo = wrprotectLo(lo, false);
        const nhi = wrprotectHi(lo, hi, false);
        expect(entry64(nlo, nhi)).toBe(entry64(lo, hi) & ~bit(1));
        expect(pteDirty(nlo, nhi)).toBe(pteDirty(lo, hi));
      }),
    );
  });
  it('wrprotect with shadow stacks moves D to SAVED_DIRTY; pteDirty stays the same', () => {
    fc.assert(
      fc.property(anyEntry, ([lo, hi]) => {
        const nlo = wrprotectLo(lo, true);
        const nhi = wrprotectHi(lo, hi, true);
        const e = entry64(lo, hi);
        const d = (e >> 6n) & 1n;
        const expected = (e & ~(bit(1) | bit(6))) | (d === 1n ? bit(58) : 0n);
        expect(entry64(nlo, nhi)).toBe(expected);
        expect(pteDirty(nlo, nhi)).toBe(pteDirty(lo, hi));
        // never RW=0 with D=1: that combination means "shadow-stack page"
        expect(pteWrite(nlo) || !pteHwDirty(nlo)).toBe(true);
      }),
    );
  });
  it('a dirty PTE stays dirty through wrprotect (shadow stacks) and mkwrite moves D back', () => {
    const lo0 = mkLo(0x1234, PTE_PRESENT | PTE_RW | PTE_USER | PTE_DIRTY);
    const hi0 = mkHi(0x1234, 0);
    const lo1 = wrprotectLo(lo0, true);
    const hi1 = wrprotectHi(lo0, hi0, true);
    expect(pteWrite(lo1)).toBe(false);
    expect(pteHwDirty(lo1)).toBe(false);
    expect(hi1 & PTE_HI_SAVED_DIRTY).not.toBe(0);
    expect(pteDirty(lo1, hi1)).toBe(true);
    const lo2 = mkwriteLo(lo1, hi1);
    const hi2 = mkwriteHi(hi1);
    expect(entry64(lo2, hi2)).toBe(entry64(lo0, hi0));
  });
  it('mkwrite sets RW, turns SAVED_DIRTY into D, keeps pteDirty and the pfn', () => {
    fc.assert(
      fc.property(anyEntry, ([lo, hi]) => {
        const nlo = mkwriteLo(lo, hi);
        const nhi = mkwriteHi(hi);
        const e = entry64(lo, hi);
        const sd = (e >> 58n) & 1n;
        const expected = ((e | bit(1)) & ~bit(58)) | (sd === 1n ? bit(6) : 0n);
        expect(entry64(nlo, nhi)).toBe(expected);
        expect(pteDirty(nlo, nhi)).toBe(pteDirty(lo, hi));
        expect(pfn4k(nlo, nhi)).toBe(pfn4k(lo, hi));
      }),
    );
  });
  it('mkdirty sets D only', () => {
    fc.assert(
      fc.property(anyEntry, ([lo, hi]) => {
        expect(entry64(mkdirtyLo(lo), hi)).toBe(entry64(lo, hi) | bit(6));
      }),
    );
  });
  it('describeEntry names the set flags and the pfn', () => {
    expect(describeEntry(0, 0)).toBe('none');
    const s = describeEntry(mkLo(0x42, PTE_PRESENT | PTE_RW | PTE_DIRTY), mkHi(0x42, PTE_HI_SAVED_DIRTY));
    expect(s.split(' ')).toEqual(['P', 'RW', 'D', 'SAVED_DIRTY', 'pfn=0x42']);
  });
});
