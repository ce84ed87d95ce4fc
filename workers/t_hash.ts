/**
 * Hash commands. Writes: HSET, HMSET, HSETNX, HDEL, HINCRBY, HINCRBYFLOAT.
 * Reads: HGET, HMGET, HGETALL, HLEN, HEXISTS, HKEYS, HVALS, HSTRLEN.
 *
 * Layout: inline while ≤ INLINE_MAX_ENTRIES fields and every field and value ≤ INLINE_MAX_BYTES:
 * meta.value = [f1, v1, f2, v2, …] (insertion order). Beyond that, per-member: one member record per
 * field (part = field, value = value) and meta.count = number of fields. Never converts back.
 * A hash left empty is deleted.
 */
import {
  Keyspace, KeyRef, T_HASH, WriteTable, ReadTable, WRONGTYPE, arityError, INLINE_MAX_ENTRIES,
  INLINE_MAX_BYTES, ERR_NOT_INT, ERR_OVERFLOW, ERR_NOT_FLOAT, ERR_NAN_INF,
  sameBytes,
} from './keyspace.js';
import { parseI64, addI64, parseLongDouble, addLongDouble, formatLongDoubleHuman } from '../src/util/numbers.js';

/** Index of `f` in a flat [f, v, …] array, or -1. */
function findField(a: Buffer[], f: Buffer): number {
  for (let i = 0; i < a.length; i += 2) if (sameBytes(a[i], f)) return i;
  return -1;
}

/** Move an inline hash to the per-member layout. */
function toPerMember(ks: Keyspace, r: KeyRef): void {
  const a = r.meta!.value as Buffer[];
  ks.toPerMember(r);
  for (let i = 0; i < a.length; i += 2) ks.putMember(r, a[i], a[i + 1]);
  r.meta!.count = a.length / 2;
}

/** Read one field (sync). */
function getField(ks: Keyspace, r: KeyRef, f: Buffer): Buffer | undefined {
  const m = r.meta!;
  if (m.version !== 0) return ks.getMember(r, f);
  const a = m.value as Buffer[];
  const i = findField(a, f);
  return i < 0 ? undefined : a[i + 1];
}

/** Set one field of an existing hash; returns true if the field is new. Converts when needed. */
function setField(ks: Keyspace, r: KeyRef, f: Buffer, v: Buffer): boolean {
  const m = r.meta!;
  if (m.version === 0) {
    const a = m.value as Buffer[];
    const i = findField(a, f);
    if (i >= 0) a[i + 1] = v; else a.push(f, v);
    if (a.length > 2 * INLINE_MAX_ENTRIES || f.length > INLINE_MAX_BYTES || v.length > INLINE_MAX_BYTES) toPerMember(ks, r);
    else ks.dirty(r);
    return i < 0;
  }
  const isNew = ks.getMember(r, f) === undefined;
  ks.putMember(r, f, v);
  if (isNew) { m.count++; ks.dirty(r); }
  return isNew;
}

/** The hash at `r` for writing, creating it if absent; null (after ks.fail) on WRONGTYPE. */
function hashForWrite(ks: Keyspace, r: KeyRef): KeyRef | null {
  if (r.meta === null) { ks.create(r, T_HASH, []); return r; }
  if (r.meta.type !== T_HASH) { ks.fail(WRONGTYPE.error); return null; }
  return r;
}

function hset(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length < 4 || argv.length % 2 !== 0) return ks.fail(arityError(argv[0].toString('latin1').toLowerCase()).error);
  const r = hashForWrite(ks, ks.ref(db, argv[1]));
  if (r === null) return;
  for (let i = 2; i < argv.length; i += 2) setField(ks, r, argv[i], argv[i + 1]);
}

function hsetnx(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 4) return ks.fail(arityError('hsetnx').error);
  const r0 = ks.ref(db, argv[1]);
  if (r0.meta !== null && r0.meta.type !== T_HASH) return ks.fail(WRONGTYPE.error);
  if (r0.meta !== null && getField(ks, r0, argv[2]) !== undefined) return;
  const r = hashForWrite(ks, r0)!;
  setField(ks, r, argv[2], argv[3]);
}

function hdel(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length < 3) return ks.fail(arityError('hdel').error);
  const r = ks.ref(db, argv[1]);
  const m = r.meta;
  if (m === null) return;
  if (m.type !== T_HASH) return ks.fail(WRONGTYPE.error);
  let changed = false;
  if (m.version === 0) {
    const a = m.value as Buffer[];
    for (let i = 2; i < argv.length; i++) {
      const j = findField(a, argv[i]);
      if (j >= 0) { a.splice(j, 2); changed = true; }
    }
    if (a.length === 0) return ks.del(r);
  } else {
    for (let i = 2; i < argv.length; i++) {
      if (ks.getMember(r, argv[i]) !== undefined) { ks.delMember(r, argv[i]); m.count--; changed = true; }
    }
    if (m.count === 0) return ks.del(r);
  }
  if (changed) ks.dirty(r);
}

