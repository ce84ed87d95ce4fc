/**
 * Redis 7.0's geohash arithmetic (geohash.c, geohash_helper.c, geo.c), step for step: WGS84 limits
 * (lon ±180, lat ±85.05112878); a point is the 52-bit interleaving (lat bits even, lon bits odd) of
 * its 26-step cell, stored as the zset score; decoding gives the cell's centre; distances are
 * haversine with radius 6372797.560856 m; a search scans the centre cell and the neighbours its
 * bounding box reaches, at a step estimated from the radius, then tests each candidate exactly.
 * Cells use BigInt with C's 64-bit wrap-around (longitude 180 sets a bit above the 52).
 *
 * sin / cos / asin: Redis uses glibc's libm. V8's Math functions differ from it in the last bit for
 * a few percent of arguments (measured), which shows in STOREDIST scores; the ones here are
 * correctly rounded (double-double), as glibc 2.36 is for all but ~0.15% of arguments.
 */

import { formatLongDoubleHuman } from '../src/util/numbers.js';

export const GEO_LONG_MIN = -180, GEO_LONG_MAX = 180;
export const GEO_LAT_MIN = -85.05112878, GEO_LAT_MAX = 85.05112878;
export const GEO_STEP_MAX = 26;
export const EARTH_RADIUS_IN_METERS = 6372797.560856;
const MERCATOR_MAX = 20037726.37;
const D_R = Math.PI / 180.0;
const LAT_SCALE = GEO_LAT_MAX - GEO_LAT_MIN;
const LONG_SCALE = GEO_LONG_MAX - GEO_LONG_MIN;

// ----- correctly rounded sin / cos / asin (double-double) --------------------------------------------

let LO = 0;   // low part of the last double-double result
const SPLITTER = 134217729;   // 2^27 + 1

function twoSum(a: number, b: number): number {
  const s = a + b, bb = s - a;
  LO = (a - (s - bb)) + (b - bb);
  return s;
}
function quickTwoSum(a: number, b: number): number { const s = a + b; LO = b - (s - a); return s; }
function twoProd(a: number, b: number): number {
  const p = a * b;
  let t = SPLITTER * a;
  const ah = t - (t - a), al = a - ah;
  t = SPLITTER * b;
  const bh = t - (t - b), bl = b - bh;
  LO = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
  return p;
}
function ddAdd(ah: number, al: number, bh: number, bl: number): number {
  const s = twoSum(ah, bh); return quickTwoSum(s, LO + al + bl);
}
function ddMul(ah: number, al: number, bh: number, bl: number): number {
  const p = twoProd(ah, bh); return quickTwoSum(p, LO + (ah * bl + al * bh));
}

/** ±1/n! for the series: [hi, lo] pairs for the terms evaluated in double-double, then doubles. */
function seriesCoefficients(first: number, dd: number, total: number): { hi: number[]; lo: number[]; tail: number[] } {
  const hi: number[] = [], lo: number[] = [], tail: number[] = [];
  let f = 1;
  for (let i = 2; i <= first; i++) f *= i;
  for (let k = 0; k < total; k++) {
    const n = first + 2 * k;
    if (k > 0) f *= (n - 1) * n;
    const sign = k % 2 === 0 ? 1 : -1;
    const h = 1 / f;
    const p = twoProd(h, f);
    const l = ((1 - p) - LO) / f;   // f is exact for n ≤ 18
    if (k < dd) { hi.push(sign * h); lo.push(sign * l); } else tail.push(sign * h);
  }
  return { hi, lo, tail };
}
const SIN_C = seriesCoefficients(1, 8, 15);   // Σ (-1)^k z^k / (2k+1)!, z = r², |r| ≤ π/4
const COS_C = seriesCoefficients(0, 9, 16);   // Σ (-1)^k z^k / (2k)!

/** Evaluates a series in z = (zh, zl): double Horner for the tail, double-double for the head. */
function series(c: { hi: number[]; lo: number[]; tail: number[] }, zh: number, zl: number): number {
  let t = 0;
  for (let k = c.tail.length - 1; k >= 0; k--) t = t * zh + c.tail[k];
  let ph = t, pl = 0;
  for (let k = c.hi.length - 1; k >= 0; k--) {
    ph = ddMul(ph, pl, zh, zl); pl = LO;
    ph = ddAdd(ph, pl, c.hi[k], c.lo[k]); pl = LO;
  }
  LO = pl;
  return ph;
}

