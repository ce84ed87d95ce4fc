/**
 * GEO commands on zsets of geohash scores (GEOADD arrives as ZADD, spec section 4): reads GEOPOS,
 * GEODIST, GEOHASH, GEOSEARCH, GEORADIUS_RO, GEORADIUSBYMEMBER_RO; and geoStoreCompute /
 * geoStoreKeys for the forms propagated verbatim (GEORADIUS[BYMEMBER] … STORE | STOREDIST,
 * GEOSEARCHSTORE): the caller gathers the source zset and writes the destination (null = delete).
 *
 * One search routine (Redis's georadiusGeneric) serves all, with Redis 7.0's checks, their order
 * (source type; arguments left to right, FROMMEMBER / BYMEMBER looked up when met; conflicts) and
 * error texts. Result order is Redis's: cell by cell (centre, N, S, E, W, NE, NW, SE, SW) in zset
 * order, then by distance: stable (glibc's qsort merge-sorts) or, when COUNT cuts the list, Redis's
 * pqsort, whose order among equal distances is its own. Replies: distances "%.4f", coordinates
 * "%.17Lf" with trailing zeros cut, WITHHASH an integer; GEOPOS's missing member is a null (Redis
 * sends a null array, *-1; these reply types have one null).
 */
import type { Keyspace } from './keyspace-core.js';
import { T_ZSET, KeyRef } from './meta.js';
import { WRONGTYPE, arityError, type ReadTable } from './command-api.js';
import { readPortable, type Portable } from './portable.js';
import { zsetScore } from './zset_store.js';
import { parseStrictDouble } from './strtod.js';
import { parseI64 } from '../src/util/numbers.js';
import { then } from './sync_or_async.js';
import {
  CIRCLE, RECTANGLE, GEO_LONG_MIN, GEO_LONG_MAX, GEO_LAT_MIN, GEO_LAT_MAX, type GeoShape, type Cell,
  decodeScore, point, geoDistance, distanceIfInShape, searchCells, cellScoreRange, standardGeohash,
  formatFixed, formatHuman,
} from './geo.js';

const COORDS = 1, MEMBER = 2, NOSTORE = 4, SEARCH = 8, SEARCHSTORE = 16;
const SORT_NONE = 0, SORT_ASC = 1, SORT_DESC = 2;

const SYNTAX = 'ERR syntax error';
const NOT_FLOAT = 'ERR value is not a valid float';
const BAD_UNIT = 'ERR unsupported unit provided. please use M, KM, FT, MI';
const NO_MEMBER = 'ERR could not decode requested zset member';

/** An option word as C's strcasecmp sees it: up to the first NUL, lowercased ('' when too long). */
function word(b: Buffer): string {
  let n = b.indexOf(0);
  if (n < 0) n = b.length;
  return n > 12 ? '' : b.toString('latin1', 0, n).toLowerCase();
}

const UNITS: Record<string, number> = { m: 1, km: 1000, ft: 0.3048, mi: 1609.34 };
/** Meters per unit, or -1 (extractUnitOrReply). */
const unitFactor = (b: Buffer): number => UNITS[word(b)] ?? -1;

/** extractLongLatOrReply: [lon, lat] or an error text. */
function lonLat(a: Buffer, b: Buffer): [number, number] | string {
  const x = parseStrictDouble(a);
  if (x === null) return NOT_FLOAT;
  const y = parseStrictDouble(b);
  if (y === null) return NOT_FLOAT;
  if (x < GEO_LONG_MIN || x > GEO_LONG_MAX || y < GEO_LAT_MIN || y > GEO_LAT_MAX) {
    return `ERR invalid longitude,latitude pair ${formatFixed(x, 6)},${formatFixed(y, 6)}`;
  }
  return [x, y];
}

/** Score of `member` in a portable zset, or undefined. */
function scoreIn(z: Portable, member: Buffer): number | undefined {
  const i = z.items!.findIndex((m) => m.equals(member));
  return i < 0 ? undefined : z.scores![i];
}

/** A parsed search and its result: points sorted as Redis returns them (null: no source key). */
interface Search {
  shape: GeoShape; withdist: boolean; withhash: boolean; withcoords: boolean;
  storeKey: number; storedist: boolean;   // argv index of the destination (-1: none); STOREDIST
  points: GeoPoint[] | null; returned: number;   // only the first `returned` points count
}

