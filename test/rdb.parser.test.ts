/**
 * The streaming RDB parser against real snapshots: one written by a live redis-server 7 (SAVE of a
 * known dataset, compared with what the server holds) fed in random chunk splits, and the Redis
 * test-suite fixtures. Then property tests: truncated snapshots never finish, flipped bytes never
 * give anything but a ParaError (or an unfinished parse).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { RdbParser, type RdbParserOptions } from '../src/rdb/parser.js';
import { ParaError } from '../src/errors.js';
import { Client, startRedis, type RedisServer, type Reply } from './helpers/redis.js';

interface Parsed {
  /** Every key; a long string (begin/part/end) reassembled from its pieces, with `streamed` set. */
  entries: { db: number; key: string; type: number; value: Buffer; expireMs: number; streamed?: boolean }[];
  aux: Map<string, string>;
  functions: string[];
  selects: number[];
  parser: RdbParser;
  consumed: number;
}

/** Feeds `buf` cut at `cuts` (positions modulo its length); keys are latin1 strings. */
function parseRdb(buf: Buffer, cuts: number[] = [], opts?: RdbParserOptions): Parsed {
  const out: Parsed = { entries: [], aux: new Map(), functions: [], selects: [], parser: null as never, consumed: 0 };
  let pieces: Buffer[] | null = null;
  const parser = new RdbParser(
    {
      aux: (k, v) => out.aux.set(k.toString('latin1'), v.toString('latin1')),
      selectDb: (db) => out.selects.push(db),
      functionLib: (code) => out.functions.push(code.toString('utf8')),
      entry: (e) => {
        out.entries.push({ db: e.db, key: e.key.toString('latin1'), type: e.type, value: Buffer.from(e.value), expireMs: e.expireMs });
      },
      begin: (e, count) => {
        pieces = null;
        if (e.type !== 0) return; // only a flipped type byte gives a collection here
        assert.ok(count > 65536, `begin for a string of ${count} bytes`);
        pieces = [];
        out.entries.push({ db: e.db, key: e.key.toString('latin1'), type: e.type, value: Buffer.alloc(count), expireMs: e.expireMs, streamed: true });
      },
      part: (a) => {
        if (pieces === null) return;
        assert.ok(a.length > 0 && a.length <= 65536, `piece of ${a.length} bytes`);
        pieces.push(Buffer.from(a));
      },
      end: () => {
        if (pieces === null) return;
        const last = out.entries[out.entries.length - 1];
        const whole = Buffer.concat(pieces);
        assert.equal(whole.length, last.value.length, 'the pieces add up to the announced length');
        last.value = whole;
      },
    },
    opts,
  );
  out.parser = parser;
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const c of [...points, buf.length]) {
    const chunk = buf.subarray(prev, c);
    const used = parser.feed(chunk);
    out.consumed += used;
    if (parser.done) break;
    assert.equal(used, chunk.length, 'an unfinished parser consumes whole chunks');
    prev = c;
  }
  return out;
}

let redis: RedisServer;
let rdb: Buffer;
/** What the server holds, per "db key" (key as latin1). */
const truth = new Map<string, { value: Buffer; expireMs: number }>();
let libraryCode = '';
const randomValue = randomBytes(300_000); // incompressible: stored raw

