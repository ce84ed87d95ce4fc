/**
 * A stand-in Redis 7 master for the benches: speaks just enough of the master side of the
 * replication handshake (spec section 1) for both a real redis-server 7.0 replica and parareplica,
 * serves a snapshot (by default the empty one; with `rdbPath` an RDB file streamed from disk, with
 * `$<len>` framing or, with `diskless`, `$EOF:<mark>` framing), then streams a recorded byte string
 * (default: none) as fast as the replica's socket accepts it, and tracks the offsets the replica
 * acknowledges.
 *
 * One-shot: the first connection that sends PSYNC gets the stream; any connection accepted after
 * that is closed at once (counted in `refused`), so a replica that reconnects cannot silently get a
 * second copy and make the measurement meaningless.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

/**
 * The empty RDB: "REDIS0010" (magic + 4-digit version), the EOF opcode 0xFF, then the 8-byte CRC64.
 * A checksum of 0 means "not computed": both Redis (it logs a warning) and our parser skip the check.
 */
export const EMPTY_RDB = Buffer.concat([Buffer.from('REDIS0010', 'latin1'), Buffer.from([0xff]), Buffer.alloc(8)]);

export interface StandinOptions {
  /** The stream bytes sent after the payload (offsets 1..stream.length); default none. */
  stream?: Buffer;
  /** An RDB file sent as the payload instead of EMPTY_RDB, read from disk in chunks (never whole). */
  rdbPath?: string;
  /**
   * Diskless framing (spec 2.3): `$EOF:<40 hex mark>\r\n<rdb><mark>` instead of `$<len>\r\n<rdb>`.
   * Only used when the replica declared `REPLCONF capa eof` (as a real master does); `framing` tells
   * which one went out.
   */
  diskless?: boolean;
  /** 40 hex chars; a fixed default keeps runs comparable. */
  replid?: string;
  /** Bytes per socket.write (default 64 KiB). */
  chunkBytes?: number;
}

export class StandinMaster extends EventEmitter {
  port = 0;
  /** Highest offset the replica acknowledged with REPLCONF ACK (-1: none yet). */
  ackOffset = -1;
  /** performance.now() of the first and the last stream write (0 until then). */
  firstByteAt = 0;
  lastByteAt = 0;
  bytesSent = 0;
  /** Connections closed because the stream was already served. */
  refused = 0;
  /** True once the replica that got the stream disconnected. */
  lost = false;
  /** performance.now() when the payload header was written / the payload's last byte was written (0 until then). */
  payloadFirstByteAt = 0;
  payloadLastByteAt = 0;
  /** RDB bytes written (the file, without header and mark). */
  payloadBytesSent = 0;
  /** The framing used for the payload ('' until sent). */
  framing: '' | 'disk' | 'eof' = '';
  /** Set when reading the RDB file failed (the replica's link is then closed). */
  payloadError: string | null = null;
  private capaEof = false;
  private served = false;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly replid: string;
  private readonly chunk: number;

  private constructor(private readonly opts: StandinOptions) {
    super();
    this.replid = opts.replid ?? 'b3e1c0ffee5eed0000000000000000000000beef';
    if (!/^[0-9a-f]{40}$/.test(this.replid)) throw new Error('replid must be 40 lowercase hex chars');
    this.chunk = opts.chunkBytes ?? 64 * 1024;
    this.server = net.createServer((s) => this.accept(s));
  }

  static async listen(opts: StandinOptions): Promise<StandinMaster> {
    const m = new StandinMaster(opts);
    await new Promise<void>((resolve, reject) => {
      m.server.once('error', reject);
      m.server.listen(0, '127.0.0.1', () => { m.server.off('error', reject); resolve(); });
    });
    const a = m.server.address();
    if (a === null || typeof a === 'string') throw new Error('stand-in master: no port');
    m.port = a.port;
    return m;
  }

  /** Resolves when the payload header has been written (the clock of a snapshot bench starts there). */
  payloadStarted(): Promise<void> {
    if (this.payloadFirstByteAt > 0) return Promise.resolve();
    return new Promise((resolve) => this.once('payload', resolve));
  }

