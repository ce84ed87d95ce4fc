/**
 * Full-sync payload framing: reads the payload header after +FULLRESYNC, feeds the RDB bytes to an
 * RdbParser, checks the end of the payload, and tells the caller where the stream begins.
 *
 * Wire, after the `+FULLRESYNC <replid> <offset>\r\n` line:
 *
 *   `\n` …                                   keepalives while the master prepares the snapshot
 *   `$<decimal length>\r\n` <length bytes>   disk-based transfer: exactly `length` RDB bytes with NO
 *                                            trailing CRLF; the command stream follows immediately
 *   `$EOF:<40 chars [0-9a-f]>\r\n` <RDB…> <the same 40 chars>
 *                                            diskless transfer: the RDB (ending with the EOF opcode
 *                                            0xFF and its 8-byte checksum), then the mark again. The
 *                                            master sends nothing after it until our first ACK.
 *   `-<error>\r\n`                           in place of the header: the master gave up; retry later
 */
import { ParaError } from '../errors.js';
import { RdbParser, type RdbHandler, type RdbParserOptions } from '../rdb/parser.js';
import { LineBuffer } from './handshake.js';

export const EOF_MARK_LEN = 40;
const EOF_PREFIX = '$EOF:';

export type Transfer = 'disk' | 'diskless';

export class PayloadReader {
  /** Null until the header is read. */
  transfer: Transfer | null = null;
  /** `$<len>` value, or -1 for `$EOF:` (and before the header). */
  totalBytes = -1;
  /** Payload bytes received (RDB bytes and EOF mark; not the header). */
  readBytes = 0;
  /** True once the payload is complete and verified; what follows is stream data. */
  done = false;

  private readonly header = new LineBuffer();
  private parser: RdbParser | null = null;
  private remaining = 0;
  private mark: Buffer | null = null;
  private markSeen: Buffer | null = null;
  private markLen = 0;

  constructor(
    private readonly rdb: RdbHandler,
    private readonly onHeader: (transfer: Transfer, totalBytes: number) => void,
    private readonly parserOptions: RdbParserOptions = {},
  ) {}

  /** Keepalives received before the header. */
  get keepalives(): number {
    return this.header.keepalives;
  }

  /**
   * Consumes payload bytes from `chunk`; returns how many. Fewer than all only when the header was
   * just read (feed the rest again) or when `done` became true (the rest is stream data).
   * Throws a ParaError on malformed input.
   */
  feed(chunk: Buffer): number {
    if (this.done) return 0;
    if (this.transfer === null) {
      this.header.push(chunk);
      const line = this.header.next();
      if (line === null) return chunk.length;
      // The header's line end is in this chunk (earlier chunks had none), so the rest is its suffix.
      const rest = this.header.rest();
      this.parseHeader(line);
      // Stop after the header: the caller may have been paused by onHeader.
      return chunk.length - rest.length;
    }
    return this.body(chunk, 0);
  }

  private parseHeader(line: string): void {
    if (line.startsWith('-')) {
      throw new ParaError('PARAREPLICA_HANDSHAKE',
        `master aborted the full sync with "${line}" (e.g. its snapshot child failed); retrying`, { reply: line });
    }
    if (line.startsWith(EOF_PREFIX)) {
      const mark = line.slice(EOF_PREFIX.length);
      if (mark.length !== EOF_MARK_LEN) {
        throw new ParaError('PARAREPLICA_PROTOCOL',
          `malformed diskless payload header "${line}": the EOF mark must be ${EOF_MARK_LEN} characters`, { header: line });
      }
      this.transfer = 'diskless';
      this.mark = Buffer.from(mark, 'latin1');
      this.markSeen = Buffer.alloc(EOF_MARK_LEN);
      this.totalBytes = -1;
    } else if (/^\$\d{1,15}$/.test(line)) {
      this.transfer = 'disk';
      this.totalBytes = Number(line.slice(1));
      this.remaining = this.totalBytes;
    } else {
      throw new ParaError('PARAREPLICA_PROTOCOL',
        `expected a payload header ($<length> or $EOF:<mark>) after +FULLRESYNC, got "${line.slice(0, 80)}"`,
        { header: line.slice(0, 80) });
    }
    this.parser = new RdbParser(this.rdb, this.parserOptions);
    this.onHeader(this.transfer, this.totalBytes);
    if (this.transfer === 'disk' && this.remaining === 0) this.finishDisk();
  }

  /** Consumes payload bytes from chunk[pos..]; returns how many. */
  private body(chunk: Buffer, pos: number): number {
    const avail = chunk.length - pos;
    if (avail === 0 || this.done) return 0;
    const parser = this.parser!;
    if (this.transfer === 'disk') {
      const n = Math.min(this.remaining, avail);
      const slice = chunk.subarray(pos, pos + n);
      const used = parser.done ? 0 : parser.feed(slice);
      if (used !== n) {
        throw new ParaError('PARAREPLICA_RDB_CORRUPT',
          `the snapshot ended (EOF opcode and checksum) ${this.remaining - used} bytes before the announced ` +
          `payload length ${this.totalBytes}; the master sent a malformed payload, resynchronising`,
          { totalBytes: this.totalBytes, at: this.readBytes + used });
      }
      this.readBytes += n;
      this.remaining -= n;
      if (this.remaining === 0) this.finishDisk();
      return n;
    }
    // Diskless: the parser finds the RDB's end itself, then the 40-byte mark follows.
    let p = pos;
    if (!parser.done) {
      const used = parser.feed(chunk.subarray(p));
      this.readBytes += used;
      p += used;
      if (!parser.done) return p - pos;
    }
    const take = Math.min(EOF_MARK_LEN - this.markLen, chunk.length - p);
    chunk.copy(this.markSeen!, this.markLen, p, p + take);
    this.markLen += take;
    this.readBytes += take;
    p += take;
    if (this.markLen === EOF_MARK_LEN) {
      if (!this.markSeen!.equals(this.mark!)) {
        throw new ParaError('PARAREPLICA_PROTOCOL',
          `diskless payload: the ${EOF_MARK_LEN} bytes after the snapshot's checksum are not the EOF mark ` +
          `from the header; the payload is corrupt, resynchronising`,
          { expected: this.mark!.toString('latin1'), got: this.markSeen!.toString('latin1') });
      }
      this.done = true;
    }
    return p - pos;
  }

  private finishDisk(): void {
    if (!this.parser!.done) {
      throw new ParaError('PARAREPLICA_RDB_CORRUPT',
        `the payload ended after the announced ${this.totalBytes} bytes but the snapshot was incomplete ` +
        '(no EOF opcode and checksum); resynchronising', { totalBytes: this.totalBytes });
    }
    this.done = true;
  }
}
