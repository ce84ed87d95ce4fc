/**
 * Bitmap commands on string values, with Redis 7.0's semantics and error replies.
 * Writes: SETBIT, BITFIELD (every subcommand; GETs are executed, their outputs dropped).
 * Reads: GETBIT, BITCOUNT, BITPOS, BITFIELD_RO. BITOP combines keys of several shards, so it is a pure
 * function (bitop.ts, re-exported here as bitopCompute) over source values the caller gathered.
 *
 * Bits are numbered from the most significant bit of byte 0. Writes beyond the end zero-pad the string.
 * String value Buffers are shared (replies, COPY's portable values, the meta cache): they are never
 * mutated in place, a changed value is a new Buffer. Values are read and written through the byte-range
 * helpers of string_segments.ts, so a segmented string (> 1 MiB) only has the segments an operation
 * touches read or rewritten.
 */
import {
  Keyspace, T_STRING, WriteTable, ReadTable, WRONGTYPE, arityError, ERR_NOT_INT, ERR_SYNTAX, EMPTY,
} from './keyspace.js';
import { parseI64 } from '../src/util/numbers.js';
import { segmented, strLength, strRange, writeString, eachChunk } from './string_segments.js';
import { STRING_SEG_MIN, type KeyRef } from './meta.js';

const ERR_BIT_OFFSET = 'ERR bit offset is not an integer or out of range';
const ERR_BIT_VALUE = 'ERR bit is not an integer or out of range';
const ERR_BF_TYPE = 'ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.';
const ERR_BF_OVERFLOW = 'ERR Invalid OVERFLOW type specified';
const ERR_BF_RO = 'ERR BITFIELD_RO only supports the GET subcommand';
const ERR_BIT_ARG = 'ERR The bit argument must be 1 or 0.';
/** Bit offsets must address a byte below proto-max-bulk-len (512 MB): offset < 2^32. */
const MAX_BIT_OFFSET = 2 ** 32;

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >> 1];

function lc(b: Buffer): string {
  return b.toString('latin1').toLowerCase();
}

/**
 * A bit offset argument (Redis's getBitOffsetFromArgument): a strict int64; with `bits` > 0 a leading
 * '#' multiplies it by the field width (wrapping in int64 as C does). -1 when invalid or ≥ 2^32.
 */
function parseBitOffset(arg: Buffer, bits: number): number {
  const hash = bits > 0 && arg.length > 0 && arg[0] === 0x23;
  const v = parseI64(hash ? arg.subarray(1) : arg);
  if (v === null) return -1;
  let off: number;
  if (!hash) off = Number(v);
  else if (typeof v === 'number' && Math.abs(v) <= MAX_BIT_OFFSET) off = v * bits;
  else off = Number(BigInt.asIntN(64, BigInt(v) * BigInt(bits)));
  return off < 0 || off >= MAX_BIT_OFFSET ? -1 : off;
}

/** Bitfield type "i1".."i64" / "u1".."u63": signed width (negative = unsigned), 0 when invalid. */
function parseBitfieldType(arg: Buffer): number {
  const nul = arg.indexOf(0);   // Redis reads the type as a C string
  const s = nul < 0 ? arg : arg.subarray(0, nul);
  if (s.length < 2 || (s[0] !== 0x69 && s[0] !== 0x75)) return 0;
  const n = parseI64(s.subarray(1));
  if (n === null || n < 1 || n > (s[0] === 0x69 ? 64 : 63)) return 0;
  return s[0] === 0x69 ? Number(n) : -Number(n);
}

/** Unsigned value of the `bits`-bit field at bit `off` of b (bits past the end read as 0). */
function getField(b: Uint8Array, off: number, bits: number): bigint {
  let hi = 0, lo = 0;
  const nHi = bits > 32 ? bits - 32 : 0;
  let byte = Math.floor(off / 8), sh = 7 - (off - byte * 8);
  let cur = byte < b.length ? b[byte] : 0;
  for (let i = 0; i < bits; i++) {
    const bit = (cur >> sh) & 1;
    if (i < nHi) hi = hi * 2 + bit; else lo = lo * 2 + bit;
    if (--sh < 0) { sh = 7; byte++; cur = byte < b.length ? b[byte] : 0; }
  }
  return nHi > 0 ? (BigInt(hi) << 32n) | BigInt(lo) : BigInt(lo);
}

