/**
 * The parser on hand-built values of every RDB value type: plain collections and quicklists come
 * as begin / part / end, blobs as entry(), streams (types 15, 19, 21) and MODULE_2 values are read
 * to their end and reported with skipped() under `skipUnloadable` (else refused, naming the key),
 * MODULE values and hashes with field expiry are always refused. Corruption inside a value names the
 * key; a huge announced length never allocates what has not arrived.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { crc64 } from '../src/rdb/crc64.js';
import { feedInChunks } from './helpers/chunks.js';
import { RdbParser, type RdbHandler, type RdbParserOptions } from '../src/rdb/parser.js';
import { ParaError } from '../src/errors.js';

// ---------- builders ----------

function len(v: number | bigint, form?: 6 | 14 | 32 | 64): Buffer {
  const n = Number(v);
  const f = form ?? (n < 64 ? 6 : n < 16384 ? 14 : n <= 0xffffffff ? 32 : 64);
  if (f === 6) return Buffer.from([n]);
  if (f === 14) return Buffer.from([0x40 | (n >> 8), n & 0xff]);
  if (f === 32) { const b = Buffer.alloc(5); b[0] = 0x80; b.writeUInt32BE(n, 1); return b; }
  const b = Buffer.alloc(9); b[0] = 0x81; b.writeBigUInt64BE(BigInt(v), 1); return b;
}
const bytes = (...a: number[]): Buffer => Buffer.from(a);
function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  return Buffer.concat([len(b.length), b]);
}
/** An LZF-encoded string made of literal runs only. */
function lzfStr(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  const runs: Buffer[] = [];
  for (let i = 0; i < b.length; i += 32) { const r = b.subarray(i, i + 32); runs.push(bytes(r.length - 1), r); }
  const c = Buffer.concat(runs);
  return Buffer.concat([bytes(0xc3), len(c.length), len(b.length), c]);
}
function i64le(n: number | bigint): Buffer { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b; }
function dbl(x: number): Buffer { const b = Buffer.alloc(8); b.writeDoubleLE(x); return b; }
/** A "string double" (type 3 score). */
function sdbl(text: string): Buffer { return text === 'nan' ? bytes(253) : text === 'inf' ? bytes(254) : text === '-inf' ? bytes(255) : str(text); }
function rdbFile(version: number, body: Buffer[]): Buffer {
  const head = Buffer.concat([Buffer.from(`REDIS${String(version).padStart(4, '0')}`), ...body, bytes(0xff)]);
  const c = Buffer.alloc(8);
  c.writeBigUInt64LE(crc64(head));
  return Buffer.concat([head, c]);
}
function key(type: number, name: string | Buffer, ...value: Buffer[]): Buffer {
  return Buffer.concat([bytes(type), str(name), ...value]);
}

// ---------- running ----------

interface Log { calls: string[]; parser: RdbParser; used: number }
function run(buf: Buffer, cuts: number[] = [], opts?: RdbParserOptions): Log {
  const calls: string[] = [];
  const show = (b: Buffer) => (b.length > 24 ? `<${b.length}>` : b.toString('latin1'));
  const h: RdbHandler = {
    entry: (e) => calls.push(`entry ${e.db} ${e.type} ${show(e.key)}=${show(e.value)} ${e.expireMs}`),
    begin: (e, n) => calls.push(`begin ${e.db} ${e.type} ${show(e.key)} ${n} ${e.expireMs}`),
    part: (a, b) => calls.push(b === undefined ? `part ${show(a)}` : `part ${show(a)} ${b.length === 8 ? b.readDoubleLE(0) : show(b)}`),
    end: () => calls.push('end'),
    skipped: (k, db, type) => calls.push(`skipped ${show(k)} ${db} ${type}`),
  };
  const parser = new RdbParser(h, opts);
  const used = feedInChunks(parser, buf, cuts);
  return { calls, parser, used };
}

function failure(fn: () => unknown): ParaError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ParaError, `expected a ParaError, got ${e instanceof Error ? e.stack : String(e)}`);
    return e;
  }
  assert.fail('expected an error');
}

