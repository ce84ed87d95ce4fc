/**
 * Command sequences for the end-to-end differential test (test/e2e.diff.test.ts): a fast-check
 * arbitrary of client command sequences, run on a real Redis 7.0 master, over a small key space
 * (9 key names incl. a binary and an empty one, 3 dbs) so keys collide across types and shards. Three
 * names share the hash tag {t}: multi-key commands over them stay on one shard; with `crossShard` the
 * others spread over every shard for 2 and 4 workers (a→3, b→0, c→1, d→2 of 4).
 *
 * Every write command a 7.0 master propagates is covered (COVERED_COMMANDS), with options and edge
 * arguments; commands the master rejects are fine (nothing propagates). Blocking commands use a tiny
 * timeout and are served at once or return nil. MULTI/EXEC blocks mix any of it, including SELECT,
 * FLUSHDB, SWAPDB and (rarely) FLUSHALL when `barriersInMulti`.
 *
 * Commands that mostly fail on a missing source (RENAME, SMOVE, Z*STORE…) are half the time preceded
 * by a write giving the source a fitting value. Forms that even a Redis replica does not follow are
 * left out unless `quirks`. Each entry says what the master sends the replica for it (`needs`, spec
 * section 4), so a profile can keep only what the replica applies today (`profileFor`).
 *
 * Also the catch-up helper both e2e tests share: wait until the replica's slave_repl_offset reaches
 * the master's master_repl_offset, failing at once if the applier halted and soon if it stalls.
 */
import fc from 'fast-check';
import { Client, infoField } from './redis.js';

export type Arg = string | Buffer;
export type Cmd = Arg[];
/** One top-level step: a single command, or a MULTI … EXEC block (first and last entries). */
export type Step = Cmd[];

/** 'cross': needs all its keys on one shard unless cross-shard exchange exists; 'split': DEL/MSET style. */
type Kind = 'single' | 'split' | 'cross';
interface Entry { name: string; kind: Kind; needs: string[]; weight: number; arb: (g: Keys) => fc.Arbitrary<Cmd> }
interface Keys { key: fc.Arbitrary<Arg>; keys: (min: number, max: number) => fc.Arbitrary<Arg[]>; db: fc.Arbitrary<string>; quirks: boolean }

export interface GenOptions {
  dbs: number;              // SELECT / MOVE / COPY DB / SWAPDB targets are in [0, dbs)
  crossShard: boolean;      // 'cross' commands may name keys on different shards…
  singleShard?: ReadonlySet<string>; // …except these generator entries (their keys share the tag {t})
  swapdb: boolean;
  barriersInMulti: boolean; // FLUSHDB / FLUSHALL / SWAPDB inside MULTI
  /**
   * Also forms whose effect a Redis 7.0 master does not replicate faithfully, so that even a Redis
   * replica diverges (checked against one): BITFIELD … OVERFLOW FAIL whose ops all fail creates a
   * missing key but propagates nothing; SORT … BY <pattern> ALPHA … STORE orders ties (missing or
   * equal weights) differently from run to run. Off by default.
   */
  quirks?: boolean;
  /** Generator command names to use (default: all of COVERED_COMMANDS). */
  commands?: ReadonlySet<string>;
  maxSteps?: number;
}

export const TAGGED: Arg[] = ['{t}1', '{t}2', '{t}3'];
export const UNTAGGED: Arg[] = ['a', 'b', 'c', 'd', Buffer.from([0xff, 0x00, 0x6b])];
const EMPTY_KEY = '';
const FUTURE_S = '4000000000', FUTURE_MS = '4000000000000';
const LONG = 'x'.repeat(70);   // past the 64-byte inline limit

const pick = <T>(...xs: T[]) => fc.constantFrom(...xs);
const opt = <T>(a: fc.Arbitrary<T[]>, freq = 2): fc.Arbitrary<T[]> => fc.oneof({ weight: freq, arbitrary: fc.constant([] as T[]) }, { weight: 1, arbitrary: a });
const cat = (...parts: fc.Arbitrary<Arg[]>[]): fc.Arbitrary<Arg[]> => fc.tuple(...parts).map((xs) => xs.flat());
const one = (a: fc.Arbitrary<Arg>): fc.Arbitrary<Arg[]> => a.map((x) => [x]);
const lit = (...xs: Arg[]): fc.Arbitrary<Arg[]> => fc.constant(xs);
const some = <T>(a: fc.Arbitrary<T>, max = 3): fc.Arbitrary<T[]> => fc.array(a, { minLength: 1, maxLength: max });

const value: fc.Arbitrary<Arg> = fc.oneof(
  { weight: 5, arbitrary: pick<Arg>('', 'v', 'hello', '0', '1', '-7', '42', '3.5', '-0.25', '1e3', ' 1', '10abc',
    '9223372036854775807', '-9223372036854775808', LONG, Buffer.from([0, 0xff, 0x80, 0x0a, 0x0d])) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 10 }).map((u) => Buffer.from(u)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) });
