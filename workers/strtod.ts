/**
 * Number parsing exactly as a Redis 7.0 master accepts it, so that the replica accepts and rejects
 * the same arguments the master did (and computes bit-identical doubles).
 *
 * Redis reads doubles with the C library's strtod (glibc here), then applies one of two policies:
 *
 *  - strict (ZADD / ZINCRBY scores, "ERR value is not a valid float"): the whole argument must be
 *    consumed, it must be non-empty, must not start with white space, must not be NaN, and must not
 *    overflow to ±inf or underflow to exactly zero (glibc reports ERANGE for both; a denormal result
 *    is kept). Literal "inf"/"infinity" (any case, optional sign) is accepted.
 *  - loose (score range bounds, "ERR min or max is not a float"): leading white space is skipped, the
 *    rest must be consumed, NaN is rejected, but overflow/underflow are not checked and an empty
 *    string parses as 0.
 *
 * strtod grammar handled here (observed against redis-server 7.0.15, see test/zset.codec.test.ts):
 *   [space*] [+|-] ( "inf" ["inity"] | "nan" ["(" chars ")"]
 *                  | "0x" hexdigits ["." hexdigits] ["p" [+|-] digits]     (at least one hex digit)
 *                  | digits ["." digits] ["e" [+|-] digits] )               (at least one digit)
 * An exponent marker with no digits after it is not consumed ("1e" stops after "1"), and "0x" with
 * no hex digit after it parses as "0" and stops before the "x". Hex floats are rounded to nearest
 * even like glibc; decimal strings use JavaScript's Number(), which is also correctly rounded.
 */

interface StrtodResult {
  value: number;
  /** Index just past the parsed text; equals the start index when nothing could be parsed. */
  end: number;
  /** glibc would set errno = ERANGE (overflow to ±inf or underflow to zero from non-zero digits). */
  erange: boolean;
}

const isSpace = (c: number): boolean => c === 0x20 || (c >= 0x09 && c <= 0x0d);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const hexVal = (c: number): number => {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
};
const lower = (c: number): number => c | 0x20;

/** Case-insensitive match of an ASCII lowercase word at position i. */
function matchWord(b: Uint8Array, i: number, word: string): boolean {
  if (i + word.length > b.length) return false;
  for (let k = 0; k < word.length; k++) if (lower(b[i + k]) !== word.charCodeAt(k)) return false;
  return true;
}

/** Parse an exponent "e|p [+|-] digits" at i; returns [exponent, end] or null when no digits follow. */
function parseExponent(b: Uint8Array, i: number): [number, number] | null {
  let j = i + 1;
  let neg = false;
  if (j < b.length && (b[j] === 0x2b || b[j] === 0x2d)) { neg = b[j] === 0x2d; j++; }
  if (j >= b.length || !isDigit(b[j])) return null;
  let e = 0;
  while (j < b.length && isDigit(b[j])) {
    if (e < 1e9) e = e * 10 + (b[j] - 0x30); // saturate: anything this large over/underflows anyway
    j++;
  }
  return [neg ? -e : e, j];
}

/** Round mantissa·2^exp2 (mantissa > 0) to the nearest double, ties to even, like glibc. */
function hexToDouble(mantissa: bigint, exp2: number): { value: number; erange: boolean } {
  const bits = mantissa.toString(2).length;
  const e = bits - 1 + exp2; // exponent of the leading bit
  if (e > 1100) return { value: Infinity, erange: true };
  if (e < -1200) return { value: 0, erange: true };
  const q = Math.max(e - 52, -1074); // exponent of the last representable bit
  const shift = q - exp2;
  let m: bigint;
  if (shift <= 0) {
    m = mantissa << BigInt(-shift);
  } else {
    const s = BigInt(shift);
    m = mantissa >> s;
    const rem = mantissa - (m << s);
    const half = 1n << (s - 1n);
    if (rem > half || (rem === half && (m & 1n) === 1n)) m += 1n;
  }
  const value = Number(m) * 2 ** q; // exact: m ≤ 2^53 and the product is representable or inf
  return { value, erange: value === Infinity || value === 0 };
}

