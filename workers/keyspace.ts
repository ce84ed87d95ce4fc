/**
 * Shard storage engine: one LevelDB (classic-level) per shard, a write-combining overlay in front of
 * it, group commit, epochs for FLUSHDB/FLUSHALL and background reclaim of dead ranges.
 *
 * ## LevelDB layout (all integers big-endian)
 *
 *   meta record    [db u16][epoch u32][0x00][redis key]               → encoded Meta (below)
 *   member record  [db u16][epoch u32][0x01][version u32][member part] → member value
 *   state record   [0xFF 0xFF][0x53 'S']                               → msgpack ShardState
 *   garbage range  [0xFF 0xFF][0x47 'G'][seq u32]                      → msgpack { gte, lt }
 *
 * Redis db numbers stop at 0xFFFE: 0xFFFF is the reserved prefix. The member record does not repeat
 * the Redis key: versions are unique in the shard (a persisted counter), and keeping `[db][epoch]` in
 * front means one FLUSHDB range `[db][oldEpoch] .. [db][oldEpoch+1]` covers metas and members alike.
 * Deleting a per-member collection = delete its meta + one garbage range `[db][epoch][0x01][version]`.
 *
 * Meta value bytes:
 *
 *   [type u8][flags u8] [expireMs f64, if flags&1] [version u32][count u48, if flags&2] [payload]
 *   flags: 1 = has expiry, 2 = per-member layout, 4 = payload is msgpack (else raw bytes: strings)
 *
 * Small collections (≤ INLINE_MAX_ENTRIES entries, each ≤ INLINE_MAX_BYTES) keep the whole value in
 * `meta.value` (msgpack); bigger ones keep members as member records and `meta.value` holds optional
 * type-specific extra data (e.g. list head/tail) or null.
 *
 * ## Overlay, group commit and crash consistency
 *
 * Writes go to an in-memory overlay (KeyRef per touched key, member map per version). `commit()` turns
 * the overlay, the new garbage ranges and the state record (offset, epochs, counters) into ONE chained
 * batch: data and applied offset are always durable together. While a batch is being written, its
 * overlay stays readable as the "pending" layer, so reads never miss data in flight.
 * A bounded cache of committed meta bytes (filled at commit and by point reads) lets hot keys skip
 * LevelDB reads across groups (about 2x on SET throughput with a 100k keyspace).
 * Range reads (members(), scanMetas()) merge the overlay with a LevelDB iterator: they never commit in
 * the middle of a group, which would break exactly-once and MULTI atomicity.
 *
 * Buffers passed in (argv views into shared memory) are kept only until the next commit() has queued
 * them into its batch (the native batch copies), so handlers need not copy them.
 */
import { realpathSync, mkdirSync } from 'node:fs';
import { ClassicLevel } from 'classic-level';
import { Packr } from 'msgpackr';
import { ParaError } from '../src/errors.js';

// ---------------------------------------------------------------------------------------------------
// Types shared with the command modules (t_*.ts)
// ---------------------------------------------------------------------------------------------------

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
  constructor(
    readonly db: number,
    readonly epoch: number,
    /** full LevelDB meta key */ readonly lk: Buffer,
    /** lk as a latin1 string: the overlay map key */ readonly id: string,
    public meta: Meta | null,
  ) {}
  /** The Redis key bytes (a view of lk). */
  get key(): Buffer { return this.lk.subarray(7); }
}

/** Write handler: applies argv (argv[0] = command name). Report a Redis-level failure with ks.fail(). */
export type WriteHandler = (ks: Keyspace, db: number, argv: Buffer[]) => void | Promise<void>;
/** Read handler: returns the reply as Buffer | number | null | Array | {error} | {status}. */
export type ReadHandler = (ks: Keyspace, db: number, argv: Buffer[], nowMs: number) => unknown | Promise<unknown>;
export type WriteTable = Record<string, WriteHandler>;
export type ReadTable = Record<string, ReadHandler>;

