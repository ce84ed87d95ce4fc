/**
 * Zero-copy incremental framer for a master's replication stream (spec 3.1).
 *
 * The stream is a concatenation of RESP arrays of bulk strings; between commands a bare "\n" (or
 * "\r\n") may appear as a keepalive and is skipped (never part of a command). Anything else is
 * corruption and throws PARAREPLICA_PROTOCOL with the byte position (counted from the first byte
 * ever fed, keepalives included).
 *
 * Hot path: a command that lies entirely inside one chunk is handed to the sink as a range of that
 * chunk, with argument positions in two preallocated Int32Arrays: no allocation per command.
 * A command that straddles chunks is completed in a carry buffer that holds only that command's
 * bytes. Its parse state (argument count, next argument, offset of the next header, bytes needed)
 * is kept, so a 100 MB bulk arriving in 64 KiB chunks is copied once and never re-scanned.
 */
import { ParaError } from '../errors.js';

export interface CommandSink {
  /**
   * Called once per complete command, synchronously. `buf[start..end)` are the exact raw bytes of the
   * command (header to last CRLF). argStart[i]/argLen[i] locate argument i inside `buf`.
   * The arrays are reused between calls: the sink must not keep them (nor buf: if it keeps data
   * past the call it must copy).
   */
  onCommand(buf: Buffer, start: number, end: number, argc: number, argStart: Int32Array, argLen: Int32Array): void;
}

export interface RespFramerOptions {
  /** Largest accepted bulk string, in bytes. Default 512 MiB. */
  maxBulkLen?: number;
  /** Largest accepted argument count. Default 1<<20. */
  maxArgs?: number;
}

const CR = 0x0d;
const LF = 0x0a;
const STAR = 0x2a;
const DOLLAR = 0x24;
const ZERO = 0x30;
const NINE = 0x39;

/** When a straddling command's header is incomplete, copy at least this many bytes at once. */
const MIN_CARRY_COPY = 1024;
/** A carry buffer larger than this is released once its command has been delivered. */
const CARRY_KEEP = 1 << 20;
/** Most bytes reserved ahead of arrival for a command whose size is known. */
const SPECULATIVE_RESERVE = 64 << 20;

export class RespFramer {
  private readonly maxBulkLen: number;
  private readonly maxArgs: number;
  private argStart = new Int32Array(16);
  private argLen = new Int32Array(16);

  /** Carry buffer: the partial command (always starting at carry[0]) plus possibly extra bytes. */
  private carry: Buffer = Buffer.allocUnsafe(4096);
  private carryLen = 0;
  /** Stream position of carry[0] (for error details). */
  private carryBase = 0;

  // Resume state of the partial command in `carry` (argc 0 = its header is not parsed yet).
  private rArgc = 0;
  private rArgi = 0;
  /** Offset, from the command start, of the next header to parse. */
  private rPos = 0;
  /** Bytes (from the command start) needed before the parse can progress. */
  private need = 0;

  // Outputs of scan().
  private cmdStart = 0;
  private lastArgc = 0;
  /** Stream position of the first byte of the buffer being scanned (for error details). */
  private base = 0;
  private fed = 0;

  constructor(opts: RespFramerOptions = {}) {
    this.maxBulkLen = opts.maxBulkLen ?? 512 * 1024 * 1024;
    this.maxArgs = opts.maxArgs ?? 1 << 20;
  }

  /** Bytes of an incomplete command held back. */
  get pendingBytes(): number {
    return this.carryLen;
  }

  /** Drops the partial tail (link reset). Stream positions in errors restart at 0. */
  reset(): void {
    this.carryLen = 0;
    this.rArgc = this.rArgi = this.rPos = this.need = 0;
    this.fed = 0;
    if (this.carry.length > CARRY_KEEP) this.carry = Buffer.allocUnsafe(4096);
  }

