/**
 * RESP2 encoder for replies of the read server (and commands of test clients).
 *
 * Wire forms written here:
 *   simple string  "+<text>\r\n"          error        "-<text>\r\n"
 *   integer        ":<decimal>\r\n"       bulk string  "$<len>\r\n<bytes>\r\n", null bulk "$-1\r\n"
 *   array          "*<n>\r\n" + n items,  null array   "*-1\r\n"
 */

/** A JS value `RespWriter.value` can encode. */
export type RespValue =
  | Buffer
  | string
  | number
  | bigint
  | boolean
  | null
  | undefined
  | { error: string }
  | { status: string }
  | readonly RespValue[];

const CRLF = 0x0a0d; // "\r\n" as a little-endian uint16

export class RespWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialSize = 4096) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** Bytes written since the last take(). */
  get length(): number {
    return this.pos;
  }

  /** "+<s>\r\n". CR and LF inside `s` become spaces (a status is one line). */
  simple(s: string): this {
    return this.line(0x2b, oneLine(s));
  }

  /** "-<s>\r\n" where `s` is the text after the dash (e.g. "ERR unknown command"). */
  error(s: string): this {
    return this.line(0x2d, oneLine(s));
  }

  /** ":<n>\r\n". */
  integer(n: number | bigint): this {
    return this.line(0x3a, typeof n === 'bigint' ? n.toString() : String(Math.trunc(n)));
  }

  /** "$<len>\r\n<bytes>\r\n", or "$-1\r\n" for null. Strings are written as UTF-8. */
  bulk(b: Buffer | string | null): this {
    if (b === null) return this.line(0x24, '-1');
    if (typeof b === 'string') {
      const n = Buffer.byteLength(b, 'utf8');
      this.header(0x24, n);
      this.ensure(n + 2);
      this.buf.write(b, this.pos, 'utf8');
      this.pos += n;
    } else {
      const n = b.length;
      this.header(0x24, n);
      this.ensure(n + 2);
      b.copy(this.buf, this.pos);
      this.pos += n;
    }
    this.buf.writeUInt16LE(CRLF, this.pos);
    this.pos += 2;
    return this;
  }

  /** "*<n>\r\n"; the caller then writes n values. */
  arrayHeader(n: number): this {
    return this.header(0x2a, n);
  }

  /** "*-1\r\n". */
  nullArray(): this {
    return this.line(0x2a, '-1');
  }

  /**
   * Encodes a JS value recursively: Buffer/string → bulk; integer number or bigint → integer;
   * other numbers → bulk of their text; boolean → integer 1/0; null/undefined → null bulk;
   * array → array; {error} → error; {status} → simple string.
   */
  value(v: RespValue): this {
    if (v === null || v === undefined) return this.bulk(null);
    if (typeof v === 'string' || Buffer.isBuffer(v)) return this.bulk(v);
    if (typeof v === 'number') return Number.isInteger(v) ? this.integer(v) : this.bulk(String(v));
    if (typeof v === 'bigint') return this.integer(v);
    if (typeof v === 'boolean') return this.integer(v ? 1 : 0);
    if (Array.isArray(v)) {
      this.arrayHeader(v.length);
      for (const item of v) this.value(item);
      return this;
    }
    const o = v as { error?: unknown; status?: unknown };
    if (typeof o.error === 'string') return this.error(o.error);
    if (typeof o.status === 'string') return this.simple(o.status);
    throw new TypeError('RespWriter.value: cannot encode this object; use {error}, {status}, an array, a Buffer, a string or a number');
  }

  /** Returns the bytes written so far (a fresh Buffer) and resets the writer. */
  take(): Buffer {
    const out = Buffer.from(this.buf.subarray(0, this.pos));
    this.pos = 0;
    return out;
  }

  private header(type: number, n: number): this {
    return this.line(type, String(n));
  }

  /** "<type><text>\r\n" (text is ASCII digits, or status/error text written as UTF-8). */
  private line(type: number, text: string): this {
    const n = text.length;
    this.ensure(n * 3 + 3); // a UTF-16 code unit is at most 3 UTF-8 bytes
    const b = this.buf;
    let p = this.pos;
    b[p++] = type;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c >= 0x80) { ascii = false; break; }
      b[p + i] = c;
    }
    p += ascii ? n : b.write(text, p, 'utf8');
    b[p++] = 0x0d;
    b[p++] = 0x0a;
    this.pos = p;
    return this;
  }

  private ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    if (cap < need) cap = need;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}

function oneLine(s: string): string {
  return s.indexOf('\r') < 0 && s.indexOf('\n') < 0 ? s : s.replace(/[\r\n]/g, ' ');
}

/** A command as a RESP array of bulk strings (what a client sends). */
export function encodeCommand(argv: readonly (string | Buffer)[]): Buffer {
  const w = new RespWriter(64);
  w.arrayHeader(argv.length);
  for (const a of argv) w.bulk(a);
  return w.take();
}
