/**
 * The seeded key plan of the snapshot-load bench: the write commands that fill a throwaway
 * redis-server with `keys` keys of mixed types, as RESP (arrays of bulk strings, all ASCII), handed
 * out in ~1 MiB pieces so that the caller can pipe them with back-pressure.
 *
 * Mix (by key, db 0 only):
 *   ~50 % strings  `s:<i>`: a quarter int-encoded (8/16/32/64-bit, negative too), short ones (≤ 20
 *                  bytes, not compressed), compressible ones of 21–400 bytes (LZF), random ones of
 *                  21–200 bytes (LZF does not help), 1 % of 1–16 KiB
 *   ~15 % hashes   `h:<i>`: 1–30 fields (listpack), one in ten with a value > 64 bytes (hashtable)
 *   ~10 % sets     `S:<i>`: 1–60 integers (intset) or 1–40 strings (hashtable in 7.0, listpack in 7.2)
 *   ~10 % zsets    `z:<i>`: 1–60 members (listpack), integer / decimal / long / infinite scores
 *   ~10 % lists    `l:<i>`: 1–100 elements (quicklist of listpack nodes)
 *   ~5 %  big      `b<t>:<i>`: a hash / set / zset / list of 150–600 members, one in five 600–4000
 *                  (hashtable / skiplist / multi-node quicklist)
 *   huge (unless stringsOnly or big = 0): `huge:zset` and `huge:list` of `big` members, `huge:hash`
 *   and `huge:set` of big/2, named f<j> / m<j> so that they can be checked by name.
 * One key in ten gets a TTL: PEXPIREAT at 2100-01-01 plus up to ~11 days, so no key expires while the
 * bench runs and PEXPIRETIME compares exactly. `stringsOnly`: every key a string (same sub-mix).
 * Redis receives each key once (plus PEXPIREAT), so the key count is exact.
 */
import { XorShift32 } from './zadd-stream.js';

export interface SnapshotSpec { keys: number; seed: number; big: number; stringsOnly: boolean; samples: number }

export type KeyType = 'string' | 'hash' | 'set' | 'zset' | 'list';

/** A huge key, checked by name (fields f0… / members m0…) or by rank range. */
export interface HugeKey { key: string; type: KeyType; members: number }

export interface KeyPlan {
  /** Keys by generated kind (string-int, string-lzf, hash, big-zset, huge…). */
  counts: Record<string, number>;
  withTtl: number;
  huge: HugeKey[];
  /** The sampled keys (seeded), checked on every replica against the generator's values. */
  sampleKeys: string[];
}

/** 2100-01-01T00:00:00Z in ms. */
export const EXPIRE_BASE_MS = 4102444800000;
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const PIECE = 1 << 20;

/** RESP written straight into a Buffer (no joined strings): arrays of bulk strings, all ASCII. */
class Resp {
  private buf = Buffer.allocUnsafe(2 * PIECE);
  private pos = 0;
  cmd(argv: string[]): void {
    let need = 16;
    for (const a of argv) need += a.length + 16;
    if (this.pos + need > this.buf.length) {
      const bigger = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + need));
      this.buf.copy(bigger, 0, 0, this.pos);
      this.buf = bigger;
    }
    this.pos += this.buf.write(`*${argv.length}\r\n`, this.pos, 'latin1');
    for (const a of argv) {
      this.pos += this.buf.write(`$${a.length}\r\n`, this.pos, 'latin1');
      this.pos += this.buf.write(a, this.pos, 'latin1');
      this.buf[this.pos++] = 0x0d;
      this.buf[this.pos++] = 0x0a;
    }
  }
  full(): boolean { return this.pos >= PIECE; }
  /** The bytes so far; the buffer then belongs to the caller (a fresh one is used from here). */
  take(): Buffer {
    const b = this.buf.subarray(0, this.pos);
    this.buf = Buffer.allocUnsafe(2 * PIECE);
    this.pos = 0;
    return b;
  }
}

