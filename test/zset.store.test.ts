/**
 * Unit tests for the sorted-set commands on a real ShardStore (workers/t_zset.ts, zset_store.ts,
 * zset_read.ts): layout boundaries, ordering, special scores, failures, overlay vs committed reads.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestStore } from './keyspace.helpers.js';
import { T_ZSET } from '../workers/keyspace.js';

let t: TestStore;
before(async () => { t = await TestStore.create('zset'); });
after(async () => { await t.destroy(); });

const str = (v: unknown): unknown =>
  Buffer.isBuffer(v) ? v.toString('latin1') : Array.isArray(v) ? v.map(str) : v;
const rd = async (...a: Array<string | number | Buffer>): Promise<unknown> => str(await t.r(...a));
/** Layout of a key: 'inline' or 'per-member'. */
const layout = (key: string): string => {
  const r = t.store.ref(0, Buffer.from(key));
  assert.equal(r.meta?.type, T_ZSET);
  return r.meta!.version === 0 ? 'inline' : 'per-member';
};
/** Run the same checks before commit (overlay), after commit, and after reopening the store. */
async function atEveryLayer(check: () => Promise<void>): Promise<void> {
  await check();
  await t.store.commit();
  await check();
  await t.reopen();
  await check();
}

test('128 members stay inline, the 129th converts; order and scores survive', async () => {
  const pairs: Array<string | number> = [];
  for (let i = 0; i < 128; i++) pairs.push(i % 7, `m${String(i).padStart(3, '0')}`);
  await t.w('zadd', 'b128', ...pairs);
  assert.equal(layout('b128'), 'inline');
  await t.w('zadd', 'b128', 3.5, 'extra');
  assert.equal(layout('b128'), 'per-member');
  const want: Array<[string, number]> = [];
  for (let i = 0; i < 128; i++) want.push([`m${String(i).padStart(3, '0')}`, i % 7]);
  want.push(['extra', 3.5]);
  want.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
  await atEveryLayer(async () => {
    assert.equal(await rd('zcard', 'b128'), 129);
    assert.deepEqual(await rd('zrange', 'b128', 0, -1, 'withscores'), want.flatMap(([m, s]) => [m, String(s)]));
    assert.deepEqual(await rd('zrange', 'b128', 0, 2, 'rev'), want.slice(-3).reverse().map((e) => e[0]));
    assert.deepEqual(await rd('zrange', 'b128', -2, -1), want.slice(-2).map((e) => e[0]));
    assert.equal(await rd('zrank', 'b128', 'extra'), want.findIndex((e) => e[0] === 'extra'));
    assert.equal(await rd('zrevrank', 'b128', 'extra'), 128 - want.findIndex((e) => e[0] === 'extra'));
    assert.equal(await rd('zcount', 'b128', '(3', 4), want.filter((e) => e[1] > 3 && e[1] <= 4).length);
    assert.equal(await rd('zscore', 'b128', 'extra'), '3.5');
  });
});

test('64-byte members stay inline, a 65-byte member converts', async () => {
  await t.w('zadd', 'len', 1, 'x'.repeat(64));
  assert.equal(layout('len'), 'inline');
  await t.w('zadd', 'len', 2, 'y'.repeat(65));
  assert.equal(layout('len'), 'per-member');
  await t.w('zadd', 'len65', 1, 'z'.repeat(65));
  assert.equal(layout('len65'), 'per-member');
  await atEveryLayer(async () => {
    assert.deepEqual(await rd('zrange', 'len', 0, -1), ['x'.repeat(64), 'y'.repeat(65)]);
    assert.deepEqual(await rd('zrange', 'len65', 0, -1, 'withscores'), ['z'.repeat(65), '1']);
  });
});

for (const big of [false, true]) {
  const k = big ? 'tiesB' : 'tiesI';
  test(`ties order by member bytes (memcmp), ${big ? 'per-member' : 'inline'}`, async () => {
    const members = ['b', 'a', 'ab', '', 'B', '\x7f', '\x80', '\xff', 'a\x00'];
    for (const m of members) await t.w('zadd', k, 1, Buffer.from(m, 'latin1'));
    if (big) await t.w('zadd', k, 2, 'L'.repeat(70));
    assert.equal(layout(k), big ? 'per-member' : 'inline');
    const want = [...members].sort((x, y) => Buffer.compare(Buffer.from(x, 'latin1'), Buffer.from(y, 'latin1')));
    if (big) want.push('L'.repeat(70));
    await atEveryLayer(async () => {
      assert.deepEqual(await rd('zrange', k, 0, -1), want);
      assert.deepEqual(await rd('zrangebyscore', k, 1, '(2'), want.filter((m) => m.length < 70));
      assert.deepEqual(await rd('zrangebylex', k, '[a', '(b'), ['a', 'a\x00', 'ab']);
      assert.deepEqual(await rd('zrevrangebylex', k, '(b', '[a', 'limit', 1, 5), ['a\x00', 'a']);
    });
  });
}

