/**
 * Compact-encoding decoders (workers/rdb_decode.ts) and snapshot load records (workers/rdb_load.ts)
 * against real data: a redis-server 7.0 configured to keep listpacks, intsets of every width and
 * multi-node (compressed, PLAIN) quicklists DUMPs its keys; the decoded elements must be the
 * server's contents. The fixture files (RDB v3 zipmap, v4 ziplists/intsets/plain types, v8
 * quicklist) are loaded by a second redis-server and walked here value by value. Load records are
 * built from every value (chunked, both orders of a quicklist node's parts), applied into a
 * ShardStore and compared with the server. Property tests: corrupted or truncated blobs and
 * records give a value or PARAREPLICA_RDB_CORRUPT, never another exception.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { TestStore, startRedis, type RedisServer } from './keyspace.helpers.js';
import { Client, startRedis as startRaw } from './helpers/redis.js';
import { ParaError } from '../src/errors.js';
import { FieldReader } from '../src/rdb/lengths.js';
import { REC_F_FIRST, REC_F_LAST } from '../src/rdb/load-records.js';
import { decodeListpack, decodeZiplist, decodeIntset, decodeZipmap } from '../workers/rdb_decode.js';
import { readDumpValue } from '../workers/rdb_value.js';
import { applyLoadRecord } from '../workers/rdb_load.js';
import { T_STRING, T_LIST, T_SET, T_ZSET, T_HASH } from '../workers/meta.js';

const FIXTURES = new URL('../../test/fixtures/rdb/', import.meta.url).pathname;
let redis: RedisServer;
let t: TestStore;
let epoch = 1;

before(async () => {
  redis = await startRedis();
  t = await TestStore.create('rdbdec');
  const c = redis.client;
  for (const [k, v] of [['hash-max-listpack-entries', '1000'], ['hash-max-listpack-value', '5000'], ['zset-max-listpack-entries', '1000'],
    ['zset-max-listpack-value', '5000'], ['set-max-intset-entries', '1000'], ['list-max-listpack-size', '40'], ['list-compress-depth', '1']]) {
    assert.deepEqual(await c.call('config', 'set', k, v), { ok: 'OK' });
  }
});
after(async () => { await redis?.stop(); await t?.destroy(); });

const INTS = ['0', '1', '12', '13', '127', '128', '-1', '-4096', '4095', '4096', '-4097', '-32768', '32767', '32768', '-8388608',
  '8388607', '8388608', '2147483647', '-2147483648', '2147483648', '9007199254740993', '9223372036854775807', '-9223372036854775808'];
const STRS = ['', 'a', '007', '-0', '1.5', ' 1', 'x'.repeat(63), 'y'.repeat(64), 'z'.repeat(4095), 'w'.repeat(4096), 'v'.repeat(4500), '\x00\xff\x80'];
const bin = (s: string): Buffer => Buffer.from(s, 'latin1');
const str = (b: Buffer): string => b.toString('latin1');

/** Server contents of a key, normalised: type and value (sets / hashes sorted). */
async function contents(call: (...a: (string | Buffer)[]) => Promise<unknown>, key: string): Promise<unknown> {
  const ty = await call('type', key) as { ok?: string; status?: string };
  const type = ty.ok ?? ty.status;
  const list = async (...a: string[]) => ((await call(...a)) as Buffer[]).map(str);
  switch (type) {
    case 'string': return [type, str(await call('get', key) as Buffer)];
    case 'list': return [type, await list('lrange', key, '0', '-1')];
    case 'set': return [type, (await list('smembers', key)).sort()];
    case 'hash': { const a = await list('hgetall', key); const p: string[] = []; for (let i = 0; i < a.length; i += 2) p.push(a[i] + '=' + a[i + 1]); return [type, p.sort()]; }
    case 'zset': return [type, await list('zrange', key, '0', '-1', 'withscores')];
    default: return [type];
  }
}
const redisCall = (c: Client) => (...a: (string | Buffer)[]) => c.call(...a);
const storeCall = (...a: (string | Buffer)[]) => t.r(...a);