export interface RangeOptions {
  /** inclusive lower bound on the member part */ gte?: Buffer;
  /** exclusive upper bound on the member part */ lt?: Buffer;
  reverse?: boolean;
  /** maximum number of entries yielded */ limit?: number;
}

export const WRONGTYPE = Object.freeze({ error: 'WRONGTYPE Operation against a key holding the wrong kind of value' });
export const OK = Object.freeze({ status: 'OK' });
export const ERR_NOT_INT = 'ERR value is not an integer or out of range';
export const ERR_SYNTAX = 'ERR syntax error';
export const ERR_OVERFLOW = 'ERR increment or decrement would overflow';
export const ERR_NOT_FLOAT = 'ERR value is not a valid float';
export const ERR_NAN_INF = 'ERR increment would produce NaN or Infinity';
/** Shared empty value (e.g. for per-member set records). */
export const EMPTY = Buffer.alloc(0);
export function arityError(name: string): { error: string } {
  return { error: `ERR wrong number of arguments for '${name}' command` };
}

export interface ShardState {
  replid: string | null;
  /** Applied replication offset (every command up to it is in this shard's data). */
  offset: number;
  /** Current epoch of each db (index = db); missing entries are 0. */
  epochs: number[];
  loading: boolean;
  /** Next per-member collection version (never reused). */
  nextVersion: number;
  /** Keys per db (expired-but-present keys included, as DBSIZE). */
  keys: number[];
  /** Keys with an expiry per db. */
  expires: number[];
  /** Next garbage-range record sequence number. */
  garbageSeq: number;
  format: number;
}

interface MemberEntry { part: Buffer; value: Buffer | null }
interface VersionSlot { db: number; prefix: Buffer; parts: Map<string, MemberEntry> }
interface Garbage { gte: Buffer; lt: Buffer }

const FORMAT = 1;
const STATE_KEY = Buffer.from([0xff, 0xff, 0x53]);
const GARBAGE_PREFIX = Buffer.from([0xff, 0xff, 0x47]);
const GARBAGE_END = Buffer.from([0xff, 0xff, 0x48]);
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

// ---------------------------------------------------------------------------------------------------
// Meta codec (format in the header comment)
// ---------------------------------------------------------------------------------------------------

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

function metaKey(db: number, epoch: number, key: Buffer): Buffer {
  const b = Buffer.allocUnsafe(7 + key.length);
  b.writeUInt16BE(db, 0); b.writeUInt32BE(epoch, 2); b[6] = 0;
  key.copy(b, 7);
  return b;
}

function memberPrefix(db: number, epoch: number, version: number): Buffer {
  const b = Buffer.allocUnsafe(11);
  b.writeUInt16BE(db, 0); b.writeUInt32BE(epoch, 2); b[6] = 1; b.writeUInt32BE(version, 7);
  return b;
}

/** Smallest key greater than every key starting with `prefix` (prefix never all 0xFF here). */
function prefixEnd(prefix: Buffer): Buffer {
  const b = Buffer.from(prefix);
  let i = b.length - 1;
  while (i >= 0 && b[i] === 0xff) i--;
  b[i]++;
  return b.subarray(0, i + 1);
}

/** Grow a per-db counter array with zeros so that index `db` exists (msgpack has no holes). */
function fillTo(a: number[], db: number): void {
  while (a.length <= db) a.push(0);
}


// ---------------------------------------------------------------------------------------------------
// Keyspace: the storage API the command modules use
// ---------------------------------------------------------------------------------------------------

export class Keyspace {
  failedCommands = 0;
  /**
   * false (default, what a Redis replica does): an expiry time already in the past sets that TTL
   * and the key stays (hidden from reads) until the master's DEL. true (what a Redis master does
   * with a client's command): SET…PXAT/EXPIRE-family with a past time deletes the key. Tests use
   * true to compare with a standalone redis-server.
   */
  deleteOnPastExpiry = false;
  /** Reason of the last failed command (for logs / INFO). */
  lastFailure: string | null = null;
  readonly state: ShardState;

