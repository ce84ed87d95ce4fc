/**
 * A shard that fails on a snapshot record (a corrupt value the parser could not see: a set with a
 * duplicate member) halts. The main thread's SYNC_ABORT of that load must put it back on its data from
 * before the load and resume it, wherever the group boundaries fall: the failing record, the
 * SYNC_ABORT behind it and the reads after it are often one group. Stream writes routed just before
 * the load, in the same group as the failing record, must not be lost either.
 *
 * The records go through the real main-thread path (FullSync on a Router) into real appliers; the
 * variants differ in what shares a group with the failing record. And a new sync that starts once the
 * previous snapshot is applied everywhere (before the cron committed it) keeps that snapshot.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { startEngine, type TestEngine } from './helpers/engine.js';
import { FullSync } from '../src/engine/full-sync.js';
import { encodeCommand } from '../src/resp/encode.js';
import { S_HALTED } from '../src/shm/layout.js';
import { shardOfKey } from '../src/router/slot.js';

const SHARDS = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const route = (e: TestEngine, ...argv: string[]) => { assert.ok(e.router.route(encodeCommand(argv))); };

async function keysOf(e: TestEngine, db: number): Promise<string[]> {
  const out: string[] = [];
  for (let s = 0; s < SHARDS; s++) {
    const r = await e.reads.read(s, db, [Buffer.from('KEYS'), Buffer.from('*')]);
    assert.ok(Array.isArray(r), `shard ${s}: KEYS replied ${JSON.stringify(r)}`);
    for (const k of r as Buffer[]) out.push(k.toString());
  }
  return out.sort();
}

/** A key of the snapshot whose set value repeats a member (corrupt: only the applier sees it). */
function badSet(fs: FullSync): string {
  const key = Buffer.from('dup-set');
  const h = fs.handler(() => undefined);
  h.begin!({ db: 0, key, type: 2, value: Buffer.alloc(0), expireMs: -1 }, 2);
  h.part!(Buffer.from('m'));
  h.part!(Buffer.from('m'));
  h.end!();
  return key.toString();
}

type Variant = 'one block' | 'stream write in the same block' | 'abort later';

async function run(variant: Variant): Promise<void> {
  const e = await startEngine(SHARDS);
  try {
    const old = Array.from({ length: 20 }, (_, i) => `k${i}`);
    for (const k of old) route(e, 'SET', k, `v-${k}`);
    await e.settle();
    const fs = new FullSync(e.shared, e.router, pino({ level: 'silent' }), { pause() {}, resume() {} }, false);
    const expected = [...old];
    // Synchronously: the appliers most likely see what follows as one group (two at most).
    if (variant === 'stream write in the same block') { route(e, 'SET', 'late', 'x'); expected.push('late'); }
    fs.begin(e.router.offset + 1000, 0);
    const h = fs.handler(() => undefined);
    h.entry({ db: 0, key: Buffer.from('new-a'), type: 0, value: Buffer.from('n'), expireMs: -1 });
    const bad = badSet(fs);
    h.entry({ db: 0, key: Buffer.from('new-b'), type: 0, value: Buffer.from('n'), expireMs: -1 });
    if (variant === 'abort later') {
      await assert.doesNotReject(() => waitHalted(e, shardOfKey(Buffer.from(bad), SHARDS)));
    }
    fs.abort('test: the snapshot was cut short');
    const reads = keysOf(e, 0);
    assert.deepEqual(await reads, expected.sort(), `${variant}: reads right after the abort`);
    // The shard that halted on the bad record resumed: it applies new stream writes again.
    const after = Array.from({ length: 10 }, (_, i) => `after${i}`);
    e.router.resetAt(e.router.offset, 0);
    for (const k of after) route(e, 'SET', k, 'y');
    await e.settle();
    for (let s = 0; s < SHARDS; s++) assert.equal(e.shared.shardWord(s, S_HALTED), 0, `${variant}: shard ${s} still halted`);
    assert.deepEqual(await keysOf(e, 0), [...expected, ...after].sort(), `${variant}: after new writes`);
    assert.equal(e.halts.length, 1, `${variant}: one halt reported (${JSON.stringify(e.halts)})`);
    assert.match(JSON.stringify(e.halts[0]), /PARAREPLICA_RDB_CORRUPT/);
  } finally {
    await e.close();
  }
}

async function waitHalted(e: TestEngine, shard: number): Promise<void> {
  for (let i = 0; i < 400; i++) { if (e.shared.shardWord(shard, S_HALTED) === 1) return; await sleep(5); }
  throw new Error(`shard ${shard} did not halt on the corrupt record`);
}

for (const variant of ['one block', 'stream write in the same block', 'abort later'] as const) {
  test(`a shard halted by a corrupt snapshot record is back on its old data at the SYNC_ABORT (${variant})`, { timeout: 60_000 }, async () => {
    for (let i = 0; i < 5; i++) await run(variant);
  });
}

test('a new full sync that starts once every shard applied the previous snapshot keeps that snapshot (aborting the new one goes back to it)', { timeout: 60_000 }, async () => {
  const e = await startEngine(SHARDS);
  try {
    for (let i = 0; i < 10; i++) route(e, 'SET', `old${i}`, 'o');
    await e.settle();
    const fs = new FullSync(e.shared, e.router, pino({ level: 'silent' }), { pause() {}, resume() {} }, false);
    const first = Array.from({ length: 10 }, (_, i) => `first${i}`);
    fs.begin(e.router.offset + 1000, 0);
    const h = fs.handler(() => undefined);
    for (const k of first) h.entry({ db: 0, key: Buffer.from(k), type: 0, value: Buffer.from('f'), expireMs: -1 });
    fs.end('a'.repeat(40));
    assert.equal(fs.phase, 'applying');
    // Every shard passes SYNC_END; the cron that would commit has not run yet.
    for (let i = 0; i < 400 && !fs.appliedEverywhere; i++) await sleep(5);
    assert.ok(fs.appliedEverywhere, 'the shards did not pass SYNC_END');
    fs.begin(e.router.offset + 5000, 0);
    assert.equal(fs.completed, 1, 'the applied snapshot was committed before the new sync began');
    fs.abort('test: the second snapshot was cut short');
    assert.deepEqual(await keysOf(e, 0), first.sort());
  } finally {
    await e.close();
  }
});

