/**
 * The meta record of a Redis key: type codes, the decoded Meta, its byte codec, KeyRef (a resolved
 * key with its meta). The cache of committed metas is in meta-cache.ts.
 *
 * Meta value bytes:
 *
 *   [type u8][flags u8] [expireMs f64, if flags&1] [version u32][count u48, if flags&2] [payload]
 *   flags: 1 = has expiry, 2 = per-member layout, 4 = payload is msgpack, 8 = payload is a flat
 *          array (below); neither 4 nor 8: raw bytes (strings), or no payload
 *
 * Strings longer than STRING_SEG_MIN are segmented: flags 2, `count` = byte length, no payload; the
 * bytes are member records of the version keyed by the segment index (u32 BE), STRING_SEG bytes each
 * except the last (string_segments.ts). Such a meta decodes to a SegMeta, whose `value` is read from
 * the segments only when a handler asks for it.
 */
import { META_KEY_HEAD, packr } from './layout.js';
import type { MetaEntry } from './meta-cache.js';

/** Type codes (same numbers as Redis's DEBUG DIGEST type codes). */
export const T_STRING = 0, T_LIST = 1, T_SET = 2, T_ZSET = 3, T_HASH = 4, T_STREAM = 6;
export const TYPE_NAMES: Record<number, string> = { 0: 'string', 1: 'list', 2: 'set', 3: 'zset', 4: 'hash', 6: 'stream' };

/** Redis's listpack thresholds: a collection stays inline while it has ≤128 entries of ≤64 bytes. */
export const INLINE_MAX_ENTRIES = 128;
export const INLINE_MAX_BYTES = 64;

/** A string longer than this is stored segmented (1 MiB). */
export const STRING_SEG_MIN = 1 << 20;
/** Size of every segment of a segmented string but the last (256 KiB). */
export const STRING_SEG = 256 << 10;

/** Decoded meta record of one Redis key. Handlers mutate it in place, then call `ks.dirty(ref)`. */
export interface Meta {
  type: number;
  /** Absolute unix ms, or -1 for none. Change it only with `ks.setExpire` (keeps counters right). */
  expireMs: number;
  /** 0 = inline (the whole value is in `value`); >0 = per-member layout under this version. */
  version: number;
  /** Element count for per-member collections (kept by the handler), byte length of a segmented string; 0 when inline. */
  count: number;
  /**
   * Strings: the value Buffer (a segmented string's is read from its segments on access: prefer
   * string_segments.ts strLength / strRange when less is needed). Inline collections: a msgpack-able value chosen by the type module
   * (sets: Buffer[] members; hashes: Buffer[] [f1, v1, f2, v2, …]). Per-member: extra data or null.
   */
  value: any;
}

/**
 * A resolved Redis key: where it lives and its current meta (null = absent). Obtained from
 * `ks.ref(db, key)` (writes) or `ks.lookup(db, key, nowMs)` (reads). A ref stays usable across an
 * `await` inside a handler: `dirty(ref)` re-registers it in the current overlay.
 */
export class KeyRef {
  /** @internal overlay state */ dirty = false;
  /** @internal the meta cache entry of this key (meta-cache.ts), or null */ entry: MetaEntry | null = null;
  constructor(
    /** the key's home db (Keyspace.homeOf): equal to the Redis db unless SWAPDB moved it */
    readonly db: number,
    readonly epoch: number,
    /** full LevelDB meta key */ readonly lk: Buffer,
    /** lk as a latin1 string: the overlay map key */ readonly id: string,
    public meta: Meta | null,
  ) {}
  /** The Redis key bytes (a view of lk). */
  get key(): Buffer { return this.lk.subarray(META_KEY_HEAD); }
}

/** What reads a segmented string's bytes (the Keyspace, via string_segments.ts). */
export interface SegReader {
  readSegments(m: SegMeta): Buffer;
}

/**
 * The meta of a segmented string (version ≠ 0, count = byte length). `value` is materialised from the
 * segments on first read (and kept until unload()); assigning `value` marks it replaced: the commit
 * then rewrites the string from that Buffer (string_segments.ts settleString). Never cached by the
 * meta cache, so no materialised value outlives the overlay that read it.
 */