const PIO2_1 = 1.5707963267948966, PIO2_2 = 6.123233995736766e-17, PIO2_3 = -1.4973849048591698e-33;
const TWO_OVER_PI = 0.6366197723675814;
let RL = 0;   // low part of the reduced argument

/** Reduces (xh, xl) by k·π/2 into (return value, RL), |r| ≤ ~π/4; returns k mod 4 in QUADRANT. */
let QUADRANT = 0;
function reduce(xh: number, xl: number): number {
  if (Math.abs(xh) <= 0.7853981633974483) { QUADRANT = 0; RL = xl; return xh; }
  const k = Math.round(xh * TWO_OVER_PI);
  QUADRANT = k & 3;
  const p1 = twoProd(k, PIO2_1), e1 = LO;
  const p2 = twoProd(k, PIO2_2), e2 = LO;
  let h = twoSum(xh, -p1), l = LO;   // exact
  h = ddAdd(h, l, -e1, xl); l = LO;
  h = ddAdd(h, l, -p2, -e2); l = LO;
  h = ddAdd(h, l, -k * PIO2_3, 0);
  RL = LO;
  return h;
}

/** sin (shift 0) or cos (shift 1) of (xh + xl) as a double-double (hi returned, lo in LO). */
function trigDD(xh: number, xl: number, shift: number): number {
  const rh = reduce(xh, xl), rl = RL;
  const q = (QUADRANT + shift) & 3;
  const zh = ddMul(rh, rl, rh, rl), zl = LO;
  let h: number;
  if (q & 1) h = series(COS_C, zh, zl);
  else { h = series(SIN_C, zh, zl); h = ddMul(rh, rl, h, LO); }
  if (q & 2) { LO = -LO; return -h; }
  return h;
}

const REDUCE_MAX = 1048576;
const TINY = 1.4901161193847656e-8;   // 2^-26: below it sin x and asin x round to x
const TINY_COS = 7.450580596923828e-9;   // 2^-27: below it cos x rounds to 1

/** sin(x), correctly rounded (beyond 2^20 radians: V8's Math.sin). */
export function sin(x: number): number {
  const a = Math.abs(x);
  if (a < TINY) return x;
  return a <= REDUCE_MAX ? trigDD(x, 0, 0) + LO : Math.sin(x);
}
/** cos(x), correctly rounded (beyond 2^20 radians: V8's Math.cos). */
export function cos(x: number): number {
  const a = Math.abs(x);
  if (a < TINY_COS) return 1;
  return a <= REDUCE_MAX ? trigDD(x, 0, 1) + LO : Math.cos(x);
}
/** asin(y), correctly rounded; NaN outside [-1, 1]. Newton steps from V8's value. */
export function asin(y: number): number {
  if (!(y >= -1 && y <= 1)) return NaN;
  if (Math.abs(y) < TINY) return y;
  const x0 = Math.asin(y);
  let sh = trigDD(x0, 0, 0);
  let d = (y - sh) - LO;
  let xh = quickTwoSum(x0, d / trigDD(x0, 0, 1)), xl = LO;
  if (Math.abs(y) > 0.999) {   // near ±π/2 the first step's quadratic error may still matter
    sh = trigDD(xh, xl, 0);
    d = (y - sh) - LO;
    xh = ddAdd(xh, xl, d / trigDD(xh, 0, 1), 0); xl = LO;
  }
  return xh + xl;
}

// ----- distances ----------------------------------------------------------------------------------------

/** Haversine distance in meters between two lon/lat points (degrees), as geohashGetDistance. */
export function geoDistance(lon1: number, lat1: number, lon2: number, lat2: number): number {
  const lat1r = lat1 * D_R, lon1r = lon1 * D_R, lat2r = lat2 * D_R, lon2r = lon2 * D_R;
  const u = sin((lat2r - lat1r) / 2);
  const v = sin((lon2r - lon1r) / 2);
  return 2.0 * EARTH_RADIUS_IN_METERS * asin(Math.sqrt(u * u + cos(lat1r) * cos(lat2r) * v * v));
}

export const CIRCLE = 1, RECTANGLE = 2;

