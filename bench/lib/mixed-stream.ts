/**
 * A seeded generator of a mixed Redis 7 replication stream for the mixed replay bench: the bytes a
 * master propagates (spec section 4: RESP arrays of bulk strings, SELECT only when the db changes,
 * MULTI … EXEC around 2+ commands, absolute PEXPIREAT) for a workload of every type:
 *   strings  SET / APPEND / SETBIT on `s:<k>`, SET / INCR on counters `n:<k>`
 *   hashes   HSET (fields f*) / HINCRBY (fields c*, never written by HSET) on `h:<k>`
 *   lists    LPUSH / RPUSH / LPOP [count] on `l:<k>`;  sets SADD / SREM on `S:<k>`
 *   zsets    ZADD / ZINCRBY / ZREM on `zs:<k>`;        any type: PEXPIREAT (far future), DEL
 * plus, for a `cross` fraction of commands, moving/combining ones: RENAME, SMOVE, LMOVE, RPOPLPUSH,
 * SUNIONSTORE, SINTERSTORE, ZUNIONSTORE, ZINTERSTORE, COPY [DB d] [REPLACE], BITOP; and FLUSHALL every
 * `flushEvery` commands. One key in 8 carries a hash tag `{g<group>}`; cross commands draw their keys
 * independently (mostly different shards) except one in 5, which takes keys of one tag group.
 *
 * A light model (per db: key → type, length or member ids) keeps every command valid on a real Redis
 * and effective, as a master would propagate it: RENAME/COPY/LPOP/SREM/ZREM/SMOVE/LMOVE/PEXPIREAT/DEL
 * only touch keys (members) that exist, a type prefix always holds its type, a store command whose
 * result is empty is only emitted when it deletes an existing destination. Its per-db key counts are
 * the DBSIZEs both replicas must end with.
 */
import { createHash } from 'node:crypto';
import { XorShift32 } from './zadd-stream.js';
import { shardOfKey } from '../../src/router/slot.js';

export interface MixedSpec {
  /** Commands in the stream, every RESP array counted (SELECT, MULTI, EXEC and FLUSHALL too). */
  commands: number;
  keys: number;
  seed: number;
  /** Fraction of moving/combining commands among the keyed ones (default 0.05). */
  cross?: number;
  /** FLUSHALL every this many commands; 0: never (default 100000). */
  flushEvery?: number;
  /** Databases used, 0..dbs-1 (default 4). */
  dbs?: number;
  /** When given, cross commands whose keys map to 2+ of this many shards are counted (crossSpanning). */
  shards?: number;
}

export interface MixedStream {
  bytes: Buffer;
  commands: number;
  keys: number;
  seed: number;
  dbs: number;
  sha1: string;
  /** Commands by name (upper case). */
  counts: Record<string, number>;
  crossCommands: number;
  crossSpanning: number | null;
  /** Keys each db must hold at the end (the model's). */
  dbsizes: number[];
  /** A zset key name for the read probe (ZCARD). */
  zsetKey(k: number): string;
}

const enum T { Str, Num, Hash, List, Set, Zset }
const PREFIX = ['s:', 'n:', 'h:', 'l:', 'S:', 'zs:'];
const TYPES = 6;
const HOT = 32;
/** Far future (2100-01-01T00:00:00Z): no key expires while the bench runs, so the bytes are fixed. */
const EXPIRE_BASE = 4102444800000;

interface Entry { t: T; n: number; m: Set<number> | null }

/** Growable output buffer of RESP commands (all arguments are latin1: 1 byte per char). */
class Out {
  buf: Buffer;
  pos = 0;
  count = 0;
  readonly counts: Record<string, number> = Object.create(null) as Record<string, number>;
  constructor(expectBytes: number) { this.buf = Buffer.allocUnsafe(Math.max(1 << 16, expectBytes)); }
  cmd(args: string[]): void {
    let need = 16;
    for (const a of args) need += a.length + 16;
    if (this.pos + need > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + need));
      this.buf.copy(next, 0, 0, this.pos);
      this.buf = next;
    }
    const b = this.buf;
    this.pos += b.write(`*${args.length}\r\n`, this.pos, 'latin1');
    for (const a of args) {
      this.pos += b.write(`$${a.length}\r\n`, this.pos, 'latin1');
      this.pos += b.write(a, this.pos, 'latin1');
      b[this.pos++] = 13;
      b[this.pos++] = 10;
    }
    this.count++;
    this.counts[args[0]] = (this.counts[args[0]] ?? 0) + 1;
  }
}

