/**
 * Unit + property tests for workers/strtod.ts and workers/zset_codec.ts. Expected values were
 * observed on redis-server 7.0.15 (ZADD z <s> m; ZSCORE z m).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseStrictDouble, parseLooseDouble } from '../workers/strtod.js';
import {
  encodeScore, decodeScore, parseScoreRange, parseLexRange, lexInRange, scoreInRange,
  clampIndexRange, parseIndex, ERR_RANGE_NOT_FLOAT, ERR_LEX_RANGE,
} from '../workers/zset_codec.js';

const B = (s: string): Buffer => Buffer.from(s, 'latin1');

test('strict doubles: accepted like ZADD on Redis 7.0.15', () => {
  const ok: Array<[string, number]> = [
    ['0x10', 16], ['0x1p3', 8], ['1e-310', 1e-310], ['inf', Infinity], ['+inf', Infinity],
    ['-inf', -Infinity], ['Infinity', Infinity], ['-infinity', -Infinity], ['INF', Infinity],
    ['1.', 1], ['.5', 0.5], ['+.5', 0.5], ['5e-324', 5e-324], ['0x1p-1074', 5e-324],
    ['0x1.8p1', 3], ['0X1P+2', 4], ['0x.8', 0.5], ['0x1.fffffffffffff7p1023', 1.7976931348623157e308],
    ['0x3p-1076', 5e-324], ['0x1.p1', 2], ['1e+5', 100000], ['0e-400', 0], ['2.5e-324', 5e-324],
    ['0x0p99999', 0], ['-0x1', -1], ['0x1P-1022', 2.2250738585072014e-308],
    ['0x0.0000000000001p-1022', 5e-324], ['0x1.00000000000008p0', 1],
    ['0x1.00000000000018p0', 1.0000000000000004], ['0x1.000000000000080000001p0', 1.0000000000000002],
    ['1.7976931348623157e308', 1.7976931348623157e308], ['-1.5', -1.5], ['3', 3],
    ['0.1', 0.1], ['123456789012345678901234567890', 1.2345678901234568e29], ['1.e5', 1e5],
  ];
  for (const [s, v] of ok) assert.equal(parseStrictDouble(B(s)), v, s);
  const negZero = parseStrictDouble(B('-0'));
  assert.ok(negZero === 0 && Object.is(negZero, -0), '-0 parses as -0 (normalised when stored)');
});

test('strict doubles: rejected like ZADD on Redis 7.0.15', () => {
  const bad = [
    '1e400', '-1e400', '1e-400', ' 1', '1 ', 'nan', '-nan', 'nan()', '', '1_0', '1e', '0x',
    '0x1p1024', '0x1.fffffffffffff8p1023', '0x1p-1075', '0x1p', '0x.p1', '1e+', 'infinit',
    '2.4e-324', '00x1', '\t1', '1\n', '+', '-', '.', 'abc', '1.5.5', '--1',
  ];
  for (const s of bad) assert.equal(parseStrictDouble(B(s)), null, JSON.stringify(s));
});

test('loose doubles (range bounds) follow strtod without range checks', () => {
  assert.equal(parseLooseDouble(B('')), 0);
  assert.equal(parseLooseDouble(B(' 1')), 1);
  assert.equal(parseLooseDouble(B('1e400')), Infinity);
  assert.equal(parseLooseDouble(B('1e-400')), 0);
  assert.equal(parseLooseDouble(B('1 ')), null);
  assert.equal(parseLooseDouble(B('nan')), null);
  assert.equal(parseLooseDouble(B(' ')), null);
});

test('score ranges parse like ZCOUNT on Redis 7.0.15', () => {
  assert.deepEqual(parseScoreRange(B('(1.5'), B('+inf')), { min: 1.5, minex: true, max: Infinity, maxex: false });
  assert.deepEqual(parseScoreRange(B('('), B('inf')), { min: 0, minex: true, max: Infinity, maxex: false });
  assert.deepEqual(parseScoreRange(B('( 1'), B('-inf')), { min: 1, minex: true, max: -Infinity, maxex: false });
  for (const bad of ['1 ', 'nan', '(nan', '((1', 'x']) {
    assert.equal(parseScoreRange(B(bad), B('1')), ERR_RANGE_NOT_FLOAT, bad);
    assert.equal(parseScoreRange(B('1'), B(bad)), ERR_RANGE_NOT_FLOAT, bad);
  }
  const r = parseScoreRange(B('(1'), B('2'));
  assert.ok(typeof r !== 'string');
  assert.equal(scoreInRange(1, r), false);
  assert.equal(scoreInRange(2, r), true);
});

test('lex ranges', () => {
  for (const bad of ['a', '', '-a', '+a', ']a']) assert.equal(parseLexRange(B(bad), B('+')), ERR_LEX_RANGE, bad);
  const r = parseLexRange(B('(a'), B('[c'));
  assert.ok(typeof r !== 'string');
  assert.equal(lexInRange(B('a'), r), false);
  assert.equal(lexInRange(B('ab'), r), true);
  assert.equal(lexInRange(B('c'), r), true);
  assert.equal(lexInRange(B('ca'), r), false);
  const all = parseLexRange(B('-'), B('+'));
  assert.ok(typeof all !== 'string');
  assert.equal(lexInRange(B(''), all), true);
});

test('int64 parsing like string2ll', () => {
  for (const [s, v] of [['0', 0], ['-1', -1], ['123', 123], ['-9223372036854775808', -9223372036854775808],
    ['9223372036854775807', 9223372036854775807]] as Array<[string, number]>) assert.equal(parseIndex(B(s)), v, s);
  for (const s of ['+1', '01', '-0', ' 1', '1 ', '9223372036854775808', '-9223372036854775809', '1.0', '', '-', 'x'])
    assert.equal(parseIndex(B(s)), null, s);
});

test('clampIndexRange matches Redis index semantics', () => {
  assert.deepEqual(clampIndexRange(0, -1, 3), [0, 2]);
  assert.deepEqual(clampIndexRange(-100, 100, 3), [0, 2]);
  assert.equal(clampIndexRange(2, 1, 3), null);
  assert.equal(clampIndexRange(3, 5, 3), null);
  assert.equal(clampIndexRange(0, -1, 0), null);
  assert.deepEqual(clampIndexRange(-1, -1, 3), [2, 2]);
});

const special = [-Infinity, -1.7976931348623157e308, -1, -5e-324, -0, 0, 5e-324, 2.2250738585072014e-308,
  1, 1.5, 1.7976931348623157e308, Infinity];

test('score encoding: fixed points, -0 normalised, round trip', () => {
  for (const s of special) {
    const d = decodeScore(encodeScore(s));
    assert.ok(Object.is(d, s === 0 ? 0 : s), String(s));
  }
  assert.deepEqual(encodeScore(-0), encodeScore(0));
  for (let i = 1; i < special.length; i++) {
    const c = Buffer.compare(encodeScore(special[i - 1]), encodeScore(special[i]));
    if (Object.is(special[i - 1], -0)) assert.equal(c, 0);
    else assert.equal(c, -1, `${special[i - 1]} < ${special[i]}`);
  }
});

test('score encoding: byte order equals numeric order (property)', () => {
  const dbl = fc.oneof(fc.double({ noNaN: true }), fc.constantFrom(...special));
  fc.assert(fc.property(dbl, dbl, (a, b) => {
    const c = Buffer.compare(encodeScore(a), encodeScore(b));
    const want = a < b ? -1 : a > b ? 1 : 0;
    assert.equal(c, want);
    assert.equal(decodeScore(encodeScore(a)), a === 0 ? 0 : a);
  }), { numRuns: 3000 });
});

test('decimal strict parse agrees with JS for formatted doubles (property)', () => {
  fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (d) => {
    const s = String(d);
    assert.ok(parseStrictDouble(B(s)) === d, s);
    assert.equal(parseStrictDouble(B(d.toExponential(20))), Number(d.toExponential(20)));
  }), { numRuns: 2000 });
});

test('score replies: the integer fast path prints exactly what %.17g prints (property)', async () => {
  const { scoreReply } = await import('../workers/zset_read.js');
  const { formatDouble17g } = await import('../src/util/numbers.js');
  const ints = fc.oneof(fc.integer(), fc.maxSafeInteger(), fc.constantFrom(0, -0, 2 ** 53 - 1, -(2 ** 53) + 1, 2 ** 53, 1e17));
  fc.assert(fc.property(fc.oneof(ints, fc.double()), (s) => {
    assert.equal(scoreReply(s).toString('latin1'), formatDouble17g(s));
  }), { numRuns: 3000 });
  assert.equal(scoreReply(-0).toString(), '-0');
  assert.equal(scoreReply(0.1).toString(), '0.10000000000000001');
});