const member: fc.Arbitrary<Arg> = pick<Arg>('m0', 'm1', 'm2', 'm3', 'm4', '1', '-2.5', '10', '', LONG, Buffer.from([0xc3, 0x00]));
const field = member;
const int: fc.Arbitrary<Arg> = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -20, max: 20 }).map(String) },
  { weight: 1, arbitrary: pick('9223372036854775807', '-9223372036854775808', 'abc', '1.5', '', '100') });
const float: fc.Arbitrary<Arg> = pick('0', '1', '-1.5', '0.1', '1e3', '2.5e-3', '3.0000000000000004', '-0', 'inf', '-inf',
  'nan', 'abc', '1e308', '5');
const score: fc.Arbitrary<Arg> = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: -5, max: 5 }).map(String) },
  { weight: 2, arbitrary: pick('2.5', '-0.5', '0.1', '1e-5', '+inf', '-inf', 'inf', '1e300', '0.30000000000000004', 'nan', 'x') });
const small = fc.integer({ min: 0, max: 5 }).map(String);
const index = fc.integer({ min: -4, max: 4 }).map(String);
const lr = pick('LEFT', 'RIGHT');
const timeout = pick('0.01');
const bulkN = fc.integer({ min: 100, max: 150 });
const lon = fc.oneof(pick('13.361389', '15.087269', '2.3522', '-200'), fc.integer({ min: 12000, max: 16000 }).map((x) => (x / 1000).toFixed(6)));
const lat = fc.oneof(pick('38.115556', '37.502669', '48.8566', '86'), fc.integer({ min: 36000, max: 40000 }).map((x) => (x / 1000).toFixed(6)));
const unit = pick('m', 'km', 'mi', 'ft');
const radius = pick('1', '50', '100', '200', '500', '0');
const geoTail = cat(opt(cat(lit('COUNT'), one(pick('1', '2', '5')), opt(lit('ANY'), 3))), opt(one(pick('ASC', 'DESC'))));
const zsetSources = (g: Keys) => g.keys(2, 4).map(([d, ...src]) => ({ d, src }));

const e = (name: string, kind: Kind, needs: string[], arb: (g: Keys) => fc.Arbitrary<Cmd>, weight = 2): Entry => ({ name, kind, needs, weight, arb });

