/**
 * Readers for RDB "length" and "string" fields (spec 5.2, 5.3), written for a restartable parser:
 * each reader gets (buf, p, end) and returns the position after the field, or -1 when the field
 * runs past `end`; `needAt` then says the position that must be available before trying again.
 * Measuring (`stringEnd`) is separate from decoding (`string`), so an incomplete item is never
 * decoded (nor LZF-decompressed) twice; `stringBody` reads only a string's header, so that a value
 * being skipped can be passed over, or a long string streamed (string-stream.ts), without holding
 * its bytes.
 */
import { ParaError } from '../errors.js';
import { LZF_MAX_RATIO, lzfDecompress } from './lzf.js';

/** Largest element / node / group count accepted (Redis counts fit in 32 bits in practice). */
export const MAX_COUNT = 2 ** 32;

export class FieldReader {
  /** Stream offset of buf[0] of the buffer being read (for error details). */
  base = 0;
  /** After a read returned -1: the position in buf that must be available to make progress. */
  needAt = 0;
  /** The value of the last length read. Exact up to 2^53; larger 64-bit lengths are approximate. */
  value = 0;
  /**
   * After stringBody(): the string's decoded length for a raw or an LZF string (its declared
   * uncompressed length), -1 for an integer-encoded one (its text is at most 11 bytes).
   */
  decodedLen = 0;

  constructor(readonly maxStringLen: number) {}

  /**
   * A length (spec 5.2), first byte's top two bits:
   *   00xxxxxx                 → 6-bit value
   *   01xxxxxx yyyyyyyy        → 14-bit value, big-endian
   *   0x80 + 4 bytes           → 32-bit value, big-endian
   *   0x81 + 8 bytes           → 64-bit value, big-endian
   *   11xxxxxx                 → a special string encoding: not allowed where a length is expected
   */
  length(buf: Buffer, p: number, end: number): number {
    if (p >= end) return this.needs(p + 1);
    const b0 = buf[p];
    switch (b0 >> 6) {
      case 0:
        this.value = b0 & 0x3f;
        return p + 1;
      case 1:
        if (p + 2 > end) return this.needs(p + 2);
        this.value = ((b0 & 0x3f) << 8) | buf[p + 1];
        return p + 2;
      case 2:
        if (b0 === 0x80) {
          if (p + 5 > end) return this.needs(p + 5);
          this.value = buf.readUInt32BE(p + 1);
          return p + 5;
        }
        if (b0 === 0x81) {
          if (p + 9 > end) return this.needs(p + 9);
          this.value = buf.readUInt32BE(p + 1) * 4294967296 + buf.readUInt32BE(p + 5);
          return p + 9;
        }
        return this.corrupt(p, `invalid length prefix 0x${b0.toString(16)}`);
      default:
        return this.corrupt(p, 'a special string encoding where a length was expected');
    }
  }

  /** A count (of elements, nodes, groups…): a length, at most 2^32. */
  count(buf: Buffer, p: number, end: number, what: string): number {
    const q = this.length(buf, p, end);
    if (q >= 0 && this.value > MAX_COUNT) return this.corrupt(p, `${what} ${this.value} is impossible`);
    return q;
  }

  /**
   * Measures the string at p (spec 5.3) and returns its end. Forms:
   *   <length L> <L bytes>                                   raw
   *   0xC0 <int8>  | 0xC1 <int16 LE> | 0xC2 <int32 LE>        integer, stands for its decimal text
   *   0xC3 <length clen> <length ulen> <clen bytes of LZF>    compressed
   */
  stringEnd(buf: Buffer, p: number, end: number): number {
    // The common case, a raw string with a 6-bit length, inline; the others via stringBody.
    if (p < end) {
      const b0 = buf[p];
      if (b0 < 0x40) {
        const e = p + 1 + b0;
        return e > end ? this.needs(e) : e;
      }
    }
    const q = this.stringBody(buf, p, end);
    if (q < 0) return -1;
    const e = q + this.value;
    if (e > end) return this.needs(e);
    return e;
  }