  protected metas = new Map<string, KeyRef>();
  protected pendingMetas: Map<string, KeyRef> | null = null;
  protected memberOv = new Map<number, VersionSlot>();
  protected pendingMemberOv: Map<number, VersionSlot> | null = null;
  protected newGarbage: Garbage[] = [];
  protected dirtyData = false;
  protected stateDirty = false;
  protected committing: Promise<void> | null = null;
  /**
   * Committed meta records by overlay id (encoded bytes as written, or null = absent), so that hot
   * keys skip LevelDB reads across commits. Filled at commit and on LevelDB reads; bounded, oldest
   * first out. Holds only bytes we allocated (never argv views).
   */
  protected metaCache = new Map<string, Buffer | null>();
  protected metaCacheMax = 100_000;

  protected constructor(readonly db: ClassicLevel<Buffer, Buffer>, state: ShardState) {
    this.state = state;
  }

  /** Current epoch of a Redis db. */
  epochOf(db: number): number { return this.state.epochs[db] ?? 0; }

  /** Record a command that failed as it would on Redis (no data changed). Always returns undefined. */
  fail(reason: string): void {
    this.failedCommands++;
    this.lastFailure = reason;
  }

  // ----- metas -----------------------------------------------------------------------------------

  /**
   * Resolve a key for a write: overlay → pending batch → LevelDB. The ref is registered in the
   * overlay (cached for the rest of the group). Never hides expired keys (master semantics).
   */
  ref(db: number, key: Buffer): KeyRef {
    const epoch = this.epochOf(db);
    const lk = metaKey(db, epoch, key);
    const id = lk.toString('latin1');
    let r = this.metas.get(id);
    if (r !== undefined) return r;
    r = this.pendingMetas?.get(id);
    if (r === undefined) {
      const raw = this.readMeta(lk, id);
      r = new KeyRef(db, epoch, lk, id, raw === null ? null : decodeMeta(raw));
    }
    this.metas.set(id, r);
    return r;
  }

  /**
   * Resolve a key for a read: null if absent or logically expired (nowMs > expireMs). Does not grow
   * the overlay. The returned ref must not be written through.
   */
  lookup(db: number, key: Buffer, nowMs: number): KeyRef | null {
    const epoch = this.epochOf(db);
    const lk = metaKey(db, epoch, key);
    const id = lk.toString('latin1');
    let r = this.metas.get(id) ?? this.pendingMetas?.get(id);
    if (r === undefined) {
      const raw = this.readMeta(lk, id);
      if (raw === null) return null;
      r = new KeyRef(db, epoch, lk, id, decodeMeta(raw));
    }
    const m = r.meta;
    if (m === null || (m.expireMs !== -1 && nowMs > m.expireMs)) return null;
    return r;
  }

  /** Committed meta bytes of a key: the meta cache, else LevelDB (then cached). */
  private readMeta(lk: Buffer, id: string): Buffer | null {
    const c = this.metaCache.get(id);
    if (c !== undefined) return c;
    const raw = this.db.getSync(lk) ?? null;
    this.cacheMeta(id, raw);
    return raw;
  }

  private cacheMeta(id: string, raw: Buffer | null): void {
    const c = this.metaCache;
    if (this.metaCacheMax === 0) return;
    if (c.size >= this.metaCacheMax && !c.has(id)) c.delete(c.keys().next().value as string);
    c.set(id, raw);
  }

  /** Mark a ref's meta as changed (after mutating ref.meta in place); it is written at commit. */
  dirty(r: KeyRef): void {
    r.dirty = true;
    this.dirtyData = true;
    if (this.metas.get(r.id) !== r) this.metas.set(r.id, r);
  }

  /** Create a key that does not exist (ref.meta must be null). No expiry. */
  create(r: KeyRef, type: number, value: any): Meta {
    const m: Meta = { type, expireMs: -1, version: 0, count: 0, value };
    r.meta = m;
    if (this.state.keys.length <= r.db) {
      fillTo(this.state.keys, r.db); fillTo(this.state.expires, r.db); fillTo(this.state.epochs, r.db);
    }
    this.state.keys[r.db]++;
    this.dirty(r);
    return m;
  }

