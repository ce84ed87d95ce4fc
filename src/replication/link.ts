/**
 * MasterLink: the replica's connection to its master. One TCP connection at a time goes through
 *   connecting → handshake (PING … PSYNC) → sync (payload, after +FULLRESYNC) → connected (stream)
 * and any failure (error reply, protocol error, timeout, close) drops it and schedules a reconnect
 * with exponential backoff (100 ms doubling to 5 s; reset once streaming). A 1 Hz cron sends
 * `REPLCONF ACK <ackOffset()>` while streaming, a bare `\n` while a payload loads, and drops the
 * link after `replTimeoutMs` without a byte from the master.
 *
 * What we write to the master after PSYNC, and nothing else:
 *   `*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$<n>\r\n<offset>\r\n`   (after the payload, 1 Hz, on GETACK)
 *   `\n`                                                          (1 Hz while the payload loads)
 */
import * as net from 'node:net';
import type { Logger } from 'pino';
import { ParaError } from '../errors.js';
import { encodeCommand } from '../resp/encode.js';
import { handshake, LineReader, type PsyncReply } from './handshake.js';
import { PayloadReader, type Transfer } from './payload.js';
import { StreamReader } from './stream.js';
import {
  checkLinkOptions, CRON_INTERVAL_MS, RECONNECT_MAX_MS, RECONNECT_MIN_MS,
  type LinkHandler, type LinkOptions, type LinkState, type LinkStatus, type ReplState,
} from './status.js';

export * from './status.js';

const NEWLINE = Buffer.from('\n');

/** One TCP connection attempt and its parse state. */
interface Conn {
  socket: net.Socket;
  closed: boolean;
  phase: 'handshake' | 'payload' | 'stream';
  lines: LineReader;
  payload: PayloadReader | null;
  stream: StreamReader | null;
  /** fullSyncStart or continueSync was called: the handler must hear linkDown. */
  told: boolean;
  syncReplid: string;
  syncOffset: number;
  syncStartMs: number;
  /** Payload bytes not yet parsed because the engine paused us (pauseRdb) in the middle of a read. */
  held: Buffer | null;
}

/** The payload is parsed in slices this big, so pauseRdb() takes effect within one slice. */
const PAYLOAD_SLICE = 16 * 1024;

function reasonOf(e: unknown): string {
  if (e instanceof ParaError) return `${e.code}: ${e.message}`;
  if (e instanceof Error) return e.message;
  return String(e);
}

export class MasterLink {
  private readonly opts: LinkOptions;
  private readonly handler: LinkHandler;
  private readonly log: Logger;
  private readonly replTimeoutMs: number;

  private conn: Conn | null = null;
  private state: LinkState = 'connect';
  private resume: ReplState = { replid: null, offset: -1 };
  private replid: string | null = null;
  private started = false;
  private stopped = false;
  private paused = false;
  private processing = false;
  private backoffMs = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private cronTimer: NodeJS.Timeout | null = null;

  private lastIoMs = 0;
  private linkDownSinceMs = -1;
  private readOffset = -1;
  private deliveredOffset = -1;
  private fullSyncs = 0;
  private partialSyncs = 0;
  private connectAttempts = 0;
  private keepalives = 0;
  private lastError: string | null = null;

  constructor(opts: LinkOptions, handler: LinkHandler) {
    this.replTimeoutMs = checkLinkOptions(opts);
    this.opts = opts;
    this.handler = handler;
    this.log = opts.logger.child({ component: 'master-link', master: `${opts.host}:${opts.port}` });
  }

  /** Starts following the master: PSYNC replid offset+1, or `PSYNC ? -1` when replid is null. */
  start(resume: ReplState): void {
    if (this.stopped) throw new ParaError('PARAREPLICA_SHUTDOWN', 'master link was stopped; create a new one', {});
    if (this.started) throw new ParaError('PARAREPLICA_BAD_OPTION', 'master link already started', {});
    this.started = true;
    this.setResume(resume);
    this.readOffset = this.deliveredOffset = resume.offset;
    this.cronTimer = setInterval(() => this.cron(), CRON_INTERVAL_MS);
    this.cronTimer.unref();
    this.connect();
  }

