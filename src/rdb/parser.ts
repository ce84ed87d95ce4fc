/**
 * Streaming RDB parser (spec section 5): feed it the snapshot in chunks of any size.
 *
 * Layout read here:
 *   "REDIS" <4 ASCII digits: version 1..12>
 *   { item }*          item = opcode (0xF5..0xFE) + payload, or value-type byte + key + value
 *   0xFF               EOF opcode
 *   <8-byte CRC64 LE>  over every byte from "R" through 0xFF (version >= 5 only; 0 = not computed)
 *
 * Restartable items: the parser consumes whole items. When an item runs past the end of a chunk,
 * the field readers say how many bytes the item needs; its bytes are copied to a pending buffer and
 * the item is tried again only once that many bytes are there. The need grows at each try, so an
 * item is measured O(1) times (a handful of length headers), and decoded (LZF included) once.
 * Memory: the pending buffer holds at most one item (one key + value) besides the caller's chunk.
 *
 * This version loads only string values (type 0); every other value type is reported, by key name,
 * as PARAREPLICA_RDB_UNSUPPORTED. Collections will fit the same loop: their item becomes
 * (type, key, element count) and the elements are read as items of a phase of their own (as the
 * MODULE_AUX data already is), so that a large value is emitted in chunks.
 */
import { ParaError } from '../errors.js';
import { crc64EqualsLE, crc64Init, crc64Update, crc64Value } from './crc64.js';
import { FieldReader } from './lengths.js';
import * as T from './types.js';

/** One key of the snapshot. */
export interface RdbEntry {
  db: number;
  key: Buffer;
  /** RDB value type; 0 (string) only in this version. */
  type: number;
  /** For type 0, the decoded string. */
  value: Buffer;
  /** Absolute expiry in unix ms, or -1 when the key has none. */
  expireMs: number;
}

export interface RdbHandler {
  /** An AUX field (copies: the handler may keep them). Unknown fields are for the handler to ignore. */
  aux?(key: Buffer, value: Buffer): void;
  selectDb?(db: number): void;
  resizeDb?(dbSize: number, expiresSize: number): void;
  /** A function library's source, `#!<engine> name=<lib>\n…` (a copy). */
  functionLib?(code: Buffer): void;
  /**
   * One key. `e` and its Buffers are only valid during the call: the object is reused, and key/value
   * may point into the caller's chunk or the parser's pending buffer. Copy what you keep.
   */
  entry(e: RdbEntry): void;
}

export interface RdbParserOptions {
  /** Verify the CRC64 trailer (default true). */
  verifyChecksum?: boolean;
  /** Longest string accepted, in bytes (default 2 GiB); longer is reported as corruption. */
  maxStringLen?: number;
}

const PHASE_HEADER = 0;
const PHASE_TOP = 1;
const PHASE_MODULE_DATA = 2;
const PHASE_DONE = 3;

/** Bytes copied at least when completing a pending item, so tiny items need few retries. */
const MIN_PENDING_COPY = 256;
/** A pending buffer larger than this is released once its item is done. */
const PENDING_KEEP = 1 << 20;
const EMPTY = Buffer.alloc(0);
/** Most bytes reserved ahead of arrival for an item whose size is known. */
const SPECULATIVE_RESERVE = 64 << 20;

export class RdbParser {
  private phase = PHASE_HEADER;
  private _version = 0;
  private _bytesConsumed = 0;
  private _keysLoaded = 0;
  private failure: unknown = null;

  private readonly fr: FieldReader;
  private readonly verify: boolean;
  private readonly crc = crc64Init();
  /** Position in the buffer being parsed up to which the CRC has been folded. */
  private crcFrom = 0;

  /** The incomplete item (starting at pending[0]) and how many bytes it needs in all. */
  private pending: Buffer = Buffer.allocUnsafe(1024);
  private pendLen = 0;
  private need = 0;

  private db = 0;
  private expireMs = -1;
  private readonly entryObj: RdbEntry = { db: 0, key: EMPTY, type: 0, value: EMPTY, expireMs: -1 };
  private readonly keyScratch = Buffer.alloc(12);
  private readonly valScratch = Buffer.alloc(12);

  constructor(private readonly handler: RdbHandler, opts: RdbParserOptions = {}) {
    this.verify = opts.verifyChecksum ?? true;
    this.fr = new FieldReader(opts.maxStringLen ?? 2 ** 31);
  }