  /**
   * Reads the header of the string at p and returns where its stored bytes start; `value` is then
   * how many stored bytes follow (the integer's width, the LZF data's length, or the raw length).
   * Lets a caller skip a string without holding it.
   */
  stringBody(buf: Buffer, p: number, end: number): number {
    if (p >= end) return this.needs(p + 1);
    const b0 = buf[p];
    if (b0 >> 6 === 3) {
      switch (b0 & 0x3f) {
        case 0: this.value = 1; this.decodedLen = -1; return p + 1;
        case 1: this.value = 2; this.decodedLen = -1; return p + 1;
        case 2: this.value = 4; this.decodedLen = -1; return p + 1;
        case 3: {
          let q = this.length(buf, p + 1, end);
          if (q < 0) return -1;
          const clen = this.value;
          if (clen > this.maxStringLen) return this.corrupt(p, `compressed length ${clen} is above the limit of ${this.maxStringLen}`);
          q = this.length(buf, q, end);
          if (q < 0) return -1;
          const ulen = this.value;
          if (ulen > this.maxStringLen) return this.corrupt(p, `string length ${ulen} is above the limit of ${this.maxStringLen}`);
          if (ulen > clen * LZF_MAX_RATIO + 1) return this.corrupt(p, `LZF lengths are impossible (${clen} bytes cannot give ${ulen})`);
          this.value = clen;
          this.decodedLen = ulen;
          return q;
        }
        default:
          return this.corrupt(p, `unknown string encoding ${b0 & 0x3f}`);
      }
    }
    const q = this.length(buf, p, end);
    if (q < 0) return -1;
    if (this.value > this.maxStringLen) return this.corrupt(p, `string length ${this.value} is above the limit of ${this.maxStringLen}`);
    this.decodedLen = this.value;
    return q;
  }

  /**
   * Decodes the string at p, which stringEnd() has found complete. Raw strings are subarrays of
   * `buf`; integer strings are written into `scratch` (12 bytes); LZF strings are new Buffers.
   */
  string(buf: Buffer, p: number, scratch: Buffer): Buffer {
    const b0 = buf[p];
    if (b0 >> 6 === 3) {
      switch (b0 & 0x3f) {
        case 0: return intText(buf.readInt8(p + 1), scratch);
        case 1: return intText(buf.readInt16LE(p + 1), scratch);
        case 2: return intText(buf.readInt32LE(p + 1), scratch);
        default: {
          let q = this.length(buf, p + 1, buf.length);
          const clen = this.value;
          q = this.length(buf, q, buf.length);
          return lzfDecompress(buf, q, q + clen, this.value, this.base + q);
        }
      }
    }
    const q = this.length(buf, p, buf.length);
    return buf.subarray(q, q + this.value);
  }

  needs(pos: number): number {
    this.needAt = pos;
    return -1;
  }

  corrupt(pos: number, what: string): never {
    const offset = this.base + pos;
    throw new ParaError(
      'PARAREPLICA_RDB_CORRUPT',
      `snapshot is corrupt at byte ${offset}: ${what}; the snapshot cannot be loaded — resynchronise from the master (and check its disk if this repeats)`,
      { offset },
    );
  }
}

/** Writes the decimal text of a 32-bit integer into `scratch` and returns that part of it. */
function intText(n: number, scratch: Buffer): Buffer {
  let len = 0;
  let v = n;
  if (v < 0) {
    scratch[len++] = 0x2d;
    v = -v;
  }
  const startDigits = len;
  do {
    scratch[len++] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  } while (v > 0);
  // Digits were written least significant first: reverse them.
  for (let i = startDigits, j = len - 1; i < j; i++, j--) {
    const t = scratch[i];
    scratch[i] = scratch[j];
    scratch[j] = t;
  }
  return scratch.subarray(0, len);
}
