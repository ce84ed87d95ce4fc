/**
 * Number parsing and formatting exactly as Redis 7.0 does it.
 *
 * - parseI64: Redis's strict integer syntax: optional '-', no '+', no spaces, no leading zeros
 *   ("0" alone is fine, "-0" is not), int64 range. Returns a number when |x| ≤ 2^53-1, else a
 *   bigint, so hot paths stay on plain numbers.
 * - Long double (x87 80-bit: 64-bit significand, binary exponent down to 2^-16445 with denormals):
 *   INCRBYFLOAT / HINCRBYFLOAT parse both operands with strtold, add in long double and print with
 *   "%.17Lf" and then strip trailing zeros and a trailing '.', "-0" becoming "0" (observed on
 *   7.0.15: 10.5+0.1 → "10.6", 0.1+0.2 → "0.3", 1+1e20 → "100000000000000000000"). We emulate that
 *   exactly with BigInt rationals: round-to-nearest-even at every step, as the FPU does.
 * - formatDouble17g: C's "%.17g" for a double (exact decimal expansion, round-half-even), used by
 *   zset replies and DEBUG DIGEST (spec 6.3).
 */

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** Parse a Redis integer argument; null when it is not a strict int64. */
export function parseI64(b: Buffer | string): number | bigint | null {
  const s = typeof b === 'string' ? b : b.toString('latin1');
  const n = s.length;
  if (n === 0 || n > 20) return null;
  let i = 0;
  if (s.charCodeAt(0) === 45 /* - */) {
    if (n === 1) return null;
    i = 1;
  }
  const first = s.charCodeAt(i);
  if (first === 48 /* 0 */) return n === 1 ? 0 : null;
  if (first < 49 || first > 57) return null;
  for (let j = i + 1; j < n; j++) {
    const c = s.charCodeAt(j);
    if (c < 48 || c > 57) return null;
  }
  if (n - i <= 15) return Number(s);
  const big = BigInt(s);
  if (big < I64_MIN || big > I64_MAX) return null;
  return big >= BigInt(-MAX_SAFE) && big <= BigInt(MAX_SAFE) ? Number(big) : big;
}

/** a + b in int64, or null on overflow (Redis: "increment or decrement would overflow"). */
export function addI64(a: number | bigint, b: number | bigint): number | bigint | null {
  if (typeof a === 'number' && typeof b === 'number') {
    const r = a + b;
    if (r <= MAX_SAFE && r >= -MAX_SAFE) return r;
  }
  const r = BigInt(a) + BigInt(b);
  if (r < I64_MIN || r > I64_MAX) return null;
  return r >= BigInt(-MAX_SAFE) && r <= BigInt(MAX_SAFE) ? Number(r) : r;
}

/** Negate an int64 (DECRBY); null if it overflows (-(-2^63)). */
export function negI64(a: number | bigint): number | bigint | null {
  if (typeof a === 'number') return a === 0 ? 0 : -a;
  const r = -a;
  return r > I64_MAX ? null : r;
}

// ---------------------------------------------------------------------------------------------------
// Long double emulation
// ---------------------------------------------------------------------------------------------------

/** A finite long double m·2^e (m < 2^64) with a sign, or an infinity. */
export interface LongDouble { neg: boolean; m: bigint; e: number; inf: boolean }

const LD_MIN_E = -16445;        // exponent of the smallest denormal (m = 1)
const LD_MAX_E = 16383 - 63;    // largest exponent with a 64-bit significand
const TWO63 = 1n << 63n, TWO64 = 1n << 64n;

function bitLen(x: bigint): number { return x === 0n ? 0 : x.toString(2).length; }

