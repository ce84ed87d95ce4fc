/**
 * Differential test, sorted sets and lists: fast-check generates command sequences over six keys,
 * runs them on a real redis-server and on a ShardStore (applyWrite / commit / read), and compares
 * every read reply plus, at the end, TYPE, ZRANGE 0 -1 WITHSCORES and LRANGE 0 -1 of every key.
 *
 * Keys: z1, z2 (sorted sets with mixed scores), zl (sorted set with all scores 0, the only case
 * where lex ranges are defined), l1, l2 (lists) and x (touched by both kinds: WRONGTYPE paths).
 * Bulk commands push keys over the 128-entry and 64-byte listpack limits.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TestStore, startRedis, argv, type RedisServer, type Reply } from './keyspace.helpers.js';

type Cmd = Array<string>;
type Step = { kind: 'w' | 'r'; cmd: Cmd } | { kind: 'commit' };

let redis: RedisServer;
let t: TestStore;
let run = 0;
const stats = { inline: 0, perMember: 0 };

before(async () => {
  redis = await startRedis();
  t = await TestStore.create('zdiff');
});
after(async () => {
  await t?.destroy();
  await redis?.stop();
});

const LONG = 'L'.repeat(70);
const member = fc.constantFrom('a', 'b', 'c', 'd', 'ab', 'B', '', '\x80', 'a\x00', LONG);
const score = fc.constantFrom('0', '-0', '1', '1.5', '-2', '3', 'inf', '-inf', '+inf', '0.1',
  '1.7976931348623157e308', '5e-324', '-5e-324', '1e-310', '0x10', '2.5');
const bound = fc.tuple(fc.boolean(), fc.constantFrom('0', '-0', '1', '1.5', '-2', '3', 'inf', '-inf', '+inf', '5e-324', '2'))
  .map(([ex, v]) => (ex ? '(' + v : v));
const lexBound = fc.oneof(fc.constantFrom('-', '+'),
  fc.tuple(fc.constantFrom('[', '('), member).map(([p, m]) => p + m));
const idx = fc.integer({ min: -6, max: 6 }).map(String);
const zkey = fc.constantFrom('z1', 'z2', 'x');
const lkey = fc.constantFrom('l1', 'l2', 'x');
const anyKey = fc.constantFrom('z1', 'z2', 'zl', 'l1', 'l2', 'x');
const w = (a: fc.Arbitrary<Cmd>): fc.Arbitrary<Step> => a.map((cmd) => ({ kind: 'w' as const, cmd }));
const r = (a: fc.Arbitrary<Cmd>): fc.Arbitrary<Step> => a.map((cmd) => ({ kind: 'r' as const, cmd }));
const opt = <T>(a: fc.Arbitrary<T[]>): fc.Arbitrary<T[]> => fc.oneof(fc.constant([] as T[]), a);

const zaddFlags = fc.subarray(['nx', 'xx', 'gt', 'lt', 'ch', 'incr']);
const pairs = (n: number): fc.Arbitrary<string[]> =>
  fc.array(fc.tuple(score, member), { minLength: 1, maxLength: n }).map((ps) => ps.flat());
const bulkN = fc.oneof(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 120, max: 160 }));
const bulkZ = fc.tuple(bulkN, fc.integer({ min: 1, max: 9 }))
  .map(([n, mod]) => Array.from({ length: n }, (_, i) => [String(i % mod), `m${i}`]).flat());
const bulkL = bulkN.map((n) => Array.from({ length: n }, (_, i) => `e${i % 11}`));

const writes: Array<fc.Arbitrary<Step>> = [
  w(fc.tuple(zkey, zaddFlags, pairs(3)).map(([k, f, p]) => ['zadd', k, ...f, ...p])),
  w(fc.tuple(zkey, bulkZ).map(([k, p]) => ['zadd', k, ...p])),
  w(fc.tuple(zkey, score, member).map(([k, s, m]) => ['zincrby', k, s, m])),
  w(fc.tuple(zkey, fc.array(member, { minLength: 1, maxLength: 3 })).map(([k, ms]) => ['zrem', k, ...ms])),
  w(fc.tuple(zkey, bound, bound).map(([k, a, b]) => ['zremrangebyscore', k, a, b])),
  w(fc.tuple(zkey, idx, idx).map(([k, a, b]) => ['zremrangebyrank', k, a, b])),
  w(fc.tuple(zkey, fc.constantFrom('zpopmin', 'zpopmax'), opt(fc.integer({ min: 0, max: 5 }).map((n) => [String(n)])))
    .map(([k, c, n]) => [c, k, ...n])),
  w(fc.array(member, { minLength: 1, maxLength: 4 }).map((ms) => ['zadd', 'zl', ...ms.flatMap((m) => ['0', m])])),
  w(fc.integer({ min: 100, max: 140 }).map((n) => ['zadd', 'zl', ...Array.from({ length: n }, (_, i) => ['0', `k${i}`]).flat()])),
  w(fc.tuple(lexBound, lexBound).map(([a, b]) => ['zremrangebylex', 'zl', a, b])),
  w(fc.tuple(lkey, fc.constantFrom('lpush', 'rpush', 'lpushx', 'rpushx'), fc.array(member, { minLength: 1, maxLength: 3 }))
    .map(([k, c, es]) => [c, k, ...es])),
  w(fc.tuple(lkey, fc.constantFrom('lpush', 'rpush'), bulkL).map(([k, c, es]) => [c, k, ...es])),
  w(fc.tuple(lkey, fc.constantFrom('lpop', 'rpop'), opt(fc.integer({ min: 0, max: 5 }).map((n) => [String(n)])))
    .map(([k, c, n]) => [c, k, ...n])),
  w(fc.tuple(lkey, idx, member).map(([k, i, v]) => ['lset', k, i, v])),
  w(fc.tuple(lkey, fc.constantFrom('before', 'after'), fc.oneof(member, fc.constantFrom('e0', 'e5')), member)
    .map(([k, wh, p, v]) => ['linsert', k, wh, p, v])),
  w(fc.tuple(lkey, fc.integer({ min: -3, max: 3 }), fc.oneof(member, fc.constantFrom('e1', 'e7')))
    .map(([k, n, v]) => ['lrem', k, String(n), v])),
  w(fc.tuple(lkey, idx, idx).map(([k, a, b]) => ['ltrim', k, a, b])),
];

/** Bulk writes again (extra weight): they move keys to the per-member layout. */
const bulk: Array<fc.Arbitrary<Step>> = [
  w(fc.tuple(zkey, bulkZ).map(([k, p]) => ['zadd', k, ...p])),
  w(fc.tuple(lkey, fc.constantFrom('lpush', 'rpush'), bulkL).map(([k, c, es]) => [c, k, ...es])),
];