/** Store the low `bits` bits of v at bit `off` of b (b long enough). */
function setField(b: Uint8Array, off: number, bits: number, v: bigint): void {
  const u = BigInt.asUintN(64, v);
  const lo = Number(u & 0xffffffffn), hi = Number(u >> 32n);
  let byte = Math.floor(off / 8), sh = 7 - (off - byte * 8);
  for (let j = bits - 1; j >= 0; j--) {
    const bit = j >= 32 ? (hi >>> (j - 32)) & 1 : (lo >>> j) & 1;
    b[byte] = bit ? b[byte] | (1 << sh) : b[byte] & ~(1 << sh);
    if (--sh < 0) { sh = 7; byte++; }
  }
}

const OW_WRAP = 0, OW_SAT = 1, OW_FAIL = 2;
const I64 = (x: bigint): bigint => BigInt.asIntN(64, x);

/**
 * value + incr in a `bits`-bit field, as Redis's checkSignedBitfieldOverflow /
 * checkUnsignedBitfieldOverflow compute it (int64 arithmetic and its wrap-arounds included).
 * Returns the value to store, or null when it overflows under OVERFLOW FAIL.
 */
function fieldAdd(value: bigint, incr: bigint, bits: number, signed: boolean, ow: number): bigint | null {
  let up: boolean;
  if (signed) {
    const max = bits === 64 ? (1n << 63n) - 1n : (1n << BigInt(bits - 1)) - 1n, min = -max - 1n;
    const maxincr = I64(max - value), minincr = I64(min - value);
    if (value > max || (bits !== 64 && incr > maxincr) || (value >= 0n && incr > 0n && incr > maxincr)) up = true;
    else if (value < min || (bits !== 64 && incr < minincr) || (value < 0n && incr < 0n && incr < minincr)) up = false;
    else return value + incr;
    if (ow === OW_FAIL) return null;
    if (ow === OW_SAT) return up ? max : min;
    return BigInt.asIntN(bits, value + incr);
  }
  const max = (1n << BigInt(bits)) - 1n;
  const v = BigInt.asUintN(64, value);
  if (v > max || (incr > 0n && incr > I64(max - v))) up = true;
  else if (incr < 0n && incr < I64(-v)) up = false;
  else return v + incr;
  if (ow === OW_FAIL) return null;
  if (ow === OW_SAT) return up ? max : 0n;
  return BigInt.asUintN(bits, v + incr);
}

const OP_GET = 0, OP_SET = 1, OP_INCRBY = 2;
interface FieldOp { op: number; bits: number; signed: boolean; off: number; arg: bigint; ow: number }
interface Parsed { ops: FieldOp[]; write: boolean; highest: number }

/** Parse BITFIELD's subcommands as Redis does, all before touching the key. */
function parseBitfield(argv: Buffer[]): Parsed | { error: string } {
  const ops: FieldOp[] = [];
  let ow = OW_WRAP, write = false, highest = 0;
  for (let j = 2; j < argv.length; j++) {
    const rem = argv.length - j - 1;
    const sub = lc(argv[j]);
    let op: number;
    if (sub === 'get' && rem >= 2) op = OP_GET;
    else if (sub === 'set' && rem >= 3) op = OP_SET;
    else if (sub === 'incrby' && rem >= 3) op = OP_INCRBY;
    else if (sub === 'overflow' && rem >= 1) {
      const t = lc(argv[++j]);
      if (t === 'wrap') ow = OW_WRAP;
      else if (t === 'sat') ow = OW_SAT;
      else if (t === 'fail') ow = OW_FAIL;
      else return { error: ERR_BF_OVERFLOW };
      continue;
    } else return { error: ERR_SYNTAX };
    const ty = parseBitfieldType(argv[j + 1]);
    if (ty === 0) return { error: ERR_BF_TYPE };
    const bits = ty < 0 ? -ty : ty;
    const off = parseBitOffset(argv[j + 2], bits);
    if (off < 0) return { error: ERR_BIT_OFFSET };
    let arg = 0n;
    if (op !== OP_GET) {
      write = true;
      if (off + bits - 1 > highest) highest = off + bits - 1;
      const v = parseI64(argv[j + 3]);
      if (v === null) return { error: ERR_NOT_INT };
      arg = BigInt(v);
    }
    ops.push({ op, bits, signed: ty > 0, off, arg, ow });
    j += op === OP_GET ? 2 : 3;
  }
  return { ops, write, highest };
}

