/**
 * The lab's operation vocabulary and its wire form (lab/PROTOCOL.md, v1): one JSON-serialisable
 * {@link LabOp} per request, encoded as a line the guest agent reads, and the agent's reply line
 * parsed into a {@link LabReply}. The model backend (model-backend.ts) answers the same ops with
 * replies of the same shape, so a differential run compares replies field by field.
 */

/** The two test devices of lab/module/dslab.c. */
export type LabDev = 'pfn' | 'page';
export type LabProt = 'r' | 'rw' | 'none';

/** Pages per device (the module's `npages`). */
export const LAB_NPAGES = 64;
/** Worker processes and mapping slots per worker the agent offers. */
export const LAB_WORKERS = 8;
export const LAB_SLOTS = 16;

export type LabOp =
  | { op: 'ping' | 'reset' }
  | { op: 'run'; prog: string; args: string }
  | { op: 'spawn' | 'exit'; p: number }
  | { op: 'wp'; d: LabDev; first: number; nr: number }
  | { op: 'clean'; d: LabDev; first: number; nr: number; bpgoff: number; start: number; end: number }
  | { op: 'wrprotect'; d: LabDev; pgoff: number; nr: number }
  | { op: 'bits'; d: LabDev; clear: boolean }
  | { op: 'delay'; d: LabDev; us: number }
  | { op: 'scan'; d: LabDev; first: number; nr: number; mode: 'consume' | 'fix' }
  | { op: 'verify'; d: LabDev }
  | {
      op: 'mmap';
      p: number;
      m: number;
      d: LabDev;
      off: number;
      n: number;
      share: 's' | 'p';
      prot: LabProt;
      fd: 'rw' | 'ro';
    }
  | { op: 'munmap' | 'madvise'; p: number; m: number; off: number; n: number }
  | { op: 'mprotect'; p: number; m: number; off: number; n: number; prot: LabProt }
  | { op: 'store'; p: number; m: number; page: number; v: number }
  | { op: 'load' | 'pte'; p: number; m: number; page: number }
  | {
      op: 'race';
      p: number;
      m: number;
      page: number;
      v: number;
      d: LabDev;
      first: number;
      nr: number;
      mode: 'consume' | 'fix';
      us: number;
    };

/** A reply: `ret` plus the op's key=value fields (strings, as on the wire). */
export interface LabReply {
  ret: number;
  kv: Record<string, string>;
}

/** Key order on the wire, per op (the agent accepts any order; this keeps lines stable). */
const KEYS: Record<LabOp['op'], readonly string[]> = {
  ping: [],
  reset: [],
  run: ['prog', 'args'],
  spawn: ['p'],
  exit: ['p'],
  wp: ['d', 'first', 'nr'],
  clean: ['d', 'first', 'nr', 'bpgoff', 'start', 'end'],
  wrprotect: ['d', 'pgoff', 'nr'],
  bits: ['d', 'clear'],
  delay: ['d', 'us'],
  scan: ['d', 'first', 'nr', 'mode'],
  verify: ['d'],
  mmap: ['p', 'm', 'd', 'off', 'n', 'share', 'prot', 'fd'],
  munmap: ['p', 'm', 'off', 'n'],
  madvise: ['p', 'm', 'off', 'n'],
  mprotect: ['p', 'm', 'off', 'n', 'prot'],
  store: ['p', 'm', 'page', 'v'],
  load: ['p', 'm', 'page'],
  pte: ['p', 'm', 'page'],
  race: ['p', 'm', 'page', 'v', 'd', 'first', 'nr', 'mode', 'us'],
};

/** The request line for `op` (without the newline). */
export function encodeOp(id: number, op: LabOp): string {
  const parts = [String(id), op.op];
  const rec = op as unknown as Record<string, unknown>;
  for (const k of KEYS[op.op]) {
    const v = rec[k];
    if (k === 'args' && v === '') continue;
    if (k === 'clear') {
      if (v === true) parts.push('clear=1');
      continue;
    }
    parts.push(`${k}=${String(v)}`);
  }
  return parts.join(' ');
}

/** Parse `<id> <ret> k=v ...`; null if the line is not a reply. */
export function parseReply(line: string): { id: number; reply: LabReply } | null {
  const words = line.trim().split(/\s+/);
  if (words.length < 2) return null;
  const id = Number(words[0]);
  const ret = Number(words[1]);
  if (!Number.isInteger(id) || !Number.isInteger(ret)) return null;
  const kv: Record<string, string> = {};
  for (const w of words.slice(2)) {
    const eq = w.indexOf('=');
    if (eq <= 0) continue;
    kv[w.slice(0, eq)] = w.slice(eq + 1);
  }
  return { id, reply: { ret, kv } };
}

/** Bitmap <-> hex string as PROTOCOL.md defines (bit i = bit i%4 of digit i/4, digit 0 first). */
export function bitsToHex(bits: readonly number[], nbits: number): string {
  const digits = new Array<number>(Math.ceil(nbits / 4)).fill(0);
  for (const b of bits) digits[b >> 2]! |= 1 << (b & 3);
  return digits.map((d) => d.toString(16)).join('');
}

export function hexToBits(hex: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < hex.length; i++) {
    const d = Number.parseInt(hex[i]!, 16);
    if (Number.isNaN(d)) throw new Error(`bad bitmap hex '${hex}'`);
    for (let b = 0; b < 4; b++) if ((d & (1 << b)) !== 0) out.push(i * 4 + b);
  }
  return out;
}

/** x86-64 PTE bits a differential run compares (spec §8). */
export const PTE_BIT_NAMES: Readonly<Record<string, number>> = {
  present: 0,
  rw: 1,
  user: 2,
  accessed: 5,
  dirty: 6,
  // x86 PROTNONE (the global bit's position, only in non-present PTEs): a PROT_NONE mapping
  protnone: 8,
  special: 9,
  // x86 SavedDirty (software bit 58): Linux 7.2 moves D here when it write-protects a PTE.
  savedDirty: 58,
};

/** Decode a raw PTE (16 hex digits) into the compared bits and the PFN. */
export function decodePte(hex: string): { bits: string[]; pfn: number } | null {
  if (hex === 'none') return null;
  const v = BigInt(`0x${hex}`);
  const bits: string[] = [];
  for (const [name, bit] of Object.entries(PTE_BIT_NAMES))
    if (((v >> BigInt(bit)) & 1n) === 1n) bits.push(name);
  // L1TF mitigation: a non-present, non-zero PTE holds its PFN inverted (x86 protnone_mask).
  const raw = (v >> 12n) & ((1n << 40n) - 1n);
  const inverted = (v & 1n) === 0n && v !== 0n;
  const pfn = Number(inverted ? ~raw & ((1n << 40n) - 1n) : raw);
  return { bits, pfn };
}

/** Which side of the protocol executes an op. */
export function isWorkerOp(op: LabOp): boolean {
  return 'p' in op && op.op !== 'spawn' && op.op !== 'exit';
}
