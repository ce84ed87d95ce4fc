/**
 * CRC-64/Jones as Redis uses it for RDB files and DUMP payloads (spec 5.8): polynomial
 * 0xAD93D23594C935A9, reflected input and output, initial value 0, no final XOR.
 * Check value: crc64("123456789") = 0xe9c6d914c4b8d9ca.
 *
 * The 64-bit register is kept as two 32-bit halves (no BigInt on the hot path) and the update is
 * table-driven, eight bytes per step ("slicing by 8"): eight 256-entry tables, where table k maps a
 * byte to the CRC of that byte followed by k zero bytes.
 */

/** Incremental CRC state: the register as two unsigned 32-bit halves. */
export interface Crc64State {
  hi: number;
  lo: number;
}

/** Reflected polynomial 0x95AC9329AC4BC9B5. */
const POLY_HI = 0x95ac9329;
const POLY_LO = 0xac4bc9b5;

const T_LO = new Uint32Array(8 * 256);
const T_HI = new Uint32Array(8 * 256);

(function buildTables(): void {
  for (let i = 0; i < 256; i++) {
    let lo = i;
    let hi = 0;
    for (let k = 0; k < 8; k++) {
      const lsb = lo & 1;
      lo = ((lo >>> 1) | (hi << 31)) >>> 0;
      hi = hi >>> 1;
      if (lsb) {
        lo = (lo ^ POLY_LO) >>> 0;
        hi = (hi ^ POLY_HI) >>> 0;
      }
    }
    T_LO[i] = lo;
    T_HI[i] = hi;
  }
  for (let t = 1; t < 8; t++) {
    for (let i = 0; i < 256; i++) {
      const plo = T_LO[(t - 1) * 256 + i];
      const phi = T_HI[(t - 1) * 256 + i];
      // entry = (prev >> 8) ^ T0[prev & 0xff]
      const idx = plo & 0xff;
      T_LO[t * 256 + i] = (((plo >>> 8) | (phi << 24)) ^ T_LO[idx]) >>> 0;
      T_HI[t * 256 + i] = ((phi >>> 8) ^ T_HI[idx]) >>> 0;
    }
  }
})();

export function crc64Init(): Crc64State {
  return { hi: 0, lo: 0 };
}

/** Folds buf[start..end) into `state`. */
export function crc64Update(state: Crc64State, buf: Uint8Array, start = 0, end = buf.length): void {
  let lo = state.lo;
  let hi = state.hi;
  let p = start;
  const TL = T_LO;
  const TH = T_HI;
  const end8 = end - 7;
  while (p < end8) {
    lo ^= buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24);
    hi ^= buf[p + 4] | (buf[p + 5] << 8) | (buf[p + 6] << 16) | (buf[p + 7] << 24);
    const a = 7 * 256 + (lo & 0xff);
    const b = 6 * 256 + ((lo >>> 8) & 0xff);
    const c = 5 * 256 + ((lo >>> 16) & 0xff);
    const d = 4 * 256 + (lo >>> 24);
    const e = 3 * 256 + (hi & 0xff);
    const f = 2 * 256 + ((hi >>> 8) & 0xff);
    const g = 256 + ((hi >>> 16) & 0xff);
    const h = hi >>> 24;
    lo = TL[a] ^ TL[b] ^ TL[c] ^ TL[d] ^ TL[e] ^ TL[f] ^ TL[g] ^ TL[h];
    hi = TH[a] ^ TH[b] ^ TH[c] ^ TH[d] ^ TH[e] ^ TH[f] ^ TH[g] ^ TH[h];
    p += 8;
  }
  while (p < end) {
    const idx = (lo ^ buf[p]) & 0xff;
    lo = ((lo >>> 8) | (hi << 24)) ^ TL[idx];
    hi = (hi >>> 8) ^ TH[idx];
    p++;
  }
  state.lo = lo >>> 0;
  state.hi = hi >>> 0;
}

/** Same as crc64Update (the name the design notes use). */
export const update = crc64Update;

/** The CRC as an unsigned 64-bit BigInt (for messages and tests; not for hot paths). */
export function crc64Value(state: Crc64State): bigint {
  return (BigInt(state.hi >>> 0) << 32n) | BigInt(state.lo >>> 0);
}

/** True if the 8 bytes at buf[off..off+8) hold this CRC, little-endian (as RDB and DUMP store it). */
export function crc64EqualsLE(state: Crc64State, buf: Uint8Array, off: number): boolean {
  const lo = (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16) | (buf[off + 3] << 24)) >>> 0;
  const hi = (buf[off + 4] | (buf[off + 5] << 8) | (buf[off + 6] << 16) | (buf[off + 7] << 24)) >>> 0;
  return lo === state.lo >>> 0 && hi === state.hi >>> 0;
}

/** CRC-64/Jones of a whole buffer. */
export function crc64(buf: Uint8Array, start = 0, end = buf.length): bigint {
  const s = crc64Init();
  crc64Update(s, buf, start, end);
  return crc64Value(s);
}
