/**
 * RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency], as a
 * replica receives it from its master (spec section 4; payload format spec 5.10):
 *
 *   payload = <RDB type byte> <value as in an RDB file> <RDB version u16 LE> <CRC64 u64 LE over
 *             everything before the CRC>
 *
 * Checks in Redis's order, each failing with Redis's reply text (counted with ks.fail, nothing
 * changed): options ("ERR syntax error"; IDLETIME and FREQ exclude each other; "ERR Invalid
 * IDLETIME value, must be >= 0", "ERR Invalid FREQ value, must be >= 0 and <= 255"), "BUSYKEY
 * Target key name already exists." (without REPLACE), the TTL ("ERR value is not an integer or out
 * of range", "ERR Invalid TTL value, must be >= 0"), the footer ("ERR DUMP payload version or
 * checksum are wrong": shorter than 10 bytes, RDB version above 12, CRC mismatch) and the value
 * ("ERR Bad data format": undecodable, empty collection, duplicate members, NaN scores). Values
 * this version cannot store (streams, modules, hashes with field expiry) fail with a message that
 * names the type. IDLETIME / FREQ are validated only: the replica keeps no LRU / LFU data.
 *
 * The TTL is relative ms (0 = none), or with ABSTTL a unix ms time (0 = none). A time already past
 * is kept on a replica (Keyspace.deleteOnPastExpiry = false); a master would not create the key.
 * The whole value is decoded and validated before the old key is touched, then written through
 * the store's write commands (rdb_load.ts writeElements).
 */
import { ParaError } from '../src/errors.js';
import { crc64Init, crc64Update, crc64EqualsLE } from '../src/rdb/crc64.js';
import { MAX_RDB_VERSION, printableKey } from '../src/rdb/types.js';
import { parseI64 } from '../src/util/numbers.js';
import type { Keyspace } from './keyspace-core.js';
import { arityError, ERR_NOT_INT, ERR_SYNTAX, type WriteTable } from './command-api.js';
import { T_STRING } from './meta.js';
import { readDumpValue, checkValue, type FlatValue } from './rdb_value.js';
import { writeElements } from './rdb_load.js';
import type { MaybePromise } from './sync_or_async.js';

const ERR_BUSYKEY = 'BUSYKEY Target key name already exists.';
const ERR_PAYLOAD = 'ERR DUMP payload version or checksum are wrong';
const ERR_BAD_DATA = 'ERR Bad data format';

/** ASCII case-insensitive comparison of an argument with a lowercase word. */
function is(arg: Buffer, word: string): boolean {
  if (arg.length !== word.length) return false;
  for (let i = 0; i < arg.length; i++) if ((arg[i] | 0x20) !== word.charCodeAt(i)) return false;
  return true;
}

/** True when the payload's footer has a supported RDB version and a matching CRC64. */
export function verifyDumpPayload(p: Buffer): boolean {
  const len = p.length;
  if (len < 10) return false;
  const version = p[len - 10] | (p[len - 9] << 8);
  if (version > MAX_RDB_VERSION) return false;
  const crc = crc64Init();
  crc64Update(crc, p, 0, len - 8);
  return crc64EqualsLE(crc, p, len - 8);
}

function restore(ks: Keyspace, db: number, argv: Buffer[]): MaybePromise<void> {
  if (argv.length < 4) return ks.fail(arityError('restore').error);
  let replace = false, absttl = false, idle = -1, freq = -1;
  for (let j = 4; j < argv.length; j++) {
    const a = argv[j];
    const more = argv.length - j - 1;
    if (is(a, 'replace')) replace = true;
    else if (is(a, 'absttl')) absttl = true;
    else if (is(a, 'idletime') && more >= 1 && freq === -1) {
      const v = parseI64(argv[++j]);
      if (v === null) return ks.fail(ERR_NOT_INT);
      if (v < 0) return ks.fail('ERR Invalid IDLETIME value, must be >= 0');
      idle = Number(v);
    } else if (is(a, 'freq') && more >= 1 && idle === -1) {
      const v = parseI64(argv[++j]);
      if (v === null) return ks.fail(ERR_NOT_INT);
      if (v < 0 || v > 255) return ks.fail('ERR Invalid FREQ value, must be >= 0 and <= 255');
      freq = Number(v);
    } else {
      return ks.fail(ERR_SYNTAX);
    }
  }
  const key = argv[1];
  const r = ks.ref(db, key);
  if (!replace && r.meta !== null) return ks.fail(ERR_BUSYKEY);
  const t = parseI64(argv[2]);
  if (t === null) return ks.fail(ERR_NOT_INT);
  if (t < 0) return ks.fail('ERR Invalid TTL value, must be >= 0');
  const payload = argv[3];
  if (!verifyDumpPayload(payload)) return ks.fail(ERR_PAYLOAD);
  let v: FlatValue;
  try {
    v = readDumpValue(payload, 0, payload.length - 10);
    if (v.kind !== T_STRING && v.flat.length === 0) return ks.fail(ERR_BAD_DATA);   // Redis: empty key
    checkValue(v);
  } catch (e) {
    if (!(e instanceof ParaError)) throw e;
    if (e.code === 'PARAREPLICA_RDB_UNSUPPORTED') return ks.fail(`ERR ${e.message}: RESTORE of "${printableKey(key, 64)}" not applied`);
    if (e.code === 'PARAREPLICA_RDB_CORRUPT') return ks.fail(ERR_BAD_DATA);
    throw e;
  }
  let ttl = Number(t);
  if (ttl !== 0 && !absttl) ttl += Date.now();
  ks.del(r);
  // A master does not create a key whose TTL has already passed (the old one is deleted anyway).
  if (ttl !== 0 && ks.deleteOnPastExpiry && ttl <= Date.now()) return;
  const w = writeElements(ks, db, key, v.kind, v.flat);
  if (w instanceof Promise) return w.then(() => { if (ttl !== 0) setTtl(ks, db, key, ttl); });
  if (ttl !== 0) setTtl(ks, db, key, ttl);
}

function setTtl(ks: Keyspace, db: number, key: Buffer, ms: number): void {
  const r = ks.ref(db, key);
  if (r.meta !== null) ks.setExpire(r, ms);
}

export const restoreWrites: WriteTable = { restore };
