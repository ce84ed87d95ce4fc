/**
 * Sorted-set storage on top of the shard Keyspace: the two layouts and the primitive operations the
 * ZSET commands (t_zset.ts, zset_read.ts) are built from.
 *
 * Inline layout (≤ 128 members, each ≤ 64 bytes, as Redis's listpack): `meta.value` is one flat
 * msgpack array [member0, score0, member1, score1, …] kept sorted by (score, member bytes). Lookups
 * by member are linear scans (at most 128), inserts a binary search + splice.
 *
 * Per-member layout (bigger zsets; never converted back, like Redis's skiplist): two record kinds
 * under the collection's version, told apart by the first byte of the member part:
 *
 *   [0x00][member]                 → score, IEEE-754 binary64 big-endian (sign of -0 kept)
 *   [0x01][score encoding][member] → the score index, iterated for rank/score ranges
 *                                    (order-preserving encoding, zset_codec.ts; -0 sorts as 0);
 *                                    value empty, or [0x01] when the score is -0
 *
 * Keys in the index sort by score, then by member bytes (memcmp): exactly Redis's order. The
 * member records sort by member bytes, which is the lex order ZRANGEBYLEX means when all scores are
 * equal (the only case Redis defines). `meta.count` holds the member count.
 *
 * -0: Redis 7.0.15 prints a listpack score of -0 as "0" but keeps "-0" in a skiplist (observed:
 * `ZADD k -0 <65-byte member>` then ZSCORE → "-0"). So inline scores are normalised to 0 and
 * per-member scores keep their sign; both layouts order -0 and 0 as equal, ties by member.
 *
 * Cost notes: score/rank-range reads and writes are iterator walks from the nearer end, so rank
 * operations cost O(rank) rather than Redis's O(log n); ZSCORE / ZADD / ZREM are O(1) point ops.
 */
import { Keyspace, KeyRef, Meta, INLINE_MAX_ENTRIES, INLINE_MAX_BYTES } from './keyspace.js';
import type { MaybePromise } from './sync_or_async.js';
import {
  encodeScore, decodeScore, compareEntries, sameBytes, ScoreRange, LexRange, scoreRangeEmpty, lexRangeEmpty,
  scoreGteMin, scoreLteMax, lexGteMin, lexLteMax,
} from './zset_codec.js';

/** Inline value: [member, score, member, score, …] sorted by (score, member). */
export type FlatZset = Array<Buffer | number>;
export interface ZEntry { m: Buffer; s: number }

const MREC = 0x00;
const IREC = 0x01;
const M_START = Buffer.from([MREC]);
const I_START = Buffer.from([IREC]);
const I_END = Buffer.from([IREC + 1]);
const EMPTY = Buffer.alloc(0);

function mPart(member: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(1 + member.length);
  b[0] = MREC;
  b.set(member, 1);
  return b;
}

function iPart(enc: Uint8Array, member: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(9 + member.length);
  b[0] = IREC;
  b.set(enc, 1);
  b.set(member, 9);
  return b;
}

/** Smallest byte string greater than every string starting with b. */
function after(b: Buffer): Buffer {
  const c = Buffer.from(b);
  let i = c.length - 1;
  while (i >= 0 && c[i] === 0xff) i--;
  c[i]++;
  return c.subarray(0, i + 1);
}

const NEG_ZERO = Buffer.from([1]);
/** Index value for a score: marks -0, whose sign the order-preserving encoding drops. */
const indexValue = (s: number): Buffer => (Object.is(s, -0) ? NEG_ZERO : EMPTY);
const entryOf = (part: Buffer, val: Buffer): ZEntry =>
  ({ m: part.subarray(9), s: val.length > 0 ? -0 : decodeScore(part, 1) });

function rawScore(s: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleBE(s, 0);
  return b;
}

export function zsetLength(m: Meta): number {
  return m.version === 0 ? (m.value as FlatZset).length >> 1 : m.count;
}