  /** Frames every complete command of `chunk` (after any held-back tail); keeps the new partial tail. */
  feed(chunk: Buffer, sink: CommandSink): void {
    const end = chunk.length;
    const chunkBase = this.fed;
    this.fed += end;
    let p = 0;

    if (this.carryLen > 0) {
      // Complete the straddling command inside the carry, copying only what it needs.
      for (;;) {
        let take = this.need - this.carryLen;
        if (take < MIN_CARRY_COPY) take = MIN_CARRY_COPY;
        if (take > end - p) take = end - p;
        if (take > 0) {
          this.appendCarry(chunk, p, p + take);
          p += take;
        }
        if (this.carryLen < this.need) return; // still short, chunk exhausted
        this.base = this.carryBase;
        const r = this.scan(this.carry, 0, this.carryLen);
        if (r >= 0) {
          // Bytes of the carry past the command came from this chunk: give them back.
          p -= this.carryLen - r;
          this.carryLen = 0;
          sink.onCommand(this.carry, this.cmdStart, r, this.lastArgc, this.argStart, this.argLen);
          if (this.carry.length > CARRY_KEEP) this.carry = Buffer.allocUnsafe(4096);
          break;
        }
        // Incomplete again: the partial command must start the carry.
        if (this.cmdStart > 0) this.compactCarry();
        if (this.carryLen === 0) break; // the carry held only keepalives
        if (p >= end) return;
      }
    }

    this.base = chunkBase;
    while (p < end) {
      const r = this.scan(chunk, p, end);
      if (r < 0) {
        this.holdTail(chunk, end);
        return;
      }
      sink.onCommand(chunk, this.cmdStart, r, this.lastArgc, this.argStart, this.argLen);
      p = r;
    }
  }

  /**
   * Scans one command starting at `p` (resuming the saved state if any).
   * Returns the end of the command, or -1 if more bytes are needed (state saved, `need` set,
   * `cmdStart` = where the partial command starts; keepalives before it are consumed). If only
   * keepalives remain, returns -1 with cmdStart = end and need = 0.
   */
  private scan(buf: Buffer, p: number, end: number): number {
    let argc = this.rArgc;
    let i = this.rArgi;
    let q: number;
    if (argc === 0) {
      // Keepalives: "\n" or "\r\n" between commands.
      while (p < end) {
        const c = buf[p];
        if (c === LF) { p++; continue; }
        if (c === CR) {
          if (p + 1 >= end) break;
          if (buf[p + 1] !== LF) this.corrupt(p + 1, 'a bare "\\r" not followed by "\\n" between commands');
          p += 2;
          continue;
        }
        break;
      }
      this.cmdStart = p;
      if (p >= end) { this.need = 0; return -1; }
      if (buf[p] === CR) { this.need = 2; return -1; } // lone "\r" at the end of the buffer
      // Command header: "*<argc>\r\n"
      if (buf[p] !== STAR) this.corrupt(p, `expected '*' (start of a command), got ${showByte(buf[p])}`);
      q = p + 1;
      let n = 0;
      for (;;) {
        if (q >= end) { this.need = end - p + 1; return -1; }
        const c = buf[q];
        if (c >= ZERO && c <= NINE) {
          n = n * 10 + (c - ZERO);
          if (n > this.maxArgs) this.corrupt(p, `argument count above the limit of ${this.maxArgs}`);
          q++;
        } else if (c === CR) {
          break;
        } else {
          this.corrupt(q, `invalid character ${showByte(c)} in the argument count`);
        }
      }
      if (q === p + 1 || n === 0) this.corrupt(p, 'empty or zero argument count');
      if (q + 1 >= end) { this.need = q + 2 - p; return -1; }
      if (buf[q + 1] !== LF) this.corrupt(q + 1, 'argument count not terminated by "\\r\\n"');
      q += 2;
      argc = n;
      i = 0;
    } else {
      this.cmdStart = p;
      q = p + this.rPos;
    }

    let starts = this.argStart;
    let lens = this.argLen;
    for (; i < argc; i++) {
      // Argument: "$<len>\r\n<len bytes>\r\n"
      const h = q;
      if (q >= end) return this.suspend(argc, i, h, p, q + 1);
      if (buf[q] !== DOLLAR) this.corrupt(q, `expected '$' (bulk string), got ${showByte(buf[q])}`);
      q++;
      let len = 0;
      for (;;) {
        if (q >= end) return this.suspend(argc, i, h, p, q + 1);
        const c = buf[q];
        if (c >= ZERO && c <= NINE) {
          len = len * 10 + (c - ZERO);
          if (len > this.maxBulkLen) this.corrupt(h, `bulk length above the limit of ${this.maxBulkLen}`);
          q++;
        } else if (c === CR) {
          break;
        } else {
          this.corrupt(q, `invalid character ${showByte(c)} in a bulk length`);
        }
      }
      if (q === h + 1) this.corrupt(h, 'empty bulk length');
      if (q + 1 >= end) return this.suspend(argc, i, h, p, q + 2);
      if (buf[q + 1] !== LF) this.corrupt(q + 1, 'bulk length not terminated by "\\r\\n"');
      const dataStart = q + 2;
      const dataEnd = dataStart + len;
      if (dataEnd + 2 > end) return this.suspend(argc, i, h, p, dataEnd + 2);
      if (buf[dataEnd] !== CR || buf[dataEnd + 1] !== LF) this.corrupt(dataEnd, 'bulk string not terminated by "\\r\\n"');
      if (i >= starts.length) {
        this.growArgs(Math.min(argc, starts.length * 2));
        starts = this.argStart;
        lens = this.argLen;
      }
      starts[i] = dataStart;
      lens[i] = len;
      q = dataEnd + 2;
    }
    if (this.rArgc !== 0) this.rArgc = this.rArgi = this.rPos = 0;
    this.lastArgc = argc;
    return q;
  }