// ---------- collections and blobs ----------

const T_EXP = 1700000000123;
const collections = rdbFile(10, [
  bytes(0xfe), len(2),
  bytes(0xfc), i64le(T_EXP),
  key(1, 'l1', len(3), str('a'), bytes(0xc0, 0xfb), lzfStr('x'.repeat(40))),
  key(2, 's2', len(2), str('m1'), str('')),
  key(3, 'z3', len(5), str('a'), sdbl('2.5'), str('b'), sdbl('nan'), str('c'), sdbl('inf'), str('d'), sdbl('-inf'), str('e'), sdbl('-0')),
  key(4, 'h4', len(2), str('f1'), str('v1'), bytes(0xc1, 0xe8, 0x03), str('')),
  key(5, 'z5', len(3), str('m'), dbl(1.5), str('n'), dbl(-Infinity), str('o'), dbl(5e-324)),
  bytes(0xf8), len(5), bytes(0xf9, 3),
  key(14, 'q14', len(2), str('zl-1'), lzfStr('zl-2')),
  key(18, 'q18', len(2), len(2), str('listpack'), len(1), str('plain item')),
  bytes(0xfd), bytes(0x10, 0, 0, 0),
  key(1, 'empty', len(0)),
  key(2, Buffer.alloc(0), len(1, 32), str('big count form')),
  key(9, 'b9', str('zipmap')), key(10, 'b10', str('ziplist')), key(11, 'b11', str('intset')),
  key(12, 'b12', str('zset ziplist')), key(13, 'b13', str('hash ziplist')),
  bytes(0xfc), i64le(-5),
  key(16, 'b16', lzfStr('hash listpack'.repeat(3))), key(17, 'b17', str('zset listpack')), key(20, 'b20', str('set listpack')),
  key(0, 'last', str('v')),
]);
const collectionCalls = [
  `begin 2 1 l1 3 ${T_EXP}`, 'part a', 'part -5', 'part <40>', 'end',
  'begin 2 2 s2 2 -1', 'part m1', 'part ', 'end',
  'begin 2 3 z3 5 -1', 'part a 2.5', 'part b nan', 'part c inf', 'part d -inf', 'part e -0', 'end',
  'begin 2 4 h4 2 -1', 'part f1 v1', 'part 1000 ', 'end',
  'begin 2 5 z5 3 -1', 'part m 1.5', 'part n -Infinity', 'part o 5e-324', 'end',
  'begin 2 14 q14 2 -1', 'part zl-1', 'part zl-2', 'end',
  'begin 2 18 q18 2 -1', 'part listpack \x02', 'part plain item \x01', 'end',
  'begin 2 1 empty 0 16000', 'end',
  'begin 2 2  1 -1', 'part big count form', 'end',
  'entry 2 9 b9=zipmap -1', 'entry 2 10 b10=ziplist -1', 'entry 2 11 b11=intset -1',
  'entry 2 12 b12=zset ziplist -1', 'entry 2 13 b13=hash ziplist -1',
  'entry 2 16 b16=<39> -5', 'entry 2 17 b17=zset listpack -1', 'entry 2 20 b20=set listpack -1',
  'entry 2 0 last=v -1',
];

test('plain collections, quicklists and blobs, in any chunking', () => {
  const whole = run(collections);
  assert.deepEqual(whole.calls, collectionCalls);
  assert.ok(whole.parser.done);
  assert.equal(whole.parser.keysLoaded, 18);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
      const r = run(collections, cuts);
      assert.deepEqual(r.calls, collectionCalls);
      assert.equal(r.used, collections.length);
    }),
    { numRuns: 300 },
  );
  // One byte at a time.
  assert.deepEqual(run(collections, Array.from({ length: collections.length }, (_, i) => i)).calls, collectionCalls);
});

// ---------- streams and MODULE_2 values ----------

