/**
 * The main thread's side of a full synchronisation: it turns the parsed snapshot into load records
 * for the shards, keeps clients on the data from before the sync until every shard has loaded the
 * new one, and reports progress.
 *
 *   link ─payload─▶ RdbParser ─entry/begin/part/end─▶ FullSync ─RDB_ENTRY records─▶ rings ─▶ appliers
 *                                                      │                                 (decode + write
 *   SYNC_BEGIN(epoch L) ─▶ every shard starts a fresh view at epoch L, keeps the old one   into view L)
 *   SYNC_END            ─▶ every shard makes view L live, keeps the old one readable
 *   (all acked)  SYNC_COMMIT ─▶ the old view becomes garbage; reads stop asking for it
 *   (link lost mid-payload)  SYNC_ABORT ─▶ back to the old view; the partial load is garbage
 *
 * Reads (engine/reads.ts) carry REC_F_OLD_VIEW while `oldView` is true: from SYNC_BEGIN until the
 * main thread has seen every shard pass SYNC_END, so a client never sees a mix of old and new keys.
 *
 * Load records (src/rdb/load-records.ts): one record per short string or compact blob; plain
 * collections and quicklists in chunks of at most LOAD_CHUNK_PARTS parts / about LOAD_CHUNK_BYTES
 * bytes; a long string (streamed by the parser in pieces) in records of whole pieces, at most
 * LOAD_CHUNK_BYTES bytes each; so no record and no applier step grows with the size of one value.
 * The main thread does no decoding of compact encodings (the appliers do, in parallel); it copies
 * parts into a reused chunk buffer.
 */
import type { Logger } from 'pino';
import type { RdbEntry, RdbHandler } from '../rdb/parser.js';
import { LOAD_CHUNK_BYTES, LOAD_CHUNK_PARTS, REC_F_FIRST, REC_F_LAST, isOneRecordType } from '../rdb/load-records.js';
import { printableKey } from '../rdb/types.js';
import { shardOfKey } from '../router/slot.js';
import type { Router } from '../router/router.js';
import { RecordKind, S_BARRIER_ACK, type SharedState } from '../shm/layout.js';
import { ChunkEncoder } from './chunk-encoder.js';
import { SyncProgress } from './sync-progress.js';

export type SyncPhase = 'idle' | 'loading' | 'applying';

export interface FullSyncControls {
  /** Stop / restart feeding the payload (the rings are full). */
  pause(): void;
  resume(): void;
}

export class FullSync {
  phase: SyncPhase = 'idle';
  /** Keys sent to the shards in the current (or last) sync. */
  keys = 0;
  /** Keys of types this version cannot load, skipped with --skip-errors. */
  skippedKeys = 0;
  /** Full syncs completed (every shard committed) and aborted since start. */
  completed = 0;
  aborted = 0;
  /** `CODE: message` of the last failed full sync ('' when none failed since the last success). */
  lastError = '';
  /** Offset of the FULLRESYNC being loaded. */
  offset = 0;
  readonly progress: SyncProgress;

  private endId = 0;
  /** The error of the current sync was recorded (the first one is the one reported). */
  private failedThisSync = false;
  private readonly chunk = new ChunkEncoder();
  private cur: { key: Buffer; db: number; type: number; expireMs: number; shard: number; first: boolean } | null = null;

  constructor(private readonly shared: SharedState, private readonly router: Router, private readonly log: Logger,
    private readonly controls: FullSyncControls, progressBar: boolean) {
    this.progress = new SyncProgress(log, progressBar);
  }

  /** True while client reads must be answered from the data before the sync. */
  get oldView(): boolean { return this.phase !== 'idle'; }

  /** The payload header arrived: every shard starts a fresh view. */
  begin(offset: number, totalBytes: number): void {
    if (this.phase === 'loading') this.abort('a new full sync started before the previous one finished');
    // The previous snapshot was received whole: keep it if every shard has applied it by now. If not,
    // the shards drop it at this SYNC_BEGIN (an ended load is replaced) and clients, who were still
    // reading the data from before it, keep doing so until this sync is applied.
    if (this.phase === 'applying' && !this.tick(0)) {
      this.log.warn('a new full sync started before every shard applied the previous snapshot: that one is dropped');
    }
    this.phase = 'loading';
    this.offset = offset;
    this.keys = 0;
    this.skippedKeys = 0;
    this.failedThisSync = false;
    this.cur = null;
    const epoch = this.shared.nextEpoch();
    for (let d = 0; d < 256; d++) this.shared.publishEpoch(d, epoch);
    this.router.resetAt(offset, 0);
    this.router.broadcast(RecordKind.SYNC_BEGIN, 0, -1, epoch);
    this.progress.start(totalBytes);
  }

  /** The payload was received and verified: shards switch views once they applied it all. */
  end(replid: string): void {
    this.flushCurrent();
    this.endId = this.shared.nextEpoch();
    this.router.broadcast(RecordKind.SYNC_END, 0, this.router.offset, this.endId, Buffer.from(replid, 'latin1'));
    this.phase = 'applying';
    this.progress.received(this.keys);
  }

