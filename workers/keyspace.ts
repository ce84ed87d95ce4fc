/**
 * Shard storage engine: one LevelDB (classic-level) per shard, a write-combining overlay in front of
 * it, group commit, epochs for FLUSHDB/FLUSHALL, discard of a failed group and background reclaim of
 * dead ranges. This module is the engine's public face: command modules, the applier and the tests
 * import everything from here. The parts, one concern per file:
 *
 *   layout.ts        LevelDB key layout (meta/member/state/garbage records), key builders, ShardState
 *   meta.ts          type codes, Meta and its byte codec, KeyRef, SegMeta (a segmented string)
 *   meta-cache.ts    the bounded cache of committed, decoded metas
 *   string_segments.ts  strings over 1 MiB in 256 KiB segments: byte-range reads and writes, commit
 *   command-api.ts   handler and dispatch-table types, range options, reply constants, error texts
 *   ranges.ts        range reads merged with the overlay, background reclaim of garbage ranges
 *   keyspace-core.ts Keyspace: overlay, refs, members/scanMetas, epochs, commit, discard, reclaim
 *   shard-store.ts   ShardStore: open/close (format check) and write/read dispatch to commands.ts
 *
 * Load order: every part above imports its siblings directly, never this module, so importing this
 * module (or any part) first is safe; only commands.ts, loaded lazily by ShardStore.open(), comes
 * back here.
 */
export {
  T_STRING, T_LIST, T_SET, T_ZSET, T_HASH, T_STREAM, TYPE_NAMES, INLINE_MAX_ENTRIES, INLINE_MAX_BYTES,
  KeyRef, SegMeta, STRING_SEG, STRING_SEG_MIN, encodeMeta, decodeMeta,
} from './meta.js';
export type { Meta } from './meta.js';
export type { ShardState } from './layout.js';
export type { WriteHandler, ReadHandler, WriteTable, ReadTable, RangeOptions } from './command-api.js';
export {
  WRONGTYPE, OK, ERR_NOT_INT, ERR_SYNTAX, ERR_OVERFLOW, ERR_NOT_FLOAT, ERR_NAN_INF, EMPTY, arityError,
  compareBytes, sameBytes,
} from './command-api.js';
export { Keyspace } from './keyspace-core.js';
export { ShardStore } from './shard-store.js';