  /** What the next PSYNC asks for. The link also advances it itself as it delivers data. */
  setResume(resume: ReplState): void {
    this.resume = { replid: resume.replid, offset: resume.replid === null ? -1 : resume.offset };
  }

  /** Sends REPLCONF ACK <ackOffset()> now, if streaming. */
  sendAck(): void {
    const conn = this.conn;
    if (conn === null || conn.phase !== 'stream' || conn.closed) return;
    let off = this.handler.ackOffset();
    if (!Number.isSafeInteger(off) || off < 0) off = 0;
    conn.socket.write(encodeCommand(['REPLCONF', 'ACK', String(off)]));
  }

  /**
   * Flow control while a snapshot loads: stop reading the socket, and stop parsing the payload at the
   * end of the current slice (the rest of the read is held until resumeRdb()).
   */
  pauseRdb(): void {
    this.paused = true;
    this.conn?.socket.pause();
  }

  resumeRdb(): void {
    if (!this.paused) return;
    this.paused = false;
    this.lastIoMs = Date.now(); // the silence was ours, not the master's
    const conn = this.conn;
    if (conn === null) return;
    if (conn.held !== null && !this.processing) {
      const held = conn.held;
      conn.held = null;
      this.runProcess(conn, held);
    }
    if (!this.paused && this.conn === conn) conn.socket.resume();
  }

