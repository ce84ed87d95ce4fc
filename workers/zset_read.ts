/**
 * Sorted-set reads for clients of the replica: ZRANGE (rank / BYSCORE / BYLEX, REV, LIMIT,
 * WITHSCORES), ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZSCORE,
 * ZMSCORE, ZCARD, ZCOUNT, ZLEXCOUNT, ZRANK, ZREVRANK.
 *
 * Logically expired keys are hidden (ks.lookup). Validation order follows Redis 7.0 (observed):
 * options (LIMIT's integers as they are met), then LIMIT-with-rank and WITHSCORES-with-BYLEX
 * errors, then the range arguments, then the key's type. Replies are RESP2 shapes: scores are
 * bulk strings formatted like C's "%.17g" ("inf" / "-inf").
 */
import { Keyspace, KeyRef, ReadTable, T_ZSET, WRONGTYPE, arityError } from './keyspace.js';
import { formatDouble17g } from '../src/util/numbers.js';
import { then, type MaybePromise } from './sync_or_async.js';
import {
  parseScoreRange, parseLexRange, parseIndex, clampIndexRange, ScoreRange, LexRange,
  ERR_NOT_INTEGER,
} from './zset_codec.js';
import {
  ZEntry, zsetLength, zsetScore, zsetRangeByRank, zsetRangeByScore, zsetRangeByLex, zsetCount,
  zsetRank,
} from './zset_store.js';

const SYNTAX = { error: 'ERR syntax error' };
const LIMIT_ERR = { error: 'ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX' };
const WITHSCORES_ERR = { error: 'ERR syntax error, WITHSCORES not supported in combination with BYLEX' };
const NOT_INT = { error: ERR_NOT_INTEGER };

/**
 * A score as Redis 7.0 replies it ("%.17g"). Safe integers print the same in %.17g and in
 * JavaScript, which skips the exact (BigInt) formatter for the most common scores.
 */
export const scoreReply = (s: number): Buffer =>
  Buffer.from(Number.isSafeInteger(s) && !Object.is(s, -0) ? String(s) : formatDouble17g(s), 'latin1');

const lc = (b: Buffer): string => b.toString('latin1').toLowerCase();

/** The zset at key for a read: null = absent (or expired), WRONGTYPE = another type. */
function zsetFor(ks: Keyspace, db: number, key: Buffer, nowMs: number): KeyRef | null | { error: string } {
  const r = ks.lookup(db, key, nowMs);
  if (r === null) return null;
  return r.meta!.type === T_ZSET ? r : WRONGTYPE;
}

function flatten(entries: ZEntry[], withScores: boolean): Buffer[] {
  const out: Buffer[] = [];
  for (const e of entries) {
    out.push(e.m);
    if (withScores) out.push(scoreReply(e.s));
  }
  return out;
}

type Kind = 'auto' | 'rank' | 'score' | 'lex';

/**
 * The whole ZRANGE family. argv: [cmd, key, a, b, options…]. `kind` and `rev` fixed by the
 * command name (ZRANGE leaves them open: kind 'auto', rev null).
 */
function zrangeGeneric(ks: Keyspace, db: number, argv: Buffer[], nowMs: number,
  kind: Kind, rev: boolean | null): unknown {
  if (argv.length < 4) return arityError(lc(argv[0]));
  let withScores = false, hasLimit = false, offset = 0, count = -1;
  for (let j = 4; j < argv.length; j++) {
    const o = lc(argv[j]);
    if (o === 'withscores') withScores = true;
    else if (o === 'limit' && j + 2 < argv.length) {
      const off = parseIndex(argv[j + 1]);
      if (off === null) return NOT_INT;
      const cnt = parseIndex(argv[j + 2]);
      if (cnt === null) return NOT_INT;
      hasLimit = true; offset = off; count = cnt; j += 2;
    } else if (kind === 'auto' && o === 'byscore') kind = 'score';
    else if (kind === 'auto' && o === 'bylex') kind = 'lex';
    else if (rev === null && o === 'rev') rev = true;
    else return SYNTAX;
  }
  if (kind === 'auto') kind = 'rank';
  if (rev === null) rev = false;
  if (hasLimit && kind === 'rank') return LIMIT_ERR;
  if (withScores && kind === 'lex') return WITHSCORES_ERR;
  // With REV, BYSCORE/BYLEX take max first.
  const [lo, hi] = rev && kind !== 'rank' ? [argv[3], argv[2]] : [argv[2], argv[3]];
  let start = 0, end = 0;
  let sr: ScoreRange | null = null, lr: LexRange | null = null;
  if (kind === 'rank') {
    const s = parseIndex(lo), e = parseIndex(hi);
    if (s === null || e === null) return NOT_INT;
    start = s; end = e;
  } else if (kind === 'score') {
    const p = parseScoreRange(lo, hi);
    if (typeof p === 'string') return { error: p };
    sr = p;
  } else {
    const p = parseLexRange(lo, hi);
    if (typeof p === 'string') return { error: p };
    lr = p;
  }
  const r = zsetFor(ks, db, argv[1], nowMs);
  if (r === null) return [];
  if (!(r instanceof KeyRef)) return r;
  const lim = count < 0 ? Infinity : count;
  let entries: MaybePromise<ZEntry[]>;
  if (kind === 'rank') {
    const c = clampIndexRange(start, end, zsetLength(r.meta!));
    entries = c === null ? [] : zsetRangeByRank(ks, r, c[0], c[1], rev);
  } else if (sr !== null) {
    entries = zsetRangeByScore(ks, r, sr, rev, offset, lim);
  } else {
    entries = zsetRangeByLex(ks, r, lr!, rev, offset, lim);
  }
  return then(entries, (e) => flatten(e, withScores));
}

