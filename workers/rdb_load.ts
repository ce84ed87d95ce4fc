/**
 * Snapshot loading on the applier: one RDB_ENTRY load record (src/rdb/load-records.ts, the
 * contract) into the shard's Keyspace, and the chunked value writer RESTORE shares.
 *
 * A record is argv = [key, expireMs, ...parts] with the RDB value type and REC_F_FIRST / REC_F_LAST
 * flags. Values are written through the store's own write commands (SET, RPUSH, SADD, HSET, ZADD,
 * then PEXPIREAT on the last record), so storage layouts stay the business of the type modules.
 * Those commands are synchronous for these arguments; a handler that ever returns a Promise is
 * awaited and the rest chained after it.
 *
 * STRING (type 0): a value longer than 64 KiB comes as several records, each with one or more pieces
 * of it. FIRST creates the key from its pieces, the following records append theirs, LAST sets the
 * expiry. Pieces go through t_string's setString / appendString: past 1 MiB the string is segmented
 * and each append writes only the tail segments (string_segments.ts), so a 512 MiB string loads
 * across many group commits without its value ever being held whole (re-reading the key after a
 * commit reads its meta, not its bytes).
 *
 * Corruption (PARAREPLICA_RDB_CORRUPT, naming the key, db and RDB type): a blob that does not
 * decode, a key present twice, a duplicate member or field (seen as a command adding fewer elements
 * than it was given), a NaN or unparsable score, a failing write command. A collection that
 * decodes to no element is not created (Redis skips such keys).
 */
import { ParaError } from '../src/errors.js';
import { REC_F_FIRST, REC_F_LAST } from '../src/rdb/load-records.js';
import { printableKey, rdbTypeInfo } from '../src/rdb/types.js';
import type { Keyspace } from './keyspace-core.js';
import type { ShardStore } from './shard-store.js';
import { Meta, T_STRING, T_LIST, T_SET, T_ZSET, T_HASH } from './meta.js';
import type { MaybePromise } from './sync_or_async.js';
import { decodeZiplist } from './rdb_decode.js';
import { kindOfRdbType, unsupportedValue, blobElements, quicklist2Node, scoreText, swapPairs } from './rdb_value.js';
import { setString } from './t_string.js';
import { appendString } from './string_segments.js';

/** Elements (list items, members, pairs count as two) per write command. */
const CHUNK = 1024;

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const CMD_SET = B('set'), CMD_PEXPIREAT = B('pexpireat'), MINUS_ONE = B('-1');
const CMD_OF: Buffer[] = [];
CMD_OF[T_LIST] = B('rpush'); CMD_OF[T_SET] = B('sadd'); CMD_OF[T_HASH] = B('hset'); CMD_OF[T_ZSET] = B('zadd');

function corrupt(what: string): never {
  throw new ParaError('PARAREPLICA_RDB_CORRUPT', what);
}

/** Elements a collection holds: set members, hash fields, zset members (lists: not needed, 0). */
function sizeOf(m: Meta | null): number {
  if (m === null) return 0;
  if (m.version !== 0) return m.count;
  switch (m.type) {
    case T_SET: return (m.value as unknown[]).length;
    case T_HASH: case T_ZSET: return (m.value as unknown[]).length >> 1;
    default: return 0;
  }
}

/**
 * Write flat[from..] (FlatValue order, rdb_value.ts) into `key` with the kind's write command, in
 * chunks. The key must be absent or of that kind. Throws PARAREPLICA_RDB_CORRUPT (without the key)
 * when a command fails or adds fewer set members / hash fields / zset members than it was given.
 */