  /** True once the EOF opcode and the checksum (version >= 5) are consumed. */
  get done(): boolean {
    return this.phase === PHASE_DONE;
  }
  /** The RDB version from the header (0 until the header is read). */
  get version(): number {
    return this._version;
  }
  get bytesConsumed(): number {
    return this._bytesConsumed;
  }
  get keysLoaded(): number {
    return this._keysLoaded;
  }

  /**
   * Feeds bytes; returns how many bytes of `chunk` were consumed (all of them, until the end of the
   * snapshot: then the bytes after the checksum are left for the caller). After an error the parser
   * is dead: feeding it again throws the same error.
   */
  feed(chunk: Buffer): number {
    if (this.failure !== null) throw this.failure;
    if (this.phase === PHASE_DONE) return 0;
    try {
      const used = this.feedChunk(chunk);
      this._bytesConsumed += used;
      return used;
    } catch (e) {
      this.failure = e;
      throw e;
    }
  }

  private feedChunk(chunk: Buffer): number {
    const end = chunk.length;
    const chunkBase = this._bytesConsumed;
    let p = 0;

    if (this.pendLen > 0) {
      const pendBase = chunkBase - this.pendLen;
      for (;;) {
        let take = this.need - this.pendLen;
        if (take < MIN_PENDING_COPY) take = MIN_PENDING_COPY;
        if (take > end - p) take = end - p;
        if (take > 0) {
          this.appendPending(chunk, p, p + take);
          p += take;
        }
        if (this.pendLen < this.need) return p; // the whole chunk went to the pending item
        this.fr.base = pendBase;
        this.crcFrom = 0;
        const r = this.step(this.pending, 0, this.pendLen);
        if (r >= 0) {
          this.crcTo(this.pending, r);
          p -= this.pendLen - r; // bytes after the item came from this chunk: give them back
          this.pendLen = 0;
          if (this.pending.length > PENDING_KEEP) this.pending = Buffer.allocUnsafe(1024);
          if (this.phase === PHASE_DONE) return p;
          break;
        }
        this.need = this.fr.needAt;
        if (p >= end) return p;
      }
    }

    this.fr.base = chunkBase;
    this.crcFrom = p;
    while (p < end) {
      const r = this.step(chunk, p, end);
      if (r < 0) {
        this.crcTo(chunk, p);
        this.need = this.fr.needAt - p;
        this.pendLen = 0;
        this.appendPending(chunk, p, end);
        return end;
      }
      p = r;
      if (this.phase === PHASE_DONE) return p;
    }
    this.crcTo(chunk, p);
    return p;
  }