const reads: Array<fc.Arbitrary<Step>> = [
  r(fc.tuple(anyKey, idx, idx, opt(fc.constant(['withscores'])), opt(fc.constant(['rev'])))
    .map(([k, a, b, ws, rv]) => ['zrange', k, a, b, ...rv, ...ws])),
  r(fc.tuple(zkey, bound, bound, opt(fc.constant(['withscores'])), opt(fc.tuple(idx, idx).map(([o, c]) => ['limit', o, c])))
    .map(([k, a, b, ws, l]) => ['zrangebyscore', k, a, b, ...ws, ...l])),
  r(fc.tuple(zkey, bound, bound, opt(fc.tuple(idx, idx).map(([o, c]) => ['limit', o, c])))
    .map(([k, a, b, l]) => ['zrange', k, a, b, 'byscore', 'rev', ...l])),
  r(fc.tuple(zkey, bound, bound).map(([k, a, b]) => ['zcount', k, a, b])),
  r(fc.tuple(zkey, fc.constantFrom('zrank', 'zrevrank', 'zscore'), member).map(([k, c, m]) => [c, k, m])),
  r(fc.tuple(zkey, fc.array(member, { minLength: 1, maxLength: 3 })).map(([k, ms]) => ['zmscore', k, ...ms])),
  r(fc.tuple(fc.constantFrom('zrangebylex', 'zrevrangebylex'), lexBound, lexBound, opt(fc.tuple(idx, idx).map(([o, c]) => ['limit', o, c])))
    .map(([c, a, b, l]) => [c, 'zl', a, b, ...l])),
  r(fc.tuple(lexBound, lexBound).map(([a, b]) => ['zlexcount', 'zl', a, b])),
  r(fc.tuple(anyKey, fc.constantFrom('zcard', 'llen', 'type')).map(([k, c]) => [c, k])),
  r(fc.tuple(anyKey, idx, idx).map(([k, a, b]) => ['lrange', k, a, b])),
  r(fc.tuple(lkey, idx).map(([k, i]) => ['lindex', k, i])),
  r(fc.tuple(lkey, fc.oneof(member, fc.constant('e3')), opt(fc.tuple(fc.constantFrom('-2', '-1', '1', '2'), fc.constantFrom('0', '1', '2'))
    .map(([rk, c]) => ['rank', rk, 'count', c])), opt(fc.constantFrom(['maxlen', '3'], ['maxlen', '0'])))
    .map(([k, v, o, m]) => ['lpos', k, v, ...o, ...m])),
];

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.oneof(...writes) },
  { weight: 1, arbitrary: fc.oneof(...bulk) },
  { weight: 3, arbitrary: fc.oneof(...reads) },
  { weight: 1, arbitrary: fc.constant({ kind: 'commit' as const }) },
);