/** A search area (GeoShape): centre, radius or box (in `unit`s), and the unit's size in meters. */
export interface GeoShape {
  type: number;
  lon: number;
  lat: number;
  radius: number;
  width: number;
  height: number;
  conversion: number;
}

/**
 * The distance in meters from the shape's centre to (lon, lat) when the point is inside the shape,
 * else -1 (distances are never negative; a NaN distance counts as inside, as in C).
 */
export function distanceIfInShape(s: GeoShape, lon: number, lat: number): number {
  if (s.type === CIRCLE) {
    const d = geoDistance(s.lon, s.lat, lon, lat);
    return d > s.radius * s.conversion ? -1 : d;
  }
  const widthM = s.width * s.conversion, heightM = s.height * s.conversion;
  const lonDistance = geoDistance(lon, lat, s.lon, lat);
  const latDistance = geoDistance(lon, lat, lon, s.lat);
  if (lonDistance > widthM / 2 || latDistance > heightM / 2) return -1;
  return geoDistance(s.lon, s.lat, lon, lat);
}

// ----- cells ----------------------------------------------------------------------------------------------

/** A geohash cell: `bits` (2·step bits, or more after a 180° overflow) at `step`; step 0 = none. */
export interface Cell { bits: bigint; step: number }

const M64 = (1n << 64n) - 1n;
const ODD = 0xaaaaaaaaaaaaaaaan, EVEN = 0x5555555555555555n;

/** The bits of a 16-bit value spread to the even positions of a 32-bit one. */
function spread16(v: number): number {
  v = (v | (v << 8)) & 0x00ff00ff;
  v = (v | (v << 4)) & 0x0f0f0f0f;
  v = (v | (v << 2)) & 0x33333333;
  v = (v | (v << 1)) & 0x55555555;
  return v >>> 0;
}
/** The even-position bits of a 32-bit value, packed into 16 bits. */
function compact32(v: number): number {
  v &= 0x55555555;
  v = (v | (v >>> 1)) & 0x33333333;
  v = (v | (v >>> 2)) & 0x0f0f0f0f;
  v = (v | (v >>> 4)) & 0x00ff00ff;
  v = (v | (v >>> 8)) & 0x0000ffff;
  return v;
}

