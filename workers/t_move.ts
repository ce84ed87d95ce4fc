/**
 * Commands that move a value or an element from one key to another: RENAME, RENAMENX, COPY, MOVE,
 * SMOVE, LMOVE, RPOPLPUSH. Except MOVE (one key, two dbs: always one shard), their two keys may live
 * on different shards: each is a CombineSpec (combine.ts) whose take() runs where the source key lives.
 *
 * The master propagates these only when they succeeded, so a source shard applies its side effect
 * (delete, remove member, pop) without asking the destination: on a consistent replica the
 * destination's checks pass too.
 */
import type { Keyspace } from './keyspace-core.js';
import type { ShardStore } from './shard-store.js';
import type { WriteTable } from './command-api.js';
import { arityError, ERR_SYNTAX, ERR_NOT_INT } from './command-api.js';
import { T_LIST, T_SET } from './meta.js';
import { readPortable, writePortable, type Portable } from './portable.js';
import { combineHandler, type CombineSpec } from './combine.js';
import { parseI64 } from '../src/util/numbers.js';
import type { MaybePromise } from './sync_or_async.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const W = { sismember: B('sismember'), srem: B('srem'), sadd: B('sadd'), lindex: B('lindex'), lpop: B('lpop'), rpop: B('rpop'),
  lpush: B('lpush'), rpush: B('rpush'), zero: B('0'), minus1: B('-1') };
/** Reads for the master's commands never hide a key whose TTL has passed. */
const NEVER = -1;
const ERR_SAME = 'ERR source and destination objects are the same';
const ERR_DB = 'ERR DB index is out of range';
const ERR_NO_KEY = 'ERR no such key';

const st = (ks: Keyspace): ShardStore => ks as ShardStore;
const lc = (b: Buffer): string => b.toString('latin1').toLowerCase();

function dbIndex(b: Buffer): number | null {
  const v = parseI64(b);
  return v === null || typeof v === 'bigint' || v < 0 || v > 0xfffe ? null : v;
}

/** Take for RENAME / RENAMENX: the whole value, and the source key is deleted. */
function takeAndDelete(ks: Keyspace, db: number, argv: Buffer[], i: number): MaybePromise<Portable | null> {
  const done = (v: Portable | null): Portable | null => {
    if (v !== null) ks.del(ks.ref(db, argv[i]));
    return v;
  };
  const v = readPortable(ks, db, argv[i]);
  return v instanceof Promise ? v.then(done) : done(v);
}

const rename: CombineSpec = {
  take: takeAndDelete,
  apply(ks, db, argv, view) {
    if (argv.length !== 3) return ks.fail(arityError(lc(argv[0])).error);
    const write = (v: Portable | null): MaybePromise<void> => (v === null ? ks.fail(ERR_NO_KEY) : writePortable(ks, db, argv[2], v));
    const v = view.get(db, argv[1]);
    return v instanceof Promise ? v.then(write) : write(v);
  },
};

// COPY source destination [DB destination-db] [REPLACE]
const copy: CombineSpec = {
  apply(ks, db, argv, view) {
    let destDb = db, replace = false;
    for (let i = 3; i < argv.length; i++) {
      const o = lc(argv[i]);
      if (o === 'replace') replace = true;
      else if (o === 'db' && i + 1 < argv.length) {
        const d = dbIndex(argv[++i]);
        if (d === null) return ks.fail(ERR_DB);
        destDb = d;
      } else return ks.fail(ERR_SYNTAX);
    }
    if (destDb === db && argv[1].equals(argv[2])) return ks.fail(ERR_SAME);
    const write = (v: Portable | null): MaybePromise<void> => {
      if (v === null) return;
      if (!replace && ks.lookup(destDb, argv[2], NEVER) !== null) return;
      return writePortable(ks, destDb, argv[2], v);
    };
    const v = view.get(db, argv[1]);
    return v instanceof Promise ? v.then(write) : write(v);
  },
};

