/**
 * What a differential run compares, per operation: the return value and every reply field,
 * with the two things that cannot be equal across machines normalised away: a PTE's PFN becomes
 * the device page it maps (or "other"), and the PTE is reduced to the bits of
 * {@link PTE_BIT_NAMES} (NX, PAT, global and software bits differ by configuration, not by
 * tracking behaviour). `msg` words (the agent's error detail) are not compared.
 */
import { decodePte, type LabDev, type LabReply } from './protocol.ts';

/** Maps a PFN to the device page it is, on one side (each side has its own device PFNs). */
export type PfnResolver = (pfn: number) => { d: LabDev; page: number } | null;

export type Normalized = Record<string, string | number | string[]>;

export function normalizeReply(r: LabReply, resolve: PfnResolver): Normalized {
  const out: Normalized = { ret: r.ret };
  for (const [k, v] of Object.entries(r.kv)) {
    if (k === 'msg') continue;
    if (k === 'pte') {
      const p = decodePte(v);
      if (p === null) out.pte = 'none';
      else {
        const dp = resolve(p.pfn);
        out.pte = p.bits;
        out.ptePage = dp === null ? 'other' : `${dp.d}:${dp.page}`;
      }
      continue;
    }
    out[k] = v;
  }
  return out;
}

/** Field-by-field equality of two normalised replies; returns the differing keys. */
export function diffReplies(a: Normalized, b: Normalized): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  const out: string[] = [];
  for (const k of keys) {
    const x = a[k];
    const y = b[k];
    if (JSON.stringify(x) !== JSON.stringify(y)) out.push(k);
  }
  return out.sort();
}
