/**
 * One client connection: parses its requests, runs them through the dispatcher, and writes the replies
 * in request order although keyspace reads complete asynchronously.
 *
 * Ordering: replies produced synchronously are encoded straight into the server's shared RespWriter.
 * When a request's reply is a Promise, what is encoded so far is handed out (to the socket, or behind
 * pending replies), and a slot is queued; later replies queue behind it. A resolved slot and every ready
 * slot after it are written as soon as the slots before them are written.
 *
 * Bounds: reading pauses while too many replies are pending or the socket holds too many unsent bytes
 * (and resumes when they drain); a client whose unsent replies exceed maxOutputBytes is disconnected.
 * Malformed or oversized input gets `-ERR Protocol error: …` and the connection closes.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { RequestParser } from '../resp/request.js';
import { RespWriter, type RespValue } from '../resp/encode.js';
import type { ClientView, Dispatcher } from './dispatch.js';

/** What a session needs from its server. */
export interface SessionHost {
  readonly dispatcher: Dispatcher;
  readonly logger: Logger;
  /** The server's shared writer: empty whenever control returns to the event loop. */
  writer(): RespWriter;
  /** Called after take() of a large reply, so the shared writer can shrink. */
  tookLarge(): void;
  countCommand(): void;
  removed(session: Session): void;
  readonly limits: { maxBulkLen: number; maxArgs: number; maxOutputBytes: number };
}

interface Slot {
  out: Buffer | null;
}

/** Replies pending before reading pauses. */
const MAX_PENDING = 1024;
/** Unsent socket bytes above which reading pauses. */
const HIGH_WATER = 4 * 1024 * 1024;
/** A take() larger than this lets the shared writer shrink afterwards. */
const LARGE_REPLY = 1024 * 1024;

export class Session implements ClientView {
  db = 0;
  name = '';
  lastCmd = 'NULL';
  private readonly parser: RequestParser;
  private readonly queue: Slot[] = [];
  private head = 0;
  private queuedBytes = 0;
  private closing = false;
  private closed = false;
  private paused = false;
  private flushScheduled = false;
  private readonly createdAt = Date.now();
  private lastActive = this.createdAt;
  private readonly addr: string;
  private readonly laddr: string;