class Draw {
  private readonly r: XorShift32;
  /** Seeded random alphanumerics; alnum(n) is a slice of it at a random offset (one draw, not n). */
  private readonly pool: string;
  constructor(seed: number) {
    this.r = new XorShift32(seed);
    const chars: string[] = [];
    for (let i = 0; i < 1 << 16; i++) chars.push(ALNUM[this.r.next() % 62]);
    this.pool = chars.join('');
  }
  float(): number { return this.r.next() / 0x100000000; }
  int(n: number): number { return Math.floor(this.float() * n); }
  range(lo: number, hi: number): number { return lo + this.int(hi - lo + 1); }
  /** Log-uniform in [lo, hi]. */
  logRange(lo: number, hi: number): number { return Math.round(Math.exp(Math.log(lo) + this.float() * Math.log(hi / lo))); }
  alnum(n: number): string {
    return n <= this.pool.length ? this.pool.substr(this.int(this.pool.length - n + 1), n) : this.pool.repeat(Math.ceil(n / this.pool.length)).slice(0, n);
  }
  /** Repetitive text (LZF compresses it): a few short words repeated to length n. */
  text(n: number): string {
    const words = [this.alnum(this.range(2, 6)), this.alnum(this.range(3, 8)), this.alnum(this.range(1, 4))];
    let s = '';
    while (s.length < n) s += words[this.int(3)] + (this.int(4) === 0 ? ' ' : '-');
    return s.slice(0, n);
  }
  intString(): string {
    switch (this.int(5)) {
      case 0: return String(this.int(256));
      case 1: return String(this.range(-32768, 65535));
      case 2: return String(this.range(-2147483648, 2147483647));
      case 3: return String(BigInt(this.r.next()) * 4294967296n + BigInt(this.r.next()) - 9223372036854775807n);
      default: return String(this.range(-1000000, 100000000));
    }
  }
  /** A short value for collections: an integer or a word. */
  small(): string { return this.int(3) === 0 ? this.intString() : this.alnum(this.range(1, 16)); }
  score(): string {
    switch (this.int(8)) {
      case 0: return String(this.range(-1000, 1000));
      case 1: return (this.float() * 2000 - 1000).toFixed(2);
      case 2: return String((this.float() - 0.5) * 1e9);
      case 3: return this.int(2) === 0 ? '-inf' : '+inf';
      default: return String(this.int(1000000));
    }
  }
}

/** Adds `members` elements to `key` in commands of at most 1000 elements. */
function fill(w: Resp, head: string[], members: number, per: number, el: (j: number) => string[]): void {
  for (let j = 0; j < members;) {
    const argv = [...head];
    for (const end = Math.min(members, j + Math.floor(1000 / per)); j < end; j++) argv.push(...el(j));
    w.cmd(argv);
  }
}

function stringValue(d: Draw, counts: Record<string, number>): string {
  const u = d.float();
  let kind: string;
  let v: string;
  if (u < 0.01) { kind = 'string-large'; v = d.int(2) === 0 ? d.text(d.range(1024, 16384)) : d.alnum(d.range(1024, 4096)); }
  else if (u < 0.26) { kind = 'string-int'; v = d.intString(); }
  else if (u < 0.5) { kind = 'string-short'; v = d.alnum(d.range(1, 20)); }
  else if (u < 0.85) { kind = 'string-lzf'; v = d.text(d.range(21, 400)); }
  else { kind = 'string-random'; v = d.alnum(d.range(21, 200)); }
  counts[kind] = (counts[kind] ?? 0) + 1;
  return v;
}

