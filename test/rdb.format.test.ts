/**
 * The RDB building blocks and the parser on hand-built snapshots: CRC-64/Jones, LZF, every opcode,
 * every length and string form, old versions, and each kind of corruption.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { crc64, crc64Init, crc64Update, crc64Value } from '../src/rdb/crc64.js';
import { lzfDecompress } from '../src/rdb/lzf.js';
import { feedInChunks } from './helpers/chunks.js';
import { RdbParser, type RdbHandler } from '../src/rdb/parser.js';
import { ParaError } from '../src/errors.js';

// ---------- CRC64 ----------

/** Bit-at-a-time reference: reflected, polynomial 0x95AC9329AC4BC9B5, init 0, no final XOR. */
function crcReference(buf: Uint8Array): bigint {
  let c = 0n;
  for (const b of buf) {
    c ^= BigInt(b);
    for (let k = 0; k < 8; k++) c = c & 1n ? (c >> 1n) ^ 0x95ac9329ac4bc9b5n : c >> 1n;
  }
  return c;
}

test('crc64 check value and agreement with a bitwise reference, incrementally', () => {
  assert.equal(crc64(Buffer.from('123456789')), 0xe9c6d914c4b8d9can);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 5 }), (bytes, cuts) => {
      const s = crc64Init();
      let prev = 0;
      for (const c of [...cuts.map((x) => x % (bytes.length + 1))].sort((a, b) => a - b)) {
        crc64Update(s, bytes, prev, c);
        prev = c;
      }
      crc64Update(s, bytes, prev, bytes.length);
      assert.equal(crc64Value(s), crcReference(bytes));
    }),
    { numRuns: 200 },
  );
});

// ---------- LZF ----------

/** A small greedy LZF compressor, for tests only: literal runs and back-references. */
function lzfCompress(src: Buffer): Buffer {
  const out: number[] = [];
  const seen = new Map<number, number>();
  let lit: number[] = [];
  const flush = () => {
    for (let i = 0; i < lit.length; i += 32) {
      const run = lit.slice(i, i + 32);
      out.push(run.length - 1, ...run);
    }
    lit = [];
  };
  let i = 0;
  while (i < src.length) {
    if (i + 2 < src.length) {
      const h = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];
      const ref = seen.get(h);
      seen.set(h, i);
      if (ref !== undefined && i - ref - 1 < 8192) {
        let len = 0;
        while (i + len < src.length && len < 264 && src[ref + len] === src[i + len]) len++;
        if (len >= 3) {
          flush();
          const off = i - ref - 1;
          const l = len - 2;
          if (l < 7) out.push((l << 5) | (off >> 8), off & 0xff);
          else out.push((7 << 5) | (off >> 8), l - 7, off & 0xff);
          i += len;
          continue;
        }
      }
    }
    lit.push(src[i++]);
  }
  flush();
  return Buffer.from(out);
}

test('lzf: round trip through a reference compressor, overlapping references included', () => {
  const gen = fc.oneof(
    fc.uint8Array({ maxLength: 2000 }),
    fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 5 }), fc.nat({ max: 3000 })).map(([unit, n]) => new Uint8Array(Array.from({ length: n }, (_, i) => unit[i % unit.length]))),
  );
  fc.assert(
    fc.property(gen, (raw) => {
      const src = Buffer.from(raw);
      const c = lzfCompress(src);
      assert.deepEqual(lzfDecompress(c, 0, c.length, src.length), src);
    }),
    { numRuns: 300 },
  );
});

test('lzf: bad input gives PARAREPLICA_RDB_CORRUPT, never another exception', () => {
  const bad: [number[], number][] = [
    [[0x20, 0x00], 4], // back-reference before the start of the output
    [[0x02, 0x61], 3], // literal run past the end of the input
    [[0x00, 0x61, 0xe0], 20], // long back-reference cut short
    [[0x01, 0x61, 0x62], 1], // more output than declared
    [[0x00, 0x61], 5], // less output than declared
    [[0x00, 0x61], 1000], // impossible ratio
  ];
  for (const [bytes, ulen] of bad) {
    assert.throws(() => lzfDecompress(Buffer.from(bytes), 0, bytes.length, ulen, 100), (e: unknown) => e instanceof ParaError && e.code === 'PARAREPLICA_RDB_CORRUPT' && (e.details.offset as number) >= 100);
  }
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat({ max: 3000 }), (bytes, ulen) => {
      try {
        const out = lzfDecompress(Buffer.from(bytes), 0, bytes.length, ulen);
        assert.equal(out.length, ulen);
      } catch (e) {
        assert.ok(e instanceof ParaError && e.code === 'PARAREPLICA_RDB_CORRUPT', String(e));
      }
    }),
    { numRuns: 1000 },
  );
});

// ---------- hand-built snapshots ----------