  constructor(readonly id: number, private readonly socket: Socket, private readonly host: SessionHost) {
    this.parser = new RequestParser({
      maxBulkLen: host.limits.maxBulkLen, maxArgs: host.limits.maxArgs, maxInlineLen: 64 * 1024,
    });
    this.addr = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    this.laddr = `${socket.localAddress ?? '?'}:${socket.localPort ?? 0}`;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 300_000);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.maybeResume());
    socket.on('error', (err) => host.logger.debug({ client: this.id, err: err.message }, 'client socket error'));
    socket.on('close', () => this.onClose());
  }

  closeAfterReply(): void {
    this.closing = true;
  }

  /** Closes the connection at once (server shutdown). */
  destroy(): void {
    this.socket.destroy();
  }

  describe(): string {
    const now = Date.now();
    return `id=${this.id} addr=${this.addr} laddr=${this.laddr} fd=-1 name=${this.name} ` +
      `age=${Math.floor((now - this.createdAt) / 1000)} idle=${Math.floor((now - this.lastActive) / 1000)} ` +
      `flags=N db=${this.db} sub=0 psub=0 ssub=0 multi=-1 qbuf=${this.parser.pendingBytes} qbuf-free=0 ` +
      `argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=${this.queue.length - this.head} ` +
      `omem=${this.queuedBytes + this.socket.writableLength} tot-mem=0 events=r cmd=${this.lastCmd} ` +
      'user=default redir=-1 resp=2';
  }

  private onData(chunk: Buffer): void {
    if (this.closing || this.closed) return;
    this.lastActive = Date.now();
    let requests: Buffer[][];
    let protocolError: string | undefined;
    try {
      requests = this.parser.feed(chunk);
    } catch (e) {
      requests = [];
      protocolError = e instanceof Error ? e.message : String(e);
    }
    const w = this.host.writer();
    this.socket.cork();
    try {
      for (let i = 0; i < requests.length && !this.closing; i++) {
        this.host.countCommand();
        let reply: unknown;
        try {
          reply = this.host.dispatcher.execute(this, requests[i]);
        } catch (e) {
          reply = internalError(e);
        }
        if (reply instanceof Promise) {
          this.handOut(w);
          const slot: Slot = { out: null };
          this.queue.push(slot);
          reply.then((v) => this.complete(slot, v), (e) => this.complete(slot, { error: `ERR ${errText(e)}` }));
        } else {
          this.encode(w, reply);
        }
      }
      if (protocolError !== undefined && !this.closing) {
        this.host.logger.debug({ client: this.id, addr: this.addr, reason: protocolError }, 'closing client after a protocol error');
        this.encode(w, { error: `ERR ${protocolError}` });
        this.closing = true;
      }
      this.handOut(w);
    } finally {
      this.socket.uncork();
    }
    this.afterWrite();
  }

  /** Encodes one reply into `w`; a value that cannot be encoded becomes an error reply. */
  private encode(w: RespWriter, v: unknown): void {
    const before = w.length;
    try {
      w.value(v as RespValue);
    } catch (e) {
      // Keep the complete replies written before this one, drop the partial one.
      const all = w.take();
      if (before > 0) this.emit(all.subarray(0, before));
      w.value(internalError(e));
    }
  }

  /** Moves the bytes in `w` out: to the socket if nothing is pending, else behind the pending slots. */
  private handOut(w: RespWriter): void {
    if (w.length === 0) return;
    const out = w.take();
    if (out.length > LARGE_REPLY) this.host.tookLarge();
    this.emit(out);
  }

  private emit(out: Buffer): void {
    if (this.closed) return;
    if (this.head === this.queue.length) {
      this.socket.write(out);
    } else {
      this.queue.push({ out });
      this.queuedBytes += out.length;
    }
  }

  private complete(slot: Slot, v: unknown): void {
    if (this.closed) return;
    const w = this.host.writer();
    this.encode(w, v);
    const out = w.take();
    if (out.length > LARGE_REPLY) this.host.tookLarge();
    slot.out = out;
    this.queuedBytes += out.length;
    // Replies that complete in the same event-loop turn (a shard answers a batch) leave in one write.
    if (this.queue[this.head] === slot && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushReady);
    }
  }

  /** Writes the ready replies at the head of the queue. */
  private readonly flushReady = (): void => {
    this.flushScheduled = false;
    if (this.closed) return;
    this.socket.cork();
    while (this.head < this.queue.length) {
      const s = this.queue[this.head];
      if (s.out === null) break;
      this.queuedBytes -= s.out.length;
      this.socket.write(s.out);
      s.out = null;
      this.head++;
    }
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    this.socket.uncork();
    this.afterWrite();
  };

  /** Enforces the output limit, applies back-pressure, and ends the connection after QUIT / errors. */
  private afterWrite(): void {
    if (this.closed) return;
    const unsent = this.queuedBytes + this.socket.writableLength;
    if (unsent > this.host.limits.maxOutputBytes) {
      this.host.logger.warn({ client: this.id, addr: this.addr, unsent, limit: this.host.limits.maxOutputBytes },
        'disconnecting a client that does not read its replies (output buffer limit reached)');
      this.socket.destroy();
      return;
    }
    const pending = this.queue.length - this.head;
    if (this.closing) {
      if (pending === 0) this.socket.end();
      else if (!this.paused) { this.paused = true; this.socket.pause(); }
      return;
    }
    if (!this.paused && (pending >= MAX_PENDING || this.socket.writableLength > HIGH_WATER)) {
      this.paused = true;
      this.socket.pause();
    } else {
      this.maybeResume();
    }
  }

  private maybeResume(): void {
    if (!this.paused || this.closing || this.closed) return;
    if (this.queue.length - this.head < MAX_PENDING && this.socket.writableLength <= HIGH_WATER) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
    this.host.removed(this);
  }
}

function errText(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && 'message' in e) return String((e as { message: unknown }).message);
  return String(e);
}

function internalError(e: unknown): { error: string } {
  return { error: `ERR internal error while running the command: ${errText(e)} (this is a parareplica bug, please report it)` };
}
