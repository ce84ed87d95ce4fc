/**
 * Streaming RDB parser (spec section 5): feed it the snapshot in chunks of any size.
 *
 * Layout read here:
 *   "REDIS" <4 ASCII digits: version 1..12>
 *   { item }*          item = opcode (0xF4..0xFE) + payload, or value-type byte + key + value
 *   0xFF               EOF opcode
 *   <8-byte CRC64 LE>  over every byte from "R" through 0xFF (version >= 5 only; 0 = not computed)
 *
 * Restartable items: the parser consumes whole items. When an item runs past the end of a chunk,
 * the field readers say how many bytes the item needs; its bytes are copied to a pending buffer and
 * the item is tried again only once that many bytes are there. The need grows at each try, so an
 * item is measured O(1) times (a handful of length headers), and decoded (LZF included) once.
 * Memory: the pending buffer holds at most one item (a key with a short string or blob value, or one
 * element of a larger value) besides the caller's chunk.
 *
 * Values (spec 5.5): a compact blob (types 9-13, 16, 17, 20) or a STRING (type 0) of at most
 * STRING_STREAM_MIN bytes is one item, handed to entry() whole (blobs undecoded: the appliers decode
 * them). A longer STRING is an item (type, key, string header) reported with begin(), then its bytes
 * are read as they arrive (string-stream.ts, LZF decompressed on the fly) and handed to part() in
 * pieces of at most STRING_STREAM_MIN bytes, then end(). A plain collection or quicklist (1-5,
 * 14, 18) is an item (type, key, count) and then its elements, read as items of a phase of their own
 * (collections.ts), so a value of any size never has to be buffered whole. Streams and MODULE_2
 * values are read to their end piece by piece (stream-skip.ts) with `skipUnloadable`, else refused,
 * as are MODULE values and hashes with field expiry. Corruption inside a key names the key.
 */
import { ParaError } from '../errors.js';
import { crc64EqualsLE, crc64Init, crc64Update } from './crc64.js';
import { CollectionReader } from './collections.js';
import { FieldReader } from './lengths.js';
import type { RdbEntry, RdbHandler, RdbParserOptions } from './handler.js';
import { crcMismatch, readOldFunction, readVersion } from './file-items.js';
import { STRING_STREAM_MIN } from './load-records.js';
import { UnloadableSkipper } from './stream-skip.js';
import { StringStreamer } from './string-stream.js';
import * as T from './types.js';

export type { RdbEntry, RdbHandler, RdbParserOptions } from './handler.js';

