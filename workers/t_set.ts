/**
 * Set commands. Writes: SADD, SREM. Reads: SMEMBERS, SCARD, SISMEMBER, SMISMEMBER.
 *
 * Layout: inline while ≤ INLINE_MAX_ENTRIES members each ≤ INLINE_MAX_BYTES: meta.value = Buffer[]
 * (insertion order). Beyond that, per-member: part = member, value = empty, meta.count = size.
 * A set left empty is deleted. (Redis 7.0 uses an intset or a hashtable; member order in SMEMBERS
 * is unspecified there as here.)
 */
import {
  Keyspace, KeyRef, T_SET, WriteTable, ReadTable, WRONGTYPE, arityError, INLINE_MAX_ENTRIES,
  INLINE_MAX_BYTES, EMPTY,
  sameBytes,
} from './keyspace.js';

function indexOf(a: Buffer[], x: Buffer): number {
  for (let i = 0; i < a.length; i++) if (sameBytes(a[i], x)) return i;
  return -1;
}

function has(ks: Keyspace, r: KeyRef, x: Buffer): boolean {
  const m = r.meta!;
  return m.version === 0 ? indexOf(m.value as Buffer[], x) >= 0 : ks.getMember(r, x) !== undefined;
}

function sadd(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length < 3) return ks.fail(arityError('sadd').error);
  const r = ks.ref(db, argv[1]);
  if (r.meta !== null && r.meta.type !== T_SET) return ks.fail(WRONGTYPE.error);
  const m = r.meta ?? ks.create(r, T_SET, []);
  let changed = false;
  for (let i = 2; i < argv.length; i++) {
    const x = argv[i];
    if (m.version === 0) {
      const a = m.value as Buffer[];
      if (indexOf(a, x) >= 0) continue;
      a.push(x);
      changed = true;
      if (a.length > INLINE_MAX_ENTRIES || x.length > INLINE_MAX_BYTES) {
        ks.toPerMember(r);
        for (const y of a) ks.putMember(r, y, EMPTY);
        m.count = a.length;
      }
    } else if (ks.getMember(r, x) === undefined) {
      ks.putMember(r, x, EMPTY);
      m.count++;
      changed = true;
    }
  }
  if (changed) ks.dirty(r);
}

function srem(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length < 3) return ks.fail(arityError('srem').error);
  const r = ks.ref(db, argv[1]);
  const m = r.meta;
  if (m === null) return;
  if (m.type !== T_SET) return ks.fail(WRONGTYPE.error);
  let changed = false;
  for (let i = 2; i < argv.length; i++) {
    if (m.version === 0) {
      const a = m.value as Buffer[];
      const j = indexOf(a, argv[i]);
      if (j >= 0) { a.splice(j, 1); changed = true; }
    } else if (ks.getMember(r, argv[i]) !== undefined) {
      ks.delMember(r, argv[i]);
      m.count--;
      changed = true;
    }
  }
  if (m.version === 0 ? (m.value as Buffer[]).length === 0 : m.count === 0) return ks.del(r);
  if (changed) ks.dirty(r);
}

export const setWrites: WriteTable = { sadd, srem };

// ----- reads ----------------------------------------------------------------------------------------

function setForRead(ks: Keyspace, db: number, key: Buffer, now: number): KeyRef | null | typeof WRONGTYPE {
  const r = ks.lookup(db, key, now);
  if (r === null) return null;
  return r.meta!.type === T_SET ? r : WRONGTYPE;
}

function smembers(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 2) return arityError('smembers');
  const r = setForRead(ks, db, argv[1], now);
  if (r === null) return [];
  if (r === WRONGTYPE) return r;
  const ref = r as KeyRef;
  if (ref.meta!.version === 0) return (ref.meta!.value as Buffer[]).slice();
  return (async () => {
    const out: Buffer[] = [];
    for await (const [x] of ks.members(ref)) out.push(x);
    return out;
  })();
}

function scard(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 2) return arityError('scard');
  const r = setForRead(ks, db, argv[1], now);
  if (r === null || r === WRONGTYPE) return r ?? 0;
  const m = (r as KeyRef).meta!;
  return m.version === 0 ? (m.value as Buffer[]).length : m.count;
}

function sismember(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 3) return arityError('sismember');
  const r = setForRead(ks, db, argv[1], now);
  if (r === null || r === WRONGTYPE) return r ?? 0;
  return has(ks, r as KeyRef, argv[2]) ? 1 : 0;
}

function smismember(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length < 3) return arityError('smismember');
  const r = setForRead(ks, db, argv[1], now);
  if (r === WRONGTYPE) return r;
  const out: number[] = [];
  for (let i = 2; i < argv.length; i++) out.push(r !== null && has(ks, r as KeyRef, argv[i]) ? 1 : 0);
  return out;
}

export const setReads: ReadTable = { smembers, scard, sismember, smismember };
