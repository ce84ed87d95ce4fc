/**
 * Incremental request parser for clients of the read server.
 *
 * Accepts both request forms a Redis server accepts:
 *   multibulk: "*<n>\r\n" then n × "$<len>\r\n<len bytes>\r\n"
 *   inline:    "<words separated by blanks>\n" (an optional "\r" before the "\n"), where a word may
 *              be "double quoted" (escapes \n \r \t \b \a \\ \" \xHH) or 'single quoted' (escape \').
 *
 * Behaviour follows what redis-server 7 does with the same bytes: `*0`/`*-1` and blank inline lines
 * are empty requests (skipped); the CRLF after a bulk's payload is skipped without being checked;
 * the error texts are the ones Redis replies with. After an error the parser must not be fed again:
 * the server replies `-ERR <message>` and closes the connection.
 */
import { ParaError } from '../errors.js';

export interface RequestLimits {
  /** Largest bulk argument in bytes (Redis: proto-max-bulk-len, 512 MiB). */
  maxBulkLen: number;
  /** Largest argument count of a multibulk request. */
  maxArgs: number;
  /** Largest inline request, and largest count line, in bytes (Redis: 64 KiB). */
  maxInlineLen: number;
}

const DEFAULT_LIMITS: RequestLimits = { maxBulkLen: 512 * 1024 * 1024, maxArgs: 1 << 20, maxInlineLen: 64 * 1024 };

/** An input buffer larger than this is released when it empties. */
const KEEP_BUFFER = 1 << 20;
const CR = 0x0d;
const LF = 0x0a;

export class RequestParser {
  private readonly limits: RequestLimits;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private len = 0;

  // Multibulk state: args still expected (0 = not inside a multibulk), current bulk length (-1 = unknown).
  private multibulkLen = 0;
  private bulkLen = -1;
  private argv: Buffer[] = [];