function hincrby(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 4) return ks.fail(arityError('hincrby').error);
  const by = parseI64(argv[3]);
  if (by === null) return ks.fail(ERR_NOT_INT);
  const r0 = ks.ref(db, argv[1]);
  if (r0.meta !== null && r0.meta.type !== T_HASH) return ks.fail(WRONGTYPE.error);
  let cur: number | bigint = 0;
  const old = r0.meta === null ? undefined : getField(ks, r0, argv[2]);
  if (old !== undefined) {
    const v = parseI64(old);
    if (v === null) return ks.fail('ERR hash value is not an integer');
    cur = v;
  }
  const next = addI64(cur, by);
  if (next === null) return ks.fail(ERR_OVERFLOW);
  setField(ks, hashForWrite(ks, r0)!, argv[2], Buffer.from(String(next), 'latin1'));
}

function hincrbyfloat(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 4) return ks.fail(arityError('hincrbyfloat').error);
  const by = parseLongDouble(argv[3]);
  if (by === null) return ks.fail(ERR_NOT_FLOAT);
  if (by.inf) return ks.fail('ERR value is NaN or Infinity');
  const r0 = ks.ref(db, argv[1]);
  if (r0.meta !== null && r0.meta.type !== T_HASH) return ks.fail(WRONGTYPE.error);
  const old = r0.meta === null ? undefined : getField(ks, r0, argv[2]);
  const cur = parseLongDouble(old ?? '0');
  if (cur === null) return ks.fail('ERR hash value is not a float');
  const sum = addLongDouble(cur, by);
  if (sum === null || sum.inf) return ks.fail(ERR_NAN_INF);
  setField(ks, hashForWrite(ks, r0)!, argv[2], Buffer.from(formatLongDoubleHuman(sum), 'latin1'));
}

export const hashWrites: WriteTable = { hset, hmset: hset, hsetnx, hdel, hincrby, hincrbyfloat };

// ----- reads ----------------------------------------------------------------------------------------

/** The live hash for a read: KeyRef, null if absent, or the WRONGTYPE reply. */
function hashForRead(ks: Keyspace, db: number, key: Buffer, now: number): KeyRef | null | typeof WRONGTYPE {
  const r = ks.lookup(db, key, now);
  if (r === null) return null;
  return r.meta!.type === T_HASH ? r : WRONGTYPE;
}

function hget(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 3) return arityError('hget');
  const r = hashForRead(ks, db, argv[1], now);
  if (r === null || r === WRONGTYPE) return r;
  return getField(ks, r as KeyRef, argv[2]) ?? null;
}

function hmget(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length < 3) return arityError('hmget');
  const r = hashForRead(ks, db, argv[1], now);
  if (r === WRONGTYPE) return r;
  const out: Array<Buffer | null> = [];
  for (let i = 2; i < argv.length; i++) out.push(r === null ? null : getField(ks, r as KeyRef, argv[i]) ?? null);
  return out;
}

function hlen(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 2) return arityError('hlen');
  const r = hashForRead(ks, db, argv[1], now);
  if (r === null || r === WRONGTYPE) return r ?? 0;
  const m = (r as KeyRef).meta!;
  return m.version === 0 ? (m.value as Buffer[]).length / 2 : m.count;
}

function hexists(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 3) return arityError('hexists');
  const r = hashForRead(ks, db, argv[1], now);
  if (r === null || r === WRONGTYPE) return r ?? 0;
  return getField(ks, r as KeyRef, argv[2]) === undefined ? 0 : 1;
}

function hstrlen(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 3) return arityError('hstrlen');
  const r = hashForRead(ks, db, argv[1], now);
  if (r === null || r === WRONGTYPE) return r ?? 0;
  return getField(ks, r as KeyRef, argv[2])?.length ?? 0;
}

/** HGETALL / HKEYS / HVALS: which = 3 both, 1 fields, 2 values. */
function hdump(name: string, which: number) {
  return (ks: Keyspace, db: number, argv: Buffer[], now: number): unknown => {
    if (argv.length !== 2) return arityError(name);
    const r = hashForRead(ks, db, argv[1], now);
    if (r === null) return [];
    if (r === WRONGTYPE) return r;
    const ref = r as KeyRef;
    const m = ref.meta!;
    if (m.version === 0) {
      const a = m.value as Buffer[];
      if (which === 3) return a.slice();
      return a.filter((_, i) => (i & 1) === (which === 1 ? 0 : 1));
    }
    return (async () => {
      const out: Buffer[] = [];
      for await (const [f, v] of ks.members(ref)) {
        if (which & 1) out.push(f);
        if (which & 2) out.push(v);
      }
      return out;
    })();
  };
}

export const hashReads: ReadTable = {
  hget, hmget, hlen, hexists, hstrlen,
  hgetall: hdump('hgetall', 3), hkeys: hdump('hkeys', 1), hvals: hdump('hvals', 2),
};
