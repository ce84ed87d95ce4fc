/**
 * Builds the RESP payload of one snapshot load record, `[key, expireMs, part, …]` (see
 * src/rdb/load-records.ts), in one reused buffer: parts are appended as bulk strings after a gap
 * left for the array header, whose element count is known only at the end.
 *
 *   *<n>\r\n $<len>\r\n<key>\r\n $<len>\r\n<expireMs>\r\n { $<len>\r\n<part>\r\n }*
 *
 * finish() returns a view valid until the next start(): the router copies it into a ring (or its
 * overflow queue) at once. No allocation per part once the buffer has grown to the chunk size.
 */
const HEADER_ROOM = 16;   // "*" + up to 13 digits + CRLF

export class ChunkEncoder {
  private buf = Buffer.allocUnsafe(128 << 10);
  private pos = HEADER_ROOM;
  /** Parts added since start() (key and expiry not counted). */
  parts = 0;
  /** Bytes of the parts added since start(). */
  bytes = 0;

  start(key: Buffer, expireMs: number): void {
    this.pos = HEADER_ROOM;
    this.parts = 0;
    this.bytes = 0;
    this.bulk(key);
    this.bulkText(String(expireMs));
  }

  add(part: Buffer): void {
    this.bulk(part);
    this.parts++;
    this.bytes += part.length;
  }

  finish(): Buffer {
    const head = `*${this.parts + 2}\r\n`;
    const from = HEADER_ROOM - head.length;
    this.buf.write(head, from, 'latin1');
    return this.buf.subarray(from, this.pos);
  }

  reset(): void {
    this.pos = HEADER_ROOM;
    this.parts = 0;
    this.bytes = 0;
    if (this.buf.length > (1 << 20)) this.buf = Buffer.allocUnsafe(128 << 10);
  }

  private bulk(b: Buffer): void {
    this.reserve(b.length + 16);
    this.pos += this.buf.write(`$${b.length}\r\n`, this.pos, 'latin1');
    this.pos += b.copy(this.buf, this.pos);
    this.buf[this.pos++] = 13; this.buf[this.pos++] = 10;
  }

  private bulkText(s: string): void {
    this.bulk(Buffer.from(s, 'latin1'));
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
}
