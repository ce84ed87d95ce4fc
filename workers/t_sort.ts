/**
 * SORT computed over Portable values (Redis 7.0 sort.c semantics), for SORT … STORE arriving from
 * the master and for client SORT / SORT_RO reads.
 *
 *  - Source: list, set or zset (anything else: WRONGTYPE); a missing key sorts as an empty list.
 *  - Default: numeric sort of each element (or of its BY value) read like glibc strtod, where the
 *    whole C string must be consumed, with no ERANGE (overflow, underflow, inexact subnormal) and no
 *    NaN, else "ERR One or more scores can't be converted into double" (checked over all elements,
 *    even when LIMIT selects none). An empty string is 0, and so is a missing BY value. Equal
 *    scores are ordered by the element's bytes.
 *  - ALPHA: byte order (memcmp, what Redis does with STORE, and what strcoll does in the C locale).
 *    With BY, elements whose BY value is missing come first (DESC: last).
 *  - BY without '*' (nosort): list and zset keep their order (DESC reverses it; LIMIT is a range
 *    of it). For a set, Redis keeps its iteration order (DESC ignored) except with STORE, where it
 *    sorts ALPHA instead so that the replicas get the same list. Here: the stored order.
 *  - Patterns: the first '*' is replaced with the element; "->field" after it reads a hash field;
 *    the looked-up key must be a string (or a hash for "->"), else nil. "#" is the element itself.
 *  - LIMIT offset count: offset < 0 is 0, count < 0 means all.
 *
 * sortStoreValue() turns a result into the list STORE writes. The read handlers `sort` (STORE →
 * -READONLY) and `sort_ro` run it over this shard only, hiding logically expired keys.
 */
import { Keyspace, ReadTable, T_STRING, T_LIST, T_SET, T_ZSET, T_HASH, EMPTY, WRONGTYPE, compareBytes, sameBytes } from './keyspace.js';
import { readPortable, type KeyView, type Portable } from './portable.js';
import { strtod } from './strtod.js';
import { parseSortArgs, starIndex, isHashPattern, cLength, type SortArgs } from '../src/router/sort-args.js';
import type { MaybePromise } from './sync_or_async.js';

const ERR_SCORES = "ERR One or more scores can't be converted into double";
const READONLY = Object.freeze({ error: "READONLY You can't write against a read only replica." });

type SortResult = Array<Buffer | null> | { error: string };

/** A BY / GET pattern, compiled once. kind: 0 = '#', 1 = never finds anything (no '*'), 2 = key lookup. */
interface Pattern { kind: 0 | 1 | 2; prefix: Buffer; postfix: Buffer; field: Buffer | null }

function compile(p: Buffer): Pattern {
  if (isHashPattern(p)) return { kind: 0, prefix: EMPTY, postfix: EMPTY, field: null };
  const star = starIndex(p);
  if (star < 0) return { kind: 1, prefix: EMPTY, postfix: EMPTY, field: null };
  // strstr(star + 1, "->") on the C string, with at least one (non-NUL) byte after the arrow.
  const cl = cLength(p);
  let arrow = -1;
  for (let i = star + 1; i + 1 < cl; i++) if (p[i] === 0x2d && p[i + 1] === 0x3e) { arrow = i; break; }
  const field = arrow >= 0 && arrow + 2 < cl ? p.subarray(arrow + 2) : null;
  return { kind: 2, prefix: p.subarray(0, star), postfix: p.subarray(star + 1, field ? arrow : p.length), field };
}

function valueOf(p: Portable | null, field: Buffer | null): Buffer | null {
  if (p === null) return null;
  if (field === null) return p.type === T_STRING ? p.str! : null;
  if (p.type !== T_HASH) return null;
  const it = p.items!;
  for (let i = 0; i < it.length; i += 2) if (sameBytes(it[i], field)) return it[i + 1];
  return null;
}

/** Resolves pattern lookups through a KeyView; caches fetched keys when several patterns may share them. */
class Resolver {
  private readonly cache: Map<string, MaybePromise<Portable | null>> | null;
  constructor(private readonly view: KeyView, private readonly db: number, shared: boolean) {
    this.cache = shared ? new Map() : null;
  }

  private fetch(key: Buffer): MaybePromise<Portable | null> {
    if (this.cache === null) return this.view.get(this.db, key);
    const s = key.toString('latin1');
    let v = this.cache.get(s);
    if (v === undefined) { v = this.view.get(this.db, key); this.cache.set(s, v); }
    return v;
  }