function flatFind(f: FlatZset, member: Uint8Array): number {
  for (let i = 0; i < f.length; i += 2) if (sameBytes(f[i] as Buffer, member)) return i;
  return -1;
}

function flatInsert(f: FlatZset, member: Buffer, score: number): void {
  let lo = 0, hi = f.length >> 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compareEntries(f[2 * mid + 1] as number, f[2 * mid] as Buffer, score, member) < 0) lo = mid + 1;
    else hi = mid;
  }
  f.splice(2 * lo, 0, member, score);
}

/** Score of a member, or undefined. */
export function zsetScore(ks: Keyspace, r: KeyRef, member: Buffer): number | undefined {
  const m = r.meta!;
  if (m.version === 0) {
    const f = m.value as FlatZset;
    const i = flatFind(f, member);
    return i < 0 ? undefined : (f[i + 1] as number);
  }
  const v = ks.getMember(r, mPart(member));
  return v === undefined ? undefined : v.readDoubleBE(0);
}

/** Move an inline zset to the per-member layout. */
function convert(ks: Keyspace, r: KeyRef): void {
  const f = r.meta!.value as FlatZset;
  ks.toPerMember(r, null);
  for (let i = 0; i < f.length; i += 2) {
    const member = f[i] as Buffer;
    const s = f[i + 1] as number;
    ks.putMember(r, mPart(member), rawScore(s));
    ks.putMember(r, iPart(encodeScore(s), member), EMPTY); // inline scores are never -0
  }
  r.meta!.count = f.length >> 1;
}

/**
 * Set member's score. `old` is its current score (undefined when new); score must differ from it
 * and must not be NaN. Converts to the per-member layout when Redis would leave listpack (the
 * 129th member, or a member over 64 bytes; a new zset whose first member is over 64 bytes thus
 * starts per-member, as Redis creates a skiplist then).
 */
export function zsetSet(ks: Keyspace, r: KeyRef, member: Buffer, score: number, old: number | undefined): void {
  const m = r.meta!;
  if (m.version === 0) {
    const f = m.value as FlatZset;
    if (old !== undefined) {
      f.splice(flatFind(f, member), 2);
    } else if ((f.length >> 1) + 1 > INLINE_MAX_ENTRIES || member.length > INLINE_MAX_BYTES) {
      convert(ks, r);
      zsetSet(ks, r, member, score, undefined);
      return;
    }
    flatInsert(f, member, score === 0 ? 0 : score); // listpack keeps no -0
    ks.dirty(r);
    return;
  }
  if (old !== undefined) ks.delMember(r, iPart(encodeScore(old), member));
  else { m.count++; ks.dirty(r); }
  ks.putMember(r, mPart(member), rawScore(score));
  ks.putMember(r, iPart(encodeScore(score), member), indexValue(score));
}

/**
 * Remove entries (with their current scores). For inline zsets the entries must be the objects
 * returned by this module's range functions or carry the stored member bytes. Deletes the key
 * when it becomes empty.
 */
export function zsetRemove(ks: Keyspace, r: KeyRef, entries: ZEntry[]): void {
  if (entries.length === 0) return;
  const m = r.meta!;
  if (m.version === 0) {
    const f = m.value as FlatZset;
    for (const e of entries) {
      const i = flatFind(f, e.m);
      if (i >= 0) f.splice(i, 2);
    }
    if (f.length === 0) ks.del(r); else ks.dirty(r);
    return;
  }
  for (const e of entries) {
    ks.delMember(r, mPart(e.m));
    ks.delMember(r, iPart(encodeScore(e.s), e.m));
  }
  m.count -= entries.length;
  if (m.count <= 0) ks.del(r); else ks.dirty(r);
}

