/**
 * Full-sync test data: a seeded dataset builder that fills a real redis-server with every type this
 * replica loads (strings, lists, sets, sorted sets, hashes), each in its compact AND its full in-memory
 * encoding (so the master's snapshot holds every RDB value type a 7.0 master writes: 0, 2, 4, 5, 11, 16,
 * 17, 18 with packed, multi-node, LZF-compressed and PLAIN quicklist nodes), with expiries, binary keys
 * and values, and special scores; plus snapshot helpers: save a server's data to RDB bytes, start a
 * redis-server on a given port, wait for a replica to finish a sync, and capture a replica's log.
 *
 * Values carry the seed's tag, so two datasets built with different seeds differ in every value: a
 * replica that mixed them would show it. Markers (20-byte raw strings, never LZF-compressed or
 * int-encoded) and one LZF-compressed string per db let fault tests find exact byte positions in the RDB.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { Client, infoField, type Reply } from './redis.js';

type Arg = string | number | Buffer;

export interface DatasetOptions {
  seed: number;
  /** Databases to fill (default 0, 1, 5, 15). */
  dbs?: number[];
  /** Extra plain string keys per db (`fill:<i>`), to make a snapshot bigger. */
  fill?: number;
  /** Only string keys (markers, fill, every string flavour): for tests about switching, not about types. */
  stringsOnly?: boolean;
}

export interface DatasetReport {
  keys: number;
  /** `type/encoding` → number of keys (from TYPE and OBJECT ENCODING). */
  encodings: Record<string, number>;
  /** Keys with a TTL, as `db` + key, for exact PEXPIRETIME comparison. */
  expiring: Array<{ db: number; key: Buffer }>;
}

/** xorshift32, deterministic per seed. */
export function rng(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 0x100000000; };
}

const DEFAULTS: Array<[string, string]> = [
  ['hash-max-listpack-entries', '128'], ['hash-max-listpack-value', '64'],
  ['zset-max-listpack-entries', '128'], ['zset-max-listpack-value', '64'],
  ['set-max-intset-entries', '512'], ['list-max-listpack-size', '-2'], ['list-compress-depth', '0'],
];
const FULL: Array<[string, string]> = [
  ['hash-max-listpack-entries', '4'], ['hash-max-listpack-value', '16'],
  ['zset-max-listpack-entries', '4'], ['zset-max-listpack-value', '16'], ['set-max-intset-entries', '4'],
];

/** Scores that stress number formatting and ordering (ZADD syntax). */
export const SPECIAL_SCORES = ['inf', '-inf', '0', '-0', '1e308', '-1e308', '5e-324', '0.1', '1', '-42',
  '3.141592653589793', '1e-300', '123456789012345678', '-2.5', '2.5e-10', '17'];
/** Integers around each intset width boundary. */
const INT16 = ['1', '-2', '300', '32767', '-32768', '0'];
const INT32 = ['70000', '-70000', '2147483647', '-2147483648', '5'];
const INT64 = ['1099511627776', '-4611686018427387904', '9223372036854775807', '-9223372036854775808', '3'];

async function config(c: Client, pairs: Array<[string, string]>): Promise<void> {
  const replies = await c.pipeline(pairs.map(([k, v]) => ['CONFIG', 'SET', k, v]));
  for (const r of replies) if (r && typeof r === 'object' && 'err' in r) throw new Error(`CONFIG SET: ${r.err}`);
}

async function run(c: Client, cmds: Arg[][]): Promise<void> {
  for (let i = 0; i < cmds.length; i += 500) {
    const replies = await c.pipeline(cmds.slice(i, i + 500));
    replies.forEach((r, j) => {
      if (r && typeof r === 'object' && !Array.isArray(r) && !Buffer.isBuffer(r) && 'err' in r) {
        throw new Error(`${String(cmds[i + j][0])} ${String(cmds[i + j][1])}: ${r.err}`);
      }
    });
  }
}