  constructor(limits: Partial<RequestLimits> = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** Bytes received but not yet part of a complete request. */
  get pendingBytes(): number {
    return this.len - this.pos;
  }

  /**
   * Appends `chunk` and returns every request it completes (argv lists of copied Buffers).
   * On invalid input, throws PARAREPLICA_CLIENT_INPUT; the requests of this chunk that came before
   * the bad bytes are in the error's `details.requests` (Redis runs them before it replies the error).
   */
  feed(chunk: Buffer): Buffer[][] {
    this.append(chunk);
    const out: Buffer[][] = [];
    try {
      while (this.pos < this.len) {
        if (this.multibulkLen === 0 && this.buf[this.pos] !== 0x2a /* '*' */) {
          if (!this.inline(out)) break;
        } else if (!this.multibulk(out)) {
          break;
        }
      }
    } catch (e) {
      // Not enumerable: logging the error must not dump client data.
      if (e instanceof ParaError) Object.defineProperty(e.details, 'requests', { value: out, enumerable: false });
      throw e;
    }
    if (this.pos === this.len) {
      this.pos = this.len = 0;
      if (this.buf.length > KEEP_BUFFER) this.buf = Buffer.alloc(0); // after a huge request
    }
    return out;
  }

  /** One inline request: "<line>\n". Returns false if the line is incomplete. */
  private inline(out: Buffer[][]): boolean {
    const b = this.buf;
    const nl = this.find(LF);
    if (nl < 0) {
      if (this.len - this.pos > this.limits.maxInlineLen) this.fail('Protocol error: too big inline request');
      return false;
    }
    let lineEnd = nl;
    if (lineEnd > this.pos && b[lineEnd - 1] === CR) lineEnd--;
    if (lineEnd - this.pos > this.limits.maxInlineLen) this.fail('Protocol error: too big inline request');
    const args = splitInline(b, this.pos, lineEnd);
    if (args === null) this.fail('Protocol error: unbalanced quotes in request');
    this.pos = nl + 1;
    if (args.length > 0) out.push(args);
    return true;
  }

  /** Continues a multibulk request. Returns false if more bytes are needed. */
  private multibulk(out: Buffer[][]): boolean {
    const b = this.buf;
    if (this.multibulkLen === 0) {
      // "*<count>\r\n"
      const n = this.countLine('Protocol error: too big mbulk count string');
      if (n === null) return false;
      if (!n.ok || n.value > this.limits.maxArgs) this.fail('Protocol error: invalid multibulk length');
      if (n.value <= 0) return true; // empty request
      this.multibulkLen = n.value;
      this.argv = [];
    }
    while (this.multibulkLen > 0) {
      if (this.bulkLen === -1) {
        // "$<len>\r\n"
        if (this.pos >= this.len) return false;
        const first = b[this.pos];
        const n = this.countLine('Protocol error: too big bulk count string');
        if (n === null) return false;
        if (first !== 0x24 /* '$' */) this.fail(`Protocol error: expected '$', got '${String.fromCharCode(first)}'`);
        if (!n.ok || n.value < 0 || n.value > this.limits.maxBulkLen) this.fail('Protocol error: invalid bulk length');
        this.bulkLen = n.value;
      }
      // "<bulkLen bytes>\r\n"
      if (this.len - this.pos < this.bulkLen + 2) return false;
      this.argv.push(Buffer.from(b.subarray(this.pos, this.pos + this.bulkLen)));
      this.pos += this.bulkLen + 2;
      this.bulkLen = -1;
      this.multibulkLen--;
    }
    out.push(this.argv);
    this.argv = [];
    return true;
  }

  /**
   * Reads "<prefix char><integer>\r\n" at pos (the prefix is not checked here). Returns null when
   * the line is incomplete, else the parsed integer (ok=false if it is not a canonical integer).
   * When `peekOnly` is set and the prefix is wrong, the caller still needs the line to be complete
   * first, as Redis reports a wrong prefix only once the whole line has arrived.
   */
  private countLine(tooBig: string, _peekOnly = false): { ok: boolean; value: number } | null {
    const b = this.buf;
    const cr = this.find(CR);
    if (cr < 0) {
      if (this.len - this.pos > this.limits.maxInlineLen) this.fail(tooBig);
      return null;
    }
    if (cr - this.pos > this.limits.maxInlineLen) this.fail(tooBig);
    if (cr + 1 >= this.len) return null; // the "\n" has not arrived yet
    const r = parseCanonicalInt(b, this.pos + 1, cr);
    this.pos = cr + 2;
    return r;
  }

  /** Position of the first `byte` in buf[pos..len), or -1 (never scans the unused capacity). */
  private find(byte: number): number {
    const i = this.buf.subarray(this.pos, this.len).indexOf(byte);
    return i < 0 ? -1 : this.pos + i;
  }

  private append(chunk: Buffer): void {
    const n = chunk.length;
    if (this.len + n > this.buf.length) {
      const live = this.len - this.pos;
      let cap = this.buf.length * 2;
      if (cap < live + n) cap = live + n;
      if (cap < 4096) cap = 4096;
      const next = Buffer.allocUnsafe(cap);
      this.buf.copy(next, 0, this.pos, this.len);
      this.buf = next;
      this.pos = 0;
      this.len = live;
    }
    chunk.copy(this.buf, this.len);
    this.len += n;
  }

  private fail(message: string): never {
    throw new ParaError('PARAREPLICA_CLIENT_INPUT', message, { pendingBytes: this.len - this.pos });
  }
}

/** Integer text as Redis accepts it for counts: "0" or an optional "-" then digits without leading zeros. */
function parseCanonicalInt(b: Buffer, start: number, end: number): { ok: boolean; value: number } {
  const bad = { ok: false, value: 0 };
  let p = start;
  let neg = false;
  if (p < end && b[p] === 0x2d) { neg = true; p++; }
  if (p >= end || end - p > 18) return bad;
  if (b[p] === 0x30 && (end - p > 1 || neg)) return bad;
  let v = 0;
  for (; p < end; p++) {
    const c = b[p] - 0x30;
    if (c < 0 || c > 9) return bad;
    v = v * 10 + c;
  }
  return { ok: true, value: neg ? -v : v };
}

function isBlank(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Splits an inline request line into words; null if a quote is unbalanced. */
export function splitInline(b: Buffer, start: number, end: number): Buffer[] | null {
  const args: Buffer[] = [];
  let p = start;
  for (;;) {
    while (p < end && isBlank(b[p])) p++;
    if (p >= end) return args;
    const word: number[] = [];
    let mode = 0; // 0 plain, 1 inside "…", 2 inside '…'
    for (;;) {
      if (p >= end) {
        if (mode !== 0) return null;
        break;
      }
      const c = b[p];
      if (mode === 1) {
        if (c === 0x5c /* \ */ && p + 3 < end && b[p + 1] === 0x78 /* x */ && hexVal(b[p + 2]) >= 0 && hexVal(b[p + 3]) >= 0) {
          word.push(hexVal(b[p + 2]) * 16 + hexVal(b[p + 3]));
          p += 4;
          continue;
        }
        if (c === 0x5c && p + 1 < end) {
          const e = b[p + 1];
          word.push(e === 0x6e ? 0x0a : e === 0x72 ? 0x0d : e === 0x74 ? 0x09 : e === 0x62 ? 0x08 : e === 0x61 ? 0x07 : e);
          p += 2;
          continue;
        }
        if (c === 0x22 /* " */) {
          p++;
          if (p < end && !isBlank(b[p])) return null; // a closing quote must end the word
          break;
        }
        word.push(c);
        p++;
      } else if (mode === 2) {
        if (c === 0x5c && p + 1 < end && b[p + 1] === 0x27) {
          word.push(0x27);
          p += 2;
          continue;
        }
        if (c === 0x27 /* ' */) {
          p++;
          if (p < end && !isBlank(b[p])) return null;
          break;
        }
        word.push(c);
        p++;
      } else {
        if (isBlank(c)) break;
        if (c === 0x22) mode = 1;
        else if (c === 0x27) mode = 2;
        else word.push(c);
        p++;
      }
    }
    args.push(Buffer.from(word));
  }
}