export class SegMeta implements Meta {
  type: number = T_STRING;
  /** The value was assigned (not only read): the segments of `version` no longer hold it. */
  replaced = false;
  /** Where the segments live: set by the Keyspace (bind) before any handler sees this meta. */
  reader: SegReader | null = null;
  home = 0;
  epoch = 0;
  private v: Buffer | null | undefined = undefined;

  constructor(public expireMs: number, public version: number, public count: number) {}

  get value(): any {
    if (this.v === undefined) {
      if (this.reader === null) throw new Error('internal: segmented string read before it was bound to its keyspace');
      this.v = this.reader.readSegments(this);
    }
    return this.v;
  }
  set value(x: any) { this.v = x; this.replaced = true; }

  /** The bytes are in memory (read or assigned). */
  get loaded(): boolean { return this.v !== undefined; }
  /** Forget read bytes (after the segments changed, or at commit). No-op once replaced. */
  unload(): void { if (!this.replaced) this.v = undefined; }
  bind(reader: SegReader, home: number, epoch: number): void {
    this.reader = reader; this.home = home; this.epoch = epoch;
  }
}

/** The encoded bytes of a meta (a new Buffer). */
export function encodeMeta(m: Meta): Buffer {
  return Buffer.from(scratchEncoder.encode(m, false));
}

export function decodeMeta(b: Buffer): Meta {
  const flags = b[1];
  let o = 2, expireMs = -1, version = 0, count = 0;
  if (flags & 1) { expireMs = b.readDoubleBE(o); o += 8; }
  if (flags & 2) { version = b.readUInt32BE(o); count = b.readUIntBE(o + 4, 6); o += 10; }
  const type = b[0];
  let value: any = null;
  if (type === T_STRING) {
    if (flags & 2) return new SegMeta(expireMs, version, count);
    value = b.subarray(o);
  }
  else if (flags & 8) value = readFlat(b, o);
  else if (flags & 4) value = packr.unpack(b.subarray(o));
  return { type, expireMs, version, count, value };
}

// ----- flat arrays: the inline values of sets, hashes, lists and zsets, and list head/tail -------
//
//   [n u32] then n elements, each [tag u8] + data:
//     tag 0x00-0x7f  Buffer of `tag` bytes         tag 0x80  Buffer: [len u32][bytes]
//     tag 0x81       number: f64                    tag 0x82  number: i32 (integers, not -0)
//
// Cheaper than generic msgpack (no intermediate buffer, no type dispatch) for the values every
// command rewrites. Other values (none today) fall back to msgpack (flags & 4).

type FlatValue = Array<Uint8Array | number>;
const TAG_LONG = 0x80, TAG_F64 = 0x81, TAG_I32 = 0x82;
/** Encodings bigger than this get their own buffer rather than growing the scratch buffer. */
const SCRATCH_MAX = 1 << 20;

const isShared = (x: Uint8Array): boolean => x.buffer instanceof SharedArrayBuffer;

/**
 * Encodes metas into one reusable scratch buffer. The result is a view that the next encode()
 * overwrites: pass it straight to a LevelDB batch put (the native batch copies the bytes at once).
 * With `own`, Buffers of the value that are views of shared memory (argv views into a ring, reused
 * once the group is released) are replaced in the value by copies, in the same pass: afterwards the
 * value may be kept beyond the commit (meta cache).
 */
export class MetaEncoder {
  private buf: Buffer = Buffer.allocUnsafeSlow(64 * 1024);
  private big: Buffer | null = null;   // encoding in progress did not fit in buf
  private dv: DataView = new DataView(new ArrayBuffer(0));
  private dvOf: Buffer | null = null;

