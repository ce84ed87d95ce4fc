/**
 * Whole RDB values as flat element lists, ready for a type's write command: what RESTORE (a DUMP
 * payload, spec 5.10) and the snapshot load records (src/rdb/load-records.ts) turn into writes.
 *
 *   FlatValue.kind  T_STRING  flat = [value]
 *                   T_LIST    flat = items, head → tail                (RPUSH order)
 *                   T_SET     flat = members                           (SADD order)
 *                   T_HASH    flat = [field, value, field, value, …]   (HSET order)
 *                   T_ZSET    flat = [score text, member, …]           (ZADD order)
 *
 * readDumpValue() parses the value of a DUMP payload synchronously (FieldReader over the whole
 * buffer): every value type a 7.x master dumps, plus the older ones (1, 3, 9, 10, 12, 13, 14).
 * Streams, module values and hashes with field expiry throw PARAREPLICA_RDB_UNSUPPORTED; anything
 * malformed throws PARAREPLICA_RDB_CORRUPT. checkValue() rejects duplicate members / fields and
 * scores that ZADD would not take (NaN), so a value can be validated before anything is written.
 */
import { ParaError } from '../src/errors.js';
import { FieldReader } from '../src/rdb/lengths.js';
import { rdbTypeInfo } from '../src/rdb/types.js';
import { QUICKLIST_PACKED, QUICKLIST_PLAIN } from '../src/rdb/load-records.js';
import { T_STRING, T_LIST, T_SET, T_ZSET, T_HASH } from './meta.js';
import { decodeListpack, decodeZiplist, decodeIntset, decodeZipmap } from './rdb_decode.js';
import { parseStrictDouble } from './strtod.js';

export interface FlatValue {
  kind: number;
  flat: Buffer[];
  /** readDumpValue: the position just after the value. */
  end?: number;
}

/** Longest string a DUMP payload may hold (Redis's default proto-max-bulk-len). */
const MAX_STRING = 512 * 1024 * 1024;

const INF = Buffer.from('inf', 'latin1');
const NEG_INF = Buffer.from('-inf', 'latin1');
const NEG_ZERO = Buffer.from('-0', 'latin1');

function corrupt(what: string): never {
  throw new ParaError('PARAREPLICA_RDB_CORRUPT', what);
}

/** What a value of RDB type `type` loads as (T_*), or -1 when this version cannot store it. */
export function kindOfRdbType(type: number): number {
  switch (type) {
    case 0: return T_STRING;
    case 1: case 10: case 14: case 18: return T_LIST;
    case 2: case 11: case 20: return T_SET;
    case 3: case 5: case 12: case 17: return T_ZSET;
    case 4: case 9: case 13: case 16: return T_HASH;
    default: return -1;
  }
}

/** The error for a value this version cannot store (streams, modules, hashes with field expiry). */
export function unsupportedValue(type: number): ParaError {
  const info = rdbTypeInfo(type);
  if (info === undefined) return new ParaError('PARAREPLICA_RDB_CORRUPT', `unknown RDB value type ${type}`);
  return new ParaError('PARAREPLICA_RDB_UNSUPPORTED',
    `parareplica cannot store ${info.noun} (RDB type ${type} ${info.name}) yet`, { type, typeName: info.name });
}

/**
 * Swaps pairs flat[from..] in place: [a0, b0, a1, b1, …] → [b0, a0, b1, a1, …] (member, score as
 * a listpack / ziplist / RDB holds them → score, member as ZADD takes them).
 */
export function swapPairs(flat: Buffer[], from: number): void {
  if ((flat.length - from) % 2 !== 0) corrupt('a sorted set has a member without a score');
  for (let i = from; i < flat.length; i += 2) {
    const t = flat[i];
    flat[i] = flat[i + 1];
    flat[i + 1] = t;
  }
}

/**
 * Decodes the blob of a one-blob type (9 zipmap, 10 ziplist list, 11 intset, 12 ziplist zset,
 * 13 ziplist hash, 16 listpack hash, 17 listpack zset, 20 listpack set) and appends its elements
 * to `out` in the order the type's write command takes them.
 */
export function blobElements(type: number, blob: Buffer, out: Buffer[]): void {
  const from = out.length;
  switch (type) {
    case 9: decodeZipmap(blob, out); return;
    case 10: decodeZiplist(blob, out); return;
    case 11: decodeIntset(blob, out); return;
    case 12: decodeZiplist(blob, out); swapPairs(out, from); return;
    case 13: decodeZiplist(blob, out); break;
    case 16: decodeListpack(blob, out); break;
    case 17: decodeListpack(blob, out); swapPairs(out, from); return;
    case 20: decodeListpack(blob, out); return;
    default: corrupt(`RDB type ${type} is not a one-blob type`);
  }
  if ((out.length - from) % 2 !== 0) corrupt('a hash has a field without a value');
}

/**
 * Appends the items of one LIST_QUICKLIST_2 node. The load records carry a node as two parts, the
 * container byte and the blob; either order is accepted (a PACKED blob is a listpack, never one
 * byte long, so at most one reading of the pair is valid, or both give the same item).
 */