interface Group { pel: number; consumers: number[] }
/** A stream value of type 15, 19 or 21 (spec 5.7.7): listpacks are opaque bytes here. */
function streamValue(type: number, nodes: Buffer[], groups: Group[]): Buffer {
  const out: Buffer[] = [len(nodes.length)];
  nodes.forEach((lp, i) => {
    const id = Buffer.alloc(16); id.writeBigUInt64BE(1700000000000n + BigInt(i), 0);
    out.push(str(id), i % 2 ? lzfStr(lp) : str(lp));
  });
  out.push(len(7), len(2n ** 63n + 5n, 64), len(1), ...(type === 15 ? [] : [len(1), len(0), len(0), len(0), len(12345, 32)]));
  out.push(len(groups.length));
  groups.forEach((g, gi) => {
    out.push(str(`group-${gi}`), len(1700000000000, 64), len(0), ...(type === 15 ? [] : [len(3)]));
    out.push(len(g.pel));
    for (let p = 0; p < g.pel; p++) out.push(randomBytes(16), i64le(1700000000000 + p), len(p + 1));
    out.push(len(g.consumers.length));
    g.consumers.forEach((q, ci) => {
      out.push(str(`consumer-${ci}`), i64le(1700000000001), ...(type === 21 ? [i64le(1700000000002)] : []), len(q));
      for (let k = 0; k < q; k++) out.push(randomBytes(16));
    });
  });
  return Buffer.concat(out);
}
const LISTPACKS = [randomBytes(100), Buffer.from('a compressible listpack '.repeat(10)), randomBytes(3)];
const GROUPS: Group[] = [{ pel: 3, consumers: [2, 0, 1] }, { pel: 0, consumers: [] }, { pel: 1, consumers: [] }];

function moduleValue(): Buffer {
  return Buffer.concat([
    len(2n ** 62n + 1n, 64),
    len(1), len(5), len(2), len(2n ** 40n, 64), len(3), Buffer.alloc(4), len(4), dbl(2.5),
    len(5), str(randomBytes(100_000)), len(5), lzfStr('compressed module string'.repeat(3)), len(5), bytes(0xc0, 7),
    len(0),
  ]);
}

function unloadables(): Buffer {
  return rdbFile(11, [
    bytes(0xfe), len(4),
    bytes(0xfc), i64le(T_EXP),
    key(15, 'stream-v1', streamValue(15, LISTPACKS, GROUPS)),
    key(0, 'a', str('1')),
    key(19, 'stream-v2', streamValue(19, LISTPACKS, GROUPS)),
    key(19, 'empty-stream', streamValue(19, [], [])),
    key(21, 'stream-v3', streamValue(21, LISTPACKS, GROUPS)),
    key(0, 'b', str('2')),
    key(7, 'module-value', moduleValue()),
    bytes(0xf7), len(99), len(2), len(2), len(5), str('aux data'), len(0),
    bytes(0xf4), len(16383), len(1000), len(7), // SLOT_INFO (Redis 7.4 cluster mode): ignored
    key(0, 'c', str('3')),
  ]);
}

test('streams 15/19/21 and MODULE_2 values are read to their end with skipUnloadable, in any chunking', () => {
  const buf = unloadables();
  const expected = [
    'skipped stream-v1 4 15', 'entry 4 0 a=1 -1', 'skipped stream-v2 4 19', 'skipped empty-stream 4 19',
    'skipped stream-v3 4 21', 'entry 4 0 b=2 -1', 'skipped module-value 4 7', 'entry 4 0 c=3 -1',
  ];
  const whole = run(buf, [], { skipUnloadable: true });
  assert.deepEqual(whole.calls, expected);
  assert.ok(whole.parser.done);
  assert.equal(whole.parser.keysLoaded, 3);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 30 }), (cuts) => {
      const r = run(buf, cuts, { skipUnloadable: true });
      assert.deepEqual(r.calls, expected);
      assert.equal(r.used, buf.length);
    }),
    { numRuns: 200 },
  );
  // The consumer's active time is what tells type 21 from type 19: read as 19 it goes wrong.
  const v3 = streamValue(21, LISTPACKS, GROUPS);
  const asV2 = rdbFile(11, [key(19, 'x', v3), key(0, 'after', str('1'))]);
  let outcome: string[] | ParaError;
  try { outcome = run(asV2, [], { skipUnloadable: true }).calls; } catch (e) { outcome = e as ParaError; }
  assert.notDeepEqual(outcome, ['skipped x 0 19', 'entry 0 0 after=1 -1']);
});

