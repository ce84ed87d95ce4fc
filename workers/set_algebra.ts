/**
 * Set algebra.
 *
 *  - setStoreCompute: SINTERSTORE / SUNIONSTORE / SDIFFSTORE as pure computation on Portable values.
 *    The source keys may live on other shards, so the caller gathers their values (master semantics:
 *    null = no such key) and writes the result to the destination (null = delete the destination).
 *  - Client reads over keys of this shard: SINTER, SUNION, SDIFF, SINTERCARD numkeys key… [LIMIT n].
 *
 * Semantics follow Redis 7.0 (t_set.c, observed on 7.0.15):
 *  - every existing source must be a set, checked over all keys before anything is computed
 *    ("WRONGTYPE Operation against a key holding the wrong kind of value"), even when an earlier
 *    key is missing; a missing key is an empty set;
 *  - SINTER: empty as soon as one source is missing or empty; SDIFF: members of the first source
 *    found in none of the others; SUNION: every member once;
 *  - SINTERCARD validates in this order: numkeys ("ERR numkeys should be greater than 0", also for
 *    a non-integer), "ERR Number of keys can't be greater than number of args", options (LIMIT with
 *    a negative or non-integer value: "ERR LIMIT can't be negative", anything else
 *    "ERR syntax error"), then the key types. LIMIT 0 means no limit.
 * Member order in replies is unspecified (as in Redis, whose order depends on the encoding).
 */
import { Keyspace, ReadTable, T_SET, WRONGTYPE, arityError } from './keyspace.js';
import { readPortable, type Portable } from './portable.js';
import { parseI64 } from '../src/util/numbers.js';
import { then, type MaybePromise } from './sync_or_async.js';

export type SetOp = 'inter' | 'union' | 'diff';

const SYNTAX = Object.freeze({ error: 'ERR syntax error' });
const NUMKEYS = Object.freeze({ error: 'ERR numkeys should be greater than 0' });
const TOO_MANY_KEYS = Object.freeze({ error: "ERR Number of keys can't be greater than number of args" });
const LIMIT_NEG = Object.freeze({ error: "ERR LIMIT can't be negative" });

/** Map key for a member: latin1 is a 1:1 image of the bytes. */
const mkey = (b: Buffer): string => b.toString('latin1');

/** All elements of Promise-or-value items, as a value when none had to wait. */
export function allOf<T>(xs: Array<MaybePromise<T>>): MaybePromise<T[]> {
  for (const x of xs) if (x instanceof Promise) return Promise.all(xs);
  return xs as T[];
}

/**
 * The members of op over the sources (null = missing = empty). With `countLimit` ≥ 0 only the size
 * is wanted (SINTERCARD; 0 = no limit) and a number comes back.
 */
function combine(op: SetOp, srcs: Array<Buffer[] | null>, countLimit = -1): Buffer[] | number {
  const countOnly = countLimit >= 0;
  const out: Buffer[] = [];
  let count = 0;
  if (op === 'inter') {
    for (const s of srcs) if (s === null || s.length === 0) return countOnly ? 0 : out;
    const order = (srcs as Buffer[][]).slice().sort((a, b) => a.length - b.length);
    const others: Array<Set<string>> = [];
    for (let j = 1; j < order.length; j++) {
      if (order[j] === order[0]) continue;   // the same value twice adds no constraint
      const s = new Set<string>();
      for (const m of order[j]) s.add(mkey(m));
      others.push(s);
    }
    outer: for (const m of order[0]) {   // a set's members are distinct
      const k = mkey(m);
      for (const s of others) if (!s.has(k)) continue outer;
      if (countOnly) {
        if (++count === countLimit) break;
      } else out.push(m);
    }
    return countOnly ? count : out;
  }
  if (op === 'union') {
    const seen = new Set<string>();
    for (const s of srcs) {
      if (s === null) continue;
      for (const m of s) {
        const k = mkey(m);
        if (!seen.has(k)) { seen.add(k); out.push(m); }
      }
    }
    return countOnly ? out.length : out;
  }
  const first = srcs[0];
  if (first === null || first.length === 0) return countOnly ? 0 : out;
  const removed = new Set<string>();
  for (let j = 1; j < srcs.length; j++) {
    const s = srcs[j];
    if (s === null) continue;
    if (s === first) return countOnly ? 0 : out;   // SDIFF k k …: nothing is left
    for (const m of s) removed.add(mkey(m));
  }
  for (const m of first) {
    const k = mkey(m);
    if (!removed.has(k)) { removed.add(k); out.push(m); }
  }
  return countOnly ? out.length : out;
}

