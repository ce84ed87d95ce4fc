/**
 * Sorted-set algebra.
 *
 *  - zsetStoreCompute: ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE dst numkeys key… [WEIGHTS w…]
 *    [AGGREGATE SUM|MIN|MAX] as pure computation on Portable values (the caller gathers the sources,
 *    which may live on other shards; zsetStoreSourceKeys names them), and zrangestoreCompute:
 *    ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]. Both return the
 *    destination's new value, null when it must be deleted, or {error}.
 *  - Client reads over keys of this shard: ZUNION / ZINTER / ZDIFF numkeys key… […] [WITHSCORES] and
 *    ZINTERCARD numkeys key… [LIMIT n].
 *
 * Semantics follow Redis 7.0 t_zset.c (observed on 7.0.15):
 *  - validation order: arity, numkeys ("ERR value is not an integer or out of range"; below 1
 *    "ERR at least 1 input key is needed for '<cmd>' command"; more than the arguments left
 *    "ERR syntax error"), then the key types (sets count as zsets whose scores are all 1, any other
 *    type is WRONGTYPE), then the options: WEIGHTS and AGGREGATE (not for ZDIFF*, ZINTERCARD; a bad
 *    weight gives "ERR weight value is not a float"), WITHSCORES (reads only), LIMIT (ZINTERCARD
 *    only; negative or not an integer: "ERR LIMIT can't be negative"); else "ERR syntax error".
 *  - ZUNION/ZINTER visit the sources from the smallest to the largest (stable order), which fixes the
 *    order in which scores are aggregated. The first score of an element is weight·score with NaN
 *    (0·inf) turned into 0; each further one is aggregated as weight·score: SUM turns a NaN sum
 *    (inf + -inf) into 0, MIN/MAX keep the current score when the new one is NaN.
 *  - ZDIFF keeps the first source's elements found in no other source, with their own scores.
 *  - -0: Redis writes listpack scores as text, dropping the sign. Z*STORE builds a skiplist and then
 *    converts it when small enough (≤ 128 entries, members ≤ 64 bytes): -0 survives only in big
 *    results. ZRANGESTORE adds entries one by one to a listpack that becomes a skiplist once too big:
 *    -0 survives only in entries added after that. Read replies keep it.
 *  - ZRANGESTORE: options as ZRANGE without WITHSCORES; LIMIT with a count of -1 is allowed with a
 *    rank range; a negative offset selects nothing, a negative count means all. BYLEX scans like
 *    Redis's listpack code (exact when the members in range are in lex order, i.e. equal scores).
 */
import { Keyspace, ReadTable, T_SET, T_ZSET, WRONGTYPE, arityError, INLINE_MAX_ENTRIES, INLINE_MAX_BYTES } from './keyspace.js';
import { readPortable, type Portable } from './portable.js';
import { parseI64 } from '../src/util/numbers.js';
import { parseStrictDouble } from './strtod.js';
import { then } from './sync_or_async.js';
import {
  compareEntries, parseScoreRange, parseLexRange, parseIndex, clampIndexRange, scoreGteMin, scoreLteMax,
  scoreRangeEmpty, lexGteMin, lexLteMax, lexRangeEmpty, ERR_NOT_INTEGER,
} from './zset_codec.js';
import { scoreReply } from './zset_read.js';
import { allOf } from './set_algebra.js';

type ZOp = 'union' | 'inter' | 'diff';
interface Spec { name: string; op: ZOp; numkeysAt: number; store: boolean; card: boolean }
interface Options { weights: number[] | null; agg: number; withScores: boolean; limit: number }
interface Entry { m: Buffer; s: number }

const AGG_SUM = 0, AGG_MIN = 1, AGG_MAX = 2;
const SYNTAX = Object.freeze({ error: 'ERR syntax error' });
const NOT_INT = Object.freeze({ error: ERR_NOT_INTEGER });
const WEIGHT_ERR = Object.freeze({ error: 'ERR weight value is not a float' });
const LIMIT_NEG = Object.freeze({ error: "ERR LIMIT can't be negative" });
const LIMIT_RANK = Object.freeze({ error: 'ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX' });

const spec = (name: string, op: ZOp, store: boolean, card = false): Spec =>
  ({ name, op, numkeysAt: store ? 2 : 1, store, card });
const SPECS: Record<string, Spec> = {
  zunionstore: spec('zunionstore', 'union', true), zinterstore: spec('zinterstore', 'inter', true),
  zdiffstore: spec('zdiffstore', 'diff', true), zunion: spec('zunion', 'union', false),
  zinter: spec('zinter', 'inter', false), zdiff: spec('zdiff', 'diff', false),
  zintercard: spec('zintercard', 'inter', false, true),
};

