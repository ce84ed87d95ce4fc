/**
 * Test helpers for the read server: an in-memory ReadBackend over string keys (sharded like the
 * engine), a RESP2 reply reader, and a raw-socket client that pipelines requests.
 */
import net from 'node:net';
import { spawn } from 'node:child_process';
import pino from 'pino';
import { shardOfKey } from '../src/router/slot.js';
import { globToRegExp } from '../src/server/config-get.js';
import { encodeCommand } from '../src/resp/encode.js';
import type { ReadBackend } from '../src/server/backend.js';
import { ReadServer } from '../src/server/read-server.js';

export const silentLogger = pino({ level: 'silent' });

/** Strings only, db → key → value, plus an optional delay per key (ms) to reorder completions. */
export class FakeBackend implements ReadBackend {
  readonly dbs = new Map<number, Map<string, Buffer>>();
  readonly expires = new Set<string>();
  readonly delays = new Map<string, number>();
  readonly calls: Array<{ shard: number; db: number; argv: string[] }> = [];
  isLoading = false;
  failWith: string | undefined;

  constructor(readonly shardCount: number) {}

  shardOf(key: Buffer): number {
    return shardOfKey(key, this.shardCount);
  }

  set(key: string, value: string, db = 0): void {
    let m = this.dbs.get(db);
    if (!m) this.dbs.set(db, (m = new Map()));
    m.set(key, Buffer.from(value));
  }

  private db(db: number): Map<string, Buffer> {
    return this.dbs.get(db) ?? new Map();
  }

  private shardKeys(shard: number, db: number): string[] {
    return [...this.db(db).keys()].filter((k) => this.shardOf(Buffer.from(k)) === shard).sort();
  }

  async read(shard: number, db: number, argv: Buffer[]): Promise<unknown> {
    const args = argv.map((a) => a.toString());
    this.calls.push({ shard, db, argv: args });
    const name = args[0].toLowerCase();
    for (const k of args.slice(1)) {
      if (name !== 'scan' && name !== 'keys' && this.shardOf(Buffer.from(k)) !== shard) {
        throw new Error(`fake backend: key ${k} sent to shard ${shard}, it belongs to ${this.shardOf(Buffer.from(k))}`);
      }
    }
    const delay = Math.max(0, ...args.slice(1).map((k) => this.delays.get(k) ?? 0));
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (this.failWith !== undefined) throw new Error(this.failWith);
    const m = this.db(db);
    switch (name) {
      case 'get': return m.get(args[1]) ?? null;
      case 'strlen': return m.get(args[1])?.length ?? 0;
      case 'type': return { status: m.has(args[1]) ? 'string' : 'none' };
      case 'mget': return args.slice(1).map((k) => m.get(k) ?? null);
      case 'exists': return args.slice(1).filter((k) => m.has(k)).length;
      case 'dbsize': return this.shardKeys(shard, db).length;
      case 'keys': {
        const re = globToRegExp(args[1]);
        return this.shardKeys(shard, db).filter((k) => re.test(k)).map((k) => Buffer.from(k));
      }
      case 'scan': {
        const keys = this.shardKeys(shard, db);
        let from = Number(args[1]);
        let count = 10;
        let re: RegExp | undefined;
        for (let i = 2; i < args.length; i += 2) {
          if (args[i].toLowerCase() === 'count') count = Number(args[i + 1]);
          if (args[i].toLowerCase() === 'match') re = globToRegExp(args[i + 1]);
        }
        const slice = keys.slice(from, from + count);
        from += count;
        const found = slice.filter((k) => !re || re.test(k)).map((k) => Buffer.from(k));
        return [from >= keys.length ? null : Buffer.from(String(from)), found];
      }
      case '__keyspace': {
        const out: unknown[] = [];
        for (const [d] of this.dbs) {
          const n = this.shardKeys(shard, d).length;
          if (n > 0) out.push([d, n, this.expires.size > 0 && d === 0 ? this.shardKeys(shard, d).filter((k) => this.expires.has(k)).length : 0]);
        }
        return out;
      }
      default: return { error: `ERR fake backend does not know '${name}'` };
    }
  }

  info(): Array<[string, Array<[string, string | number]>]> {
    return [
      ['replication', [['role', 'slave'], ['master_host', '127.0.0.1'], ['master_port', 6379], ['master_link_status', 'up']]],
      ['applier', [['shards', this.shardCount]]],
    ];
  }