  encode(m: Meta, own: boolean): Buffer {
    this.big = null;
    let b = this.buf;
    b[0] = m.type;
    let flags = 0, o = 2, end = 0;
    if (m.expireMs !== -1) { flags |= 1; b.writeDoubleBE(m.expireMs, o); o += 8; }
    if (m.version !== 0) { flags |= 2; b.writeUInt32BE(m.version, o); b.writeUIntBE(m.count, o + 4, 6); o += 10; }
    if (m.type === T_STRING) {
      if (m.version !== 0) { b[1] = flags; return b.subarray(0, o); }   // segmented: no payload, no read
      let x = m.value as Buffer;
      if (own && isShared(x)) m.value = x = Buffer.from(x);
      b = this.room(o, x.length);
      b.set(x, o); o += x.length;
      b[1] = flags;
      return b.subarray(0, o);
    }
    const v = m.value;
    if (Array.isArray(v) && (end = this.writeFlat(v as FlatValue, o, own)) >= 0) {
      flags |= 8;
      o = end;
      b = this.big ?? this.buf;
    } else if (v != null) {
      flags |= 4;
      const p = packr.pack(v);
      b = this.room(o, p.length);
      b.set(p, o); o += p.length;
    }
    b[1] = flags;
    return b.subarray(0, o);
  }

  /** The buffer being written, with at least `n` bytes free after `o` (copying what is written). */
  private room(o: number, n: number): Buffer {
    const cur = this.big ?? this.buf;
    if (o + n <= cur.length) return cur;
    const size = Math.max(2 * cur.length, o + n + 1024);
    const next: Buffer = size <= SCRATCH_MAX ? Buffer.allocUnsafeSlow(size) : Buffer.allocUnsafe(size);
    cur.copy(next, 0, 0, o);
    if (size <= SCRATCH_MAX) { this.buf = next; this.big = null; } else this.big = next;
    return next;
  }

  /** Writes a flat array at o; returns the end, or -1 when an element is not a Buffer or a number. */
  private writeFlat(a: FlatValue, o: number, own: boolean): number {
    let b = this.room(o, 4);
    let dv = this.view(b);
    dv.setUint32(o, a.length); o += 4;
    for (let i = 0; i < a.length; i++) {
      let x = a[i];
      if (typeof x === 'number') {
        if (o + 9 > b.length) { b = this.room(o, 9); dv = this.view(b); }
        if ((x | 0) === x && (x !== 0 || 1 / x > 0)) { b[o] = TAG_I32; dv.setInt32(o + 1, x); o += 5; }   // not -0
        else { b[o] = TAG_F64; dv.setFloat64(o + 1, x); o += 9; }
        continue;
      }
      if (!(x instanceof Uint8Array)) return -1;
      if (own && isShared(x)) a[i] = x = Buffer.from(x);
      const len = x.length;
      if (o + 5 + len > b.length) { b = this.room(o, 5 + len); dv = this.view(b); }
      if (len < TAG_LONG) b[o++] = len;
      else { b[o] = TAG_LONG; dv.setUint32(o + 1, len); o += 5; }
      if (len <= 32) for (let k = 0; k < len; k++) b[o + k] = x[k];
      else b.set(x, o);
      o += len;
    }
    return o;
  }

  /** A DataView of b (cached for the scratch buffer). */
  private view(b: Buffer): DataView {
    if (b !== this.dvOf) { this.dv = new DataView(b.buffer, b.byteOffset, b.length); this.dvOf = b; }
    return this.dv;
  }
}

const scratchEncoder = new MetaEncoder();

/** Elements are views of b (b is a LevelDB value: owned, never reused). */
function readFlat(b: Buffer, o: number): FlatValue {
  const n = b.readUInt32BE(o); o += 4;
  const a: FlatValue = new Array(n);
  for (let i = 0; i < n; i++) {
    const t = b[o++];
    if (t < TAG_LONG) { a[i] = b.subarray(o, o + t); o += t; }
    else if (t === TAG_LONG) { const len = b.readUInt32BE(o); a[i] = b.subarray(o + 4, o + 4 + len); o += 4 + len; }
    else if (t === TAG_F64) { a[i] = b.readDoubleBE(o); o += 8; }
    else if (t === TAG_I32) { a[i] = b.readInt32BE(o); o += 4; }
    else throw new Error(`corrupt meta record: unknown element tag ${t}`);
  }
  return a;
}