before(async () => {
  redis = await startRedis();
  const c = await Client.connect(redis.port);
  try {
    const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const ints = ['0', '1', '-1', '127', '128', '-128', '-129', '255', '32767', '32768', '-32768', '-32769',
      '2147483647', '-2147483648', '2147483648', '007', '-0', '12345678901', '99999999999', '+5'];
    const cmds: (string | Buffer)[][] = [];
    for (const v of ints) cmds.push(['SET', `int:${v}`, v], ['SET', v, `key-is-${v}`]);
    cmds.push(
      ['SET', 'short', 'hello'],
      ['SET', 'empty', ''],
      ['SET', '', 'empty key'],
      ['SET', 'binary', allBytes],
      ['SET', Buffer.concat([Buffer.from('bin\x00key'), allBytes.subarray(200)]), allBytes.subarray(0, 30)],
      ['SET', 'lzf:small', 'a'.repeat(40)],
      ['SET', 'lzf:big', 'abcdefgh'.repeat(200_000)],
      ['SET', 'k'.repeat(300), 'long compressible key'],
      ['SET', 'random', randomValue],
      ['SET', 'ttl:px', 'v', 'PX', '3600000'],
      ['SET', 'ttl:int', '12', 'EX', '7200'],
      ['SET', 'ttl:past', 'x'],
      ['PEXPIREAT', 'ttl:past', '4102444800123'],
      ['SELECT', '1'],
      ['SET', 'db1:a', 'one'],
      ['SET', 'db1:ttl', 'two', 'PX', '999999'],
      ['SELECT', '7'],
      ['SET', 'db7:a', 'seven'],
      ['SET', 'short', 'same name as in db 0'],
      ['SELECT', '0'],
    );
    for (let i = 0; i < 500; i++) cmds.push(['SET', `many:${i}`, `value-${i}-${'x'.repeat(i % 50)}`]);
    const replies = await c.pipeline(cmds);
    for (const r of replies) assert.ok(!(r && typeof r === 'object' && 'err' in r), JSON.stringify(r));
    const lib = "#!lua name=lib1\nredis.register_function('f', function() return 1 end)";
    assert.deepEqual(await c.call('FUNCTION', 'LOAD', lib), Buffer.from('lib1'));

    // Read back what the server holds.
    for (const db of [0, 1, 7]) {
      await c.call('SELECT', db);
      const keys = (await c.call('KEYS', '*')) as Buffer[];
      const rows = await c.pipeline(keys.flatMap((k) => [['GET', k], ['PEXPIRETIME', k]]));
      keys.forEach((k, i) => truth.set(`${db} ${k.toString('latin1')}`, { value: rows[2 * i] as Buffer, expireMs: rows[2 * i + 1] as number }));
    }
    const libs = (await c.call('FUNCTION', 'LIST', 'WITHCODE')) as Reply[][];
    libraryCode = (libs[0][libs[0].findIndex((x) => Buffer.isBuffer(x) && x.toString() === 'library_code') + 1] as Buffer).toString();
    assert.equal(libraryCode, lib);

    assert.deepEqual(await c.call('SAVE'), { ok: 'OK' });
    rdb = await readFile(path.join(redis.dir, 'dump.rdb'));
  } finally {
    c.close();
  }
});

after(async () => {
  await redis?.stop();
});

function checkAgainstServer(p: Parsed): void {
  assert.ok(p.parser.done);
  assert.equal(p.parser.version, 10);
  assert.equal(p.consumed, rdb.length);
  assert.equal(p.parser.bytesConsumed, rdb.length);
  assert.equal(p.parser.keysLoaded, truth.size);
  assert.equal(p.entries.length, truth.size);
  for (const e of p.entries) {
    const t = truth.get(`${e.db} ${e.key}`);
    assert.ok(t, `unexpected key ${JSON.stringify(e.key)} in db ${e.db}`);
    assert.equal(e.type, 0);
    assert.ok(t.value.equals(e.value), `value of ${JSON.stringify(e.key.slice(0, 40))} (db ${e.db})`);
    assert.equal(e.expireMs, t.expireMs, `expiry of ${e.key}`);
    assert.equal(e.streamed === true, e.value.length > 65536, `${e.key} streamed only when longer than 64 KiB`);
  }
  assert.ok(p.entries.some((e) => e.key === 'lzf:big' && e.streamed) && p.entries.some((e) => e.key === 'random' && e.streamed));
  assert.deepEqual(p.functions, [libraryCode]);
  assert.equal(p.aux.get('redis-ver'), '7.0.15');
  assert.equal(p.aux.get('redis-bits'), '64');
  assert.deepEqual(p.selects, [0, 1, 7]);
}

test('a live redis-server snapshot, whole', () => {
  assert.ok(truth.size > 540);
  checkAgainstServer(parseRdb(rdb));
});

test('a live redis-server snapshot, in random chunk splits', () => {
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 30 }), (cuts) => {
      checkAgainstServer(parseRdb(rdb, cuts));
    }),
    { numRuns: 40 },
  );
});

