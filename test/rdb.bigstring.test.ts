/**
 * Long strings through the streaming RDB parser and the full-sync router (contract in
 * src/rdb/load-records.ts): a live redis-server 7 SAVEs strings just under, at and above 64 KiB up
 * to 3 MiB, compressible ones (stored LZF) and random ones (stored raw); a byte dump checks that both
 * forms are really in the file. Parsed in random chunk splits, a string over 64 KiB must come as
 * begin / part / end with pieces of at most 64 KiB adding up to the server's value; shorter ones by
 * entry(). A 20 MiB pair must parse with the parser holding at most ~1 MiB. Corruption: truncations
 * inside a streamed string, flips inside LZF data (the same outcome as the whole-buffer decoder:
 * same error, or the same bytes), a bad back-reference naming the key, CRC64 mismatches. Routing:
 * FullSync turns a streamed string into FIRST … LAST records of whole pieces, ≤ 64 KiB each.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { RdbParser, type RdbParserOptions } from '../src/rdb/parser.js';
import { FieldReader } from '../src/rdb/lengths.js';
import { lzfDecompress } from '../src/rdb/lzf.js';
import { REC_F_FIRST, REC_F_LAST, STRING_STREAM_MIN } from '../src/rdb/load-records.js';
import { FullSync } from '../src/engine/full-sync.js';
import { ParaError } from '../src/errors.js';
import { Client, parseReply, startRedis, type RedisServer } from './helpers/redis.js';
import { chunkEnds, feedInChunks } from './helpers/chunks.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Text from a small vocabulary in a pseudo-random order: LZF gives literals and back-references. */
function compressible(n: number, seed: number): Buffer {
  const words = Array.from({ length: 300 }, (_, i) => `w${i.toString(36)}${'abcdefghij'.slice(0, i % 10)} `);
  const out: string[] = [];
  let len = 0;
  let x = seed >>> 0;
  while (len < n) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const w = words[x % 300];
    out.push(w);
    len += w.length;
  }
  return Buffer.from(out.join('').slice(0, n), 'latin1');
}

let redis: RedisServer;
/** The snapshot, what the server holds ("db key" → value, expiry) and the 20 MiB snapshot. */
let rdb: Buffer;
const truth = new Map<string, { value: Buffer; expireMs: number }>();
let rdbHuge: Buffer;
const huge = new Map<string, Buffer>();

const LZF_KEYS = ['c:64k', 'c:64k+1', 'c:300k', 'c:3m', 'c:ttl', 'zeros:1m'];
const RAW_KEYS = ['r:64k', 'r:64k+1', 'r:300k', 'r:3m'];

before(async () => {
  redis = await startRedis();
  const c = await Client.connect(redis.port);
  try {
    await c.pipeline([
      ['SET', 'c:64k', compressible(64 * KiB, 1)], ['SET', 'r:64k', randomBytes(64 * KiB)],
      ['SET', 'c:64k+1', compressible(64 * KiB + 1, 2)], ['SET', 'r:64k+1', randomBytes(64 * KiB + 1)],
      ['SET', 'c:300k', compressible(300 * KiB, 3)], ['SET', 'r:300k', randomBytes(300 * KiB)],
      ['SET', 'c:3m', compressible(3 * MiB, 4)], ['SET', 'r:3m', randomBytes(3 * MiB)],
      ['SET', 'c:ttl', compressible(200 * KiB, 5), 'PX', '3600000'], ['SET', 'zeros:1m', Buffer.alloc(MiB)],
      ['SET', 'small', 'hello'], ['SET', 'int', '12345'],
      ['SELECT', '2'], ['SET', 'r:db2', randomBytes(100 * KiB)], ['SET', 'small', 'db2'], ['SELECT', '0'],
    ]);
    for (const db of [0, 2]) {
      await c.call('SELECT', db);
      for (const k of (await c.call('KEYS', '*')) as Buffer[]) {
        const [v, ms] = await c.pipeline([['GET', k], ['PEXPIRETIME', k]]);
        truth.set(`${db} ${k.toString('latin1')}`, { value: v as Buffer, expireMs: ms as number });
      }
    }
    await c.call('SELECT', 0);
    assert.deepEqual(await c.call('SAVE'), { ok: 'OK' });
    rdb = await readFile(path.join(redis.dir, 'dump.rdb'));
    huge.set('mem:c', compressible(20 * MiB, 6)).set('mem:r', randomBytes(20 * MiB));
    await c.pipeline([['FLUSHALL'], ...[...huge].map(([k, v]) => ['SET', k, v])]);
    assert.deepEqual(await c.call('SAVE'), { ok: 'OK' });
    rdbHuge = await readFile(path.join(redis.dir, 'dump.rdb'));
  } finally {
    c.close();
  }
});

