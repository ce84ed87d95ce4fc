/**
 * Differential tests against a real redis-server 7.0: fast-check generates sequences of the write
 * commands a ShardStore implements (plus reads) over 8 keys; each sequence runs on redis-server and
 * on a ShardStore (group commits at random points). Every write must fail on both or on neither,
 * every read reply must match, and the whole keyspace (type, value, TTL presence, DBSIZE) must match
 * after each sequence. Also: INCRBYFLOAT formatting and KEYS glob matching against Redis.
 *
 * The store runs with deleteOnPastExpiry = true: a standalone redis-server is a master, which deletes
 * a key given an expiry in the past (a replica would keep it, which the unit tests cover).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TestStore, startRedis, RedisServer } from './keyspace.helpers.js';

let redis: RedisServer;
let t: TestStore;
let epoch = 1;

before(async () => {
  redis = await startRedis();
  t = await TestStore.create('diff', { metaCacheEntries: 3 });   // tiny meta cache: exercise eviction
  t.store.deleteOnPastExpiry = true;
});
after(async () => {
  await redis?.stop();
  await t?.destroy();
});

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7'];
const FUTURE = 4_000_000_000_000;
const LONG = 'L'.repeat(65);

const key = fc.constantFrom(...KEYS);
const val = fc.oneof(
  fc.constantFrom('0', '1', '-1', '10', 'abc', '', '9223372036854775807', '-9223372036854775808', '1.5', '01', ' 1', '10.5', LONG),
  fc.string({ maxLength: 6 }),
);
const int = fc.oneof(fc.integer({ min: -100, max: 100 }).map(String),
  fc.constantFrom('9223372036854775807', '-9223372036854775808', 'abc', '1.5', ''));
const flt = fc.oneof(fc.constantFrom('0.1', '0.2', '-3', '1e20', '10.5', '1.5e3', 'inf', 'nan', 'abc', '0x10', '-1e-19', '3e-5', ''),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }).map(String));
const absTime = fc.oneof(fc.integer({ min: 0, max: 1000 }).map((d) => String(FUTURE + d * 1000)), fc.constant('1000'));
const flags = fc.constantFrom([], ['nx'], ['xx'], ['gt'], ['lt'], ['NX'], ['xx', 'gt'], ['nx', 'xx'], ['foo']);
const field = fc.constantFrom('f0', 'f1', 'f2', 'f3', LONG);
const member = fc.constantFrom('m0', 'm1', 'm2', 'm3', '1', '2', LONG);
const setOpts = fc.oneof(
  fc.constantFrom([], ['nx'], ['xx'], ['get'], ['keepttl'], ['px', '100000'], ['ex', '100'], ['nx', 'get'],
    ['exat', String(FUTURE / 1000)], ['ex', '0'], ['nx', 'xx'], ['keepttl', 'get']),
  absTime.map((t0) => ['pxat', t0]), absTime.map((t0) => ['xx', 'PXAT', t0]));

type Cmd = string[];
const READS = new Set(['get', 'strlen', 'type', 'hlen', 'scard', 'exists', 'getrange', 'mget', 'hget', 'hexists',
  'hstrlen', 'hmget', 'sismember', 'smismember', 'hgetall', 'hkeys', 'hvals', 'smembers']);
const many = <T>(a: fc.Arbitrary<T>, n = 3) => fc.array(a, { minLength: 1, maxLength: n });

const bulk: fc.Arbitrary<Cmd> = fc.oneof(
  fc.tuple(key, fc.integer({ min: 120, max: 140 })).map(([k, n]) => ['sadd', k, ...Array.from({ length: n }, (_, i) => `b${i}`)]),
  fc.tuple(key, fc.integer({ min: 120, max: 140 })).map(([k, n]) => ['hset', k, ...Array.from({ length: n }, (_, i) => [`b${i}`, `v${i}`]).flat()]),
  fc.tuple(key, fc.integer({ min: 0, max: 140 }), fc.integer({ min: 1, max: 140 })).map(([k, a, n]) => ['srem', k, ...Array.from({ length: n }, (_, i) => `b${a + i}`)]),
  fc.tuple(key, fc.integer({ min: 0, max: 140 }), fc.integer({ min: 1, max: 140 })).map(([k, a, n]) => ['hdel', k, ...Array.from({ length: n }, (_, i) => `b${a + i}`)]),
);
const writeCmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.tuple(key, val, setOpts).map(([k, v, o]) => ['set', k, v, ...o]),
  fc.tuple(key, val).map(([k, v]) => ['setnx', k, v]),
  fc.tuple(key, fc.constantFrom('100', '0', '-1'), val).map(([k, s, v]) => ['setex', k, s, v]),
  fc.tuple(key, fc.constantFrom('100000', '0'), val).map(([k, s, v]) => ['psetex', k, s, v]),
  fc.tuple(key, val).map(([k, v]) => ['getset', k, v]),
  key.map((k) => ['getdel', k]),
  fc.tuple(key, val).map(([k, v]) => ['append', k, v]),
  fc.tuple(key, fc.constantFrom('0', '2', '10', '-1'), val).map(([k, o, v]) => ['setrange', k, o, v]),
  fc.tuple(fc.constantFrom('incr', 'decr'), key).map(([c, k]) => [c, k]),
  fc.tuple(fc.constantFrom('incrby', 'decrby'), key, int).map(([c, k, n]) => [c, k, n]),
  fc.tuple(key, flt).map(([k, f]) => ['incrbyfloat', k, f]),
  many(fc.tuple(key, val)).map((p) => ['mset', ...p.flat()]),
  many(fc.tuple(key, val)).map((p) => ['msetnx', ...p.flat()]),
  fc.tuple(fc.constantFrom('del', 'unlink'), many(key)).map(([c, ks]) => [c, ...ks]),
  fc.tuple(key, absTime, flags).map(([k, t0, f]) => ['pexpireat', k, t0, ...f]),
  fc.tuple(key, absTime, flags).map(([k, t0, f]) => ['expireat', k, String(Math.floor(Number(t0) / 1000)), ...f]),
  fc.tuple(fc.constantFrom('expire', 'pexpire'), key, fc.constantFrom('100', '-1', 'x'), flags).map(([c, k, n, f]) => [c, k, c === 'pexpire' ? n + '000' : n, ...f]),
  key.map((k) => ['persist', k]),
  fc.tuple(fc.constantFrom('hset', 'hmset'), key, many(fc.tuple(field, val))).map(([c, k, p]) => [c, k, ...p.flat()]),
  fc.tuple(key, field, val).map(([k, f, v]) => ['hsetnx', k, f, v]),
  fc.tuple(key, many(field)).map(([k, fs]) => ['hdel', k, ...fs]),
  fc.tuple(key, field, int).map(([k, f, n]) => ['hincrby', k, f, n]),
  fc.tuple(key, field, flt).map(([k, f, x]) => ['hincrbyfloat', k, f, x]),
  fc.tuple(key, many(member, 4)).map(([k, ms]) => ['sadd', k, ...ms]),
  fc.tuple(key, many(member, 4)).map(([k, ms]) => ['srem', k, ...ms]),
  // bulk commands that cross the 128-entry inline limit, and shrink big collections again
  bulk,
  bulk,
);

const readCmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.tuple(fc.constantFrom('get', 'strlen', 'type', 'hlen', 'scard', 'exists'), key).map(([c, k]) => [c, k]),
  fc.tuple(key, fc.constantFrom('0', '-1', '2', '-3', '100'), fc.constantFrom('0', '-1', '3', '-5')).map(([k, a, b]) => ['getrange', k, a, b]),
  many(key).map((ks) => ['mget', ...ks]),
  many(key).map((ks) => ['exists', ...ks]),
  fc.tuple(fc.constantFrom('hget', 'hexists', 'hstrlen'), key, field).map(([c, k, f]) => [c, k, f]),
  fc.tuple(key, many(field)).map(([k, fs]) => ['hmget', k, ...fs]),
  fc.tuple(fc.constantFrom('sismember'), key, member).map(([c, k, m]) => [c, k, m]),
  fc.tuple(key, many(member)).map(([k, ms]) => ['smismember', k, ...ms]),
  fc.tuple(fc.constantFrom('hgetall', 'hkeys', 'hvals', 'smembers'), key).map(([c, k]) => [c, k]),
);

const step: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: writeCmd }, { weight: 2, arbitrary: readCmd }, { weight: 1, arbitrary: fc.constant(['__commit'] as Cmd) });

/** Normalise a reply for comparison; unordered collections are sorted (pairs for HGETALL). */
function norm(cmd: string, r: unknown): unknown {
  if (r === null || typeof r === 'number') return r;
  if (Buffer.isBuffer(r)) return r.toString('latin1');
  if (Array.isArray(r)) {
    const a = r.map((x) => norm('', x));
    if (cmd === 'hgetall') {
      const pairs: string[] = [];
      for (let i = 0; i < a.length; i += 2) pairs.push(`${a[i]}=${a[i + 1]}`);
      return pairs.sort();
    }
    if (cmd === 'smembers' || cmd === 'hkeys' || cmd === 'hvals') return [...(a as string[])].sort();
    return a;
  }
  const o = r as Record<string, string>;
  if ('ok' in o) return { status: o.ok };
  if ('err' in o) return { error: o.err };
  return o;
}

