/**
 * Sorted-set commands for the shard engine. Writes arrive as the master propagates them (spec
 * section 4): ZADD (NX/XX/GT/LT/CH/INCR), ZINCRBY, ZREM, ZREMRANGEBYSCORE / BYRANK / BYLEX and
 * ZPOPMIN / ZPOPMAX with an optional count (also what BZPOPMIN, ZMPOP and BZMPOP become).
 *
 * A write Redis would refuse (bad arguments, WRONGTYPE, an INCR whose result is NaN) changes
 * nothing and is counted with ks.fail(). Masters never propagate such writes, so a failure here
 * means the replica diverged and is worth a log line. Empty zsets are deleted, as in Redis.
 *
 * Reads live in zset_read.ts; layouts in zset_store.ts; parsing in zset_codec.ts / strtod.ts.
 */
import { Keyspace, KeyRef, WriteTable, T_ZSET } from './keyspace.js';
import { parseStrictDouble } from './strtod.js';
import {
  parseScoreRange, parseLexRange, parseIndex, clampIndexRange, ERR_NOT_FLOAT, ERR_NAN_SCORE,
  ERR_NOT_INTEGER,
} from './zset_codec.js';
import {
  zsetLength, zsetScore, zsetSet, zsetRemove, zsetRangeByRank, zsetRangeByScore, zsetRangeByLex,
  type FlatZset,
} from './zset_store.js';
import { zsetReads } from './zset_read.js';
import { then, type MaybePromise } from './sync_or_async.js';

export { zsetReads };

const WRONGTYPE_MSG = 'WRONGTYPE Operation against a key holding the wrong kind of value';
const lc = (b: Buffer): string => b.toString('latin1').toLowerCase();
const arity = (ks: Keyspace, argv: Buffer[]): void =>
  ks.fail(`ERR wrong number of arguments for '${lc(argv[0])}' command`);

/** An existing zset for a write, or null (absent, or WRONGTYPE already counted). */
function existing(ks: Keyspace, db: number, key: Buffer): KeyRef | null {
  const r = ks.ref(db, key);
  if (r.meta === null) return null;
  if (r.meta.type !== T_ZSET) { ks.fail(WRONGTYPE_MSG); return null; }
  return r;
}

const F_NX = 1, F_XX = 2, F_GT = 4, F_LT = 8, F_INCR = 16;

/**
 * Add or update one member under ZADD flags (CH only changes the reply, so it is not needed).
 * Returns false (after counting the failure) when an increment produced NaN: nothing changed.
 */
function addOne(ks: Keyspace, r: KeyRef, member: Buffer, score: number, flags: number): boolean {
  const cur = zsetScore(ks, r, member);
  if (cur !== undefined) {
    if (flags & F_NX) return true;
    const next = flags & F_INCR ? cur + score : score;
    if (Number.isNaN(next)) { ks.fail(ERR_NAN_SCORE); return false; }
    if ((flags & F_GT && next <= cur) || (flags & F_LT && next >= cur)) return true;
    if (next !== cur) zsetSet(ks, r, member, next, cur);
    return true;
  }
  if (flags & F_XX) return true;
  zsetSet(ks, r, member, score, undefined);
  return true;
}

/** ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member …] */
function zadd(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length < 4) return arity(ks, argv);
  let flags = 0;
  let i = 2;
  for (; i < argv.length; i++) {
    const o = argv[i].length <= 4 ? lc(argv[i]) : '';
    if (o === 'nx') flags |= F_NX;
    else if (o === 'xx') flags |= F_XX;
    else if (o === 'gt') flags |= F_GT;
    else if (o === 'lt') flags |= F_LT;
    else if (o === 'incr') flags |= F_INCR;
    else if (o !== 'ch') break;
  }
  const elements = argv.length - i;
  if (elements === 0 || elements % 2 !== 0) return ks.fail('ERR syntax error');
  if (flags & F_NX && flags & F_XX) return ks.fail('ERR XX and NX options at the same time are not compatible');
  if ((flags & F_NX && flags & (F_GT | F_LT)) || (flags & F_GT && flags & F_LT)) {
    return ks.fail('ERR GT, LT, and/or NX options at the same time are not compatible');
  }
  if (flags & F_INCR && elements > 2) return ks.fail('ERR INCR option supports a single increment-element pair');
  const scores = new Array<number>(elements >> 1);
  for (let j = 0; j < scores.length; j++) {
    const s = parseStrictDouble(argv[i + 2 * j]);
    if (s === null) return ks.fail(ERR_NOT_FLOAT);
    scores[j] = s;
  }
  const r = ks.ref(db, argv[1]);
  if (r.meta === null) {
    if (flags & F_XX) return;
    ks.create(r, T_ZSET, [] as FlatZset);
  } else if (r.meta.type !== T_ZSET) {
    return ks.fail(WRONGTYPE_MSG);
  }
  for (let j = 0; j < scores.length; j++) {
    if (!addOne(ks, r, argv[i + 2 * j + 1], scores[j], flags)) break;
  }
  if (zsetLength(r.meta!) === 0) ks.del(r);
}