test('a live snapshot fed one byte at a time', () => {
  const slice = rdb.subarray(0, Math.min(rdb.length, 20_000)); // the start: aux fields, function, many keys
  const parser = new RdbParser({ entry() {} });
  for (let i = 0; i < slice.length; i++) assert.equal(parser.feed(slice.subarray(i, i + 1)), 1);
  assert.equal(parser.done, false);
  assert.equal(parser.bytesConsumed, slice.length);
});

test('bytes after the checksum are left to the caller', () => {
  const stream = Buffer.from('*1\r\n$4\r\nping\r\n');
  const parser = new RdbParser({ entry() {} });
  const half = rdb.length >> 1;
  assert.equal(parser.feed(rdb.subarray(0, half)), half);
  assert.equal(parser.feed(Buffer.concat([rdb.subarray(half), stream])), rdb.length - half);
  assert.ok(parser.done);
  assert.equal(parser.feed(stream), 0);
  // The same when the checksum itself straddles chunks.
  const p2 = new RdbParser({ entry() {} });
  assert.equal(p2.feed(rdb.subarray(0, rdb.length - 3)), rdb.length - 3);
  assert.equal(p2.feed(Buffer.concat([rdb.subarray(rdb.length - 3), stream])), 3);
  assert.ok(p2.done);
});

const FIXTURES = new URL('../../test/fixtures/rdb/', import.meta.url).pathname;

/** Every callback of a whole parse, as text (keys and strings latin1, parts hex). */
function callsOf(buf: Buffer): { calls: string[]; parser: RdbParser } {
  const calls: string[] = [];
  const parser = new RdbParser({
    entry: (e) => calls.push(`entry ${e.db} ${e.type} ${e.key.toString('latin1')} ${e.expireMs} ${e.value.toString('hex')}`),
    begin: (e, n) => calls.push(`begin ${e.db} ${e.type} ${e.key.toString('latin1')} ${e.expireMs} ${n}`),
    part: (a, b) => calls.push(b === undefined ? a.toString('latin1') : `${a.toString('latin1')}=${b.toString('latin1')}`),
    end: () => calls.push('end'),
  });
  assert.equal(parser.feed(buf), buf.length);
  assert.ok(parser.done);
  return { calls, parser };
}

test('the Redis test-suite fixtures parse, every value type included', async () => {
  const read = (f: string) => readFile(path.join(FIXTURES, f));
  // Redis 2.4: a zipmap hash (blob, left undecoded).
  const zipmap = callsOf(await read('hash-zipmap.rdb'));
  assert.equal(zipmap.parser.version, 3);
  assert.deepEqual(zipmap.calls, ['entry 0 9 hash -1 020266310200763102663202007632ff']);
  // Redis 4.0: a quicklist of one ziplist node holding 7, then a string.
  const ql = callsOf(await read('list-quicklist.rdb'));
  assert.equal(ql.parser.version, 8);
  assert.deepEqual(ql.calls, ['begin 0 14 list -1 1', Buffer.from('0d0000000a000000010000f8ff', 'hex').toString('latin1'), 'end', 'entry 0 0 x -1 37']);
  // Redis 2.x "encodings": plain and ziplist/intset forms of every type.
  const enc = callsOf(await read('encodings.rdb'));
  assert.equal(enc.parser.version, 4);
  const heads = enc.calls.filter((c) => c.startsWith('entry') || c.startsWith('begin')).map((c) => c.split(' ').slice(2, 4).join(' ')).sort();
  assert.deepEqual(heads, ['0 string', '0 compressible', '0 number', '1 list', '10 list_zipped', '11 set_zipped_1', '11 set_zipped_2',
    '11 set_zipped_3', '12 zset_zipped', '13 hash_zipped', '2 set', '3 zset', '4 hash'].sort());
  const after = (head: string, n: number) => { const i = enc.calls.findIndex((c) => c.startsWith(head)); return enc.calls.slice(i + 1, i + 1 + n); };
  assert.deepEqual(after('begin 0 3 zset', 13), ['bb=20', 'cc=30', 'bbb=200', 'bbbb=5000000000', 'ccc=300', 'cccc=123456789',
    'a=1', 'aa=10', 'b=2', 'aaa=100', 'c=3', 'aaaa=1000', 'end']);
  assert.deepEqual(after('begin 0 2 set', 9).sort(), ['1', '100000', '2', '3', '6000000000', 'a', 'b', 'c', 'end'].sort());
  const list = after('begin 0 1 list', 25);
  assert.deepEqual(list, [...Array(3).fill(['1', '2', '3', 'a', 'b', 'c', '100000', '6000000000']).flat(), 'end']);
  assert.equal(after('begin 0 4 hash', 12).at(-1), 'end');
  assert.equal(enc.parser.keysLoaded, 13);
  // corrupt_ziplist.rdb: its damage is inside a ziplist, which the appliers decode; the framing is sound.
  const cz = callsOf(await read('corrupt_ziplist.rdb'));
  assert.equal(cz.parser.keysLoaded, 54);
  const i = cz.calls.indexOf('begin 0 14 mylist -1 1');
  assert.ok(i > 0);
  assert.equal(cz.calls[i + 2], 'end');
});

