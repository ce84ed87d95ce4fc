/**
 * Invariant 5 (the link never waits for the appliers) end to end: with tiny rings and a tiny routing
 * buffer, a burst of writes puts the appliers far behind the link, so routing must switch to reading
 * back from the relay log (and back to memory once caught up). The keyspace must still equal the
 * master's, and the relay log must shed its segments once every shard has applied past them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { infoField, waitFor } from './helpers/redis.js';
import { withPair } from './helpers/pair.js';
import { assertSameKeyspace } from './helpers/keyspace.js';

test('appliers far behind: routing reads back from the relay log, catches up, and old segments are deleted', { timeout: 180_000 }, () => withPair({
  ringBytes: 64 * 1024, relayBufferBytes: 64 * 1024, relaySegmentBytes: 64 * 1024,
}, async ({ master, dir, m, r }) => {
  const bench = (args: string[]) => new Promise((res) => spawn('redis-benchmark',
    ['-p', String(master.port), '-q', '-P', '32', '-c', '2', '-r', '3000', ...args], { stdio: 'ignore' }).once('exit', res));
  await Promise.all([
    bench(['-n', '150000', 'ZADD', 'z:__rand_int__', '__rand_int__', 'm:__rand_int__']),
    bench(['-n', '100000', 'INCR', 'n:__rand_int__']),
    bench(['-n', '60000', 'LPUSH', 'l:__rand_int__', '__rand_int__']),
  ]);
  const target = Number(await infoField(m, 'replication', 'master_repl_offset'));
  assert.ok(target > 4 << 20, `stream is ${target} bytes`);
  // The link took everything in at once, far ahead of the appliers.
  await waitFor('all received', async () => Number(await infoField(r, 'replication', 'slave_read_repl_offset')) === target, 60000);
  try {
    await waitFor('applied', async () => Number(await infoField(r, 'replication', 'slave_repl_offset')) === target, 120000, 100);
  } catch (e) {
    throw new Error(`${(e as Error).message}; replica state:\n${await r.str('INFO', 'applier')}`);
  }
  const entries = Number(await infoField(r, 'applier', 'routing_from_relay_entries'));
  assert.ok(entries >= 1, 'routing should have fallen back to the relay log at least once');
  assert.equal(await infoField(r, 'applier', 'routing_from_relay'), '0', 'and come back to memory once caught up');
  await assertSameKeyspace(m, r, 1);
  // Segments all of whose bytes every shard applied are deleted (the trim runs every 5 s; files are
  // unlinked in the background).
  const segments = async () => (await readdir(path.join(dir, 'relay'))).filter((f) => f.endsWith('.log')).length;
  await waitFor('relay trimmed', async () => {
    const start = Number(await infoField(r, 'applier', 'relay_start_offset'));
    return target - start < 4 * 64 * 1024 && (await segments()) <= 4;
  }, 30000, 200);
  const files = { length: await segments() };
  process.stdout.write(`# relay: streamBytes=${target} fallbacks=${entries} segmentsLeft=${files.length}\n`);
}));