for (const big of [false, true]) {
  const k = big ? 'specB' : 'specI';
  test(`special scores: -0/+0, infinities, extremes (${big ? 'per-member' : 'inline'})`, async () => {
    if (big) await t.w('zadd', k, 0.5, 'P'.repeat(70));
    await t.w('zadd', k, '-0', 'negzero', '+0', 'poszero', 'inf', 'pinf', '-inf', 'ninf');
    await t.w('zadd', k, '1.7976931348623157e308', 'max', '5e-324', 'tiny', '-1.7976931348623157e308', 'min');
    await t.w('zadd', k, '-5e-324', 'ntiny');
    // Redis treats -0 and 0 as one score: the ZADD below is no change and ties order by member.
    await t.w('zadd', k, 'xx', 'ch', '0', 'negzero');
    // -0: a listpack prints it as 0, a skiplist keeps "-0" (both observed on Redis 7.0.15).
    const want = ['ninf', '-inf', 'min', '-1.7976931348623157e+308', 'ntiny', '-4.9406564584124654e-324',
      'negzero', big ? '-0' : '0', 'poszero', '0', 'tiny', '4.9406564584124654e-324'];
    if (big) want.push('P'.repeat(70), '0.5');
    want.push('max', '1.7976931348623157e+308', 'pinf', 'inf');
    await atEveryLayer(async () => {
      assert.deepEqual(await rd('zrange', k, 0, -1, 'withscores'), want);
      assert.equal(await rd('zscore', k, 'negzero'), big ? '-0' : '0');
      assert.deepEqual(await rd('zmscore', k, 'negzero', 'poszero'), [big ? '-0' : '0', '0']);
      assert.deepEqual(await rd('zrangebyscore', k, '-inf', '-inf'), ['ninf']);
      assert.deepEqual(await rd('zrangebyscore', k, '(-inf', '(inf'), want.filter((_, i) => i % 2 === 0).slice(1, -1));
      assert.deepEqual(await rd('zrangebyscore', k, '-0', '0'), ['negzero', 'poszero']);
      assert.deepEqual(await rd('zrangebyscore', k, '(0', '(1'), big ? ['tiny', 'P'.repeat(70)] : ['tiny']);
      assert.deepEqual(await rd('zrevrangebyscore', k, '(0', '-inf', 'limit', 0, 2), ['ntiny', 'min']);
      assert.equal(await rd('zcount', k, '(-0', '+inf'), big ? 4 : 3);
    });
  });
}

test('ZADD flags: NX, XX, GT, LT, INCR; ZINCRBY; NaN increments fail and change nothing', async () => {
  await t.w('zadd', 'fl', 1, 'a', 2, 'b');
  await t.w('zadd', 'fl', 'nx', 9, 'a', 3, 'c');
  await t.w('zadd', 'fl', 'xx', 5, 'b', 4, 'd');
  await t.w('zadd', 'fl', 'gt', 'ch', 0, 'a', 6, 'c');
  await t.w('zadd', 'fl', 'lt', 7, 'b', 1, 'e');
  await t.w('zadd', 'fl', 'incr', 10, 'a');
  await t.w('zincrby', 'fl', '-0.5', 'e');
  assert.deepEqual(await rd('zrange', 'fl', 0, -1, 'withscores'), ['e', '0.5', 'b', '5', 'c', '6', 'a', '11']);
  const failed = t.store.failedCommands;
  await t.w('zadd', 'fl', 'inf', 'inf');
  await t.w('zincrby', 'fl', '-inf', 'inf');             // inf + -inf = NaN
  await t.w('zadd', 'fl', 'incr', '+inf', 'inf');        // fine: inf + inf
  assert.equal(t.store.failedCommands, failed + 1);
  await t.w('zadd', 'fl', 'nx', 'xx', 1, 'q');
  await t.w('zadd', 'fl', 'gt', 'lt', 1, 'q');
  await t.w('zadd', 'fl', 'incr', 1, 'q', 2, 'r');
  await t.w('zadd', 'fl', 'nan', 'q');
  await t.w('zadd', 'fl', 1, 'q', 2);
  await t.w('zincrby', 'fl', 'x', 'q');
  assert.equal(t.store.failedCommands, failed + 7);
  assert.equal(await rd('zscore', 'fl', 'q'), null);
  assert.equal(await rd('zscore', 'fl', 'inf'), 'inf');
  await t.w('zadd', 'xxmissing', 'xx', 1, 'a');
  assert.deepEqual(await t.r('type', 'xxmissing'), { status: 'none' });
});