/** A FlatValue as contents() shows it (zset scores through Number: formats differ, values not). */
function flatContents(kind: number, flat: Buffer[]): unknown {
  const s = flat.map(str);
  switch (kind) {
    case T_STRING: return ['string', s[0]];
    case T_LIST: return ['list', s];
    case T_SET: return ['set', s.sort()];
    case T_HASH: { const p: string[] = []; for (let i = 0; i < s.length; i += 2) p.push(s[i] + '=' + s[i + 1]); return ['hash', p.sort()]; }
    default: {
      const e: Array<[number, string]> = [];
      for (let i = 0; i < s.length; i += 2) e.push([num(s[i]), s[i + 1]]);
      e.sort((a, b) => a[0] - b[0] || Buffer.compare(bin(a[1]), bin(b[1])));
      return ['zset', e];
    }
  }
}
const num = (s: string): number => (s === 'inf' || s === '+inf' ? Infinity : s === '-inf' ? -Infinity : Number(s));
const zsetNums = (c: unknown): unknown => {
  const [type, a] = c as [string, string[]];
  if (type !== 'zset') return c;
  const e: Array<[number, string]> = [];
  for (let i = 0; i < a.length; i += 2) e.push([num(a[i + 1]), a[i]]);
  return ['zset', e];
};

/**
 * Load records for the RDB value whose type byte is at buf[p] (spec 5.5, the load-records.ts
 * contract): parts chunked `chunk` elements per record; quicklist-2 nodes as [container, blob]
 * or, with `blobFirst`, [blob, container]. Returns the records and the end of the value.
 */
function recordsOf(buf: Buffer, p: number, end: number, key: Buffer, expireMs: string, chunk: number, blobFirst = false):
  { records: Array<{ flags: number; argv: Buffer[] }>; end: number } {
  const type = buf[p];
  const fr = new FieldReader(1 << 30);
  const scratch = Buffer.alloc(12);
  let q = p + 1;
  const len = (): number => { q = fr.length(buf, q, end); assert.ok(q >= 0); return fr.value; };
  const s = (): Buffer => { const e = fr.stringEnd(buf, q, end); assert.ok(e >= 0); const v = Buffer.from(fr.string(buf, q, scratch)); q = e; return v; };
  const head = [key, bin(expireMs)];
  if (type === 0 || (type >= 9 && type <= 13) || type === 16 || type === 17 || type === 20) {
    return { records: [{ flags: REC_F_FIRST | REC_F_LAST, argv: [...head, s()] }], end: q };
  }
  const elems: Buffer[][] = [];
  const n = len();
  for (let i = 0; i < n; i++) {
    switch (type) {
      case 1: case 2: case 14: elems.push([s()]); break;
      case 4: elems.push([s(), s()]); break;
      case 3: {
        const m = s(); const l = buf[q++];
        elems.push([m, l === 253 ? bin('nan') : l === 254 ? bin('inf') : l === 255 ? bin('-inf') : buf.subarray(q, (q += l))]);
        break;
      }
      case 5: { const m = s(); elems.push([m, buf.subarray(q, (q += 8))]); break; }
      case 18: { const c = Buffer.of(len()); const b = s(); elems.push(blobFirst ? [b, c] : [c, b]); break; }
      default: assert.fail(`type ${type}`);
    }
  }
  const records: Array<{ flags: number; argv: Buffer[] }> = [];
  for (let i = 0; i === 0 || i < elems.length; i += chunk) {
    const flags = (i === 0 ? REC_F_FIRST : 0) | (i + chunk >= elems.length ? REC_F_LAST : 0);
    records.push({ flags, argv: [...head, ...elems.slice(i, i + chunk).flat()] });
  }
  return { records, end: q };
}

async function load(type: number, records: Array<{ flags: number; argv: Buffer[] }>): Promise<void> {
  for (const r of records) { const p = applyLoadRecord(t.store, 0, type, r.flags, r.argv); if (p) await p; }
}