/** strtod on bytes b starting at `start` (white space is skipped, as the C function does). */
export function strtod(b: Uint8Array, start = 0): StrtodResult {
  const n = b.length;
  let i = start;
  while (i < n && isSpace(b[i])) i++;
  let neg = false;
  if (i < n && (b[i] === 0x2b || b[i] === 0x2d)) { neg = b[i] === 0x2d; i++; }
  const none: StrtodResult = { value: 0, end: start, erange: false };
  if (i >= n) return none;
  const c = lower(b[i]);
  if (c === 0x69 /* i */) {
    if (!matchWord(b, i, 'inf')) return none;
    const end = matchWord(b, i, 'infinity') ? i + 8 : i + 3;
    return { value: neg ? -Infinity : Infinity, end, erange: false };
  }
  if (c === 0x6e /* n */) {
    if (!matchWord(b, i, 'nan')) return none;
    let end = i + 3;
    if (end < n && b[end] === 0x28) { // optional "(n-char-sequence)"
      let j = end + 1;
      while (j < n && (isDigit(b[j]) || (lower(b[j]) >= 0x61 && lower(b[j]) <= 0x7a) || b[j] === 0x5f)) j++;
      if (j < n && b[j] === 0x29) end = j + 1;
    }
    return { value: NaN, end, erange: false };
  }
  // Hexadecimal form: needs at least one hex digit after "0x" (before or after the point).
  if (b[i] === 0x30 && i + 1 < n && lower(b[i + 1]) === 0x78) {
    let j = i + 2;
    let mant = 0n;
    let digits = 0;
    let frac = 0;
    let nonzero = false;
    while (j < n && hexVal(b[j]) >= 0) { mant = (mant << 4n) | BigInt(hexVal(b[j])); digits++; j++; }
    if (j < n && b[j] === 0x2e) {
      j++;
      while (j < n && hexVal(b[j]) >= 0) { mant = (mant << 4n) | BigInt(hexVal(b[j])); digits++; frac++; j++; }
    }
    if (digits > 0) {
      let exp = 0;
      if (j < n && lower(b[j]) === 0x70 /* p */) {
        const pe = parseExponent(b, j);
        if (pe) { exp = pe[0]; j = pe[1]; }
      }
      nonzero = mant !== 0n;
      if (!nonzero) return { value: neg ? -0 : 0, end: j, erange: false };
      const r = hexToDouble(mant, exp - 4 * frac);
      return { value: neg ? -r.value : r.value, end: j, erange: r.erange };
    }
    // "0x" without digits: fall through and parse the lone "0".
  }
  // Decimal form.
  let j = i;
  let digits = 0;
  let nonzero = false;
  while (j < n && isDigit(b[j])) { if (b[j] !== 0x30) nonzero = true; digits++; j++; }
  if (j < n && b[j] === 0x2e) {
    const save = j;
    j++;
    let fd = 0;
    while (j < n && isDigit(b[j])) { if (b[j] !== 0x30) nonzero = true; fd++; j++; }
    digits += fd;
    if (digits === 0) j = save;
  }
  if (digits === 0) return none;
  if (j < n && lower(b[j]) === 0x65 /* e */) {
    const pe = parseExponent(b, j);
    if (pe) j = pe[1];
  }
  const text = Buffer.from(b.buffer, b.byteOffset + i, j - i).toString('latin1');
  let value = Number(text.endsWith('.') ? text.slice(0, -1) : text);
  const erange = nonzero && (value === Infinity || value === 0);
  if (neg) value = -value;
  return { value, end: j, erange };
}

/**
 * A score or increment as ZADD / ZINCRBY accept it (Redis's strict double parsing).
 * Returns null where Redis replies "ERR value is not a valid float".
 */
export function parseStrictDouble(b: Uint8Array): number | null {
  const n = b.length;
  // Fast path: [+-] and 1 to 15 decimal digits, exact in a double (< 2^53), as strtod reads it.
  if (n > 0 && n <= 16) {
    const sign = b[0] === 0x2d || b[0] === 0x2b ? 1 : 0;
    if (n > sign && n - sign <= 15) {
      let v = 0, k = sign;
      for (; k < n; k++) {
        const d = b[k] - 0x30;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
      }
      if (k === n) return b[0] === 0x2d ? -v : v;
    }
  }
  if (n === 0 || isSpace(b[0])) return null;
  const r = strtod(b, 0);
  if (r.end !== b.length || r.erange || Number.isNaN(r.value)) return null;
  return r.value;
}

/**
 * A double as a score-range bound accepts it (after any "(" was removed): leading white space
 * allowed, empty means 0, NaN rejected, no range check. Returns null on error.
 */
export function parseLooseDouble(b: Uint8Array, start = 0): number | null {
  const r = strtod(b, start);
  if (r.end !== b.length || Number.isNaN(r.value)) return null;
  return r.value;
}
