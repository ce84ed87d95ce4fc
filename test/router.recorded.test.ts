/**
 * Router over a REAL recorded stream: the bytes a redis-server master sent to a replica under mixed
 * traffic (all types, SELECTs, MULTI/EXEC, multi-key DEL, FLUSHALL) are recorded once, then routed in
 * random chunk splits through real rings; the records that come out (kind, db, offset, payload, per
 * shard and in order) must be identical to routing the whole stream in one piece.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import pino from 'pino';
import { MasterLink } from '../src/replication/link.js';
import { Router } from '../src/router/router.js';
import { SharedState } from '../src/shm/layout.js';
import { RingProducer, RingConsumer } from '../src/shm/ring.js';
import { startRedis, Client, type RedisServer } from './helpers/redis.js';
import { commandGenerator } from './helpers/loadgen.js';

let master: RedisServer;
let stream: Buffer;

before(async () => {
  master = await startRedis();
  const chunks: Buffer[] = [];
  let end = 0;
  let synced!: () => void;
  const ready = new Promise<void>((r) => { synced = r; });
  const link = new MasterLink({ host: '127.0.0.1', port: master.port, listeningPort: 1, logger: pino({ level: 'silent' }) }, {
    ackOffset: () => end,
    fullSyncStart: () => undefined,
    rdb: { entry: () => undefined },
    fullSyncEnd: () => synced(),
    continueSync: () => undefined,
    streamData: (buf, _s, e) => { chunks.push(Buffer.from(buf)); end = e; },
    linkDown: () => undefined,
  });
  link.start({ replid: null, offset: -1 });
  await ready;
  const c = await Client.connect(master.port);
  const next = commandGenerator(11);
  for (let i = 0; i < 20; i++) {
    const cmds: (string | number)[][] = [];
    while (cmds.length < 200) cmds.push(...next());
    if (i % 7 === 6) cmds.push(['FLUSHALL']);
    await c.pipeline(cmds);
  }
  const target = Number((await c.str('INFO', 'replication'))!.match(/master_repl_offset:(\d+)/)![1]);
  while (end < target) await new Promise((r) => setTimeout(r, 10));
  c.close();
  await link.stop();
  stream = Buffer.concat(chunks);
});
after(async () => { await master?.stop(); });

interface Rec { kind: number; db: number; offset: number; aux: number; payload: string }

function routeAll(splits: number[]): { records: Rec[][]; router: Router } {
  const shards = 3;
  const shared = SharedState.create(shards, 1 << 22);
  const producers = shared.handles.requestRings.map((sab) => new RingProducer(sab));
  const consumers = shared.handles.requestRings.map((sab) => new RingConsumer(sab));
  const router = new Router(shared, producers, { barrier: () => undefined, halt: (e) => { throw e; } });
  const records: Rec[][] = [[], [], []];
  let pos = 0, i = 0;
  while (pos < stream.length) {
    const n = splits.length ? splits[i++ % splits.length] : stream.length;
    assert.equal(router.route(stream.subarray(pos, Math.min(stream.length, pos + n))), true);
    pos += n;
    for (let s = 0; s < shards; s++) {
      const c = consumers[s];
      while (c.next()) {
        // Barrier ids come from a per-run epoch counter: compare them relative to the run.
        records[s].push({ kind: c.kind, db: c.db, offset: c.offset, aux: c.aux, payload: c.payload().toString('latin1') });
      }
      c.release();
    }
  }
  return { records, router };
}

test('router: random chunk splits of a recorded master stream route exactly like the whole stream', () => {
  assert.ok(stream.length > 50_000, `recorded ${stream.length} bytes`);
  const whole = routeAll([]);
  assert.equal(whole.router.offset, stream.length);
  assert.ok(whole.router.transactions > 0 && whole.router.barriers > 0 && whole.router.crossShardSplits > 0,
    `stream should exercise MULTI, barriers and splits: ${whole.router.transactions}/${whole.router.barriers}/${whole.router.crossShardSplits}`);
  assert.ok(whole.records.every((r) => r.length > 100));
  fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 30 }), (splits) => {
    const split = routeAll(splits);
    assert.deepEqual(split.records, whole.records);
    assert.equal(split.router.safeOffset, whole.router.safeOffset);
    assert.equal(split.router.db, whole.router.db);
  }), { numRuns: 40 });
});