test('without skipUnloadable a stream or MODULE_2 key is refused as soon as its name is read', () => {
  for (const [type, value, noun] of [[19, streamValue(19, LISTPACKS, GROUPS), 'a stream'], [15, streamValue(15, [], []), 'a stream'],
    [21, streamValue(21, [], []), 'a stream'], [7, moduleValue(), 'a module value']] as const) {
    const k = Buffer.from(`k\x00"${type}`, 'latin1');
    const buf = rdbFile(10, [bytes(0xfe), len(9), key(0, 'before', str('x')), key(type, k, value)]);
    const calls: string[] = [];
    const parser = new RdbParser({ entry: (e) => void calls.push(e.key.toString()) });
    // Only the type byte and the key are needed to refuse it.
    const keyEnd = buf.indexOf(k) + k.length;
    const e = failure(() => parser.feed(buf.subarray(0, keyEnd)));
    assert.equal(e.code, 'PARAREPLICA_RDB_UNSUPPORTED');
    const typeName = { 7: 'MODULE_2', 15: 'STREAM_LISTPACKS', 19: 'STREAM_LISTPACKS_2', 21: 'STREAM_LISTPACKS_3' }[type];
    assert.equal(e.message, `snapshot key "k\\x00\\"${type}" (db 9) is ${noun} (RDB type ${type} ${typeName}); ` +
      'parareplica cannot load such values — start the replica with --skip-errors to load the snapshot without such keys');
    assert.deepEqual([e.details.key, e.details.db, e.details.type], [`k\\x00\\"${type}`, 9, type]);
    assert.deepEqual(calls, ['before']);
  }
});

test('MODULE values and hashes with field expiry are refused even with skipUnloadable', () => {
  for (const type of [6, 22, 23, 24, 25]) {
    const buf = rdbFile(12, [key(0, 'a', str('1')), key(type, 'm', len(5), str('whatever'))]);
    const e = failure(() => run(buf, [], { skipUnloadable: true }));
    assert.equal(e.code, 'PARAREPLICA_RDB_UNSUPPORTED');
    assert.equal(e.details.key, 'm');
    assert.equal(e.details.type, type);
    assert.match(e.message, type === 6 ? /cannot be read past without its module/ : /field expiry/);
  }
});

// ---------- corruption ----------