test('WRONGTYPE is a counted failure for writes and an error reply for reads', async () => {
  await t.w('set', 'str', 'v');
  const failed = t.store.failedCommands;
  await t.w('zadd', 'str', 1, 'a');
  await t.w('zrem', 'str', 'a');
  await t.w('zpopmin', 'str');
  await t.w('zremrangebyrank', 'str', 0, -1);
  assert.equal(t.store.failedCommands, failed + 4);
  for (const cmd of [['zrange', 'str', 0, -1], ['zscore', 'str', 'a'], ['zcard', 'str'], ['zrank', 'str', 'a'],
    ['zmscore', 'str', 'a'], ['zcount', 'str', 0, 1], ['zrangebylex', 'str', '-', '+']]) {
    assert.deepEqual(await t.r(...cmd), { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' }, cmd.join(' '));
  }
  assert.deepEqual(await rd('get', 'str'), 'v');
});

for (const big of [false, true]) {
  const k = big ? 'popB' : 'popI';
  test(`ZPOPMIN/ZPOPMAX/ZREM/ZREMRANGEBY* delete the key when empty (${big ? 'per-member' : 'inline'})`, async () => {
    const pairs: Array<string | number> = [];
    const n = big ? 300 : 20;
    for (let i = 0; i < n; i++) pairs.push(i, `m${String(i).padStart(3, '0')}`);
    await t.w('zadd', k, ...pairs);
    await t.w('zpopmin', k);
    await t.w('zpopmax', k, 2);
    await t.w('zpopmin', k, 0);
    assert.equal(await rd('zcard', k), n - 3);
    assert.deepEqual(await rd('zrange', k, 0, 0), ['m001']);
    assert.deepEqual(await rd('zrange', k, -1, -1), [`m${String(n - 3).padStart(3, '0')}`]);
    await t.w('zremrangebyrank', k, 0, 1);           // m001 m002
    await t.w('zremrangebyscore', k, '(5', 7);       // m006 m007
    await t.w('zrem', k, 'm003', 'nope', 'm003');
    await atEveryLayer(async () => {
      assert.deepEqual(await rd('zrange', k, 0, 3), ['m004', 'm005', 'm008', 'm009']);
      assert.equal(await rd('zcard', k), n - 8);
      assert.equal(await rd('zrank', k, 'm008'), 2);
    });
    await t.w('zpopmax', k, 1000);
    assert.deepEqual(await t.r('type', k), { status: 'none' });
    await t.w('zadd', k, 1, 'a', 1, 'b', 1, 'c');
    await t.w('zremrangebylex', k, '[a', '(c');
    assert.deepEqual(await rd('zrange', k, 0, -1), ['c']);
    await t.w('zrem', k, 'c');
    await t.store.commit();
    assert.deepEqual(await t.r('type', k), { status: 'none' });
    assert.equal(await rd('zcard', k), 0);
  });
}

test('reads hide logically expired zsets; writes still see them', async () => {
  await t.w('zadd', 'exp', 1, 'a');
  await t.w('pexpireat', 'exp', 1000);
  assert.deepEqual(await t.rAt(999, 'zrange', 'exp', 0, -1), [Buffer.from('a')]);
  assert.deepEqual(await t.rAt(1000, 'zscore', 'exp', 'a'), Buffer.from('1'));
  assert.deepEqual(await t.rAt(1001, 'zrange', 'exp', 0, -1), []);
  assert.equal(await t.rAt(1001, 'zscore', 'exp', 'a'), null);
  assert.equal(await t.rAt(1001, 'zcard', 'exp'), 0);
  await t.w('zadd', 'exp', 2, 'b');
  assert.deepEqual(await t.rAt(1000, 'zrange', 'exp', 0, -1), [Buffer.from('a'), Buffer.from('b')]);
});

test('read argument errors match Redis 7.0 wording and precedence', async () => {
  await t.w('zadd', 'args', 1, 'a', 2, 'b');
  const e = (m: string): { error: string } => ({ error: m });
  assert.deepEqual(await t.r('zrange', 'args', 'a', 'b', 'limit', 0, 1),
    e('ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX'));
  assert.deepEqual(await t.r('zrange', 'args', 'a', 'b', 'bylex', 'withscores'),
    e('ERR syntax error, WITHSCORES not supported in combination with BYLEX'));
  assert.deepEqual(await t.r('zrange', 'args', 0, -1, 'rev', 'rev'), e('ERR syntax error'));
  assert.deepEqual(await t.r('zrange', 'args', 0, 1, 'limit', 'x', 'y', 'foo'), e('ERR value is not an integer or out of range'));
  assert.deepEqual(await t.r('zrangebyscore', 'args', 'x', 1), e('ERR min or max is not a float'));
  assert.deepEqual(await t.r('zrangebylex', 'args', 'x', '+'), e('ERR min or max not valid string range item'));
  assert.deepEqual(await t.r('zcount', 'nokey', 'x', 1), e('ERR min or max is not a float'));
  assert.deepEqual(await t.r('zrank', 'args'), e("ERR wrong number of arguments for 'zrank' command"));
  assert.deepEqual(str(await t.r('zmscore', 'nokey', 'a', 'b')), [null, null]);
  assert.deepEqual(str(await t.r('zrange', 'args', '(1', '+inf', 'byscore', 'withscores')), ['b', '2']);
  assert.deepEqual(str(await t.r('zrange', 'args', '+inf', '(1', 'byscore', 'rev', 'limit', 0, -1)), ['b']);
  assert.deepEqual(str(await t.r('zrangebyscore', 'args', '-inf', '+inf', 'limit', -1, 2)), []);
  assert.deepEqual(str(await t.r('zrangebyscore', 'args', '-inf', '+inf', 'limit', 1, -1)), ['b']);
});
