/**
 * What a client of the replica sees, compared with the master: INFO replication fields and ROLE in
 * Redis's format, INFO keyspace, READONLY for writes, and expiry as a Redis replica does it (a key
 * whose TTL passed on the master but that the master has not deleted yet is hidden from reads but
 * still counted by DBSIZE, until the master's DEL arrives).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { infoField, waitFor } from './helpers/redis.js';
import { withPair } from './helpers/pair.js';

test('INFO replication, ROLE, INFO keyspace, READONLY and replica-side expiry', { timeout: 60_000 }, () => withPair({}, async ({ master, m, r }) => {
  await m.call('DEBUG', 'SET-ACTIVE-EXPIRE', '0');
  await m.pipeline([['SET', 'a', '1'], ['HSET', 'h', 'f', 'v'], ['SELECT', 3], ['SET', 'c', '3', 'EX', '1000'],
    ['SELECT', 0], ['SET', 'gone', 'soon', 'PX', '150']]);
  const target = Number(await infoField(m, 'replication', 'master_repl_offset'));
  await waitFor('caught up', async () => Number(await infoField(r, 'replication', 'slave_repl_offset')) === target);

  assert.equal(await infoField(r, 'replication', 'role'), 'slave');
  assert.equal(await infoField(r, 'replication', 'master_host'), '127.0.0.1');
  assert.equal(await infoField(r, 'replication', 'master_port'), String(master.port));
  assert.equal(await infoField(r, 'replication', 'master_sync_in_progress'), '0');
  assert.equal(await infoField(r, 'replication', 'master_replid'), await infoField(m, 'replication', 'master_replid'));
  assert.equal(await infoField(r, 'replication', 'slave_read_repl_offset'), String(target));
  assert.equal(await infoField(r, 'replication', 'master_repl_offset'), String(target));
  const role = await r.call('ROLE') as unknown[];
  assert.deepEqual(role.map((x) => (Buffer.isBuffer(x) ? x.toString() : x)), ['slave', '127.0.0.1', master.port, 'connected', target]);
  // The master sees us as an online replica whose ACKed offset is its own.
  await waitFor('master sees our ACK', async () => new RegExp(`slave0:.*state=online,offset=${target}`).test((await m.str('INFO', 'replication'))!));

  const ks = await r.str('INFO', 'keyspace');
  assert.match(ks!, /db0:keys=4,expires=1,/);
  assert.match(ks!, /db3:keys=1,expires=1,/);
  assert.equal(await r.str('GET', 'before-sync'), 'x');
  assert.deepEqual(await r.call('SET', 'x', '1'), { err: "READONLY You can't write against a read only replica." });

  // Logically expired on the master (active expiry off, never accessed): hidden, but counted.
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(await r.call('GET', 'gone'), null);
  assert.equal(await r.call('EXISTS', 'gone'), 0);
  assert.equal(await r.call('TTL', 'gone'), -2);
  assert.deepEqual(await r.call('TYPE', 'gone'), { ok: 'none' });
  assert.equal(await r.call('DBSIZE'), 4);
  assert.equal(await m.call('DBSIZE'), 4);
  // The master deletes it on access and propagates DEL: then the replica drops it too.
  assert.equal(await m.call('GET', 'gone'), null);
  await waitFor('DEL applied', async () => (await r.call('DBSIZE')) === 3);
}, async (m) => { await m.call('SET', 'before-sync', 'x'); }));
