/**
 * LZF decompression for RDB strings with the LZF special encoding (spec 5.3), with every bound
 * checked: corrupt input gives a PARAREPLICA_RDB_CORRUPT ParaError, never an out-of-range access.
 *
 * Format, as a walk over the input: a control byte `c`;
 *   c < 32  → a literal run: the next c+1 input bytes are copied to the output;
 *   c >= 32 → a back-reference: length L = c >> 5 (if L == 7, add the next input byte),
 *             distance D = ((c & 0x1f) << 8) + next input byte + 1; copy L+2 bytes, byte by byte,
 *             from D bytes back in the output (the ranges may overlap, repeating a pattern).
 * The output must come out at exactly the declared uncompressed length.
 * This whole-buffer decoder serves small strings and blobs; string-stream.ts decodes long strings
 * piece by piece with the same checks and the same error texts (lzfCorrupt).
 */
import { ParaError } from '../errors.js';

/**
 * The most output one input byte can yield: a long back-reference of 3 input bytes produces up to
 * 7 + 255 + 2 = 264 bytes. A declared length above clen × 88 cannot be honest.
 */
export const LZF_MAX_RATIO = 88;

/**
 * Decompresses src[start..end) into a new Buffer of exactly `ulen` bytes.
 * `streamOffset` is the position of src[start] in the whole input, for error details.
 */
export function lzfDecompress(src: Uint8Array, start: number, end: number, ulen: number, streamOffset = start): Buffer {
  if (ulen > (end - start) * LZF_MAX_RATIO + 1) {
    lzfCorrupt(streamOffset, `declared length ${ulen} is impossible for ${end - start} compressed bytes`);
  }
  const out = Buffer.allocUnsafe(ulen);
  let ip = start;
  let op = 0;
  while (ip < end) {
    const c = src[ip++];
    if (c < 32) {
      const n = c + 1;
      if (ip + n > end) lzfCorrupt(streamOffset + (ip - 1 - start), 'literal run goes past the end of the input');
      if (op + n > ulen) lzfCorrupt(streamOffset + (ip - 1 - start), 'literal run goes past the declared length');
      if (n > 16) {
        out.set(src.subarray(ip, ip + n), op);
        op += n;
        ip += n;
      } else {
        for (let k = 0; k < n; k++) out[op++] = src[ip++];
      }
    } else {
      const at = ip - 1;
      let len = c >> 5;
      if (len === 7) {
        if (ip >= end) lzfCorrupt(streamOffset + (at - start), 'back-reference cut short');
        len += src[ip++];
      }
      if (ip >= end) lzfCorrupt(streamOffset + (at - start), 'back-reference cut short');
      const dist = ((c & 0x1f) << 8) + src[ip++] + 1;
      len += 2;
      let ref = op - dist;
      if (ref < 0) lzfCorrupt(streamOffset + (at - start), `back-reference to ${dist} bytes back, before the start of the output`);
      if (op + len > ulen) lzfCorrupt(streamOffset + (at - start), 'back-reference goes past the declared length');
      for (let k = 0; k < len; k++) out[op++] = out[ref++];
    }
  }
  if (op !== ulen) lzfCorrupt(streamOffset, `decompressed to ${op} bytes, declared ${ulen}`);
  return out;
}

/** The corruption error of LZF data; `offset` is the stream position of the faulty byte. */
export function lzfCorrupt(offset: number, what: string): never {
  throw new ParaError(
    'PARAREPLICA_RDB_CORRUPT',
    `snapshot is corrupt at byte ${offset}: LZF data is invalid (${what}); resynchronise from the master`,
    { offset },
  );
}
