/**
 * List commands for the shard engine. Writes arrive as the master propagates them (spec section 4):
 * LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP / RPOP with an optional count (also what BLPOP, BRPOP, LMPOP
 * and BLMPOP become), LSET, LINSERT, LREM, LTRIM.
 *
 * A write Redis would refuse (bad arguments, WRONGTYPE, LSET out of range or on a missing key)
 * changes nothing and is counted with ks.fail(). Empty lists are deleted, as in Redis.
 *
 * Reads live in list_read.ts; the storage layout and its cost model in list_store.ts.
 */
import { Keyspace, KeyRef, WriteTable, T_LIST } from './keyspace.js';
import { parseIndex, ERR_NOT_INTEGER } from './zset_codec.js';
import {
  listLength, listPush, listDrop, listSet, listRange, listScan, replacePrefix, replaceSuffix,
  listRebuild,
} from './list_store.js';
import { listReads } from './list_read.js';
import { then, type MaybePromise } from './sync_or_async.js';

export { listReads };

const WRONGTYPE_MSG = 'WRONGTYPE Operation against a key holding the wrong kind of value';
const lc = (b: Buffer): string => b.toString('latin1').toLowerCase();
const arity = (ks: Keyspace, argv: Buffer[]): void =>
  ks.fail(`ERR wrong number of arguments for '${lc(argv[0])}' command`);
const same = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && Buffer.compare(a, b) === 0;

/** An existing list for a write, or null (absent, or WRONGTYPE already counted). */
function existing(ks: Keyspace, db: number, key: Buffer): KeyRef | null {
  const r = ks.ref(db, key);
  if (r.meta === null) return null;
  if (r.meta.type !== T_LIST) { ks.fail(WRONGTYPE_MSG); return null; }
  return r;
}

/** LPUSH / RPUSH / LPUSHX / RPUSHX key element [element …] */
function push(ks: Keyspace, db: number, argv: Buffer[], left: boolean, onlyIfExists: boolean): void {
  if (argv.length < 3) return arity(ks, argv);
  const r = ks.ref(db, argv[1]);
  if (r.meta === null) {
    if (onlyIfExists) return;
    ks.create(r, T_LIST, [] as Buffer[]);
  } else if (r.meta.type !== T_LIST) {
    return ks.fail(WRONGTYPE_MSG);
  }
  listPush(ks, r, argv, 2, left);
}

/** LPOP / RPOP key [count] (no reply on a replica, so nothing is read back). */
function pop(ks: Keyspace, db: number, argv: Buffer[], left: boolean): void {
  if (argv.length !== 2 && argv.length !== 3) return arity(ks, argv);
  let n = 1;
  if (argv.length === 3) {
    const c = parseIndex(argv[2]);
    if (c === null || c < 0) return ks.fail('ERR value is out of range, must be positive');
    n = c;
  }
  const r = existing(ks, db, argv[1]);
  if (r === null || n === 0) return;
  listDrop(ks, r, Math.min(n, listLength(r.meta!)), left);
}

/** LSET key index element */
function lset(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 4) return arity(ks, argv);
  const r = ks.ref(db, argv[1]);
  if (r.meta === null) return ks.fail('ERR no such key');
  if (r.meta.type !== T_LIST) return ks.fail(WRONGTYPE_MSG);
  let i = parseIndex(argv[2]);
  if (i === null) return ks.fail(ERR_NOT_INTEGER);
  const len = listLength(r.meta);
  if (i < 0) i += len;
  if (i < 0 || i >= len) return ks.fail('ERR index out of range');
  listSet(ks, r, i, argv[3]);
}

/** LINSERT key BEFORE|AFTER pivot element: rewrites towards the nearer end (list_store.ts). */
function linsert(ks: Keyspace, db: number, argv: Buffer[]): MaybePromise<void> {
  if (argv.length !== 5) return arity(ks, argv);
  const where = lc(argv[2]);
  if (where !== 'before' && where !== 'after') return ks.fail('ERR syntax error');
  const r = existing(ks, db, argv[1]);
  if (r === null) return;
  const pivot = argv[3];
  const len = listLength(r.meta!);
  const seen: Buffer[] = [];
  let p = -1;
  const scan = listScan(ks, r, false, (v, i) => {
    seen.push(v);
    if (same(v, pivot)) { p = i; return false; }
    return true;
  });
  return then(scan, () => {
    if (p < 0) return;
    const q = where === 'after' ? p + 1 : p; // index the new element gets
    if (q <= len - q) {
      const head = seen.slice(0, q);
      head.push(argv[4]);
      return replacePrefix(ks, r, q, head);
    }
    return then(q < len ? listRange(ks, r, q, len - 1) : [], (tail) => {
      replaceSuffix(ks, r, q, [argv[4], ...tail]);
    });
  });
}