async function dump(): Promise<[unknown, unknown]> {
  const mine: unknown[] = [], theirs: unknown[] = [];
  for (const k of KEYS) {
    const ty = norm('', await redis.client.call('type', k)) as { status: string };
    const readers: Record<string, string> = { string: 'get', hash: 'hgetall', set: 'smembers', none: 'exists' };
    const lens: Record<string, string> = { string: 'strlen', hash: 'hlen', set: 'scard', none: 'exists' };
    const rc = readers[ty.status], lc = lens[ty.status];
    const pt = (await redis.client.call('pttl', k)) as number;
    theirs.push([k, ty, norm(rc, await redis.client.call(rc, k)), await redis.client.call(lc, k), pt >= 0 ? 'ttl' : pt]);
    const mpt = (await t.r('pttl', k)) as number;
    mine.push([k, await t.r('type', k), norm(rc, await t.r(rc, k)), await t.r(lc, k), mpt >= 0 ? 'ttl' : mpt]);
  }
  theirs.push(await redis.client.call('dbsize'));
  mine.push(await t.r('dbsize'));
  // INFO keyspace: "db0:keys=3,expires=1,avg_ttl=…" (no line for an empty db)
  const info = (await redis.client.call('info', 'keyspace') as Buffer).toString();
  const m = /db0:keys=(\d+),expires=(\d+)/.exec(info);
  theirs.push(m ? [[0, Number(m[1]), Number(m[2])]] : []);
  mine.push(await t.r('__keyspace'));
  return [mine, theirs];
}

