/**
 * String commands. Writes: SET (NX XX GET EX PX EXAT PXAT KEEPTTL), SETNX, SETEX, PSETEX, GETSET,
 * GETDEL, APPEND, SETRANGE, INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT, MSET, MSETNX.
 * Reads: GET, MGET, STRLEN, GETRANGE.
 *
 * A string's meta holds the value inline (meta.value: Buffer), or, past 1 MiB, in segments
 * (string_segments.ts): APPEND and SETRANGE write only the segments they touch, STRLEN and GETRANGE
 * read only what they need, INCR* fail without reading. Master commands never treat a key as
 * expired. A failing command (WRONGTYPE, bad number…) changes nothing and is counted by ks.fail().
 */
import {
  Keyspace, KeyRef, T_STRING, WriteTable, ReadTable, WRONGTYPE, arityError,
  ERR_NOT_INT, ERR_SYNTAX, ERR_OVERFLOW, ERR_NOT_FLOAT, ERR_NAN_INF, EMPTY,
} from './keyspace.js';
import { parseI64, addI64, negI64, parseLongDouble, addLongDouble, formatLongDoubleHuman } from '../src/util/numbers.js';
import { segmented, strLength, strRange, writeString, appendString } from './string_segments.js';

/** Redis's proto-max-bulk-len default: a string may not grow beyond 512 MB. */
export const MAX_STRING = 512 * 1024 * 1024;
const ERR_TOO_BIG = 'ERR string exceeds maximum allowed size (proto-max-bulk-len)';
const KEEP = -2;  // expireMs argument meaning "keep the current TTL"

/** Expiry `ms` (absolute) is already past and this store deletes in that case (master semantics). */
export function pastDeletes(ks: Keyspace, ms: number): boolean {
  return ks.deleteOnPastExpiry && ms <= Date.now();
}

/**
 * Make `r` a string holding `value`. expireMs: absolute ms, -1 = no TTL, KEEP = leave as is.
 * Overwrites any type (a per-member collection is dropped in O(1)).
 */
export function setString(ks: Keyspace, r: KeyRef, value: Buffer, expireMs: number): void {
  const m = r.meta;
  if (m === null) {
    ks.create(r, T_STRING, value);
    if (expireMs >= 0) ks.setExpire(r, expireMs);
    return;
  }
  if (m.version !== 0) ks.dropMembers(r);
  m.type = T_STRING;
  m.value = value;
  if (expireMs === KEEP || expireMs === m.expireMs) ks.dirty(r);
  else ks.setExpire(r, expireMs);
}

function lc(b: Buffer): string {
  return b.toString('latin1').toLowerCase();
}

/** Expiry option value → absolute ms, or null when Redis says "invalid expire time". */
function expiryMs(kind: string, arg: Buffer): number | null | undefined {
  const v = parseI64(arg);
  if (v === null) return undefined;                    // not an integer
  const n = Number(v);
  if (n <= 0) return null;
  switch (kind) {
    case 'ex': return n > 9.2e15 ? null : Date.now() + n * 1000;
    case 'px': return n > 9.2e18 ? null : Date.now() + n;
    case 'exat': return n > 9.2e15 ? null : n * 1000;
    default: return n;                                  // pxat
  }
}

// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]
function set(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length < 3) return ks.fail(arityError('set').error);
  let nx = false, xx = false, get = false, kind = '', at: Buffer | null = null;
  for (let i = 3; i < argv.length; i++) {
    const o = lc(argv[i]);
    if (o === 'nx' && !xx) nx = true;
    else if (o === 'xx' && !nx) xx = true;
    else if (o === 'get') get = true;
    else if (o === 'keepttl' && (kind === '' || kind === o)) kind = o;
    else if ((o === 'ex' || o === 'px' || o === 'exat' || o === 'pxat') && (kind === '' || kind === o) && i + 1 < argv.length) {
      kind = o; at = argv[++i];
    } else return ks.fail(ERR_SYNTAX);
  }
  let expire = kind === 'keepttl' ? KEEP : -1;
  if (at !== null) {
    const ms = expiryMs(kind, at);
    if (ms === undefined) return ks.fail(ERR_NOT_INT);
    if (ms === null) return ks.fail("ERR invalid expire time in 'set' command");
    expire = ms;
  }
  const r = ks.ref(db, argv[1]);
  if (get && r.meta !== null && r.meta.type !== T_STRING) return ks.fail(WRONGTYPE.error);
  if ((nx && r.meta !== null) || (xx && r.meta === null)) return;
  if (expire >= 0 && pastDeletes(ks, expire)) return ks.del(r);
  setString(ks, r, argv[2], expire);
}