type Len = number | { form: 6 | 14 | 32 | 64; v: number };
function len(l: Len): Buffer {
  const { form, v } = typeof l === 'number' ? { form: l < 64 ? 6 : l < 16384 ? 14 : 32, v: l } : l;
  if (form === 6) return Buffer.from([v]);
  if (form === 14) return Buffer.from([0x40 | (v >> 8), v & 0xff]);
  if (form === 32) { const b = Buffer.alloc(5); b[0] = 0x80; b.writeUInt32BE(v, 1); return b; }
  const b = Buffer.alloc(9); b[0] = 0x81; b.writeBigUInt64BE(BigInt(v), 1); return b;
}
function str(s: string | Buffer, l?: Len): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'latin1') : s;
  return Buffer.concat([len(l ?? b.length), b]);
}
function lzfStr(s: Buffer): Buffer {
  const c = lzfCompress(s);
  return Buffer.concat([Buffer.from([0xc3]), len(c.length), len(s.length), c]);
}
function int64le(n: number): Buffer {
  const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b;
}
function rdbFile(version: number, body: Buffer[], crc: 'good' | 'zero' | 'bad' = 'good'): Buffer {
  const head = Buffer.concat([Buffer.from(`REDIS${String(version).padStart(4, '0')}`), ...body, Buffer.from([0xff])]);
  if (version < 5) return head;
  const c = Buffer.alloc(8);
  if (crc !== 'zero') c.writeBigUInt64LE(crc64(head) ^ (crc === 'bad' ? 1n : 0n));
  return Buffer.concat([head, c]);
}

interface Log { calls: string[]; parser: RdbParser; used: number }
function run(buf: Buffer, cuts: number[] = []): Log {
  const calls: string[] = [];
  const h: RdbHandler = {
    aux: (k, v) => calls.push(`aux ${k.toString('latin1')}=${v.toString('latin1')}`),
    selectDb: (db) => calls.push(`select ${db}`),
    resizeDb: (a, b) => calls.push(`resize ${a} ${b}`),
    functionLib: (code) => calls.push(`function ${code.toString('latin1')}`),
    entry: (e) => calls.push(`entry ${e.db} ${e.key.toString('latin1')}=${e.value.length > 40 ? `<${e.value.length} bytes>` : e.value.toString('latin1')} ${e.expireMs}`),
  };
  const parser = new RdbParser(h);
  const used = feedInChunks(parser, buf, cuts);
  return { calls, parser, used };
}

const big = Buffer.alloc(20000, 0x7a);
const everything = rdbFile(12, [
  Buffer.from([0xfa]), str('redis-ver'), str('9.9.9'),
  Buffer.from([0xfa]), str('redis-bits'), Buffer.from([0xc0, 64]),
  // MODULE_AUX: 64-bit module id, when-opcode 2, when 2, then one item of each kind, then 0.
  Buffer.from([0xf7]), len({ form: 64, v: 2 ** 52 + 7 }), len(2), len(2),
  len(1), len(5), len(2), len({ form: 32, v: 123456 }), len(3), Buffer.alloc(4), len(4), Buffer.alloc(8), len(5), str('module data'), len(0),
  Buffer.from([0xf5]), str('#!lua name=a\nreturn 1'),
  Buffer.from([0xf6]), str('b'), str('lua'), len(1), str('a description'), str('return 2'),
  Buffer.from([0xf6]), str('c'), str('lua'), len(0), str('return 3'),
  Buffer.from([0xfe]), len({ form: 32, v: 3 }),
  Buffer.from([0xfb]), len(5), len({ form: 14, v: 2 }),
  Buffer.from([0xf8]), len(1000), Buffer.from([0xf9, 7]), Buffer.from([0xfc]), int64le(1700000000123),
  Buffer.from([0x00]), str('k1'), str('v1'),
  Buffer.from([0x00]), str('k2'), Buffer.from([0xc1]), Buffer.from([0x18, 0xfc]), // INT16 -1000
  Buffer.from([0xfd]), Buffer.from([0x10, 0, 0, 0]), // EXPIRETIME 16 s
  Buffer.from([0x00]), Buffer.from([0xc2, 0xff, 0xff, 0xff, 0x7f]), str('big', { form: 64, v: 3 }),
  Buffer.from([0x00]), str('lzf'), lzfStr(big),
  Buffer.from([0x00]), str('long14'), str(Buffer.alloc(100, 0x41)),
  Buffer.from([0xfe]), len(0),
  Buffer.from([0x00]), Buffer.from([0xc0, 0x80]), str(''),
]);
const everythingCalls = [
  'aux redis-ver=9.9.9', 'aux redis-bits=64',
  'function #!lua name=a\nreturn 1', 'function #!lua name=b\nreturn 2', 'function #!lua name=c\nreturn 3',
  'select 3', 'resize 5 2',
  'entry 3 k1=v1 1700000000123', 'entry 3 k2=-1000 -1', 'entry 3 2147483647=big 16000',
  'entry 3 lzf=<20000 bytes> -1', 'entry 3 long14=<100 bytes> -1', 'select 0', 'entry 0 -128= -1',
];

