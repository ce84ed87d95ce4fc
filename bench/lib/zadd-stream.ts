/**
 * The recorded stream the replay bench feeds to both replicas: the exact bytes a Redis 7 master would
 * propagate after a full sync for `redis-benchmark -r K ZADD zs:__rand_int__ __rand_int__ m:__rand_int__`,
 * generated from a seeded PRNG so every run (and every machine) replays the same bytes.
 *
 * Also keeps a model of a few sampled keys (their final member → score maps) and of the number of
 * distinct keys written, so the bench can check both replicas against ground truth at the end.
 */
import { createHash } from 'node:crypto';

/**
 * xorshift32 (Marsaglia 2003): state x ≠ 0; x ^= x << 13; x ^= x >>> 17; x ^= x << 5.
 * A seed of 0 (a fixed point) is replaced by a constant. `below(n)` uses `next() % n`: the modulo bias
 * is under n / 2^32 (2e-5 for n = 100k), irrelevant for a load generator.
 */
export class XorShift32 {
  private x: number;
  constructor(seed: number) {
    this.x = (seed >>> 0) || 0x9e3779b9;
  }
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x >>> 0;
    return this.x;
  }
  below(n: number): number {
    return this.next() % n;
  }
}

/** redis-benchmark's __rand_int__ is a 12-digit, zero-padded decimal. */
export const RAND_DIGITS = 12;

/**
 * Wire (stream phase, spec 3.1: RESP arrays of bulk strings, every byte counted in the offset).
 * The master forces a SELECT before the first keyed command after a full sync (spec 2.5), 23 bytes:
 *   *2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n
 */
export const SELECT0 = Buffer.from('*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n', 'latin1');

/**
 * One ZADD as a client would send it (name in upper case), 76 bytes, digits filled in below:
 *   *4\r\n$4\r\nZADD\r\n$15\r\nzs:<12 digits>\r\n$12\r\n<12 digits>\r\n$14\r\nm:<12 digits>\r\n
 *     key    = "zs:" + rand   (15 bytes)
 *     score  = rand           (12 bytes, an integer with leading zeros: Redis parses it as a double)
 *     member = "m:" + rand    (14 bytes)
 */
const D = '0'.repeat(RAND_DIGITS);
const TEMPLATE = Buffer.from(`*4\r\n$4\r\nZADD\r\n$15\r\nzs:${D}\r\n$12\r\n${D}\r\n$14\r\nm:${D}\r\n`, 'latin1');
export const ZADD_BYTES = TEMPLATE.length;
const KEY_AT = TEMPLATE.indexOf('zs:') + 3;
const SCORE_AT = TEMPLATE.indexOf('$12\r\n') + 5;
const MEMBER_AT = TEMPLATE.indexOf('m:') + 2;

/** Writes v as RAND_DIGITS zero-padded decimal digits at buf[at]. */
function putDigits(buf: Buffer, at: number, v: number): void {
  for (let i = RAND_DIGITS - 1; i >= 0; i--) {
    buf[at + i] = 0x30 + (v % 10);
    v = Math.floor(v / 10);
  }
}

export function randName(prefix: string, v: number): string {
  return prefix + String(v).padStart(RAND_DIGITS, '0');
}

export interface StreamSpec {
  commands: number;
  keys: number;
  seed: number;
  /** How many keys to model exactly for the end-of-run check (default 16). */
  samples?: number;
}

export interface SampleModel {
  key: string;
  /** Final score of each member (integers; scores are drawn from [0, keys)). */
  members: Map<string, number>;
}

export interface ZaddStream {
  bytes: Buffer;
  commands: number;
  keys: number;
  seed: number;
  sha1: string;
  /** Distinct keys the stream writes: the DBSIZE both replicas must end with. */
  distinctKeys: number;
  samples: SampleModel[];
}

export function generateZaddStream(spec: StreamSpec): ZaddStream {
  const { commands, keys, seed } = spec;
  if (!Number.isSafeInteger(commands) || commands < 1) throw new Error(`--commands must be a positive integer, got ${commands}`);
  if (!Number.isSafeInteger(keys) || keys < 1 || keys > 2 ** 32) throw new Error(`--keys must be in 1..2^32, got ${keys}`);
  const rng = new XorShift32(seed);
  const out = Buffer.allocUnsafe(SELECT0.length + commands * ZADD_BYTES);
  SELECT0.copy(out, 0);

  // Sampled keys: the keys of the commands at evenly spaced positions of the stream (so each one
  // exists at the end), found by a first pass over the same draws.
  const nSamples = Math.min(spec.samples ?? 16, commands);
  const sampleOf = new Map<number, SampleModel>();
  const pre = new XorShift32(seed);
  for (let i = 0, next = 0, j = 0; i < commands && j < nSamples; i++) {
    const k = pre.below(keys);
    pre.next(); pre.next();
    if (i === next) {
      if (!sampleOf.has(k)) sampleOf.set(k, { key: randName('zs:', k), members: new Map() });
      next = Math.floor((++j * commands) / nSamples);
    }
  }
  const seen = new Uint8Array(Math.ceil(keys / 8));
  let distinct = 0;

  let pos = SELECT0.length;
  for (let i = 0; i < commands; i++) {
    const k = rng.below(keys);
    const score = rng.below(keys);
    const member = rng.below(keys);
    TEMPLATE.copy(out, pos);
    putDigits(out, pos + KEY_AT, k);
    putDigits(out, pos + SCORE_AT, score);
    putDigits(out, pos + MEMBER_AT, member);
    pos += ZADD_BYTES;
    const bit = 1 << (k & 7);
    if ((seen[k >>> 3] & bit) === 0) { seen[k >>> 3] |= bit; distinct++; }
    const s = sampleOf.get(k);
    if (s) s.members.set(randName('m:', member), score);
  }
  return {
    bytes: out, commands, keys, seed, distinctKeys: distinct, samples: [...sampleOf.values()],
    sha1: createHash('sha1').update(out).digest('hex'),
  };
}

/**
 * The reply both replicas must give to `ZRANGE <key> 0 -1 WITHSCORES`, as strings: members ordered by
 * score, ties by member bytes (all members have the same length, so string order = byte order); an
 * integral double is formatted without a fraction ("42").
 */
export function expectedRange(s: SampleModel): string[] {
  const entries = [...s.members.entries()].sort((a, b) => (a[1] - b[1]) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const out: string[] = [];
  for (const [m, sc] of entries) out.push(m, String(sc));
  return out;
}
