/**
 * BITOP's computation (AND, OR, XOR, NOT over whole string values, Redis 7.0 semantics and error
 * replies). The caller gathers the source values (possibly from several shards) and writes the
 * destination; t_bitmap.ts re-exports this.
 */
import { arityError, ERR_SYNTAX, EMPTY } from './command-api.js';

const ERR_NOT_SINGLE = 'ERR BITOP NOT must be called with a single source key.';

const lc = (b: Buffer): string => b.toString('latin1').toLowerCase();

/**
 * BITOP op over source values (null = missing key = empty string; the caller checked their types).
 * Returns the destination value, null when it is empty (Redis then deletes the destination), or the
 * error Redis replies.
 */
export function bitopCompute(op: Buffer, srcs: Array<Buffer | null>): Buffer | null | { error: string } {
  if (srcs.length === 0) return arityError('bitop');
  const name = lc(op);
  if (name !== 'and' && name !== 'or' && name !== 'xor' && name !== 'not') return { error: ERR_SYNTAX };
  if (name === 'not' && srcs.length !== 1) return { error: ERR_NOT_SINGLE };
  let max = 0;
  for (const s of srcs) if (s !== null && s.length > max) max = s.length;
  if (max === 0) return null;
  const out = Buffer.alloc(max);
  const first = srcs[0] ?? EMPTY;
  if (name === 'not') {
    for (let i = 0; i < max; i++) out[i] = ~first[i] & 0xff;
    return out;
  }
  first.copy(out, 0);
  for (let k = 1; k < srcs.length; k++) {
    const s = srcs[k] ?? EMPTY, n = s.length;
    if (name === 'and') {
      for (let i = 0; i < n; i++) out[i] &= s[i];
      out.fill(0, n);                                 // a shorter source is zero-padded
    } else if (name === 'or') {
      for (let i = 0; i < n; i++) out[i] |= s[i];
    } else {
      for (let i = 0; i < n; i++) out[i] ^= s[i];
    }
  }
  return out;
}
