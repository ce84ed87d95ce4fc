/**
 * Storage engine behaviour of ShardStore: group commit with the applied offset in the same batch,
 * reopen, FLUSHDB/FLUSHALL epochs and reclaim, the pending layer during a commit, discard() of a failed
 * group, argv views into shared memory, merged member ranges, and the data-directory format check.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Packr } from 'msgpackr';
import { ClassicLevel } from 'classic-level';
import { TestStore, argv } from './keyspace.helpers.js';
import { ShardStore, KeyRef } from '../workers/keyspace.js';
import { isParaError } from '../src/errors.js';
import { FORMAT, packr as layoutPackr } from '../workers/layout.js';

async function recordCount(s: TestStore): Promise<number> {
  let n = 0;
  for await (const k of s.store.db.keys()) if (!(k[0] === 0xff && k[1] === 0xff)) n++;
  return n;
}

test('data and applied offset become durable together, and only at commit', async () => {
  const s = await TestStore.create('offset');
  try {
    await s.w('set', 'a', '1');
    await s.w('incr', 'a');
    s.store.setApplied(100, 'replid-1');
    await s.store.commit();
    await s.w('incr', 'a');                       // applied but never committed ("crash")
    await s.w('sadd', 'lost', 'x');
    s.store.setApplied(200);
    await s.reopen();
    assert.equal(s.store.state.offset, 100);
    assert.equal(s.store.state.replid, 'replid-1');
    assert.equal(await s.get('a'), '2');
    assert.equal(await s.r('exists', 'lost'), 0);
    assert.equal(await s.r('dbsize'), 1);
    // replaying from offset 100 applies the lost INCR exactly once
    await s.w('incr', 'a');
    s.store.setApplied(200);
    await s.store.commit();
    await s.reopen();
    assert.equal(await s.get('a'), '3');
    assert.equal(s.store.state.offset, 200);
  } finally {
    await s.destroy();
  }
});

test('commit writes one batch; a key touched many times is written once; empty commit is a no-op', async () => {
  const s = await TestStore.create('combine');
  try {
    for (let i = 0; i < 1000; i++) await s.w('incr', 'ctr');
    let puts = 0;
    const db = s.store.db as unknown as { batch(): unknown };
    const orig = db.batch.bind(s.store.db);
    let batches = 0;
    db.batch = () => {
      batches++;
      const b = orig() as { put(k: Buffer, v: Buffer): unknown };
      const put = b.put.bind(b);
      b.put = (k: Buffer, v: Buffer) => { puts++; return put(k, v); };
      return b;
    };
    await s.store.commit();
    assert.equal(batches, 1);
    assert.equal(puts, 2);                                  // the meta of 'ctr' + the state record
    await s.store.commit();
    assert.equal(batches, 1);                               // nothing dirty: no batch at all
    s.store.setApplied(5);
    await s.store.commit();
    assert.equal(batches, 2);                               // offset moved: state record only
    assert.equal(await s.get('ctr'), '1000');
  } finally {
    await s.destroy();
  }
});

test('FLUSHDB hides one db at once, FLUSHALL every db; both survive reopen and get reclaimed', async () => {
  const s = await TestStore.create('flush');
  try {
    for (let i = 0; i < 300; i++) await s.wdb(0, 'set', `k${i}`, 'v');
    await s.wdb(0, 'sadd', 'bigset', ...Array.from({ length: 200 }, (_, i) => `m${i}`));
    await s.wdb(1, 'set', 'one', '1');
    await s.wdb(1, 'pexpireat', 'one', 4_000_000_000_000);
    await s.wdb(3, 'hset', 'h3', 'f', 'v');
    await s.store.commit();
    await s.wdb(0, 'set', 'uncommitted', 'v');
    s.store.flushDb(0, 7);
    assert.equal(await s.rdb(0, 'dbsize'), 0);
    assert.equal(await s.get('k1'), null);
    assert.equal(await s.get('uncommitted'), null);
    assert.equal(await s.rdb(0, 'scard', 'bigset'), 0);
    assert.deepEqual(await s.rdb(0, 'keys', '*'), []);
    assert.equal(await s.get('one', 1), '1');
    await s.wdb(0, 'set', 'after', 'flush');               // new epoch accepts writes at once
    s.store.setApplied(10);
    await s.store.commit();
    await s.reopen();
    assert.deepEqual(s.store.state.epochs.slice(0, 2), [7, 0]);
    assert.equal(await s.get('after'), 'flush');
    assert.equal(await s.get('k1'), null);
    assert.deepEqual(await s.r('__keyspace'), [[0, 1, 0], [1, 1, 1], [3, 1, 0]]);
    assert.ok(await recordCount(s) > 500);
    while (await s.store.reclaimStep(128));
    assert.equal(await recordCount(s), 3);                 // after, one, h3 (metas only)
    assert.throws(() => s.store.flushDb(0, 7), (e: unknown) => isParaError(e) && e.code === 'PARAREPLICA_APPLY_FAILED');
    s.store.flushAll(9);
    assert.deepEqual(await s.r('__keyspace'), []);
    assert.equal(await s.get('one', 1), null);
    assert.equal(await s.rdb(3, 'hget', 'h3', 'f'), null);
    await s.wdb(2, 'set', 'x', 'y');                        // a db never seen before
    await s.store.commit();
    while (await s.store.reclaimStep());
    assert.equal(await recordCount(s), 1);
    await s.reopen();
    assert.deepEqual(await s.r('__keyspace'), [[2, 1, 0]]);
  } finally {
    await s.destroy();
  }
});

test('reads and writes during an in-flight commit see the pending batch', async () => {
  const s = await TestStore.create('pending');
  try {
    await s.w('set', 'a', '1');
    await s.w('sadd', 'S', ...Array.from({ length: 150 }, (_, i) => `m${i}`));
    const p = s.store.commit();                             // not awaited
    assert.equal(await s.get('a'), '1');
    assert.equal(await s.r('sismember', 'S', 'm149'), 1);
    await s.w('incr', 'a');
    assert.equal(await s.get('a'), '2');
    await p;
    assert.equal(await s.r('scard', 'S'), 150);
    await s.store.commit();
    await s.reopen();
    assert.equal(await s.get('a'), '2');
  } finally {
    await s.destroy();
  }
});

test('argv views into shared memory may be reused after commit', async () => {
  const s = await TestStore.create('sab');
  try {
    const sab = new SharedArrayBuffer(4096);
    const view = Buffer.from(sab);
    const put = (at: number, str: string) => { view.write(str, at, 'latin1'); return view.subarray(at, at + str.length); };
    const a = [put(0, 'SET'), put(10, 'key'), put(20, 'value-one')];
    s.store.applyWrite(0, a);
    const b = [put(40, 'hset'), put(50, 'h'), put(60, 'field'), put(70, 'x'.repeat(100))];
    s.store.applyWrite(0, b);
    const c = [put(200, 'sadd'), put(210, 's'), ...Array.from({ length: 130 }, (_, i) => put(300 + i * 8, `mem${String(i).padStart(4, '0')}`))];
    s.store.applyWrite(0, c);
    await s.store.commit();
    view.fill(0x21);                                       // the ring is reused
    assert.equal(await s.get('key'), 'value-one');
    assert.deepEqual(await s.r('hget', 'h', 'field'), Buffer.from('x'.repeat(100)));
    assert.equal(await s.r('sismember', 's', 'mem0129'), 1);
    assert.equal(await s.r('scard', 's'), 130);
  } finally {
    await s.destroy();
  }
});

test('members(): bounded, reverse and limited ranges merge the overlay with LevelDB', async () => {
  const s = await TestStore.create('range');
  try {
    const names = Array.from({ length: 200 }, (_, i) => `m${String(i).padStart(3, '0')}`);
    await s.w('sadd', 'S', ...names.filter((_, i) => i % 2 === 0));
    await s.store.commit();
    await s.w('sadd', 'S', ...names.filter((_, i) => i % 2 === 1));   // uncommitted odd members
    await s.w('srem', 'S', 'm010', 'm011');
    const ks = s.store;
    const ref = ks.lookup(0, Buffer.from('S'), Date.now()) as KeyRef;
    const collect = async (o: Parameters<typeof ks.members>[1]) => {
      const out: string[] = [];
      for await (const [k] of ks.members(ref, o)) out.push(k.toString());
      return out;
    };
    const live = names.filter((n) => n !== 'm010' && n !== 'm011');
    assert.deepEqual(await collect({}), live);
    assert.deepEqual(await collect({ reverse: true }), [...live].reverse());
    assert.deepEqual(await collect({ gte: Buffer.from('m005'), lt: Buffer.from('m015') }),
      ['m005', 'm006', 'm007', 'm008', 'm009', 'm012', 'm013', 'm014']);
    assert.deepEqual(await collect({ gte: Buffer.from('m005'), lt: Buffer.from('m015'), reverse: true, limit: 3 }),
      ['m014', 'm013', 'm012']);
    assert.deepEqual(await collect({ limit: 0 }), []);
  } finally {
    await s.destroy();
  }
});

test('opening a directory written with another state format fails with PARAREPLICA_DATA_DIR', async () => {
  const s = await TestStore.create('format');
  const loc = path.join(s.dir, 'shard-0');
  await s.store.close();
  const raw = new ClassicLevel<Buffer, Buffer>(loc, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await raw.open();
  await raw.put(Buffer.from([0xff, 0xff, 0x53]), new Packr({ useRecords: false }).pack({ format: 99 }));
  await raw.close();
  await assert.rejects(ShardStore.open(loc), (e: unknown) => isParaError(e) && e.code === 'PARAREPLICA_DATA_DIR');
  s.store = await ShardStore.open(path.join(s.dir, 'other'));
  await s.destroy();
});

test('a format-2 shard (before segmented strings) opens, keeps its data and is marked format 3 at the next commit', async () => {
  const s = await TestStore.create('format2');
  const loc = path.join(s.dir, 'shard-0');
  await s.w('set', 'k', 'v');
  await s.store.commit();
  await s.store.close();
  const stateKey = Buffer.from([0xff, 0xff, 0x53]);
  const raw = new ClassicLevel<Buffer, Buffer>(loc, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await raw.open();
  await raw.put(stateKey, layoutPackr.pack({ ...(layoutPackr.unpack((await raw.get(stateKey))!) as object), format: 2 }));
  await raw.close();
  s.store = await ShardStore.open(loc);
  assert.equal(await s.get('k'), 'v');
  await s.w('set', 'k2', 'v2');
  await s.store.commit();
  await s.store.close();
  await raw.open();
  assert.equal((layoutPackr.unpack((await raw.get(stateKey))!) as { format: number }).format, FORMAT);
  await raw.close();
  s.store = await ShardStore.open(loc);
  await s.destroy();
});

test('keys in different dbs are independent', async () => {
  const s = await TestStore.create('dbs');
  try {
    await s.wdb(0, 'set', 'k', 'zero');
    await s.wdb(5, 'set', 'k', 'five');
    await s.wdb(5, 'sadd', 's', 'a');
    assert.equal(await s.get('k', 0), 'zero');
    assert.equal(await s.get('k', 5), 'five');
    assert.equal(await s.rdb(0, 'exists', 's'), 0);
    assert.equal(await s.rdb(5, 'dbsize'), 2);
    assert.equal(s.store.applyWrite(5, argv('del', 'k')), undefined);   // sync fast path
    assert.equal(await s.get('k', 5), null);
    assert.equal(await s.get('k', 0), 'zero');
  } finally {
    await s.destroy();
  }
});

// ----- discard(): a group that fails half-way leaves nothing behind -----------------------------------
async function garbageCount(s: TestStore): Promise<number> {
  let n = 0;
  for await (const k of s.store.db.keys({ gte: Buffer.from([0xff, 0xff, 0x47]), lt: Buffer.from([0xff, 0xff, 0x48]) })) n++;
  return n;
}

/** Counts the batches the store starts from now on. */
function countBatches(s: TestStore): { n: number } {
  const c = { n: 0 };
  const db = s.store.db as unknown as { batch(): unknown }, orig = db.batch.bind(s.store.db);
  db.batch = () => { c.n++; return orig(); };
  return c;
}

