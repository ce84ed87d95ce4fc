/**
 * The relay log (architecture invariant 5): every byte of the master's stream is appended here before
 * it is routed, so the link keeps reading at network speed however far behind the appliers are. Routing
 * reads from memory while it keeps up and from here when it falls behind; segments are deleted once
 * every shard has applied past them.
 *
 * Offsets follow Redis: an offset is the number of the last byte. The log holds bytes
 * (startOffset, endOffset]; the first byte of a chunk appended when the log ends at E is E+1.
 * Layout and crash recovery: see segments.ts. Writes are plain fs writes (no fsync): after kill -9 the
 * OS still has every completed write, and open() cuts a torn tail back to the last complete command.
 *
 * Appends, rotations, resets and close go through one ordered queue served by a single writer, which
 * coalesces queued chunks into one writev of at most `maxWriteBytes`: one write in flight at a time.
 */
import type { FileHandle } from 'node:fs/promises';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';
import { ParaError } from '../errors.js';
import { SegmentReader, type ReaderHost } from './reader.js';
import type { ScanState } from './resp-scan.js';
import {
  dataDirError, deleteFiles, listSegments, readMeta, recoverSegments, segmentName, writeMeta, type Segment,
} from './segments.js';
import { WriteQueue } from './write-queue.js';

/** Stream state at a command boundary outside any MULTI. */
export interface StreamPos { offset: number; db: number }

export interface RelayLogOptions {
  /** Rotate to a new segment at the first safe point after a segment reaches this size. Default 64 MiB. */
  segmentBytes?: number;
  /** Most bytes handed to one write call. Default 4 MiB. */
  maxWriteBytes?: number;
  logger?: Logger;
}

/** The relay directory inside a replica data directory. */
export function relayDirOf(dataDir: string): string {
  return join(dataDir, 'relay');
}

const DEFAULT_SEGMENT_BYTES = 64 << 20;
const DEFAULT_MAX_WRITE = 4 << 20;
const DEFAULT_READ_CHUNK = 1 << 20;

export class RelayLog implements ReaderHost {
  readonly dir: string;
  private readonly log: Logger;
  private readonly segmentBytes: number;
  private readonly queue: WriteQueue;
  private segs: Segment[];
  private fh: FileHandle | null = null;
  private _replid: string | null;
  private _generation = 0;
  private readonly readers = new Set<SegmentReader>();
  /** Highest offset passed to truncateBefore() that pinned segments kept from being applied. */
  private pendingTruncate = -1;
  private unlinking: Promise<void> = Promise.resolve();
  /** State as seen by append(): replid, end offset and current segment size including queued bytes. */
  private qReplid: string | null;
  private qEnd: number;
  private qSegSize: number;
  private closing = false;
  /** True while a reset replaces the segments (truncation must not unlink anything then). */
  private resetting = false;
  /** State of the stream at endOffset when the log was opened (after recovery). */
  readonly recovered: { offset: number; db: number; inMulti: boolean } | null;

  private constructor(dir: string, opts: RelayLogOptions, replid: string | null, segs: Segment[],
    tail: ScanState | null, fh: FileHandle | null) {
    this.dir = dir;
    this.log = opts.logger ?? pino({ level: 'silent' });
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this._replid = replid;
    this.segs = segs;
    this.fh = fh;
    const last = segs[segs.length - 1];
    this.qReplid = replid;
    this.qEnd = last ? last.start + last.size : 0;
    this.qSegSize = last ? last.size : 0;
    this.recovered = last && tail ? { offset: this.qEnd, db: tail.db, inMulti: tail.inMulti } : null;
    this.queue = new WriteQueue(opts.maxWriteBytes ?? DEFAULT_MAX_WRITE, {
      writeChunks: (bufs, bytes) => this.writeChunks(bufs, bytes),
      rotate: (pos) => this.doRotate(pos),
      reset: (replid, pos) => this.doReset(replid, pos),
      close: () => this.doClose(),
      onError: (e) => this.log.error({ err: e }, 'relay log write failed; appends stop until restart'),
    });
  }

