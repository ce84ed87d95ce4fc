/**
 * Reads relay-log bytes back, segment after segment, as an async iterator of chunks. Once iteration
 * starts, a reader "pins" its position: the log does not delete a segment that it still has to read.
 * The pin is released when the iterator is exhausted, fails, or the consumer stops early (`break` in
 * for-await calls `return()`). A reader that is never iterated pins nothing, so an abandoned one cannot
 * hold segments forever; if its first segment is truncated meanwhile, next() fails with a clear error.
 */
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { ParaError } from '../errors.js';
import { dataDirError, type Segment } from './segments.js';

/** What a reader needs from the log that created it. */
export interface ReaderHost {
  /** Bumped by reset() and close(): readers of an older generation fail. */
  readonly generation: number;
  /** The segment holding byte pos+1 and the offset where that segment ends, or undefined. */
  segmentAt(pos: number): { seg: Segment; end: number } | undefined;
  /** Called on the first next(): from then on the reader's position is protected from truncation. */
  pin(reader: SegmentReader): void;
  release(reader: SegmentReader): void;
}

export class SegmentReader implements AsyncIterableIterator<Buffer> {
  /** Offset of the last byte handed out (the next chunk starts at pos+1). */
  pos: number;
  private readonly end: number;
  private readonly maxChunk: number;
  readonly generation: number;
  private readonly host: ReaderHost;
  private fh: FileHandle | null = null;
  private seg: Segment | null = null;
  private segEnd = 0;
  private finished = false;
  private pinned = false;

  constructor(host: ReaderHost, from: number, end: number, maxChunk: number) {
    this.host = host;
    this.pos = from;
    this.end = end;
    this.maxChunk = maxChunk;
    this.generation = host.generation;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async next(): Promise<IteratorResult<Buffer>> {
    if (this.finished) return { done: true, value: undefined };
    if (!this.pinned) {
      this.pinned = true;
      this.host.pin(this);
    }
    try {
      if (this.host.generation !== this.generation) {
        throw new ParaError('PARAREPLICA_DATA_DIR',
          'the relay log was reset or closed while it was being read; call readFrom() again',
          { pos: this.pos });
      }
      if (this.pos >= this.end) {
        await this.finish();
        return { done: true, value: undefined };
      }
      if (this.fh === null || this.pos >= this.segEnd) await this.openSegment();
      const seg = this.seg as Segment;
      const n = Math.min(this.maxChunk, this.segEnd - this.pos, this.end - this.pos);
      const buf = Buffer.allocUnsafe(n);
      let got = 0;
      while (got < n) {
        const { bytesRead } = await (this.fh as FileHandle).read(buf, got, n - got, this.pos - seg.start + got);
        if (bytesRead === 0) {
          throw new ParaError('PARAREPLICA_DATA_DIR',
            `relay segment ${seg.path} is shorter than expected (wanted byte ${this.pos + got + 1}); ` +
            'something else modified the relay directory: restart the replica to recover it',
            { path: seg.path, pos: this.pos + got });
        }
        got += bytesRead;
      }
      this.pos += n;
      if (this.pos >= this.segEnd) await this.closeFile();
      return { done: false, value: buf };
    } catch (e) {
      await this.finish();
      throw e;
    }
  }

  async return(): Promise<IteratorResult<Buffer>> {
    await this.finish();
    return { done: true, value: undefined };
  }

  private async openSegment(): Promise<void> {
    await this.closeFile();
    const at = this.host.segmentAt(this.pos);
    if (!at) {
      throw new ParaError('PARAREPLICA_DATA_DIR',
        `no relay segment holds byte ${this.pos + 1} any more; call readFrom() again`, { pos: this.pos });
    }
    try {
      this.fh = await open(at.seg.path, 'r');
    } catch (e) {
      throw dataDirError('opening relay segment', at.seg.path, e, 'restart the replica to recover the relay log');
    }
    this.seg = at.seg;
    this.segEnd = at.end;
  }

  private async closeFile(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    if (fh) await fh.close().catch(() => undefined);
  }

  private async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    await this.closeFile();
    if (this.pinned) this.host.release(this);
  }
}