  /** Delete a key (no-op if absent). A per-member collection is dropped in O(1) (garbage range). */
  del(r: KeyRef): void {
    const m = r.meta;
    if (m === null) return;
    if (m.version !== 0) this.dropMembers(r);
    if (m.expireMs !== -1) this.state.expires[r.db]--;
    this.state.keys[r.db]--;
    r.meta = null;
    this.dirty(r);
  }

  /** Set (ms ≥ 0) or remove (-1) the expiry of an existing key, keeping the counters right. */
  setExpire(r: KeyRef, ms: number): void {
    const m = r.meta!;
    if (m.expireMs === -1 && ms !== -1) this.state.expires[r.db]++;
    else if (m.expireMs !== -1 && ms === -1) this.state.expires[r.db]--;
    m.expireMs = ms;
    this.dirty(r);
  }

  /**
   * Forget the per-member records of a collection (garbage-ranged, reclaimed later) and make the
   * meta inline-empty (version 0, count 0). Used by del() and when SET overwrites a collection.
   */
  dropMembers(r: KeyRef): void {
    const m = r.meta!;
    if (m.version === 0) return;
    const prefix = memberPrefix(r.db, r.epoch, m.version);
    this.memberOv.delete(m.version);
    this.newGarbage.push({ gte: prefix, lt: prefixEnd(prefix) });
    m.version = 0; m.count = 0; m.value = null;
    this.dirty(r);
  }

  // ----- per-member layout -------------------------------------------------------------------------

  /**
   * Switch a collection to the per-member layout: allocates a fresh version and sets
   * `meta.value = extra`. The caller then putMember()s every element and sets meta.count.
   */
  toPerMember(r: KeyRef, extra: any = null): void {
    const m = r.meta!;
    m.version = this.state.nextVersion++;
    if (this.state.nextVersion > 0xffffffff) {
      throw new ParaError('PARAREPLICA_APPLY_FAILED', 'collection version counter exhausted (2^32); resync this replica into a fresh data directory', {});
    }
    m.value = extra;
    this.dirty(r);
  }

  private slotFor(r: KeyRef): VersionSlot {
    const v = r.meta!.version;
    let s = this.memberOv.get(v);
    if (s === undefined) {
      s = { db: r.db, prefix: memberPrefix(r.db, r.epoch, v), parts: new Map() };
      this.memberOv.set(v, s);
    }
    return s;
  }

  /** Point read of one member record (sync). */
  getMember(r: KeyRef, part: Buffer): Buffer | undefined {
    const v = r.meta!.version;
    const id = part.toString('latin1');
    const e = this.memberOv.get(v)?.parts.get(id) ?? this.pendingMemberOv?.get(v)?.parts.get(id);
    if (e !== undefined) return e.value ?? undefined;
    return this.db.getSync(Buffer.concat([memberPrefix(r.db, r.epoch, v), part]));
  }

  /** Write one member record (buffers kept until commit; no copy needed for argv views). */
  putMember(r: KeyRef, part: Buffer, value: Buffer): void {
    this.slotFor(r).parts.set(part.toString('latin1'), { part, value });
    this.dirtyData = true;
  }

  /** Delete one member record. */
  delMember(r: KeyRef, part: Buffer): void {
    this.slotFor(r).parts.set(part.toString('latin1'), { part, value: null });
    this.dirtyData = true;
  }

  /**
   * Iterate member records of a per-member collection in bytewise order of the part (reverse if
   * asked), merging uncommitted overlay writes with LevelDB. Yields [part, value].
   */
  async *members(r: KeyRef, o: RangeOptions = {}): AsyncGenerator<[Buffer, Buffer]> {
    if (this.committing) await this.committing;
    const v = r.meta!.version;
    const prefix = memberPrefix(r.db, r.epoch, v);
    const gte = o.gte ? Buffer.concat([prefix, o.gte]) : prefix;
    const lt = o.lt ? Buffer.concat([prefix, o.lt]) : prefixEnd(prefix);
    const ov: Array<{ k: Buffer; v: Buffer | null }> = [];
    const slot = this.memberOv.get(v);
    if (slot) {
      for (const e of slot.parts.values()) {
        const k = Buffer.concat([prefix, e.part]);
        if (Buffer.compare(k, gte) >= 0 && Buffer.compare(k, lt) < 0) ov.push({ k, v: e.value });
      }
    }
    let n = 0;
    const limit = o.limit ?? Infinity;
    if (limit <= 0) return;
    for await (const [k, val] of this.merged(gte, lt, !!o.reverse, ov, (x) => x)) {
      yield [k.subarray(prefix.length), val];
      if (++n >= limit) return;
    }
  }