/**
 * SINTERSTORE / SUNIONSTORE / SDIFFSTORE: the destination's new value from the sources' values
 * (srcs[i] = value of the i-th source key, null when missing). Returns null when the result is
 * empty (Redis deletes the destination) and WRONGTYPE when an existing source is not a set.
 */
export function setStoreCompute(op: SetOp, srcs: Array<Portable | null>): Portable | null | { error: string } {
  const items: Array<Buffer[] | null> = new Array(srcs.length);
  for (let i = 0; i < srcs.length; i++) {
    const p = srcs[i];
    if (p !== null && p.type !== T_SET) return WRONGTYPE;
    items[i] = p === null ? null : p.items!;
  }
  const r = combine(op, items) as Buffer[];
  return r.length === 0 ? null : { type: T_SET, expireMs: -1, items: r };
}

// ----- client reads ---------------------------------------------------------------------------------

/**
 * The members of each key for a read (expired keys hidden; null = missing), or WRONGTYPE when an
 * existing key is not a set. `skipIfMissing`: SINTER needs no values once a key is missing.
 */
function gather(ks: Keyspace, db: number, keys: Buffer[], now: number, skipIfMissing: boolean):
  MaybePromise<Array<Buffer[] | null>> | typeof WRONGTYPE {
  const present: boolean[] = new Array(keys.length);
  let missing = false;
  for (let i = 0; i < keys.length; i++) {
    const r = ks.lookup(db, keys[i], now);
    if (r !== null && r.meta!.type !== T_SET) return WRONGTYPE;
    present[i] = r !== null;
    if (r === null) missing = true;
  }
  if (missing && skipIfMissing) return keys.map(() => null);
  const vals: Array<MaybePromise<Portable | null>> = keys.map((k, i) => (present[i] ? readPortable(ks, db, k) : null));
  return then(allOf(vals), (ps) => ps.map((p) => (p === null ? null : p.items!)));
}

function setOpRead(op: SetOp, name: string) {
  return (ks: Keyspace, db: number, argv: Buffer[], now: number): unknown => {
    if (argv.length < 2) return arityError(name);
    const g = gather(ks, db, argv.slice(1), now, op === 'inter');
    if (g === WRONGTYPE) return g;
    return then(g as MaybePromise<Array<Buffer[] | null>>, (srcs) => combine(op, srcs));
  };
}

/** SINTERCARD numkeys key [key …] [LIMIT limit] */
function sintercard(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length < 3) return arityError('sintercard');
  const nk = parseI64(argv[1]);
  if (nk === null || nk < 1) return NUMKEYS;
  if (nk > argv.length - 2) return TOO_MANY_KEYS;
  const n = Number(nk);
  let limit = 0;
  for (let j = 2 + n; j < argv.length; j++) {
    if (argv[j].length === 5 && argv[j].toString('latin1').toLowerCase() === 'limit' && j + 1 < argv.length) {
      const v = parseI64(argv[++j]);
      if (v === null || v < 0) return LIMIT_NEG;
      limit = Number(v);
    } else return SYNTAX;
  }
  const g = gather(ks, db, argv.slice(2, 2 + n), now, true);
  if (g === WRONGTYPE) return g;
  return then(g as MaybePromise<Array<Buffer[] | null>>, (srcs) => combine('inter', srcs, limit));
}

export const setAlgebraReads: ReadTable = {
  sinter: setOpRead('inter', 'sinter'),
  sunion: setOpRead('union', 'sunion'),
  sdiff: setOpRead('diff', 'sdiff'),
  sintercard,
};