/** An int64 reply value: a number when exact, else a bigint. */
function intReply(v: bigint): number | bigint {
  return v >= -0x1fffffffffffffn && v <= 0x1fffffffffffffn ? Number(v) : v;
}

/** Run ops on b (b must be long enough for every SET/INCRBY); replies go to `out` when given. */
function runFields(b: Uint8Array, ops: FieldOp[], out: Array<number | bigint | null> | null): void {
  for (const o of ops) {
    const raw = getField(b, o.off, o.bits);
    const old = o.signed ? BigInt.asIntN(o.bits, raw) : raw;
    if (o.op === OP_GET) { out?.push(intReply(old)); continue; }
    const next = o.op === OP_SET ? fieldAdd(o.arg, 0n, o.bits, o.signed, o.ow) : fieldAdd(old, o.arg, o.bits, o.signed, o.ow);
    if (next === null) { out?.push(null); continue; }
    setField(b, o.off, o.bits, next);
    out?.push(intReply(o.op === OP_SET ? old : next));
  }
}

/**
 * BITFIELD as the master ran it: applies it to the store and returns the reply Redis gave (an array
 * of int64 / null), or undefined when the command failed (recorded with ks.fail). `wantReply` false
 * skips building the reply.
 */
export function bitfieldApply(ks: Keyspace, db: number, argv: Buffer[], wantReply = true): Array<number | bigint | null> | undefined {
  if (argv.length < 2) { ks.fail(arityError('bitfield').error); return undefined; }
  const p = parseBitfield(argv);
  if ('error' in p) { ks.fail(p.error); return undefined; }
  const out = wantReply ? [] as Array<number | bigint | null> : null;
  const r = ks.ref(db, argv[1]);
  const m = r.meta;
  if (m !== null && m.type !== T_STRING) { ks.fail(WRONGTYPE.error); return undefined; }
  const seg = m !== null && segmented(m) !== null;
  if (!p.write) {                                     // GETs only: nothing changes
    if (seg) fieldsOneByOne(ks, r, p.ops, out, false);
    else runFields(m === null ? EMPTY : m.value as Buffer, p.ops, out);
    return out ?? undefined;
  }
  // Like Redis: grow to the farthest bit any SET/INCRBY may reach, even if OVERFLOW FAIL skips it.
  const len = m === null ? 0 : strLength(m), target = Math.max(len, Math.floor(p.highest / 8) + 1);
  if (!seg && target <= STRING_SEG_MIN) {             // inline: one new value
    const b = Buffer.alloc(target);
    if (m !== null) (m.value as Buffer).copy(b, 0);
    runFields(b, p.ops, out);
    if (m === null) ks.create(r, T_STRING, b);
    else { m.value = b; ks.dirty(r); }
    return out ?? undefined;
  }
  if (m === null) ks.create(r, T_STRING, EMPTY);
  if (target > len) writeString(ks, r, target - 1, ZERO_BYTE);   // zero-pad: the string is segmented now
  fieldsOneByOne(ks, r, p.ops, out, true);
  return out ?? undefined;
}

const ZERO_BYTE = Buffer.alloc(1);

/**
 * Run ops one at a time on the few bytes each covers (a segmented string: only the segments touched
 * are read, and with `write` rewritten). The string must already reach every SET/INCRBY.
 */
function fieldsOneByOne(ks: Keyspace, r: KeyRef, ops: FieldOp[], out: Array<number | bigint | null> | null, write: boolean): void {
  for (const o of ops) {
    const lo = Math.floor(o.off / 8), hi = Math.floor((o.off + o.bits - 1) / 8);
    const win = Buffer.alloc(hi - lo + 1);
    strRange(ks, r.meta!, lo, hi + 1).copy(win, 0);
    runFields(win, [{ ...o, off: o.off - lo * 8 }], out);
    if (write && o.op !== OP_GET) writeString(ks, r, lo, win.subarray(0, Math.min(win.length, strLength(r.meta!) - lo)));
  }
}