const lc = (b: Buffer): string => (b.length <= 16 ? b.toString('latin1').toLowerCase() : '');
const mkey = (b: Buffer): string => b.toString('latin1');

/** Arity and numkeys: the number of source keys, or the error Redis replies. */
function parseNumkeys(argv: Buffer[], sp: Spec): number | { error: string } {
  if (argv.length < (sp.store ? 4 : 3)) return arityError(sp.name);
  const v = parseI64(argv[sp.numkeysAt]);
  if (v === null) return NOT_INT;
  if (v < 1) return { error: `ERR at least 1 input key is needed for '${sp.name}' command` };
  if (v > argv.length - sp.numkeysAt - 1) return SYNTAX;
  return Number(v);
}

function parseOptions(argv: Buffer[], sp: Spec, n: number): Options | { error: string } {
  const o: Options = { weights: null, agg: AGG_SUM, withScores: false, limit: 0 };
  const algebra = sp.op !== 'diff' && !sp.card;
  let j = sp.numkeysAt + 1 + n;
  while (j < argv.length) {
    const left = argv.length - j;
    const word = lc(argv[j]);
    if (algebra && left >= n + 1 && word === 'weights') {
      j++;
      o.weights = new Array(n);
      for (let i = 0; i < n; i++, j++) {
        const w = parseStrictDouble(argv[j]);
        if (w === null) return WEIGHT_ERR;
        o.weights[i] = w;
      }
    } else if (algebra && left >= 2 && word === 'aggregate') {
      const a = lc(argv[j + 1]);
      if (a === 'sum') o.agg = AGG_SUM;
      else if (a === 'min') o.agg = AGG_MIN;
      else if (a === 'max') o.agg = AGG_MAX;
      else return SYNTAX;
      j += 2;
    } else if (!sp.store && !sp.card && word === 'withscores') {
      o.withScores = true;
      j++;
    } else if (sp.card && left >= 2 && word === 'limit') {
      const v = parseI64(argv[j + 1]);
      if (v === null || v < 0) return LIMIT_NEG;
      o.limit = Number(v);
      j += 2;
    } else return SYNTAX;
  }
  return o;
}

/** A source as (members, scores or null for a set, weight). */
interface Src { items: Buffer[]; scores: number[] | null; w: number }

function aggregate(cur: number, v: number, agg: number): number {
  if (agg === AGG_SUM) {
    const s = cur + v;
    return Number.isNaN(s) ? 0 : s;
  }
  if (agg === AGG_MIN) return v < cur ? v : cur;
  return v > cur ? v : cur;
}

function scoreMap(s: Src): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < s.items.length; i++) m.set(mkey(s.items[i]), s.scores === null ? 1 : s.scores[i]);
  return m;
}

/** The result entries (unsorted), or only their number when `card` (ZINTERCARD; limit 0 = none). */
function combine(op: ZOp, srcs: Src[], o: Options, card: boolean): Entry[] | number {
  const out: Entry[] = [];
  if (op === 'diff') {
    const first = srcs[0];
    if (first.items.length === 0) return out;
    const removed = new Set<string>();
    for (let j = 1; j < srcs.length; j++) for (const m of srcs[j].items) removed.add(mkey(m));
    for (let i = 0; i < first.items.length; i++) {
      if (!removed.has(mkey(first.items[i]))) out.push({ m: first.items[i], s: first.scores === null ? 1 : first.scores[i] });
    }
    return out;
  }
  const order = srcs.slice().sort((a, b) => a.items.length - b.items.length);   // stable, as glibc's qsort here
  if (op === 'inter') {
    const s0 = order[0];
    if (s0.items.length === 0) return card ? 0 : out;
    const maps = order.slice(1).map(scoreMap);
    let count = 0;
    outer: for (let i = 0; i < s0.items.length; i++) {
      const k = mkey(s0.items[i]);
      let score = s0.w * (s0.scores === null ? 1 : s0.scores[i]);
      if (Number.isNaN(score)) score = 0;
      for (let j = 0; j < maps.length; j++) {
        const v = maps[j].get(k);
        if (v === undefined) continue outer;
        score = aggregate(score, v * order[j + 1].w, o.agg);
      }
      if (card) {
        if (++count === o.limit) break;
      } else out.push({ m: s0.items[i], s: score });
    }
    return card ? count : out;
  }
  const acc = new Map<string, Entry>();
  for (const src of order) {
    for (let i = 0; i < src.items.length; i++) {
      let score = src.w * (src.scores === null ? 1 : src.scores[i]);
      if (Number.isNaN(score)) score = 0;
      const k = mkey(src.items[i]);
      const e = acc.get(k);
      if (e === undefined) acc.set(k, { m: src.items[i], s: score });
      else e.s = aggregate(e.s, score, o.agg);
    }
  }
  for (const e of acc.values()) out.push(e);
  return out;
}