/** Keys covering every listpack / intset / quicklist encoding a 7.0 server writes. */
async function fill(c: Client): Promise<string[]> {
  await c.call('flushall');
  await c.call('hset', 'h:lp', ...INTS.flatMap((v, i) => [`f${i}`, v]), ...STRS.flatMap((v, i) => [v, `s${i}`]));
  await c.call('zadd', 'z:lp', ...INTS.flatMap((v, i) => [String(i - 5), v]), '2.5', 'a', '-0', 'b', 'inf', 'c', '-inf', 'd',
    '1e300', 'e', '5e-324', 'f', '0.1', 'g', ...STRS.flatMap((v, i) => [String(i * 1.25), v]));
  await c.call('sadd', 's:16', '5', '-3', '1000');
  await c.call('sadd', 's:32', '5', '-70000', '2147483647');
  await c.call('sadd', 's:64', '1', '-9223372036854775808', '9223372036854775807', '4294967296');
  await c.call('rpush', 'l:small', ...INTS, ...STRS);
  await c.call('rpush', 'l:big', ...Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? String(i * 7919) : `item-${i}-${'p'.repeat(i % 30)}`)));
  await c.call('set', 'str', 'x'.repeat(200));
  await c.call('set', 'int', '-12345');
  await c.call('sadd', 's:ht', 'a', 'b', '1', '');
  await c.call('hset', 'h:ht', 'k'.repeat(6000), 'v', 'f', '1');
  await c.call('zadd', 'z:sl', '-0', 'm'.repeat(6000), '1.5', 'a', 'inf', 'b', '-inf', 'c', '3', '');
  await c.call('debug', 'quicklist-packed-threshold', '100');
  await c.call('rpush', 'l:plain', 'a', 'P'.repeat(150), '7', 'Q'.repeat(101));
  await c.call('debug', 'quicklist-packed-threshold', String(1 << 30));
  return ['h:lp', 'z:lp', 's:16', 's:32', 's:64', 'l:small', 'l:big', 'str', 'int', 's:ht', 'h:ht', 'z:sl', 'l:plain'];
}

/** Blobs of every decoder, for the corruption property tests. */
const blobs: Array<{ kind: 'lp' | 'zl' | 'is' | 'zm'; b: Buffer }> = [];

test('decoders give the contents of the server\'s DUMPs; load records rebuild them', async () => {
  const c = redis.client;
  const keys = await fill(c);
  const types = new Set<number>();
  for (const k of keys) {
    const d = await c.call('dump', k) as Buffer;
    const v = readDumpValue(d, 0, d.length - 10);
    assert.equal(v.end, d.length - 10, k);
    const theirs = await contents(redisCall(c), k);
    assert.deepEqual(flatContents(v.kind, v.flat), zsetNums(theirs), `decoded ${k}`);
    types.add(d[0]);
    // The blobs themselves, for the decoders directly.
    const fr = new FieldReader(1 << 30);
    if (d[0] === 16 || d[0] === 17 || d[0] === 11) {
      const b = Buffer.from(fr.string(d, 1, Buffer.alloc(12)));
      const out: Buffer[] = [];
      const n = d[0] === 11 ? decodeIntset(b, out) : decodeListpack(b, out);
      assert.equal(n, out.length);
      blobs.push({ kind: d[0] === 11 ? 'is' : 'lp', b });
    }
    for (const [chunk, blobFirst] of [[1, false], [3, true], [1000, false]] as const) {
      t.store.flushAll(epoch++);
      const { records } = recordsOf(d, 0, d.length - 10, bin(k), '-1', chunk, blobFirst);
      await load(d[0], records);
      assert.deepEqual(await contents(storeCall, k), theirs, `loaded ${k} (type ${d[0]}, chunk ${chunk})`);
    }
  }
  assert.deepEqual([...types].sort((a, b) => a - b), [0, 2, 4, 5, 11, 16, 17, 18]);
  // Listpacks inside a quicklist, including LZF-compressed nodes.
  const d = await c.call('dump', 'l:big') as Buffer;
  const fr = new FieldReader(1 << 30);
  let q = fr.length(d, 1, d.length);
  for (let n = fr.value; n > 0; n--) {
    q = fr.length(d, q, d.length);
    const e = fr.stringEnd(d, q, d.length);
    blobs.push({ kind: 'lp', b: Buffer.from(fr.string(d, q, Buffer.alloc(12))) });
    q = e;
  }
});

/** The values of an RDB file, each re-framed as type byte + value (a DUMP payload body). */
function walk(file: Buffer): Array<{ key: Buffer; expireMs: string; framed: Buffer }> {
  const fr = new FieldReader(1 << 30);
  const out: Array<{ key: Buffer; expireMs: string; framed: Buffer }> = [];
  let p = 9;
  let exp = '-1';
  const s = (): Buffer => { const e = fr.stringEnd(file, p, file.length); const v = Buffer.from(fr.string(file, p, Buffer.alloc(12))); p = e; return v; };
  for (;;) {
    const op = file[p++];
    if (op === 0xff) return out;
    if (op === 0xfe) { p = fr.length(file, p, file.length); continue; }
    if (op === 0xfb) { p = fr.length(file, p, file.length); p = fr.length(file, p, file.length); continue; }
    if (op === 0xfa) { s(); s(); continue; }
    if (op === 0xfc) { exp = String(file.readBigInt64LE(p)); p += 8; continue; }
    if (op === 0xfd) { exp = String(file.readInt32LE(p) * 1000); p += 4; continue; }
    const key = s();
    const framed = Buffer.concat([Buffer.of(op), file.subarray(p)]);
    const v = readDumpValue(framed, 0, framed.length);
    out.push({ key, expireMs: exp, framed: framed.subarray(0, v.end) });
    p += v.end! - 1;
    exp = '-1';
  }
}