  /**
   * Iterate the live metas of a db in key order starting after `after` (exclusive) or at `from`.
   * Expired keys are included (callers filter). Yields [redisKey, meta].
   */
  async *scanMetas(db: number, o: { after?: Buffer; prefix?: Buffer } = {}): AsyncGenerator<[Buffer, Meta]> {
    if (this.committing) await this.committing;
    const epoch = this.epochOf(db);
    const base = metaKey(db, epoch, o.prefix ?? Buffer.alloc(0));
    const lt = prefixEnd(base);
    let gte = base;
    if (o.after && (!o.prefix || Buffer.compare(o.after, o.prefix) >= 0)) {
      gte = Buffer.concat([metaKey(db, epoch, o.after), Buffer.from([0])]);
    }
    const ov: Array<{ k: Buffer; v: Meta | null }> = [];
    for (const r of this.metas.values()) {
      if (r.dirty && r.db === db && r.epoch === epoch &&
          Buffer.compare(r.lk, gte) >= 0 && Buffer.compare(r.lk, lt) < 0) ov.push({ k: r.lk, v: r.meta });
    }
    for await (const [k, m] of this.merged(gte, lt, false, ov, decodeMeta)) yield [k.subarray(7), m];
  }

  /** Merge a LevelDB range with overlay entries (overlay wins; null = deleted). */
  private async *merged<T>(gte: Buffer, lt: Buffer, reverse: boolean, ov: Array<{ k: Buffer; v: T | null }>,
    decode: (raw: Buffer) => T): AsyncGenerator<[Buffer, T]> {
    const dir = reverse ? -1 : 1;
    ov.sort((a, b) => dir * Buffer.compare(a.k, b.k));
    let oi = 0;
    const it = this.db.iterator({ gte, lt, reverse });
    try {
      for (;;) {
        const chunk = await it.nextv(128);
        if (chunk.length === 0) break;
        for (const [k, raw] of chunk) {
          while (oi < ov.length && dir * Buffer.compare(ov[oi].k, k) < 0) {
            const e = ov[oi++];
            if (e.v !== null) yield [e.k, e.v];
          }
          if (oi < ov.length && Buffer.compare(ov[oi].k, k) === 0) {
            const e = ov[oi++];
            if (e.v !== null) yield [e.k, e.v];
          } else {
            yield [k, decode(raw)];
          }
        }
      }
    } finally {
      await it.close();
    }
    while (oi < ov.length) {
      const e = ov[oi++];
      if (e.v !== null) yield [e.k, e.v];
    }
  }

  // ----- epochs, state, commit ---------------------------------------------------------------------

  /** Barrier: switch `db` to `newEpoch` (must be greater than its current epoch). */
  flushDb(db: number, newEpoch: number): void {
    const old = this.epochOf(db);
    if (!(newEpoch > old) || newEpoch > 0xffffffff || !Number.isInteger(newEpoch)) {
      throw new ParaError('PARAREPLICA_APPLY_FAILED',
        `FLUSHDB barrier for db ${db} carries epoch ${newEpoch}, not greater than the current epoch ${old}; the epoch counter is inconsistent: resync into a fresh data directory`,
        { db, newEpoch, epoch: old });
    }
    // With keys left, the whole old-epoch range becomes garbage and its overlay need not be written.
    // With none, the overlay for this db holds only deletes of old-epoch records: let them be written.
    if ((this.state.keys[db] ?? 0) > 0) {
      const gte = Buffer.allocUnsafe(6);
      gte.writeUInt16BE(db, 0); gte.writeUInt32BE(old, 2);
      this.newGarbage.push({ gte, lt: prefixEnd(gte) });
      for (const [id, r] of this.metas) if (r.db === db) this.metas.delete(id);
      for (const [v, s] of this.memberOv) if (s.db === db) this.memberOv.delete(v);
    }
    fillTo(this.state.epochs, db); fillTo(this.state.keys, db); fillTo(this.state.expires, db);
    this.state.epochs[db] = newEpoch;
    this.state.keys[db] = 0;
    this.state.expires[db] = 0;
    this.stateDirty = true;
  }