after(async () => {
  await redis?.stop();
});

/** Where a db-0 string key's value is stored: its encoding byte, stored bytes and decoded length. */
function locate(buf: Buffer, key: string): { at: number; lzf: boolean; data: number; stored: number; ulen: number } {
  const k = Buffer.concat([Buffer.of(0, key.length), Buffer.from(key, 'latin1')]);
  const at = buf.indexOf(k) + k.length;
  assert.ok(at >= k.length, `key ${key} not found`);
  const fr = new FieldReader(2 ** 31);
  const data = fr.stringBody(buf, at, buf.length);
  return { at, lzf: buf[at] === 0xc3, data, stored: fr.value, ulen: fr.decodedLen };
}

interface Parse { values: Map<string, { value: Buffer; expireMs: number; streamed: boolean }>; parser: RdbParser; maxHeld: number }

/** Parses `buf` in the chunks `ends` make, checking the begin/part/end contract as it goes. */
function parse(buf: Buffer, ends: number[], opts?: RdbParserOptions): Parse {
  const out: Parse = { values: new Map(), parser: null as never, maxHeld: 0 };
  let cur: { id: string; count: number; expireMs: number; pieces: Buffer[] } | null = null;
  const parser = new RdbParser({
    entry: (e) => {
      assert.ok(e.type !== 0 || e.value.length <= STRING_STREAM_MIN, `entry() for a string of ${e.value.length} bytes`);
      out.values.set(`${e.db} ${e.key.toString('latin1')}`, { value: Buffer.from(e.value), expireMs: e.expireMs, streamed: false });
    },
    begin: (e, count) => {
      assert.equal(cur, null);
      assert.equal(e.type, 0);
      assert.equal(e.value.length, 0);
      assert.ok(count > STRING_STREAM_MIN, `begin() for a string of ${count} bytes`);
      cur = { id: `${e.db} ${e.key.toString('latin1')}`, count, expireMs: e.expireMs, pieces: [] };
    },
    part: (a, b) => {
      assert.ok(cur !== null && b === undefined);
      assert.ok(a.length > 0 && a.length <= STRING_STREAM_MIN, `a piece of ${a.length} bytes`);
      cur.pieces.push(Buffer.from(a));
      out.maxHeld = Math.max(out.maxHeld, parser.heldBytes);
    },
    end: () => {
      assert.ok(cur !== null);
      const value = Buffer.concat(cur.pieces);
      assert.equal(value.length, cur.count, 'the pieces add up to the announced length');
      out.values.set(cur.id, { value, expireMs: cur.expireMs, streamed: true });
      cur = null;
    },
  }, opts);
  out.parser = parser;
  let prev = 0;
  for (const e of ends) {
    const used = parser.feed(buf.subarray(prev, e));
    out.maxHeld = Math.max(out.maxHeld, parser.heldBytes);
    if (parser.done) break;
    assert.equal(used, e - prev);
    prev = e;
  }
  return out;
}

function checkAll(p: Parse): void {
  assert.ok(p.parser.done);
  assert.equal(p.parser.bytesConsumed, rdb.length);
  assert.equal(p.parser.keysLoaded, truth.size);
  assert.equal(p.values.size, truth.size);
  for (const [id, t] of truth) {
    const v = p.values.get(id);
    assert.ok(v !== undefined, `${id} missing`);
    assert.ok(v.value.equals(t.value), `value of ${id}`);
    assert.equal(v.expireMs, t.expireMs, `expiry of ${id}`);
    assert.equal(v.streamed, t.value.length > STRING_STREAM_MIN, `${id} streamed iff longer than 64 KiB`);
  }
}

/** Chunk ends for sizes cycled from `sizes`. */
function sized(len: number, sizes: number[]): number[] {
  const ends: number[] = [];
  for (let p = 0, i = 0; p < len; i++) ends.push((p = Math.min(len, p + sizes[i % sizes.length])));
  return ends;
}

test('the snapshot really holds LZF and raw forms of long strings', () => {
  for (const k of LZF_KEYS) assert.equal(rdb[locate(rdb, k).at], 0xc3, `${k} is LZF`);
  for (const k of RAW_KEYS) assert.equal(rdb[locate(rdb, k).at], 0x80, `${k} is raw with a 32-bit length`);
  for (const k of ['mem:c', 'mem:r']) assert.equal(locate(rdbHuge, k).lzf, k === 'mem:c');
});