/** georadiusGeneric up to the reply: argument checks, then the search (z: the source zset or null). */
function geoSearch(argv: Buffer[], flags: number, z: Portable | null): Search | { error: string } {
  if (z !== null && z.type !== T_ZSET) return WRONGTYPE;
  const shape: GeoShape = { type: 0, lon: 0, lat: 0, radius: 0, width: 0, height: 0, conversion: 0 };
  let base: number, storeKey = -1;
  const distance = (i: number): string | null => {   // extractDistanceOrReply at argv[i], argv[i + 1]
    const r = parseStrictDouble(argv[i]);
    if (r === null) return 'ERR need numeric radius';
    if (r < 0) return 'ERR radius cannot be negative';
    const f = unitFactor(argv[i + 1]);
    if (f < 0) return BAD_UNIT;
    shape.radius = r; shape.conversion = f; shape.type = CIRCLE;
    return null;
  };
  const center = (m: Buffer): string | null => {   // longLatFromMember
    const s = scoreIn(z!, m);
    if (s === undefined) return NO_MEMBER;
    decodeScore(s); shape.lon = point.lon; shape.lat = point.lat; return null;
  };
  if (flags & COORDS) {
    base = 6;
    const xy = lonLat(argv[2], argv[3]);
    if (typeof xy === 'string') return { error: xy };
    [shape.lon, shape.lat] = xy;
    const e = distance(4);
    if (e !== null) return { error: e };
  } else if (flags & MEMBER) {
    base = 5;
    if (z !== null) {
      let e = center(argv[2]);
      if (e === null) e = distance(3);
      if (e !== null) return { error: e };
    }
  } else {
    base = 2;
    if (flags & SEARCHSTORE) { base = 3; storeKey = 1; }
  }

  let withdist = false, withhash = false, withcoords = false, any = false, storedist = false;
  let frommember = false, fromloc = false, byradius = false, bybox = false;
  let sort = SORT_NONE, count = 0;
  const n = argv.length;
  for (let i = base; i < n; i++) {
    const w = word(argv[i]);
    if (w === 'withdist') withdist = true;
    else if (w === 'withhash') withhash = true;
    else if (w === 'withcoord') withcoords = true;
    else if (w === 'any') any = true;
    else if (w === 'asc') sort = SORT_ASC;
    else if (w === 'desc') sort = SORT_DESC;
    else if (w === 'count' && i + 1 < n) {
      const c = parseI64(argv[i + 1]);
      if (c === null) return { error: 'ERR value is not an integer or out of range' };
      if (c <= 0) return { error: 'ERR COUNT must be > 0' };
      count = Number(c); i++;
    } else if ((w === 'store' || w === 'storedist') && i + 1 < n && !(flags & (NOSTORE | SEARCH))) {
      storeKey = i + 1; storedist = w === 'storedist'; i++;
    } else if (w === 'storedist' && flags & SEARCHSTORE) {
      storedist = true;
    } else if (w === 'frommember' && i + 1 < n && flags & SEARCH && !fromloc) {
      if (z !== null) {
        const e = center(argv[i + 1]);
        if (e !== null) return { error: e };
      }
      frommember = true; i++;
    } else if (w === 'fromlonlat' && i + 2 < n && flags & SEARCH && !frommember) {
      const xy = lonLat(argv[i + 1], argv[i + 2]);
      if (typeof xy === 'string') return { error: xy };
      [shape.lon, shape.lat] = xy;
      fromloc = true; i += 2;
    } else if (w === 'byradius' && i + 2 < n && flags & SEARCH && !bybox) {
      const e = distance(i + 1);
      if (e !== null) return { error: e };
      byradius = true; i += 2;
    } else if (w === 'bybox' && i + 3 < n && flags & SEARCH && !byradius) {
      const wd = parseStrictDouble(argv[i + 1]);
      if (wd === null) return { error: 'ERR need numeric width' };
      const ht = parseStrictDouble(argv[i + 2]);
      if (ht === null) return { error: 'ERR need numeric height' };
      if (ht < 0 || wd < 0) return { error: 'ERR height or width cannot be negative' };
      const f = unitFactor(argv[i + 3]);
      if (f < 0) return { error: BAD_UNIT };
      shape.width = wd; shape.height = ht; shape.conversion = f; shape.type = RECTANGLE;
      bybox = true; i += 3;
    } else {
      return { error: SYNTAX };
    }
  }

  const name = argv[0].toString('latin1');
  if (storeKey >= 0 && (withdist || withhash || withcoords)) {
    const what = flags & SEARCHSTORE ? 'GEOSEARCHSTORE' : 'STORE option in GEORADIUS';
    return { error: `ERR ${what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options` };
  }
  if (flags & SEARCH && !(frommember || fromloc)) {
    return { error: `ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for ${name}` };
  }
  if (flags & SEARCH && !(byradius || bybox)) {
    return { error: `ERR exactly one of BYRADIUS and BYBOX can be specified for ${name}` };
  }
  if (any && count === 0) return { error: 'ERR the ANY argument requires COUNT argument' };

  const out: Search = { shape, withdist, withhash, withcoords, storeKey, storedist, points: null, returned: 0 };
  if (z === null) return out;
  if (count !== 0 && sort === SORT_NONE && !any) sort = SORT_ASC;
  const points = membersOfAllNeighbors(z, shape, any ? count : 0);
  out.points = points;
  out.returned = count === 0 || points.length < count ? points.length : count;
  if (sort !== SORT_NONE) sortPoints(points, sort === SORT_DESC, out.returned);
  return out;
}

