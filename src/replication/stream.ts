/**
 * Stream phase: turns socket reads into batches of complete commands with exact byte offsets.
 *
 * Wire: after the payload (or right after +CONTINUE) the master sends only RESP arrays of bulk
 * strings, `*<n>\r\n` then n × `$<len>\r\n<bytes>\r\n`, back to back. Every byte of every command
 * counts in the replication offset, including `ping`, `SELECT`, `MULTI`/`EXEC` and
 * `REPLCONF GETACK *` (37 bytes). A bare `\n` between commands is skipped by the framer and not
 * counted. The first stream byte has offset base+1 (base = the +FULLRESYNC offset, or the offset we
 * asked PSYNC to continue after).
 *
 * Per read, all complete commands are passed on in one call. They are normally one contiguous range
 * of the chunk (no copy). A command completed from the framer's carry (it straddled two reads), or
 * a skipped keepalive inside the read, makes the batch a concatenation of pieces (one copy).
 */
import { RespFramer, type CommandSink } from '../resp/framer.js';

export interface StreamCallbacks {
  /** The read held at least one `REPLCONF GETACK`: answer before the bytes are delivered. */
  onGetAck(): void;
  /** Complete commands with offsets (startOffset, endOffset]. */
  onData(buf: Buffer, startOffset: number, endOffset: number): void;
}

const R = 0x52;
const REPLCONF = Buffer.from('REPLCONF');
const GETACK = Buffer.from('GETACK');

/** Case-insensitive compare of buf[at..at+word.length) with an upper-case ASCII word. */
function isWord(buf: Buffer, at: number, len: number, word: Buffer): boolean {
  if (len !== word.length) return false;
  for (let i = 0; i < len; i++) {
    const c = buf[at + i]!;
    if ((c >= 0x61 && c <= 0x7a ? c - 0x20 : c) !== word[i]) return false;
  }
  return true;
}

export class StreamReader implements CommandSink {
  private readonly framer = new RespFramer();
  private delivered: number;
  private readonly cb: StreamCallbacks;

  // Per-feed batch state.
  private chunk: Buffer | null = null;
  private runStart = -1;
  private runEnd = -1;
  private pieces: Buffer[] = [];
  private piecesLen = 0;
  private getack = false;

  constructor(baseOffset: number, cb: StreamCallbacks) {
    this.delivered = baseOffset;
    this.cb = cb;
  }

  /** Offset of the last byte delivered (complete commands). */
  get deliveredOffset(): number {
    return this.delivered;
  }

  /** Offset of the last byte received, counting a partially received command (slave_read_repl_offset). */
  get readOffset(): number {
    return this.delivered + this.framer.pendingBytes;
  }

  /** Frames one socket read; may throw PARAREPLICA_PROTOCOL (then the link must be dropped). */
  feed(chunk: Buffer): void {
    this.chunk = chunk;
    this.runStart = -1;
    this.getack = false;
    try {
      this.framer.feed(chunk, this);
    } finally {
      this.chunk = null;
    }
    let out: Buffer | null = null;
    if (this.pieces.length === 0) {
      if (this.runStart >= 0) out = chunk.subarray(this.runStart, this.runEnd);
    } else {
      this.flushRun(chunk);
      out = this.pieces.length === 1 ? this.pieces[0]! : Buffer.concat(this.pieces, this.piecesLen);
      this.pieces.length = 0;
      this.piecesLen = 0;
    }
    if (this.getack) this.cb.onGetAck();
    if (out !== null) {
      const start = this.delivered;
      this.delivered = start + out.length;
      this.cb.onData(out, start, this.delivered);
    }
  }

  onCommand(buf: Buffer, start: number, end: number, argc: number, argStart: Int32Array, argLen: Int32Array): void {
    if (buf === this.chunk) {
      if (this.runStart < 0) {
        this.runStart = start;
      } else if (start !== this.runEnd) {
        this.flushRun(buf); // a skipped keepalive split the run
        this.runStart = start;
      }
      this.runEnd = end;
    } else {
      // Completed in the framer's carry, which it reuses: copy now.
      this.flushRun(this.chunk!);
      const copy = Buffer.allocUnsafe(end - start);
      buf.copy(copy, 0, start, end);
      this.pieces.push(copy);
      this.piecesLen += copy.length;
    }
    // REPLCONF GETACK * (the only command the master expects an answer to)
    if (argc >= 2 && (buf[argStart[0]!]! & 0xdf) === R &&
        isWord(buf, argStart[0]!, argLen[0]!, REPLCONF) && isWord(buf, argStart[1]!, argLen[1]!, GETACK)) {
      this.getack = true;
    }
  }

  private flushRun(chunk: Buffer): void {
    if (this.runStart < 0) return;
    const piece = chunk.subarray(this.runStart, this.runEnd);
    this.pieces.push(piece);
    this.piecesLen += piece.length;
    this.runStart = -1;
  }
}