/** Fills `c`'s server. Leaves db 0 selected and every encoding threshold at its default. */
export async function buildDataset(c: Client, o: DatasetOptions): Promise<DatasetReport> {
  const rnd = rng(o.seed);
  const tag = `s${o.seed}`;
  const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(rnd() * 16)]).join('');
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  // Long random values: seeded like the rest (a byte per call of rnd() is too slow for MiBs).
  const randomBytes = (n: number) => { const b = Buffer.alloc(n); for (let i = 0; i < n; i += 4) b.writeUInt32LE((rnd() * 2 ** 32) >>> 0, Math.min(i, n - 4)); return b; };
  const bin = (s: string) => Buffer.concat([Buffer.from([0x00, 0xff, 0x0d, 0x0a, 0x80]), Buffer.from(s), Buffer.from([0x00])]);
  const now = Date.now();
  const expiring: DatasetReport['expiring'] = [];
  for (const db of o.dbs ?? [0, 1, 5, 15]) {
    await c.call('SELECT', db);
    await config(c, DEFAULTS);
    const cmds: Arg[][] = [];
    const k = (name: string) => `${name}:${db}`;
    const expireAt = (key: Arg, extraMs: number) => {
      cmds.push(['PEXPIREAT', key, now + 3_600_000 + extraMs]);
      expiring.push({ db, key: Buffer.isBuffer(key) ? key : Buffer.from(String(key)) });
    };
    // ── strings ──
    const ints = ['0', '-1', '12345', '2147483647', '-2147483648', '2147483648', '9223372036854775807',
      '-9223372036854775808', '4294967296', '-100'];
    ints.forEach((v, i) => cmds.push(['SET', k(`str:int:${i}`), v]));
    // Numeric-looking but not canonical: stored as raw text, must come back byte for byte.
    ['007', '+1', ' 1', '1.0', '-0', '1e3', '99999999999999999999'].forEach((v, i) => cmds.push(['SET', k(`str:numtext:${i}`), v]));
    cmds.push(['SET', k('str:empty'), ''], ['SET', k('str:short'), `${tag}:hello`],
      ['SET', k('str:embstr'), `${tag}:`.padEnd(44, 'e')], ['SET', k('str:raw'), `${tag}:${hex(80)}`],
      ['SET', k('str:lzf:ab'), `${tag}:` + 'ab'.repeat(500)], ['SET', k('str:lzf:big'), `${tag}|`.repeat(30000)],
      ['SET', k('str:lzf:x'), 'x'.repeat(10000) + tag], ['SET', k('str:bin'), bin(tag)], ['SET', k('str:bin:rand'), bytes(300)]);
    if (db === 0) {
      // Long strings: streamed by the parser (> 64 KiB), and stored segmented (> 1 MiB), LZF and raw.
      cmds.push(['SET', k('str:long:lzf'), `${tag}:`.padEnd(3 << 20, 'long-lzf|')], ['SET', k('str:long:raw'), randomBytes((1 << 20) + 1)],
        ['SET', k('str:long:70k'), randomBytes(70 << 10)]);
      expireAt(k('str:long:lzf'), 17);
    }
    // Markers: 20 bytes (never LZF'd, never an integer), located by fault tests in the RDB.
    for (let i = 0; i < 8; i++) cmds.push(['SET', k(`marker:${i}`), markerValue(tag, db, i, hex(20))]);
    cmds.push(['SET', k('lzf'), lzfValue(tag)]);
    // Binary keys (and, in db 0, the empty key).
    cmds.push(['SET', bin(`key:${db}`), `${tag}:binkey`], ['SET', Buffer.from(`ключ ${db} ${tag}`), 'utf8'],
      ['SET', `key with spaces ${db}`, `${tag}`]);
    if (db === 0) cmds.push(['SET', '', `${tag}:the empty key`]);
    // Expiries: ms precision, on strings and collections.
    for (let i = 0; i < 6; i++) { cmds.push(['SET', k(`exp:str:${i}`), `${tag}:${i}`]); expireAt(k(`exp:str:${i}`), i * 7919 + 1); }
    for (let i = 0; i < (o.fill ?? 0); i++) cmds.push(['SET', `fill:${db}:${i}`, `${tag}:${i}:${hex(12)}`]);
    if (!o.stringsOnly) {
      // ── compact encodings (default thresholds) ──
      cmds.push(['HSET', k('hash:lp'), 'f1', `${tag}v1`, 'n', '123', 'neg', '-5', '', 'emptyfield', 'ef', '', bin('f'), bin('v')]);
      cmds.push(['ZADD', k('zset:lp'), ...SPECIAL_SCORES.flatMap((s, i) => [s, `m${i}`]), '7', `${tag}`, '7', '12345']);
      cmds.push(['SADD', k('set:i16'), ...INT16], ['SADD', k('set:i32'), ...INT32], ['SADD', k('set:i64'), ...INT64]);
      cmds.push(['RPUSH', k('list:lp'), 'a', '1', '-5', '', bin('e'), '12345678901234567890', `${tag}`]);
      cmds.push(['HSET', k('exp:hash'), 'f', tag], ['ZADD', k('exp:zset'), '1', tag], ['RPUSH', k('exp:list'), tag],
        ['SADD', k('exp:set'), '1', '2']);
      expireAt(k('exp:hash'), 11); expireAt(k('exp:zset'), 22); expireAt(k('exp:list'), 33); expireAt(k('exp:set'), 44);
      // Full encodings reached by size alone, thresholds at their defaults.
      cmds.push(['HSET', k('hash:ht:big'), ...Array.from({ length: 200 }, (_, i) => [`f${i}`, `${tag}:${i}`]).flat()]);
      cmds.push(['ZADD', k('zset:sl:big'), ...Array.from({ length: 300 }, (_, i) => [String(i * 0.25 - 30), `m${i}:${tag}`]).flat()]);
      cmds.push(['SADD', k('set:ht:ints'), ...Array.from({ length: 600 }, (_, i) => String(i * 3 - 900))]);
      cmds.push(['SADD', k('set:ht:str'), 'a', 'b', '', tag, bin('s')]);
      cmds.push(['RPUSH', k('list:multinode'), ...Array.from({ length: 400 }, (_, i) => `${tag}:${i}:${hex(40)}`)]);
      await run(c, cmds);
      cmds.length = 0;
      // Compressed interior nodes: small nodes of compressible elements, depth 1.
      await config(c, [['list-compress-depth', '1'], ['list-max-listpack-size', '4']]);
      await run(c, [['RPUSH', k('list:lzf'), ...Array.from({ length: 40 }, (_, i) => `${tag}:${i}:` + 'z'.repeat(60))]]);
      await config(c, [['list-compress-depth', '0']]);
      await run(c, [['RPUSH', k('list:smallnodes'), ...Array.from({ length: 30 }, (_, i) => `${tag}${i}`)]]);
      await config(c, [['list-max-listpack-size', '-2']]);
      // A PLAIN node: elements above the packed threshold get a node of their own.
      const dbg = await c.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', '100');
      if (dbg && typeof dbg === 'object' && 'err' in dbg) throw new Error(`DEBUG QUICKLIST-PACKED-THRESHOLD: ${dbg.err}`);
      await run(c, [['RPUSH', k('list:plain'), 'before', `${tag}:` + 'P'.repeat(300), 'after', bytes(200)]]);
      await c.call('DEBUG', 'QUICKLIST-PACKED-THRESHOLD', String(2 ** 30));
      // Full encodings forced by low thresholds, with the same special content as the compact keys.
      await config(c, FULL);
      await run(c, [
        ['HSET', k('hash:ht'), 'f1', `${tag}v1`, 'n', '123', 'neg', '-5', '', 'emptyfield', 'ef', '', bin('f'), bin('v')],
        ['ZADD', k('zset:sl'), ...SPECIAL_SCORES.flatMap((s, i) => [s, `m${i}`]), '7', `${tag}`, '7', '12345'],
        ['SADD', k('set:ht'), ...INT16, ...INT32, ...INT64],
        ['SADD', k(`sht:${tag}`), ...Array.from({ length: 12 }, (_, i) => `${tag}:${i}`)],
        ['HSET', k('exp:hash:ht'), ...Array.from({ length: 8 }, (_, i) => [`f${i}`, `${tag}${i}`]).flat()],
      ]);
      expireAt(k('exp:hash:ht'), 55);
      await config(c, DEFAULTS);
    }
    await run(c, cmds);
  }
  await c.call('SELECT', 0);
  return { ...(await survey(c, o.dbs ?? [0, 1, 5, 15])), expiring };
}