const ENTRIES: Entry[] = [
  // strings
  e('SET', 'single', ['set', 'del'], (g) => cat(lit('SET'), one(g.key), one(value), opt(fc.oneof(
    pick<Arg[]>(['NX'], ['XX'], ['GET'], ['KEEPTTL'], ['NX', 'GET'], ['XX', 'KEEPTTL'], ['EX', '100'], ['PX', '200000'],
      ['EXAT', FUTURE_S], ['PXAT', FUTURE_MS], ['EXAT', '1'], ['PXAT', '1000'], ['EX', '0'], ['NX', 'XX'], ['XX', 'EX', '300', 'GET']),
    fc.integer({ min: 60, max: 5000 }).map((s): Arg[] => ['EX', String(s)])), 1)), 5),
  e('SETNX', 'single', ['setnx'], (g) => cat(lit('SETNX'), one(g.key), one(value))),
  e('SETEX', 'single', ['set'], (g) => cat(lit('SETEX'), one(g.key), one(pick('100', '0', '-5', '3000')), one(value)), 1),
  e('PSETEX', 'single', ['set'], (g) => cat(lit('PSETEX'), one(g.key), one(pick('100000', '0')), one(value)), 1),
  e('GETSET', 'single', ['set'], (g) => cat(lit('GETSET'), one(g.key), one(value)), 1),
  e('GETDEL', 'single', ['del'], (g) => cat(lit('GETDEL'), one(g.key)), 1),
  e('GETEX', 'single', ['pexpireat', 'persist', 'del'], (g) => cat(lit('GETEX'), one(g.key),
    pick<Arg[]>([], ['PERSIST'], ['EX', '200'], ['PX', '150000'], ['EXAT', FUTURE_S], ['PXAT', '1'], ['EX', '0'])), 1),
  e('APPEND', 'single', ['append'], (g) => cat(lit('APPEND'), one(g.key), one(value))),
  e('SETRANGE', 'single', ['setrange'], (g) => cat(lit('SETRANGE'), one(g.key), one(pick('0', '3', '10', '-1', '100')), one(value))),
  e('INCR', 'single', ['incr'], (g) => cat(lit('INCR'), one(g.key))),
  e('DECR', 'single', ['decr'], (g) => cat(lit('DECR'), one(g.key)), 1),
  e('INCRBY', 'single', ['incrby'], (g) => cat(lit('INCRBY'), one(g.key), one(int))),
  e('DECRBY', 'single', ['decrby'], (g) => cat(lit('DECRBY'), one(g.key), one(int)), 1),
  e('INCRBYFLOAT', 'single', ['set'], (g) => cat(lit('INCRBYFLOAT'), one(g.key), one(float))),
  e('MSET', 'split', ['mset'], (g) => fc.array(fc.tuple(g.key, value), { minLength: 1, maxLength: 4 }).map((kv) => ['MSET', ...kv.flat()])),
  e('MSETNX', 'cross', ['msetnx'], (g) => fc.tuple(g.keys(1, 3), value).map(([ks, v]) => ['MSETNX', ...ks.flatMap((k) => [k, v])])),
  e('SETBIT', 'single', ['setbit'], (g) => cat(lit('SETBIT'), one(g.key), one(fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 0, max: 200 }).map(String) }, { weight: 1, arbitrary: pick('4000', '-1', 'x') })), one(pick('0', '1', '1', '0', '2')))),
  e('BITFIELD', 'single', ['bitfield'], (g) => cat(lit('BITFIELD'), one(g.key), fc.array(fc.oneof(
    cat(lit('SET'), one(pick('u8', 'i5', 'u1', 'i16', 'u63', 'i64', 'u64')), one(pick('0', '3', '#1', '100')), one(pick('255', '-1', '100', '0'))),
    cat(lit('INCRBY'), one(pick('u8', 'i5', 'u2', 'i64')), one(pick('0', '7', '#2')), one(pick('1', '100', '-300', '9223372036854775807'))),
    cat(lit('GET'), one(pick('u8', 'i5')), one(pick('0', '4'))),
    cat(lit('OVERFLOW'), one(pick('WRAP', 'SAT', 'FAIL')))), { minLength: 1, maxLength: 4 }).map((xs) => xs.flat())
    // Without quirks a FAIL block starts with a SET that always succeeds, so the command propagates.
    .map((ops): Arg[] => (g.quirks || !ops.includes('FAIL') ? ops : ['SET', 'u1', '0', '1', ...ops])))),
  e('BITOP', 'cross', ['bitop'], (g) => fc.tuple(pick('AND', 'OR', 'XOR', 'NOT'), g.keys(2, 4)).map(([op, ks]) => ['BITOP', op, ...(op === 'NOT' ? ks.slice(0, 2) : ks)])),
  // keys and expiries
  e('DEL', 'split', ['del'], (g) => some(g.key, 4).map((ks) => ['DEL', ...ks]), 3),
  e('UNLINK', 'split', ['unlink'], (g) => some(g.key, 3).map((ks) => ['UNLINK', ...ks])),
  e('EXPIRE', 'single', ['pexpireat', 'del'], (g) => cat(lit('EXPIRE'), one(g.key), one(pick('100', '2000', '-1', '0', 'x')), opt(one(pick('NX', 'XX', 'GT', 'LT')), 1))),
  e('PEXPIRE', 'single', ['pexpireat', 'del'], (g) => cat(lit('PEXPIRE'), one(g.key), one(pick('150000', '-10')), opt(one(pick('NX', 'XX', 'GT', 'LT'))))),
  e('EXPIREAT', 'single', ['pexpireat', 'del'], (g) => cat(lit('EXPIREAT'), one(g.key), one(pick(FUTURE_S, '1', '3999999999')), opt(one(pick('NX', 'GT', 'LT'))))),
  e('PEXPIREAT', 'single', ['pexpireat', 'del'], (g) => cat(lit('PEXPIREAT'), one(g.key), one(pick(FUTURE_MS, '1', '4000000500000')), opt(one(pick('xx', 'GT', 'lt'))))),
  e('PERSIST', 'single', ['persist'], (g) => cat(lit('PERSIST'), one(g.key))),
  e('RENAME', 'cross', ['rename'], (g) => g.keys(2, 2).map((ks) => ['RENAME', ...ks]), 3),
  e('RENAMENX', 'cross', ['renamenx'], (g) => g.keys(2, 2).map((ks) => ['RENAMENX', ...ks])),
  e('COPY', 'cross', ['copy'], (g) => fc.tuple(g.keys(2, 2), opt(cat(lit('DB'), one(g.db))), opt(lit('REPLACE'), 1))
    .map(([ks, db, rep]) => ['COPY', ...ks, ...db, ...rep]), 3),
  e('MOVE', 'single', ['move'], (g) => cat(lit('MOVE'), one(g.key), one(g.db))),
  // BY/GET patterns name other keys: '{t}*' turns element 1 into key {t}1, '*' element a into key a.
  e('SORT', 'cross', ['sort'], (g) => fc.tuple(g.keys(2, 2), opt(pick<Arg[]>(['BY', 'nosort'], ['LIMIT', '0', '2'], ['LIMIT', '1', '-1'], ['DESC'],
    ['ALPHA'], ['ALPHA', 'DESC', 'LIMIT', '0', '3'], ['GET', '#'], ['BY', '{t}*'], ['BY', '*', g.quirks ? 'ALPHA' : 'DESC'], ['GET', '#', 'GET', '*'],
    ['BY', '*->m0', 'GET', '{t}*->m1'], ['BY', 'nosort', 'GET', '*', 'DESC'], ['BY', 'nosort', 'ALPHA', 'LIMIT', '0', '2']), 1))
    .map(([[src, dst], o]) => ['SORT', src, ...o, 'STORE', dst])),
  // hashes
  e('HSET', 'single', ['hset'], (g) => fc.tuple(g.key, some(fc.tuple(field, value), 3)).map(([k, fv]) => ['HSET', k, ...fv.flat()]), 4),
  e('HSET bulk', 'single', ['hset'], (g) => fc.tuple(g.key, bulkN).map(([k, n]) => ['HSET', k, ...Array.from({ length: n }, (_, i) => [`f${i}`, `v${i}`]).flat()]), 1),
  e('HMSET', 'single', ['hmset'], (g) => fc.tuple(g.key, field, value).map(([k, f, v]) => ['HMSET', k, f, v]), 1),
  e('HSETNX', 'single', ['hsetnx'], (g) => cat(lit('HSETNX'), one(g.key), one(field), one(value))),
  e('HDEL', 'single', ['hdel'], (g) => cat(lit('HDEL'), one(g.key), some(field, 3))),
  e('HINCRBY', 'single', ['hincrby'], (g) => cat(lit('HINCRBY'), one(g.key), one(field), one(int))),
  e('HINCRBYFLOAT', 'single', ['hset'], (g) => cat(lit('HINCRBYFLOAT'), one(g.key), one(field), one(float))),
  // lists
  e('LPUSH', 'single', ['lpush'], (g) => cat(lit('LPUSH'), one(g.key), some(value, 3)), 3),
  e('RPUSH', 'single', ['rpush'], (g) => cat(lit('RPUSH'), one(g.key), some(value, 3)), 3),
  e('RPUSH bulk', 'single', ['rpush'], (g) => fc.tuple(g.key, bulkN).map(([k, n]) => ['RPUSH', k, ...Array.from({ length: n }, (_, i) => String(i % 7))]), 1),
  e('LPUSHX', 'single', ['lpushx'], (g) => cat(lit('LPUSHX'), one(g.key), some(value, 2)), 1),
  e('RPUSHX', 'single', ['rpushx'], (g) => cat(lit('RPUSHX'), one(g.key), some(value, 2)), 1),
  e('LPOP', 'single', ['lpop'], (g) => cat(lit('LPOP'), one(g.key), opt(one(pick('1', '2', '0', '200'))))),
  e('RPOP', 'single', ['rpop'], (g) => cat(lit('RPOP'), one(g.key), opt(one(pick('1', '3'))))),
  e('LSET', 'single', ['lset'], (g) => cat(lit('LSET'), one(g.key), one(index), one(value))),
  e('LINSERT', 'single', ['linsert'], (g) => cat(lit('LINSERT'), one(g.key), one(pick('BEFORE', 'AFTER')), one(value), one(value))),
  e('LREM', 'single', ['lrem'], (g) => cat(lit('LREM'), one(g.key), one(index), one(value))),
  e('LTRIM', 'single', ['ltrim'], (g) => cat(lit('LTRIM'), one(g.key), one(index), one(index))),
  e('LMOVE', 'cross', ['lmove'], (g) => fc.tuple(g.keys(2, 2), lr, lr).map(([ks, a, b]) => ['LMOVE', ...ks, a, b]), 3),
  e('RPOPLPUSH', 'cross', ['rpoplpush'], (g) => g.keys(2, 2).map((ks) => ['RPOPLPUSH', ...ks])),
  e('BLMOVE', 'cross', ['lmove'], (g) => fc.tuple(g.keys(2, 2), lr, lr, timeout).map(([ks, a, b, t]) => ['BLMOVE', ...ks, a, b, t]), 1),
  e('BRPOPLPUSH', 'cross', ['rpoplpush'], (g) => fc.tuple(g.keys(2, 2), timeout).map(([ks, t]) => ['BRPOPLPUSH', ...ks, t]), 1),
  e('BLPOP', 'single', ['lpop'], (g) => fc.tuple(some(g.key, 2), timeout).map(([ks, t]) => ['BLPOP', ...ks, t]), 1),
  e('BRPOP', 'single', ['rpop'], (g) => fc.tuple(some(g.key, 2), timeout).map(([ks, t]) => ['BRPOP', ...ks, t]), 1),
  e('LMPOP', 'single', ['lpop', 'rpop'], (g) => fc.tuple(some(g.key, 2), lr, opt(cat(lit('COUNT'), one(pick('1', '3', '0')))))
    .map(([ks, d, c]) => ['LMPOP', String(ks.length), ...ks, d, ...c])),
  e('BLMPOP', 'single', ['lpop', 'rpop'], (g) => fc.tuple(some(g.key, 2), lr).map(([ks, d]) => ['BLMPOP', '0.01', String(ks.length), ...ks, d, 'COUNT', '2']), 1),
  // sets
  e('SADD', 'single', ['sadd'], (g) => cat(lit('SADD'), one(g.key), some(member, 4)), 4),
  e('SADD bulk', 'single', ['sadd'], (g) => fc.tuple(g.key, bulkN).map(([k, n]) => ['SADD', k, ...Array.from({ length: n }, (_, i) => `m${i}`)]), 1),
  e('SADD ints', 'single', ['sadd'], (g) => cat(lit('SADD'), one(g.key), some(fc.integer({ min: -3, max: 600 }).map(String), 4)), 1),
  e('SREM', 'single', ['srem'], (g) => cat(lit('SREM'), one(g.key), some(member, 3))),
  e('SPOP', 'single', ['srem', 'del'], (g) => cat(lit('SPOP'), one(g.key), opt(one(pick('1', '2', '5', '0', '1000')), 1))),
  e('SMOVE', 'cross', ['smove'], (g) => fc.tuple(g.keys(2, 2), member).map(([ks, m]) => ['SMOVE', ...ks, m]), 3),
  ...(['SINTERSTORE', 'SUNIONSTORE', 'SDIFFSTORE'] as const).map((n) => e(n, 'cross', [n.toLowerCase()], (g) => g.keys(2, 4).map((ks) => [n, ...ks]))),
  // sorted sets
  e('ZADD', 'single', ['zadd'], (g) => fc.tuple(g.key, opt(pick<Arg[]>(['NX'], ['XX'], ['GT'], ['LT'], ['CH'], ['XX', 'CH'], ['GT', 'CH'], ['NX', 'GT']), 2),
    some(fc.tuple(score, member), 3)).map(([k, o, sm]) => ['ZADD', k, ...o, ...sm.flat()]), 5),
  e('ZADD INCR', 'single', ['zadd'], (g) => fc.tuple(g.key, opt(one(pick('NX', 'XX', 'GT', 'LT'))), score, member).map(([k, o, s, m]) => ['ZADD', k, ...o, 'INCR', s, m]), 1),
  e('ZADD bulk', 'single', ['zadd'], (g) => fc.tuple(g.key, bulkN).map(([k, n]) => ['ZADD', k, ...Array.from({ length: n }, (_, i) => [String(i % 13), `m${i}`]).flat()]), 1),
  e('ZINCRBY', 'single', ['zincrby'], (g) => cat(lit('ZINCRBY'), one(g.key), one(score), one(member))),
  e('ZREM', 'single', ['zrem'], (g) => cat(lit('ZREM'), one(g.key), some(member, 3))),
  e('ZREMRANGEBYSCORE', 'single', ['zremrangebyscore'], (g) => cat(lit('ZREMRANGEBYSCORE'), one(g.key), one(pick('-inf', '(0', '1', '-5')), one(pick('+inf', '2', '(3', '-1'))), 1),
  e('ZREMRANGEBYRANK', 'single', ['zremrangebyrank'], (g) => cat(lit('ZREMRANGEBYRANK'), one(g.key), one(index), one(index)), 1),
  e('ZREMRANGEBYLEX', 'single', ['zremrangebylex'], (g) => cat(lit('ZREMRANGEBYLEX'), one(g.key), one(pick('-', '[m1', '(m0', '[')), one(pick('+', '(m3', '[m2', 'm'))), 1),
  e('ZPOPMIN', 'single', ['zpopmin'], (g) => cat(lit('ZPOPMIN'), one(g.key), opt(one(pick('1', '2', '0', '100'))))),
  e('ZPOPMAX', 'single', ['zpopmax'], (g) => cat(lit('ZPOPMAX'), one(g.key), opt(one(pick('1', '3'))))),
  e('ZMPOP', 'single', ['zpopmin', 'zpopmax'], (g) => fc.tuple(some(g.key, 2), pick('MIN', 'MAX'), opt(cat(lit('COUNT'), one(pick('1', '2', '10')))))
    .map(([ks, d, c]) => ['ZMPOP', String(ks.length), ...ks, d, ...c]), 1),
  e('BZPOPMIN', 'single', ['zpopmin'], (g) => some(g.key, 2).map((ks) => ['BZPOPMIN', ...ks, '0.01']), 1),
  e('BZPOPMAX', 'single', ['zpopmax'], (g) => some(g.key, 2).map((ks) => ['BZPOPMAX', ...ks, '0.01']), 1),
  e('BZMPOP', 'single', ['zpopmin', 'zpopmax'], (g) => fc.tuple(some(g.key, 2), pick('MIN', 'MAX')).map(([ks, d]) => ['BZMPOP', '0.01', String(ks.length), ...ks, d, 'COUNT', '2']), 1),
  ...(['ZUNIONSTORE', 'ZINTERSTORE'] as const).map((n) => e(n, 'cross', [n.toLowerCase()], (g) => fc.tuple(zsetSources(g),
    opt(fc.array(pick('1', '2', '-1', '0', '0.5', 'inf', '-inf'), { minLength: 4, maxLength: 4 }), 1), opt(one(pick('SUM', 'MIN', 'MAX')), 1))
    .map(([{ d, src }, w, ag]) => [n, d, String(src.length), ...src, ...(w.length ? ['WEIGHTS', ...w.slice(0, src.length)] : []), ...(ag.length ? ['AGGREGATE', ...ag] : [])]), 3)),
  e('ZDIFFSTORE', 'cross', ['zdiffstore'], (g) => zsetSources(g).map(({ d, src }) => ['ZDIFFSTORE', d, String(src.length), ...src])),
  e('ZRANGESTORE', 'cross', ['zrangestore'], (g) => fc.tuple(g.keys(2, 2), fc.oneof(
    cat(one(index), one(index), opt(lit('REV'))),
    cat(one(pick('-inf', '(1', '0')), one(pick('+inf', '3', '(2')), lit('BYSCORE'), opt(lit('REV')), opt(lit('LIMIT', '1', '2'))),
    cat(one(pick('-', '[m1', '(m0')), one(pick('+', '[m3')), lit('BYLEX'), opt(lit('LIMIT', '0', '1'))))).map(([ks, r]) => ['ZRANGESTORE', ...ks, ...r])),
  // geo (GEOADD reaches the replica as ZADD)
  e('GEOADD', 'single', ['zadd'], (g) => fc.tuple(g.key, opt(pick<Arg[]>(['NX'], ['XX'], ['CH'], ['XX', 'CH'])), some(fc.tuple(lon, lat, member), 3))
    .map(([k, o, pts]) => ['GEOADD', k, ...o, ...pts.flat()]), 3),
  e('GEORADIUS', 'cross', ['georadius'], (g) => fc.tuple(g.keys(2, 2), lon, lat, radius, unit, geoTail, pick('STORE', 'STOREDIST'))
    .map(([[src, dst], x, y, r, u, t, s]) => ['GEORADIUS', src, x, y, r, u, ...t, s, dst])),
  e('GEORADIUSBYMEMBER', 'cross', ['georadiusbymember'], (g) => fc.tuple(g.keys(2, 2), member, radius, unit, geoTail, pick('STORE', 'STOREDIST'))
    .map(([[src, dst], m, r, u, t, s]) => ['GEORADIUSBYMEMBER', src, m, r, u, ...t, s, dst])),
  e('GEOSEARCHSTORE', 'cross', ['geosearchstore'], (g) => fc.tuple(g.keys(2, 2), fc.oneof(one(member).map((m) => ['FROMMEMBER', ...m]), cat(lit('FROMLONLAT'), one(lon), one(lat))),
    fc.oneof(cat(lit('BYRADIUS'), one(radius), one(unit)), cat(lit('BYBOX'), one(radius), one(pick('10', '300')), one(unit))), geoTail, opt(lit('STOREDIST')))
    .map(([[dst, src], from, by, t, sd]) => ['GEOSEARCHSTORE', dst, src, ...from, ...by, ...t, ...sd])),
];

