/**
 * Sorted-set helpers that do not touch storage: the order-preserving score encoding used in the
 * score index, Redis's ordering of (score, member) pairs, and parsing of score / lex ranges with
 * Redis's exact error replies.
 */
import { parseLooseDouble } from './strtod.js';
import { parseI64 } from '../src/util/numbers.js';
import { compareBytes, sameBytes } from './command-api.js';

export { sameBytes };

export const ERR_NOT_FLOAT = 'ERR value is not a valid float';
export const ERR_RANGE_NOT_FLOAT = 'ERR min or max is not a float';
export const ERR_LEX_RANGE = 'ERR min or max not valid string range item';
export const ERR_NOT_INTEGER = 'ERR value is not an integer or out of range';
export const ERR_NAN_SCORE = 'ERR resulting score is not a number (NaN)';

const f64 = new Float64Array(1);
const u8 = new Uint8Array(f64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Encode a score as 8 bytes whose unsigned byte order is the numeric order:
 *   -inf < … < -5e-324 < 0 < 5e-324 < … < +inf.
 * Layout: the IEEE-754 big-endian bit pattern; for non-negative numbers the sign bit is set, for
 * negative numbers every bit is inverted. -0 is normalised to 0 first (Redis treats them as equal
 * scores). NaN must never be passed (Redis never stores a NaN score).
 */
export function encodeScore(score: number, out: Uint8Array = new Uint8Array(8), at = 0): Uint8Array {
  f64[0] = score === 0 ? 0 : score;
  for (let k = 0; k < 8; k++) out[at + k] = u8[LITTLE ? 7 - k : k];
  if (out[at] & 0x80) {
    for (let k = 0; k < 8; k++) out[at + k] = ~out[at + k] & 0xff;
  } else {
    out[at] |= 0x80;
  }
  return out;
}

/** Inverse of encodeScore. */
export function decodeScore(b: Uint8Array, at = 0): number {
  const neg = (b[at] & 0x80) === 0;
  for (let k = 0; k < 8; k++) {
    let v = b[at + k];
    if (neg) v = ~v & 0xff;
    else if (k === 0) v &= 0x7f;
    u8[LITTLE ? 7 - k : k] = v;
  }
  return f64[0];
}

/** Byte-wise comparison of two members (memcmp, shorter first on a common prefix), as Redis. */
export const compareMembers = compareBytes;

/** Redis's zset order: by score, ties by member bytes. */
export function compareEntries(sa: number, ma: Uint8Array, sb: number, mb: Uint8Array): number {
  if (sa < sb) return -1;
  if (sa > sb) return 1;
  return compareBytes(ma, mb);
}

/** A score interval; ex flags make the bound exclusive. */
export interface ScoreRange {
  min: number;
  max: number;
  minex: boolean;
  maxex: boolean;
}

export function scoreGteMin(s: number, r: ScoreRange): boolean {
  return r.minex ? s > r.min : s >= r.min;
}
export function scoreLteMax(s: number, r: ScoreRange): boolean {
  return r.maxex ? s < r.max : s <= r.max;
}
export function scoreInRange(s: number, r: ScoreRange): boolean {
  return scoreGteMin(s, r) && scoreLteMax(s, r);
}
/** True when no score can satisfy the range (Redis answers empty without looking). */
export function scoreRangeEmpty(r: ScoreRange): boolean {
  return r.min > r.max || (r.min === r.max && (r.minex || r.maxex));
}

/**
 * One bound of a score range: "(" prefix means exclusive, the rest is parsed as strtod with
 * leading white space allowed ("1.5", "(1.5", "-inf", "+inf", "inf", "" = 0, "(" = exclusive 0).
 */
function parseScoreBound(b: Uint8Array): { v: number; ex: boolean } | null {
  const ex = b.length > 0 && b[0] === 0x28; // '('
  const v = parseLooseDouble(ex ? b.subarray(1) : b);
  return v === null ? null : { v, ex };
}

/** ZRANGEBYSCORE-style min/max. Returns an error string (Redis's wording) when invalid. */
export function parseScoreRange(min: Uint8Array, max: Uint8Array): ScoreRange | string {
  const a = parseScoreBound(min);
  const b = parseScoreBound(max);
  if (a === null || b === null) return ERR_RANGE_NOT_FLOAT;
  return { min: a.v, minex: a.ex, max: b.v, maxex: b.ex };
}

/**
 * A lex bound. Wire forms: "-" (before everything), "+" (after everything), "[m" inclusive,
 * "(m" exclusive. Anything else is an error.
 */
export type LexBound =
  | { kind: 'ninf' }
  | { kind: 'pinf' }
  | { kind: 'val'; v: Uint8Array; ex: boolean };

export interface LexRange {
  min: LexBound;
  max: LexBound;
}

function parseLexBound(b: Uint8Array): LexBound | null {
  if (b.length === 0) return null;
  const c = b[0];
  if (c === 0x2d /* - */ && b.length === 1) return { kind: 'ninf' };
  if (c === 0x2b /* + */ && b.length === 1) return { kind: 'pinf' };
  if (c === 0x28 /* ( */) return { kind: 'val', v: b.subarray(1), ex: true };
  if (c === 0x5b /* [ */) return { kind: 'val', v: b.subarray(1), ex: false };
  return null;
}

export function parseLexRange(min: Uint8Array, max: Uint8Array): LexRange | string {
  const a = parseLexBound(min);
  const b = parseLexBound(max);
  if (a === null || b === null) return ERR_LEX_RANGE;
  return { min: a, max: b };
}

export function lexGteMin(m: Uint8Array, r: LexRange): boolean {
  const b = r.min;
  if (b.kind === 'ninf') return true;
  if (b.kind === 'pinf') return false;
  const c = Buffer.compare(m, b.v);
  return b.ex ? c > 0 : c >= 0;
}
export function lexLteMax(m: Uint8Array, r: LexRange): boolean {
  const b = r.max;
  if (b.kind === 'pinf') return true;
  if (b.kind === 'ninf') return false;
  const c = Buffer.compare(m, b.v);
  return b.ex ? c < 0 : c <= 0;
}
export function lexInRange(m: Uint8Array, r: LexRange): boolean {
  return lexGteMin(m, r) && lexLteMax(m, r);
}
/** True when no member can satisfy the range. */
export function lexRangeEmpty(r: LexRange): boolean {
  const { min, max } = r;
  if (min.kind === 'pinf' || max.kind === 'ninf') return true;
  if (min.kind === 'ninf' || max.kind === 'pinf') return false;
  const c = Buffer.compare(min.v, max.v);
  return c > 0 || (c === 0 && (min.ex || max.ex));
}

/**
 * Clamp Redis-style start/end indexes (negative counts from the end) to [0, len-1].
 * Returns null for an empty selection.
 */
export function clampIndexRange(start: number, end: number, len: number): [number, number] | null {
  if (start < 0) start = len + start;
  if (end < 0) end = len + end;
  if (start < 0) start = 0;
  if (start > end || start >= len) return null;
  if (end >= len) end = len - 1;
  return [start, end];
}

/**
 * An index or count argument (Redis's strict int64 syntax). Returns null where Redis replies
 * ERR_NOT_INTEGER. Values beyond 2^53 come back as the nearest double: they only ever get clamped.
 */
export function parseIndex(b: Buffer): number | null {
  const v = parseI64(b);
  return v === null ? null : Number(v);
}
