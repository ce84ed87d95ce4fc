/**
 * Full-sync views in the Keyspace (keyspace-core.ts): a snapshot loads into a fresh view while the
 * old one stays readable (withOldView), becomes live at endLoad, and the old data is reclaimed only
 * after commitLoad. abortLoad, a crash mid-load (reopen) and a discarded group all go back to the
 * old view, and the partial load is reclaimed. Dbs past the first 16 and SWAPDB'd dbs included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestStore, sortedStrings } from './keyspace.helpers.js';

async function records(s: TestStore): Promise<number> {
  let n = 0;
  for await (const k of s.store.db.keys()) if (!(k[0] === 0xff && k[1] === 0xff)) n++;
  return n;
}

async function reclaimAll(s: TestStore): Promise<void> {
  for (let i = 0; i < 1000 && await s.store.reclaimStep(); i++) { /* until no garbage is left */ }
}

/** The old dataset: strings, a per-member set (> 128 members), a key in db 40, db 1 and 2 swapped. */
async function oldData(s: TestStore): Promise<void> {
  await s.w('set', 'a', 'old');
  const members = Array.from({ length: 300 }, (_, i) => `m${i}`);
  await s.w('sadd', 'big', ...members);
  await s.wdb(40, 'set', 'far', 'old40');
  await s.wdb(1, 'set', 'one', 'was-db1');
  s.store.swapDb(1, 2);
  s.store.setApplied(100, 'old-replid');
  await s.store.commit();
}

async function expectOld(s: TestStore, old: boolean): Promise<void> {
  const run = <T>(fn: () => Promise<T>): Promise<T> => (old ? s.store.withOldView(fn) : fn());
  assert.equal(await run(() => s.get('a')), 'old');
  assert.equal(await run(() => s.r('scard', 'big')), 300);
  assert.equal(await run(() => s.get('far', 40)), 'old40');
  assert.equal(await run(() => s.get('one', 2)), 'was-db1');
  assert.equal(await run(() => s.get('one', 1)), null);
  assert.equal(await run(() => s.get('b')), null);
  assert.equal(await run(() => s.r('dbsize')), 2);
}

async function newData(s: TestStore): Promise<void> {
  await s.w('set', 'a', 'new');
  await s.w('set', 'b', 'new');
  await s.wdb(40, 'set', 'far', 'new40');
  await s.wdb(1, 'set', 'one', 'new-db1');
}

async function expectNew(s: TestStore): Promise<void> {
  assert.equal(await s.get('a'), 'new');
  assert.equal(await s.get('b'), 'new');
  assert.equal(await s.r('exists', 'big'), 0);
  assert.equal(await s.get('far', 40), 'new40');
  assert.equal(await s.get('one', 1), 'new-db1');
  assert.equal(await s.get('one', 2), null);
  assert.equal(await s.r('dbsize'), 2);
}

test('a load is invisible until endLoad; the old view stays readable until commitLoad, then is reclaimed', async () => {
  const s = await TestStore.create('views-switch');
  try {
    await oldData(s);
    s.store.beginLoad(10);
    await newData(s);
    await s.store.commit();
    await expectOld(s, true);                  // clients during the load
    assert.equal(s.store.state.loading, true);
    s.store.endLoad();
    s.store.setApplied(500, 'new-replid');
    await s.store.commit();
    await expectNew(s);
    await expectOld(s, true);                  // a read sent before every shard finished
    assert.equal(s.store.reclaimHeld, true);
    s.store.commitLoad();
    assert.equal(s.store.reclaimHeld, false);
    await s.store.commit();                    // the old view becomes garbage with this commit
    await reclaimAll(s);
    await expectNew(s);
    await expectNew(s).then(() => s.store.withOldView(() => expectNew(s)));   // no old view left
    assert.equal(await records(s), 4);         // four string metas: the old records are gone
    await s.reopen();
    await expectNew(s);
    assert.equal(s.store.state.offset, 500);
  } finally { await s.destroy(); }
});

test('abortLoad goes back to the old view and the partial load is reclaimed', async () => {
  const s = await TestStore.create('views-abort');
  try {
    await oldData(s);
    const before = await records(s);
    s.store.beginLoad(10);
    await newData(s);
    await s.w('sadd', 'loadedset', ...Array.from({ length: 200 }, (_, i) => `x${i}`));
    await s.store.commit();
    s.store.abortLoad();
    await s.store.commit();
    await expectOld(s, false);
    assert.equal(s.store.state.loading, false);
    assert.equal(s.store.state.offset, 100);
    assert.equal(s.store.state.replid, 'old-replid');
    await reclaimAll(s);
    assert.equal(await records(s), before);
    // a later load can start again (its epoch is above every epoch seen)
    s.store.beginLoad(11);
    await newData(s);
    s.store.endLoad();
    s.store.commitLoad();
    await s.store.commit();
    await expectNew(s);
  } finally { await s.destroy(); }
});