/**
 * Commands that mostly fail on a missing or mistyped source (RENAME of nothing…) are half the time
 * preceded by a write that gives that source (argv index) a value of a fitting type.
 */
type Shape = 'any' | 'string' | 'list' | 'set' | 'zset' | 'hash' | 'geo' | 'numbers';
const PREP: Record<string, [number, Shape]> = {
  RENAME: [1, 'any'], RENAMENX: [1, 'any'], COPY: [1, 'any'], MOVE: [1, 'any'], SORT: [1, 'numbers'], BITOP: [3, 'string'],
  LSET: [1, 'list'], LINSERT: [1, 'list'], LMOVE: [1, 'list'], RPOPLPUSH: [1, 'list'], BLMOVE: [1, 'list'], BRPOPLPUSH: [1, 'list'],
  SMOVE: [1, 'set'], SINTERSTORE: [2, 'set'], SUNIONSTORE: [2, 'set'], SDIFFSTORE: [2, 'set'], ZUNIONSTORE: [3, 'zset'],
  ZINTERSTORE: [3, 'set'], ZDIFFSTORE: [3, 'zset'], ZRANGESTORE: [2, 'zset'], GEORADIUS: [1, 'geo'], GEORADIUSBYMEMBER: [1, 'geo'],
  GEOSEARCHSTORE: [2, 'geo'], HINCRBYFLOAT: [1, 'hash'],
};
const SHAPES: Record<Exclude<Shape, 'any'>, Arg[]> = {
  string: ['SET', '', 'v\x00\xff'], list: ['RPUSH', '', 'm1', 'b', 'm1', '3'], set: ['SADD', '', 'm1', 'm2', '1', '{t}2'],
  zset: ['ZADD', '', '1', 'm1', '2.5', 'm2', '-inf', 'a'], hash: ['HSET', '', 'm0', '1.5', 'm1', 'x'],
  geo: ['GEOADD', '', '13.361389', '38.115556', 'm1', '15.087269', '37.502669', 'm2', '13.5', '38', 'm3'],
  numbers: ['RPUSH', '', '3', '1', '2', '10', '-1'],
};
const shape: fc.Arbitrary<Exclude<Shape, 'any'>> = pick('string', 'list', 'set', 'zset', 'hash', 'numbers');
function prepared(name: string, cmd: fc.Arbitrary<Cmd>): fc.Arbitrary<Cmd[]> {
  const p = PREP[name];
  if (!p) return cmd.map((c) => [c]);
  return fc.tuple(cmd, fc.boolean(), shape).map(([c, yes, any]) => {
    if (!yes || c.length <= p[0]) return [c];
    const proto = SHAPES[p[1] === 'any' ? any : p[1]];
    return [[proto[0], c[p[0]], ...proto.slice(2)], c];
  });
}