/** Round the positive rational p/q · 2^x to the nearest long double (ties to even). */
function roundLD(neg: boolean, p: bigint, q: bigint, x: number): LongDouble {
  if (p === 0n) return { neg, m: 0n, e: 0, inf: false };
  // choose e so that 2^63 ≤ p/q·2^(x-e) < 2^64
  let e = x + bitLen(p) - bitLen(q) - 64;
  for (;;) {
    const sh = x - e;
    const num = sh >= 0 ? p << BigInt(sh) : p;
    const den = sh >= 0 ? q : q << BigInt(-sh);
    const t = num / den;
    if (t >= TWO64) { e++; continue; }
    if (t < TWO63 && e > LD_MIN_E) { e--; continue; }
    break;
  }
  if (e < LD_MIN_E) e = LD_MIN_E;
  const sh = x - e;
  const num = sh >= 0 ? p << BigInt(sh) : p;
  const den = sh >= 0 ? q : q << BigInt(-sh);
  let m = num / den;
  const r2 = (num - m * den) * 2n;
  if (r2 > den || (r2 === den && (m & 1n) === 1n)) m++;
  if (m === TWO64) { m = TWO63; e++; }
  if (e > LD_MAX_E) return { neg, m: 0n, e: 0, inf: true };
  return { neg, m, e, inf: false };
}

const LD_DEC = /^([+-]?)(?:(\d+)(?:\.(\d*))?|\.(\d+))(?:[eE]([+-]?\d+))?$/;
const LD_HEX = /^([+-]?)0[xX](?:([0-9a-fA-F]+)(?:\.([0-9a-fA-F]*))?|\.([0-9a-fA-F]+))(?:[pP]([+-]?\d+))?$/;
const LD_INF = /^([+-]?)inf(?:inity)?$/i;

/**
 * Parse like Redis's string-to-long-double: the whole string must be a strtold number (decimal, hex
 * float, inf/infinity), no leading space, not NaN, and neither overflowing to ±inf nor underflowing
 * to zero (denormal results are kept). Returns null when Redis would say "not a valid float".
 */
export function parseLongDouble(b: Buffer | string): LongDouble | null {
  const s = typeof b === 'string' ? b : b.toString('latin1');
  if (s.length === 0 || s.length >= 5120) return null;
  let mt = LD_INF.exec(s);
  if (mt) return { neg: mt[1] === '-', m: 0n, e: 0, inf: true };
  mt = LD_DEC.exec(s);
  let r: LongDouble;
  let nonzero: boolean;
  if (mt) {
    const neg = mt[1] === '-';
    const ip = mt[2] ?? '', fp = mt[3] ?? mt[4] ?? '';
    const exp = mt[5] === undefined ? 0 : Number(mt[5]);
    const digits = (ip + fp).replace(/^0+/, '');
    nonzero = digits.length > 0;
    if (!nonzero) return { neg, m: 0n, e: 0, inf: false };
    const d10 = exp - fp.length;                         // value = digits · 10^d10
    const mag = d10 + digits.length;                       // value < 10^mag
    if (mag > 4940) return null;                           // overflow (max ≈ 1.19e4932)
    if (mag < -4960) return null;                          // underflow to zero (min ≈ 3.6e-4951)
    const D = BigInt(digits);
    r = d10 >= 0 ? roundLD(neg, D * 10n ** BigInt(d10), 1n, 0) : roundLD(neg, D, 10n ** BigInt(-d10), 0);
  } else {
    mt = LD_HEX.exec(s);
    if (!mt) return null;
    const neg = mt[1] === '-';
    const ip = mt[2] ?? '', fp = mt[3] ?? mt[4] ?? '';
    const exp = mt[5] === undefined ? 0 : Number(mt[5]);
    const digits = (ip + fp).replace(/^0+/, '');
    nonzero = digits.length > 0;
    if (!nonzero) return { neg, m: 0n, e: 0, inf: false };
    const x = exp - 4 * fp.length;
    if (x + 4 * digits.length > 16400) return null;
    if (x + 4 * digits.length < -16500) return null;
    r = roundLD(neg, BigInt('0x' + digits), 1n, x);
  }
  if (r.inf || (nonzero && r.m === 0n)) return null;
  return r;
}

