/**
 * Hash and set commands on a ShardStore, including the inline → per-member conversion (129 entries,
 * 65-byte element), reads that merge uncommitted writes with LevelDB, O(1) delete of a large
 * collection and the background reclaim of its records.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestStore, sortedStrings } from './keyspace.helpers.js';

let t: TestStore;
before(async () => { t = await TestStore.create('coll'); });
after(async () => { await t.destroy(); });

const WRONGTYPE = { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' };

/** Count LevelDB records by kind: metas (tag 0) and members (tag 1) of user dbs. */
async function rawCounts(s: TestStore): Promise<{ metas: number; members: number }> {
  let metas = 0, members = 0;
  for await (const k of s.store.db.keys()) {
    if (k[0] === 0xff && k[1] === 0xff) continue;
    if (k[6] === 0) metas++; else members++;
  }
  return { metas, members };
}

function strs(v: unknown): string[] {
  return (v as Buffer[]).map((b) => b.toString());
}

test('hash commands on a small (inline) hash', async () => {
  await t.w('hset', 'h', 'a', '1', 'b', '2');
  await t.w('HMSET', 'h', 'c', '3');
  await t.w('hsetnx', 'h', 'a', 'x');
  await t.w('hsetnx', 'h', 'd', '4');
  assert.deepEqual(strs(await t.r('hgetall', 'h')), ['a', '1', 'b', '2', 'c', '3', 'd', '4']);
  assert.deepEqual(strs(await t.r('hkeys', 'h')), ['a', 'b', 'c', 'd']);
  assert.deepEqual(strs(await t.r('hvals', 'h')), ['1', '2', '3', '4']);
  assert.equal(await t.r('hlen', 'h'), 4);
  assert.deepEqual(await t.r('hget', 'h', 'b'), Buffer.from('2'));
  assert.equal(await t.r('hget', 'h', 'zz'), null);
  assert.deepEqual(await t.r('hmget', 'h', 'a', 'zz'), [Buffer.from('1'), null]);
  assert.equal(await t.r('hexists', 'h', 'a'), 1);
  assert.equal(await t.r('hexists', 'h', 'zz'), 0);
  assert.equal(await t.r('hstrlen', 'h', 'a'), 1);
  await t.w('hincrby', 'h', 'a', 10);
  await t.w('hincrby', 'h', 'n', -5);
  await t.w('hincrbyfloat', 'h', 'b', '0.5');
  await t.w('hincrbyfloat', 'h', 'fl', '10.5');
  await t.w('hincrbyfloat', 'h', 'fl', '0.1');
  assert.deepEqual(strs(await t.r('hmget', 'h', 'a', 'n', 'b', 'fl')), ['11', '-5', '2.5', '10.6']);
  await t.w('hdel', 'h', 'a', 'zz', 'b');
  assert.equal(await t.r('hlen', 'h'), 4);
  const f0 = t.store.failedCommands;
  await t.w('hset', 'h', 'x');                               // arity
  await t.w('hincrby', 'h', 'c', 'x');                       // bad increment
  await t.w('hincrby', 'h', 'fl', 1);                        // "10.6" is not an integer
  await t.w('hincrbyfloat', 'h', 'c', 'inf');                // NaN or Infinity
  await t.w('hset', 'h', 'big', '9223372036854775807');
  await t.w('hincrby', 'h', 'big', 1);                       // overflow
  await t.w('set', 'str', 'v');
  await t.w('hset', 'str', 'f', 'v');                        // WRONGTYPE
  await t.w('hdel', 'str', 'f');
  assert.equal(t.store.failedCommands - f0, 7);
  assert.deepEqual(await t.r('hget', 'str', 'f'), WRONGTYPE);
  assert.deepEqual(await t.r('hgetall', 'missing'), []);
  assert.equal(await t.r('hlen', 'missing'), 0);
  await t.w('hdel', 'h', 'c', 'd', 'n', 'fl', 'big');
  assert.equal(await t.r('exists', 'h'), 0);                 // emptied hash is deleted
});

test('set commands on a small (inline) set', async () => {
  await t.w('sadd', 's', 'a', 'b', 'a', 'c');
  assert.equal(await t.r('scard', 's'), 3);
  assert.deepEqual(sortedStrings(await t.r('smembers', 's')), ['a', 'b', 'c']);
  assert.equal(await t.r('sismember', 's', 'a'), 1);
  assert.equal(await t.r('sismember', 's', 'z'), 0);
  assert.deepEqual(await t.r('smismember', 's', 'a', 'z', 'c'), [1, 0, 1]);
  assert.deepEqual(await t.r('smismember', 'missing', 'a'), [0]);
  await t.w('srem', 's', 'a', 'zz');
  assert.equal(await t.r('scard', 's'), 2);
  const f0 = t.store.failedCommands;
  await t.w('sadd', 'str', 'x');
  await t.w('srem', 'str', 'x');
  await t.w('sadd', 's');
  assert.equal(t.store.failedCommands - f0, 3);
  assert.deepEqual(await t.r('smembers', 'str'), WRONGTYPE);
  await t.w('srem', 's', 'b', 'c');
  assert.equal(await t.r('exists', 's'), 0);
});

