/**
 * RDB opcodes and value types (spec 5.4, 5.5), with the names used in error messages.
 */
import { ParaError } from '../errors.js';

/** Redis 7.4+ in cluster mode (RDB 12): <length slot> <length slot size> <length expires size>, a hint. */
export const OP_SLOT_INFO = 0xf4;
export const OP_FUNCTION2 = 0xf5;
export const OP_FUNCTION = 0xf6;
export const OP_MODULE_AUX = 0xf7;
export const OP_IDLE = 0xf8;
export const OP_FREQ = 0xf9;
export const OP_AUX = 0xfa;
export const OP_RESIZEDB = 0xfb;
export const OP_EXPIRETIME_MS = 0xfc;
export const OP_EXPIRETIME = 0xfd;
export const OP_SELECTDB = 0xfe;
export const OP_EOF = 0xff;

export const TYPE_STRING = 0;

/** Module-serialised data opcodes (spec 5.7.9). */
export const MODULE_OP_EOF = 0;
export const MODULE_OP_SINT = 1;
export const MODULE_OP_UINT = 2;
export const MODULE_OP_FLOAT = 3;
export const MODULE_OP_DOUBLE = 4;
export const MODULE_OP_STRING = 5;

export const MIN_RDB_VERSION = 1;
export const MAX_RDB_VERSION = 12;
/** The CRC64 trailer exists from this version on. */
export const CHECKSUM_SINCE = 5;

interface TypeInfo {
  /** What the key is, for messages: "a sorted set". */
  noun: string;
  /** The type's name in the RDB format. */
  name: string;
}

const TYPES: (TypeInfo | undefined)[] = [];
function def(type: number, noun: string, name: string): void {
  TYPES[type] = { noun, name };
}
def(0, 'a string', 'STRING');
def(1, 'a list', 'LIST');
def(2, 'a set', 'SET');
def(3, 'a sorted set', 'ZSET');
def(4, 'a hash', 'HASH');
def(5, 'a sorted set', 'ZSET_2');
def(6, 'a module value', 'MODULE');
def(7, 'a module value', 'MODULE_2');
def(9, 'a hash', 'HASH_ZIPMAP');
def(10, 'a list', 'LIST_ZIPLIST');
def(11, 'a set', 'SET_INTSET');
def(12, 'a sorted set', 'ZSET_ZIPLIST');
def(13, 'a hash', 'HASH_ZIPLIST');
def(14, 'a list', 'LIST_QUICKLIST');
def(15, 'a stream', 'STREAM_LISTPACKS');
def(16, 'a hash', 'HASH_LISTPACK');
def(17, 'a sorted set', 'ZSET_LISTPACK');
def(18, 'a list', 'LIST_QUICKLIST_2');
def(19, 'a stream', 'STREAM_LISTPACKS_2');
def(20, 'a set', 'SET_LISTPACK');
def(21, 'a stream', 'STREAM_LISTPACKS_3');
// Hashes with per-field expiry (Redis 7.4 / 8, RDB 12).
def(22, 'a hash with field expiry', 'HASH_METADATA_PRE_GA');
def(23, 'a hash with field expiry', 'HASH_LISTPACK_EX_PRE_GA');
def(24, 'a hash with field expiry', 'HASH_METADATA');
def(25, 'a hash with field expiry', 'HASH_LISTPACK_EX');

/** Type info for a value-type byte, or undefined if the byte is not a value type. */
export function rdbTypeInfo(type: number): TypeInfo | undefined {
  return TYPES[type];
}

/**
 * A key (or any binary string) as printable text for messages: printable ASCII as is, `"` and `\`
 * escaped, \n \r \t named, other bytes as \xHH; cut to `max` bytes with "…" after.
 */
export function printableKey(key: Uint8Array, max = 120): string {
  let s = '';
  const n = Math.min(key.length, max);
  for (let i = 0; i < n; i++) {
    const c = key[i];
    if (c === 0x22) s += '\\"';
    else if (c === 0x5c) s += '\\\\';
    else if (c === 0x0a) s += '\\n';
    else if (c === 0x0d) s += '\\r';
    else if (c === 0x09) s += '\\t';
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += '\\x' + c.toString(16).padStart(2, '0');
  }
  if (key.length > max) s += '…';
  return s;
}

/** Stream and MODULE_2 values: readable to their end, so --skip-errors can leave them out. */
export function isSkippableType(type: number): boolean {
  return type === 7 || type === 15 || type === 19 || type === 21;
}

/**
 * The error for a key whose value type this version does not load: streams and MODULE_2 values
 * (skippable with --skip-errors), MODULE values (never skippable), hashes with field expiry.
 */
export function unsupportedType(keyBytes: Uint8Array, db: number, type: number, offset: number): ParaError {
  const info = TYPES[type];
  const key = printableKey(keyBytes);
  const typeName = info?.name ?? 'UNKNOWN';
  const what = `snapshot key "${key}" (db ${db}) is ${info?.noun ?? 'a value'} (RDB type ${type} ${typeName})`;
  let why: string;
  if (isSkippableType(type)) {
    why = 'parareplica cannot load such values — start the replica with --skip-errors to load the snapshot without such keys';
  } else if (type === 6) {
    why = 'a MODULE value of the old format cannot be read past without its module, so this snapshot cannot be loaded ' +
      '(not even with --skip-errors) — delete such keys on the master';
  } else {
    why = 'hash field expiry comes from Redis 7.4 or later, which parareplica does not replicate; this snapshot cannot be ' +
      'loaded — replicate a Redis 7.0-7.2 master';
  }
  return new ParaError('PARAREPLICA_RDB_UNSUPPORTED', `${what}; ${why}`, { key, db, type, typeName, offset });
}

/** A corruption error, retold with the key it was found in (name when known, db, value type). */
export function corruptInKey(e: ParaError, keyBytes: Uint8Array | null, db: number, type: number): ParaError {
  const typeName = TYPES[type]?.name ?? 'UNKNOWN';
  const details: Record<string, unknown> = { ...e.details, db, type, typeName };
  let where: string;
  if (keyBytes !== null) {
    const key = printableKey(keyBytes);
    details.key = key;
    where = `in key "${key}" (db ${db}, RDB type ${type} ${typeName})`;
  } else {
    where = `in the name of a key (db ${db}, RDB type ${type} ${typeName})`;
  }
  const m = /^snapshot is corrupt at byte \d+/.exec(e.message);
  const message = m !== null ? `${m[0]}, ${where}${e.message.slice(m[0].length)}` : `${e.message} (${where})`;
  return new ParaError('PARAREPLICA_RDB_CORRUPT', message, details);
}