export function writeElements(ks: Keyspace, db: number, key: Buffer, kind: number, flat: Buffer[], from = 0): MaybePromise<void> {
  const st = ks as ShardStore;   // handlers receive the ShardStore as its Keyspace base
  if (kind === T_STRING) {
    if (flat.length - from !== 1) corrupt('a string value must be one part');
    const f0 = ks.failedCommands;
    const r = st.applyWrite(db, [CMD_SET, key, flat[from]]);
    if (r instanceof Promise) return r.then(() => verify(ks, db, key, kind, f0, 0, 0));
    return verify(ks, db, key, kind, f0, 0, 0);
  }
  const cmd = CMD_OF[kind];
  const stride = kind === T_HASH || kind === T_ZSET ? 2 : 1;
  if ((flat.length - from) % stride !== 0) corrupt(`${kind === T_HASH ? 'a hash field' : 'a sorted set member'} without its pair`);
  for (let i = from; i < flat.length;) {
    const n = Math.min(CHUNK, flat.length - i);
    const argv: Buffer[] = new Array(n + 2);
    argv[0] = cmd; argv[1] = key;
    for (let j = 0; j < n; j++) argv[j + 2] = flat[i + j];
    const before = kind === T_LIST ? 0 : sizeOf(ks.ref(db, key).meta);
    const f0 = ks.failedCommands;
    i += n;
    const r = st.applyWrite(db, argv);
    if (r instanceof Promise) {
      const next = i;
      return r.then(() => {
        verify(ks, db, key, kind, f0, before, n / stride);
        return writeElements(ks, db, key, kind, flat, next);
      });
    }
    verify(ks, db, key, kind, f0, before, n / stride);
  }
}

/** After one write command: corrupt if it failed or added fewer elements than it was given. */
function verify(ks: Keyspace, db: number, key: Buffer, kind: number, f0: number, before: number, added: number): void {
  if (ks.failedCommands !== f0) corrupt(`writing the value failed: ${ks.lastFailure}`);
  if (kind === T_STRING || kind === T_LIST) return;
  if (sizeOf(ks.ref(db, key).meta) - before !== added) {
    corrupt(`duplicate ${kind === T_HASH ? 'field' : 'member'} in ${kind === T_SET ? 'a set' : kind === T_HASH ? 'a hash' : 'a sorted set'}`);
  }
}

/**
 * The record's elements in write-command order (FlatValue, rdb_value.ts) for a collection: types
 * whose parts already are in that order (1 list, 2 set, 4 hash) give argv itself, from index 2; the
 * others a new array. (Strings: loadStringPieces.)
 */
function elementsOf(type: number, argv: Buffer[]): Buffer[] {
  switch (type) {
    case 1: case 2: case 4:
      return argv;
    case 3: {
      const flat = argv.slice(2);
      swapPairs(flat, 0);
      for (let i = 0; i < flat.length; i += 2) {
        const s = flat[i];
        if (s.length === 3 && (s[0] | 0x20) === 0x6e && (s[1] | 0x20) === 0x61 && (s[2] | 0x20) === 0x6e) corrupt('a sorted set score is NaN');
      }
      return flat;
    }
    case 5: {
      const flat: Buffer[] = new Array(argv.length - 2);
      if (flat.length % 2 !== 0) corrupt('a sorted set member without its score');
      for (let i = 2; i < argv.length; i += 2) {
        const raw = argv[i + 1];
        if (raw.length !== 8) corrupt(`a binary sorted set score of ${raw.length} bytes (must be 8)`);
        flat[i - 2] = scoreText(raw.readDoubleLE(0));
        flat[i - 1] = argv[i];
      }
      return flat;
    }
    case 14: {
      const flat: Buffer[] = [];
      for (let i = 2; i < argv.length; i++) decodeZiplist(argv[i], flat);
      return flat;
    }
    case 18: {
      if ((argv.length - 2) % 2 !== 0) corrupt('a quicklist node without its container');
      const flat: Buffer[] = [];
      for (let i = 2; i < argv.length; i += 2) quicklist2Node(argv[i], argv[i + 1], flat);
      return flat;
    }
    default: {
      if (argv.length !== 3) corrupt(`a one-blob value in ${argv.length - 2} parts`);
      const flat: Buffer[] = [];
      blobElements(type, argv[2], flat);
      return flat;
    }
  }
}

