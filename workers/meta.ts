/**
 * The meta record of a Redis key: type codes, the decoded Meta, its byte codec, KeyRef (a resolved
 * key with its meta) and the bounded cache of committed, decoded metas.
 *
 * Meta value bytes:
 *
 *   [type u8][flags u8] [expireMs f64, if flags&1] [version u32][count u48, if flags&2] [payload]
 *   flags: 1 = has expiry, 2 = per-member layout, 4 = payload is msgpack (else raw bytes: strings)
 */
import { META_KEY_HEAD, packr } from './layout.js';

/** Type codes (same numbers as Redis's DEBUG DIGEST type codes). */
export const T_STRING = 0, T_LIST = 1, T_SET = 2, T_ZSET = 3, T_HASH = 4, T_STREAM = 6;
export const TYPE_NAMES: Record<number, string> = { 0: 'string', 1: 'list', 2: 'set', 3: 'zset', 4: 'hash', 6: 'stream' };

/** Redis's listpack thresholds: a collection stays inline while it has ≤128 entries of ≤64 bytes. */
export const INLINE_MAX_ENTRIES = 128;
export const INLINE_MAX_BYTES = 64;

/** Decoded meta record of one Redis key. Handlers mutate it in place, then call `ks.dirty(ref)`. */
export interface Meta {
  type: number;
  /** Absolute unix ms, or -1 for none. Change it only with `ks.setExpire` (keeps counters right). */
  expireMs: number;
  /** 0 = inline (the whole value is in `value`); >0 = per-member layout under this version. */
  version: number;
  /** Element count for per-member collections (kept by the handler); 0 when inline. */
  count: number;
  /**
   * Strings: the value Buffer. Inline collections: a msgpack-able value chosen by the type module
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
  /** @internal the meta cache entry this ref took its meta from (or null) */ entry: MetaEntry | null = null;
  constructor(
    readonly db: number,
    readonly epoch: number,
    /** full LevelDB meta key */ readonly lk: Buffer,
    /** lk as a latin1 string: the overlay map key */ readonly id: string,
    public meta: Meta | null,
  ) {}
  /** The Redis key bytes (a view of lk). */
  get key(): Buffer { return this.lk.subarray(META_KEY_HEAD); }
}

export function encodeMeta(m: Meta): Buffer {
  let flags = 0, size = 2;
  if (m.expireMs !== -1) { flags |= 1; size += 8; }
  if (m.version !== 0) { flags |= 2; size += 10; }
  let payload: Buffer | null = null;
  if (m.type === T_STRING) payload = m.value as Buffer;
  else if (m.value != null) { flags |= 4; payload = packr.pack(m.value); }
  if (payload) size += payload.length;
  const b = Buffer.allocUnsafe(size);
  b[0] = m.type; b[1] = flags;
  let o = 2;
  if (flags & 1) { b.writeDoubleBE(m.expireMs, o); o += 8; }
  if (flags & 2) { b.writeUInt32BE(m.version, o); b.writeUIntBE(m.count, o + 4, 6); o += 10; }
  if (payload) payload.copy(b, o);
  return b;
}

export function decodeMeta(b: Buffer): Meta {
  const flags = b[1];
  let o = 2, expireMs = -1, version = 0, count = 0;
  if (flags & 1) { expireMs = b.readDoubleBE(o); o += 8; }
  if (flags & 2) { version = b.readUInt32BE(o); count = b.readUIntBE(o + 4, 6); o += 10; }
  const type = b[0];
  let value: any = null;
  if (type === T_STRING) value = b.subarray(o);
  else if (flags & 4) value = packr.unpack(b.subarray(o));
  return { type, expireMs, version, count, value };
}

/**
 * One committed key in the meta cache: its DECODED meta (null = known absent), or undefined while an
 * uncommitted overlay ref owns that object (it was "taken") or when the committed value is unknown.
 */
export class MetaEntry {
  constructor(public meta: Meta | null | undefined) {}
}

/**
 * Committed metas by overlay id, decoded, so that a hot key needs neither a LevelDB read nor a
 * decode (about 2x on SET throughput with a 100k keyspace for the byte cache this replaced; decoding
 * was the next cost). Bounded, oldest first out.
 *
 * Ownership: a Meta object in an entry belongs to the cache and is never mutated. Keyspace.ref()
 * TAKES it (entry.meta = undefined) and hands it to the overlay ref, so handlers mutate it in place
 * without a copy; commit() gives the written meta back (after ownValue()); a discard() or a
 * ref that was not dirtied leaves the entry empty, and the next access reads LevelDB again. So the
 * cache only ever holds what LevelDB holds or what a batch being written holds (cleared if that batch
 * fails). Read-only refs from lookup() may share a cached object: reads never mutate.
 */
export class MetaCache {
  private readonly map = new Map<string, MetaEntry>();
  /** Maximum number of entries; 0 disables the cache. */
  max = 100_000;

  get(id: string): MetaEntry | undefined { return this.map.get(id); }

  /** A new entry for an id not in the cache (detached, i.e. not cached, when max is 0). */
  add(id: string, meta: Meta | null | undefined): MetaEntry {
    const e = new MetaEntry(meta);
    const c = this.map;
    if (this.max === 0) return e;
    if (c.size >= this.max) c.delete(c.keys().next().value as string);
    c.set(id, e);
    return e;
  }

  clear(): void { this.map.clear(); }
}

/**
 * Make a meta value safe to keep after its commit: Buffers that are views of shared memory (argv
 * views into a ring, reused once the group is released) are replaced by copies, in place. Values are
 * Buffers, arrays of Buffers and numbers, or null (see Meta.value).
 */
export function ownValue(v: any): any {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x === 'object' && x.buffer instanceof SharedArrayBuffer) v[i] = Buffer.from(x);
    }
    return v;
  }
  if (v instanceof Uint8Array && v.buffer instanceof SharedArrayBuffer) return Buffer.from(v);
  return v;
}