  /** Resolves when the first stream byte has been written (the clock of the bench starts there). */
  streaming(): Promise<void> {
    if (this.firstByteAt > 0) return Promise.resolve();
    return new Promise((resolve) => this.once('streaming', resolve));
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(sock: net.Socket): void {
    if (this.served) { this.refused++; sock.destroy(); return; }
    this.sockets.add(sock);
    sock.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let mine = false;
    sock.on('data', (d: Buffer) => {
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      let pos = 0;
      try {
        for (;;) {
          const r = parseRequest(buf, pos);
          if (r === null) break;
          pos = r.next;
          if (r.argv.length > 0 && this.command(sock, r.argv)) mine = true;
        }
      } catch {
        sock.destroy();   // not a replica speaking RESP: drop it, never the bench
        return;
      }
      buf = buf.subarray(pos);
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.sockets.delete(sock);
      if (mine) { this.lost = true; this.emit('lost'); }
    });
  }

  /**
   * Replies to one request; true when it started the sync on this socket.
   * Wire (master → replica), one line each: `+PONG\r\n` to PING, `+OK\r\n` to AUTH and to REPLCONF
   * listening-port / ip-address / capa; nothing to REPLCONF ACK <offset> (it updates ackOffset) nor to
   * REPLCONF GETACK. Every other command is ignored.
   */
  private command(sock: net.Socket, argv: string[]): boolean {
    const name = argv[0].toLowerCase();
    if (name === 'ping') sock.write('+PONG\r\n');
    else if (name === 'auth') sock.write('+OK\r\n');
    else if (name === 'replconf') {
      const sub = (argv[1] ?? '').toLowerCase();
      if (sub === 'capa') {
        for (let i = 2; i < argv.length; i++) if (argv[i].toLowerCase() === 'eof') this.capaEof = true;
      }
      if (sub === 'ack') {
        const n = Number(argv[2]);
        if (Number.isSafeInteger(n) && n > this.ackOffset) { this.ackOffset = n; this.emit('ack', n); }
      } else if (sub !== 'getack') sock.write('+OK\r\n');
    } else if (name === 'psync' || name === 'sync') {
      if (this.served) { this.refused++; sock.destroy(); return false; }
      this.served = true;
      void this.sync(sock);
      return true;
    }
    return false;
  }

  /**
   * Wire, a full resync (spec 1.3, 2.2, 2.3):
   *   +FULLRESYNC <40 hex replid> 0\r\n
   *   $<rdb length>\r\n<rdb bytes>            (disk framing; NO trailing CRLF)
   *   or $EOF:<mark>\r\n<rdb bytes><mark>     (diskless framing, mark = 40 hex chars)
   *   <stream bytes, offsets 1..n>            (disk framing: at once; diskless: after the replica's
   *                                            first REPLCONF ACK, as a real master does)
   * The RDB file and the stream go out in chunks; when socket.write returns false we wait for
   * 'drain' so that the pace is the replica's reading speed and our memory stays bounded.
   */
  private async sync(sock: net.Socket): Promise<void> {
    sock.write(`+FULLRESYNC ${this.replid} 0\r\n`);
    try {
      await this.payload(sock);
    } catch (e) {
      this.payloadError = (e as Error).message;
      sock.destroy();
      return;
    }
    const s = this.opts.stream ?? Buffer.alloc(0);
    if (this.framing === 'eof' && s.length > 0 && this.ackOffset < 0) await firstAck(this, sock);
    if (sock.destroyed) return;
    this.firstByteAt = performance.now();
    this.emit('streaming');
    for (let p = 0; p < s.length; p += this.chunk) {
      if (sock.destroyed) return;
      const piece = s.subarray(p, Math.min(s.length, p + this.chunk));
      this.bytesSent += piece.length;
      if (!sock.write(piece)) await drained(sock);
    }
    this.lastByteAt = performance.now();
    this.emit('streamed');
  }

  /** The payload: header, the RDB (EMPTY_RDB or the file, in chunks), the mark for diskless framing. */
  private async payload(sock: net.Socket): Promise<void> {
    const path = this.opts.rdbPath;
    const eof = this.opts.diskless === true && this.capaEof;
    const mark = eof ? randomBytes(20).toString('hex') : '';
    const size = path === undefined ? EMPTY_RDB.length : (await stat(path)).size;
    this.framing = eof ? 'eof' : 'disk';
    this.payloadFirstByteAt = performance.now();
    this.emit('payload');
    sock.write(eof ? `$EOF:${mark}\r\n` : `$${size}\r\n`);
    if (path === undefined) {
      sock.write(EMPTY_RDB);
      this.payloadBytesSent = EMPTY_RDB.length;
    } else {
      for await (const piece of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
        if (sock.destroyed) return;
        this.payloadBytesSent += piece.length;
        if (!sock.write(piece)) await drained(sock);
      }
      if (this.payloadBytesSent !== size) throw new Error(`${path} changed size while being sent`);
    }
    if (eof) sock.write(mark);
    this.payloadLastByteAt = performance.now();
  }
}

function firstAck(m: StandinMaster, sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => { m.off('ack', done); sock.off('close', done); resolve(); };
    m.on('ack', done);
    sock.on('close', done);
  });
}

function drained(sock: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => { sock.off('drain', done); sock.off('close', done); resolve(); };
    sock.on('drain', done);
    sock.on('close', done);
  });
}

/**
 * Parses one request from the replica at buf[pos]; null when incomplete.
 * Wire (replica → master): RESP arrays of bulk strings, `*<n>\r\n` then n × `$<len>\r\n<bytes>\r\n`
 * (e.g. `*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$4\r\n1234\r\n`). A bare `\n` (a loading replica's
 * keepalive, spec 2.6) or any other inline line is returned as its space-separated words (none for
 * an empty line).
 */
export function parseRequest(buf: Buffer, pos: number): { argv: string[]; next: number } | null {
  if (pos >= buf.length) return null;
  const nl = buf.indexOf(0x0a, pos);
  if (nl < 0) return null;
  const lineEnd = nl > pos && buf[nl - 1] === 0x0d ? nl - 1 : nl;
  if (buf[pos] !== 0x2a) {
    const line = buf.toString('latin1', pos, lineEnd).trim();
    return { argv: line === '' ? [] : line.split(/\s+/), next: nl + 1 };
  }
  const n = Number(buf.toString('latin1', pos + 1, lineEnd));
  if (!Number.isSafeInteger(n) || n < 0 || n > 1024) throw new Error(`stand-in master: bad request header at ${pos}`);
  const argv: string[] = [];
  let p = nl + 1;
  for (let i = 0; i < n; i++) {
    const hnl = buf.indexOf('\r\n', p);
    if (hnl < 0) return null;
    if (buf[p] !== 0x24) throw new Error('stand-in master: expected a bulk string in a request');
    const len = Number(buf.toString('latin1', p + 1, hnl));
    if (!Number.isSafeInteger(len) || len < 0 || len > 1 << 20) throw new Error('stand-in master: bad bulk length');
    const start = hnl + 2;
    if (buf.length < start + len + 2) return null;
    argv.push(buf.toString('latin1', start, start + len));
    p = start + len + 2;
  }
  return { argv, next: p };
}