  /** The value `pat` yields for each element (null = nil). */
  async resolve(pat: Pattern, elems: Buffer[]): Promise<Array<Buffer | null>> {
    const n = elems.length;
    const out: Array<Buffer | null> = new Array(n);
    if (pat.kind !== 2) {
      for (let i = 0; i < n; i++) out[i] = pat.kind === 0 ? elems[i] : null;
      return out;
    }
    const { prefix, postfix, field } = pat;
    let pending: Promise<void>[] | null = null;
    for (let i = 0; i < n; i++) {
      const e = elems[i];
      const key = Buffer.allocUnsafe(prefix.length + e.length + postfix.length);
      prefix.copy(key, 0);
      e.copy(key, prefix.length);
      postfix.copy(key, prefix.length + e.length);
      const v = this.fetch(key);
      if (v instanceof Promise) (pending ??= []).push(v.then((p) => { out[i] = valueOf(p, field); }));
      else out[i] = valueOf(v, field);
    }
    if (pending !== null) await Promise.all(pending);
    return out;
  }
}

/** A BY value (or element) as a sort score, or null when Redis cannot convert it. */
function toScore(b: Buffer): number | null {
  const r = strtod(b, 0);
  if ((r.end !== b.length && b[r.end] !== 0) || r.erange || Number.isNaN(r.value)) return null;
  const v = r.value;
  if (v !== 0 && Math.abs(v) < MIN_NORMAL && !exactSubnormal(b.subarray(0, r.end), v)) return null;
  return v;
}

const MIN_NORMAL = 2 ** -1022;

/**
 * glibc's strtod also sets ERANGE when the result is subnormal and inexact, and SORT (unlike ZADD)
 * rejects any ERANGE. True when the text strtod consumed is exactly the subnormal v = m · 2^-1074.
 */
function exactSubnormal(text: Buffer, v: number): boolean {
  const s = text.toString('latin1').replace(/^[\t\n\v\f\r ]*[+-]?/, '').toLowerCase();
  const hex = s.startsWith('0x');
  const g = (hex ? /^0x([0-9a-f]*)(?:\.([0-9a-f]*))?(?:p([+-]?\d+))?$/ : /^(\d*)(?:\.(\d*))?(?:e([+-]?\d+))?$/).exec(s);
  if (g === null) return false;
  const frac = g[2] ?? '';
  const all = g[1] + frac;
  const body = all.replace(/^0+/, '').replace(/0+$/, '');
  if (body === '') return false;
  // text = D · B^-k with D = body, B = 2 (hex, 4 per digit) or 10
  const unit = hex ? 4 : 1;
  const trailing = all.length - all.replace(/0+$/, '').length;
  const k = unit * (frac.length - trailing) - Number(g[3] ?? 0);
  // a subnormal is ≥ 2^-1074 · 1 and has at most 1074 fractional bits / decimal digits
  if (k <= 0 || k > 1200) return false;
  const m = BigInt(Math.abs(v) * 2 ** 537 * 2 ** 537);   // exact: m < 2^52
  const d = BigInt(hex ? '0x' + body : body);
  return d * 2n ** 1074n === m * (hex ? 2n : 10n) ** BigInt(k);
}

interface Entry { obj: Buffer; score: number; cmp: Buffer | null }