test('every opcode and every length and string form, in any chunking', () => {
  const whole = run(everything);
  assert.deepEqual(whole.calls, everythingCalls);
  assert.ok(whole.parser.done);
  assert.equal(whole.parser.version, 12);
  assert.equal(whole.parser.keysLoaded, 6);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
      const r = run(everything, cuts);
      assert.deepEqual(r.calls, everythingCalls);
      assert.equal(r.used, everything.length);
    }),
    { numRuns: 300 },
  );
});

test('old versions have no checksum; a stored checksum of 0 is not checked', () => {
  const v4 = rdbFile(4, [Buffer.from([0xfe, 0x00, 0x00]), str('k'), str('v')]);
  const r = run(Buffer.concat([v4, Buffer.from('rest')]));
  assert.ok(r.parser.done);
  assert.equal(r.used, v4.length);
  assert.deepEqual(r.calls, ['select 0', 'entry 0 k=v -1']);
  const zero = rdbFile(10, [Buffer.from([0x00]), str('k'), str('v')], 'zero');
  assert.ok(run(zero).parser.done);
});

function corruptAt(buf: Buffer): ParaError {
  try {
    run(buf);
  } catch (e) {
    assert.ok(e instanceof ParaError, String(e));
    return e;
  }
  assert.fail('expected an error');
}

test('each kind of corruption gives PARAREPLICA_RDB_CORRUPT with the byte offset', () => {
  const cases: [string, Buffer, number][] = [
    ['bad magic', Buffer.from('REDIX0010\xff'), 0],
    ['version 0', rdbFile(0, []), 5],
    ['version 13', rdbFile(13, []), 5],
    ['version not digits', Buffer.from('REDIS00a1\xff'), 7],
    ['type byte 8', rdbFile(10, [Buffer.from([0x08]), str('k'), str('v')]), 9],
    ['type byte 200', rdbFile(10, [Buffer.from([200]), str('k'), str('v')]), 9],
    ['length prefix 0x82', rdbFile(10, [Buffer.from([0xfe, 0x82])]), 10],
    ['special encoding as a length', rdbFile(10, [Buffer.from([0xfe, 0xc0, 0x01])]), 10],
    ['string encoding 4', rdbFile(10, [Buffer.from([0x00, 0xc4]), str('v')]), 10],
    ['lzf back-reference out of range', rdbFile(10, [Buffer.from([0x00]), str('k'), Buffer.from([0xc3, 0x02, 0x05, 0x20, 0x00])]), 15],
    ['lzf wrong length', rdbFile(10, [Buffer.from([0x00]), str('k'), Buffer.from([0xc3, 0x02, 0x03, 0x00, 0x61])]), 15],
    ['module when-opcode', rdbFile(10, [Buffer.from([0xf7, 0x01, 0x01, 0x02])]), 9],
    ['module data opcode 9', rdbFile(10, [Buffer.from([0xf7, 0x01, 0x02, 0x02, 0x09])]), 13],
    ['bad checksum', rdbFile(10, [Buffer.from([0x00]), str('k'), str('v')], 'bad'), 15],
  ];
  for (const [what, buf, offset] of cases) {
    const e = corruptAt(buf);
    assert.equal(e.code, 'PARAREPLICA_RDB_CORRUPT', `${what}: ${e.message}`);
    assert.equal(e.details.offset, offset, `${what}: ${e.message}`);
    assert.match(e.message, /corrupt/);
  }
});

test('an unsupported type names the key, escaped, and its db', () => {
  const buf = rdbFile(10, [
    Buffer.from([0xfe, 0x03]),
    Buffer.from([0x00]), str('s'), str('v'),
    Buffer.from([0x13]), str(Buffer.from('a"b\\c\n\x01')), len(0),
  ]);
  const e = corruptAt(buf);
  assert.equal(e.code, 'PARAREPLICA_RDB_UNSUPPORTED');
  assert.ok(e.message.startsWith('snapshot key "a\\"b\\\\c\\n\\x01" (db 3) is a stream (RDB type 19 STREAM_LISTPACKS_2); '), e.message);
  assert.equal(e.details.typeName, 'STREAM_LISTPACKS_2');
});

test('a large value in small chunks is parsed in linear time', () => {
  const value = Buffer.alloc(16 << 20, 0x62);
  const buf = rdbFile(10, [Buffer.from([0x00]), str('k'), str(value)]);
  // A string this long is streamed (begin/part/end, pieces of at most 64 KiB), never held whole.
  let got = 0, pieces = 0, announced = 0;
  const parser = new RdbParser({
    entry: (e) => { got = e.value.length; },
    begin: (_e, count) => { announced = count; },
    part: (a) => { assert.ok(a.length <= 64 << 10); got += a.length; pieces++; },
  });
  const t0 = Date.now();
  for (let off = 0; off < buf.length; off += 1024) parser.feed(buf.subarray(off, off + 1024));
  assert.ok(parser.done);
  assert.equal(got, value.length);
  assert.equal(announced, value.length);
  assert.equal(pieces, 256);
  assert.ok(Date.now() - t0 < 20000, 'parsing took too long');
});