const members = (n: number, p = 'm') => Array.from({ length: n }, (_, i) => `${p}${i}`);

test('discard() drops every uncommitted change: data, conversions, flushes, counts, offset', async () => {
  const s = await TestStore.create('discard');
  try {
    await s.w('set', 'a', '1');
    await s.w('sadd', 'small', 'x', 'y', 'z');
    await s.w('sadd', 'big', ...members(200));                       // per-member
    await s.w('zadd', 'Z', ...members(150).flatMap((m, i) => [i, m])); // per-member
    await s.w('hset', 'h', 'f', 'v');
    await s.w('set', 'e', 'v');
    await s.w('pexpireat', 'e', 4_000_000_000_000);
    await s.wdb(1, 'set', 'one', '1');
    s.store.setApplied(100, 'replid-1');
    await s.store.commit();
    const committed = structuredClone(s.store.state);
    const garbageBefore = await garbageCount(s);
    // the failed group: a MULTI/EXEC-like run whose last command throws
    await s.w('incr', 'a');
    await s.w('set', 'new', 'v');
    await s.w('sadd', 'small', ...members(140, 's'));                 // converts: nextVersion moves
    await s.w('sadd', 'big', 'extra');
    await s.w('srem', 'big', 'm0', 'm1');
    await s.w('del', 'Z');                                            // garbage range
    await s.w('hdel', 'h', 'f');                                      // deletes the key
    await s.w('pexpireat', 'a', 4_000_000_000_000);                   // expires count
    s.store.flushDb(1, 5);                                            // epoch + garbage range
    await s.wdb(1, 'set', 'two', '2');
    s.store.setApplied(200, 'replid-2');
    s.store.beginLoad(7);                                             // a full sync begun in the failed group
    assert.notDeepEqual(s.store.state, committed);
    assert.throws(() => s.store.applyWrite(0, argv('nosuchcommand', 'k')),
      (e: unknown) => isParaError(e) && e.code === 'PARAREPLICA_UNSUPPORTED_COMMAND');
    s.store.discard();

    const check = async () => {
      assert.deepEqual(s.store.state, committed);
      assert.equal(await s.get('a'), '1');
      assert.equal(await s.r('ttl', 'a'), -1);
      assert.equal(await s.r('exists', 'new'), 0);
      assert.equal(await s.r('scard', 'small'), 3);
      assert.equal(await s.r('sismember', 'small', 's0'), 0);
      assert.equal(await s.r('scard', 'big'), 200);
      assert.equal(await s.r('sismember', 'big', 'm0'), 1);
      assert.equal(await s.r('sismember', 'big', 'extra'), 0);
      assert.equal(await s.r('zcard', 'Z'), 150);
      assert.equal(String(await s.r('zscore', 'Z', 'm149')), '149');
      assert.deepEqual(await s.r('hget', 'h', 'f'), Buffer.from('v'));
      assert.equal(await s.get('one', 1), '1');
      assert.equal(await s.get('two', 1), null);
      assert.deepEqual(await s.r('__keyspace'), [[0, 6, 1], [1, 1, 0]]);
      assert.equal(await s.r('dbsize'), 6);
      assert.deepEqual(s.store.keyspaceInfo(), [[0, 6, 1], [1, 1, 0]]);
    };
    await check();

    const batches = countBatches(s);
    await s.store.commit();
    assert.equal(batches.n, 0);                                       // nothing left to write
    assert.equal(await garbageCount(s), garbageBefore);
    await s.reopen();
    await check();

    // the store goes on normally: a replay of the group from offset 100 applies it exactly once
    await s.w('incr', 'a');
    await s.w('sadd', 'small', ...members(140, 's'));
    s.store.setApplied(200);
    await s.store.commit();
    assert.equal(s.store.state.nextVersion, committed.nextVersion + 1);
    await s.reopen();
    assert.equal(await s.get('a'), '2');
    assert.equal(await s.r('scard', 'small'), 143);
    assert.equal(s.store.state.offset, 200);
  } finally {
    await s.destroy();
  }
});