test('hash converts to per-member at the 129th field and keeps working across commits', async () => {
  const s = await TestStore.create('hconv');
  try {
    for (let i = 0; i < 128; i++) await s.w('hset', 'H', `f${i}`, `v${i}`);
    await s.store.commit();
    assert.deepEqual(await rawCounts(s), { metas: 1, members: 0 });
    await s.w('hset', 'H', 'f128', 'v128');
    await s.store.commit();
    assert.deepEqual(await rawCounts(s), { metas: 1, members: 129 });
    assert.equal(await s.r('hlen', 'H'), 129);
    await s.w('hset', 'H', 'f5', 'new5', 'extra', 'e');      // uncommitted: reads must merge
    await s.w('hdel', 'H', 'f7');
    assert.equal(await s.r('hlen', 'H'), 129);
    assert.deepEqual(await s.r('hget', 'H', 'f5'), Buffer.from('new5'));
    assert.equal(await s.r('hget', 'H', 'f7'), null);
    const all = strs(await s.r('hgetall', 'H'));
    const map = new Map<string, string>();
    for (let i = 0; i < all.length; i += 2) map.set(all[i], all[i + 1]);
    assert.equal(map.size, 129);
    assert.equal(map.get('f5'), 'new5');
    assert.equal(map.get('extra'), 'e');
    assert.ok(!map.has('f7'));
    await s.w('hincrby', 'H', 'cnt', 3);
    await s.w('hincrbyfloat', 'H', 'cnt', 1.5);
    await s.w('hsetnx', 'H', 'cnt', 'x');
    assert.deepEqual(await s.r('hget', 'H', 'cnt'), Buffer.from('4.5'));
    await s.store.commit();
    await s.reopen();
    assert.equal(await s.r('hlen', 'H'), 130);
    assert.equal((strs(await s.r('hkeys', 'H'))).length, 130);
  } finally {
    await s.destroy();
  }
});

test('a 65-byte field, value or member converts at once', async () => {
  const s = await TestStore.create('conv65');
  try {
    await s.w('hset', 'H1', 'f', 'x'.repeat(64));
    await s.w('hset', 'H2', 'f', 'x'.repeat(65));
    await s.w('hset', 'H3', 'y'.repeat(65), 'v');
    await s.w('sadd', 'S1', 'z'.repeat(64));
    await s.w('sadd', 'S2', 'a', 'z'.repeat(65));
    await s.store.commit();
    assert.deepEqual(await rawCounts(s), { metas: 5, members: 1 + 1 + 2 });
    assert.deepEqual(await s.r('hget', 'H2', 'f'), Buffer.from('x'.repeat(65)));
    assert.deepEqual(sortedStrings(await s.r('smembers', 'S2')), ['a', 'z'.repeat(65)]);
  } finally {
    await s.destroy();
  }
});

test('set converts at 129 members; SREM to empty deletes; uncommitted members visible', async () => {
  const s = await TestStore.create('sconv');
  try {
    const members = Array.from({ length: 129 }, (_, i) => `m${i}`);
    await s.w('sadd', 'S', ...members.slice(0, 128));
    await s.store.commit();
    assert.deepEqual(await rawCounts(s), { metas: 1, members: 0 });
    await s.w('sadd', 'S', members[128], members[0]);
    assert.equal(await s.r('scard', 'S'), 129);
    assert.deepEqual(sortedStrings(await s.r('smembers', 'S')), [...members].sort());   // before commit
    await s.store.commit();
    assert.deepEqual(await rawCounts(s), { metas: 1, members: 129 });
    assert.equal(await s.r('sismember', 'S', 'm100'), 1);
    await s.w('srem', 'S', ...members.slice(0, 100));
    assert.equal(await s.r('scard', 'S'), 29);
    assert.equal((await s.r('smembers', 'S') as Buffer[]).length, 29);
    await s.w('srem', 'S', ...members);
    assert.equal(await s.r('exists', 'S'), 0);
    await s.store.commit();
    while (await s.store.reclaimStep(10));
    assert.deepEqual(await rawCounts(s), { metas: 0, members: 0 });
    assert.equal(await s.r('dbsize'), 0);
  } finally {
    await s.destroy();
  }
});

test('deleting a large collection is O(1) and reclaim removes its records in bounded steps', async () => {
  const s = await TestStore.create('bigdel');
  try {
    for (let i = 0; i < 50; i++) {
      const args: string[] = [];
      for (let j = 0; j < 100; j++) args.push(`f${i * 100 + j}`, `v${j}`);
      await s.w('hset', 'BIG', ...args);
    }
    await s.w('sadd', 'keep', ...Array.from({ length: 200 }, (_, i) => `k${i}`));
    await s.store.commit();
    assert.deepEqual(await rawCounts(s), { metas: 2, members: 5200 });
    await s.w('del', 'BIG');
    assert.equal(await s.r('exists', 'BIG'), 0);
    await s.store.commit();
    // the records are still there (invisible) until reclaim runs
    assert.deepEqual(await rawCounts(s), { metas: 1, members: 5200 });
    await s.w('hset', 'BIG', 'new', 'v');                   // same name, new life: unaffected by reclaim
    await s.store.commit();
    let steps = 0;
    while (await s.store.reclaimStep(1000)) steps++;
    assert.ok(steps >= 5, `took ${steps} steps`);
    assert.deepEqual(await rawCounts(s), { metas: 2, members: 200 });
    assert.deepEqual(strs(await s.r('hgetall', 'BIG')), ['new', 'v']);
    assert.equal(await s.r('scard', 'keep'), 200);
    assert.equal(await s.store.reclaimStep(), false);
  } finally {
    await s.destroy();
  }
});

test('SET over a large collection drops its members; reads of the string work', async () => {
  const s = await TestStore.create('setover');
  try {
    await s.w('sadd', 'X', ...Array.from({ length: 300 }, (_, i) => `m${i}`));
    await s.store.commit();
    await s.w('set', 'X', 'str');
    await s.store.commit();
    while (await s.store.reclaimStep());
    assert.deepEqual(await rawCounts(s), { metas: 1, members: 0 });
    assert.equal(await s.get('X'), 'str');
    assert.deepEqual(await s.r('type', 'X'), { status: 'string' });
  } finally {
    await s.destroy();
  }
});