/** Every command name the generator can emit (client-side names; SELECT/MULTI/EXEC/barriers included). */
export const COVERED_COMMANDS: readonly string[] = [...new Set(ENTRIES.map((x) => x.name.split(' ')[0])),
  'SELECT', 'MULTI', 'EXEC', 'FLUSHDB', 'FLUSHALL', 'SWAPDB'];

/**
 * What the replica can take today: the generator entries whose replicated commands it applies
 * (`appliable`: lowercase names its appliers report), and of the multi-key ones those that must stay
 * on one shard because the router cannot run their replicated form across shards (`crossable`).
 */
export function profileFor(appliable: ReadonlySet<string>, crossable: (name: string) => boolean): { commands: Set<string>; singleShard: Set<string> } {
  const ok = ENTRIES.filter((x) => x.needs.every((n) => appliable.has(n)));
  return { commands: new Set(ok.map((x) => x.name)),
    singleShard: new Set(ok.filter((x) => x.kind === 'cross' && !x.needs.every(crossable)).map((x) => x.name)) };
}

/** The replicated command names a client command needs (union over its generator entries). */
export function needsOf(command: string): string[] {
  const n = command.toUpperCase();
  return [...new Set(ENTRIES.filter((x) => x.name.split(' ')[0] === n).flatMap((x) => x.needs))];
}

