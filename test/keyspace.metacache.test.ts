/**
 * The decoded meta cache (workers/meta-cache.ts): ownership of cached metas (taken by the overlay,
 * given back at commit, never holding ring views), empty entries after a discard or an untouched
 * ref, and known-empty epochs (no LevelDB read for a key with no entry) with evictions, discards,
 * FLUSHDB and reopen. Every check compares what the store answers with what was committed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestStore, sortedStrings } from './keyspace.helpers.js';

test('inline values built from ring views stay intact after the ring is reused', async () => {
  const s = await TestStore.create('mc-own');
  try {
    const view = Buffer.from(new SharedArrayBuffer(8192));
    let at = 0;
    const put = (str: string): Buffer => { view.write(str, at, 'latin1'); const b = view.subarray(at, at + str.length); at += str.length; return b; };
    s.store.applyWrite(0, [put('ZADD'), put('z'), put('1'), put('alpha'), put('2.5'), put('beta')]);
    s.store.applyWrite(0, [put('SADD'), put('s'), put('m1'), put('m2')]);
    s.store.applyWrite(0, [put('HSET'), put('h'), put('f'), put('v')]);
    s.store.applyWrite(0, [put('RPUSH'), put('l'), put('e1'), put('e2')]);
    s.store.applyWrite(0, [put('SET'), put('str'), put('value')]);
    await s.store.commit();
    view.fill(0x21);                                       // the ring is reused
    at = 0;
    s.store.applyWrite(0, [put('ZADD'), put('z'), put('3'), put('gamma')]);   // takes the cached meta
    s.store.applyWrite(0, [put('SADD'), put('s'), put('m3')]);
    await s.store.commit();
    view.fill(0x3f);
    assert.deepEqual((await s.r('zrange', 'z', 0, -1, 'withscores') as Buffer[]).map(String), ['alpha', '1', 'beta', '2.5', 'gamma', '3']);
    assert.deepEqual(sortedStrings(await s.r('smembers', 's')), ['m1', 'm2', 'm3']);
    assert.equal(String(await s.r('hget', 'h', 'f')), 'v');
    assert.deepEqual((await s.r('lrange', 'l', 0, -1) as Buffer[]).map(String), ['e1', 'e2']);
    assert.equal(await s.get('str'), 'value');
    await s.reopen();
    assert.deepEqual((await s.r('zrange', 'z', 0, -1) as Buffer[]).map(String), ['alpha', 'beta', 'gamma']);
  } finally {
    await s.destroy();
  }
});

test('a discarded group and a taken-but-unchanged ref leave the committed metas readable', async () => {
  const s = await TestStore.create('mc-discard');
  try {
    await s.w('zadd', 'z', 1, 'a');
    await s.w('set', 'k', 'v1');
    await s.store.commit();
    await s.w('zadd', 'z', 2, 'b');                        // takes z's cached meta and changes it
    await s.w('zadd', 'z', 'nx', 5, 'a');                  // no change
    await s.w('set', 'k', 'v2');
    await s.w('set', 'new', 'x');
    s.store.discard();
    assert.deepEqual((await s.r('zrange', 'z', 0, -1, 'withscores') as Buffer[]).map(String), ['a', '1']);
    assert.equal(await s.get('k'), 'v1');
    assert.equal(await s.get('new'), null);
    await s.w('zadd', 'z', 'xx', 9, 'missing');             // taken, not dirtied
    await s.store.commit();
    assert.equal(await s.r('zcard', 'z'), 1);
    await s.w('zadd', 'z', 3, 'c');
    await s.store.commit();
    assert.deepEqual((await s.r('zrange', 'z', 0, -1) as Buffer[]).map(String), ['a', 'c']);
  } finally {
    await s.destroy();
  }
});

test('known-empty epochs: evictions, FLUSHALL, a discarded FLUSHDB and reopen never hide a key', async () => {
  for (const entries of [3, 100_000]) {
    const s = await TestStore.create('mc-empty', { metaCacheEntries: entries });
    try {
      for (let i = 0; i < 20; i++) await s.w('set', `k${i}`, `v${i}`);
      await s.store.commit();
      for (let i = 0; i < 20; i++) assert.equal(await s.get(`k${i}`), `v${i}`, `k${i} with ${entries} entries`);
      await s.reopen();                                      // the probe finds db 0 non-empty
      await s.w('set', 'k20', 'v20');
      for (let i = 0; i <= 20; i++) assert.equal(await s.get(`k${i}`), `v${i}`);
      await s.store.commit();
      s.store.flushDb(0, 5);                                 // then the group fails
      await s.w('set', 'gone', 'x');
      s.store.discard();
      for (let i = 0; i <= 20; i++) assert.equal(await s.get(`k${i}`), `v${i}`);
      assert.equal(await s.get('gone'), null);
      s.store.flushAll(7);
      for (let i = 0; i < 10; i++) await s.w('set', `n${i}`, `w${i}`);
      await s.store.commit();
      await s.w('set', 'n3', 'changed');
      for (let i = 0; i < 10; i++) assert.equal(await s.get(`n${i}`), i === 3 ? 'changed' : `w${i}`);
      assert.equal(await s.get('k1'), null);
      await s.store.commit();
      await s.reopen();
      for (let i = 0; i < 10; i++) assert.equal(await s.get(`n${i}`), i === 3 ? 'changed' : `w${i}`);
      assert.equal(await s.r('dbsize'), 10);
    } finally {
      await s.destroy();
    }
  }
});
