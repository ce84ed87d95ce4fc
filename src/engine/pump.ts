/**
 * The stream pump (invariant 5: the link never waits for the appliers).
 *
 *   link.streamData ──copy──▶ relay.append ──(write done)──▶ memory queue ──▶ router.route ──▶ rings
 *                                   │                                  ▲
 *                                   └──────── relay.readFrom ──────────┘  when the queue overflowed
 *
 * `ingest()` is synchronous and never waits: it copies the chunk, starts its relay append, and queues
 * it. The pump loop routes queued chunks in order once their append completed (so the relay log always
 * holds every byte a shard may have applied). When the appliers fall behind and the queue holds more
 * than `memoryLimit` bytes, the queue is dropped and the pump switches to reading the relay log from
 * the router's position until it has caught up; memory stays bounded however far behind it is.
 */
import type { Logger } from 'pino';
import type { RelayLog, StreamPos } from '../relay/relay-log.js';
import { scanCommands, type ScanState } from '../relay/resp-scan.js';
import type { Router } from '../router/router.js';

interface Queued { chunk: Buffer; written: Promise<void> }

export class StreamPump {
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private fileMode = false;
  private running = false;
  private stopped = false;
  private lastAppend: Promise<void> = Promise.resolve();
  private readonly scan: ScanState = { db: 0, inMulti: false };
  /** Offset of the last byte ingested (handed to the relay log). */
  ingested = 0;
  fileModeEntries = 0;
  private wake: (() => void) | null = null;

  constructor(private readonly relay: RelayLog, private readonly router: Router, private readonly log: Logger,
    private readonly memoryLimit = 64 << 20) {}

  /** Where ingest starts (after a full sync, a replay, or a +CONTINUE). */
  resetAt(offset: number, db: number): void {
    this.queue = [];
    this.queuedBytes = 0;
    this.ingested = offset;
    this.scan.db = db;
    this.scan.inMulti = false;
  }

  get backlogBytes(): number { return this.ingested - this.router.offset; }
  get readingRelay(): boolean { return this.fileMode; }

  /** `buf` holds complete commands whose last byte has offset `endOffset`. */
  ingest(buf: Buffer, endOffset: number): void {
    if (this.stopped) return;
    const chunk = Buffer.from(buf);
    const r = scanCommands(chunk, 0, chunk.length, this.scan);
    this.scan.db = r.db;
    this.scan.inMulti = r.inMulti;
    const boundary: StreamPos | null = r.inMulti ? null : { offset: endOffset, db: r.db };
    const written = this.relay.append(chunk, boundary);
    written.catch((e: Error) => this.log.error({ err: e.message }, 'relay log append failed'));
    this.lastAppend = written;
    this.ingested = endOffset;
    if (!this.fileMode) {
      this.queue.push({ chunk, written });
      this.queuedBytes += chunk.length;
      if (this.queuedBytes > this.memoryLimit) {
        this.log.warn({ behindBytes: this.backlogBytes }, 'appliers are behind: routing from the relay log until they catch up');
        this.fileMode = true;
        this.fileModeEntries++;
        this.queue = [];
        this.queuedBytes = 0;
      }
    }
    this.kick();
  }

  /** Routes the relay log from the router's position to its end (startup replay, or catch-up). */
  async replayFromRelay(): Promise<void> {
    for (;;) {
      if (this.stopped || this.router.isHalted) return;
      await this.lastAppend.catch(() => undefined);
      const target = this.relay.endOffset;
      if (this.router.offset >= target) return;
      const res = await this.relay.readFrom(this.router.offset);
      if (!res) {
        throw new Error(`the relay log (${this.relay.startOffset}..${this.relay.endOffset}) does not cover the router position ${this.router.offset}`);
      }
      let skip = this.router.offset - res.from.offset;
      for await (const c of res.chunks) {
        if (this.stopped) return;
        let chunk = c;
        if (skip > 0) {
          if (skip >= chunk.length) { skip -= chunk.length; continue; }
          chunk = chunk.subarray(skip);
          skip = 0;
        }
        if (!this.router.route(chunk)) await this.router.drain();
      }
    }
  }

  private kick(): void {
    if (this.wake) { const w = this.wake; this.wake = null; w(); }
    if (!this.running) { this.running = true; void this.loop(); }
  }

  /** The one routing loop (`running` guards against a second): retries after any failure. */
  private async loop(): Promise<void> {
    for (;;) {
      try {
        await this.run();
        this.running = false;
        return;
      } catch (e) {
        // Never leave the stream unrouted: log, then read back from the relay log after a pause.
        this.log.error({ err: (e as Error).message, offset: this.router.offset }, 'stream pump failed; retrying from the relay log');
        this.fileMode = true;
        this.queue = [];
        this.queuedBytes = 0;
        await new Promise((r) => setTimeout(r, 200));
        if (this.stopped) { this.running = false; return; }
      }
    }
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.fileMode) {
        const before = this.router.offset;
        await this.replayFromRelay();
        // Caught up with everything appended so far: back to memory if nothing new came meanwhile.
        if (this.router.offset >= this.ingested || this.router.isHalted) { this.fileMode = false; continue; }
        // No progress (appends still in flight, or failing): do not spin on the event loop.
        if (this.router.offset === before) await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      const q = this.queue.shift();
      if (!q) {
        await new Promise<void>((res) => { this.wake = res; });
        continue;
      }
      this.queuedBytes -= q.chunk.length;
      await q.written;
      if (this.fileMode) continue;   // switched while we waited: the relay log has it
      if (!this.router.route(q.chunk)) await this.router.drain();
    }
  }

  stop(): void {
    this.stopped = true;
    this.kick();
  }
}