/** membersOfAllNeighbors: candidates of every cell to scan, each distinct cell once, up to `limit`. */
function membersOfAllNeighbors(z: Portable, shape: GeoShape, limit: number): GeoPoint[] {
  const cells = searchCells(shape);
  const out: GeoPoint[] = [];
  let last = 0;
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i];
    if (c.step === 0 && c.bits === 0n) continue;
    if (last !== 0 && c.bits === cells[last].bits && c.step === cells[last].step) continue;
    if (out.length !== 0 && limit !== 0 && out.length >= limit) break;
    membersOfCell(z, c, shape, out, limit);
    last = i;
  }
  return out;
}

/** geoGetPointsInRange over the cell's score range [min, max), zset order. */
function membersOfCell(z: Portable, c: Cell, shape: GeoShape, out: GeoPoint[], limit: number): void {
  const [min, max] = cellScoreRange(c);
  const scores = z.scores!, items = z.items!;
  let lo = 0, hi = scores.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (scores[mid] < min) lo = mid + 1; else hi = mid;
  }
  for (let i = lo; i < scores.length && scores[i] < max; i++) {
    const s = scores[i];
    decodeScore(s);
    const d = distanceIfInShape(shape, point.lon, point.lat);
    if (d !== -1) out.push({ lon: point.lon, lat: point.lat, dist: d, score: s, member: items[i] });
    if (out.length !== 0 && limit !== 0 && out.length >= limit) break;
  }
}

interface GeoPoint { lon: number; lat: number; dist: number; score: number; member: Buffer }

const ascending = (x: GeoPoint, y: GeoPoint): number => (x.dist > y.dist ? 1 : x.dist === y.dist ? 0 : -1);
const descending = (x: GeoPoint, y: GeoPoint): number => -ascending(x, y);   // as C: -0 when equal

/** Sorts by distance as Redis does: all of it (stable), or just enough for the first `returned`. */
function sortPoints(a: GeoPoint[], desc: boolean, returned: number): void {
  const cmp = desc ? descending : ascending;
  if (returned === a.length) a.sort(cmp);
  else pqsort(a, cmp, returned - 1);
}

/**
 * Redis's pqsort (Bentley & McIlroy's quicksort; partitions entirely outside [0, last] are left
 * unsorted), step for step: which of several equally distant points make the cut depends on it.
 */