function flatEntries(f: FlatZset, from: number, to: number, rev: boolean): ZEntry[] {
  const out: ZEntry[] = [];
  if (rev) for (let i = to - 1; i >= from; i--) out.push({ m: f[2 * i] as Buffer, s: f[2 * i + 1] as number });
  else for (let i = from; i < to; i++) out.push({ m: f[2 * i] as Buffer, s: f[2 * i + 1] as number });
  return out;
}

/** Walk the score index in [gte, lt), skipping `skip` entries and yielding at most `take`. */
async function walkIndex(ks: Keyspace, r: KeyRef, gte: Buffer, lt: Buffer, reverse: boolean,
  skip: number, take: number): Promise<ZEntry[]> {
  const out: ZEntry[] = [];
  if (take <= 0) return out;
  let n = 0;
  const limit = take === Infinity ? undefined : skip + take;
  for await (const [part, val] of ks.members(r, { gte, lt, reverse, limit })) {
    if (n++ < skip) continue;
    out.push(entryOf(part, val));
  }
  return out;
}

/**
 * Entries with ranks start..end (inclusive, already clamped to the length). With rev, rank 0 is
 * the highest entry and entries come highest first.
 */
export function zsetRangeByRank(ks: Keyspace, r: KeyRef, start: number, end: number, rev: boolean): MaybePromise<ZEntry[]> {
  const m = r.meta!;
  const len = zsetLength(m);
  const a = rev ? len - 1 - end : start; // forward ranks a..b
  const b = rev ? len - 1 - start : end;
  if (m.version === 0) return flatEntries(m.value as FlatZset, a, b + 1, rev);
  return rankWalk(ks, r, len, a, b, rev);
}

/** Walk the index for forward ranks a..b from whichever end is nearer. */
async function rankWalk(ks: Keyspace, r: KeyRef, len: number, a: number, b: number, rev: boolean): Promise<ZEntry[]> {
  const n = b - a + 1;
  if (b + 1 <= len - a) {
    const out = await walkIndex(ks, r, I_START, I_END, false, a, n);
    return rev ? out.reverse() : out;
  }
  const out = await walkIndex(ks, r, I_START, I_END, true, len - 1 - b, n);
  return rev ? out : out.reverse();
}

function scoreKeys(range: ScoreRange): { gte: Buffer; lt: Buffer } {
  const lo = iPart(encodeScore(range.min), EMPTY);
  const hi = iPart(encodeScore(range.max), EMPTY);
  return { gte: range.minex ? after(lo) : lo, lt: range.maxex ? hi : after(hi) };
}

/** Entries with scores in range, in score order (reversed with rev), after `offset`, at most `count`. */
export function zsetRangeByScore(ks: Keyspace, r: KeyRef, range: ScoreRange, rev: boolean,
  offset = 0, count = Infinity): MaybePromise<ZEntry[]> {
  if (scoreRangeEmpty(range) || offset < 0) return [];
  const m = r.meta!;
  if (m.version === 0) {
    const f = m.value as FlatZset;
    const n = f.length >> 1;
    let i = 0;
    while (i < n && !scoreGteMin(f[2 * i + 1] as number, range)) i++;
    let j = i;
    while (j < n && scoreLteMax(f[2 * j + 1] as number, range)) j++;
    const all = flatEntries(f, i, j, rev);
    return all.slice(offset, count === Infinity ? undefined : offset + count);
  }
  const { gte, lt } = scoreKeys(range);
  return walkIndex(ks, r, gte, lt, rev, offset, count);
}

/** Number of entries with scores in range. */
export function zsetCount(ks: Keyspace, r: KeyRef, range: ScoreRange): MaybePromise<number> {
  if (scoreRangeEmpty(range)) return 0;
  const m = r.meta!;
  if (m.version === 0) {
    const f = m.value as FlatZset;
    let n = 0;
    for (let i = 1; i < f.length; i += 2) {
      const s = f[i] as number;
      if (scoreGteMin(s, range) && scoreLteMax(s, range)) n++;
    }
    return n;
  }
  const { gte, lt } = scoreKeys(range);
  return countRecords(ks, r, gte, lt);
}