  /** Barrier: switch every db to `newEpoch`. */
  flushAll(newEpoch: number): void {
    const n = Math.max(this.state.epochs.length, this.state.keys.length, 1);
    for (let db = 0; db < n; db++) this.flushDb(db, newEpoch);
  }

  /** The applied offset (and replid) to store with the next commit. Cheap: call it per command. */
  setApplied(offset: number, replid?: string | null): void {
    if (offset !== this.state.offset) { this.state.offset = offset; this.stateDirty = true; }
    if (replid !== undefined && replid !== this.state.replid) { this.state.replid = replid; this.stateDirty = true; }
  }

  setLoading(loading: boolean): void {
    if (loading !== this.state.loading) { this.state.loading = loading; this.stateDirty = true; }
  }

  /** Write everything dirty plus the state record as ONE batch and wait for it. */
  async commit(): Promise<void> {
    while (this.committing) await this.committing;
    if (!this.dirtyData && !this.stateDirty && this.newGarbage.length === 0) {
      this.metas.clear();
      return;
    }
    const batch = this.db.batch();
    for (const r of this.metas.values()) {
      if (!r.dirty) continue;
      r.dirty = false;
      if (r.meta === null) {
        batch.del(r.lk);
        this.cacheMeta(r.id, null);
      } else {
        const enc = encodeMeta(r.meta);
        batch.put(r.lk, enc);
        this.cacheMeta(r.id, enc);
      }
    }
    for (const s of this.memberOv.values()) {
      for (const e of s.parts.values()) {
        const k = Buffer.concat([s.prefix, e.part]);
        if (e.value === null) batch.del(k); else batch.put(k, e.value);
      }
    }
    for (const g of this.newGarbage) {
      const k = Buffer.allocUnsafe(7);
      GARBAGE_PREFIX.copy(k, 0); k.writeUInt32BE(this.state.garbageSeq++, 3);
      batch.put(k, packr.pack({ gte: g.gte, lt: g.lt }));
    }
    batch.put(STATE_KEY, packr.pack(this.state));
    this.pendingMetas = this.metas; this.pendingMemberOv = this.memberOv;
    this.metas = new Map(); this.memberOv = new Map(); this.newGarbage = [];
    this.dirtyData = false; this.stateDirty = false;
    const p = batch.write();
    this.committing = p;
    try {
      await p;
    } catch (e) {
      this.metaCache.clear();   // it already holds this batch's metas
      throw new ParaError('PARAREPLICA_APPLY_FAILED',
        `LevelDB batch write failed: ${(e as Error).message}; stop applying and restart from the last committed offset`,
        { offset: this.state.offset });
    } finally {
      this.committing = null; this.pendingMetas = null; this.pendingMemberOv = null;
    }
  }

  /**
   * Background reclaim: delete up to `maxKeys` records of the oldest garbage range. Returns true if
   * garbage remains. Crash-safe: progress and deletions go in one batch.
   */
  async reclaimStep(maxKeys = 1000): Promise<boolean> {
    const head = await this.db.iterator({ gte: GARBAGE_PREFIX, lt: GARBAGE_END, limit: 2 }).all();
    if (head.length === 0) return false;
    const [gk, gv] = head[0];
    const g = packr.unpack(gv) as Garbage;
    const keys = await this.db.keys({ gte: Buffer.from(g.gte), lt: Buffer.from(g.lt), limit: maxKeys }).all();
    const batch = this.db.batch();
    for (const k of keys) batch.del(k);
    const more = keys.length === maxKeys;
    if (more) batch.put(gk, packr.pack({ gte: Buffer.concat([keys[keys.length - 1], Buffer.from([0])]), lt: g.lt }));
    else batch.del(gk);
    await batch.write();
    return more || head.length > 1;
  }