test('truncated snapshots never report done and never throw', () => {
  fc.assert(
    fc.property(fc.nat({ max: rdb.length - 1 }), fc.array(fc.nat(), { maxLength: 8 }), (len, cuts) => {
      const p = parseRdb(rdb.subarray(0, len), cuts);
      assert.equal(p.parser.done, false);
      assert.equal(p.consumed, len);
    }),
    { numRuns: 150 },
  );
});

/** Flips one byte; the parse must throw a ParaError or stay unfinished (waiting for more bytes). */
function flipOutcome(pos: number, xor: number, cuts: number[]): ParaError | 'unfinished' {
  const bad = Buffer.from(rdb);
  bad[pos] ^= xor;
  try {
    const p = parseRdb(bad, cuts);
    assert.equal(p.parser.done, false, `flip at ${pos} (^${xor}) parsed to the end without an error`);
    return 'unfinished';
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    assert.ok(e instanceof ParaError, `flip at ${pos} (^${xor}): ${e instanceof Error ? e.stack : String(e)}`);
    assert.ok(e.code === 'PARAREPLICA_RDB_CORRUPT' || e.code === 'PARAREPLICA_RDB_UNSUPPORTED', e.code);
    return e;
  }
}

test('a flipped byte gives a ParaError or an unfinished parse, never a crash or a hang', () => {
  fc.assert(
    fc.property(fc.nat({ max: rdb.length - 1 }), fc.integer({ min: 1, max: 255 }), fc.array(fc.nat(), { maxLength: 4 }), (pos, xor, cuts) => {
      flipOutcome(pos, xor, cuts);
    }),
    { numRuns: 300 },
  );
  // Flips in the structured start of the file (header, aux fields, function, first keys).
  fc.assert(
    fc.property(fc.nat({ max: 400 }), fc.integer({ min: 1, max: 255 }), (pos, xor) => {
      flipOutcome(pos, xor, []);
    }),
    { numRuns: 300 },
  );
});

test("a flip inside a string's bytes is caught by the CRC64, unless checking is off", () => {
  const at = rdb.indexOf(randomValue.subarray(0, 64));
  assert.ok(at > 0);
  fc.assert(
    fc.property(fc.nat({ max: randomValue.length - 1 }), fc.integer({ min: 1, max: 255 }), (off, xor) => {
      const e = flipOutcome(at + off, xor, []);
      assert.ok(e instanceof ParaError);
      assert.equal(e.code, 'PARAREPLICA_RDB_CORRUPT');
      assert.match(e.message, /CRC64/);
    }),
    { numRuns: 20 },
  );
  const bad = Buffer.from(rdb);
  bad[at + 10] ^= 1;
  const p = parseRdb(bad, [], { verifyChecksum: false });
  assert.ok(p.parser.done);
  // The stored checksum itself.
  const e = flipOutcome(rdb.length - 1, 0x40, []);
  assert.ok(e instanceof ParaError && /CRC64/.test(e.message));
});
