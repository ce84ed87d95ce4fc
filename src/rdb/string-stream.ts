/**
 * Streams a long STRING value (type 0, more than STRING_STREAM_MIN bytes once decompressed) to the
 * handler in pieces, so that memory is bounded by a constant, never by the value's size (contract in
 * load-records.ts). The parser reads the string's header (lengths.ts stringBody) as part of the key
 * item, then hands the stored bytes here as they arrive, chunk by chunk.
 *
 *   raw  <length L> <L bytes>                 pieces are subarrays of the caller's buffer when a
 *                                             whole piece is there, else bytes gathered into `out`
 *   LZF  0xC3 <length clen> <length ulen> <clen bytes>
 *                                             decoded op by op (format in lzf.ts): `out` keeps the
 *                                             last LZF_WINDOW bytes of output (back-references reach
 *                                             at most 8192 bytes back) and the piece being filled
 *
 * Every piece but the last is exactly PIECE bytes. An LZF op (control byte and its operands, at most
 * 33 bytes) is decoded only once whole: when one straddles the end of the buffer, step() returns -1
 * with needAt set and the parser keeps those few bytes pending. The checks and error texts are those
 * of lzfDecompress, so a long string gives the same corruption errors as a short one.
 */
import type { FieldReader } from './lengths.js';
import type { RdbHandler } from './handler.js';
import { lzfCorrupt } from './lzf.js';
import { STRING_STREAM_MIN } from './load-records.js';

/** Size of every piece handed to part(), except a string's last one. */
const PIECE = STRING_STREAM_MIN;
/** How far back an LZF back-reference can reach: ((0x1f << 8) | 0xff) + 1. */
const LZF_WINDOW = 8192;
/** Most output of one LZF op: a back-reference of 7 + 255 + 2 bytes. */
const LZF_MAX_OP_OUT = 264;

export class StringStreamer {
  /** Stored bytes still to read (raw bytes, or compressed bytes for LZF). */
  private left = 0;
  private lzf = false;
  private active = false;
  /** LZF: the declared uncompressed length, the bytes decoded so far, where the data started. */
  private ulen = 0;
  private produced = 0;
  private dataOffset = 0;
  /** Output buffer: [window of earlier output | piece being filled]; allocated on first use. */
  private out: Buffer | null = null;
  /** Start of the piece being filled in `out`, and the write position. */
  private ps = 0;
  private op = 0;

  constructor(
    private readonly fr: FieldReader,
    private readonly handler: RdbHandler,
  ) {}

  /**
   * Starts a string whose `stored` bytes follow; `ulen` is its decoded length, `dataOffset` the
   * stream position of its first stored byte (for LZF length errors).
   */
  start(lzf: boolean, stored: number, ulen: number, dataOffset: number): void {
    this.lzf = lzf;
    this.left = stored;
    this.ulen = ulen;
    this.produced = 0;
    this.dataOffset = dataOffset;
    this.ps = 0;
    this.op = 0;
    this.active = true;
    if (this.out === null) this.out = Buffer.allocUnsafe(LZF_WINDOW + PIECE + LZF_MAX_OP_OUT);
  }

  /** True once the whole string has been handed out (and its LZF data checked). */
  get finished(): boolean {
    return !this.active;
  }

  /** Bytes held by the streamer (its fixed output buffer). */
  get heldBytes(): number {
    return this.out === null ? 0 : this.out.length;
  }

  /** Reads stored bytes at s: the position after those used, or -1 (fr.needAt set) with no effect. */
  step(buf: Buffer, s: number, end: number): number {
    return this.lzf ? this.lzfStep(buf, s, end) : this.rawStep(buf, s, end);
  }

  private rawStep(buf: Buffer, s: number, end: number): number {
    const out = this.out!;
    let p = s;
    let avail = end - s < this.left ? end - s : this.left;
    while (avail > 0) {
      if (this.op === 0 && (avail >= PIECE || avail === this.left)) {
        // A whole piece (or the string's tail) is in the buffer: hand it out without copying.
        const n = avail < PIECE ? avail : PIECE;
        this.left -= n;
        avail -= n;
        this.handler.part?.(buf.subarray(p, p + n));
        p += n;
        continue;
      }
      let n = PIECE - this.op;
      if (n > avail) n = avail;
      buf.copy(out, this.op, p, p + n);
      this.op += n;
      this.left -= n;
      avail -= n;
      p += n;
      if (this.op === PIECE || this.left === 0) {
        const len = this.op;
        this.op = 0;
        this.handler.part?.(out.subarray(0, len));
      }
    }
    if (this.left === 0) this.active = false;
    return p;
  }

  private lzfStep(buf: Buffer, s: number, end: number): number {
    const out = this.out!;
    const base = this.fr.base;
    const dataEnd = s + this.left; // end of the compressed data, possibly past this buffer
    const stop = end < dataEnd ? end : dataEnd;
    const ulen = this.ulen;
    let produced = this.produced;
    let op = this.op;
    let ip = s;
    let needAt = -1;
    while (ip < stop) {
      const c = buf[ip];
      if (c < 32) {
        const n = c + 1;
        const e = ip + 1 + n;
        if (e > stop) {
          if (e > dataEnd) lzfCorrupt(base + ip, 'literal run goes past the end of the input');
          needAt = e;
          break;
        }
        if (produced + n > ulen) lzfCorrupt(base + ip, 'literal run goes past the declared length');
        if (n > 16) {
          buf.copy(out, op, ip + 1, e);
          op += n;
        } else {
          for (let k = ip + 1; k < e; k++) out[op++] = buf[k];
        }
        produced += n;
        ip = e;
      } else {
        let len = c >> 5;
        const e = ip + (len === 7 ? 3 : 2);
        if (e > stop) {
          if (e > dataEnd) lzfCorrupt(base + ip, 'back-reference cut short');
          needAt = e;
          break;
        }
        if (len === 7) len += buf[ip + 1];
        const dist = ((c & 0x1f) << 8) + buf[e - 1] + 1;
        len += 2;
        if (dist > produced) lzfCorrupt(base + ip, `back-reference to ${dist} bytes back, before the start of the output`);
        if (produced + len > ulen) lzfCorrupt(base + ip, 'back-reference goes past the declared length');
        let ref = op - dist;
        if (dist >= len && len >= 32) { // no overlap, and long enough for a native copy to pay
          out.copyWithin(op, ref, ref + len);
          op += len;
        } else {
          for (let k = 0; k < len; k++) out[op++] = out[ref++];
        }
        produced += len;
        ip = e;
      }
      if (op - this.ps >= PIECE) op = this.flushPiece(op);
    }
    if (ip === s && needAt >= 0) return this.fr.needs(needAt);
    this.produced = produced;
    this.op = op;
    this.left -= ip - s;
    if (this.left === 0) {
      if (produced !== ulen) lzfCorrupt(this.dataOffset, `decompressed to ${produced} bytes, declared ${ulen}`);
      if (op > this.ps) this.handler.part?.(out.subarray(this.ps, op));
      this.active = false;
    }
    return ip;
  }

  /** Hands out the full piece and keeps the window before the next one; returns the new op. */
  private flushPiece(op: number): number {
    const out = this.out!;
    const ps = this.ps;
    this.handler.part?.(out.subarray(ps, ps + PIECE));
    const keepFrom = ps + PIECE - LZF_WINDOW;
    out.copyWithin(0, keepFrom, op);
    this.ps = LZF_WINDOW;
    return op - keepFrom;
  }
}