function keyArbs(o: GenOptions, cross: boolean): Keys {
  const all = [...UNTAGGED, ...TAGGED];
  const key = fc.oneof({ weight: 20, arbitrary: fc.constantFrom(...all) }, { weight: 1, arbitrary: fc.constant<Arg>(EMPTY_KEY) });
  const group = (min: number, max: number) => fc.array(fc.constantFrom(...TAGGED), { minLength: min, maxLength: max });
  const keys = cross
    ? (min: number, max: number) => fc.oneof(group(min, max), fc.array(fc.constantFrom(...all), { minLength: min, maxLength: max }))
    : group;
  return { key, keys, db: fc.integer({ min: 0, max: o.dbs - 1 }).map(String), quirks: o.quirks ?? false };
}

/** The sequence arbitrary: an array of steps (single commands, SELECTs, MULTI blocks, barriers). */
export function commandSequence(o: GenOptions): fc.Arbitrary<Step[]> {
  const g = keyArbs(o, false), gx = keyArbs(o, o.crossShard);
  const entries = ENTRIES.filter((x) => !o.commands || o.commands.has(x.name));
  if (entries.length === 0) throw new Error('no command left to generate');
  const command = fc.oneof(...entries.map((x) => ({ weight: x.weight, arbitrary: prepared(x.name, x.arb(o.singleShard?.has(x.name) ? g : gx)) })));
  const select = g.db.map((d): Cmd => ['SELECT', d]);
  const flushdb = pick<Cmd>(['FLUSHDB'], ['FLUSHDB', 'ASYNC'], ['flushdb', 'sync']);
  const flushall = pick<Cmd>(['FLUSHALL'], ['FLUSHALL', 'ASYNC']);
  const swapdb = fc.tuple(g.db, g.db).map(([a, b]): Cmd => ['SWAPDB', a, b]);
  const inner: fc.WeightedArbitrary<Cmd[]>[] = [{ weight: 30, arbitrary: command }, { weight: 2, arbitrary: select.map((c) => [c]) }];
  if (o.barriersInMulti) {
    inner.push({ weight: 1, arbitrary: flushdb.map((c) => [c]) });
    if (o.swapdb) inner.push({ weight: 1, arbitrary: swapdb.map((c) => [c]) });
  }
  const multi = fc.array(fc.oneof(...inner), { minLength: 1, maxLength: 6 }).map((cs): Step => [['MULTI'], ...cs.flat(), ['EXEC']]);
  const top: fc.WeightedArbitrary<Step>[] = [
    { weight: 40, arbitrary: command },
    { weight: 3, arbitrary: select.map((c) => [c]) },
    { weight: 5, arbitrary: multi },
    { weight: 1, arbitrary: flushdb.map((c) => [c]) },
  ];
  if (o.swapdb) top.push({ weight: 1, arbitrary: swapdb.map((c) => [c]) });
  // FLUSHALL wipes everything: keep it rare (and rarer still inside MULTI).
  const rare = fc.integer({ min: 0, max: 4 }).chain((n): fc.Arbitrary<Step> => (n === 0 && o.barriersInMulti
    ? fc.tuple(command, flushall, command).map(([a, f, b]) => [['MULTI'], ...a, f, ...b, ['EXEC']])
    : flushall.map((c) => [c])));
  top.push({ weight: 1, arbitrary: rare });
  return fc.array(fc.oneof(...top), { minLength: 1, maxLength: o.maxSteps ?? 40, size: 'max' });
}