export function generateMixedStream(spec: MixedSpec): MixedStream {
  const { commands, keys, seed } = spec;
  const cross = spec.cross ?? 0.05;
  const flushEvery = spec.flushEvery ?? 100_000;
  const dbs = spec.dbs ?? 4;
  if (!Number.isSafeInteger(commands) || commands < 1) throw new Error(`--commands must be a positive integer, got ${commands}`);
  if (!Number.isSafeInteger(keys) || keys < 16) throw new Error(`--keys must be an integer ≥ 16, got ${keys}`);
  if (!(cross >= 0 && cross <= 1)) throw new Error(`--cross must be in [0, 1], got ${cross}`);
  if (!Number.isSafeInteger(flushEvery) || flushEvery < 0) throw new Error(`--flush-every must be ≥ 0, got ${flushEvery}`);
  if (!Number.isSafeInteger(dbs) || dbs < 1 || dbs > 16) throw new Error(`dbs must be in 1..16, got ${dbs}`);

  const rng = new XorShift32(seed);
  const below = (n: number): number => rng.below(n);
  const chance = (p: number): boolean => rng.next() < p * 4294967296;
  const out = new Out(commands * 52);   // ~48 bytes a command on average
  const model: Map<string, Entry>[] = Array.from({ length: dbs }, () => new Map());
  const groups = Math.max(1, Math.floor(keys / 64));
  const tagged = Math.ceil(keys / 8);
  const names: string[][] = Array.from({ length: TYPES }, () => new Array<string>(keys));
  const name = (t: T, k: number): string =>
    (names[t][k] ??= k % 8 === 0 ? `{g${(k >> 3) % groups}}${PREFIX[t]}${k}` : `${PREFIX[t]}${k}`);
  const pick = (): number => (chance(0.1) ? below(HOT) : below(keys));
  /** A tagged key of group g: index 8·i with i ≡ g (mod groups). */
  const inGroup = (g: number): number => 8 * (g + groups * below(Math.max(1, Math.ceil((tagged - g) / groups))));
  const memberRange = (k: number): number => (k < HOT ? 2000 : 40);
  const val = (): string => {
    let s = 'v' + rng.next().toString(36);
    for (let i = below(3); i > 0; i--) s += rng.next().toString(36);
    return s;
  };
  const memberSet = (m: number): string => (m < 20 ? String(m) : `m${m}`);
  const memberZ = (m: number): string => `z${m}`;
  const score = (): string => {
    const r = below(10);
    return r < 5 ? String(below(1000)) : r < 8 ? `${below(1000)}.${below(100)}` : r < 9 ? `-${below(100)}.25` : `${below(10)}e${below(4)}`;
  };

  let curDb = -1;
  let crossCommands = 0;
  let spanning = 0;
  const shards = spec.shards ?? 0;
  const emit = (db: number, args: string[]): void => {
    if (db !== curDb) { out.cmd(['SELECT', String(db)]); curDb = db; }
    out.cmd(args);
  };
  const emitCross = (db: number, args: string[], keyNames: string[]): void => {
    emit(db, args);
    crossCommands++;
    if (shards > 1) {
      const s0 = shardOfKey(Buffer.from(keyNames[0], 'latin1'), shards);
      if (keyNames.some((k) => shardOfKey(Buffer.from(k, 'latin1'), shards) !== s0)) spanning++;
    }
  };
  const get = (db: number, t: T, k: number): Entry | undefined => {
    const e = model[db].get(name(t, k));
    return e !== undefined && e.t === t ? e : undefined;
  };
  const ensure = (db: number, t: T, k: number): Entry => {
    const key = name(t, k);
    let e = model[db].get(key);
    if (e === undefined) { e = { t, n: 0, m: t === T.Set || t === T.Zset ? new Set() : null }; model[db].set(key, e); }
    return e;
  };
  /** An existing key of type t (8 draws; in group g when g ≥ 0), or -1. */
  const existing = (db: number, t: T, g = -1): number => {
    for (let i = 0; i < 8; i++) {
      const k = g >= 0 ? inGroup(g) : pick();
      if (model[db].has(name(t, k))) return k;
    }
    return -1;
  };
  const anyMember = (s: Set<number>): number => {
    let i = below(s.size);
    for (const m of s) if (i-- === 0) return m;
    return -1;
  };
  const shrink = (db: number, t: T, k: number, e: Entry): void => {
    if ((e.m !== null ? e.m.size : e.n) === 0) model[db].delete(name(t, k));
  };

  /** One effective single-key command; always emits exactly one command. */
  const single = (db: number): void => {
    const r = below(100);
    const t: T = r < 22 ? T.Str : r < 30 ? T.Num : r < 44 ? T.Hash : r < 58 ? T.List : r < 72 ? T.Set : r < 90 ? T.Zset : (below(TYPES) as T);
    if (r >= 90) {   // PEXPIREAT or DEL of an existing key of any type
      const k = existing(db, t);
      if (k >= 0) {
        if (r < 96) { emit(db, ['PEXPIREAT', name(t, k), String(EXPIRE_BASE + below(1e9))]); return; }
        emit(db, ['DEL', name(t, k)]); model[db].delete(name(t, k)); return;
      }
    }
    const k = pick();
    const key = name(t, k);
    const e = get(db, t, k);
    const v = below(10);
    switch (t) {
      case T.Str:
        if (v < 4 || (e !== undefined && e.n > 200)) { const s = val(); emit(db, ['SET', key, s]); ensure(db, t, k).n = s.length; }
        else if (v < 7) { const s = val(); emit(db, ['APPEND', key, s]); ensure(db, t, k).n += s.length; }
        else {
          const off = below(2048);
          emit(db, ['SETBIT', key, String(off), String(below(2))]);
          const x = ensure(db, t, k); x.n = Math.max(x.n, (off >> 3) + 1);
        }
        return;
      case T.Num:
        emit(db, v < 3 ? ['SET', key, String(below(1e6))] : ['INCR', key]);
        ensure(db, t, k);
        return;
      case T.Hash: {
        const fields = k < HOT ? 500 : 16;
        if (v < 6) {
          const args = ['HSET', key];
          for (let i = 1 + below(2); i > 0; i--) args.push(`f${below(fields)}`, val());
          emit(db, args);
        } else emit(db, ['HINCRBY', key, `c${below(4)}`, String(below(11) - 5)]);
        ensure(db, t, k);
        return;
      }
      case T.List:
        if (e !== undefined && (v < 3 || e.n > (k < HOT ? 2000 : 64))) {
          const count = chance(0.2) ? 1 + below(3) : 0;
          emit(db, count ? ['LPOP', key, String(count)] : ['LPOP', key]);
          e.n -= Math.min(e.n, count || 1);
          shrink(db, t, k, e);
        } else {
          const args = [v < 7 ? 'LPUSH' : 'RPUSH', key];
          for (let i = 1 + below(3); i > 0; i--) args.push(`e${below(1e6)}`);
          emit(db, args);
          ensure(db, t, k).n += args.length - 2;
        }
        return;
      case T.Set:
      case T.Zset: {
        const isSet = t === T.Set;
        const mem = isSet ? memberSet : memberZ;
        if (e !== undefined && v < 2) {
          const m = anyMember(e.m!);
          emit(db, [isSet ? 'SREM' : 'ZREM', key, mem(m)]);
          e.m!.delete(m);
          shrink(db, t, k, e);
        } else if (!isSet && v < 4) {
          const m = below(memberRange(k));
          emit(db, ['ZINCRBY', key, below(2) ? `${below(10)}.5` : '-1', mem(m)]);
          ensure(db, t, k).m!.add(m);
        } else {
          const args = [isSet ? 'SADD' : 'ZADD', key];
          const x = ensure(db, t, k);
          for (let i = 1 + below(3); i > 0; i--) {
            const m = below(memberRange(k));
            if (isSet) args.push(mem(m)); else args.push(score(), mem(m));
            x.m!.add(m);
          }
          emit(db, args);
        }
        return;
      }
    }
  };

  /** One moving/combining command; false when the drawn keys allow none (the caller emits a single). */
  const moving = (db: number): boolean => {
    const g = chance(0.2) ? below(groups) : -1;          // one tag group, or independent keys
    const other = (): number => (g >= 0 ? inGroup(g) : pick());
    const r = below(10);
    if (r < 2) {                                          // RENAME / COPY of any type
      const t = below(TYPES) as T;
      const src = existing(db, t, g);
      const dst = other();
      if (src < 0 || dst === src) return false;
      const e = model[db].get(name(t, src))!;
      if (r === 0) {
        emitCross(db, ['RENAME', name(t, src), name(t, dst)], [name(t, src), name(t, dst)]);
        model[db].delete(name(t, src));
        model[db].set(name(t, dst), e);
        return true;
      }
      const toDb = chance(0.25) ? below(dbs) : db;
      if (toDb === db && dst === src) return false;
      const args = ['COPY', name(t, src), name(t, dst)];
      if (toDb !== db) args.push('DB', String(toDb));
      if (model[toDb].has(name(t, dst)) || chance(0.3)) args.push('REPLACE');
      emitCross(db, args, [name(t, src), name(t, dst)]);
      model[toDb].set(name(t, dst), { t, n: e.n, m: e.m === null ? null : new Set(e.m) });
      return true;
    }
    if (r < 5) {                                          // SMOVE / LMOVE / RPOPLPUSH
      const t = r === 2 ? T.Set : T.List;
      const src = existing(db, t, g);
      const dst = other();
      if (src < 0 || dst === src) return false;
      const es = model[db].get(name(t, src))!;
      const [a, b] = [name(t, src), name(t, dst)];
      if (t === T.Set) {
        const m = anyMember(es.m!);
        emitCross(db, ['SMOVE', a, b, memberSet(m)], [a, b]);
        es.m!.delete(m);
        ensure(db, t, dst).m!.add(m);
      } else {
        const side = (): string => (below(2) ? 'LEFT' : 'RIGHT');
        emitCross(db, r === 3 ? ['LMOVE', a, b, side(), side()] : ['RPOPLPUSH', a, b], [a, b]);
        es.n--;
        ensure(db, t, dst).n++;
      }
      shrink(db, t, src, es);
      return true;
    }
    // Store commands: the first source exists; result computed from the model (member ids).
    const t = r < 7 ? T.Set : r < 9 ? T.Zset : T.Str;
    const first = existing(db, t, g);
    if (first < 0) return false;
    const srcs = [first];
    for (let i = t === T.Str && chance(0.25) ? 0 : 1 + below(2); i > 0; i--) srcs.push(other());
    const dst = other();
    const sn = srcs.map((k) => name(t, k));
    const dn = name(t, dst);
    const dstExists = model[db].has(dn);
    const entries = srcs.map((k) => get(db, t, k));
    let args: string[];
    let result: Entry | null;
    if (t === T.Str) {
      const op = srcs.length === 1 ? 'NOT' : ['AND', 'OR', 'XOR'][below(3)];
      args = ['BITOP', op, dn, ...sn];
      const n = Math.max(...entries.map((e) => e?.n ?? 0));
      result = n > 0 ? { t, n, m: null } : null;
    } else {
      const union = r === 5 || r === 7;
      let m: Set<number>;
      if (union) { m = new Set(); for (const e of entries) if (e) for (const x of e.m!) m.add(x); }
      else if (entries.every((e) => e !== undefined)) {
        const [e0, ...rest] = entries as Entry[];
        m = new Set([...e0.m!].filter((x) => rest.every((e) => e.m!.has(x))));
      } else m = new Set();
      result = m.size > 0 ? { t, n: 0, m } : null;
      if (t === T.Set) args = [union ? 'SUNIONSTORE' : 'SINTERSTORE', dn, ...sn];
      else {
        args = [union ? 'ZUNIONSTORE' : 'ZINTERSTORE', dn, String(sn.length), ...sn];
        if (chance(0.3)) args.push('WEIGHTS', ...sn.map(() => ['1', '2', '0.5', '-1'][below(4)]));
        if (chance(0.3)) args.push('AGGREGATE', ['SUM', 'MIN', 'MAX'][below(3)]);
      }
    }
    if (result === null && !dstExists) return false;      // a master propagates nothing for that
    emitCross(db, args, [dn, ...sn]);
    if (result === null) model[db].delete(dn); else model[db].set(dn, result);
    return true;
  };

  /**
   * A moving command with probability `cross`, else a single. When the drawn keys allow no moving
   * command it stays owed and is tried again at the next commands, so the share stays `cross`.
   */
  let owed = 0;
  const command = (db: number): void => {
    if (chance(cross)) owed++;
    if (owed > 0 && moving(db)) { owed--; return; }
    single(db);
  };
  let db = 0;
  const nextDb = (): number => (chance(0.02) ? (db = chance(0.5) ? 0 : below(dbs)) : db);
  let nextFlush = flushEvery > 0 ? flushEvery : Infinity;
  while (out.count < commands) {
    if (out.count >= nextFlush) {
      out.cmd(['FLUSHALL']);
      for (const m of model) m.clear();
      nextFlush += flushEvery;
      continue;
    }
    if (chance(0.03) && commands - out.count >= 8) {    // MULTI, 2-4 commands (maybe across dbs), EXEC
      const first = nextDb();
      if (first !== curDb) { out.cmd(['SELECT', String(first)]); curDb = first; }
      out.cmd(['MULTI']);
      for (let i = 0, n = 2 + below(3); i < n; i++) command(i > 0 && chance(0.1) ? (db = below(dbs)) : db);
      out.cmd(['EXEC']);
    } else command(nextDb());
  }
  const bytes = Buffer.from(out.buf.subarray(0, out.pos));
  return {
    bytes, commands: out.count, keys, seed, dbs, sha1: createHash('sha1').update(bytes).digest('hex'),
    counts: out.counts, crossCommands, crossSpanning: shards > 1 ? spanning : null,
    dbsizes: model.map((m) => m.size), zsetKey: (k: number) => name(T.Zset, k),
  };
}
