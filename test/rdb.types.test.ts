/**
 * The parser on snapshots written by a real redis-server 7 holding every value type in its compact
 * and its full encoding (CONFIG SET forces hashtable hashes, skiplist zsets, hashtable sets, small
 * quicklist nodes, LZF-compressed nodes and PLAIN nodes), special scores, binary and empty strings,
 * expiries, several dbs, a 200k-member zset, a 200k-item list and a stream with consumer groups.
 * Every key is decoded (blobs with the small test-only listpack / intset decoders below) and
 * compared with what the server holds; random chunk splits must give the same callbacks. Then
 * properties on a small snapshot: no prefix ever finishes, and damaged bytes give only a ParaError
 * (PARAREPLICA_RDB_CORRUPT / UNSUPPORTED) or an unfinished parse.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, type Hash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { chunkEnds } from './helpers/chunks.js';
import { RdbParser, type RdbEntry, type RdbParserOptions } from '../src/rdb/parser.js';
import { ParaError } from '../src/errors.js';
import { Client, startRedis, type RedisServer, type Reply } from './helpers/redis.js';

// ---------- test-only blob decoders (spec 5.7.1, 5.7.4) ----------

/** Listpack elements as text (integers as their decimal text). */
function listpack(lp: Buffer): string[] {
  const out: string[] = [];
  let p = 6;
  while (lp[p] !== 0xff) {
    const b = lp[p];
    let size: number;
    if (b < 0x80) { out.push(String(b)); size = 1; }
    else if (b < 0xc0) { size = 1 + (b & 0x3f); out.push(lp.toString('latin1', p + 1, p + size)); }
    else if (b < 0xe0) { const v = ((b & 0x1f) << 8) | lp[p + 1]; out.push(String(v >= 4096 ? v - 8192 : v)); size = 2; }
    else if (b < 0xf0) { size = 2 + (((b & 0x0f) << 8) | lp[p + 1]); out.push(lp.toString('latin1', p + 2, p + size)); }
    else if (b === 0xf0) { size = 5 + lp.readUInt32LE(p + 1); out.push(lp.toString('latin1', p + 5, p + size)); }
    else if (b === 0xf1) { out.push(String(lp.readInt16LE(p + 1))); size = 3; }
    else if (b === 0xf2) { out.push(String(lp.readIntLE(p + 1, 3))); size = 4; }
    else if (b === 0xf3) { out.push(String(lp.readInt32LE(p + 1))); size = 5; }
    else if (b === 0xf4) { out.push(String(lp.readBigInt64LE(p + 1))); size = 9; }
    else throw new Error(`listpack: bad byte ${b} at ${p}`);
    p += size + (size <= 127 ? 1 : size < 16383 ? 2 : size < 2097151 ? 3 : size < 268435455 ? 4 : 5);
  }
  assert.equal(p + 1, lp.length, 'listpack length');
  return out;
}

function intset(b: Buffer): string[] {
  const width = b.readUInt32LE(0);
  const out: string[] = [];
  for (let i = 0; i < b.readUInt32LE(4); i++) {
    const at = 8 + i * width;
    out.push(String(width === 2 ? b.readInt16LE(at) : width === 4 ? b.readInt32LE(at) : b.readBigInt64LE(at)));
  }
  return out;
}

function score(text: string): number {
  return text === 'inf' || text === '+inf' ? Infinity : text === '-inf' ? -Infinity : Number(text);
}

// ---------- a key's logical value, as parsed and as the server holds it ----------

type Value = { t: 'string'; v: string } | { t: 'hash' | 'set' | 'list'; v: string[] | string[][] } | { t: 'zset'; v: [string, number][] };
interface KeyInfo { type: number; expireMs: number; value: Value }

function pairs<T>(a: T[]): [T, T][] {
  const out: [T, T][] = [];
  for (let i = 0; i < a.length; i += 2) out.push([a[i], a[i + 1]]);
  return out;
}
const byFirst = <T extends [string, unknown]>(a: T[]): T[] => a.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));