/** The full Redis SORT over values from `view` (STORE is not performed here: see sortStoreValue). */
export async function sortCompute(view: KeyView, db: number, args: SortArgs): Promise<SortResult> {
  const got = view.get(db, args.key);
  const src = got instanceof Promise ? await got : got;
  let type = T_LIST;
  let items: Buffer[] = [];
  if (src !== null) {
    if (src.type !== T_LIST && src.type !== T_SET && src.type !== T_ZSET) return WRONGTYPE;
    type = src.type;
    items = src.items!;
  }
  let dontsort = args.dontsort, alpha = args.alpha, by = dontsort ? null : args.by;
  if (dontsort && type === T_SET && args.store >= 0) { dontsort = false; alpha = true; by = null; }

  const len = items.length;
  let start = Math.min(Math.max(args.limitOffset, 0), len);
  const count = Math.min(Math.max(args.limitCount, -1), len);
  let end = count < 0 ? len - 1 : start + count - 1;
  if (start >= len) { start = len - 1; end = len - 2; }
  if (end >= len) end = len - 1;

  const patterns = args.gets.map(compile);
  const byPat = by !== null ? compile(by) : null;
  let lookups = byPat !== null && byPat.kind === 2 ? 1 : 0;
  for (const p of patterns) if (p.kind === 2) lookups++;
  const resolver = new Resolver(view, db, lookups > 1);

  let picked: Buffer[];
  if (dontsort) {
    if (end < start) picked = [];
    else if (type === T_SET || !args.desc) picked = items.slice(start, end + 1);
    else { picked = new Array(end - start + 1); for (let i = start; i <= end; i++) picked[i - start] = items[len - 1 - i]; }
  } else {
    const vec: Entry[] = new Array(len);
    for (let i = 0; i < len; i++) vec[i] = { obj: items[i], score: 0, cmp: null };
    const byVals = byPat !== null ? await resolver.resolve(byPat, items) : null;
    let convError = false;
    for (let i = 0; i < len; i++) {
      const v = byVals !== null ? byVals[i] : items[i];
      if (v === null) continue;
      if (alpha) { if (byVals !== null) vec[i].cmp = v; continue; }
      const s = toScore(v);
      if (s === null) convError = true;
      else vec[i].score = s;
    }
    if (convError) return { error: ERR_SCORES };
    const sign = args.desc ? -1 : 1;
    if (!alpha) {
      vec.sort((a, b) => sign * (a.score > b.score ? 1 : a.score < b.score ? -1 : compareBytes(a.obj, b.obj)));
    } else if (byVals !== null) {
      vec.sort((a, b) => {
        const x = a.cmp, y = b.cmp;
        if (x === null || y === null) return x === y ? 0 : sign * (x === null ? -1 : 1);
        return sign * compareBytes(x, y);
      });
    } else {
      vec.sort((a, b) => sign * compareBytes(a.obj, b.obj));
    }
    picked = new Array(Math.max(end - start + 1, 0));   // every element was scored, even for an empty range
    for (let i = start; i <= end; i++) picked[i - start] = vec[i].obj;
  }

  if (patterns.length === 0) return picked;
  const cols: Array<Array<Buffer | null>> = [];
  for (const p of patterns) cols.push(await resolver.resolve(p, picked));
  const out: Array<Buffer | null> = new Array(picked.length * patterns.length);
  for (let i = 0, k = 0; i < picked.length; i++) for (let g = 0; g < cols.length; g++) out[k++] = cols[g][i];
  return out;
}

/** The list SORT … STORE writes: nils become empty strings; an empty result deletes the destination (null). */
export function sortStoreValue(result: Array<Buffer | null>): Portable | null {
  if (result.length === 0) return null;
  const items: Buffer[] = new Array(result.length);
  for (let i = 0; i < result.length; i++) items[i] = result[i] ?? EMPTY;
  return { type: T_LIST, expireMs: -1, items };
}

// ----- reads: this shard only ---------------------------------------------------------------------

/**
 * A KeyView over this shard for a read at nowMs: logically expired keys are absent. Only the source
 * key and strings / hashes are read in full; other keys only need their type (patterns yield nil).
 */
function localView(ks: Keyspace, nowMs: number, source: Buffer): KeyView {
  return {
    get(db: number, key: Buffer): MaybePromise<Portable | null> {
      const r = ks.lookup(db, key, nowMs);
      if (r === null) return null;
      const m = r.meta!;
      const full = m.type === T_STRING || m.type === T_HASH ||
        ((m.type === T_LIST || m.type === T_SET || m.type === T_ZSET) && sameBytes(key, source));
      return full ? readPortable(ks, db, key) : { type: m.type, expireMs: m.expireMs };
    },
  };
}

function sortRead(ks: Keyspace, db: number, argv: Buffer[], nowMs: number, readonly: boolean): unknown {
  const a = parseSortArgs(argv, readonly);
  if ('error' in a) return a;
  if (a.store >= 0) return READONLY;
  return sortCompute(localView(ks, nowMs, a.key), db, a);
}

export const sortReads: ReadTable = {
  sort: (ks, db, argv, nowMs) => sortRead(ks, db, argv, nowMs, false),
  sort_ro: (ks, db, argv, nowMs) => sortRead(ks, db, argv, nowMs, true),
};