test('long strings in random chunk splits come in pieces adding up to the value', () => {
  checkAll(parse(rdb, [rdb.length]));
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 60 }), (cuts) => checkAll(parse(rdb, chunkEnds(cuts, rdb.length)))),
    { numRuns: 15 },
  );
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 20 }), (sizes) => checkAll(parse(rdb, sized(rdb.length, sizes)))),
    { numRuns: 5 },
  );
  // Tiny chunks: LZF ops and string headers straddle nearly every boundary.
  checkAll(parse(rdb, sized(rdb.length, [1, 7, 2, 33, 3, 64, 5, 13])));
});

test('a 20 MiB string never makes the parser hold more than ~1 MiB', () => {
  const sizes = [64 * KiB, 1, 300 * KiB, 5000, MiB + 7, 17];
  const p = parse(rdbHuge, sized(rdbHuge.length, sizes));
  assert.ok(p.parser.done);
  for (const [k, v] of huge) assert.ok(p.values.get(`0 ${k}`)?.value.equals(v), k);
  assert.ok(p.maxHeld <= MiB, `the parser held ${p.maxHeld} bytes`);
});

test('truncated inside a long string: unfinished, never a crash; bytes cut out: a ParaError or unfinished', () => {
  const spans = [...LZF_KEYS, ...RAW_KEYS].map((k) => locate(rdb, k)).filter((l) => l.ulen > STRING_STREAM_MIN);
  fc.assert(
    fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 2000 }), fc.array(fc.nat(), { maxLength: 6 }), (which, off, cut, cuts) => {
      const s = spans[which % spans.length];
      const at = s.at + 1 + (off % (s.data + s.stored - s.at - 1));
      const p = parse(rdb.subarray(0, at), chunkEnds(cuts, at));
      assert.equal(p.parser.done, false);
      assert.equal(p.parser.bytesConsumed, at);
      const bad = Buffer.concat([rdb.subarray(0, at), rdb.subarray(Math.min(rdb.length, at + cut))]);
      // Shifted bytes may read as any value type (a set, a hash…): this handler takes whatever comes.
      const loose = new RdbParser({ entry: () => {}, begin: () => {}, part: () => {}, end: () => {} });
      try {
        feedInChunks(loose, bad, cuts);
        assert.equal(loose.done, false, 'a damaged snapshot parsed to the end');
      } catch (e) {
        if (e instanceof assert.AssertionError) throw e;
        // Bytes shifted into place can read as a value type this version refuses.
        assert.ok(e instanceof ParaError && (e.code === 'PARAREPLICA_RDB_CORRUPT' || e.code === 'PARAREPLICA_RDB_UNSUPPORTED'), String(e));
      }
    }),
    { numRuns: 30 },
  );
});

test('a flip inside long LZF data: the whole-buffer decoder\'s error, or its bytes and a CRC64 error', () => {
  const keys = ['c:64k+1', 'c:300k', 'c:ttl'];
  fc.assert(
    fc.property(fc.nat(), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.array(fc.nat(), { maxLength: 8 }), (which, off, xor, cuts) => {
      const key = keys[which % keys.length];
      const l = locate(rdb, key);
      const bad = Buffer.from(rdb);
      bad[l.data + (off % l.stored)] ^= xor;
      let whole: Buffer | ParaError;
      try { whole = lzfDecompress(bad, l.data, l.data + l.stored, l.ulen, l.data); } catch (e) { whole = e as ParaError; }
      const ends = chunkEnds(cuts, bad.length);
      let err: unknown = null;
      try { parse(bad, ends); } catch (e) { err = e; }
      assert.ok(err instanceof ParaError && err.code === 'PARAREPLICA_RDB_CORRUPT', String(err));
      if (whole instanceof ParaError) {
        assert.equal(err.details.offset, whole.details.offset);
        assert.equal(err.details.key, key);
        assert.ok(err.message.endsWith(whole.message.replace(/^snapshot is corrupt at byte \d+/, '')), `${err.message} / ${whole.message}`);
      } else {
        assert.match(err.message, /CRC64/);
        const p = parse(bad, ends, { verifyChecksum: false });
        assert.ok(p.values.get(`0 ${key}`)!.value.equals(whole), 'the same bytes as the whole-buffer decoder');
      }
    }),
    { numRuns: 40 },
  );
});