/** Collects every key of a parse, decoded, into `keys` ("db key" → info); `digest` sees every callback. */
function collector(keys: Map<string, KeyInfo> | null, digest: Hash, skipped: string[]) {
  let cur: { id: string; type: number; expireMs: number; parts: string[]; scores: number[] } | null = null;
  const finish = (id: string, type: number, expireMs: number, items: string[], scores: number[]) => {
    let value: Value;
    switch (type) {
      case 0: value = { t: 'string', v: items.join('') }; break;   // a long string comes in pieces
      case 4: case 16: value = { t: 'hash', v: byFirst(pairs(items)) }; break;
      case 2: case 11: value = { t: 'set', v: items.sort() }; break;
      case 5: value = { t: 'zset', v: byFirst(items.map((m, i) => [m, scores[i]] as [string, number])) }; break;
      case 17: value = { t: 'zset', v: byFirst(pairs(items).map(([m, s]) => [m, score(s)] as [string, number])) }; break;
      case 18: value = { t: 'list', v: items }; break;
      default: throw new Error(`unexpected type ${type}`);
    }
    keys?.set(id, { type, expireMs, value });
  };
  return {
    entry(e: RdbEntry) {
      digest.update(`entry ${e.db} ${e.type} ${e.expireMs} `).update(e.key).update(e.value);
      if (keys === null) return;
      const id = `${e.db} ${e.key.toString('latin1')}`;
      const items = e.type === 0 ? [e.value.toString('latin1')] : e.type === 11 ? intset(e.value) : listpack(e.value);
      finish(id, e.type, e.expireMs, items, []);
    },
    begin(e: RdbEntry, count: number) {
      digest.update(`begin ${e.db} ${e.type} ${e.expireMs} ${count} `).update(e.key);
      cur = { id: `${e.db} ${e.key.toString('latin1')}`, type: e.type, expireMs: e.expireMs, parts: [], scores: [] };
    },
    part(a: Buffer, b?: Buffer) {
      digest.update(a);
      if (b !== undefined) digest.update(b);
      if (keys === null) return;
      const c = cur!;
      if (c.type === 18) {
        if (b![0] === 2) c.parts.push(...listpack(a));
        else { assert.equal(b![0], 1); c.parts.push(a.toString('latin1')); }
      } else if (c.type === 5) {
        c.parts.push(a.toString('latin1'));
        c.scores.push(b!.readDoubleLE(0));
      } else {
        c.parts.push(a.toString('latin1'));
        if (b !== undefined) c.parts.push(b.toString('latin1'));
      }
    },
    end() {
      digest.update('end');
      if (cur !== null && keys !== null) finish(cur.id, cur.type, cur.expireMs, cur.parts, cur.scores);
      cur = null;
    },
    skipped(key: Buffer, db: number, type: number) {
      digest.update(`skipped ${db} ${type}`).update(key);
      skipped.push(`${db} ${key.toString('latin1')} ${type}`);
    },
  };
}

interface Parse { keys: Map<string, KeyInfo>; digest: string; skipped: string[]; parser: RdbParser }
function parse(buf: Buffer, cuts: number[], opts: RdbParserOptions, decode = true): Parse {
  const keys = new Map<string, KeyInfo>();
  const digest = createHash('sha1');
  const skipped: string[] = [];
  const parser = new RdbParser(collector(decode ? keys : null, digest, skipped), opts);
  let prev = 0;
  for (const c of chunkEnds(cuts, buf.length)) {
    const used = parser.feed(buf.subarray(prev, c));
    if (parser.done) break;
    assert.equal(used, c - prev);
    prev = c;
  }
  return { keys, digest: digest.digest('hex'), skipped, parser };
}

const ENCODING_TYPE: Record<string, number> = {
  'string:raw': 0, 'string:embstr': 0, 'string:int': 0, 'hash:listpack': 16, 'hash:hashtable': 4, 'set:intset': 11,
  'set:hashtable': 2, 'zset:listpack': 17, 'zset:skiplist': 5, 'list:quicklist': 18, 'stream:stream': 19,
};

