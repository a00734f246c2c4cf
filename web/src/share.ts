/**
 * Shareable trace links: `#t=<base64url of the deflate-compressed trace JSON>`. Uses the
 * platform's CompressionStream (browsers, Node >= 18), so no library is shipped.
 * Decoding accepts gzip, zlib-deflate and raw deflate (detected from the first bytes).
 */

export type ShareFormat = 'gzip' | 'deflate' | 'deflate-raw';

async function pipe(bytes: Uint8Array, stream: GenericTransformStream): Promise<Uint8Array> {
  const out = new Blob([bytes as BlobPart])
    .stream()
    .pipeThrough(stream as unknown as ReadableWritablePair<Uint8Array, Uint8Array>);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

export function toBase64Url(bytes: Uint8Array): string {
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000)
    bin += String.fromCharCode(...bytes.subarray(i, Math.min(bytes.length, i + 0x8000)));
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function fromBase64Url(s: string): Uint8Array {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Compress a JSON text into the `t` fragment value. */
export async function encodeShare(json: string, format: ShareFormat = 'deflate'): Promise<string> {
  const bytes = new TextEncoder().encode(json);
  return toBase64Url(await pipe(bytes, new CompressionStream(format)));
}

/** Which decompressor fits these bytes: gzip magic 1f 8b, zlib header (CMF 0x78, check bits), else raw. */
export function detectFormat(b: Uint8Array): ShareFormat {
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 2 && (b[0]! & 0x0f) === 8 && ((b[0]! << 8) | b[1]!) % 31 === 0) return 'deflate';
  return 'deflate-raw';
}

/** Inverse of encodeShare (any of the three formats). */
export async function decodeShare(value: string): Promise<string> {
  const bytes = fromBase64Url(value);
  const out = await pipe(bytes, new DecompressionStream(detectFormat(bytes)));
  return new TextDecoder().decode(out);
}

/** The `t` parameter of a location hash such as "#t=...", or null. */
export function shareParam(hash: string): string | null {
  const h = hash.startsWith('#') ? hash.slice(1) : hash;
  for (const part of h.split('&')) if (part.startsWith('t=')) return part.slice(2);
  return null;
}