test('a bad back-reference inside a long LZF string names the key', () => {
  const l = locate(rdb, 'c:3m');
  // Walk the ops to the first back-reference and make it reach 8192 bytes back.
  let ip = l.data;
  let produced = 0;
  while (rdb[ip] < 32) { produced += rdb[ip] + 1; ip += rdb[ip] + 2; }
  assert.ok(produced < 8192);
  const bad = Buffer.from(rdb);
  bad[ip] |= 0x1f;
  bad[ip + ((bad[ip] >> 5) === 7 ? 2 : 1)] = 0xff;
  for (const ends of [[bad.length], sized(bad.length, [1000, 3])]) {
    assert.throws(() => parse(bad, ends), (e: unknown) => {
      assert.ok(e instanceof ParaError && e.code === 'PARAREPLICA_RDB_CORRUPT');
      assert.equal(e.details.key, 'c:3m');
      assert.equal(e.details.offset, ip);
      assert.match(e.message, /in key "c:3m" .*LZF data is invalid \(back-reference to 8192 bytes back, before the start of the output\)/);
      return true;
    });
  }
});

test('a flip in a long raw string is caught by the CRC64; unchecked, the flipped value loads', () => {
  const l = locate(rdb, 'r:3m');
  fc.assert(
    fc.property(fc.nat({ max: l.stored - 1 }), fc.integer({ min: 1, max: 255 }), fc.array(fc.nat(), { maxLength: 8 }), (off, xor, cuts) => {
      const bad = Buffer.from(rdb);
      bad[l.data + off] ^= xor;
      assert.throws(() => parse(bad, chunkEnds(cuts, bad.length)), (e: unknown) => e instanceof ParaError && /CRC64/.test(e.message));
      const v = parse(bad, chunkEnds(cuts, bad.length), { verifyChecksum: false }).values.get('0 r:3m')!.value;
      assert.ok(v.equals(bad.subarray(l.data, l.data + l.stored)));
    }),
    { numRuns: 8 },
  );
});

test('FullSync routes a long string as FIRST … LAST records of whole pieces, at most 64 KiB each', () => {
  const records: { shard: number; db: number; type: number; flags: number; argv: Buffer[] }[] = [];
  const router = {
    shards: 3,
    overflowed: false,
    emit(shard: number, _kind: number, db: number, _off: number, type: number, payload: Buffer, from: number, to: number, flags: number) {
      const r = parseReply(Buffer.from(payload.subarray(from, to)), 0);
      assert.ok(r !== null && r[1] === to - from);
      records.push({ shard, db, type, flags, argv: r[0] as Buffer[] });
    },
  };
  const sync = new FullSync({} as never, router as never, {} as never, { pause() {}, resume() {} }, false);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 30 }), (cuts) => {
      records.length = 0;
      const keysBefore = sync.keys;
      const parser = new RdbParser(sync.handler(() => assert.fail('nothing is skipped')));
      let prev = 0;
      for (const e of chunkEnds(cuts, rdb.length)) { parser.feed(rdb.subarray(prev, e)); prev = e; }
      assert.ok(parser.done);
      const got = new Map<string, { value: Buffer; expireMs: number; records: number; shard: number }>();
      let open: string | null = null;
      for (const r of records) {
        assert.equal(r.type, 0);
        const id = `${r.db} ${r.argv[0].toString('latin1')}`;
        const pieces = r.argv.slice(2);
        assert.ok(pieces.length >= 1, 'every record holds a piece');
        assert.ok(pieces.reduce((n, b) => n + b.length, 0) <= 64 * KiB, 'a record holds at most 64 KiB');
        assert.equal((r.flags & REC_F_FIRST) !== 0, open === null, `${id}: FIRST on the first record only`);
        const g: { value: Buffer; expireMs: number; records: number; shard: number } =
          open === null ? { value: Buffer.alloc(0), expireMs: 0, records: 0, shard: r.shard } : got.get(id)!;
        assert.equal(r.shard, g.shard);
        g.value = Buffer.concat([g.value, ...pieces]);
        g.records++;
        g.expireMs = Number(r.argv[1].toString());
        got.set(id, g);
        open = (r.flags & REC_F_LAST) !== 0 ? null : id;
      }
      assert.equal(open, null);
      assert.equal(got.size, truth.size);
      for (const [id, t] of truth) {
        const g = got.get(id)!;
        assert.ok(g.value.equals(t.value), id);
        assert.equal(g.expireMs, t.expireMs, id);
        assert.equal(g.records, Math.max(1, Math.ceil(t.value.length / (64 * KiB))), `${id}: records`);
      }
      assert.equal(sync.keys - keysBefore, truth.size);
    }),
    { numRuns: 8 },
  );
});
