/**
 * Decoders for the compact blob encodings an RDB value (or a DUMP payload) can hold (spec 5.7):
 * listpack (5.7.1), ziplist (5.7.2), intset (5.7.4) and zipmap (5.7.5). Each decoder appends the
 * blob's elements, in order, to `out` as Buffers and returns how many it appended: strings are
 * views of the blob (no copy), integers become their decimal text (as Redis means them).
 *
 * Strict: every inconsistency (total size different from the blob's, an entry running past the
 * end, a missing or early 0xFF end mark, an unknown encoding byte, a listpack back-length or a
 * ziplist prevlen that does not match, an element count or ziplist tail offset that does not
 * match, an intset whose width is not 2/4/8 or whose members are not strictly ascending) throws
 * ParaError PARAREPLICA_RDB_CORRUPT with a message saying what is wrong; the caller names the key.
 * One forward pass per blob, no per-element closures.
 */
import { ParaError } from '../src/errors.js';

function corrupt(what: string): never {
  throw new ParaError('PARAREPLICA_RDB_CORRUPT', what);
}

/** Decimal text of a safe integer. */
function intText(n: number): Buffer {
  return Buffer.from(String(n), 'latin1');
}

/** Bytes a listpack back-length takes for an entry of `l` bytes (encoding + data). */
function backlenSize(l: number): number {
  return l <= 127 ? 1 : l < 16383 ? 2 : l < 2097151 ? 3 : l < 268435455 ? 4 : 5;
}

/**
 * Listpack: <total u32 LE> <count u16 LE, 65535 = unknown> { <encoding+data> <backlen> }* <0xFF>.
 */
export function decodeListpack(lp: Buffer, out: Buffer[]): number {
  const size = lp.length;
  if (size < 7) corrupt(`listpack of ${size} bytes is shorter than its header and end mark`);
  const total = lp.readUInt32LE(0);
  if (total !== size) corrupt(`listpack header says ${total} bytes but the blob has ${size}`);
  const last = size - 1;
  if (lp[last] !== 0xff) corrupt('listpack does not end with 0xFF');
  const numele = lp.readUInt16LE(4);
  let p = 6;
  let count = 0;
  while (p < last) {
    const b = lp[p];
    let len: number;   // encoding + data
    if (b < 0x80) {                          // 0xxxxxxx: 7-bit unsigned int
      len = 1;
      out.push(intText(b));
    } else if (b < 0xc0) {                   // 10xxxxxx: string, 6-bit length
      len = 1 + (b & 0x3f);
      if (p + len > last) corrupt(`listpack string at byte ${p} runs past the end`);
      out.push(lp.subarray(p + 1, p + len));
    } else if (b < 0xe0) {                   // 110xxxxx yyyyyyyy: 13-bit signed int
      len = 2;
      if (p + 2 > last) corrupt(`listpack integer at byte ${p} runs past the end`);
      const v = ((b & 0x1f) << 8) | lp[p + 1];
      out.push(intText(v >= 4096 ? v - 8192 : v));
    } else if (b < 0xf0) {                   // 1110xxxx yyyyyyyy: string, 12-bit length
      if (p + 2 > last) corrupt(`listpack string header at byte ${p} runs past the end`);
      len = 2 + (((b & 0x0f) << 8) | lp[p + 1]);
      if (p + len > last) corrupt(`listpack string at byte ${p} runs past the end`);
      out.push(lp.subarray(p + 2, p + len));
    } else {
      switch (b) {
        case 0xf0: {                         // string, 32-bit length
          if (p + 5 > last) corrupt(`listpack string header at byte ${p} runs past the end`);
          len = 5 + lp.readUInt32LE(p + 1);
          if (p + len > last) corrupt(`listpack string at byte ${p} runs past the end`);
          out.push(lp.subarray(p + 5, p + len));
          break;
        }
        case 0xf1: len = 3; if (p + len > last) corrupt(`listpack integer at byte ${p} runs past the end`); out.push(intText(lp.readInt16LE(p + 1))); break;
        case 0xf2: len = 4; if (p + len > last) corrupt(`listpack integer at byte ${p} runs past the end`); out.push(intText(lp.readIntLE(p + 1, 3))); break;
        case 0xf3: len = 5; if (p + len > last) corrupt(`listpack integer at byte ${p} runs past the end`); out.push(intText(lp.readInt32LE(p + 1))); break;
        case 0xf4:
          len = 9;
          if (p + len > last) corrupt(`listpack integer at byte ${p} runs past the end`);
          out.push(Buffer.from(lp.readBigInt64LE(p + 1).toString(), 'latin1'));
          break;
        case 0xff: return corrupt(`listpack end mark 0xFF at byte ${p}, before its last byte ${last}`);
        default: return corrupt(`listpack entry at byte ${p} has the invalid encoding byte 0x${b.toString(16)}`);
      }
    }
    // The back-length: the entry size in 7-bit groups, most significant first; every byte but the
    // first has the high bit set.
    const q = p + len;
    const bl = backlenSize(len);
    if (q + bl > last) corrupt(`listpack entry at byte ${p} runs past the end`);
    let v = lp[q];
    let ok = v < 0x80;
    for (let i = 1; i < bl; i++) {
      const c = lp[q + i];
      ok = ok && c >= 0x80;
      v = v * 128 + (c & 0x7f);
    }
    if (!ok || v !== len) corrupt(`listpack entry at byte ${p} has a back-length that does not match its size ${len}`);
    p = q + bl;
    count++;
  }
  if (numele !== 65535 && numele !== count) corrupt(`listpack header says ${numele} elements but it holds ${count}`);
  return count;
}

