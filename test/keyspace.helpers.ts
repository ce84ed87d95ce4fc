/**
 * Test helper (not a test file) for the keyspace tests: temporary ShardStores, argv builders, and a
 * throw-away redis-server with a minimal RESP2 client.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ShardStore } from '../workers/keyspace.js';
import { Client, startRedis as startSharedRedis } from './helpers/redis.js';

export type Arg = string | number | Buffer;

export function argv(...a: Arg[]): Buffer[] {
  return a.map((x) => (Buffer.isBuffer(x) ? x : Buffer.from(String(x))));
}

export function tmpDir(tag: string): string {
  return mkdtempSync(path.join(tmpdir(), `ks-${tag}-`));
}

/** A store in a fresh temp dir plus write/read shorthands. */
export class TestStore {
  private constructor(public store: ShardStore, readonly dir: string) {}

  static async create(tag = 't', opts: Parameters<typeof ShardStore.open>[1] = {}): Promise<TestStore> {
    const dir = tmpDir(tag);
    return new TestStore(await ShardStore.open(path.join(dir, 'shard-0'), opts), dir);
  }

  async w(...a: Arg[]): Promise<void> { const r = this.store.applyWrite(0, argv(...a)); if (r) await r; }
  async wdb(db: number, ...a: Arg[]): Promise<void> { const r = this.store.applyWrite(db, argv(...a)); if (r) await r; }
  async r(...a: Arg[]): Promise<unknown> { return await this.store.read(0, argv(...a), Date.now()); }
  async rdb(db: number, ...a: Arg[]): Promise<unknown> { return await this.store.read(db, argv(...a), Date.now()); }
  async rAt(now: number, ...a: Arg[]): Promise<unknown> { return await this.store.read(0, argv(...a), now); }
  /** GET as a string (or null). */
  async get(key: string, db = 0): Promise<string | null> {
    const v = await this.rdb(db, 'get', key);
    return v === null ? null : (v as Buffer).toString();
  }

  async reopen(): Promise<void> {
    await this.store.close();
    this.store = await ShardStore.open(path.join(this.dir, 'shard-0'));
  }

  async destroy(): Promise<void> {
    await this.store.close().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Strings of a reply array, sorted (for order-free comparisons). */
export function sortedStrings(v: unknown): string[] {
  return (v as Buffer[]).map((b) => b.toString()).sort();
}

// ----- redis-server: the shared helper in test/helpers/redis.ts, with a connected client -----------------

export type { Reply } from './helpers/redis.js';

export interface RedisServer { port: number; dir: string; client: Client; stop(): Promise<void> }

export async function startRedis(): Promise<RedisServer> {
  const server = await startSharedRedis();
  const client = await Client.connect(server.port);
  return { port: server.port, dir: server.dir, client, async stop() { client.close(); await server.stop(); } };
}