  /** Open (creating if needed) the relay log in `dir`, recovering from a crash if one happened. */
  static async open(dir: string, opts: RelayLogOptions = {}): Promise<RelayLog> {
    if (opts.segmentBytes !== undefined && !(Number.isSafeInteger(opts.segmentBytes) && opts.segmentBytes >= 1)) {
      throw new ParaError('PARAREPLICA_BAD_OPTION',
        `relay segmentBytes must be a positive integer, got ${String(opts.segmentBytes)}`);
    }
    const log = opts.logger ?? pino({ level: 'silent' });
    opts = { ...opts, logger: log };
    try {
      await mkdir(dir, { recursive: true });
    } catch (e) {
      throw dataDirError('creating relay directory', dir, e, 'check the --dir path and its permissions');
    }
    const meta = await readMeta(dir);
    let segs = await listSegments(dir);
    if (meta === undefined && segs.length > 0) {
      throw new ParaError('PARAREPLICA_DATA_DIR',
        `${dir} holds relay segments but no meta.json, so it was not written by this relay log or was ` +
        `damaged; move it away or delete it, and the replica will resynchronise from the master`,
        { dir, segments: segs.length });
    }
    if (meta === null || meta === undefined || segs.length === 0) {
      // Fresh directory, interrupted reset, or no segment left: an empty log that needs reset().
      if (segs.length) {
        log.warn({ dir, segments: segs.length }, 'relay log reset was interrupted; deleting stale segments');
        await deleteFiles(segs.map((s) => s.path));
      }
      if (meta) log.warn({ dir }, 'relay log metadata has a replid but no segment; starting empty');
      return new RelayLog(dir, opts, null, [], null, null);
    }
    const r = await recoverSegments(segs, log);
    segs = r.segs;
    const last = segs[segs.length - 1];
    let fh: FileHandle;
    try {
      fh = await open(last.path, 'r+');
    } catch (e) {
      throw dataDirError('opening relay segment', last.path, e, 'check permissions of the data directory');
    }
    log.info({ dir, replid: meta, startOffset: segs[0].start, endOffset: last.start + last.size, segments: segs.length },
      'relay log opened');
    return new RelayLog(dir, opts, meta, segs, r.tail, fh);
  }

  get replid(): string | null { return this._replid; }
  get startOffset(): number { return this.segs.length ? this.segs[0].start : 0; }
  get endOffset(): number {
    const last = this.segs[this.segs.length - 1];
    return last ? last.start + last.size : 0;
  }
  /** Bytes accepted by append() but not yet written. A link may pause its socket when this is large. */
  get pendingBytes(): number { return this.queue.pendingBytes; }
  get generation(): number { return this._generation; }

  /** Drop everything; the next appended byte is offset+1, with `db` selected. */
  reset(replid: string, offset: number, db: number): Promise<void> {
    if (typeof replid !== 'string' || replid.length === 0 || !isOffset(offset) || !isOffset(db)) {
      return Promise.reject(new ParaError('PARAREPLICA_BAD_OPTION',
        `relay reset needs a replid and non-negative integer offset and db, got ${String(replid)} ${offset} ${db}`));
    }
    if (this.closing) return Promise.reject(closedError());
    this.qReplid = replid;
    this.qEnd = offset;
    this.qSegSize = 0;
    return this.queue.push({ kind: 'reset', replid, pos: { offset, db } });
  }

