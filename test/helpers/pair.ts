/** A real redis-server master with a parareplica replica attached, synced and ready, for e2e tests. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Replica, type ReplicaStartOptions } from '../../src/replica.js';
import { startRedis, Client, infoField, waitFor, type RedisServer } from './redis.js';

export interface Pair {
  master: RedisServer;
  replica: Replica;
  dir: string;
  /** Clients of the master and of the replica's read server. */
  m: Client;
  r: Client;
  stop(): Promise<void>;
}

/**
 * Starts the master (then runs `beforeReplica` against it, e.g. to put data in the snapshot), then a
 * replica in a fresh data directory, and waits until the link is up and the snapshot applied.
 */
export async function startPair(opts: ReplicaStartOptions = {}, beforeReplica?: (m: Client) => Promise<void>): Promise<Pair> {
  const master = await startRedis();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-e2e-'));
  const m = await Client.connect(master.port);
  let replica: Replica | undefined;
  try {
    if (beforeReplica) await beforeReplica(m);
    replica = await Replica.start({ master: { host: '127.0.0.1', port: master.port }, port: 0, dir, workers: 2,
      logger: pino({ level: process.env.E2E_LOG ?? 'silent' }), ...opts });
    const r = await Client.connect(replica.port);
    await waitFor('link up and synced', async () => (await infoField(r, 'replication', 'master_link_status')) === 'up' &&
      (await infoField(r, 'replication', 'master_sync_in_progress')) === '0', 30000);
    const rep = replica;
    return {
      master, replica: rep, dir, m, r,
      async stop() {
        m.close(); r.close();
        await rep.stop();
        await master.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    m.close();
    await replica?.stop();
    await master.stop();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Runs `body` against a fresh pair and always stops it (a failed test must not leak processes). */
export async function withPair(opts: ReplicaStartOptions, body: (p: Pair) => Promise<void>, beforeReplica?: (m: Client) => Promise<void>): Promise<void> {
  const p = await startPair(opts, beforeReplica);
  try { await body(p); } finally { await p.stop(); }
}