/** Comparable form of a reply from either side. */
function norm(v: unknown): unknown {
  if (v === null || typeof v === 'number') return v;
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (Array.isArray(v)) return v.map(norm);
  const o = v as Record<string, string>;
  if ('error' in o) return { err: o.error };
  if ('status' in o) return { ok: o.status };
  return o;
}

const withPrefix = (cmd: Cmd, p: string): Cmd => {
  const out = [...cmd];
  out[1] = p + out[1];
  return out;
};

async function both(cmd: Cmd, kind: 'w' | 'r'): Promise<[unknown, unknown]> {
  const theirs = await redis.client.call(...argv(...cmd)) as Reply;
  if (kind === 'w') {
    const p = t.store.applyWrite(0, argv(...cmd));
    if (p) await p;
    return [null, null];
  }
  return [norm(theirs), norm(await t.store.read(0, argv(...cmd), Date.now()))];
}

test('zsets and lists: ShardStore replies equal redis-server 7.0 replies', async () => {
  await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 60, size: 'medium' }), async (steps) => {
    const p = `r${run++}:`;
    for (const [i, s] of steps.entries()) {
      if (s.kind === 'commit') { await t.store.commit(); continue; }
      const cmd = withPrefix(s.cmd, p);
      const [a, b] = await both(cmd, s.kind);
      assert.deepEqual(b, a, `step ${i}: ${JSON.stringify(cmd)}`);
    }
    await t.store.commit();
    for (const k of ['z1', 'z2', 'zl', 'l1', 'l2', 'x']) {
      const ref = t.store.lookup(0, Buffer.from(p + k), 0);
      if (ref !== null) stats[ref.meta!.version === 0 ? 'inline' : 'perMember']++;
      for (const c of [['type', k], ['zrange', k, '0', '-1', 'withscores'], ['lrange', k, '0', '-1']]) {
        const cmd = withPrefix(c, p);
        const [a, b] = await both(cmd, 'r');
        assert.deepEqual(b, a, `final ${cmd.join(' ')}`);
      }
    }
  }), { numRuns: 250, verbose: 1 });
  console.log(`keys left inline: ${stats.inline}, per-member: ${stats.perMember}`);
});