  /** Parses one item at s. Returns its end, or -1 (fr.needAt set) with no side effect. */
  private step(buf: Buffer, s: number, end: number): number {
    if (this.phase !== PHASE_TOP) {
      return this.phase === PHASE_HEADER ? this.header(buf, s, end) : this.moduleData(buf, s, end);
    }
    const op = buf[s];
    if (op < T.OP_FUNCTION2) return this.keyEntry(buf, s, end, op);
    const fr = this.fr;
    let q: number;
    switch (op) {
      case T.OP_SELECTDB: // 0xFE <length db>
        q = fr.length(buf, s + 1, end);
        if (q < 0) return -1;
        if (fr.value > 0x7fffffff) fr.corrupt(s + 1, `database number ${fr.value} is out of range`);
        this.db = fr.value;
        this.handler.selectDb?.(this.db);
        return q;
      case T.OP_RESIZEDB: { // 0xFB <length db_size> <length expires_size>
        q = fr.length(buf, s + 1, end);
        if (q < 0) return -1;
        const dbSize = fr.value;
        q = fr.length(buf, q, end);
        if (q < 0) return -1;
        this.handler.resizeDb?.(dbSize, fr.value);
        return q;
      }
      case T.OP_EXPIRETIME_MS: // 0xFC <int64 LE unix ms>
        if (s + 9 > end) return fr.needs(s + 9);
        this.expireMs = buf.readInt32LE(s + 5) * 4294967296 + buf.readUInt32LE(s + 1);
        return s + 9;
      case T.OP_EXPIRETIME: // 0xFD <int32 LE unix seconds>
        if (s + 5 > end) return fr.needs(s + 5);
        this.expireMs = buf.readInt32LE(s + 1) * 1000;
        return s + 5;
      case T.OP_AUX: { // 0xFA <string key> <string value>
        const ke = fr.stringEnd(buf, s + 1, end);
        if (ke < 0) return -1;
        const ve = fr.stringEnd(buf, ke, end);
        if (ve < 0) return -1;
        if (this.handler.aux) {
          const key = Buffer.from(fr.string(buf, s + 1, this.keyScratch));
          this.handler.aux(key, Buffer.from(fr.string(buf, ke, this.valScratch)));
        }
        return ve;
      }
      case T.OP_FREQ: // 0xF9 <1 byte LFU counter>: ignored
        if (s + 2 > end) return fr.needs(s + 2);
        return s + 2;
      case T.OP_IDLE: // 0xF8 <length idle seconds>: ignored
        return fr.length(buf, s + 1, end);
      case T.OP_MODULE_AUX: // 0xF7 <length module id> <length when-opcode = 2> <length when>, then module data
        q = fr.length(buf, s + 1, end);
        if (q < 0) return -1;
        q = fr.length(buf, q, end);
        if (q < 0) return -1;
        if (fr.value !== T.MODULE_OP_UINT) fr.corrupt(s, `MODULE_AUX "when" has opcode ${fr.value}, expected ${T.MODULE_OP_UINT}`);
        q = fr.length(buf, q, end);
        if (q < 0) return -1;
        this.phase = PHASE_MODULE_DATA;
        return q;
      case T.OP_FUNCTION:
        return this.oldFunction(buf, s, end);
      case T.OP_FUNCTION2: { // 0xF5 <string library source>
        const e = fr.stringEnd(buf, s + 1, end);
        if (e < 0) return -1;
        this.handler.functionLib?.(Buffer.from(fr.string(buf, s + 1, this.valScratch)));
        return e;
      }
      default: // T.OP_EOF
        return this.eof(buf, s, end);
    }
  }

  /** "REDIS" + 4 ASCII digits. */
  private header(buf: Buffer, s: number, end: number): number {
    if (s + 9 > end) return this.fr.needs(s + 9);
    if (buf.toString('latin1', s, s + 5) !== 'REDIS') this.fr.corrupt(s, 'not an RDB snapshot (no "REDIS" magic)');
    let v = 0;
    for (let i = s + 5; i < s + 9; i++) {
      const d = buf[i] - 0x30;
      if (d < 0 || d > 9) this.fr.corrupt(i, 'the RDB version is not 4 decimal digits');
      v = v * 10 + d;
    }
    if (v < T.MIN_RDB_VERSION || v > T.MAX_RDB_VERSION) {
      this.fr.corrupt(s + 5, `RDB version ${v} is outside the versions this parareplica reads (${T.MIN_RDB_VERSION}..${T.MAX_RDB_VERSION})`);
    }
    this._version = v;
    this.phase = PHASE_TOP;
    return s + 9;
  }

  /** <type byte> <string key> <value>. */
  private keyEntry(buf: Buffer, s: number, end: number, type: number): number {
    const info = T.rdbTypeInfo(type);
    if (info === undefined) this.fr.corrupt(s, `unknown opcode or value type ${type}`);
    const fr = this.fr;
    const ke = fr.stringEnd(buf, s + 1, end);
    if (ke < 0) return -1;
    switch (type) {
      case T.TYPE_STRING: {
        const ve = fr.stringEnd(buf, ke, end);
        if (ve < 0) return -1;
        const e = this.entryObj;
        e.db = this.db;
        e.key = fr.string(buf, s + 1, this.keyScratch);
        e.type = type;
        e.value = fr.string(buf, ke, this.valScratch);
        e.expireMs = this.expireMs;
        this.expireMs = -1;
        this.handler.entry(e);
        this._keysLoaded++;
        return ve;
      }
      // Collection decoders go here in a later version (see the header comment).
      default:
        throw T.unsupportedType(fr.string(buf, s + 1, this.keyScratch), this.db, type, fr.base + s);
    }
  }