/**
 * Apply one snapshot load record: argv = [key, expireMs, ...parts]; type = the RDB value type;
 * flags = REC_F_FIRST on the key's first record, REC_F_LAST on its last. Returns a Promise only
 * when a write command had to wait.
 */
export function applyLoadRecord(ks: Keyspace, db: number, type: number, flags: number, argv: Buffer[]): MaybePromise<void> {
  const key = argv[0];
  try {
    if (argv.length < 2) corrupt('the load record has no expiry field');
    const kind = kindOfRdbType(type);
    if (kind < 0) throw unsupportedValue(type);
    // A key twice in one group is caught here; across groups it is not looked up (refNew: no read).
    if (flags & REC_F_FIRST && ks.refNew(db, key).meta !== null) corrupt('the key appears twice in the snapshot');
    let r: MaybePromise<void> = undefined;
    if (kind === T_STRING) loadStringPieces(ks, db, key, (flags & REC_F_FIRST) !== 0, argv);
    else {
      const flat = elementsOf(type, argv);
      const from = flat === argv ? 2 : 0;
      if (flat.length > from) r = writeElements(ks, db, key, kind, flat, from);
    }
    const last = (flags & REC_F_LAST) !== 0 && !argv[1].equals(MINUS_ONE);
    if (r instanceof Promise) return r.then(() => (last ? expire(ks, db, key, argv[1]) : undefined)).catch((e) => { throw named(e, key, db, type); });
    if (last) {
      const e = expire(ks, db, key, argv[1]);
      if (e instanceof Promise) return e.catch((x) => { throw named(x, key, db, type); });
    }
  } catch (e) {
    throw named(e, key, db, type);
  }
}

/** A string record's pieces (argv[2..]): the first record creates the key, the others append. */
function loadStringPieces(ks: Keyspace, db: number, key: Buffer, first: boolean, argv: Buffer[]): void {
  if (argv.length < 3) corrupt('a string record without any piece of the value');
  const r = first ? ks.refNew(db, key) : ks.ref(db, key);   // after a commit: its meta from LevelDB
  let i = 2;
  if (first) setString(ks, r, argv[i++], -1);
  else if (r.meta === null || r.meta.type !== T_STRING) corrupt('a piece of a string value without its first record');
  for (; i < argv.length; i++) appendString(ks, r, argv[i]);
}

function expire(ks: Keyspace, db: number, key: Buffer, ms: Buffer): MaybePromise<void> {
  const f0 = ks.failedCommands;
  const r = (ks as ShardStore).applyWrite(db, [CMD_PEXPIREAT, key, ms]);
  if (r instanceof Promise) return r.then(() => verify(ks, db, key, T_STRING, f0, 0, 0));
  verify(ks, db, key, T_STRING, f0, 0, 0);
}

/** A corruption or unsupported-type error with the key, db and RDB type in its message. */
function named(e: unknown, key: Buffer | undefined, db: number, type: number): unknown {
  if (!(e instanceof ParaError) || e.details.key !== undefined) return e;
  if (e.code !== 'PARAREPLICA_RDB_CORRUPT' && e.code !== 'PARAREPLICA_RDB_UNSUPPORTED') return e;
  const k = key === undefined ? '?' : printableKey(key);
  const name = rdbTypeInfo(type)?.name ?? 'UNKNOWN';
  const what = e.code === 'PARAREPLICA_RDB_CORRUPT'
    ? `is corrupt: ${e.message}; the snapshot cannot be loaded — resynchronise from the master (and check its disk if this repeats)`
    : `cannot be loaded: ${e.message}; upgrade parareplica, or remove such keys from the master`;
  return new ParaError(e.code, `snapshot key "${k}" (db ${db}, RDB type ${type} ${name}) ${what}`,
    { ...e.details, key: k, db, type, typeName: name });
}