async function countRecords(ks: Keyspace, r: KeyRef, gte: Buffer, lt: Buffer): Promise<number> {
  let n = 0;
  for await (const _ of ks.members(r, { gte, lt })) n++;
  return n;
}

/**
 * Entries in a lex range. Inline zsets follow Redis's listpack walk exactly (first entry ≥ min in
 * score order, then onwards while ≤ max; from the tail for rev). Per-member zsets walk the member
 * records in byte order, which is the same result whenever all scores are equal; with mixed
 * scores Redis's own answer depends on its skiplist's random levels and is not defined.
 */
export function zsetRangeByLex(ks: Keyspace, r: KeyRef, range: LexRange, rev: boolean,
  offset = 0, count = Infinity): MaybePromise<ZEntry[]> {
  if (lexRangeEmpty(range) || offset < 0) return [];
  const m = r.meta!;
  if (m.version === 0) {
    const f = m.value as FlatZset;
    const n = f.length >> 1;
    if (n === 0 || !lexGteMin(f[2 * (n - 1)] as Buffer, range) || !lexLteMax(f[0] as Buffer, range)) return [];
    const out: ZEntry[] = [];
    if (!rev) {
      let i = 0;
      while (i < n && !lexGteMin(f[2 * i] as Buffer, range)) i++;
      i += offset;
      for (; i < n && out.length < count && lexLteMax(f[2 * i] as Buffer, range); i++) {
        out.push({ m: f[2 * i] as Buffer, s: f[2 * i + 1] as number });
      }
    } else {
      let i = n - 1;
      while (i >= 0 && !lexLteMax(f[2 * i] as Buffer, range)) i--;
      i -= offset;
      for (; i >= 0 && out.length < count && lexGteMin(f[2 * i] as Buffer, range); i--) {
        out.push({ m: f[2 * i] as Buffer, s: f[2 * i + 1] as number });
      }
    }
    return out;
  }
  const { min, max } = range;
  const gte = min.kind === 'ninf' ? M_START
    : min.kind === 'val' ? Buffer.concat([M_START, min.v, min.ex ? Buffer.from([0]) : EMPTY]) : I_START;
  const lt = max.kind === 'pinf' ? I_START
    : max.kind === 'val' ? Buffer.concat([M_START, max.v, max.ex ? EMPTY : Buffer.from([0])]) : M_START;
  if (Buffer.compare(gte, lt) >= 0) return [];
  return lexWalk(ks, r, gte, lt, rev, offset, count);
}

async function lexWalk(ks: Keyspace, r: KeyRef, gte: Buffer, lt: Buffer, rev: boolean,
  offset: number, count: number): Promise<ZEntry[]> {
  const out: ZEntry[] = [];
  let n = 0;
  const limit = count === Infinity ? undefined : offset + count;
  for await (const [part, val] of ks.members(r, { gte, lt, reverse: rev, limit })) {
    if (n++ < offset) continue;
    out.push({ m: part.subarray(1), s: val.readDoubleBE(0) });
  }
  return out;
}

/** 0-based rank of a member (from the highest with rev), or null when absent. */
export function zsetRank(ks: Keyspace, r: KeyRef, member: Buffer, rev: boolean): MaybePromise<number | null> {
  const m = r.meta!;
  const len = zsetLength(m);
  if (m.version === 0) {
    const i = flatFind(m.value as FlatZset, member);
    if (i < 0) return null;
    return rev ? len - 1 - (i >> 1) : i >> 1;
  }
  const v = ks.getMember(r, mPart(member));
  if (v === undefined) return null;
  return countRecords(ks, r, I_START, iPart(encodeScore(v.readDoubleBE(0)), member)).then((rank) => (rev ? len - 1 - rank : rank));
}