/** The steps as the flat list of commands to send. */
export const flatten = (steps: Step[]): Cmd[] => steps.flat();

/** A command as one readable line (binary bytes escaped, long arguments cut). */
export function showCmd(c: Cmd): string {
  return c.map((a) => {
    const s = Buffer.isBuffer(a) ? a.toString('latin1') : a;
    const cut = s.length > 24 ? `${s.slice(0, 12)}…(${s.length})` : s;
    return /^[\x21-\x7e]+$/.test(cut) ? cut : JSON.stringify(cut);
  }).join(' ');
}

export function showSteps(steps: Step[]): string {
  return flatten(steps).map(showCmd).join('\n');
}

// ── catching up ──

export class ReplicaHalted extends Error {}

/** The replica's halt, if any, as one line (INFO applier fields), else null. */
export async function haltOf(r: Client): Promise<string | null> {
  const s = await r.str('INFO', 'applier');
  if (!s || !/^applier_halted:1/m.test(s)) return null;
  const f = (n: string) => s.match(new RegExp(`^${n}:(.*)$`, 'm'))?.[1]?.trim() ?? '';
  return `replica halted at offset ${f('applier_halt_offset')} (${f('applier_halt_source')}, ${f('applier_halt_code')}): ` +
    `${f('applier_halt_command')} — ${f('applier_halt_reason')}`;
}

