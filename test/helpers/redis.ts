/**
 * Test helpers: a throw-away real redis-server on a free loopback port, and a small pipelining RESP2
 * client (replies decoded to JS values: bulk → Buffer, integer → number, simple → {ok}, error → {err}).
 */
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

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

/** Parses one RESP2 reply at buf[pos]; returns [value, next position] or null if incomplete. */
export function parseReply(buf: Buffer, pos: number): [Reply, number] | null {
  if (pos >= buf.length) return null;
  const nl = buf.indexOf('\r\n', pos);
  if (nl < 0) return null;
  const type = buf[pos];
  const line = buf.toString('latin1', pos + 1, nl);
  const next = nl + 2;
  switch (type) {
    case 0x2b: return [{ ok: line }, next];
    case 0x2d: return [{ err: line }, next];
    case 0x3a: return [Number(line), next];
    case 0x24: {
      const n = Number(line);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      return [Buffer.from(buf.subarray(next, next + n)), next + n + 2];
    }
    case 0x2a: {
      const n = Number(line);
      if (n < 0) return [null, next];
      const out: Reply[] = [];
      let p = next;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, p);
        if (!r) return null;
        out.push(r[0]);
        p = r[1];
      }
      return [out, p];
    }
    default: throw new Error(`bad reply byte ${type} at ${pos}: ${buf.toString('latin1', pos, pos + 40)}`);
  }
}

function encode(argv: (string | Buffer | number)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${argv.length}\r\n`)];
  for (const a of argv) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export class Client {
  private buf: Buffer = Buffer.alloc(0);
  private readonly waiting: Array<{ resolve(r: Reply): void; reject(e: Error): void }> = [];
  private closed = false;
  private constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      let pos = 0;
      for (;;) {
        const r = parseReply(this.buf, pos);
        if (!r) break;
        pos = r[1];
        this.waiting.shift()?.resolve(r[0]);
      }
      this.buf = this.buf.subarray(pos);
    });
    const fail = (e: Error) => { this.closed = true; for (const w of this.waiting.splice(0)) w.reject(e); };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('connection closed')));
  }
  static connect(port: number, host = '127.0.0.1'): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection({ port, host }, () => { s.off('error', reject); s.setNoDelay(true); resolve(new Client(s)); });
      s.once('error', reject);
    });
  }
  call(...argv: (string | Buffer | number)[]): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => { this.waiting.push({ resolve, reject }); this.sock.write(encode(argv)); });
  }
  /** Sends many commands in one write and resolves with all replies, in order. */
  pipeline(cmds: (string | Buffer | number)[][]): Promise<Reply[]> {
    if (cmds.length === 0) return Promise.resolve([]);
    const ps = cmds.map(() => new Promise<Reply>((resolve, reject) => this.waiting.push({ resolve, reject })));
    this.sock.write(Buffer.concat(cmds.map(encode)));
    return Promise.all(ps);
  }
  async str(...argv: (string | Buffer | number)[]): Promise<string | null> {
    const r = await this.call(...argv);
    if (r === null) return null;
    if (Buffer.isBuffer(r)) return r.toString();
    if (typeof r === 'object' && r && 'ok' in r) return r.ok;
    if (typeof r === 'object' && r && 'err' in r) throw new Error(r.err);
    return String(r);
  }
  close(): void { this.closed = true; this.sock.destroy(); }
}

export interface RedisServer { port: number; dir: string; proc: ChildProcess; stop(): Promise<void> }

/** Starts redis-server with the given extra config (redis.conf words, e.g. ['--repl-diskless-sync', 'no']). */
export async function startRedis(extra: string[] = []): Promise<RedisServer> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(tmpdir(), 'parareplica-redis-'));
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--enable-debug-command', 'yes', '--repl-diskless-sync-delay', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited: ${out}`);
    try {
      const c = await Client.connect(port);
      const r = await c.call('PING');
      c.close();
      if (r && typeof r === 'object' && 'ok' in r) break;
    } catch { /* not yet */ }
    if (Date.now() - t0 > 10000) throw new Error(`redis-server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    port, dir, proc,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGKILL');
        await new Promise((r) => proc.once('exit', r));
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function infoField(c: Client, section: string, field: string): Promise<string | undefined> {
  const s = await c.str('INFO', section);
  const m = s?.match(new RegExp(`^${field}:(.*)$`, 'm'));
  return m ? m[1].trim() : undefined;
}

/** Polls `fn` until it returns true (exceptions count as "not yet"); rejects after timeoutMs. */
export async function waitFor(what: string, fn: () => Promise<boolean>, timeoutMs = 20000, intervalMs = 25): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try { if (await fn()) return; } catch { /* not ready yet */ }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