function pqsort(a: GeoPoint[], cmp: (x: GeoPoint, y: GeoPoint) => number, last: number): void {
  const swap = (i: number, j: number): void => { const t = a[i]; a[i] = a[j]; a[j] = t; };
  const med3 = (x: number, y: number, z: number): number => (cmp(a[x], a[y]) < 0
    ? (cmp(a[y], a[z]) < 0 ? y : cmp(a[x], a[z]) < 0 ? z : x)
    : (cmp(a[y], a[z]) > 0 ? y : cmp(a[x], a[z]) < 0 ? x : z));
  const wanted = (base: number, n: number): boolean => !(last < base || 0 >= base + n);
  const sortRange = (base: number, n: number): void => {
    for (;;) {
      if (n < 7) {   // insertion sort
        for (let m = base + 1; m < base + n; m++) for (let l = m; l > base && cmp(a[l - 1], a[l]) > 0; l--) swap(l, l - 1);
        return;
      }
      let pm = base + (n >> 1);
      if (n > 7) {
        let pl = base, pn = base + n - 1;
        const d = n >> 3;
        if (n > 40) { pl = med3(pl, pl + d, pl + 2 * d); pm = med3(pm - d, pm, pm + d); pn = med3(pn - 2 * d, pn - d, pn); }
        pm = med3(pl, pm, pn);
      }
      swap(base, pm);
      let pa = base + 1, pb = pa, pc = base + n - 1, pd = pc, r = 0;
      for (;;) {
        while (pb <= pc && (r = cmp(a[pb], a[base])) <= 0) { if (r === 0) swap(pa++, pb); pb++; }
        while (pb <= pc && (r = cmp(a[pc], a[base])) >= 0) { if (r === 0) swap(pc, pd--); pc--; }
        if (pb > pc) break;
        swap(pb++, pc--);
      }
      const end = base + n;
      r = Math.min(pa - base, pb - pa);
      for (let k = 0; k < r; k++) swap(base + k, pb - r + k);
      r = Math.min(pd - pc, end - pd - 1);
      for (let k = 0; k < r; k++) swap(pb + k, end - r + k);
      if ((r = pb - pa) > 1 && wanted(base, r)) sortRange(base, r);
      if ((r = pd - pc) <= 1) return;
      base = end - r; n = r;
      if (!wanted(base, n)) return;
    }
  };
  sortRange(0, a.length);
}

/** The reply of a search without STORE. */
function searchReply(s: Search): unknown {
  if (s.points === null) return [];
  const conv = s.shape.conversion;
  const opts = (s.withdist ? 1 : 0) + (s.withhash ? 1 : 0) + (s.withcoords ? 1 : 0);
  const out: unknown[] = new Array(s.returned);
  for (let i = 0; i < s.returned; i++) {
    const p = s.points[i];
    if (opts === 0) { out[i] = p.member; continue; }
    const e: unknown[] = [p.member];
    if (s.withdist) e.push(formatFixed(p.dist / conv, 4));
    if (s.withhash) e.push(Math.trunc(p.score));
    if (s.withcoords) e.push([formatHuman(p.lon), formatHuman(p.lat)]);
    out[i] = e;
  }
  return out;
}

const FLAGS: Record<string, [number, number]> = {   // name → [flags, arity]
  georadius: [COORDS, 6], georadiusbymember: [MEMBER, 5],
  georadius_ro: [COORDS | NOSTORE, 6], georadiusbymember_ro: [MEMBER | NOSTORE, 5],
  geosearch: [SEARCH, 7], geosearchstore: [SEARCH | SEARCHSTORE, 8],
};

/** [flags, arity] of GEORADIUS, GEORADIUSBYMEMBER or GEOSEARCHSTORE (the forms that can write). */
function storeForm(argv: Buffer[]): [number, number] | undefined {
  const name = argv[0].toString('latin1').toLowerCase();
  return name === 'georadius' || name === 'georadiusbymember' || name === 'geosearchstore' ? FLAGS[name] : undefined;
}

/**
 * argv indexes of the source and destination keys of a GEO store form, or null when argv is not one:
 * another command, too few arguments, GEORADIUS[BYMEMBER] without STORE / STOREDIST or with
 * arguments Redis refuses (the master never propagates those).
 */
export function geoStoreKeys(argv: Buffer[]): { src: number; dest: number } | null {
  const f = storeForm(argv);
  if (f === undefined || argv.length < f[1]) return null;
  if (f[0] & SEARCH) return { src: 2, dest: 1 };
  const s = geoSearch(argv, f[0], null);
  return 'error' in s || s.storeKey < 0 ? null : { src: 1, dest: s.storeKey };
}

/**
 * The new value of the destination of GEORADIUS / GEORADIUSBYMEMBER … STORE | STOREDIST dst or
 * GEOSEARCHSTORE dst src …, given the source key's value: a zset of geohash scores (STORE) or of
 * distances in the query's unit (STOREDIST), null when nothing matched (Redis deletes dst), or the
 * error Redis replies (nothing changes then).
 */