export function markerValue(tag: string, db: number, i: number, hex20: string): string {
  return `M${tag}-${db}-${i}-${hex20}`.slice(0, 20);
}
export function lzfValue(tag: string): string {
  return `LZF${tag}:` + 'abcdefgh'.repeat(64);
}

/** Counts keys by `type/encoding` over `dbs`. */
export async function survey(c: Client, dbs: number[]): Promise<{ keys: number; encodings: Record<string, number> }> {
  const encodings: Record<string, number> = {};
  let keys = 0;
  for (const db of dbs) {
    await c.call('SELECT', db);
    const names = (await c.call('KEYS', '*')) as Buffer[];
    keys += names.length;
    const types = await c.pipeline(names.map((n) => ['TYPE', n]));
    const encs = await c.pipeline(names.map((n) => ['OBJECT', 'ENCODING', n]));
    names.forEach((_, i) => {
      const id = `${(types[i] as { ok: string }).ok}/${String(encs[i])}`;
      encodings[id] = (encodings[id] ?? 0) + 1;
    });
  }
  await c.call('SELECT', 0);
  return { keys, encodings };
}

/** Every `type/encoding` a 7.0 master has and its snapshot carries (lists are always quicklists). */
export const EXPECTED_ENCODINGS = ['string/int', 'string/embstr', 'string/raw', 'list/quicklist', 'set/intset',
  'set/hashtable', 'zset/listpack', 'zset/skiplist', 'hash/listpack', 'hash/hashtable'];