  /** Closes the link for good; no reconnect. Resolves once the socket is closed. */
  /** Drops the current connection (if any); the link reconnects after its usual backoff. */
  restart(reason: string): void {
    if (this.conn) this.fail(this.conn, new ParaError('PARAREPLICA_RESYNC', reason, {}));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.cronTimer) clearInterval(this.cronTimer);
    this.reconnectTimer = this.cronTimer = null;
    const conn = this.conn;
    this.conn = null;
    if (this.state === 'connected') this.linkDownSinceMs = Date.now();
    this.state = 'connect';
    if (conn === null) return;
    conn.lines.fail(new ParaError('PARAREPLICA_SHUTDOWN', 'master link stopped', {}));
    if (!conn.closed) {
      await new Promise<void>((resolve) => {
        conn.socket.once('close', () => resolve());
        conn.socket.destroy();
      });
    }
    this.log.info('master link stopped');
  }

  status(): LinkStatus {
    const now = Date.now();
    const conn = this.conn;
    const payload = conn?.payload ?? null;
    const syncing = conn !== null && conn.phase === 'payload';
    const up = this.state === 'connected';
    let readOffset = this.readOffset;
    if (conn?.stream) readOffset = conn.stream.readOffset;
    return {
      host: this.opts.host,
      port: this.opts.port,
      state: this.state,
      linkUp: up,
      lastIoSecondsAgo: conn === null ? -1 : Math.floor((now - this.lastIoMs) / 1000),
      syncInProgress: syncing,
      syncTransfer: syncing ? payload!.transfer : null,
      syncTotalBytes: !syncing || payload!.transfer === null ? -1 : Math.max(0, payload!.totalBytes),
      syncReadBytes: syncing ? payload!.readBytes : 0,
      linkDownSinceSeconds: up ? 0 : this.linkDownSinceMs < 0 ? -1 : Math.floor((now - this.linkDownSinceMs) / 1000),
      readOffset,
      deliveredOffset: conn?.stream ? conn.stream.deliveredOffset : this.deliveredOffset,
      replid: this.replid,
      resume: { ...this.resume },
      fullSyncs: this.fullSyncs,
      partialSyncs: this.partialSyncs,
      connectAttempts: this.connectAttempts,
      keepalivesReceived: this.keepalives + (payload?.keepalives ?? 0) + (conn?.lines.lines.keepalives ?? 0),
      lastError: this.lastError,
    };
  }

  // ---- connection lifecycle ----

  private connect(): void {
    this.reconnectTimer = null;
    if (this.stopped) return;
    this.connectAttempts++;
    this.state = 'connecting';
    this.lastIoMs = Date.now();
    this.paused = false;
    const socket = net.connect({ host: this.opts.host, port: this.opts.port });
    const conn: Conn = {
      socket, closed: false, phase: 'handshake', lines: new LineReader(), payload: null, stream: null,
      told: false, syncReplid: '', syncOffset: -1, syncStartMs: 0, held: null,
    };
    this.conn = conn;
    // Each retry was already announced by fail() ("retryInMs"); only the first attempt is info.
    const lvl = this.connectAttempts === 1 ? 'info' : 'debug';
    this.log[lvl]({ attempt: this.connectAttempts }, 'connecting to master');
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    socket.on('connect', () => {
      if (this.conn !== conn) return;
      this.state = 'handshake';
      this.lastIoMs = Date.now();
      void this.runHandshake(conn);
    });
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (err) => this.fail(conn, err));
    socket.on('close', () => {
      conn.closed = true;
      this.fail(conn, new Error('connection closed by the master'));
    });
  }

  private async runHandshake(conn: Conn): Promise<void> {
    let reply: PsyncReply;
    try {
      reply = await handshake({
        send: (buf) => conn.socket.write(buf),
        lines: conn.lines,
        warn: (msg, r) => this.log.warn({ reply: r }, msg),
      }, this.opts, this.resume);
    } catch (e) {
      this.fail(conn, e);
      return;
    }
    if (this.conn !== conn) return;
    this.keepalives += conn.lines.lines.keepalives;
    conn.lines.lines.keepalives = 0;
    const rest = conn.lines.rest();
    try {
      if (reply.kind === 'full') this.beginFullSync(conn, reply.replid, reply.offset);
      else this.beginContinue(conn, reply.replid);
    } catch (e) {
      this.fail(conn, e);
      return;
    }
    if (rest.length > 0 && this.conn === conn) this.runProcess(conn, rest);
  }

  private beginFullSync(conn: Conn, replid: string, offset: number): void {
    this.log.info({ replid, offset }, 'handshake ok: +FULLRESYNC, waiting for the payload');
    this.state = 'sync';
    conn.phase = 'payload';
    conn.syncReplid = replid;
    conn.syncOffset = offset;
    conn.syncStartMs = Date.now();
    conn.payload = new PayloadReader(this.handler.rdb, (transfer, total) => this.onPayloadHeader(conn, transfer, total), this.handler.rdbOptions);
  }

  private onPayloadHeader(conn: Conn, transfer: Transfer, total: number): void {
    this.log.info({ transfer, totalBytes: total, waitedMs: Date.now() - conn.syncStartMs }, 'full sync payload started');
    conn.told = true;
    this.handler.fullSyncStart(conn.syncReplid, conn.syncOffset, transfer, total);
  }

  private endFullSync(conn: Conn): void {
    const p = conn.payload!;
    this.keepalives += p.keepalives;
    this.handler.fullSyncEnd();
    this.fullSyncs++;
    this.log.info({
      replid: conn.syncReplid, offset: conn.syncOffset, transfer: p.transfer, bytes: p.readBytes,
      ms: Date.now() - conn.syncStartMs,
    }, 'full sync payload received and verified');
    conn.payload = null;
    this.replid = conn.syncReplid;
    this.resume = { replid: conn.syncReplid, offset: conn.syncOffset };
    this.startStreaming(conn, conn.syncOffset);
    this.sendAck(); // required after a diskless payload: the master streams only after our first ACK
  }

  private beginContinue(conn: Conn, newReplid: string | null): void {
    const asked = this.resume;
    const replid = newReplid ?? asked.replid!;
    const from = asked.offset + 1;
    if (replid !== asked.replid) {
      this.log.warn({ oldReplid: asked.replid, replid, offset: from }, 'master changed replication id (failover)');
    }
    this.log.info({ replid, offset: from }, 'handshake ok: +CONTINUE, partial resync');
    conn.told = true;
    this.replid = replid;
    this.resume = { replid, offset: asked.offset };
    this.partialSyncs++;
    this.handler.continueSync(replid, from);
    this.startStreaming(conn, asked.offset);
  }

  private startStreaming(conn: Conn, base: number): void {
    conn.phase = 'stream';
    this.state = 'connected';
    this.backoffMs = RECONNECT_MIN_MS;
    this.readOffset = this.deliveredOffset = base;
    conn.stream = new StreamReader(base, {
      onGetAck: () => this.sendAck(),
      onData: (buf, start, end) => {
        this.resume.offset = end;
        this.handler.streamData(buf, start, end);
      },
    });
  }

  private onData(conn: Conn, chunk: Buffer): void {
    if (this.conn !== conn) return;
    this.lastIoMs = Date.now();
    if (conn.held !== null) {
      conn.held = Buffer.concat([conn.held, chunk]); // read before the pause took effect
      return;
    }
    this.runProcess(conn, chunk);
  }

  private runProcess(conn: Conn, chunk: Buffer): void {
    this.processing = true;
    try {
      this.process(conn, chunk);
    } catch (e) {
      this.fail(conn, e);
    } finally {
      this.processing = false;
    }
  }

  private process(conn: Conn, chunk: Buffer): void {
    switch (conn.phase) {
      case 'handshake':
        conn.lines.push(chunk);
        return;
      case 'payload': {
        const payload = conn.payload!;
        let p = 0;
        while (p < chunk.length) {
          if (this.paused) {
            conn.held = chunk.subarray(p);
            return;
          }
          p += payload.feed(chunk.subarray(p, Math.min(chunk.length, p + PAYLOAD_SLICE)));
          if (payload.done) {
            this.endFullSync(conn);
            if (p < chunk.length && this.conn === conn) conn.stream!.feed(chunk.subarray(p));
            return;
          }
        }
        return;
      }
      case 'stream':
        conn.stream!.feed(chunk);
    }
  }

  /** Drops the connection (once) and schedules a reconnect unless stopped. */
  private fail(conn: Conn, err: unknown): void {
    if (this.conn !== conn) return;
    this.conn = null;
    conn.lines.fail(err);
    if (!conn.closed) conn.socket.destroy();
    const reason = reasonOf(err);
    this.lastError = reason;
    const wasState = this.state;
    if (wasState === 'connected') this.linkDownSinceMs = Date.now();
    if (conn.stream) this.readOffset = this.deliveredOffset = conn.stream.deliveredOffset;
    if (conn.payload) this.keepalives += conn.payload.keepalives;
    this.keepalives += conn.lines.lines.keepalives;
    this.state = 'connect';
    if (this.stopped) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, RECONNECT_MAX_MS);
    const fields = { state: wasState, retryInMs: delay, offset: this.deliveredOffset };
    // A ParaError is logged by code, message and details (no stack: it is an expected condition).
    if (err instanceof ParaError) this.log.error({ ...fields, err: { code: err.code, message: err.message, ...err.details } }, 'master link failed');
    else this.log.warn({ ...fields, reason }, 'master link lost');
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    if (conn.told) {
      try {
        this.handler.linkDown(reason);
      } catch (e) {
        this.log.error({ err: e }, 'linkDown handler threw');
      }
    }
  }

  private cron(): void {
    const conn = this.conn;
    if (conn === null || conn.closed) return;
    const idle = Date.now() - this.lastIoMs;
    if (!this.paused && idle > this.replTimeoutMs) {
      this.fail(conn, new ParaError('PARAREPLICA_TIMEOUT',
        `no data from the master for ${Math.round(idle / 1000)} s (timeout ${this.replTimeoutMs} ms) while in state ` +
        `${this.state}; reconnecting`, { idleMs: idle, state: this.state }));
      return;
    }
    if (conn.phase === 'stream') this.sendAck();
    else if (conn.phase === 'payload') conn.socket.write(NEWLINE); // "still loading": keeps the master from timing us out
  }
}