function sources(ps: Array<Portable | null>, weights: number[] | null): Src[] {
  return ps.map((p, i) => ({
    items: p === null ? [] : p.items!,
    scores: p === null || p.type === T_SET ? null : p.scores!,
    w: weights === null ? 1 : weights[i],
  }));
}

const sortEntries = (es: Entry[]): Entry[] => es.sort((a, b) => compareEntries(a.s, a.m, b.s, b.m));

/** The destination value for sorted entries: null when empty, -0 dropped when listpack-sized. */
function toPortable(es: Entry[]): Portable | null {
  if (es.length === 0) return null;
  let small = es.length <= INLINE_MAX_ENTRIES;
  for (let i = 0; small && i < es.length; i++) if (es[i].m.length > INLINE_MAX_BYTES) small = false;
  const items: Buffer[] = new Array(es.length);
  const scores: number[] = new Array(es.length);
  for (let i = 0; i < es.length; i++) {
    items[i] = es[i].m;
    scores[i] = small && es[i].s === 0 ? 0 : es[i].s;
  }
  return { type: T_ZSET, expireMs: -1, items, scores };
}

const wrongSource = (p: Portable | null): boolean => p !== null && p.type !== T_ZSET && p.type !== T_SET;

/** The source keys of a ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE argv ([] when numkeys is invalid). */
export function zsetStoreSourceKeys(argv: Buffer[]): Buffer[] {
  const sp = SPECS[lc(argv[0])];
  if (sp === undefined || !sp.store) throw new Error(`internal: zsetStoreSourceKeys on '${argv[0]}'`);
  const n = parseNumkeys(argv, sp);
  return typeof n === 'number' ? argv.slice(sp.numkeysAt + 1, sp.numkeysAt + 1 + n) : [];
}

/**
 * ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE: the destination's new value. srcs[i] is the value of the
 * i-th source key (null when missing); the caller passes exactly zsetStoreSourceKeys(argv)'s keys.
 */
export function zsetStoreCompute(argv: Buffer[], srcs: Array<Portable | null>): Portable | null | { error: string } {
  const sp = SPECS[lc(argv[0])];
  if (sp === undefined || !sp.store) throw new Error(`internal: zsetStoreCompute on '${argv[0]}'`);
  const n = parseNumkeys(argv, sp);
  if (typeof n !== 'number') return n;
  if (srcs.length !== n) throw new Error(`internal: ${sp.name} has ${n} source keys, ${srcs.length} values given`);
  for (const p of srcs) if (wrongSource(p)) return WRONGTYPE;
  const o = parseOptions(argv, sp, n);
  if ('error' in o) return o;
  return toPortable(sortEntries(combine(sp.op, sources(srcs, o.weights), o, false) as Entry[]));
}

// ----- ZRANGESTORE ----------------------------------------------------------------------------------

/**
 * Indexes (into the ascending entries, n of them, in emission order) selected by a score or lex range, as Redis's
 * listpack code walks them: the first in range from the start (the last, with rev), then `offset`
 * steps, then up to `count` entries while still within the far bound.
 */
function walkRange(n: number, gteMin: (i: number) => boolean, lteMax: (i: number) => boolean,
  rev: boolean, offset: number, count: number): number[] {
  const out: number[] = [];
  if (n === 0 || !gteMin(n - 1) || !lteMax(0)) return out;
  if (offset < 0 || (offset > 0 && offset >= n)) return out;
  let i: number;
  if (!rev) {
    for (i = 0; i < n && !gteMin(i); i++);
    if (i === n || !lteMax(i)) return out;
    i += offset;
  } else {
    for (i = n - 1; i >= 0 && !lteMax(i); i--);
    if (i < 0 || !gteMin(i)) return out;
    i -= offset;
  }
  for (let left = count; i >= 0 && i < n && left !== 0; left--) {
    if (rev ? !gteMin(i) : !lteMax(i)) break;
    out.push(i);
    i += rev ? -1 : 1;
  }
  return out;
}

/** ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]: the new value of dst. */
export function zrangestoreCompute(argv: Buffer[], src: Portable | null): Portable | null | { error: string } {
  if (argv.length < 5) return arityError('zrangestore');
  let kind: 'rank' | 'score' | 'lex' | null = null;
  let rev = false, offset = 0, count = -1;
  for (let j = 5; j < argv.length; j++) {
    const word = lc(argv[j]);
    if (word === 'limit' && argv.length - j - 1 >= 2) {
      const off = parseIndex(argv[j + 1]);
      if (off === null) return NOT_INT;
      const cnt = parseIndex(argv[j + 2]);
      if (cnt === null) return NOT_INT;
      offset = off; count = cnt; j += 2;
    } else if (!rev && word === 'rev') rev = true;
    else if (kind === null && word === 'bylex') kind = 'lex';
    else if (kind === null && word === 'byscore') kind = 'score';
    else return SYNTAX;
  }
  if (kind === null) kind = 'rank';
  if (count !== -1 && kind === 'rank') return LIMIT_RANK;
  const [lo, hi] = rev && kind !== 'rank' ? [argv[4], argv[3]] : [argv[3], argv[4]];
  let pick: (n: number, items: Buffer[], scores: number[]) => number[];
  if (kind === 'rank') {
    const start = parseIndex(lo), end = parseIndex(hi);
    if (start === null || end === null) return NOT_INT;
    pick = (n) => {
      const c = clampIndexRange(start, end, n);
      if (c === null) return [];
      const len = c[1] - c[0] + 1;
      return Array.from({ length: len }, (_, k) => (rev ? n - 1 - c[0] - k : c[0] + k));
    };
  } else if (kind === 'score') {
    const r = parseScoreRange(lo, hi);
    if (typeof r === 'string') return { error: r };
    pick = (n, _items, scores) => (scoreRangeEmpty(r) ? [] :
      walkRange(n, (i) => scoreGteMin(scores[i], r), (i) => scoreLteMax(scores[i], r), rev, offset, count));
  } else {
    const r = parseLexRange(lo, hi);
    if (typeof r === 'string') return { error: r };
    pick = (n, items) => (lexRangeEmpty(r) ? [] :
      walkRange(n, (i) => lexGteMin(items[i], r), (i) => lexLteMax(items[i], r), rev, offset, count));
  }
  if (src === null) return null;
  if (src.type !== T_ZSET) return WRONGTYPE;
  const items = src.items!, scores = src.scores!;
  const emitted = pick(items.length, items, scores);
  if (emitted.length === 0) return null;
  // Redis adds the entries one by one in emission order to a listpack (a skiplist when a rank range
  // has more entries than a listpack holds): entries added while it is still a listpack lose -0.
  let listpack = kind !== 'rank' || emitted.length <= INLINE_MAX_ENTRIES;
  const s: number[] = new Array(items.length);
  for (let k = 0; k < emitted.length; k++) {
    const i = emitted[k];
    if (listpack && (k + 1 > INLINE_MAX_ENTRIES || items[i].length > INLINE_MAX_BYTES)) listpack = false;
    s[i] = listpack && scores[i] === 0 ? 0 : scores[i];
  }
  const idx = emitted.sort((a, b) => a - b);
  return { type: T_ZSET, expireMs: -1, items: idx.map((i) => items[i]), scores: idx.map((i) => s[i]) };
}

// ----- client reads ---------------------------------------------------------------------------------

function algebraRead(sp: Spec) {
  return (ks: Keyspace, db: number, argv: Buffer[], now: number): unknown => {
    const n = parseNumkeys(argv, sp);
    if (typeof n !== 'number') return n;
    const keys = argv.slice(sp.numkeysAt + 1, sp.numkeysAt + 1 + n);
    let missing = false;
    const present: boolean[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const r = ks.lookup(db, keys[i], now);
      if (r !== null && r.meta!.type !== T_ZSET && r.meta!.type !== T_SET) return WRONGTYPE;
      present[i] = r !== null;
      if (r === null) missing = true;
    }
    const o = parseOptions(argv, sp, n);
    if ('error' in o) return o;
    if (sp.op === 'inter' && missing) return sp.card ? 0 : [];
    const vals = keys.map((k, i) => (present[i] ? readPortable(ks, db, k) : null));
    return then(allOf(vals), (ps) => {
      const r = combine(sp.op, sources(ps, o.weights), o, sp.card);
      if (typeof r === 'number') return r;
      const out: Buffer[] = [];
      for (const e of sortEntries(r)) {
        out.push(e.m);
        if (o.withScores) out.push(scoreReply(e.s));
      }
      return out;
    });
  };
}

export const zsetAlgebraReads: ReadTable = {
  zunion: algebraRead(SPECS.zunion),
  zinter: algebraRead(SPECS.zinter),
  zdiff: algebraRead(SPECS.zdiff),
  zintercard: algebraRead(SPECS.zintercard),
};