  role(): unknown[] {
    return ['slave', '127.0.0.1', 6379, 'connected', 42];
  }

  loading(): boolean {
    return this.isLoading;
  }
}

export type Reply = Buffer | number | null | Reply[] | { error: string } | { status: string };

/** Incremental RESP2 reply reader. */
export class ReplyReader {
  private buf = Buffer.alloc(0);
  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
  }
  /** Every complete reply buffered so far. */
  drain(): Reply[] {
    const out: Reply[] = [];
    for (;;) {
      const r = this.parse(0);
      if (r === undefined) break;
      out.push(r[0]);
      this.buf = this.buf.subarray(r[1]);
    }
    return out;
  }
  private parse(p: number): [Reply, number] | undefined {
    const b = this.buf;
    const cr = b.indexOf('\r\n', p);
    if (cr < 0) return undefined;
    const line = b.toString('latin1', p + 1, cr);
    const next = cr + 2;
    switch (b[p]) {
      case 0x2b: return [{ status: line }, next];
      case 0x2d: return [{ error: line }, next];
      case 0x3a: return [Number(line), next];
      case 0x24: {
        const n = Number(line);
        if (n < 0) return [null, next];
        if (b.length < next + n + 2) return undefined;
        return [Buffer.from(b.subarray(next, next + n)), next + n + 2];
      }
      case 0x2a: {
        const n = Number(line);
        if (n < 0) return [null, next];
        const items: Reply[] = [];
        let q = next;
        for (let i = 0; i < n; i++) {
          const r = this.parse(q);
          if (r === undefined) return undefined;
          items.push(r[0]);
          q = r[1];
        }
        return [items, q];
      }
      default: throw new Error(`bad reply byte ${b[p]} in ${JSON.stringify(b.toString('latin1', p, p + 40))}`);
    }
  }
}

/** A raw client: send commands (pipelined) and wait for a number of replies. */
export class RawClient {
  readonly reader = new ReplyReader();
  private replies: Reply[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (c: Buffer) => {
      this.reader.push(c);
      this.replies.push(...this.reader.drain());
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('close', () => { this.closed = true; for (const w of this.waiters.splice(0)) w(); });
    socket.on('error', () => {});
  }
  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }
  send(...cmds: Array<Array<string | Buffer>>): void {
    this.socket.write(Buffer.concat(cmds.map((c) => encodeCommand(c))));
  }
  writeRaw(b: string | Buffer): void {
    this.socket.write(b);
  }
  /** Waits for n replies (rejects after `ms`, or if the connection closes first). */
  async read(n: number, ms = 5000): Promise<Reply[]> {
    const deadline = Date.now() + ms;
    while (this.replies.length < n) {
      if (this.closed) throw new Error(`connection closed after ${this.replies.length}/${n} replies`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${this.replies.length}/${n} replies`);
      await new Promise<void>((r) => { const t = setTimeout(r, left); this.waiters.push(() => { clearTimeout(t); r(); }); });
    }
    return this.replies.splice(0, n);
  }
  async call(...argv: Array<string | Buffer>): Promise<Reply> {
    this.send(argv);
    return (await this.read(1))[0];
  }
  /** Resolves when the server closes the connection. */
  async waitClosed(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 10));
    }
  }
  close(): void {
    this.socket.destroy();
  }
}

export async function startServer(backend: ReadBackend, extra: Partial<ConstructorParameters<typeof ReadServer>[1]> = {}):
  Promise<{ server: ReadServer; port: number }> {
  const server = new ReadServer(backend, { port: 0, bind: '127.0.0.1', logger: silentLogger, ...extra });
  const { port } = await server.listen();
  return { server, port };
}

/** Runs a program, resolves with its stdout (and exit code); input goes to stdin. */
export function run(cmd: string, args: string[], input?: string, timeoutMs = 15000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`${cmd} ${args.join(' ')} timed out`)); }, timeoutMs);
    p.stdout.on('data', (d) => { stdout += d; });
    p.stderr.on('data', (d) => { stderr += d; });
    p.on('error', (e) => { clearTimeout(t); reject(e); });
    p.on('close', (code) => { clearTimeout(t); resolve({ code, stdout, stderr }); });
    p.stdin.end(input ?? '');
  });
}

export { freePort } from './helpers/redis.js';

export const str = (r: Reply): string => (Buffer.isBuffer(r) ? r.toString() : JSON.stringify(r));