/** ZADDs `members` members to `key` (1000 per command, pipelined). Scores mix integers and fractions. */
export async function buildBigZset(c: Client, key: string, members: number, seed = 1): Promise<void> {
  const rnd = rng(seed);
  const batch: Arg[][] = [];
  for (let i = 0; i < members; i += 1000) {
    const args: Arg[] = ['ZADD', key];
    for (let j = i; j < Math.min(members, i + 1000); j++) {
      const r = rnd();
      args.push(r < 0.3 ? String(Math.floor(r * 1e6)) : r < 0.6 ? (r * 1e4 - 3000).toFixed(6) : String(r * 1e12 - 5e11), `m:${j}:${(r * 1e9).toString(36)}`);
    }
    batch.push(args);
    if (batch.length === 20) { await run(c, batch); batch.length = 0; }
  }
  await run(c, batch);
}

/** SAVEs `c`'s server and returns its RDB file's bytes. */
export async function saveSnapshot(c: Client): Promise<Buffer> {
  const ok = await c.call('SAVE');
  if (!(ok && typeof ok === 'object' && 'ok' in ok)) throw new Error(`SAVE failed: ${JSON.stringify(ok)}`);
  const dir = (await c.call('CONFIG', 'GET', 'dir') as Buffer[])[1].toString();
  const file = (await c.call('CONFIG', 'GET', 'dbfilename') as Buffer[])[1].toString();
  return readFile(path.join(dir, file));
}

export interface FixedRedis { port: number; proc: ChildProcess; output(): string; stop(): Promise<void> }

/**
 * Starts redis-server on a given port (e.g. to replace a master at the same address). Resolves when
 * PING answers; rejects (with the server's output) if it exits first, e.g. because it refused its
 * RDB file.
 */
export async function startRedisAt(port: number, extra: string[], removeDir?: string): Promise<FixedRedis> {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--enable-debug-command', 'yes', '--repl-diskless-sync-delay', '0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => { out += d; });
  proc.stderr!.on('data', (d) => { out += d; });
  const server: FixedRedis = {
    port, proc, output: () => out,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await new Promise((r) => proc.once('exit', r));
      }
      if (removeDir) await rm(removeDir, { recursive: true, force: true });
    },
  };
  const t0 = Date.now();
  for (;;) {
    if (proc.exitCode !== null) { await server.stop(); throw new Error(`redis-server exited (${proc.exitCode}): ${out}`); }
    try {
      const c = await Client.connect(port);
      const r = await c.call('PING');
      c.close();
      if (r && typeof r === 'object' && 'ok' in r) return server;
    } catch { /* not yet */ }
    if (Date.now() - t0 > 10000) { await server.stop(); throw new Error(`redis-server did not start: ${out}`); }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Waits until the replica behind `r` is synced (link up, no sync in progress). Fails at once when
 * `failure()` reports an error (e.g. the link's last error names a snapshot code), with that error.
 */
export async function waitSynced(r: Client, timeoutMs: number, failure?: () => string | null): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const f = failure?.();
    if (f) throw new Error(`full sync failed: ${f}`);
    try {
      const info = await r.str('INFO', 'replication');
      if (/^master_link_status:up\r?$/m.test(info ?? '') && /^master_sync_in_progress:0\r?$/m.test(info ?? '')) return;
    } catch { /* not listening yet */ }
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`replica not synced within ${timeoutMs} ms (link ${await infoField(r, 'replication', 'master_link_status').catch(() => '?')})`);
    }
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** A pino destination that keeps the replica's log lines (parsed), for assertions on what it logged. */
export function captureLog(): { lines: Array<Record<string, unknown>>; write(s: string): void } {
  const lines: Array<Record<string, unknown>> = [];
  return { lines, write(s: string) { for (const l of s.split('\n')) if (l) try { lines.push(JSON.parse(l)); } catch { /* partial */ } } };
}

/** Compares PEXPIRETIME (exact ms) of `keys` on two servers. Returns the first difference or null. */
export async function firstExpiryDiff(a: Client, b: Client, keys: DatasetReport['expiring']): Promise<string | null> {
  for (const { db, key } of keys) {
    await a.call('SELECT', db); await b.call('SELECT', db);
    const [x, y]: Reply[] = [await a.call('PEXPIRETIME', key), await b.call('PEXPIRETIME', key)];
    if (JSON.stringify(x) !== JSON.stringify(y)) return `db ${db} ${key.toString('latin1')}: master ${JSON.stringify(x)}, replica ${JSON.stringify(y)}`;
  }
  await a.call('SELECT', 0); await b.call('SELECT', 0);
  return null;
}