test('discard() with nothing uncommitted, and right after open, changes nothing', async () => {
  const s = await TestStore.create('discard-empty');
  try {
    const fresh = structuredClone(s.store.state);
    await s.w('set', 'a', '1');
    s.store.setApplied(7);
    s.store.discard();
    assert.deepEqual(s.store.state, fresh);
    assert.equal(await s.get('a'), null);
    await s.w('set', 'a', '2');
    s.store.setApplied(8);
    await s.store.commit();
    const after = structuredClone(s.store.state);
    s.store.discard(); s.store.discard();
    assert.deepEqual(s.store.state, after);
    assert.equal(await s.get('a'), '2');
    await s.reopen();
    s.store.discard();
    assert.deepEqual(s.store.state, after);
    assert.equal(await s.get('a'), '2');
  } finally {
    await s.destroy();
  }
});

test('discard() during an in-flight commit keeps the pending batch and drops only later writes', async () => {
  const s = await TestStore.create('discard-pending');
  try {
    await s.w('set', 'a', '1');
    await s.w('rpush', 'L', 'x', 'y');
    s.store.setApplied(10);
    const p = s.store.commit();                                       // not awaited
    const inFlight = structuredClone(s.store.state);
    await s.w('incr', 'a');                                           // ref taken from the pending layer
    await s.w('rpush', 'L', 'z');
    await s.w('set', 'b', 'v');
    s.store.setApplied(20);
    assert.equal(await s.get('a'), '2');
    s.store.discard();
    assert.deepEqual(s.store.state, inFlight);
    assert.equal(await s.get('a'), '1');
    assert.deepEqual(await s.r('lrange', 'L', 0, -1), [Buffer.from('x'), Buffer.from('y')]);
    assert.equal(await s.r('exists', 'b'), 0);
    await p;
    await s.store.commit();
    await s.reopen();
    assert.deepEqual(s.store.state, inFlight);
    assert.equal(await s.get('a'), '1');
    assert.equal(await s.r('llen', 'L'), 2);
  } finally {
    await s.destroy();
  }
});