/**
 * Waits until the replica has applied everything the master propagated so far. Throws ReplicaHalted at
 * once when the applier halts; a plain Error when the replica's offset stops moving for `stallMs`
 * (stuck: e.g. an exchange that never completes) or after `timeoutMs`, with the applier's state.
 */
export async function catchUp(m: Client, r: Client, timeoutMs = 20000, stallMs = 5000): Promise<number> {
  const target = Number(await infoField(m, 'replication', 'master_repl_offset'));
  const t0 = Date.now();
  let last = -1, lastMove = t0;
  for (let i = 0; ; i++) {
    const halt = await haltOf(r);
    if (halt) throw new ReplicaHalted(halt);
    const at = Number(await infoField(r, 'replication', 'slave_repl_offset'));
    if (at >= target) return target;
    const now = Date.now();
    if (at !== last) { last = at; lastMove = now; }
    if (now - lastMove > stallMs || now - t0 > timeoutMs) {
      const why = now - lastMove > stallMs ? `no progress for ${stallMs} ms` : `not there after ${timeoutMs} ms`;
      throw new Error(`replica stuck at offset ${at}, master at ${target} (${why}); ${await applierState(r)}`);
    }
    await new Promise((res) => setTimeout(res, i < 20 ? 2 : 20));
  }
}

/** The applier fields that tell where a stuck replica waits (exchanges, per-shard offsets and queues). */
async function applierState(r: Client): Promise<string> {
  const s = (await r.str('INFO', 'applier').catch(() => null)) ?? '';
  return (s.match(/^(routed_offset|exchanges|exchanges_applied|exchange_exports|exchange_waits|exchange_pending_exports|shard\d+):.*$/gm) ?? [])
    .map((l) => l.replace(/,(bytes|batches|reads|failed|skipped|last_batch_us)=\d+/g, '')).join(' | ');
}