/** LREM key count element: count > 0 from the left, < 0 from the right, 0 all. */
function lrem(ks: Keyspace, db: number, argv: Buffer[]): MaybePromise<void> {
  if (argv.length !== 4) return arity(ks, argv);
  const count = parseIndex(argv[2]);
  if (count === null) return ks.fail(ERR_NOT_INTEGER);
  const r = existing(ks, db, argv[1]);
  if (r === null) return;
  const target = argv[3];
  const len = listLength(r.meta!);
  const want = count === 0 ? Infinity : Math.abs(count);
  const rev = count < 0;
  // Scan from the chosen end until `want` matches; `seen` holds the scanned elements in scan order.
  const seen: Buffer[] = [];
  const hits: boolean[] = [];
  let removed = 0, firstHit = -1, lastHit = -1;
  const scan = listScan(ks, r, rev, (v, i) => {
    const hit = same(v, target);
    seen.push(v); hits.push(hit);
    if (hit) {
      removed++;
      if (firstHit < 0) firstHit = i;
      lastHit = i;
    }
    return removed < want;
  });
  return then(scan, () => {
    if (removed === 0) return;
    if (rev) { seen.reverse(); hits.reverse(); }
    // Left-to-right index range [lo, hi] of the scan and of the span that must change.
    const lo = rev ? len - seen.length : 0;
    const spanLo = Math.min(firstHit, lastHit), spanHi = Math.max(firstHit, lastHit);
    const kept = (from: number, to: number): Buffer[] => {
      const out: Buffer[] = [];
      for (let i = from; i <= to; i++) if (!hits[i - lo]) out.push(seen[i - lo]);
      return out;
    };
    // Rewrite towards the cheaper end that the scan covered: the prefix [0, spanHi] or the suffix
    // [spanLo, len). A scan from the left covers the prefix; from the right the suffix; a full scan
    // (count 0) covers both.
    const prefixCost = spanHi + 1, suffixCost = len - spanLo;
    const usePrefix = count > 0 || (count === 0 && prefixCost <= suffixCost);
    if (usePrefix) replacePrefix(ks, r, spanHi + 1, kept(0, spanHi));
    else replaceSuffix(ks, r, spanLo, kept(spanLo, len - 1));
  });
}

/** LTRIM key start stop */
function ltrim(ks: Keyspace, db: number, argv: Buffer[]): MaybePromise<void> {
  if (argv.length !== 4) return arity(ks, argv);
  let start = parseIndex(argv[2]), end = parseIndex(argv[3]);
  if (start === null || end === null) return ks.fail(ERR_NOT_INTEGER);
  const r = existing(ks, db, argv[1]);
  if (r === null) return;
  const len = listLength(r.meta!);
  if (start < 0) start += len;
  if (end < 0) end += len;
  if (start < 0) start = 0;
  if (start > end || start >= len) { ks.del(r); return; }
  if (end >= len) end = len - 1;
  const left = start, right = len - end - 1;
  const keep = len - left - right;
  if (r.meta!.version !== 0 && keep < left + right) {
    // Copying the few survivors to a fresh layout beats deleting the many others one by one.
    return then(listRange(ks, r, start, end), (kept) => listRebuild(ks, r, kept));
  }
  if (left > 0) listDrop(ks, r, left, true);
  if (right > 0) listDrop(ks, r, right, false);
}

export const listWrites: WriteTable = {
  lpush: (ks, db, argv) => push(ks, db, argv, true, false),
  rpush: (ks, db, argv) => push(ks, db, argv, false, false),
  lpushx: (ks, db, argv) => push(ks, db, argv, true, true),
  rpushx: (ks, db, argv) => push(ks, db, argv, false, true),
  lpop: (ks, db, argv) => pop(ks, db, argv, true),
  rpop: (ks, db, argv) => pop(ks, db, argv, false),
  lset,
  linsert,
  lrem,
  ltrim,
};