export function geoStoreCompute(argv: Buffer[], src: Portable | null): { value: Portable | null } | { error: string } {
  const f = storeForm(argv);
  if (f === undefined) return { error: `ERR '${argv[0].toString('latin1')}' is not a GEO store command` };
  if (argv.length < f[1]) return arityError(argv[0].toString('latin1').toLowerCase());
  const s = geoSearch(argv, f[0], src);
  if ('error' in s) return s;
  if (s.storeKey < 0) return { error: 'ERR GEORADIUS without STORE or STOREDIST does not write' };
  if (s.points === null || s.returned === 0) return { value: null };
  const rows: Array<[number, Buffer]> = new Array(s.returned);
  for (let i = 0; i < s.returned; i++) {
    const p = s.points[i];
    rows[i] = [s.storedist ? p.dist / s.shape.conversion : p.score, p.member];
  }
  rows.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : Buffer.compare(a[1], b[1])));
  return { value: { type: T_ZSET, expireMs: -1, items: rows.map((r) => r[1]), scores: rows.map((r) => r[0]) } };
}

/** A read-only search: type check, then the zset as a Portable (whole), then georadiusGeneric. */
function searchRead(ks: Keyspace, db: number, argv: Buffer[], nowMs: number): unknown {
  const name = argv[0].toString('latin1').toLowerCase();
  const [flags, arity] = FLAGS[name];
  if (argv.length < arity) return arityError(name);
  const r = zsetRef(ks, db, argv[1], nowMs);
  if (!(r === null || r instanceof KeyRef)) return r;
  return then(r === null ? null : readPortable(ks, db, argv[1]), (z) => {
    const s = geoSearch(argv, flags, z);
    return 'error' in s ? s : searchReply(s);
  });
}

/** The zset at key for GEOPOS / GEODIST / GEOHASH: null (absent), WRONGTYPE, or its ref. */
function zsetRef(ks: Keyspace, db: number, key: Buffer, nowMs: number): KeyRef | null | typeof WRONGTYPE {
  const r = ks.lookup(db, key, nowMs);
  return r === null || r.meta!.type === T_ZSET ? r : WRONGTYPE;
}

/** GEOPOS / GEOHASH: one entry per member, null when missing, else f() of its decoded position. */
function perMember(ks: Keyspace, db: number, argv: Buffer[], now: number, name: string, f: () => unknown): unknown {
  if (argv.length < 2) return arityError(name);
  const r = zsetRef(ks, db, argv[1], now);
  if (!(r === null || r instanceof KeyRef)) return r;
  const out: unknown[] = new Array(argv.length - 2);
  for (let i = 2; i < argv.length; i++) {
    const s = r === null ? undefined : zsetScore(ks, r, argv[i]);
    if (s === undefined) { out[i - 2] = null; continue; }
    decodeScore(s);
    out[i - 2] = f();
  }
  return out;
}

export const geoReads: ReadTable = {
  georadius_ro: searchRead,
  georadiusbymember_ro: searchRead,
  geosearch: searchRead,

  geopos: (ks, db, argv, now) => perMember(ks, db, argv, now, 'geopos',
    () => [formatHuman(point.lon), formatHuman(point.lat)]),
  geohash: (ks, db, argv, now) => perMember(ks, db, argv, now, 'geohash',
    () => standardGeohash(point.lon, point.lat)),

  geodist(ks, db, argv, now) {
    if (argv.length < 4) return arityError('geodist');
    if (argv.length > 5) return { error: SYNTAX };
    const toMeter = argv.length === 5 ? unitFactor(argv[4]) : 1;
    if (toMeter < 0) return { error: BAD_UNIT };
    const r = zsetRef(ks, db, argv[1], now);
    if (!(r instanceof KeyRef)) return r;
    const s1 = zsetScore(ks, r, argv[2]), s2 = zsetScore(ks, r, argv[3]);
    if (s1 === undefined || s2 === undefined) return null;
    decodeScore(s1);
    const lon1 = point.lon, lat1 = point.lat;
    decodeScore(s2);
    return formatFixed(geoDistance(lon1, lat1, point.lon, point.lat) / toMeter, 4);
  },
};
