/**
 * LevelDB key layout of a shard database, and the records that are not per-key data (shard state,
 * garbage ranges). Nothing else builds LevelDB keys by hand.
 *
 * ## LevelDB layout (all integers big-endian)
 *
 *   meta record    [db u16][epoch u32][0x00][redis key]               → encoded Meta (meta.ts)
 *   member record  [db u16][epoch u32][0x01][version u32][member part] → member value
 *   state record   [0xFF 0xFF][0x53 'S']                               → msgpack ShardState
 *   garbage range  [0xFF 0xFF][0x47 'G'][seq u32]                      → msgpack { gte, lt }
 *   outbox entry   [0xFF 0xFF][0x58 'X'][offset u64][sub u32][dest u16] → packed exchange export
 *
 * Redis db numbers stop at 0xFFFE: 0xFFFF is the reserved prefix. The member record does not repeat
 * the Redis key: versions are unique in the shard (a persisted counter), and keeping `[db][epoch]` in
 * front means one FLUSHDB range `[db][oldEpoch] .. [db][oldEpoch+1]` covers metas and members alike.
 * Deleting a per-member collection = delete its meta + one garbage range `[db][epoch][0x01][version]`.
 *
 * Small collections (≤ INLINE_MAX_ENTRIES entries, each ≤ INLINE_MAX_BYTES) keep the whole value in
 * `meta.value` (msgpack); bigger ones keep members as member records and `meta.value` holds optional
 * type-specific extra data (e.g. list head/tail) or null.
 *
 * The background reclaim (Keyspace.reclaimStep) deletes garbage ranges oldest first; its progress
 * and its deletions go in one batch, so a crash in the middle only repeats some deletes.
 */
import { Packr } from 'msgpackr';

/**
 * Version of the on-disk format, stored in the state record. 2: inline collection values use the
 * flat-array encoding of meta.ts (flags & 8) instead of msgpack. 3: strings over 1 MiB may be
 * segmented (string_segments.ts), which a format-2 reader would take for empty strings.
 */
export const FORMAT = 3;
/** Formats this version opens: format 2 is format 3 without segmented strings (upgraded on open). */
export const READABLE_FORMATS: readonly number[] = [2, 3];
export const STATE_KEY = Buffer.from([0xff, 0xff, 0x53]);
export const GARBAGE_PREFIX = Buffer.from([0xff, 0xff, 0x47]);
export const GARBAGE_END = Buffer.from([0xff, 0xff, 0x48]);
/** Exports of cross-shard exchanges kept until their destination has committed (workers/exchange.ts). */
export const OUTBOX_PREFIX = Buffer.from([0xff, 0xff, 0x58]);
export const OUTBOX_END = Buffer.from([0xff, 0xff, 0x59]);

export function outboxKey(offset: number, sub: number, dest: number): Buffer {
  const k = Buffer.allocUnsafe(17);
  OUTBOX_PREFIX.copy(k, 0); k.writeBigUInt64BE(BigInt(offset), 3); k.writeUInt32BE(sub, 11); k.writeUInt16BE(dest, 15);
  return k;
}

export function parseOutboxKey(k: Buffer): { offset: number; sub: number; dest: number } {
  return { offset: Number(k.readBigUInt64BE(3)), sub: k.readUInt32BE(11), dest: k.readUInt16BE(15) };
}
/** Length of `[db u16][epoch u32][0x00]` in front of the Redis key in a meta record key. */
export const META_KEY_HEAD = 7;

/** msgpack codec of record values (meta payloads, state record, garbage ranges). */
export const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** Persistent state of one shard: written in every commit batch, with the data it describes. */
export interface ShardState {
  replid: string | null;
  /** Applied replication offset (every command up to it is in this shard's data). */
  offset: number;
  /**
   * Home of each Redis db (index = db; missing entries: the db itself): the db number its records
   * are stored under. SWAPDB swaps two entries. Every other per-db array is indexed by home.
   */
  homes: number[];
  /** Current epoch of each home; missing entries are `baseEpoch`. */
  epochs: number[];
  /** Epoch of the homes `epochs` does not list (0 in states written before full-sync views). */
  baseEpoch?: number;
  /** A full sync is loading into the live view (see `prev`). */
  loading: boolean;
  /**
   * The load ended on this shard (SYNC_END) but is not committed yet (SYNC_COMMIT, sent once every
   * shard ended): `prev` and `prevApplied` are kept, so that a restart can still go back if another
   * shard did not finish (the main thread decides for all shards: src/engine/load-recovery.ts).
   */
  loadEnded?: boolean;
  /**
   * While loading or ended: the view from before the full sync (what clients read until the load
   * completes, and what a load interrupted by a link drop or a crash goes back to). Null otherwise.
   */
  prev?: DbView | null;
  /** While loading or ended: the applied offset and replid from before the full sync. */
  prevApplied?: { offset: number; replid: string | null } | null;
  /** Next per-member collection version (never reused). */
  nextVersion: number;
  /** Keys per home (expired-but-present keys included, as DBSIZE). */
  keys: number[];
  /** Keys with an expiry per home. */
  expires: number[];
  /** Next garbage-range record sequence number. */
  garbageSeq: number;
  format: number;
}