function setnx(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 3) return ks.fail(arityError('setnx').error);
  const r = ks.ref(db, argv[1]);
  if (r.meta === null) setString(ks, r, argv[2], -1);
}

function setexGeneric(name: string, unitMs: number) {
  return (ks: Keyspace, db: number, argv: Buffer[]): void => {
    if (argv.length !== 4) return ks.fail(arityError(name).error);
    const v = parseI64(argv[2]);
    if (v === null) return ks.fail(ERR_NOT_INT);
    const n = Number(v);
    if (n <= 0 || n > 9.2e18 / unitMs) return ks.fail(`ERR invalid expire time in '${name}' command`);
    const ms = Date.now() + n * unitMs;
    const r = ks.ref(db, argv[1]);
    if (pastDeletes(ks, ms)) return ks.del(r);
    setString(ks, r, argv[3], ms);
  };
}

function getset(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 3) return ks.fail(arityError('getset').error);
  const r = ks.ref(db, argv[1]);
  if (r.meta !== null && r.meta.type !== T_STRING) return ks.fail(WRONGTYPE.error);
  setString(ks, r, argv[2], -1);
}

function getdel(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 2) return ks.fail(arityError('getdel').error);
  const r = ks.ref(db, argv[1]);
  if (r.meta === null) return;
  if (r.meta.type !== T_STRING) return ks.fail(WRONGTYPE.error);
  ks.del(r);
}

function append(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 3) return ks.fail(arityError('append').error);
  const r = ks.ref(db, argv[1]);
  const m = r.meta;
  if (m === null) return setString(ks, r, argv[2], -1);
  if (m.type !== T_STRING) return ks.fail(WRONGTYPE.error);
  if (strLength(m) + argv[2].length > MAX_STRING) return ks.fail(ERR_TOO_BIG);
  appendString(ks, r, argv[2]);
}

// SETRANGE key offset value: zero-pads up to offset, never shrinks.
function setrange(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 4) return ks.fail(arityError('setrange').error);
  const off = parseI64(argv[2]);
  if (off === null) return ks.fail(ERR_NOT_INT);
  if (off < 0) return ks.fail('ERR offset is out of range');
  const val = argv[3];
  const r = ks.ref(db, argv[1]);
  const m = r.meta;
  if (m !== null && m.type !== T_STRING) return ks.fail(WRONGTYPE.error);
  if (val.length === 0) return;
  const o = Number(off);
  if (o + val.length > MAX_STRING) return ks.fail(ERR_TOO_BIG);
  if (m === null) ks.create(r, T_STRING, EMPTY);
  writeString(ks, r, o, val);
}

function incrGeneric(ks: Keyspace, db: number, key: Buffer, by: number | bigint): void {
  const r = ks.ref(db, key);
  const m = r.meta;
  let cur: number | bigint = 0;
  if (m !== null) {
    if (m.type !== T_STRING) return ks.fail(WRONGTYPE.error);
    const v = segmented(m) !== null ? null : parseI64(m.value as Buffer);   // > 1 MiB: not a number
    if (v === null) return ks.fail(ERR_NOT_INT);
    cur = v;
  }
  const next = addI64(cur, by);
  if (next === null) return ks.fail(ERR_OVERFLOW);
  setString(ks, r, Buffer.from(String(next), 'latin1'), KEEP);
}

function incr(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 2) return ks.fail(arityError('incr').error);
  incrGeneric(ks, db, argv[1], 1);
}

function decr(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 2) return ks.fail(arityError('decr').error);
  incrGeneric(ks, db, argv[1], -1);
}