const PHASE_HEADER = 0;
const PHASE_TOP = 1;
/** Elements of a collection value (this.coll). */
const PHASE_COLL = 2;
/** A stream / MODULE_2 value, or MODULE_AUX data, read to its end (this.skipper). */
const PHASE_SKIP = 3;
const PHASE_DONE = 4;
/** The bytes of a long STRING value (this.str). */
const PHASE_STRING = 5;
/** String encoding byte of an LZF-compressed string (spec 5.3). */
const ENC_LZF = 0xc3;

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
  private readonly skipUnloadable: boolean;
  private readonly coll: CollectionReader;
  private readonly skipper: UnloadableSkipper;
  private readonly str: StringStreamer;
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

  /** The key being read: its value type (-1 between keys) and name (null until known). */
  private curType = -1;
  private curKey: Buffer | null = null;
  /** Holds the name of a key whose value spans items. */
  private keyStore = Buffer.allocUnsafe(256);
  /** PHASE_SKIP is reading a key's value (true) or MODULE_AUX data (false). */
  private skipKey = false;

  constructor(private readonly handler: RdbHandler, opts: RdbParserOptions = {}) {
    this.verify = opts.verifyChecksum ?? true;
    this.skipUnloadable = opts.skipUnloadable ?? false;
    this.fr = new FieldReader(opts.maxStringLen ?? 2 ** 31);
    this.coll = new CollectionReader(this.fr, handler);
    this.skipper = new UnloadableSkipper(this.fr);
    this.str = new StringStreamer(this.fr, handler);
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
   * Bytes the parser holds for itself, besides the caller's chunk: the pending buffer, the kept key
   * name and the string streamer's buffer (for tests and diagnostics).
   */
  get heldBytes(): number {
    return this.pending.length + this.keyStore.length + this.str.heldBytes;
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
      this.failure = this.inKey(e);
      throw this.failure;
    }
  }

  /** Adds the key being read (name, db, type) to a corruption error. */
  private inKey(e: unknown): unknown {
    if (this.curType < 0 || !(e instanceof ParaError) || e.code !== 'PARAREPLICA_RDB_CORRUPT' || e.details.key !== undefined) return e;
    return T.corruptInKey(e, this.curKey, this.db, this.curType);
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
    switch (this.phase) {
      case PHASE_TOP: {
        const op = buf[s];
        return op < T.OP_SLOT_INFO ? this.keyEntry(buf, s, end, op) : this.opcode(buf, s, end, op);
      }
      case PHASE_COLL: {
        const r = this.coll.run(buf, s, end);
        if (r >= 0 && this.coll.left === 0) {
          this.handler.end?.();
          this.endKey(true);
        }
        return r;
      }
      case PHASE_STRING: {
        const r = this.str.step(buf, s, end);
        if (r >= 0 && this.str.finished) {
          this.handler.end?.();
          this.endKey(true);
        }
        return r;
      }
      case PHASE_SKIP: {
        const r = this.skipper.step(buf, s, end);
        if (r >= 0 && this.skipper.finished) {
          this.phase = PHASE_TOP;
          if (this.skipKey) {
            this.skipKey = false;
            this.handler.skipped?.(this.curKey!, this.db, this.curType);
            this.endKey(false);
          }
        }
        return r;
      }
      default:
        return this.header(buf, s, end);
    }
  }

  /** An opcode item (0xF4..0xFF). */
  private opcode(buf: Buffer, s: number, end: number, op: number): number {
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
        this.skipper.startModuleData();
        this.skipKey = false;
        this.phase = PHASE_SKIP;
        return q;
      case T.OP_SLOT_INFO: // 0xF4 <length slot> <length slot size> <length expires size>: ignored
        q = fr.length(buf, s + 1, end);
        if (q < 0) return -1;
        q = fr.length(buf, q, end);
        return q < 0 ? -1 : fr.length(buf, q, end);
      case T.OP_FUNCTION:
        return readOldFunction(fr, buf, s, end, this.handler, this.keyScratch, this.valScratch);
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
    this._version = readVersion(this.fr, buf, s);
    this.phase = PHASE_TOP;
    return s + 9;
  }

  /** <type byte> <string key> <value>, or the start of a value that comes in items. */
  private keyEntry(buf: Buffer, s: number, end: number, type: number): number {
    const fr = this.fr;
    if (T.rdbTypeInfo(type) === undefined) fr.corrupt(s, `unknown opcode or value type ${type}`);
    this.curType = type;
    const ke = fr.stringEnd(buf, s + 1, end);
    if (ke < 0) return -1;
    const key = fr.string(buf, s + 1, this.keyScratch);
    this.curKey = key;
    const e = this.entryObj;
    switch (type) {
      case 0: case 9: case 10: case 11: case 12: case 13: case 16: case 17: case 20: {
        if (type === 0) {
          const vb = fr.stringBody(buf, ke, end);
          if (vb < 0) return -1;
          if (fr.decodedLen > STRING_STREAM_MIN) return this.beginString(buf, ke, vb, key);
        }
        const ve = fr.stringEnd(buf, ke, end);
        if (ve < 0) return -1;
        e.db = this.db;
        e.key = key;
        e.type = type;
        e.value = fr.string(buf, ke, this.valScratch);
        e.expireMs = this.expireMs;
        this.expireMs = -1;
        this.handler.entry(e);
        this._keysLoaded++;
        this.curType = -1;
        this.curKey = null;
        return ve;
      }
      case 1: case 2: case 3: case 4: case 5: case 14: case 18: {
        const q = fr.count(buf, ke, end, type === 14 || type === 18 ? 'quicklist node count' : 'element count');
        if (q < 0) return -1;
        const count = fr.value;
        e.db = this.db;
        e.key = key;
        e.type = type;
        e.value = EMPTY;
        e.expireMs = this.expireMs;
        this.expireMs = -1;
        this.handler.begin?.(e, count);
        if (count === 0) {
          this.handler.end?.();
          this._keysLoaded++;
          this.curType = -1;
          this.curKey = null;
          return q;
        }
        this.curKey = this.keep(key);
        this.coll.start(type, count);
        this.phase = PHASE_COLL;
        return q;
      }
      case 7: case 15: case 19: case 21: {
        if (!this.skipUnloadable) throw T.unsupportedType(key, this.db, type, fr.base + s);
        let q = ke;
        if (type === 7) { // <length module id> <module data>
          q = fr.length(buf, ke, end);
          if (q < 0) return -1;
          this.skipper.startModuleData();
        } else {
          this.skipper.startStream(type);
        }
        this.expireMs = -1;
        this.curKey = this.keep(key);
        this.skipKey = true;
        this.phase = PHASE_SKIP;
        return q;
      }
      default: // 6 MODULE, 22-25 hashes with field expiry
        throw T.unsupportedType(key, this.db, type, fr.base + s);
    }
  }

  /**
   * A STRING too long for one item: begin() now, its stored bytes (from vb on) in PHASE_STRING.
   * fr holds the string header just read (stringBody at `at`).
   */
  private beginString(buf: Buffer, at: number, vb: number, key: Buffer): number {
    const fr = this.fr;
    const stored = fr.value;
    const ulen = fr.decodedLen;
    const e = this.entryObj;
    e.db = this.db;
    e.key = key;
    e.type = 0;
    e.value = EMPTY;
    e.expireMs = this.expireMs;
    this.expireMs = -1;
    this.handler.begin?.(e, ulen);
    this.curKey = this.keep(key);
    this.str.start(buf[at] === ENC_LZF, stored, ulen, fr.base + vb);
    this.phase = PHASE_STRING;
    return vb;
  }

  /** A value that spanned items was read to its end. */
  private endKey(loaded: boolean): void {
    if (loaded) this._keysLoaded++;
    this.phase = PHASE_TOP;
    this.curType = -1;
    this.curKey = null;
    if (this.keyStore.length > PENDING_KEEP) this.keyStore = Buffer.allocUnsafe(256);
  }

  /** A copy of the key name that outlives the item (in keyStore, reused). */
  private keep(key: Buffer): Buffer {
    if (key.length > this.keyStore.length) this.keyStore = Buffer.allocUnsafe(Math.max(key.length, this.keyStore.length * 2));
    key.copy(this.keyStore, 0);
    return this.keyStore.subarray(0, key.length);
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
        throw crcMismatch(this.crc, buf, s + 1, this.fr.base + s + 1);
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