  /** The payload was cut short (link lost, corrupt snapshot): shards go back to their old view. */
  abort(reason: string): void {
    if (this.phase !== 'loading') return;
    this.phase = 'idle';
    this.cur = null;
    this.chunk.reset();
    this.aborted++;
    this.fail(reason);
    this.router.broadcast(RecordKind.SYNC_ABORT, 0, -1, this.shared.nextEpoch());
    this.progress.stop(false, reason);
    this.log.warn({ reason, keysSent: this.keys }, 'full sync aborted: the replica keeps serving the data from before it');
  }

  /** Records why the current sync failed (the first reason only). */
  fail(reason: string): void {
    if (this.failedThisSync) return;
    this.failedThisSync = true;
    this.lastError = reason;
  }

  /** The payload was received and every shard passed its SYNC_END (not committed yet). */
  get appliedEverywhere(): boolean {
    if (this.phase !== 'applying') return false;
    // Writers: each applier, after committing SYNC_END. A stale (lower) value only defers the commit
    // to the next cron tick.
    for (let s = 0; s < this.router.shards; s++) if (this.shared.shardWord(s, S_BARRIER_ACK) < this.endId) return false;
    return true;
  }

  /** Called by the replica's cron. Returns true when the sync just completed on every shard. */
  tick(readBytes: number): boolean {
    if (this.phase === 'loading') { this.progress.update(readBytes, this.keys); return false; }
    if (!this.appliedEverywhere) return false;
    // Every shard passed SYNC_END: reads sent from now on see the new view; the old one is garbage.
    this.router.broadcast(RecordKind.SYNC_COMMIT, 0, -1, 0);
    this.phase = 'idle';
    this.completed++;
    this.lastError = '';
    this.progress.stop(true, '');
    return true;
  }

  /** The parser's handler: snapshot keys become load records. */
  handler(onSkipped: (key: string, db: number, type: number) => void): RdbHandler {
    return {
      entry: (e) => this.oneRecord(e),
      begin: (e, count) => this.beginValue(e, count),
      part: (a, b) => this.part(a, b),
      end: () => this.flushCurrent(),
      skipped: (key, db, type) => {
        this.skippedKeys++;
        onSkipped(printableKey(key), db, type);
      },
    };
  }

  private oneRecord(e: RdbEntry): void {
    if (!isOneRecordType(e.type)) throw new Error(`internal: RDB type ${e.type} reported as one record`);
    const shard = shardOfKey(e.key, this.router.shards);
    this.chunk.start(e.key, e.expireMs);
    this.chunk.add(e.value);
    this.send(shard, e.db, e.type, REC_F_FIRST | REC_F_LAST);
    this.keys++;
  }

  private beginValue(e: RdbEntry, _count: number): void {
    this.cur = { key: Buffer.from(e.key), db: e.db, type: e.type, expireMs: e.expireMs, shard: shardOfKey(e.key, this.router.shards), first: true };
    this.chunk.start(this.cur.key, e.expireMs);
  }

  private part(a: Buffer, b?: Buffer): void {
    const c = this.cur!;
    if (c.type === 0) {
      this.stringPiece(c, a);
      return;
    }
    this.chunk.add(a);
    if (b !== undefined) this.chunk.add(b);
    if (this.chunk.parts >= LOAD_CHUNK_PARTS || this.chunk.bytes >= LOAD_CHUNK_BYTES) {
      this.send(c.shard, c.db, c.type, c.first ? REC_F_FIRST : 0);
      c.first = false;
      this.chunk.start(c.key, c.expireMs);
    }
  }

  /**
   * A piece of a long STRING. The record is sent before a piece that would take it past
   * LOAD_CHUNK_BYTES, not after, so every record holds at least one piece (the LAST one included:
   * end() always has a piece to send) and at most LOAD_CHUNK_BYTES bytes (pieces are at most
   * STRING_STREAM_MIN = LOAD_CHUNK_BYTES).
   */
  private stringPiece(c: NonNullable<FullSync['cur']>, a: Buffer): void {
    const ch = this.chunk;
    if (ch.parts > 0 && (ch.bytes + a.length > LOAD_CHUNK_BYTES || ch.parts >= LOAD_CHUNK_PARTS)) {
      this.send(c.shard, c.db, 0, c.first ? REC_F_FIRST : 0);
      c.first = false;
      ch.start(c.key, c.expireMs);
    }
    ch.add(a);
  }

  private flushCurrent(): void {
    const c = this.cur;
    if (c === null) return;
    this.cur = null;
    this.send(c.shard, c.db, c.type, (c.first ? REC_F_FIRST : 0) | REC_F_LAST);
    this.keys++;
  }

  private send(shard: number, db: number, type: number, flags: number): void {
    const payload = this.chunk.finish();
    this.router.emit(shard, RecordKind.RDB_ENTRY, db, -1, type, payload, 0, payload.length, flags);
    if (this.router.overflowed) {
      this.controls.pause();
      void this.router.drain().then(() => this.controls.resume());
    }
  }
}