/**
 * Ziplist: <zlbytes u32 LE> <zltail u32 LE> <zllen u16 LE, 65535 = unknown>
 * { <prevlen: 1 byte < 254 | 0xFE + u32 LE> <encoding> <data> }* <0xFF>.
 */
export function decodeZiplist(zl: Buffer, out: Buffer[]): number {
  const size = zl.length;
  if (size < 11) corrupt(`ziplist of ${size} bytes is shorter than its header and end mark`);
  const zlbytes = zl.readUInt32LE(0);
  if (zlbytes !== size) corrupt(`ziplist header says ${zlbytes} bytes but the blob has ${size}`);
  const last = size - 1;
  if (zl[last] !== 0xff) corrupt('ziplist does not end with 0xFF');
  const zltail = zl.readUInt32LE(4);
  const zllen = zl.readUInt16LE(8);
  let p = 10;
  let prevSize = 0;
  let tail = 10;
  let count = 0;
  while (p < last) {
    const start = p;
    const pb = zl[p];
    let prevlen: number;
    if (pb < 0xfe) {
      prevlen = pb;
      p += 1;
    } else if (pb === 0xfe) {
      if (p + 5 > last) corrupt(`ziplist entry at byte ${start} runs past the end`);
      prevlen = zl.readUInt32LE(p + 1);
      p += 5;
    } else {
      return corrupt(`ziplist end mark 0xFF at byte ${p}, before its last byte ${last}`);
    }
    if (prevlen !== prevSize) corrupt(`ziplist entry at byte ${start} says the previous entry has ${prevlen} bytes, it has ${prevSize}`);
    if (p >= last) corrupt(`ziplist entry at byte ${start} runs past the end`);
    const e = zl[p];
    let d: number;      // data start
    let end: number;    // data end
    switch (e >> 6) {
      case 0:           // 00pppppp: string, 6-bit length
        d = p + 1; end = d + (e & 0x3f);
        break;
      case 1:           // 01pppppp qqqqqqqq: string, 14-bit length, big-endian
        if (p + 2 > last) corrupt(`ziplist entry at byte ${start} runs past the end`);
        d = p + 2; end = d + (((e & 0x3f) << 8) | zl[p + 1]);
        break;
      case 2:           // 10______ + 4 bytes: string, 32-bit length, big-endian
        if (p + 5 > last) corrupt(`ziplist entry at byte ${start} runs past the end`);
        d = p + 5; end = d + zl.readUInt32BE(p + 1);
        break;
      default:
        d = p + 1;
        switch (e) {
          case 0xc0: end = d + 2; break;
          case 0xd0: end = d + 4; break;
          case 0xe0: end = d + 8; break;
          case 0xf0: end = d + 3; break;
          case 0xfe: end = d + 1; break;
          default:
            if (e >= 0xf1 && e <= 0xfd) { end = d; break; }
            return corrupt(`ziplist entry at byte ${start} has the invalid encoding byte 0x${e.toString(16)}`);
        }
    }
    if (end > last) corrupt(`ziplist entry at byte ${start} runs past the end`);
    switch (e) {
      case 0xc0: out.push(intText(zl.readInt16LE(d))); break;
      case 0xd0: out.push(intText(zl.readInt32LE(d))); break;
      case 0xe0: out.push(Buffer.from(zl.readBigInt64LE(d).toString(), 'latin1')); break;
      case 0xf0: out.push(intText(zl.readIntLE(d, 3))); break;
      case 0xfe: out.push(intText(zl.readInt8(d))); break;
      default:
        if (e >= 0xf1 && e <= 0xfd) out.push(intText((e & 0x0f) - 1));
        else out.push(zl.subarray(d, end));
    }
    prevSize = end - start;
    tail = start;
    p = end;
    count++;
  }
  if (zltail !== tail) corrupt(`ziplist header says its last entry is at byte ${zltail}, it is at byte ${tail}`);
  if (zllen !== 65535 && zllen !== count) corrupt(`ziplist header says ${zllen} entries but it holds ${count}`);
  return count;
}