export function quicklist2Node(a: Buffer, b: Buffer, out: Buffer[]): void {
  const isCont = (x: Buffer, blob: Buffer): boolean =>
    x.length === 1 && (x[0] === QUICKLIST_PLAIN || (x[0] === QUICKLIST_PACKED && blob.length !== 1));
  let container: number, blob: Buffer;
  if (isCont(a, b)) { container = a[0]; blob = b; }
  else if (isCont(b, a)) { container = b[0]; blob = a; }
  else return corrupt('a quicklist node has no valid container byte (1 = PLAIN, 2 = PACKED)');
  if (container === QUICKLIST_PLAIN) out.push(blob);
  else decodeListpack(blob, out);
}

/** A binary double (ZSET_2 scores) as score text ZADD parses back exactly; NaN is corrupt. */
export function scoreText(x: number): Buffer {
  if (x !== x) corrupt('a sorted set score is NaN');
  if (x === Infinity) return INF;
  if (x === -Infinity) return NEG_INF;
  if (x === 0 && 1 / x < 0) return NEG_ZERO;
  return Buffer.from(String(x), 'latin1');   // shortest text that reads back as the same double
}

/** The special "string double" lengths (type 3 scores): 253 NaN, 254 +inf, 255 -inf. */
function stringDouble(buf: Buffer, p: number, end: number): [Buffer, number] {
  if (p >= end) corrupt('a sorted set score runs past the end');
  const n = buf[p];
  if (n === 253) corrupt('a sorted set score is NaN');
  if (n === 254) return [INF, p + 1];
  if (n === 255) return [NEG_INF, p + 1];
  if (n === 0) corrupt('a sorted set score of length 0');
  if (p + 1 + n > end) corrupt('a sorted set score runs past the end');
  return [buf.subarray(p + 1, p + 1 + n), p + 1 + n];
}

/** Sequential reader of RDB lengths and strings over buf[p..end); truncation is corruption. */
class Cursor {
  private readonly fr = new FieldReader(MAX_STRING);
  private readonly scratch = Buffer.alloc(12);
  constructor(readonly buf: Buffer, public p: number, readonly end: number) {}

  len(): number {
    const q = this.fr.length(this.buf, this.p, this.end);
    if (q < 0) corrupt('the value is truncated');
    this.p = q;
    return this.fr.value;
  }

  str(): Buffer {
    const { buf, p } = this;
    const q = this.fr.stringEnd(buf, p, this.end);
    if (q < 0) corrupt('the value is truncated');
    const s = this.fr.string(buf, p, this.scratch);
    this.p = q;
    // Integer-encoded strings (0xC0-0xC2) come back in the shared scratch buffer: copy them.
    return buf[p] >= 0xc0 && buf[p] <= 0xc2 ? Buffer.from(s) : s;
  }
}

/**
 * The value of a DUMP payload: RDB type byte at buf[start], the value up to `end` (the payload
 * without its 10-byte footer). Bytes after the value, before `end`, are ignored (as Redis does).
 */
export function readDumpValue(buf: Buffer, start: number, end: number): FlatValue {
  if (start >= end) corrupt('the payload holds no value');
  const type = buf[start];
  const c = new Cursor(buf, start + 1, end);
  const kind = kindOfRdbType(type);
  if (kind < 0) throw unsupportedValue(type);
  const flat: Buffer[] = [];
  switch (type) {
    case 0:
      flat.push(c.str());
      break;
    case 1: case 2: {
      for (let n = c.len(); n > 0; n--) flat.push(c.str());
      break;
    }
    case 4: {
      for (let n = c.len(); n > 0; n--) flat.push(c.str(), c.str());
      break;
    }
    case 3: {
      for (let n = c.len(); n > 0; n--) {
        const member = c.str();
        const [score, q] = stringDouble(buf, c.p, end);
        c.p = q;
        flat.push(score, member);
      }
      break;
    }
    case 5: {
      for (let n = c.len(); n > 0; n--) {
        const member = c.str();
        if (c.p + 8 > end) corrupt('a sorted set score runs past the end');
        flat.push(scoreText(buf.readDoubleLE(c.p)), member);
        c.p += 8;
      }
      break;
    }
    case 14: {
      for (let n = c.len(); n > 0; n--) decodeZiplist(c.str(), flat);
      break;
    }
    case 18: {
      for (let n = c.len(); n > 0; n--) {
        const container = c.len();
        const blob = c.str();
        if (container === QUICKLIST_PLAIN) flat.push(blob);
        else if (container === QUICKLIST_PACKED) decodeListpack(blob, flat);
        else corrupt(`a quicklist node has the container ${container} (1 = PLAIN, 2 = PACKED)`);
      }
      break;
    }
    default:
      blobElements(type, c.str(), flat);
  }
  return { kind, flat, end: c.p };
}

/**
 * Rejects duplicate set members, hash fields and zset members, and zset scores ZADD would refuse
 * (PARAREPLICA_RDB_CORRUPT). Costs one string per element: for values held in memory (RESTORE).
 */
export function checkValue(v: FlatValue): void {
  const { kind, flat } = v;
  if (kind === T_STRING || kind === T_LIST) return;
  const stride = kind === T_SET ? 1 : 2;
  const at = kind === T_ZSET ? 1 : 0;
  const seen = new Set<string>();
  for (let i = at; i < flat.length; i += stride) {
    const k = flat[i].toString('latin1');
    if (seen.has(k)) corrupt(`duplicate ${kind === T_HASH ? 'field' : 'member'} in ${kind === T_SET ? 'a set' : kind === T_HASH ? 'a hash' : 'a sorted set'}`);
    seen.add(k);
    if (kind === T_ZSET && parseStrictDouble(flat[i - 1]) === null) corrupt('a sorted set score is not a valid number');
  }
}