/** a + b in long double arithmetic (NaN for inf + -inf). */
export function addLongDouble(a: LongDouble, b: LongDouble): LongDouble | null {
  if (a.inf || b.inf) {
    if (a.inf && b.inf && a.neg !== b.neg) return null;
    return a.inf ? a : b;
  }
  const e = Math.min(a.e, b.e);
  const va = (a.neg ? -a.m : a.m) << BigInt(a.e - e);
  const vb = (b.neg ? -b.m : b.m) << BigInt(b.e - e);
  const sum = va + vb;
  if (sum === 0n) return { neg: a.neg && b.neg, m: 0n, e: 0, inf: false };
  return roundLD(sum < 0n, sum < 0n ? -sum : sum, 1n, e);
}

/**
 * Redis's "human" long double text: "%.17Lf" (17 digits after the point, exact value rounded
 * half-to-even), then trailing zeros and a trailing '.' removed, and "-0" printed as "0".
 */
export function formatLongDoubleHuman(v: LongDouble): string {
  if (v.inf) return v.neg ? '-inf' : 'inf';
  let digits: string;
  if (v.e >= 0) {
    digits = (v.m << BigInt(v.e)).toString();
  } else {
    const den = 1n << BigInt(-v.e);
    const num = v.m * 10n ** 17n;
    let q = num / den;
    const r2 = (num - q * den) * 2n;
    if (r2 > den || (r2 === den && (q & 1n) === 1n)) q++;
    let t = q.toString().padStart(18, '0');
    const int = t.slice(0, t.length - 17);
    const frac = t.slice(t.length - 17).replace(/0+$/, '');
    digits = frac.length ? `${int}.${frac}` : int;
  }
  if (digits === '0') return '0';
  return v.neg ? '-' + digits : digits;
}

/** Is this long double a finite value (INCRBYFLOAT refuses to store NaN or ±inf)? */
export function isFiniteLD(v: LongDouble | null): v is LongDouble { return v !== null && !v.inf; }

// ---------------------------------------------------------------------------------------------------
// %.17g for doubles
// ---------------------------------------------------------------------------------------------------

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Exact decomposition of a finite positive double: x = m · 2^e. */
function decompose(x: number): { m: bigint; e: number } {
  f64[0] = x;
  const hi = u32[LITTLE ? 1 : 0], lo = u32[LITTLE ? 0 : 1];
  const bexp = (hi >>> 20) & 0x7ff;
  let m = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  if (bexp === 0) return { m, e: -1074 };
  m |= 1n << 52n;
  return { m, e: bexp - 1075 };
}

/** C printf("%.17g", x): 17 significant digits, exact ties to even, %g trimming. */
export function formatDouble17g(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const neg = x < 0;
  const { m, e } = decompose(neg ? -x : x);
  // value = P / Q exactly
  const P = e >= 0 ? m << BigInt(e) : m;
  const Q = e >= 0 ? 1n : 1n << BigInt(-e);
  let X = Math.floor(Math.log10(neg ? -x : x));
  let digits: bigint;
  for (;;) {
    // digits = round(value / 10^(X-16))
    const k = 16 - X;
    const num = k >= 0 ? P * 10n ** BigInt(k) : P;
    const den = k >= 0 ? Q : Q * 10n ** BigInt(-k);
    let q = num / den;
    const r2 = (num - q * den) * 2n;
    if (r2 > den || (r2 === den && (q & 1n) === 1n)) q++;
    if (q >= 10n ** 17n) { X++; continue; }
    if (q < 10n ** 16n) { X--; continue; }
    digits = q;
    break;
  }
  const ds = digits.toString(); // exactly 17 digits
  let out: string;
  if (X < -4 || X >= 17) {
    const mant = (ds[0] + '.' + ds.slice(1)).replace(/0+$/, '').replace(/\.$/, '');
    const ax = Math.abs(X);
    out = `${mant}e${X < 0 ? '-' : '+'}${ax < 10 ? '0' + ax : ax}`;
  } else if (X >= 0) {
    const int = ds.slice(0, X + 1);
    const frac = ds.slice(X + 1).replace(/0+$/, '');
    out = frac.length ? `${int}.${frac}` : int;
  } else {
    const frac = ('0'.repeat(-X - 1) + ds).replace(/0+$/, '');
    out = `0.${frac}`;
  }
  return neg ? '-' + out : out;
}