/** ZINCRBY key increment member */
function zincrby(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 4) return arity(ks, argv);
  const incr = parseStrictDouble(argv[2]);
  if (incr === null) return ks.fail(ERR_NOT_FLOAT);
  const r = ks.ref(db, argv[1]);
  if (r.meta === null) ks.create(r, T_ZSET, [] as FlatZset);
  else if (r.meta.type !== T_ZSET) return ks.fail(WRONGTYPE_MSG);
  addOne(ks, r, argv[3], incr, F_INCR);
  if (zsetLength(r.meta!) === 0) ks.del(r);
}

/** ZREM key member [member …] */
function zrem(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length < 3) return arity(ks, argv);
  const r = existing(ks, db, argv[1]);
  if (r === null) return;
  for (let i = 2; i < argv.length && r.meta !== null; i++) {
    const s = zsetScore(ks, r, argv[i]);
    if (s !== undefined) zsetRemove(ks, r, [{ m: argv[i], s }]);
  }
}

/** ZREMRANGEBYSCORE key min max */
function zremrangebyscore(ks: Keyspace, db: number, argv: Buffer[]): MaybePromise<void> {
  if (argv.length !== 4) return arity(ks, argv);
  const range = parseScoreRange(argv[2], argv[3]);
  if (typeof range === 'string') return ks.fail(range);
  const r = existing(ks, db, argv[1]);
  if (r !== null) return then(zsetRangeByScore(ks, r, range, false), (e) => zsetRemove(ks, r, e));
}

/** ZREMRANGEBYLEX key min max */
function zremrangebylex(ks: Keyspace, db: number, argv: Buffer[]): MaybePromise<void> {
  if (argv.length !== 4) return arity(ks, argv);
  const range = parseLexRange(argv[2], argv[3]);
  if (typeof range === 'string') return ks.fail(range);
  const r = existing(ks, db, argv[1]);
  if (r !== null) return then(zsetRangeByLex(ks, r, range, false), (e) => zsetRemove(ks, r, e));
}

/** ZREMRANGEBYRANK key start stop */
function zremrangebyrank(ks: Keyspace, db: number, argv: Buffer[]): MaybePromise<void> {
  if (argv.length !== 4) return arity(ks, argv);
  const start = parseIndex(argv[2]), end = parseIndex(argv[3]);
  if (start === null || end === null) return ks.fail(ERR_NOT_INTEGER);
  const r = existing(ks, db, argv[1]);
  if (r === null) return;
  const c = clampIndexRange(start, end, zsetLength(r.meta!));
  if (c !== null) return then(zsetRangeByRank(ks, r, c[0], c[1], false), (e) => zsetRemove(ks, r, e));
}

/** ZPOPMIN / ZPOPMAX key [count] */
function zpop(ks: Keyspace, db: number, argv: Buffer[], max: boolean): MaybePromise<void> {
  if (argv.length !== 2 && argv.length !== 3) return arity(ks, argv);
  let count = 1;
  if (argv.length === 3) {
    const c = parseIndex(argv[2]);
    if (c === null || c < 0) return ks.fail('ERR value is out of range, must be positive');
    count = c;
  }
  const r = existing(ks, db, argv[1]);
  if (r === null || count === 0) return;
  const len = zsetLength(r.meta!);
  return then(zsetRangeByRank(ks, r, 0, Math.min(count, len) - 1, max), (e) => zsetRemove(ks, r, e));
}

export const zsetWrites: WriteTable = {
  zadd,
  zincrby,
  zrem,
  zremrangebyscore,
  zremrangebylex,
  zremrangebyrank,
  zpopmin: (ks, db, argv) => zpop(ks, db, argv, false),
  zpopmax: (ks, db, argv) => zpop(ks, db, argv, true),
};