/** What the server holds, keyed like the parse ("db key"); streams are listed apart. */
async function serverTruth(c: Client, dbs: number[]): Promise<{ keys: Map<string, KeyInfo>; streams: string[] }> {
  const keys = new Map<string, KeyInfo>();
  const streams: string[] = [];
  for (const db of dbs) {
    await c.call('SELECT', db);
    const names = (await c.call('KEYS', '*')) as Buffer[];
    const meta = await c.pipeline(names.flatMap((k) => [['TYPE', k], ['OBJECT', 'ENCODING', k], ['PEXPIRETIME', k]]));
    for (let i = 0; i < names.length; i++) {
      const k = names[i];
      const kind = (meta[3 * i] as { ok: string }).ok;
      const type = ENCODING_TYPE[`${kind}:${(meta[3 * i + 1] as Buffer).toString()}`];
      const id = `${db} ${k.toString('latin1')}`;
      if (kind === 'stream') { streams.push(`${id} ${type}`); continue; }
      let r: Reply;
      if (kind === 'zset' || kind === 'list') {
        // In pages: the test client re-parses an incomplete reply from its start at each read.
        const n = (await c.call(kind === 'zset' ? 'ZCARD' : 'LLEN', k)) as number;
        const pages: Cmd[] = [];
        for (let i = 0; i < n; i += 2000) pages.push(kind === 'zset' ? ['ZRANGE', k, i, i + 1999, 'WITHSCORES'] : ['LRANGE', k, i, i + 1999]);
        r = ((await c.pipeline(pages)) as Reply[][]).flat();
      } else {
        r = await c.call(...{ string: ['GET', k], hash: ['HGETALL', k], set: ['SMEMBERS', k] }[kind]!);
      }
      const text = (x: Reply) => (x as Buffer).toString('latin1');
      let value: Value;
      if (kind === 'string') value = { t: 'string', v: text(r) };
      else if (kind === 'hash') value = { t: 'hash', v: byFirst(pairs((r as Reply[]).map(text))) };
      else if (kind === 'set') value = { t: 'set', v: (r as Reply[]).map(text).sort() };
      else if (kind === 'zset') value = { t: 'zset', v: byFirst(pairs((r as Reply[]).map(text)).map(([m, s]) => [m, score(s)] as [string, number])) };
      else value = { t: 'list', v: (r as Reply[]).map(text) };
      keys.set(id, { type, expireMs: meta[3 * i + 2] as number, value });
    }
  }
  return { keys, streams };
}

// ---------- the dataset ----------

const BIN = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const SCORES = ['inf', '-inf', '0', '-0', '1e308', '5e-324', '2.5', '-1.5e-300', '3'];
type Cmd = (string | number | Buffer)[];

function typedKeys(prefix: string): Cmd[] {
  return [
    ['HSET', `${prefix}hash`, 'f1', 'v1', 'empty', '', '100', '-7', BIN.subarray(0, 20), BIN.subarray(200), 'long', 'L'.repeat(40)],
    ['ZADD', `${prefix}zset`, ...SCORES.flatMap((s, i) => [s, `m${i}`]), '4', '', '5', BIN.subarray(0, 30)],
    ['SADD', `${prefix}intset`, '5', '-3', '1000', '2147483648', '-9223372036854775808', '0'],
    ['SADD', `${prefix}set`, 'a', '', BIN.subarray(10, 40), '12'],
    ['RPUSH', `${prefix}list`, 'a', '7', '', BIN.subarray(0, 100), '-5', 'b'.repeat(30)],
  ];
}

