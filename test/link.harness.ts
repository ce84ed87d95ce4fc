/**
 * Test harness for the master link: a real redis-server on a free loopback port, a redis-cli
 * wrapper, a capturing pino logger and a recording LinkHandler.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino, type Logger } from 'pino';
import { encodeCommand } from '../src/resp/encode.js';
import type { LinkHandler } from '../src/replication/link.js';

const execFileP = promisify(execFile);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitFor(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 15_000, stepMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export interface RedisServer {
  port: number;
  dir: string;
  proc: ChildProcess;
  cli(...args: string[]): Promise<string>;
  info(section: string): Promise<Record<string, string>>;
  /** A raw connection that sends one command and resolves with the first reply line (no process spawn). */
  quick(argv: string[]): Promise<string>;
  /** Sends commands through `redis-cli --pipe` and resolves when all were answered. */
  pipe(cmds: string[][]): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(args: string[] = [], auth?: { user?: string; pass: string }): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'pr-link-'));
  const proc = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...args,
  ], { stdio: ['ignore', 'ignore', 'inherit'] });
  const authArgs = auth ? (auth.user ? ['--user', auth.user, '--pass', auth.pass] : ['-a', auth.pass]) : [];
  const base = ['-h', '127.0.0.1', '-p', String(port), '--no-auth-warning', ...authArgs];
  const cli = async (...a: string[]): Promise<string> => (await execFileP('redis-cli', [...base, ...a])).stdout.trim();
  const server: RedisServer = {
    port, dir, proc, cli,
    async info(section) {
      const out: Record<string, string> = {};
      for (const line of (await cli('INFO', section)).split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
      }
      return out;
    },
    quick(argv) {
      return new Promise((resolve, reject) => {
        const sock = net.connect({ host: '127.0.0.1', port }, () => {
          sock.setNoDelay(true);
          sock.write(encodeCommand(argv));
        });
        let got = '';
        sock.on('data', (d) => {
          got += String(d);
          const i = got.indexOf('\r\n');
          if (i >= 0) {
            sock.destroy();
            resolve(got.slice(0, i));
          }
        });
        sock.on('error', reject);
      });
    },
    async pipe(cmds) {
      const child = spawn('redis-cli', [...base, '--pipe'], { stdio: ['pipe', 'pipe', 'inherit'] });
      let out = '';
      child.stdout!.on('data', (d) => { out += String(d); });
      const done = new Promise<number>((r) => child.once('exit', (code) => r(code ?? -1)));
      child.stdin!.end(Buffer.concat(cmds.map((c) => encodeCommand(c))));
      const code = await done;
      if (code !== 0) throw new Error(`redis-cli --pipe failed (${code}): ${out}`);
    },
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await waitFor('redis-server to accept connections',
    async () => (await cli('PING').catch(() => '')) === 'PONG', 10_000, 50);
  return server;
}

export interface Capture {
  logger: Logger;
  lines: Record<string, unknown>[];
}

/** A pino logger that keeps every record in memory. */
export function captureLogger(): Capture {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { lines.push(JSON.parse(s)); } });
  return { logger, lines };
}

export interface Recorder extends LinkHandler {
  events: string[];
  entries: { db: number; key: string; value: Buffer; type: number; expireMs: number }[];
  syncs: { replid: string; offset: number; transfer: string; total: number }[];
  continues: { replid: string; from: number }[];
  ends: number;
  downs: string[];
  batches: { start: number; end: number }[];
  chunks: Buffer[];
  /** Offset of the last byte delivered (-1 before any). */
  delivered: number;
  stream(): Buffer;
  /** Checks that the batches are contiguous since each (re)sync; throws otherwise. */
  checkContiguous(): void;
  /** What ackOffset() returns; defaults to `delivered`. */
  ack: (() => number) | null;
}

export function recorder(): Recorder {
  let bigString: { db: number; key: string; type: number; expireMs: number; pieces: Buffer[] } | null = null;
  const r: Recorder = {
    events: [], entries: [], syncs: [], continues: [], ends: 0, downs: [], batches: [], chunks: [],
    delivered: -1, ack: null,
    ackOffset: () => (r.ack ? r.ack() : r.delivered),
    fullSyncStart(replid, offset, transfer, total) {
      r.events.push(`full ${offset} ${transfer}`);
      r.syncs.push({ replid, offset, transfer, total });
      r.entries = [];
      r.chunks = [];
      r.batches = [];
      r.delivered = offset;
    },
    rdb: {
      entry(e) {
        r.entries.push({ db: e.db, key: e.key.toString(), value: Buffer.from(e.value), type: e.type, expireMs: e.expireMs });
      },
      // Strings over 64 KiB arrive in pieces; collections are not recorded (the link tests use strings).
      begin(e) {
        bigString = e.type === 0 ? { db: e.db, key: e.key.toString(), type: 0, expireMs: e.expireMs, pieces: [] } : null;
      },
      part(a) { bigString?.pieces.push(Buffer.from(a)); },
      end() {
        if (bigString === null) return;
        const { pieces, ...rest } = bigString;
        r.entries.push({ ...rest, value: Buffer.concat(pieces) });
        bigString = null;
      },
    },
    fullSyncEnd() {
      r.events.push('end');
      r.ends++;
    },
    continueSync(replid, from) {
      r.events.push(`continue ${from}`);
      r.continues.push({ replid, from });
      r.delivered = from - 1;
    },
    streamData(buf, start, end) {
      r.batches.push({ start, end });
      r.chunks.push(Buffer.from(buf));
      r.delivered = end;
    },
    linkDown(reason) {
      r.events.push(`down`);
      r.downs.push(reason);
    },
    stream: () => Buffer.concat(r.chunks),
    checkContiguous() {
      for (let i = 1; i < r.batches.length; i++) {
        if (r.batches[i]!.start !== r.batches[i - 1]!.end) {
          throw new Error(`batch ${i} starts at ${r.batches[i]!.start}, previous ended at ${r.batches[i - 1]!.end}`);
        }
      }
      for (let i = 0; i < r.batches.length; i++) {
        const b = r.batches[i]!;
        if (b.end - b.start !== r.chunks[i]!.length) throw new Error(`batch ${i} length does not match its offsets`);
      }
    },
  };
  return r;
}