function bitfield(ks: Keyspace, db: number, argv: Buffer[]): void {
  bitfieldApply(ks, db, argv, false);
}

// SETBIT key offset 0|1: zero-pads up to the offset; changes nothing when the bit already has the value.
function setbit(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 4) return ks.fail(arityError('setbit').error);
  const off = parseBitOffset(argv[2], 0);
  if (off < 0) return ks.fail(ERR_BIT_OFFSET);
  const on = parseI64(argv[3]);
  if (on !== 0 && on !== 1) return ks.fail(ERR_BIT_VALUE);
  const r = ks.ref(db, argv[1]);
  const m = r.meta;
  if (m !== null && m.type !== T_STRING) return ks.fail(WRONGTYPE.error);
  const byte = Math.floor(off / 8), mask = 1 << (7 - (off & 7));
  const cur = m !== null && byte < strLength(m) ? strRange(ks, m, byte, byte + 1)[0] : 0;
  if (m !== null && byte < strLength(m) && ((cur & mask) !== 0) === (on === 1)) return;
  if (m === null) ks.create(r, T_STRING, EMPTY);
  writeString(ks, r, byte, Buffer.from([on === 1 ? cur | mask : cur & ~mask]));
}

export const bitmapWrites: WriteTable = { setbit, bitfield };

// ----- reads ----------------------------------------------------------------------------------------

function getbit(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 3) return arityError('getbit');
  const off = parseBitOffset(argv[2], 0);
  if (off < 0) return { error: ERR_BIT_OFFSET };
  const r = ks.lookup(db, argv[1], now);
  if (r === null) return 0;
  if (r.meta!.type !== T_STRING) return WRONGTYPE;
  const byte = Math.floor(off / 8);
  if (byte >= strLength(r.meta!)) return 0;
  return (strRange(ks, r.meta!, byte, byte + 1)[0] & (1 << (7 - (off & 7)))) !== 0 ? 1 : 0;
}

/**
 * Redis's start/end normalisation over `len` units (bytes or bits): negative counts from the end,
 * clamped to [0, len-1]. Returns [s, e]; s > e means an empty range.
 */
function clampRange(start: number | bigint, end: number | bigint, len: number): [number, number] {
  let s = Number(start), e = Number(end);
  if (s < 0) s = len + s;
  if (e < 0) e = len + e;
  if (s < 0) s = 0;
  if (e < 0) e = 0;
  if (e >= len) e = len - 1;
  return [s, e];
}

/** Masks keeping bits from bit S on (first byte) and up to bit E (last byte) of a bit range. */
const headMask = (S: number): number => 0xff >> (S % 8);
const tailMask = (E: number): number => (0xff << (7 - (E % 8))) & 0xff;

/** Set bits in the bit range [S, E] (inclusive, within v). */
function countBits(v: Uint8Array, S: number, E: number): number {
  const sb = Math.floor(S / 8), eb = Math.floor(E / 8);
  if (sb === eb) return POPCOUNT[v[sb] & headMask(S) & tailMask(E)];
  let n = POPCOUNT[v[sb] & headMask(S)] + POPCOUNT[v[eb] & tailMask(E)];
  for (let i = sb + 1; i < eb; i++) n += POPCOUNT[v[i]];
  return n;
}