/** Where the Redis dbs' data is: the part of ShardState that a full sync replaces at once. */
export interface DbView { homes: number[]; epochs: number[]; baseEpoch: number; keys: number[]; expires: number[] }

/** A deep copy of the view fields of a state. */
export function viewOf(s: Omit<DbView, 'baseEpoch'> & { baseEpoch?: number }): DbView {
  return { homes: [...s.homes], epochs: [...s.epochs], baseEpoch: s.baseEpoch ?? 0, keys: [...s.keys], expires: [...s.expires] };
}

/** A dead key range `[gte, lt)` to reclaim in the background. */
export interface Garbage { gte: Buffer; lt: Buffer }

export function freshState(): ShardState {
  return { replid: null, offset: 0, homes: [], epochs: [], baseEpoch: 0, prev: null, loading: false, loadEnded: false, prevApplied: null, nextVersion: 1, keys: [], expires: [], garbageSeq: 0, format: FORMAT };
}

/** A deep copy of a state (its per-db arrays are not shared with the original). */
export function copyState(s: ShardState): ShardState {
  return { ...s, homes: [...s.homes], epochs: [...s.epochs], baseEpoch: s.baseEpoch ?? 0, keys: [...s.keys], expires: [...s.expires],
    prev: s.prev ? viewOf(s.prev) : null, prevApplied: s.prevApplied ? { ...s.prevApplied } : null };
}

/** Grow a per-db counter array with zeros so that index `db` exists (msgpack has no holes). */
export function fillTo(a: number[], db: number): void {
  while (a.length <= db) a.push(0);
}

/** Key of the meta record of Redis key `key` in `db` at `epoch`. */
export function metaKey(db: number, epoch: number, key: Buffer): Buffer {
  const n = key.length;
  const b = Buffer.allocUnsafe(META_KEY_HEAD + n);
  b[0] = db >>> 8; b[1] = db & 0xff;
  b[2] = epoch >>> 24; b[3] = (epoch >>> 16) & 0xff; b[4] = (epoch >>> 8) & 0xff; b[5] = epoch & 0xff;
  b[6] = 0;
  if (n <= 64) for (let i = 0; i < n; i++) b[META_KEY_HEAD + i] = key[i];   // cheaper than a native copy
  else key.copy(b, META_KEY_HEAD);
  return b;
}

/** Common prefix of the member records of collection `version` in `db` at `epoch`. */
export function memberPrefix(db: number, epoch: number, version: number): Buffer {
  const b = Buffer.allocUnsafe(11);
  b.writeUInt16BE(db, 0); b.writeUInt32BE(epoch, 2); b[6] = 1; b.writeUInt32BE(version, 7);
  return b;
}

/** Prefix of every record (metas and members) of `db` at `epoch`: the FLUSHDB garbage range. */
export function epochPrefix(db: number, epoch: number): Buffer {
  const b = Buffer.allocUnsafe(6);
  b.writeUInt16BE(db, 0); b.writeUInt32BE(epoch, 2);
  return b;
}

/** Key of garbage-range record number `seq`. */
export function garbageKey(seq: number): Buffer {
  const k = Buffer.allocUnsafe(7);
  GARBAGE_PREFIX.copy(k, 0); k.writeUInt32BE(seq, 3);
  return k;
}

/** Smallest key greater than every key starting with `prefix` (prefix never all 0xFF here). */
export function prefixEnd(prefix: Buffer): Buffer {
  const b = Buffer.from(prefix);
  let i = b.length - 1;
  while (i >= 0 && b[i] === 0xff) i--;
  b[i]++;
  return b.subarray(0, i + 1);
}
