/**
 * A full sync that a crash left ended on some shards and not on others, through the real boot path:
 * a replica synced from a real master is stopped; its shard databases are then put, directly, in
 * the states a kill -9 can leave (every shard loading a "new" snapshot, some of them ended), and the
 * replica is started again on them. Every key must read the same generation: old when some shard had
 * not ended, new when all had (engine/load-recovery.ts), and a second restart must not change that.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import pino from 'pino';
import { Replica } from '../src/replica.js';
import { shardOfKey } from '../src/router/slot.js';
import { ShardStore } from '../workers/keyspace.js';
import { withPair, type Pair } from './helpers/pair.js';
import { Client, infoField, waitFor } from './helpers/redis.js';

const KEYS = Array.from({ length: 40 }, (_, i) => `k${i}`);
const SHARDS = 2;

/** Puts every shard in the middle of loading a snapshot where each key is "new"; `ended` shards end it. */
async function crashMidSwitch(dir: string, ended: number[]): Promise<void> {
  for (let s = 0; s < SHARDS; s++) {
    const store = await ShardStore.open(path.join(dir, `shard-${s}`));
    const { offset, replid } = store.state;
    const epoch = Math.max(store.state.baseEpoch ?? 0, ...store.state.epochs) + 100;
    store.beginLoad(epoch);
    for (const k of KEYS) if (shardOfKey(Buffer.from(k), SHARDS) === s) store.applyWrite(0, [Buffer.from('set'), Buffer.from(k), Buffer.from('new')]);
    await store.commit();
    if (ended.includes(s)) {
      store.endLoad();
      store.setApplied(offset, replid);   // the same position: the restart continues the same stream
      await store.commit();
    }
    await store.close();
  }
}

async function generations(r: Client): Promise<Set<string>> {
  const got = new Set<string>();
  for (const k of KEYS) got.add(String(await r.str('GET', k)));
  return got;
}

async function restartAndRead(p: Pair): Promise<Set<string>> {
  const replica = await Replica.start({ master: { host: '127.0.0.1', port: p.master.port }, port: 0, dir: p.dir, workers: SHARDS,
    logger: pino({ level: process.env.E2E_LOG ?? 'silent' }) });
  const r = await Client.connect(replica.port);
  try {
    await waitFor('link up', async () => (await infoField(r, 'replication', 'master_link_status')) === 'up', 30000);
    return await generations(r);
  } finally {
    r.close();
    await replica.stop();
  }
}

for (const [label, ended, want] of [
  ['one shard ended, one still loading: every shard goes back', [0], 'old'],
  ['the other shard ended, the first still loading: every shard goes back', [1], 'old'],
  ['no shard ended: every shard goes back', [], 'old'],
  ['every shard ended, none committed: every shard goes forward', [0, 1], 'new'],
] as const) {
  test(`crash during the switch: ${label}`, async () => {
    await withPair({ workers: SHARDS }, async (p) => {
      await waitFor('the keys reached the replica', async () => (await generations(p.r)).has('old') && (await generations(p.r)).size === 1);
      await p.replica.stop();
      await crashMidSwitch(p.dir, [...ended]);
      assert.deepEqual([...await restartAndRead(p)], [want]);
      assert.deepEqual([...await restartAndRead(p)], [want], 'a second restart keeps the decision');
    }, async (m) => { await m.pipeline(KEYS.map((k) => ['SET', k, 'old'])); });
  });
}