/** Writes the commands for key number i; returns its name. */
function oneKey(w: Resp, d: Draw, i: number, stringsOnly: boolean, counts: Record<string, number>): string {
  const u = stringsOnly ? 0 : d.float();
  const bump = (k: string): void => { counts[k] = (counts[k] ?? 0) + 1; };
  let key: string;
  if (u < 0.5) {
    key = `s:${i}`;
    w.cmd(['SET', key, stringValue(d, counts)]);
  } else if (u < 0.65) {
    key = `h:${i}`;
    const n = d.range(1, 30);
    const long = d.int(10) === 0 ? d.int(n) : -1;
    bump(long >= 0 ? 'hash-long-value' : 'hash');
    fill(w, ['HSET', key], n, 2, (j) => [`f${j}`, j === long ? d.text(d.range(65, 300)) : d.small()]);
  } else if (u < 0.75) {
    key = `S:${i}`;
    const ints = d.int(2) === 0;
    bump(ints ? 'set-int' : 'set-str');
    fill(w, ['SADD', key], ints ? d.range(1, 60) : d.range(1, 40), 1, () => [ints ? d.intString() : d.alnum(d.range(1, 12))]);
  } else if (u < 0.85) {
    key = `z:${i}`;
    bump('zset');
    fill(w, ['ZADD', key], d.range(1, 60), 2, (j) => [d.score(), d.int(2) === 0 ? `m${j}` : d.alnum(d.range(1, 12))]);
  } else if (u < 0.95) {
    key = `l:${i}`;
    bump('list');
    fill(w, ['RPUSH', key], d.range(1, 100), 1, () => [d.small()]);
  } else {
    const t = (['hash', 'set', 'zset', 'list'] as const)[d.int(4)];
    key = `b${t}:${i}`;
    bump(`big-${t}`);
    const n = d.int(5) === 0 ? d.logRange(600, 4000) : d.range(150, 600);
    if (t === 'hash') fill(w, ['HSET', key], n, 2, (j) => [`f${j}:${d.alnum(4)}`, d.small()]);
    else if (t === 'set') fill(w, ['SADD', key], n, 1, () => [d.int(3) === 0 ? d.intString() : d.alnum(d.range(4, 16))]);
    else if (t === 'zset') fill(w, ['ZADD', key], n, 2, (j) => [d.score(), `m${j}:${d.alnum(3)}`]);
    else fill(w, ['RPUSH', key], n, 1, () => [d.small()]);
  }
  return key;
}

function hugeKeys(big: number): HugeKey[] {
  if (big <= 0) return [];
  const half = Math.max(1, Math.floor(big / 2));
  return [{ key: 'huge:zset', type: 'zset', members: big }, { key: 'huge:list', type: 'list', members: big },
    { key: 'huge:hash', type: 'hash', members: half }, { key: 'huge:set', type: 'set', members: half }];
}

function writeHuge(w: Resp, d: Draw, h: HugeKey): void {
  if (h.type === 'zset') fill(w, ['ZADD', h.key], h.members, 2, (j) => [d.score(), `m${j}`]);
  else if (h.type === 'list') fill(w, ['RPUSH', h.key], h.members, 1, () => [d.small()]);
  else if (h.type === 'hash') fill(w, ['HSET', h.key], h.members, 2, (j) => [`f${j}`, d.small()]);
  else fill(w, ['SADD', h.key], h.members, 1, (j) => [`m${j}`]);
}

/**
 * Runs the plan: `sink` gets the RESP in ~1 MiB pieces (await it for back-pressure). The huge keys
 * come first (so they are in the sample), then keys-huge.length ordinary keys.
 */
export async function runPlan(spec: SnapshotSpec, sink: (piece: Buffer) => Promise<void>): Promise<KeyPlan> {
  const d = new Draw(spec.seed);
  const pick = new XorShift32((spec.seed ^ 0x2545f491) >>> 0);
  const w = new Resp();
  const counts: Record<string, number> = {};
  const huge = spec.stringsOnly ? [] : hugeKeys(spec.big).slice(0, spec.keys);
  const n = spec.keys - huge.length;
  const sampled = new Set<number>();
  for (let tries = 0; sampled.size < Math.min(spec.samples, n) && tries < 10 * spec.samples; tries++) sampled.add(pick.below(n));
  const sampleKeys = huge.map((h) => h.key);
  let withTtl = 0;
  for (const h of huge) {
    writeHuge(w, d, h);
    counts.huge = (counts.huge ?? 0) + 1;
    if (w.full()) await sink(w.take());
  }
  for (let i = 0; i < n; i++) {
    const key = oneKey(w, d, i, spec.stringsOnly, counts);
    if (d.int(10) === 0) {
      w.cmd(['PEXPIREAT', key, String(EXPIRE_BASE_MS + d.int(1e9))]);
      withTtl++;
    }
    if (sampled.has(i)) sampleKeys.push(key);
    if (w.full()) await sink(w.take());
  }
  await sink(w.take());
  return { counts, withTtl, huge, sampleKeys };
}