test('corruption inside a value names the key, its db and type, and the byte offset', () => {
  const head = 9 + 2; // "REDIS0010" + SELECTDB 5
  const cases: [string, Buffer[], number, string | null, number, RdbParserOptions?][] = [
    // what, body after SELECTDB, offset (from the body start), key (null: in the name), type, options
    ['quicklist container 3', [key(18, 'q', len(2), len(2), str('lp'), len(3), str('x'))], 1 + 2 + 1 + 1 + 3, 'q', 18],
    ['quicklist container 0', [key(18, 'q', len(1), len(0), str('x'))], 1 + 2 + 1, 'q', 18],
    ['element count above 2^32', [key(2, 's', len(2 ** 33, 64), str('x'))], 1 + 2, 's', 2],
    ['hash count of 2^64-1', [key(4, 'h', len(2n ** 64n - 1n, 64))], 1 + 2, 'h', 4],
    ['zset score of length 0', [key(3, 'z', len(1), str('m'), bytes(0))], 1 + 2 + 1 + 2, 'z', 3],
    ['bad string encoding in an element', [key(1, 'l', len(2), str('a'), bytes(0xc5))], 1 + 2 + 1 + 2, 'l', 1],
    ['bad LZF in an element', [key(2, 's', len(1), bytes(0xc3, 0x02, 0x05, 0x20, 0x00))], 1 + 2 + 1 + 3, 's', 2],
    ['element longer than maxStringLen', [key(4, 'h', len(1), str('f'), len(5000), Buffer.alloc(5000))], 1 + 2 + 1 + 2, 'h', 4, { maxStringLen: 4096 }],
    ['bad string encoding in a blob', [key(16, 'b', bytes(0xc7))], 1 + 2, 'b', 16],
    ['bad string encoding in a key name', [bytes(5, 0xc9)], 1, null, 5],
    ['stream node key of 15 bytes', [key(19, 'x', len(1), str(Buffer.alloc(15)), str('lp'))], 1 + 2 + 1, 'x', 19, { skipUnloadable: true }],
    ['empty stream listpack', [key(15, 'x', len(1), str(Buffer.alloc(16)), str(''))], 1 + 2 + 1, 'x', 15, { skipUnloadable: true }],
    ['stream node count above 2^32', [key(21, 'x', len(2 ** 40, 64))], 1 + 2, 'x', 21, { skipUnloadable: true }],
    ['module data opcode 6', [key(7, 'mod', len(1), len(1), len(5), len(6))], 1 + 4 + 3, 'mod', 7, { skipUnloadable: true }],
  ];
  for (const [what, body, offset, k, type, opts] of cases) {
    const buf = rdbFile(10, [bytes(0xfe, 0x05), ...body]);
    const e = failure(() => run(buf, [], opts));
    assert.equal(e.code, 'PARAREPLICA_RDB_CORRUPT', `${what}: ${e.message}`);
    assert.equal(e.details.offset, head + offset, `${what}: ${e.message}`);
    assert.equal(e.details.key, k ?? undefined, what);
    assert.equal(e.details.db, 5, what);
    assert.equal(e.details.type, type, what);
    assert.ok(e.message.startsWith(`snapshot is corrupt at byte ${head + offset}, in ${k === null ? 'the name of a key' : `key "${k}"`} (db 5, RDB type ${type} `), `${what}: ${e.message}`);
    // The same in small chunks.
    const e2 = failure(() => run(buf, Array.from({ length: buf.length }, (_, i) => i), opts));
    assert.equal(e2.message, e.message, what);
  }
  // Type bytes that are neither a value type nor an opcode.
  for (const t of [8, 26, 100, 243]) {
    const e = failure(() => run(rdbFile(10, [key(0, 'a', str('1')), key(t, 'k', str('v'))])));
    assert.equal(e.code, 'PARAREPLICA_RDB_CORRUPT');
    assert.match(e.message, new RegExp(`unknown opcode or value type ${t}`));
    assert.equal(e.details.offset, 9 + 5);
  }
});

// ---------- bounded memory ----------

function externalGrowth(fn: () => void): number {
  globalThis.gc?.();
  const before = process.memoryUsage().arrayBuffers;
  fn();
  return process.memoryUsage().arrayBuffers - before;
}

test('a huge announced element is not allocated ahead of its bytes; skipped values are never held', () => {
  const zeros = Buffer.alloc(1 << 20);
  const cases: [Buffer, RdbParserOptions, number][] = [
    // A set element announcing 2^31-1 bytes: at most the speculative reserve (64 MiB) is held.
    [rdbFile(10, [key(2, 's', len(1), len(2 ** 31 - 1, 32))]).subarray(0, -9), {}, 100 << 20],
    // A stream listpack and a module string of 2^31-1 bytes are passed over without being held.
    [rdbFile(10, [key(19, 'x', len(1), str(Buffer.alloc(16)), len(2 ** 31 - 1, 32))]).subarray(0, -9), { skipUnloadable: true }, 8 << 20],
    [rdbFile(10, [key(7, 'm', len(1), len(5), len(2 ** 31 - 1, 32))]).subarray(0, -9), { skipUnloadable: true }, 8 << 20],
  ];
  for (const [head, opts, limit] of cases) {
    const parser = new RdbParser({ entry() {} }, opts);
    const grown = externalGrowth(() => {
      parser.feed(head);
      for (let i = 0; i < 24; i++) assert.equal(parser.feed(zeros), zeros.length);
    });
    assert.equal(parser.done, false);
    assert.ok(grown < limit, `held ${grown} bytes`);
  }
});