test('a crash mid-load reopens loading; abortLoad then restores the old view', async () => {
  const s = await TestStore.create('views-crash');
  try {
    await oldData(s);
    s.store.beginLoad(10);
    await newData(s);
    await s.store.commit();
    await s.w('set', 'uncommitted', 'x');
    await s.reopen();                          // kill -9 between two groups of the load
    assert.equal(s.store.state.loading, true);
    await expectOld(s, true);                  // the old view is durable too
    s.store.abortLoad();                       // what the main thread decides at start (load-recovery.ts)
    await s.store.commit();
    await expectOld(s, false);
    await reclaimAll(s);
    await expectOld(s, false);
  } finally { await s.destroy(); }
});

test('an ended load is durable but not final: after a reopen it can still go back (old offset and replid too) or be committed', async () => {
  for (const decision of ['abort', 'commit'] as const) {
    const s = await TestStore.create(`views-ended-${decision}`);
    try {
      await oldData(s);
      const before = await records(s);
      s.store.beginLoad(10);
      await newData(s);
      s.store.endLoad();
      s.store.setApplied(500, 'new-replid');
      await s.store.commit();
      await s.wdb(7, 'set', 'after', 'stream');   // the stream after the snapshot, applied before SYNC_COMMIT
      await s.store.commit();
      await s.reopen();                        // kill -9 before SYNC_COMMIT reached this shard
      assert.equal(s.store.state.loading, false);
      assert.equal(s.store.state.loadEnded, true);
      assert.equal(s.store.reclaimHeld, true);
      await expectOld(s, true);                // the old view is still whole
      if (decision === 'abort') {
        s.store.abortLoad();                   // another shard had not ended: every shard goes back
        await s.store.commit();
        await expectOld(s, false);
        assert.equal(s.store.state.offset, 100);
        assert.equal(s.store.state.replid, 'old-replid');
        await reclaimAll(s);
        assert.equal(await records(s), before, 'the load and the stream after it are reclaimed');
        await s.reopen();
        await expectOld(s, false);
      } else {
        s.store.commitLoad();                  // every shard had ended: every shard goes forward
        await s.store.commit();
        await reclaimAll(s);
        await s.reopen();
        await expectNew(s);
        assert.equal(await s.get('after', 7), 'stream');
        assert.equal(s.store.state.offset, 500);
        assert.equal(s.store.state.loadEnded, false);
        assert.equal(await records(s), 5, 'four string metas and the stream key: the old records are gone');
      }
    } finally { await s.destroy(); }
  }
});

test('a SYNC_BEGIN on a shard whose previous load ended but was never committed drops that load', async () => {
  const s = await TestStore.create('views-begin-after-end');
  try {
    await oldData(s);
    s.store.beginLoad(10);
    await newData(s);
    s.store.endLoad();
    s.store.setApplied(500, 'new-replid');
    await s.store.commit();
    s.store.beginLoad(11);                     // the next full sync: what readers see is the view before load 10
    await s.store.commit();
    await expectOld(s, true);
    assert.equal(s.store.state.prevApplied?.offset, 100);
    s.store.abortLoad();
    await s.store.commit();
    await expectOld(s, false);
  } finally { await s.destroy(); }
});

test('a discarded group undoes beginLoad and endLoad', async () => {
  const s = await TestStore.create('views-discard');
  try {
    await oldData(s);
    s.store.beginLoad(10);
    await newData(s);
    s.store.discard();                         // the group failed: nothing of it happened
    assert.equal(s.store.state.loading, false);
    await expectOld(s, false);
    s.store.beginLoad(10);
    await newData(s);
    await s.store.commit();
    s.store.endLoad();
    s.store.discard();
    assert.equal(s.store.state.loading, true);
    await expectOld(s, true);
    assert.deepEqual(sortedStrings(await s.r('keys', '*')), ['a', 'b']);
  } finally { await s.destroy(); }
});

test('an epoch not above the current ones is refused', async () => {
  const s = await TestStore.create('views-epoch');
  try {
    s.store.flushAll(7);
    await s.store.commit();
    assert.throws(() => s.store.beginLoad(7), /PARAREPLICA|epoch/);
  } finally { await s.destroy(); }
});