  /** Saves the parse state of an incomplete command; `needAbs` is the absolute position needed. */
  private suspend(argc: number, i: number, h: number, p: number, needAbs: number): number {
    this.rArgc = argc;
    this.rArgi = i;
    this.rPos = h - p;
    this.need = needAbs - p;
    return -1;
  }

  /** Copies the incomplete command at cmdStart..end into the carry, rebasing argument positions. */
  private holdTail(chunk: Buffer, end: number): void {
    const s = this.cmdStart;
    const starts = this.argStart;
    for (let i = 0; i < this.rArgi; i++) starts[i] -= s;
    this.carryLen = 0;
    this.carryBase = this.base + s;
    this.appendCarry(chunk, s, end);
  }

  private compactCarry(): void {
    const s = this.cmdStart;
    this.carry.copyWithin(0, s, this.carryLen);
    this.carryLen -= s;
    this.carryBase += s;
    const starts = this.argStart;
    for (let i = 0; i < this.rArgi; i++) starts[i] -= s;
  }

  private appendCarry(src: Buffer, from: number, to: number): void {
    const n = to - from;
    const required = this.carryLen + n;
    if (required > this.carry.length) {
      let cap = this.carry.length * 2;
      if (cap < required) cap = required;
      // When the item's size is known, reserve it at once (speculating at most SPECULATIVE_RESERVE
      // bytes ahead of what has arrived), so a huge item is not copied over and over as it grows.
      const need = this.need;
      if (need > cap) cap = need - required <= SPECULATIVE_RESERVE ? need : Math.max(cap, required + SPECULATIVE_RESERVE);
      const next = Buffer.allocUnsafe(cap);
      this.carry.copy(next, 0, 0, this.carryLen);
      this.carry = next;
    }
    src.copy(this.carry, this.carryLen, from, to);
    this.carryLen = required;
  }

  private growArgs(n: number): void {
    const s = new Int32Array(n);
    const l = new Int32Array(n);
    s.set(this.argStart);
    l.set(this.argLen);
    this.argStart = s;
    this.argLen = l;
  }

  private corrupt(pos: number, what: string): never {
    const position = this.base + pos;
    throw new ParaError(
      'PARAREPLICA_PROTOCOL',
      `replication stream is corrupt at byte ${position}: ${what}; drop the link and resynchronise with the master`,
      { position },
    );
  }
}

function showByte(c: number): string {
  return c >= 0x20 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `byte 0x${c.toString(16).padStart(2, '0')}`;
}

/** Convenience for tests: the argv of every command of a complete buffer (subarrays of `buf`). */
export function frameCommands(buf: Buffer): Buffer[][] {
  const framer = new RespFramer();
  const out: Buffer[][] = [];
  framer.feed(buf, {
    onCommand(b, _start, _end, argc, argStart, argLen) {
      const argv: Buffer[] = new Array(argc);
      for (let i = 0; i < argc; i++) argv[i] = b.subarray(argStart[i], argStart[i] + argLen[i]);
      out.push(argv);
    },
  });
  if (framer.pendingBytes > 0) {
    throw new ParaError('PARAREPLICA_PROTOCOL', `buffer ends inside a command (${framer.pendingBytes} bytes left over); pass complete commands only`, {
      position: buf.length - framer.pendingBytes,
    });
  }
  return out;
}