function incrby(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 3) return ks.fail(arityError('incrby').error);
  const by = parseI64(argv[2]);
  if (by === null) return ks.fail(ERR_NOT_INT);
  incrGeneric(ks, db, argv[1], by);
}

function decrby(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 3) return ks.fail(arityError('decrby').error);
  const by = parseI64(argv[2]);
  if (by === null) return ks.fail(ERR_NOT_INT);
  const neg = negI64(by);
  if (neg === null) return ks.fail('ERR decrement would overflow');
  incrGeneric(ks, db, argv[1], neg);
}

function incrbyfloat(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 3) return ks.fail(arityError('incrbyfloat').error);
  const r = ks.ref(db, argv[1]);
  const m = r.meta;
  if (m !== null && m.type !== T_STRING) return ks.fail(WRONGTYPE.error);
  const cur = m === null ? parseLongDouble('0') : segmented(m) !== null ? null : parseLongDouble(m.value as Buffer);
  const by = parseLongDouble(argv[2]);
  if (cur === null || by === null) return ks.fail(ERR_NOT_FLOAT);
  const sum = addLongDouble(cur, by);
  if (sum === null || sum.inf) return ks.fail(ERR_NAN_INF);
  setString(ks, r, Buffer.from(formatLongDoubleHuman(sum), 'latin1'), KEEP);
}

function mset(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length < 3 || argv.length % 2 === 0) return ks.fail(arityError('mset').error);
  for (let i = 1; i < argv.length; i += 2) setString(ks, ks.ref(db, argv[i]), argv[i + 1], -1);
}

function msetnx(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length < 3 || argv.length % 2 === 0) return ks.fail(arityError('msetnx').error);
  for (let i = 1; i < argv.length; i += 2) if (ks.ref(db, argv[i]).meta !== null) return;
  for (let i = 1; i < argv.length; i += 2) setString(ks, ks.ref(db, argv[i]), argv[i + 1], -1);
}

export const stringWrites: WriteTable = {
  set, setnx, setex: setexGeneric('setex', 1000), psetex: setexGeneric('psetex', 1),
  getset, getdel, append, setrange, incr, decr, incrby, decrby, incrbyfloat, mset, msetnx,
};

// ----- reads ----------------------------------------------------------------------------------------

function get(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 2) return arityError('get');
  const r = ks.lookup(db, argv[1], now);
  if (r === null) return null;
  return r.meta!.type === T_STRING ? r.meta!.value : WRONGTYPE;
}

function mget(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length < 2) return arityError('mget');
  const out: Array<Buffer | null> = new Array(argv.length - 1);
  for (let i = 1; i < argv.length; i++) {
    const r = ks.lookup(db, argv[i], now);
    out[i - 1] = r !== null && r.meta!.type === T_STRING ? r.meta!.value : null;
  }
  return out;
}

function strlen(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 2) return arityError('strlen');
  const r = ks.lookup(db, argv[1], now);
  if (r === null) return 0;
  return r.meta!.type === T_STRING ? strLength(r.meta!) : WRONGTYPE;
}

// GETRANGE key start end: inclusive, negative indexes count from the end, clamped.
function getrange(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 4) return arityError('getrange');
  const s0 = parseI64(argv[2]), e0 = parseI64(argv[3]);
  if (s0 === null || e0 === null) return { error: ERR_NOT_INT };
  const r = ks.lookup(db, argv[1], now);
  if (r === null) return EMPTY;
  if (r.meta!.type !== T_STRING) return WRONGTYPE;
  const m = r.meta!;
  let s = Number(s0), e = Number(e0);
  const n = strLength(m);
  if (s < 0 && e < 0 && s > e) return EMPTY;
  if (s < 0) s = n + s;
  if (e < 0) e = n + e;
  if (s < 0) s = 0;
  if (e < 0) e = 0;
  if (e >= n) e = n - 1;
  if (s > e || n === 0) return EMPTY;
  return strRange(ks, m, s, e + 1);
}

export const stringReads: ReadTable = { get, mget, strlen, getrange };