/** interleave64(lat, lon): lat bits at even positions, lon bits at odd ones (both < 2^32). */
function interleave(lat: number, lon: number): bigint {
  const lo = (spread16(lat & 0xffff) | (spread16(lon & 0xffff) << 1)) >>> 0;
  const hi = (spread16(lat >>> 16) | (spread16(lon >>> 16) << 1)) >>> 0;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/**
 * geohashEncode within the given ranges (callers pass coordinates already checked against them):
 * offsets scaled to 2^step and truncated to uint32.
 */
export function encodeCell(lon: number, lat: number, step: number,
  lonMin = GEO_LONG_MIN, lonMax = GEO_LONG_MAX, latMin = GEO_LAT_MIN, latMax = GEO_LAT_MAX): Cell {
  const latOffset = ((lat - latMin) / (latMax - latMin)) * 2 ** step;
  const lonOffset = ((lon - lonMin) / (lonMax - lonMin)) * 2 ** step;
  return { bits: interleave(Math.trunc(latOffset) >>> 0, Math.trunc(lonOffset) >>> 0), step };
}

/** Decoded cell bounds (geohashDecode), written by decodeHalves. */
export const area = { lonMin: 0, lonMax: 0, latMin: 0, latMax: 0 };

/** geohashDecode (WGS84 ranges) of the 64-bit value hi·2^32 + lo at `step`. */
function decodeHalves(hi: number, lo: number, step: number): void {
  const ilato = (compact32(lo) | (compact32(hi) << 16)) >>> 0;
  const ilono = (compact32(lo >>> 1) | (compact32(hi >>> 1) << 16)) >>> 0;
  const scale = 2 ** step;
  area.latMin = GEO_LAT_MIN + (ilato / scale) * LAT_SCALE;
  area.latMax = GEO_LAT_MIN + (((ilato + 1) >>> 0) / scale) * LAT_SCALE;
  area.lonMin = GEO_LONG_MIN + (ilono / scale) * LONG_SCALE;
  area.lonMax = GEO_LONG_MIN + (((ilono + 1) >>> 0) / scale) * LONG_SCALE;
}

export function decodeCell(c: Cell): void {
  decodeHalves(Number(c.bits >> 32n), Number(c.bits & 0xffffffffn), c.step);
}

const TWO32 = 4294967296, TWO63 = 9223372036854775808, TWO64 = 18446744073709551616;

/** Decoded position, written by decodeScore. */
export const point = { lon: 0, lat: 0 };

/**
 * decodeGeohash: the centre of the 26-step cell of a zset score, clamped to the WGS84 limits. The
 * score becomes a uint64 as C's conversion does on x86-64 (truncation; negative values wrap; out of
 * range gives 2^63, or 0 at and above 2^64).
 */
export function decodeScore(score: number): void {
  let hi: number, lo: number;
  if (score >= 0 && score < TWO64) {
    const t = Math.trunc(score);
    hi = Math.floor(t / TWO32); lo = t - hi * TWO32;
  } else if (score < 0 && score > -TWO63) {
    const u = BigInt.asUintN(64, BigInt(Math.trunc(score)));
    hi = Number(u >> 32n); lo = Number(u & 0xffffffffn);
  } else {
    hi = score >= TWO64 ? 0 : 0x80000000; lo = 0;
  }
  decodeHalves(hi >>> 0, lo, GEO_STEP_MAX);
  let x = (area.lonMin + area.lonMax) / 2;
  if (x > GEO_LONG_MAX) x = GEO_LONG_MAX;
  if (x < GEO_LONG_MIN) x = GEO_LONG_MIN;
  let y = (area.latMin + area.latMax) / 2;
  if (y > GEO_LAT_MAX) y = GEO_LAT_MAX;
  if (y < GEO_LAT_MIN) y = GEO_LAT_MIN;
  point.lon = x; point.lat = y;
}

/** The 11-character standard geohash (lat range ±90) of a decoded position, as GEOHASH replies. */
export function standardGeohash(lon: number, lat: number): string {
  const ALPHABET = '0123456789bcdefghjkmnpqrstuvwxyz';
  const bits = encodeCell(lon, lat, GEO_STEP_MAX, -180, 180, -90, 90).bits;
  let s = '';
  for (let i = 0; i < 10; i++) s += ALPHABET[Number((bits >> BigInt(52 - (i + 1) * 5)) & 31n)];
  return s + '0';
}

/** geohash_move_x (axis ODD: longitude) or geohash_move_y (axis EVEN: latitude) by d = ±1. */
function move(c: Cell, axis: bigint, d: number): Cell {
  const other = axis === ODD ? EVEN : ODD;
  let v = c.bits & axis;
  const zz = other >> BigInt(64 - c.step * 2);
  v = d > 0 ? v + (zz + 1n) : (v | zz) - (zz + 1n);
  v &= axis >> BigInt(64 - c.step * 2);
  return { bits: (v | (c.bits & other)) & M64, step: c.step };
}

/** geohashEstimateStepsByRadius */
function estimateSteps(rangeMeters: number, lat: number): number {
  if (rangeMeters === 0) return 26;
  let step = 1;
  while (rangeMeters < MERCATOR_MAX) { rangeMeters *= 2; step++; }
  step -= 2;
  if (lat > 66 || lat < -66) {
    step--;
    if (lat > 80 || lat < -80) step--;
  }
  return step < 1 ? 1 : step > 26 ? 26 : step;
}

const NONE: Cell = { bits: 0n, step: 0 };

/**
 * geohashCalculateAreasByShapeWGS84: the cells to scan, in Redis's order (centre, N, S, E, W, NE,
 * NW, SE, SW); neighbours the bounding box does not reach are NONE.
 */
export function searchCells(s: GeoShape): Cell[] {
  // bounding box (geohashBoundingBox)
  const height = s.conversion * (s.type === CIRCLE ? s.radius : s.height / 2);
  const width = s.conversion * (s.type === CIRCLE ? s.radius : s.width / 2);
  const latDelta = (height / EARTH_RADIUS_IN_METERS) / D_R;
  const lonDeltaTop = (width / EARTH_RADIUS_IN_METERS / cos((s.lat + latDelta) * D_R)) / D_R;
  const lonDeltaBottom = (width / EARTH_RADIUS_IN_METERS / cos((s.lat - latDelta) * D_R)) / D_R;
  const south = s.lat < 0;
  const minLon = south ? s.lon - lonDeltaBottom : s.lon - lonDeltaTop;
  const maxLon = south ? s.lon + lonDeltaBottom : s.lon + lonDeltaTop;
  const minLat = s.lat - latDelta, maxLat = s.lat + latDelta;

  let radiusMeters = s.type === CIRCLE ? s.radius
    : Math.sqrt((s.width / 2) * (s.width / 2) + (s.height / 2) * (s.height / 2));
  radiusMeters *= s.conversion;
  let steps = estimateSteps(radiusMeters, s.lat);
  let hash = encodeCell(s.lon, s.lat, steps);
  let n = neighbours(hash);
  decodeCell(n[1]); const northLatMax = area.latMax;
  decodeCell(n[2]); const southLatMin = area.latMin;
  decodeCell(n[3]); const eastLonMax = area.lonMax;
  decodeCell(n[4]); const westLonMin = area.lonMin;
  const decrease = northLatMax < maxLat || southLatMin > minLat || eastLonMax < maxLon || westLonMin > minLon;
  if (steps > 1 && decrease) {
    steps--;
    hash = encodeCell(s.lon, s.lat, steps);
    n = neighbours(hash);
  }
  if (steps >= 2) {
    decodeCell(hash);
    if (area.latMin < minLat) n[2] = n[8] = n[7] = NONE;   // south, south-west, south-east
    if (area.latMax > maxLat) n[1] = n[5] = n[6] = NONE;   // north, north-east, north-west
    if (area.lonMin < minLon) n[4] = n[8] = n[6] = NONE;   // west, south-west, north-west
    if (area.lonMax > maxLon) n[3] = n[7] = n[5] = NONE;   // east, south-east, north-east
  }
  return n;
}

/** [centre, N, S, E, W, NE, NW, SE, SW] */
function neighbours(h: Cell): Cell[] {
  const e = move(h, ODD, 1), w = move(h, ODD, -1);
  return [h, move(h, EVEN, 1), move(h, EVEN, -1), e, w, move(e, EVEN, 1), move(w, EVEN, 1), move(e, EVEN, -1), move(w, EVEN, -1)];
}

/** The zset score range [min, max) of a cell (scoresOfGeoHashBox), as doubles. */
export function cellScoreRange(c: Cell): [number, number] {
  const sh = BigInt(52 - c.step * 2);
  return [Number((c.bits << sh) & M64), Number(((c.bits + 1n) << sh) & M64)];
}

// ----- number formats of the replies ------------------------------------------------------------------------

/** C's printf("%.<d>f", x) (exact value, ties to even; NaN as x86 glibc prints asin's NaN: "-nan"). */
export function formatFixed(x: number, d: number): string {
  if (x !== x) return '-nan';
  if (x === Infinity || x === -Infinity) return x > 0 ? 'inf' : '-inf';
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const a = Math.abs(x);
  if (a >= 9007199254740992) return sign + BigInt(a).toString() + '.' + '0'.repeat(d);
  const k = 2 ** (d + 1);
  if (!Number.isInteger(a * k)) return sign + a.toFixed(d);   // no tie possible: toFixed is exact
  const twice = BigInt(a * k) * 5n ** BigInt(d);   // 2·a·10^d, an integer
  let q = twice >> 1n;
  if (twice & 1n && q & 1n) q++;
  const s = q.toString().padStart(d + 1, '0');
  return sign + s.slice(0, s.length - d) + '.' + s.slice(s.length - d);
}

const bitsView = new DataView(new ArrayBuffer(8));

/** Redis's "human" long double text of a double (addReplyHumanLongDouble: "%.17Lf", zeros cut). */
export function formatHuman(x: number): string {
  if (!Number.isFinite(x)) return formatFixed(x, 0);
  bitsView.setFloat64(0, Math.abs(x));
  const b = bitsView.getBigUint64(0);
  const be = Number(b >> 52n);
  const frac = b & 0xfffffffffffffn;
  return formatLongDoubleHuman(be === 0
    ? { neg: x < 0, m: frac, e: -1074, inf: false }
    : { neg: x < 0, m: frac | (1n << 52n), e: be - 1075, inf: false });
}