  /**
   * Append a chunk of complete commands. `boundary` is the stream state at the end of the chunk when
   * that is a safe rotation point (outside MULTI), else null. Resolves once the bytes are written.
   * The chunk must not be modified until then.
   */
  append(chunk: Buffer, boundary: StreamPos | null): Promise<void> {
    if (this.closing) return Promise.reject(closedError());
    if (this.qReplid === null) {
      return Promise.reject(new ParaError('PARAREPLICA_DATA_DIR',
        'relay log append before any reset(): call reset(replid, offset, db) after a full sync first'));
    }
    const end = this.qEnd + chunk.length;
    if (boundary !== null && boundary.offset !== end) {
      return Promise.reject(new ParaError('PARAREPLICA_PROTOCOL',
        `relay append boundary offset ${boundary.offset} does not match the end of the chunk (${end}); ` +
        'the caller lost track of stream offsets', { boundary: boundary.offset, end }));
    }
    this.qEnd = end;
    this.qSegSize += chunk.length;
    const p = this.queue.push({ kind: 'chunk', buf: chunk });
    if (boundary === null || this.qSegSize < this.segmentBytes) return p;
    // Resolve once the rotation that follows the chunk is done too (it fails if the write did).
    this.qSegSize = 0;
    p.catch(noop);
    return this.queue.push({ kind: 'rotate', pos: { offset: boundary.offset, db: boundary.db } });
  }

  /**
   * Start reading at the segment that holds byte offset+1 (or, when offset is the end of the log, the
   * last segment). Returns that segment's start state and its bytes up to the current endOffset, or
   * null if the log does not hold byte offset+1 (nor end exactly at offset).
   */
  async readFrom(offset: number, maxChunk = DEFAULT_READ_CHUNK): Promise<{ from: StreamPos; chunks: AsyncIterable<Buffer> } | null> {
    if (!(Number.isSafeInteger(maxChunk) && maxChunk > 0)) {
      throw new ParaError('PARAREPLICA_BAD_OPTION', `readFrom maxChunk must be a positive integer, got ${maxChunk}`);
    }
    if (this.segs.length === 0 || this.closing || offset < this.startOffset || offset > this.endOffset) return null;
    const seg = this.segs[this.indexAtOrBefore(offset)];
    const reader = new SegmentReader(this, seg.start, this.endOffset, maxChunk);
    return { from: { offset: seg.start, db: seg.db }, chunks: reader };
  }

  /** Delete whole segments whose every byte is <= offset (never the segment being written). */
  async truncateBefore(offset: number): Promise<void> {
    if (this.resetting) return;
    let limit = offset;
    for (const r of this.readers) limit = Math.min(limit, r.pos);
    if (limit < offset) this.pendingTruncate = Math.max(this.pendingTruncate, offset);
    let n = 0;
    while (n + 1 < this.segs.length && this.segs[n + 1].start <= limit) n++;
    if (n === 0) return;
    const gone = this.segs.splice(0, n).map((s) => s.path);
    const p = this.unlinking.then(() => deleteFiles(gone));
    this.unlinking = p.catch(() => undefined);
    await p;
  }

  /** Wait for queued appends, then close the current segment. Further calls fail with PARAREPLICA_SHUTDOWN. */
  close(): Promise<void> {
    if (this.closing) return this.queue.idle();
    this.closing = true;
    return this.queue.push({ kind: 'close' });
  }

  // ---- ReaderHost ----

  segmentAt(pos: number): { seg: Segment; end: number } | undefined {
    if (this.segs.length === 0 || pos < this.startOffset) return undefined;
    let i = this.indexAtOrBefore(pos);
    // Skip empty segments so the reader gets one that holds byte pos+1.
    while (i + 1 < this.segs.length && this.segs[i].start + this.segs[i].size <= pos) i++;
    const seg = this.segs[i];
    return { seg, end: seg.start + seg.size };
  }

  pin(reader: SegmentReader): void {
    if (reader.generation === this._generation) this.readers.add(reader);
  }

  release(reader: SegmentReader): void {
    if (!this.readers.delete(reader)) return;
    if (this.pendingTruncate >= 0 && !this.closing) {
      const target = this.pendingTruncate;
      this.pendingTruncate = -1;
      this.truncateBefore(target).catch((e) => this.log.warn({ err: e }, 'deferred relay truncation failed'));
    }
  }