/** Intset: <width u32 LE = 2, 4 or 8> <count u32 LE> <count signed LE integers, strictly ascending>. */
export function decodeIntset(is: Buffer, out: Buffer[]): number {
  const size = is.length;
  if (size < 8) corrupt(`intset of ${size} bytes is shorter than its 8-byte header`);
  const width = is.readUInt32LE(0);
  if (width !== 2 && width !== 4 && width !== 8) corrupt(`intset has the invalid integer width ${width} (must be 2, 4 or 8)`);
  const n = is.readUInt32LE(4);
  if (8 + n * width !== size) corrupt(`intset header says ${n} integers of ${width} bytes but the blob has ${size} bytes`);
  if (width === 8) {
    let prev = 0n;
    for (let i = 0, p = 8; i < n; i++, p += 8) {
      const v = is.readBigInt64LE(p);
      if (i > 0 && v <= prev) corrupt(`intset is not strictly ascending at member ${i} (${v} after ${prev})`);
      out.push(Buffer.from(v.toString(), 'latin1'));
      prev = v;
    }
    return n;
  }
  let prev = 0;
  for (let i = 0, p = 8; i < n; i++, p += width) {
    const v = width === 2 ? is.readInt16LE(p) : is.readInt32LE(p);
    if (i > 0 && v <= prev) corrupt(`intset is not strictly ascending at member ${i} (${v} after ${prev})`);
    out.push(intText(v));
    prev = v;
  }
  return n;
}

/**
 * Zipmap: <zmlen u8, 254 = unknown> { <len> <key> <len> <free u8> <value> <free bytes> }* <0xFF>,
 * len = 1 byte < 254, or 254 then u32 LE. Appends field, value, field, value, …; returns pairs.
 */
export function decodeZipmap(zm: Buffer, out: Buffer[]): number {
  const size = zm.length;
  if (size < 2) corrupt(`zipmap of ${size} bytes is shorter than its header and end mark`);
  const zmlen = zm[0];
  let p = 1;
  let pairs = 0;
  for (;;) {
    if (p >= size) corrupt('zipmap has no 0xFF end mark');
    let b = zm[p];
    if (b === 0xff) break;
    let len: number;
    if (b < 0xfe) { len = b; p += 1; } else {
      if (p + 5 > size) corrupt(`zipmap key length at byte ${p} runs past the end`);
      len = zm.readUInt32LE(p + 1); p += 5;
    }
    if (p + len > size) corrupt(`zipmap key at byte ${p} runs past the end`);
    const key = zm.subarray(p, p + len);
    p += len;
    if (p >= size) corrupt('zipmap ends after a key, before its value');
    b = zm[p];
    if (b === 0xff) corrupt(`zipmap value length at byte ${p} is the end mark 0xFF`);
    if (b < 0xfe) { len = b; p += 1; } else {
      if (p + 5 > size) corrupt(`zipmap value length at byte ${p} runs past the end`);
      len = zm.readUInt32LE(p + 1); p += 5;
    }
    if (p >= size) corrupt('zipmap ends before a value\'s free-space byte');
    const free = zm[p];
    p += 1;
    if (p + len + free > size) corrupt(`zipmap value at byte ${p} runs past the end`);
    out.push(key, zm.subarray(p, p + len));
    p += len + free;
    pairs++;
  }
  if (p !== size - 1) corrupt(`zipmap end mark at byte ${p}, before its last byte ${size - 1}`);
  if (zmlen < 254 && zmlen !== pairs) corrupt(`zipmap header says ${zmlen} pairs but it holds ${pairs}`);
  return pairs;
}