test('random command sequences give the same results and keyspace as redis-server', { timeout: 120_000 }, async () => {
  await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 10, maxLength: 60, size: 'max' }), async (cmds) => {
    await redis.client.call('flushall');
    t.store.flushAll(epoch++);
    for (const c of cmds) {
      if (c[0] === '__commit') { await t.store.commit(); continue; }
      const theirs = await redis.client.call(...c);
      if (READS.has(c[0])) {
        assert.deepEqual(norm(c[0], await t.r(...c)), norm(c[0], theirs), `read ${c.join(' ')}`);
        continue;
      }
      const f0 = t.store.failedCommands;
      await t.w(...c);
      const failed = t.store.failedCommands > f0;
      const redisFailed = theirs !== null && typeof theirs === 'object' && 'err' in (theirs as object);
      assert.equal(failed, redisFailed, `write ${c.join(' ').slice(0, 200)} → redis ${JSON.stringify(norm(c[0], theirs))}, ours ${t.store.lastFailure}`);
    }
    const [mine, theirs] = await dump();
    assert.deepEqual(mine, theirs);
  }), { numRuns: 300 });
  await t.store.commit();
  while (await t.store.reclaimStep(5000));
});

test('INCRBYFLOAT results are byte-identical to redis-server', async () => {
  const fixed: Array<[string, string]> = [
    ['10.5', '0.1'], ['0.1', '0.2'], ['1', '1e20'], ['1', '1.18e4932'], ['0', '3.7e-4951'], ['1', '1e-4940'],
    ['0', '123456789.123456789'], ['-5', '4.99999999999999999'], ['1e300', '1e300'], ['0', '0x1p-3'],
    // exact ties at the 64-bit significand: round half to even
    ['0', '18446744073709551617'], ['0', '18446744073709551619'], ['0', '-18446744073709551619'],
    ['18446744073709551616', '1'], ['0.5', '0.25'], ['1e-17', '0.5e-17'], ['0', '0.000000000000000015'],
    ['0', '0.000003814697265625'], ['0', '0.000011444091796875'], ['1', '-0.000003814697265625'],
  ];
  const rnd = fc.sample(fc.tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double({ noNaN: true, noDefaultInfinity: true })), { numRuns: 150, seed: 42 })
    .map(([a, b]) => [String(a), String(b)] as [string, string]);
  for (const [a, b] of [...fixed, ...rnd]) {
    await redis.client.call('set', 'f', a);
    const theirs = await redis.client.call('incrbyfloat', 'f', b);
    await t.w('set', 'f', a);
    const f0 = t.store.failedCommands;
    await t.w('incrbyfloat', 'f', b);
    if (Buffer.isBuffer(theirs)) assert.equal(await t.get('f'), theirs.toString(), `${a} + ${b}`);
    else assert.equal(t.store.failedCommands, f0 + 1, `${a} + ${b}: redis says ${JSON.stringify(theirs)}`);
  }
});

test('KEYS glob matching agrees with redis-server', async () => {
  await redis.client.call('flushall');
  t.store.flushAll(epoch++);
  const alphabet = ['a', 'b', 'A', '*', '?', '[', ']', '^', '-', '\\', 'z'];
  const str = (max: number) => fc.array(fc.constantFrom(...alphabet), { maxLength: max }).map((a) => a.join(''));
  const keys = [...new Set(fc.sample(str(4), { numRuns: 60, seed: 7 }))];
  for (const k of keys) {
    await redis.client.call('set', k, '1');
    await t.w('set', k, '1');
  }
  await fc.assert(fc.asyncProperty(str(6), async (pat) => {
    const theirs = ((await redis.client.call('keys', pat)) as Buffer[]).map((b) => b.toString()).sort();
    const mine = ((await t.r('keys', pat)) as Buffer[]).map((b) => b.toString()).sort();
    assert.deepEqual(mine, theirs, `pattern ${JSON.stringify(pat)}`);
  }), { numRuns: 400 });
});