  /** Module-serialised data: { <length opcode> <item> } until opcode 0 (spec 5.7.9). Ignored. */
  private moduleData(buf: Buffer, s: number, end: number): number {
    const fr = this.fr;
    const q = fr.length(buf, s, end);
    if (q < 0) return -1;
    switch (fr.value) {
      case T.MODULE_OP_EOF:
        this.phase = PHASE_TOP;
        return q;
      case T.MODULE_OP_SINT:
      case T.MODULE_OP_UINT:
        return fr.length(buf, q, end);
      case T.MODULE_OP_FLOAT:
        return q + 4 > end ? fr.needs(q + 4) : q + 4;
      case T.MODULE_OP_DOUBLE:
        return q + 8 > end ? fr.needs(q + 8) : q + 8;
      case T.MODULE_OP_STRING:
        return fr.stringEnd(buf, q, end);
      default:
        return fr.corrupt(s, `unknown module data opcode ${fr.value}`);
    }
  }

  /** 0xF6 <string name> <string engine> <length has_desc> [<string desc>] <string code> (7.0-rc only). */
  private oldFunction(buf: Buffer, s: number, end: number): number {
    const fr = this.fr;
    const ne = fr.stringEnd(buf, s + 1, end);
    if (ne < 0) return -1;
    const ee = fr.stringEnd(buf, ne, end);
    if (ee < 0) return -1;
    let q = fr.length(buf, ee, end);
    if (q < 0) return -1;
    if (fr.value !== 0) {
      q = fr.stringEnd(buf, q, end);
      if (q < 0) return -1;
    }
    const ce = fr.stringEnd(buf, q, end);
    if (ce < 0) return -1;
    if (this.handler.functionLib) {
      const name = Buffer.from(fr.string(buf, s + 1, this.keyScratch));
      const engine = Buffer.from(fr.string(buf, ne, this.valScratch));
      const code = fr.string(buf, q, this.valScratch);
      const lib = Buffer.concat([Buffer.from('#!'), engine, Buffer.from(' name='), name, Buffer.from('\n'), code]);
      this.handler.functionLib(lib);
    }
    return ce;
  }

  /** 0xFF, then (version >= 5) the CRC64 of everything before it and the 0xFF, little-endian. */
  private eof(buf: Buffer, s: number, end: number): number {
    if (this._version < T.CHECKSUM_SINCE) {
      this.phase = PHASE_DONE;
      return s + 1;
    }
    if (s + 9 > end) return this.fr.needs(s + 9);
    if (this.verify) {
      this.crcTo(buf, s + 1);
      let stored = 0;
      for (let i = s + 1; i < s + 9; i++) stored |= buf[i];
      if (stored !== 0 && !crc64EqualsLE(this.crc, buf, s + 1)) {
        const expected = buf.readBigUInt64LE(s + 1).toString(16).padStart(16, '0');
        const actual = crc64Value(this.crc).toString(16).padStart(16, '0');
        throw new ParaError(
          'PARAREPLICA_RDB_CORRUPT',
          `snapshot is corrupt: its CRC64 is ${actual} but the file says ${expected} (checked at byte ${this.fr.base + s + 1}); ` +
            'the snapshot was damaged in transit or on the master\'s disk — resynchronise from the master',
          { offset: this.fr.base + s + 1, expected, actual },
        );
      }
    }
    this.crcFrom = s + 9;
    this.phase = PHASE_DONE;
    return s + 9;
  }

  private crcTo(buf: Buffer, pos: number): void {
    if (this.verify && pos > this.crcFrom) crc64Update(this.crc, buf, this.crcFrom, pos);
    this.crcFrom = pos;
  }

  private appendPending(src: Buffer, from: number, to: number): void {
    const required = this.pendLen + (to - from);
    if (required > this.pending.length) {
      let cap = this.pending.length * 2;
      if (cap < required) cap = required;
      // When the item's size is known, reserve it at once (speculating at most SPECULATIVE_RESERVE
      // bytes ahead of what has arrived), so a huge item is not copied over and over as it grows.
      const need = this.need;
      if (need > cap) cap = need - required <= SPECULATIVE_RESERVE ? need : Math.max(cap, required + SPECULATIVE_RESERVE);
      const next = Buffer.allocUnsafe(cap);
      this.pending.copy(next, 0, 0, this.pendLen);
      this.pending = next;
    }
    src.copy(this.pending, this.pendLen, from, to);
    this.pendLen = required;
  }
}