  /** Non-empty dbs as [db, keys, expires]. */
  keyspaceInfo(): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    this.state.keys.forEach((n, db) => { if (n > 0) out.push([db, n, this.state.expires[db] ?? 0]); });
    return out;
  }
}

// ---------------------------------------------------------------------------------------------------
// ShardStore: open/close + command dispatch
// ---------------------------------------------------------------------------------------------------

function freshState(): ShardState {
  return { replid: null, offset: 0, epochs: [], loading: false, nextVersion: 1, keys: [], expires: [], garbageSeq: 0, format: FORMAT };
}

export class ShardStore extends Keyspace {
  private writes!: WriteTable;
  private reads!: ReadTable;

  /** Open (creating if needed) the shard database at `location`, resolved to its realpath. */
  static async open(location: string, opts: { cacheSize?: number; writeBufferSize?: number; metaCacheEntries?: number } = {}): Promise<ShardStore> {
    let real: string;
    try {
      mkdirSync(location, { recursive: true });
      real = realpathSync(location);
    } catch (e) {
      throw new ParaError('PARAREPLICA_DATA_DIR', `cannot create shard directory ${location}: ${(e as Error).message}; check the path and its permissions`, { location });
    }
    const db = new ClassicLevel<Buffer, Buffer>(real, {
      keyEncoding: 'buffer', valueEncoding: 'buffer',
      cacheSize: opts.cacheSize ?? 32 * 1024 * 1024, writeBufferSize: opts.writeBufferSize ?? 16 * 1024 * 1024,
    });
    try {
      await db.open();
    } catch (e) {
      throw new ParaError('PARAREPLICA_DATA_DIR', `cannot open shard database ${real}: ${(e as Error).message}; is another process using it?`, { location: real });
    }
    let state = freshState();
    const raw = db.getSync(STATE_KEY);
    if (raw !== undefined) {
      const s = packr.unpack(raw) as ShardState;
      if (!s || s.format !== FORMAT) {
        await db.close();
        throw new ParaError('PARAREPLICA_DATA_DIR', `shard database ${real} has state format ${s?.format}, this version reads ${FORMAT}; use a fresh data directory`, { location: real });
      }
      state = { ...freshState(), ...s };
    }
    const store = new ShardStore(db, state);
    if (opts.metaCacheEntries !== undefined) store.metaCacheMax = Math.max(0, opts.metaCacheEntries);
    const cmds = await import('./commands.js');
    store.writes = cmds.writeCommands;
    store.reads = cmds.readCommands;
    return store;
  }

  /**
   * Apply one master command. Returns a Promise only when it had to go async (range reads).
   * Throws PARAREPLICA_UNSUPPORTED_COMMAND for unknown commands; Redis-level failures are counted.
   */
  applyWrite(db: number, argv: Buffer[]): void | Promise<void> {
    const name = argv[0].toString('latin1').toLowerCase();
    const h = this.writes[name];
    if (h === undefined) {
      throw new ParaError('PARAREPLICA_UNSUPPORTED_COMMAND', `cannot apply '${name}': this version does not implement it; upgrade parareplica or stop writing it on the master`, { command: name });
    }
    return h(this, db, argv);
  }

  /** Answer a client read. Unknown commands get an error reply. */
  read(db: number, argv: Buffer[], nowMs: number): unknown | Promise<unknown> {
    const name = argv[0].toString('latin1').toLowerCase();
    const h = this.reads[name];
    if (h === undefined) return { error: `ERR unknown command '${name}'` };
    return h(this, db, argv, nowMs);
  }

  async close(): Promise<void> {
    if (this.committing) await this.committing.catch(() => undefined);
    await this.db.close();
  }
}
