/**
 * Invariant 5 (the link never waits for the appliers) end to end: with tiny rings and a tiny routing
 * buffer, a burst of writes puts the appliers far behind the link, so routing must switch to reading
 * back from the relay log (and back to memory once caught up). The keyspace must still equal the
 * master's, and the relay log must shed its segments once every shard has applied past them.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Replica } from '../src/replica.js';
import { startRedis, Client, infoField, waitFor, type RedisServer } from './helpers/redis.js';
import { assertSameKeyspace } from './helpers/keyspace.js';

let master: RedisServer | undefined;
let replica: Replica | undefined;
let dir: string | undefined;
after(async () => {
  await replica?.stop();
  await master?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('appliers far behind: routing reads back from the relay log, catches up, and old segments are deleted', { timeout: 180_000 }, async () => {
  master = await startRedis();
  dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-relay-'));
  replica = await Replica.start({ master: { host: '127.0.0.1', port: master.port }, port: 0, dir, workers: 2,
    ringBytes: 64 * 1024, relayBufferBytes: 64 * 1024, relaySegmentBytes: 64 * 1024, logger: pino({ level: 'silent' }) });
  const m = await Client.connect(master.port);
  const r = await Client.connect(replica.port);
  await waitFor('synced', async () => (await infoField(r, 'replication', 'master_link_status')) === 'up');
  const bench = (args: string[]) => new Promise((res) => spawn('redis-benchmark',
    ['-p', String(master!.port), '-q', '-P', '32', '-c', '2', '-r', '3000', ...args], { stdio: 'ignore' }).once('exit', res));
  await Promise.all([
    bench(['-n', '150000', 'ZADD', 'z:__rand_int__', '__rand_int__', 'm:__rand_int__']),
    bench(['-n', '100000', 'INCR', 'n:__rand_int__']),
    bench(['-n', '60000', 'LPUSH', 'l:__rand_int__', '__rand_int__']),
  ]);
  const target = Number(await infoField(m, 'replication', 'master_repl_offset'));
  assert.ok(target > 4 << 20, `stream is ${target} bytes`);
  // The link took everything in at once, far ahead of the appliers.
  await waitFor('all received', async () => Number(await infoField(r, 'replication', 'slave_read_repl_offset')) === target, 60000);
  await waitFor('applied', async () => Number(await infoField(r, 'replication', 'slave_repl_offset')) === target, 120000, 100);
  const entries = Number(await infoField(r, 'applier', 'routing_from_relay_entries'));
  assert.ok(entries >= 1, 'routing should have fallen back to the relay log at least once');
  assert.equal(await infoField(r, 'applier', 'routing_from_relay'), '0', 'and come back to memory once caught up');
  await assertSameKeyspace(m, r, 1);
  // Segments all of whose bytes every shard applied are deleted (the trim runs every 5 s).
  await waitFor('relay trimmed', async () => {
    const start = Number(await infoField(r, 'applier', 'relay_start_offset'));
    return target - start < 4 * 64 * 1024;
  }, 30000, 200);
  const files = (await readdir(path.join(dir, 'relay'))).filter((f) => f.endsWith('.log'));
  assert.ok(files.length <= 4, `relay still holds ${files.length} segments`);
  process.stdout.write(`# relay: streamBytes=${target} fallbacks=${entries} segmentsLeft=${files.length}\n`);
  m.close(); r.close();
});