async function build(c: Client, big: boolean): Promise<void> {
  const cmds: Cmd[] = [
    ['SET', 'str', 'hello'], ['SET', 'empty', ''], ['SET', '', 'empty key'], ['SET', BIN, BIN], ['SET', 'int', '-123456'],
    ['SET', 'compressible', 'abc'.repeat(200)],
    ...typedKeys('c:'), // compact encodings (defaults)
    ['CONFIG', 'SET', 'hash-max-listpack-entries', '0'], ['CONFIG', 'SET', 'zset-max-listpack-entries', '0'],
    ['CONFIG', 'SET', 'set-max-intset-entries', '0'], ['CONFIG', 'SET', 'list-max-listpack-size', '2'],
    ['CONFIG', 'SET', 'list-compress-depth', '1'],
    ...typedKeys('f:'), // full encodings; lists of 2-item nodes, inner nodes LZF-compressed
    ['RPUSH', 'f:nodes', ...Array.from({ length: 40 }, (_, i) => `node item ${i} ${'z'.repeat(i)}`)],
    ['DEBUG', 'QUICKLIST-PACKED-THRESHOLD', '100'],
    ['RPUSH', 'f:plain', 'small', 'x'.repeat(300), 'tiny', BIN, 'end'],
    ['DEBUG', 'QUICKLIST-PACKED-THRESHOLD', String(1 << 30)],
    ['PEXPIREAT', 'c:hash', '4102444800123'], ['PEXPIRE', 'f:zset', '3600000'], ['EXPIRE', 'c:list', '7200'],
    ['PEXPIREAT', 'f:set', '253402300799999'],
    ['SELECT', '3'],
    ['XADD', 'stream', '1-1', 'f', 'v'], ['XADD', 'stream', '1-2', 'f', 'w', 'g', 'x'], ['XADD', 'stream', '*', 'a', '1'],
    ['XGROUP', 'CREATE', 'stream', 'grp', '0'], ['XGROUP', 'CREATE', 'stream', 'idle', '$'],
    ['XREADGROUP', 'GROUP', 'grp', 'alice', 'COUNT', '2', 'STREAMS', 'stream', '>'],
    ['XREADGROUP', 'GROUP', 'grp', 'bob', 'STREAMS', 'stream', '>'],
    ['XGROUP', 'CREATECONSUMER', 'stream', 'grp', 'carol'],
    ['SET', 'db3', 'x'], ...typedKeys('d3:'),
    ['SELECT', '15'], ['SET', 'str', 'db 15'], ['HSET', 'c:hash', 'other', 'db'],
    ['SELECT', '0'],
  ];
  if (big) {
    cmds.push(['CONFIG', 'SET', 'list-max-listpack-size', '-2']);
    for (let b = 0; b < 20; b++) {
      cmds.push(['ZADD', 'big:zset', ...Array.from({ length: 10_000 }, (_, i) => [String((b * 10_000 + i) / 7), `member:${b * 10_000 + i}`]).flat()]);
      cmds.push(['RPUSH', 'big:list', ...Array.from({ length: 10_000 }, (_, i) => `item:${b * 10_000 + i}`)]);
    }
  }
  const replies = await c.pipeline(cmds);
  replies.forEach((r, i) => assert.ok(!(r && typeof r === 'object' && 'err' in r), `${String(cmds[i][0])}: ${JSON.stringify(r)}`));
}

let redis: RedisServer;
let bigRdb: Buffer;
let smallRdb: Buffer;
let bigTruth: Awaited<ReturnType<typeof serverTruth>>;
let smallTruth: Awaited<ReturnType<typeof serverTruth>>;

before(async () => {
  redis = await startRedis(['--list-max-listpack-size', '-2']);
  const c = await Client.connect(redis.port);
  try {
    await build(c, true);
    bigTruth = await serverTruth(c, [0, 3, 15]);
    assert.deepEqual(await c.call('SAVE'), { ok: 'OK' });
    bigRdb = await readFile(path.join(redis.dir, 'dump.rdb'));
    await c.call('FLUSHALL');
    await c.pipeline([['CONFIG', 'SET', 'list-max-listpack-size', '-2'], ['CONFIG', 'SET', 'hash-max-listpack-entries', '128'],
      ['CONFIG', 'SET', 'zset-max-listpack-entries', '128'], ['CONFIG', 'SET', 'set-max-intset-entries', '512']]);
    await build(c, false);
    smallTruth = await serverTruth(c, [0, 3, 15]);
    assert.deepEqual(await c.call('SAVE'), { ok: 'OK' });
    smallRdb = await readFile(path.join(redis.dir, 'dump.rdb'));
  } finally {
    c.close();
  }
});

after(async () => {
  await redis?.stop();
});

function checkAgainstServer(p: Parse, truth: typeof bigTruth): void {
  assert.ok(p.parser.done);
  assert.deepEqual(p.skipped, truth.streams);
  assert.equal(p.keys.size, truth.keys.size);
  for (const [id, want] of truth.keys) assert.deepEqual(p.keys.get(id), want, `key ${JSON.stringify(id.slice(0, 60))}`);
  assert.equal(p.parser.keysLoaded, truth.keys.size);
}

test('a live snapshot with every type and encoding decodes to what the server holds', () => {
  const types = new Set([...bigTruth.keys.values()].map((k) => k.type));
  assert.deepEqual([...types].sort((a, b) => a - b), [0, 2, 4, 5, 11, 16, 17, 18]);
  assert.deepEqual(bigTruth.streams, ['3 stream 19']);
  assert.equal((bigTruth.keys.get('0 big:zset')!.value.v as unknown[]).length, 200_000);
  checkAgainstServer(parse(bigRdb, [], { skipUnloadable: true }), bigTruth);
  checkAgainstServer(parse(smallRdb, [], { skipUnloadable: true }), smallTruth);
});