test('old encodings from the fixture files (zipmap, ziplists, intsets, quicklist) decode and load as redis-server loads them', async () => {
  for (const name of ['encodings.rdb', 'hash-zipmap.rdb', 'list-quicklist.rdb']) {
    const dir = mkdtempSync(path.join(tmpdir(), 'rdbfix-'));
    copyFileSync(path.join(FIXTURES, name), path.join(dir, 'dump.rdb'));
    const srv = await startRaw(['--dir', dir, '--dbfilename', 'dump.rdb']);
    const c = await Client.connect(srv.port);
    try {
      const entries = walk(readFileSync(path.join(FIXTURES, name)));
      assert.ok(entries.length > 0, name);
      t.store.flushAll(epoch++);
      for (const { key: k, expireMs, framed } of entries) {
        const key = str(k);
        const v = readDumpValue(framed, 0, framed.length);
        const theirs = await contents(redisCall(c), key);
        assert.deepEqual(flatContents(v.kind, v.flat), zsetNums(theirs), `${name}: decoded ${key} (type ${framed[0]})`);
        const { records } = recordsOf(framed, 0, framed.length, k, expireMs, 2);
        await load(framed[0], records);
        assert.deepEqual(await contents(storeCall, key), theirs, `${name}: loaded ${key}`);
        if (framed[0] === 9) blobs.push({ kind: 'zm', b: Buffer.from(readBlob(framed)) });
        if (framed[0] === 10 || framed[0] === 12 || framed[0] === 13) blobs.push({ kind: 'zl', b: Buffer.from(readBlob(framed)) });
        if (framed[0] === 11) blobs.push({ kind: 'is', b: Buffer.from(readBlob(framed)) });
      }
      assert.equal(await t.r('dbsize'), await c.call('dbsize'), name);
    } finally {
      c.close(); await srv.stop(); rmSync(dir, { recursive: true, force: true });
    }
  }
  assert.ok(blobs.some((b) => b.kind === 'zm') && blobs.some((b) => b.kind === 'zl'));
});

function readBlob(framed: Buffer): Buffer {
  return new FieldReader(1 << 30).string(framed, 1, Buffer.alloc(12));
}

test('load records: set types 20 and 1, expiry, empty values, and what is corruption', async () => {
  t.store.flushAll(epoch++);
  const listNode = blobs.filter((b) => b.kind === 'lp').at(-1)!.b;   // a node of l:big: distinct items
  const items: Buffer[] = [];
  decodeListpack(listNode, items);
  await load(20, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('s20'), bin('-1'), listNode] }]);
  assert.deepEqual(((await t.r('smembers', 's20')) as Buffer[]).map(str).sort(), items.map(str).sort());
  const FUT = String(Date.now() + 3_600_000), PAST = '1000';
  await load(1, [{ flags: REC_F_FIRST, argv: [bin('l1'), bin(FUT), bin('a'), bin('b')] }, { flags: REC_F_LAST, argv: [bin('l1'), bin(FUT), bin('c')] }]);
  assert.deepEqual(((await t.r('lrange', 'l1', '0', '-1')) as Buffer[]).map(str), ['a', 'b', 'c']);
  assert.equal(await t.r('pexpiretime', 'l1'), Number(FUT));
  // A key already expired is kept by a replica (hidden from reads until the master's DEL).
  await load(0, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('old'), bin(PAST), bin('v')] }]);
  assert.equal(await t.rAt(0, 'pexpiretime', 'old'), 1000);
  assert.equal(await t.r('get', 'old'), null);
  // Empty collections are not created.
  await load(2, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('empty'), bin(FUT)] }]);
  await load(11, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('empty2'), bin('-1'), Buffer.from([2, 0, 0, 0, 0, 0, 0, 0])] }]);
  assert.equal(await t.r('exists', 'empty', 'empty2'), 0);
  await t.store.commit();
  const bad: Array<[number, Array<{ flags: number; argv: Buffer[] }>, RegExp]> = [
    [2, [{ flags: REC_F_FIRST, argv: [bin('d\n1'), bin('-1'), bin('a'), bin('b')] }, { flags: REC_F_LAST, argv: [bin('d\n1'), bin('-1'), bin('c'), bin('a')] }], /key "d\\n1" \(db 0, RDB type 2 SET\) is corrupt: duplicate member/],
    [4, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('d2'), bin('-1'), bin('f'), bin('1'), bin('f'), bin('2')] }], /duplicate field/],
    [5, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('d3'), bin('-1'), bin('m'), Buffer.from(new Float64Array([NaN]).buffer)] }], /NaN/],
    [3, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('d4'), bin('-1'), bin('m'), bin('nan')] }], /NaN/],
    [3, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('d5'), bin('-1'), bin('m'), bin('1x')] }], /failed/],
    [0, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('l1'), bin('-1'), bin('again')] }], /appears twice/],
    [16, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('d6'), bin('-1'), listNode.subarray(0, listNode.length - 1)] }], /listpack/],
    [18, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('d7'), bin('-1'), Buffer.of(3), listNode] }], /container/],
    [19, [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('d8'), bin('-1'), bin('x')] }], /RDB type 19 STREAM_LISTPACKS_2\) cannot be loaded/],
  ];
  for (const [type, recs, re] of bad) {
    await assert.rejects(load(type, recs), (e: unknown) => e instanceof ParaError && re.test(e.message) && (type === 19 || e.code === 'PARAREPLICA_RDB_CORRUPT'), String(re));
    t.store.discard();
  }
});