test('discard() after a failed batch write goes back to the last durable commit', async () => {
  const s = await TestStore.create('discard-failed');
  try {
    await s.w('set', 'a', '1');
    s.store.setApplied(10);
    await s.store.commit();
    const durable = structuredClone(s.store.state);
    await s.w('set', 'a', '2');
    await s.w('sadd', 'S', ...members(130));
    s.store.setApplied(20);
    const db = s.store.db as unknown as { batch(): unknown };
    const orig = db.batch.bind(s.store.db);
    db.batch = () => {
      const b = orig() as { write(): Promise<void> };
      b.write = () => Promise.reject(new Error('disk full'));
      return b;
    };
    await assert.rejects(s.store.commit(), (e: unknown) => isParaError(e) && e.code === 'PARAREPLICA_APPLY_FAILED');
    db.batch = orig; s.store.discard();
    assert.deepEqual(s.store.state, durable);
    assert.equal(await s.get('a'), '1');
    assert.equal(await s.r('exists', 'S'), 0);
    await s.reopen();
    assert.deepEqual(s.store.state, durable);
    assert.equal(await s.get('a'), '1');
  } finally {
    await s.destroy();
  }
});

test('commits are durable through both batch paths: the reused native batch and a fresh chained batch', async () => {
  const s = await TestStore.create('batch-paths');
  try {
    await s.w('set', 'a', '1');
    await s.w('sadd', 'big', ...Array.from({ length: 200 }, (_, i) => `m${i}`));
    await s.store.commit();                               // reused native batch
    const db = s.store.db as unknown as { batch(): unknown };
    db.batch = db.batch.bind(s.store.db);                 // an own batch(): the chained-batch path
    await s.w('set', 'b', '2');
    await s.w('srem', 'big', 'm0');
    s.store.setApplied(7);
    await s.store.commit();
    await s.reopen();
    assert.equal(await s.get('a'), '1');
    assert.equal(await s.get('b'), '2');
    assert.equal(await s.r('scard', 'big'), 199);
    assert.equal(s.store.state.offset, 7);
  } finally { await s.destroy(); }
});