/** First bit equal to `bit` in the bit range [S, E] (inclusive, within v), or -1. */
function findBit(v: Uint8Array, S: number, E: number, bit: number): number {
  const sb = Math.floor(S / 8), eb = Math.floor(E / 8), flip = bit === 1 ? 0 : 0xff;
  for (let i = sb; i <= eb; i++) {
    let x = v[i] ^ flip;                             // the bits we look for become 1s
    if (i === sb) x &= headMask(S);
    if (i === eb) x &= tailMask(E);
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return -1;
}

/** The unit argument of BITCOUNT/BITPOS: false for BYTE (the default), true for BIT, null if neither. */
function unitIsBit(arg: Buffer | undefined): boolean | null {
  if (arg === undefined) return false;
  const u = lc(arg);
  return u === 'bit' ? true : u === 'byte' ? false : null;
}

// BITCOUNT key [start end [BYTE|BIT]]. Redis 7.0 looks the key up first: a missing key answers 0
// whatever the other arguments are.
function bitcount(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length < 2) return arityError('bitcount');
  const r = ks.lookup(db, argv[1], now);
  if (r === null) return 0;
  if (r.meta!.type !== T_STRING) return WRONGTYPE;
  const n = strLength(r.meta!);
  let S = 0, E = n * 8 - 1;
  if (argv.length === 4 || argv.length === 5) {
    const start = parseI64(argv[2]), end = parseI64(argv[3]);
    if (start === null || end === null) return { error: ERR_NOT_INT };
    if (start < 0 && end < 0 && start > end) return 0;
    const isBit = unitIsBit(argv[4]);
    if (isBit === null) return { error: ERR_SYNTAX };
    const [s, e] = clampRange(start, end, isBit ? n * 8 : n);
    if (s > e) return 0;
    if (isBit) { S = s; E = e; } else { S = s * 8; E = e * 8 + 7; }
  } else if (argv.length !== 2) return { error: ERR_SYNTAX };
  if (S > E) return 0;
  let n1 = 0;
  eachChunk(ks, r.meta!, S, E, (v, s, e) => { n1 += countBits(v, s, e); return false; });
  return n1;
}

// BITPOS key bit [start [end [BYTE|BIT]]]. Not found: -1, except that a clear bit searched with no
// explicit end is found just past the range (the string is taken as zero-padded to the right).
function bitpos(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length < 3) return arityError('bitpos');
  const bit = parseI64(argv[2]);
  if (bit === null) return { error: ERR_NOT_INT };
  if (bit !== 0 && bit !== 1) return { error: ERR_BIT_ARG };
  const r = ks.lookup(db, argv[1], now);
  if (r === null) return bit === 1 ? -1 : 0;
  if (r.meta!.type !== T_STRING) return WRONGTYPE;
  const n = strLength(r.meta!);
  let S = 0, E = n * 8 - 1;
  const endGiven = argv.length >= 5;
  if (argv.length >= 4 && argv.length <= 6) {
    const start = parseI64(argv[3]);
    if (start === null) return { error: ERR_NOT_INT };
    const isBit = unitIsBit(argv[5]);
    if (isBit === null) return { error: ERR_SYNTAX };
    const len = isBit ? n * 8 : n;
    let end: number | bigint = len - 1;
    if (endGiven) {
      const e0 = parseI64(argv[4]);
      if (e0 === null) return { error: ERR_NOT_INT };
      end = e0;
    }
    const [s, e] = clampRange(start, end, len);
    if (s > e) return -1;
    if (isBit) { S = s; E = e; } else { S = s * 8; E = e * 8 + 7; }
  } else if (argv.length !== 3) return { error: ERR_SYNTAX };
  if (S > E) return -1;
  let pos = -1;
  eachChunk(ks, r.meta!, S, E, (v, s, e, baseBit) => {
    const p = findBit(v, s, e, bit);
    if (p >= 0) pos = p + baseBit;
    return p >= 0;
  });
  if (pos >= 0 || bit === 1) return pos;
  return endGiven ? -1 : E + 1;
}

// BITFIELD_RO key [GET type offset]…
function bitfieldRo(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length < 2) return arityError('bitfield_ro');
  const p = parseBitfield(argv);
  if ('error' in p) return p;
  if (p.write) return { error: ERR_BF_RO };
  const r = ks.lookup(db, argv[1], now);
  if (r !== null && r.meta!.type !== T_STRING) return WRONGTYPE;
  const out: Array<number | bigint | null> = [];
  if (r !== null && segmented(r.meta!) !== null) fieldsOneByOne(ks, r, p.ops, out, false);
  else runFields(r === null ? EMPTY : r.meta!.value as Buffer, p.ops, out);
  return out;
}

export const bitmapReads: ReadTable = { getbit, bitcount, bitpos, bitfield_ro: bitfieldRo };

// BITOP combines keys of several shards: a pure function in bitop.ts, re-exported here.
export { bitopCompute } from './bitop.js';