test('the live snapshot in random chunk splits gives the same callbacks', () => {
  const whole = parse(bigRdb, [], { skipUnloadable: true }, false);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 200 }), (cuts) => {
      assert.equal(parse(bigRdb, cuts, { skipUnloadable: true }, false).digest, whole.digest);
    }),
    { numRuns: 8 },
  );
  // Small chunks all along, on the small snapshot: every item is cut somewhere.
  const small = parse(smallRdb, [], { skipUnloadable: true }, false).digest;
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 64 }), (step) => {
      const cuts = Array.from({ length: Math.ceil(smallRdb.length / step) }, (_, i) => i * step);
      assert.equal(parse(smallRdb, cuts, { skipUnloadable: true }, false).digest, small);
    }),
    { numRuns: 20 },
  );
});

test('without skipUnloadable the stream is refused by name', () => {
  let e: unknown;
  try { parse(bigRdb, [], {}); } catch (x) { e = x; }
  assert.ok(e instanceof ParaError);
  assert.equal(e.code, 'PARAREPLICA_RDB_UNSUPPORTED');
  assert.deepEqual([e.details.key, e.details.db, e.details.type], ['stream', 3, 19]);
  assert.match(e.message, /^snapshot key "stream" \(db 3\) is a stream \(RDB type 19 STREAM_LISTPACKS_2\); .*--skip-errors/);
});

test('no prefix of a snapshot finishes, and none throws', () => {
  assert.ok(smallRdb.length < 20_000);
  for (let n = 0; n < smallRdb.length; n++) {
    const p = parse(smallRdb.subarray(0, n), [n >> 1, Math.max(0, n - 3)], { skipUnloadable: true }, false);
    assert.equal(p.parser.done, false, `prefix ${n}`);
    assert.equal(p.parser.bytesConsumed, n);
  }
});

/** Damages the small snapshot; the parse must throw a ParaError (CORRUPT / UNSUPPORTED) or stay unfinished. */
function damaged(bad: Buffer, cuts: number[], opts: RdbParserOptions, what: string): void {
  try {
    const p = parse(bad, cuts, opts, false);
    assert.equal(p.parser.done, false, `${what}: parsed to the end without an error`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof ParaError, `${what}: ${e instanceof Error ? e.stack : String(e)}`);
    assert.ok(e.code === 'PARAREPLICA_RDB_CORRUPT' || e.code === 'PARAREPLICA_RDB_UNSUPPORTED', `${what}: ${e.code}`);
  }
}

test('flipped bytes, bad lengths and bad LZF give only a ParaError or an unfinished parse', () => {
  const opts = fc.record({ skipUnloadable: fc.boolean() });
  fc.assert(
    fc.property(fc.nat({ max: smallRdb.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.array(fc.nat(), { maxLength: 4 }), opts, (pos, xor, cuts, o) => {
      const bad = Buffer.from(smallRdb);
      bad[pos] ^= xor;
      damaged(bad, cuts, o, `flip at ${pos} ^${xor}`);
    }),
    { numRuns: 800 },
  );
  // A length field overwritten with a large or absurd one (32- or 64-bit form).
  fc.assert(
    fc.property(fc.nat({ max: smallRdb.length - 10 }), fc.boolean(), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), opts, (pos, wide, v, o) => {
      const bad = Buffer.from(smallRdb);
      if (wide) { bad[pos] = 0x81; bad.writeBigUInt64BE(v, pos + 1); } else { bad[pos] = 0x80; bad.writeUInt32BE(Number(v & 0xffffffffn), pos + 1); }
      damaged(bad, [], o, `length at ${pos}`);
    }),
    { numRuns: 400 },
  );
  // Damage inside LZF data: the compressible string's payload.
  const at = smallRdb.indexOf(Buffer.from('compressible')) + 'compressible'.length;
  assert.equal(smallRdb[at], 0xc3);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 255 }), (off, xor) => {
      const bad = Buffer.from(smallRdb);
      bad[at + off] ^= xor;
      damaged(bad, [], {}, `LZF byte ${off} ^${xor}`);
    }),
    { numRuns: 100 },
  );
});
