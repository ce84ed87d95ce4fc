/**
 * List reads for clients of the replica: LRANGE, LLEN, LINDEX, LPOS. Logically expired keys are
 * hidden (ks.lookup). Arguments are validated before the key is looked up, as Redis 7.0 does.
 */
import { Keyspace, KeyRef, ReadTable, T_LIST, WRONGTYPE, arityError } from './keyspace.js';
import { parseIndex, clampIndexRange, ERR_NOT_INTEGER } from './zset_codec.js';
import { listLength, listGet, listRange, listScan } from './list_store.js';
import { then } from './sync_or_async.js';

const NOT_INT = { error: ERR_NOT_INTEGER };
const lc = (b: Buffer): string => b.toString('latin1').toLowerCase();

function listFor(ks: Keyspace, db: number, key: Buffer, nowMs: number): KeyRef | null | { error: string } {
  const r = ks.lookup(db, key, nowMs);
  if (r === null) return null;
  return r.meta!.type === T_LIST ? r : WRONGTYPE;
}

/** LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len] */
function lpos(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length < 3) return arityError('lpos');
  let rank = 1, count = -1, maxlen = 0;
  for (let j = 3; j < argv.length; j++) {
    const o = lc(argv[j]);
    if (j + 1 >= argv.length || (o !== 'rank' && o !== 'count' && o !== 'maxlen')) return { error: 'ERR syntax error' };
    const v = parseIndex(argv[++j]);
    if (v === null) return NOT_INT;
    if (o === 'rank') {
      if (v === 0) {
        return { error: "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list" };
      }
      // Redis 7.0 negates the rank in a C long: the most negative value stays negative and then
      // matches from the first hit at the tail (observed on 7.0.15), i.e. it acts as -1.
      rank = v <= -9223372036854775808 ? -1 : v;
    } else if (o === 'count') {
      if (v < 0) return { error: "ERR COUNT can't be negative" };
      count = v;
    } else {
      if (v < 0) return { error: "ERR MAXLEN can't be negative" };
      maxlen = v;
    }
  }
  const r = listFor(ks, db, argv[1], now);
  if (r === null) return count >= 0 ? [] : null;
  if (!(r instanceof KeyRef)) return r;
  const target = argv[2];
  const rev = rank < 0;
  let skip = Math.abs(rank) - 1;
  const want = count === 0 ? Infinity : count < 0 ? 1 : count;
  const found: number[] = [];
  let scanned = 0;
  const scan = listScan(ks, r, rev, (v, i) => {
    if (maxlen !== 0 && scanned++ >= maxlen) return false;
    if (v.length === target.length && Buffer.compare(v, target) === 0) {
      if (skip > 0) skip--;
      else found.push(i);
    }
    return found.length < want;
  });
  return then(scan, () => (count >= 0 ? found : found.length > 0 ? found[0] : null));
}

export const listReads: ReadTable = {
  lrange(ks, db, argv, now) {
    if (argv.length !== 4) return arityError('lrange');
    const s = parseIndex(argv[2]), e = parseIndex(argv[3]);
    if (s === null || e === null) return NOT_INT;
    const r = listFor(ks, db, argv[1], now);
    if (r === null) return [];
    if (!(r instanceof KeyRef)) return r;
    const c = clampIndexRange(s, e, listLength(r.meta!));
    return c === null ? [] : listRange(ks, r, c[0], c[1]);
  },

  llen(ks, db, argv, now) {
    if (argv.length !== 2) return arityError('llen');
    const r = listFor(ks, db, argv[1], now);
    if (r === null) return 0;
    if (!(r instanceof KeyRef)) return r;
    return listLength(r.meta!);
  },

  lindex(ks, db, argv, now) {
    if (argv.length !== 3) return arityError('lindex');
    const r = listFor(ks, db, argv[1], now);
    if (r === null) return null;
    if (!(r instanceof KeyRef)) return r;
    let i = parseIndex(argv[2]);
    if (i === null) return NOT_INT;
    const len = listLength(r.meta!);
    if (i < 0) i += len;
    if (i < 0 || i >= len) return null;
    return listGet(ks, r, i) ?? null;
  },

  lpos,
};
