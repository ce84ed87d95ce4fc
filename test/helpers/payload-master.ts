/**
 * A scripted stand-in master for fault injection. It speaks the replica handshake (PING → +PONG,
 * AUTH → +OK, REPLCONF … → +OK, REPLCONF ACK → nothing, PSYNC → +FULLRESYNC <replid> <offset>) and then
 * writes whatever payload bytes a test scripted for that connection: in chunks, with pauses, then
 * keeps the socket open, closes it, or hangs mid-payload.
 *
 * Scripts are queued; each connection that reaches PSYNC takes the next one. A connection that finds
 * the queue empty waits (no reply to PSYNC) until a script is queued, so "serve nothing" is just not
 * queueing anything. Every connection is recorded: its PSYNC arguments, the ACK offsets it received,
 * how many payload bytes went out, and when and by whom it was closed.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { parseReply, type Reply } from './redis.js';

export type Step =
  | Buffer                      // payload bytes, written in `chunkBytes` pieces
  | { pauseMs: number }         // wait
  | 'close';                    // end the connection (a truncated payload when it comes mid-way)

export interface Script {
  replid?: string;
  offset?: number;
  steps: Step[];
  /** Write payload buffers in pieces of this size (default: whole), pausing `chunkPauseMs` between. */
  chunkBytes?: number;
  chunkPauseMs?: number;
  /** Shown in failures. */
  label?: string;
}

export interface ConnRecord {
  index: number;
  psync: string[] | null;
  script: Script | null;
  acks: number[];
  /** Bytes written after PSYNC (the +FULLRESYNC line and the payload). */
  bytesSent: number;
  /** All steps were run (not set when the replica closed first). */
  scriptDone: boolean;
  closedBy: 'replica' | 'us' | null;
  /** Resolves when the socket is closed, by either side. */
  closed: Promise<void>;
}

/** `$<len>\r\n<rdb>`: the disk-based framing (no trailing CRLF). */
export function diskPayload(rdb: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`$${rdb.length}\r\n`), rdb]);
}

/** `$EOF:<mark>\r\n<rdb><mark>`: the diskless framing. */
export function disklessPayload(rdb: Buffer, mark = randomBytes(20).toString('hex')): Buffer {
  return Buffer.concat([Buffer.from(`$EOF:${mark}\r\n`), rdb, Buffer.from(mark)]);
}

export function randomReplid(): string {
  return randomBytes(20).toString('hex');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PayloadMaster {
  readonly connections: ConnRecord[] = [];
  private readonly queue: Script[] = [];
  private readonly waiting: Array<(s: Script) => void> = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server, readonly port: number) {}

  static async start(): Promise<PayloadMaster> {
    let pm: PayloadMaster | null = null;
    const server = net.createServer((s) => pm!.accept(s));
    await new Promise<void>((res, rej) => { server.once('error', rej); server.listen(0, '127.0.0.1', () => res()); });
    pm = new PayloadMaster(server, (server.address() as net.AddressInfo).port);
    return pm;
  }

  /** Queues a script for the next connection that sends PSYNC (or hands it to one already waiting). */
  serve(script: Script): void {
    const w = this.waiting.shift();
    if (w) w(script); else this.queue.push(script);
  }

  /** Scripts queued and not yet taken. */
  get pending(): number { return this.queue.length; }

  /** Destroys every open connection (the replica sees the master go away). */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  /** Resolves when at least `n` connections reached PSYNC. */
  async waitPsyncs(n: number, timeoutMs = 20000): Promise<ConnRecord> {
    const t0 = Date.now();
    while (this.connections.filter((c) => c.psync !== null).length < n) {
      if (Date.now() - t0 > timeoutMs) throw new Error(`stand-in master: ${n} PSYNCs expected, got ${this.connections.filter((c) => c.psync).length}`);
      await sleep(10);
    }
    return this.connections.filter((c) => c.psync !== null)[n - 1];
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private accept(sock: net.Socket): void {
    sock.setNoDelay(true);
    this.sockets.add(sock);
    let resolveClosed!: () => void;
    const rec: ConnRecord = {
      index: this.connections.length + 1, psync: null, script: null, acks: [], bytesSent: 0, scriptDone: false,
      closedBy: null, closed: new Promise<void>((r) => { resolveClosed = r; }),
    };
    this.connections.push(rec);
    let buf: Buffer = Buffer.alloc(0);
    let ourClose = false;
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.sockets.delete(sock);
      if (rec.closedBy === null) rec.closedBy = ourClose ? 'us' : 'replica';
      resolveClosed();
    });
    sock.on('data', (d: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      for (;;) {
        let p = 0;
        while (p < buf.length && (buf[p] === 0x0a || buf[p] === 0x0d)) p++; // keepalive newlines
        buf = buf.subarray(p);
        if (buf.length === 0) return;
        let parsed: [Reply, number] | null;
        try { parsed = parseReply(buf, 0); } catch { ourClose = true; sock.destroy(); return; }
        if (!parsed) return;
        buf = buf.subarray(parsed[1]);
        const argv = Array.isArray(parsed[0]) ? parsed[0].map((a) => (Buffer.isBuffer(a) ? a.toString('latin1') : String(a))) : [];
        this.command(sock, rec, argv, () => { ourClose = true; });
      }
    });
  }

  private command(sock: net.Socket, rec: ConnRecord, argv: string[], markOurs: () => void): void {
    const name = (argv[0] ?? '').toLowerCase();
    if (name === 'ping') sock.write('+PONG\r\n');
    else if (name === 'auth') sock.write('+OK\r\n');
    else if (name === 'replconf') {
      if ((argv[1] ?? '').toLowerCase() === 'ack') rec.acks.push(Number(argv[2]));
      else sock.write('+OK\r\n');
    } else if (name === 'psync' || name === 'sync') {
      rec.psync = argv.slice(1);
      const take = (s: Script) => { rec.script = s; void this.play(sock, rec, s, markOurs); };
      const next = this.queue.shift();
      if (next) take(next); else this.waiting.push(take);
    } else sock.write(`-ERR unknown command '${argv[0] ?? ''}' (stand-in master)\r\n`);
  }

  private async play(sock: net.Socket, rec: ConnRecord, s: Script, markOurs: () => void): Promise<void> {
    if (sock.destroyed) {             // the replica left while waiting: give the script to the next one
      this.serve(s);
      return;
    }
    const write = async (b: Buffer): Promise<boolean> => {
      if (sock.destroyed) return false;
      rec.bytesSent += b.length;
      if (!sock.write(b)) await new Promise<void>((r) => { sock.once('drain', r); sock.once('close', r); });
      return !sock.destroyed;
    };
    if (!await write(Buffer.from(`+FULLRESYNC ${s.replid ?? randomReplid()} ${s.offset ?? 0}\r\n`))) return;
    for (const step of s.steps) {
      if (step === 'close') { markOurs(); sock.end(); return; }
      if (!Buffer.isBuffer(step)) { await sleep(step.pauseMs); if (sock.destroyed) return; continue; }
      const size = s.chunkBytes ?? step.length;
      for (let p = 0; p < step.length; p += size) {
        if (!await write(step.subarray(p, p + size))) return;
        if (s.chunkPauseMs && p + size < step.length) await sleep(s.chunkPauseMs);
      }
    }
    rec.scriptDone = true;
  }
}