// SMOVE source destination member
const smove: CombineSpec = {
  take(ks, db, argv, i) {
    if (argv.length !== 4) return null;
    if (st(ks).read(db, [W.sismember, argv[i], argv[3]], NEVER) !== 1) return null;
    st(ks).applyWrite(db, [W.srem, argv[i], argv[3]]);
    return { type: T_SET, expireMs: -1, items: [argv[3]] };
  },
  apply(ks, db, argv, view) {
    if (argv.length !== 4) return ks.fail(arityError('smove').error);
    const add = (v: Portable | null): MaybePromise<void> => (v === null ? undefined : st(ks).applyWrite(db, [W.sadd, argv[2], argv[3]]));
    const v = view.get(db, argv[1]);
    return v instanceof Promise ? v.then(add) : add(v);
  },
};

/** LMOVE src dst LEFT|RIGHT LEFT|RIGHT; RPOPLPUSH src dst = LMOVE src dst RIGHT LEFT. */
function lmoveEnds(argv: Buffer[]): [boolean, boolean] | null {
  if (lc(argv[0]) === 'rpoplpush') return argv.length === 3 ? [false, true] : null;
  if (argv.length !== 5) return null;
  const f = lc(argv[3]), t = lc(argv[4]);
  if ((f !== 'left' && f !== 'right') || (t !== 'left' && t !== 'right')) return null;
  return [f === 'left', t === 'left'];
}

const lmove: CombineSpec = {
  take(ks, db, argv, i) {
    const ends = lmoveEnds(argv);
    if (ends === null) return null;
    const popped = (el: unknown): MaybePromise<Portable | null> => {
      if (!Buffer.isBuffer(el)) return null;   // missing key (or not a list: the master would not send it)
      const p: Portable = { type: T_LIST, expireMs: -1, items: [Buffer.from(el)] };
      const r = st(ks).applyWrite(db, [ends[0] ? W.lpop : W.rpop, argv[i]]);
      return r instanceof Promise ? r.then(() => p) : p;
    };
    const el = st(ks).read(db, [W.lindex, argv[i], ends[0] ? W.zero : W.minus1], NEVER);
    return el instanceof Promise ? el.then(popped) : popped(el);
  },
  apply(ks, db, argv, view) {
    const ends = lmoveEnds(argv);
    if (ends === null) return ks.fail(argv.length === 5 ? ERR_SYNTAX : arityError(lc(argv[0])).error);
    const push = (v: Portable | null): MaybePromise<void> =>
      (v === null ? undefined : st(ks).applyWrite(db, [ends[1] ? W.lpush : W.rpush, argv[2], v.items![0]]));
    const v = view.get(db, argv[1]);
    return v instanceof Promise ? v.then(push) : push(v);
  },
};

// MOVE key db: same key, another db, so always one shard.
function move(ks: Keyspace, db: number, argv: Buffer[]): MaybePromise<void> {
  if (argv.length !== 3) return ks.fail(arityError('move').error);
  const to = dbIndex(argv[2]);
  if (to === null) return ks.fail(parseI64(argv[2]) === null ? ERR_NOT_INT : ERR_DB);
  if (to === db) return ks.fail(ERR_SAME);
  if (ks.lookup(to, argv[1], NEVER) !== null) return;
  const write = (v: Portable | null): MaybePromise<void> => {
    if (v === null) return;
    ks.del(ks.ref(db, argv[1]));
    return writePortable(ks, to, argv[1], v);
  };
  const v = readPortable(ks, db, argv[1]);
  return v instanceof Promise ? v.then(write) : write(v);
}

export const moveSpecs: Record<string, CombineSpec> = {
  rename, renamenx: rename, copy, smove, lmove, rpoplpush: lmove,
};

export const moveWrites: WriteTable = {
  rename: combineHandler(rename), renamenx: combineHandler(rename), copy: combineHandler(copy),
  smove: combineHandler(smove), lmove: combineHandler(lmove), rpoplpush: combineHandler(lmove), move,
};