  // ---- writer side (called by the queue, one at a time, in order) ----

  private async writeChunks(bufs: Buffer[], bytes: number): Promise<void> {
    const seg = this.segs[this.segs.length - 1];
    const fh = this.fh as FileHandle;
    let written = 0;
    try {
      while (written < bytes) {
        const rest = written === 0 ? bufs : remaining(bufs, written);
        const { bytesWritten } = await fh.writev(rest, seg.size);
        written += bytesWritten;
        seg.size += bytesWritten;
      }
    } catch (e) {
      if (written > 0) await this.cutBack(seg, seg.size - written);
      throw dataDirError('writing relay segment', seg.path, e,
        'check free space and permissions of the data directory; the link must resynchronise');
    }
  }

  /** Undo a partly completed write so endOffset stays at a chunk (command) boundary. */
  private async cutBack(seg: Segment, size: number): Promise<void> {
    seg.size = size;
    await this.fh?.truncate(size).catch(() => undefined);
  }

  private async doRotate(pos: StreamPos): Promise<void> {
    const path = join(this.dir, segmentName(pos.offset, pos.db));
    let fh: FileHandle;
    try {
      fh = await open(path, 'wx');
    } catch (e) {
      throw dataDirError('creating relay segment', path, e, 'check free space and permissions of the data directory');
    }
    await this.fh?.close().catch(() => undefined);
    this.fh = fh;
    this.segs.push({ start: pos.offset, db: pos.db, size: 0, path });
    this.log.debug({ segment: path }, 'relay log rotated');
  }

  private async doReset(replid: string, pos: StreamPos): Promise<void> {
    this._generation++;
    this.readers.clear();
    this.pendingTruncate = -1;
    await this.fh?.close().catch(() => undefined);
    this.fh = null;
    // From here truncateBefore() does nothing, so no unlink it starts can hit the new segment; the
    // ones it already started finish first.
    this.resetting = true;
    try {
      await this.unlinking;
      await writeMeta(this.dir, null); // marks the reset as in progress
      const stale = await listSegments(this.dir);
      await deleteFiles(stale.map((s) => s.path));
      const path = join(this.dir, segmentName(pos.offset, pos.db));
      try {
        this.fh = await open(path, 'w');
      } catch (e) {
        throw dataDirError('creating relay segment', path, e, 'check free space and permissions of the data directory');
      }
      this.segs = [{ start: pos.offset, db: pos.db, size: 0, path }];
      await writeMeta(this.dir, replid);
      this._replid = replid;
    } catch (e) {
      this.segs = []; // the log is empty until a reset succeeds
      this._replid = null;
      throw e;
    } finally {
      this.resetting = false;
    }
    this.log.info({ replid, offset: pos.offset, db: pos.db }, 'relay log reset');
  }

  private async doClose(): Promise<void> {
    this._generation++;
    this.readers.clear();
    const fh = this.fh;
    this.fh = null;
    if (fh) {
      try {
        await fh.close();
      } catch (e) {
        throw dataDirError('closing relay segment', this.segs[this.segs.length - 1]?.path ?? this.dir, e,
          'check the data directory');
      }
    }
  }

  /** Index of the last segment whose start is <= offset (segs is non-empty, offset >= first start). */
  private indexAtOrBefore(offset: number): number {
    let lo = 0, hi = this.segs.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.segs[mid].start <= offset) lo = mid; else hi = mid - 1;
    }
    return lo;
  }
}

function noop(): void {}

function isOffset(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function closedError(): ParaError {
  return new ParaError('PARAREPLICA_SHUTDOWN', 'the relay log is closed; open it again to append');
}

/** The part of `bufs` after the first `skip` bytes (used after a short write). */
function remaining(bufs: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (skip >= b.length) { skip -= b.length; continue; }
    out.push(skip ? b.subarray(skip) : b);
    skip = 0;
  }
  return out;
}
