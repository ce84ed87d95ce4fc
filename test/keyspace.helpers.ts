/**
 * Test helper (not a test file) for the keyspace tests: temporary ShardStores, argv builders, and a
 * throw-away redis-server with a minimal RESP2 client.
 */
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ShardStore } from '../workers/keyspace.js';

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

// ----- redis-server -----------------------------------------------------------------------------------

export type Reply = null | number | Buffer | { ok: string } | { err: string } | Reply[];

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      if (a === null || typeof a === 'string') return reject(new Error('no port'));
      s.close(() => resolve(a.port));
    });
  });
}

// RESP2 reply wire format: +status\r\n, -error\r\n, :int\r\n, $len\r\n<bytes>\r\n ($-1 = nil),
// *count\r\n<count replies> (*-1 = nil). Returns [reply, next offset] or null when incomplete.
function parseReply(b: Buffer, at: number): [Reply, number] | null {
  const eol = b.indexOf('\r\n', at);
  if (eol < 0) return null;
  const line = b.toString('latin1', at + 1, eol);
  switch (b[at]) {
    case 0x2b: return [{ ok: line }, eol + 2];
    case 0x2d: return [{ err: line }, eol + 2];
    case 0x3a: return [Number(line), eol + 2];
    case 0x24: {
      const n = Number(line);
      if (n < 0) return [null, eol + 2];
      if (b.length < eol + 2 + n + 2) return null;
      return [Buffer.from(b.subarray(eol + 2, eol + 2 + n)), eol + 4 + n];
    }
    case 0x2a: {
      const n = Number(line);
      if (n < 0) return [null, eol + 2];
      const out: Reply[] = [];
      let p = eol + 2;
      for (let i = 0; i < n; i++) {
        const r = parseReply(b, p);
        if (r === null) return null;
        out.push(r[0]); p = r[1];
      }
      return [out, p];
    }
    default: throw new Error(`bad RESP byte ${b[at]}`);
  }
}

export class RedisClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: Array<(r: Reply) => void> = [];
  private constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      for (;;) {
        const r = parseReply(this.buf, 0);
        if (r === null) break;
        this.buf = this.buf.subarray(r[1]);
        this.waiting.shift()?.(r[0]);
      }
    });
  }

  static connect(port: number): Promise<RedisClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('error', reject);
      s.once('connect', () => { s.off('error', reject); resolve(new RedisClient(s)); });
    });
  }

  // Request wire format: *<argc>\r\n then $<len>\r\n<bytes>\r\n per argument.
  call(...a: Arg[]): Promise<Reply> {
    const parts: Buffer[] = [Buffer.from(`*${a.length}\r\n`)];
    for (const b of argv(...a)) parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    return new Promise((resolve) => { this.waiting.push(resolve); this.sock.write(Buffer.concat(parts)); });
  }

  close(): void { this.sock.destroy(); }
}

export interface RedisServer { port: number; proc: ChildProcess; dir: string; client: RedisClient; stop(): Promise<void> }

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = tmpDir('redis');
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' });
  let client: RedisClient | null = null;
  for (let i = 0; i < 100 && client === null; i++) {
    try { client = await RedisClient.connect(port); } catch { await new Promise((r) => setTimeout(r, 50)); }
  }
  if (client === null) { proc.kill('SIGKILL'); throw new Error('redis-server did not start'); }
  return {
    port, proc, dir, client,
    async stop() {
      client!.close();
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