/** ZCOUNT key min max */
function zcount(ks: Keyspace, db: number, argv: Buffer[], nowMs: number): unknown {
  if (argv.length !== 4) return arityError('zcount');
  const range = parseScoreRange(argv[2], argv[3]);
  if (typeof range === 'string') return { error: range };
  const r = zsetFor(ks, db, argv[1], nowMs);
  if (r === null) return 0;
  if (!(r instanceof KeyRef)) return r;
  return zsetCount(ks, r, range);
}

/** ZLEXCOUNT key min max */
function zlexcount(ks: Keyspace, db: number, argv: Buffer[], nowMs: number): unknown {
  if (argv.length !== 4) return arityError('zlexcount');
  const range = parseLexRange(argv[2], argv[3]);
  if (typeof range === 'string') return { error: range };
  const r = zsetFor(ks, db, argv[1], nowMs);
  if (r === null) return 0;
  if (!(r instanceof KeyRef)) return r;
  return then(zsetRangeByLex(ks, r, range, false), (e) => e.length);
}

function zrankGeneric(ks: Keyspace, db: number, argv: Buffer[], nowMs: number, rev: boolean): unknown {
  if (argv.length !== 3) return arityError(lc(argv[0]));
  const r = zsetFor(ks, db, argv[1], nowMs);
  if (r === null) return null;
  if (!(r instanceof KeyRef)) return r;
  return zsetRank(ks, r, argv[2], rev);
}

export const zsetReads: ReadTable = {
  zrange: (ks, db, argv, now) => zrangeGeneric(ks, db, argv, now, 'auto', null),
  zrevrange: (ks, db, argv, now) => zrangeGeneric(ks, db, argv, now, 'rank', true),
  zrangebyscore: (ks, db, argv, now) => zrangeGeneric(ks, db, argv, now, 'score', false),
  zrevrangebyscore: (ks, db, argv, now) => zrangeGeneric(ks, db, argv, now, 'score', true),
  zrangebylex: (ks, db, argv, now) => zrangeGeneric(ks, db, argv, now, 'lex', false),
  zrevrangebylex: (ks, db, argv, now) => zrangeGeneric(ks, db, argv, now, 'lex', true),
  zcount,
  zlexcount,
  zrank: (ks, db, argv, now) => zrankGeneric(ks, db, argv, now, false),
  zrevrank: (ks, db, argv, now) => zrankGeneric(ks, db, argv, now, true),

  zscore(ks, db, argv, now) {
    if (argv.length !== 3) return arityError('zscore');
    const r = zsetFor(ks, db, argv[1], now);
    if (r === null) return null;
    if (!(r instanceof KeyRef)) return r;
    const s = zsetScore(ks, r, argv[2]);
    return s === undefined ? null : scoreReply(s);
  },

  zmscore(ks, db, argv, now) {
    if (argv.length < 3) return arityError('zmscore');
    const r = zsetFor(ks, db, argv[1], now);
    if (r !== null && !(r instanceof KeyRef)) return r;
    const out: Array<Buffer | null> = [];
    for (let i = 2; i < argv.length; i++) {
      const s = r === null ? undefined : zsetScore(ks, r, argv[i]);
      out.push(s === undefined ? null : scoreReply(s));
    }
    return out;
  },

  zcard(ks, db, argv, now) {
    if (argv.length !== 2) return arityError('zcard');
    const r = zsetFor(ks, db, argv[1], now);
    if (r === null) return 0;
    if (!(r instanceof KeyRef)) return r;
    return zsetLength(r.meta!);
  },
};