/** A blob with random damage: byte changes, truncation, extension, a cut-out. */
const damaged = (b: Buffer): fc.Arbitrary<Buffer> => fc.oneof(
  fc.array(fc.tuple(fc.nat(b.length - 1), fc.nat(255)), { minLength: 1, maxLength: 4 })
    .map((ch) => { const c = Buffer.from(b); for (const [i, v] of ch) c[i] = v; return c; }),
  fc.nat(b.length).map((n) => b.subarray(0, n)),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((x) => Buffer.concat([b, x])),
  fc.tuple(fc.nat(b.length), fc.nat(8)).map(([i, n]) => Buffer.concat([b.subarray(0, i), b.subarray(i + n)])),
);

test('damaged blobs decode or throw PARAREPLICA_RDB_CORRUPT, nothing else', () => {
  const dec = { lp: decodeListpack, zl: decodeZiplist, is: decodeIntset, zm: decodeZipmap };
  for (const kind of ['lp', 'zl', 'is', 'zm'] as const) assert.ok(blobs.some((b) => b.kind === kind), kind);
  fc.assert(fc.property(fc.constantFrom(...blobs).chain((b) => damaged(b.b).map((d) => ({ kind: b.kind, d }))), ({ kind, d }) => {
    try { dec[kind](d, []); } catch (e) {
      if (!(e instanceof ParaError) || e.code !== 'PARAREPLICA_RDB_CORRUPT') throw e;
    }
  }), { numRuns: 3000 });
});

test('damaged DUMP values and load records give a value or PARAREPLICA_RDB_CORRUPT', async () => {
  const c = redis.client;
  const keys = await fill(c);
  const dumps = await Promise.all(keys.map(async (k) => (await c.call('dump', k)) as Buffer));
  await fc.assert(fc.asyncProperty(fc.constantFrom(...dumps).chain((d) => damaged(d.subarray(0, d.length - 10))), async (d) => {
    const ok = (e: unknown) => e instanceof ParaError && (e.code === 'PARAREPLICA_RDB_CORRUPT' || e.code === 'PARAREPLICA_RDB_UNSUPPORTED');
    try { readDumpValue(d, 0, d.length); } catch (e) { if (!ok(e)) throw e; }
    if (d.length === 0 || [0, 9, 10, 11, 12, 13, 16, 17, 20].indexOf(d[0]) < 0) return;
    t.store.flushAll(epoch++);
    const blob = (() => { try { return readBlob(d); } catch { return d.subarray(1); } })();
    try { await load(d[0], [{ flags: REC_F_FIRST | REC_F_LAST, argv: [bin('k'), bin('-1'), blob] }]); } catch (e) { if (!ok(e)) throw e; t.store.discard(); }
  }), { numRuns: 400 });
});
