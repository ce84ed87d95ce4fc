/**
 * src/util/numbers.ts and src/util/glob.ts: strict int64 parsing, long double emulation, exact
 * %.17g, and Redis glob matching (the differential test compares KEYS and INCRBYFLOAT with Redis).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseI64, addI64, negI64, parseLongDouble, addLongDouble, formatLongDoubleHuman, formatDouble17g } from '../src/util/numbers.js';
import { globMatch, compileGlob, globLiteralPrefix } from '../src/util/glob.js';

const b = (s: string) => Buffer.from(s, 'latin1');

test('parseI64 accepts exactly Redis integers', () => {
  for (const [s, v] of [['0', 0], ['-1', -1], ['123', 123], ['9223372036854775807', 9223372036854775807n],
    ['-9223372036854775808', -9223372036854775808n], ['9007199254740991', 9007199254740991], ['-9007199254740992', -9007199254740992n]] as const) {
    assert.equal(parseI64(b(s)), v, s);
  }
  for (const s of ['', '-', '-0', '01', '+1', ' 1', '1 ', '1.0', '1e3', '9223372036854775808', '-9223372036854775809', '0x10', '１']) {
    assert.equal(parseI64(b(s)), null, JSON.stringify(s));
  }
});

test('parseI64 agrees with a BigInt reference on random strings', () => {
  const ref = (s: string): bigint | null => {
    if (!/^(0|-?[1-9][0-9]*)$/.test(s)) return null;
    const v = BigInt(s);
    return v < -(2n ** 63n) || v > 2n ** 63n - 1n ? null : v;
  };
  fc.assert(fc.property(fc.oneof(
    fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }).map(String),
    fc.stringMatching(/^[-+0-9 .e]{0,21}$/),
  ), (s) => {
    const got = parseI64(s);
    const want = ref(s);
    assert.equal(got === null ? null : BigInt(got), want);
    if (got !== null && typeof got === 'number') assert.ok(Number.isSafeInteger(got));
  }), { numRuns: 2000 });
});

test('addI64 / negI64 detect int64 overflow', () => {
  assert.equal(addI64(9223372036854775806n, 1), 9223372036854775807n);
  assert.equal(addI64(9223372036854775807n, 1), null);
  assert.equal(addI64(-9223372036854775807n, -1), -9223372036854775808n);
  assert.equal(addI64(-9223372036854775808n, -1), null);
  assert.equal(addI64(9007199254740991, 1), 9007199254740992n);
  assert.equal(addI64(5, -7), -2);
  assert.equal(negI64(-9223372036854775808n), null);
  assert.equal(negI64(3), -3);
});

test('long double: Redis INCRBYFLOAT results (observed on 7.0.15)', () => {
  const add = (x: string, y: string) => {
    const a = parseLongDouble(x), c = parseLongDouble(y);
    assert.ok(a && c, `${x} ${y} parse`);
    const s = addLongDouble(a, c);
    return s === null ? 'NaN' : formatLongDoubleHuman(s);
  };
  assert.equal(add('10.5', '0.1'), '10.6');
  assert.equal(add('0.1', '0.2'), '0.3');
  assert.equal(add('1', '1e20'), '100000000000000000000');
  assert.equal(add('1', '1e-20'), '1');
  assert.equal(add('3', '-3'), '0');
  assert.equal(add('0', '-0.0000000000000000001'), '0');
  assert.equal(add('1.5e3', '0'), '1500');
  assert.equal(add('0', '0x1p-3'), '0.125');
  assert.equal(add('0', '18446744073709551617'), '18446744073709551616');   // tie → even
  assert.equal(add('0', '0.000003814697265625'), '0.00000381469726562');     // %.17Lf tie → even
  assert.equal(add('inf', '-inf'), 'NaN');
  assert.ok(add('0', '1.18e4932').startsWith('11800000000000000000006528129180936992'));
  for (const s of ['', ' 1', '1 ', 'nan', 'abc', '1e', '0x', '1e5000', '1e-4951', '-1e5000', 'x'.repeat(5120)]) {
    assert.equal(parseLongDouble(s), null, JSON.stringify(s));
  }
  for (const s of ['inf', '-Infinity', '+1', '1.', '.5', '3.7e-4951', '1e-4940', '0x1.8p1']) {
    assert.notEqual(parseLongDouble(s), null, s);
  }
});

test('long double add of two doubles equals the exact sum when it fits 64 bits', () => {
  // integers below 2^63 are exact in long double: the sum must print as the BigInt sum
  fc.assert(fc.property(fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }), fc.bigInt({ min: -(2n ** 62n), max: 2n ** 62n }), (x, y) => {
    const s = addLongDouble(parseLongDouble(String(x))!, parseLongDouble(String(y))!)!;
    assert.equal(formatLongDoubleHuman(s), String(x + y));
  }), { numRuns: 500 });
});

/** Reference %.17g via toPrecision (right except for exact decimal ties, which random doubles avoid). */
function naive17g(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const [m, e] = x.toExponential(16).split('e');
  const X = Number(e);
  const trim = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (X < -4 || X >= 17) return `${trim(m)}e${X < 0 ? '-' : '+'}${String(Math.abs(X)).padStart(2, '0')}`;
  return trim(x.toFixed(Math.max(0, 16 - X)));
}

test('formatDouble17g: spec examples, ties to even, round trip', () => {
  const cases: Array<[number, string]> = [
    [1.5, '1.5'], [3, '3'], [0.1, '0.10000000000000001'], [1e-5, '1.0000000000000001e-05'], [0.0001, '0.0001'],
    [1e17, '1e+17'], [1e16, '10000000000000000'], [1e20, '1e+20'], [5e-324, '4.9406564584124654e-324'],
    [2251799813685246.25, '2251799813685246.2'], [2251799813685246.75, '2251799813685246.8'], [-0, '-0'], [0, '0'],
    [Infinity, 'inf'], [-Infinity, '-inf'], [-2.5, '-2.5'], [1.7976931348623157e308, '1.7976931348623157e+308'],
    [123456789012345680, '1.2345678901234568e+17'], [0.00001, '1.0000000000000001e-05'],
  ];
  for (const [x, want] of cases) assert.equal(formatDouble17g(x), want, String(x));
  fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (x) => {
    const s = formatDouble17g(x);
    assert.equal(Number(s.replace(/e([+-])0*(\d)/, 'e$1$2')), x);
    const naive = naive17g(x);
    if (s !== naive) {
      // only allowed on an exact tie at the 17th digit (the naive route rounds those up)
      const sig = Math.abs(x).toPrecision(100).replace(/e.*$/, '').replace('.', '').replace(/^0+/, '');
      assert.match(sig.slice(17), /^50*$/, `${x}: ${s} vs ${naive}`);
    }
  }), { numRuns: 3000 });
});

test('glob: Redis pattern semantics', () => {
  const m = (p: string, s: string, nocase = false) => globMatch(b(p), b(s), nocase);
  assert.ok(m('*', 'anything') && m('a*', 'abc') && m('*c', 'abc') && m('a*c', 'ac') && m('**', 'x'));
  assert.ok(!m('a*', 'bac') && !m('**', '') && m('', ''));
  assert.ok(m('h?llo', 'hello') && !m('h?llo', 'hllo'));
  assert.ok(m('h[ae]llo', 'hallo') && !m('h[ae]llo', 'hillo'));
  assert.ok(m('h[^e]llo', 'hallo') && !m('h[^e]llo', 'hello'));
  assert.ok(m('h[a-b]llo', 'hbllo') && m('h[b-a]llo', 'hallo') && !m('h[a-b]llo', 'hcllo'));
  assert.ok(m('a\\*b', 'a*b') && !m('a\\*b', 'axb') && m('a\\', 'a\\'));
  assert.ok(m('[\\]]', ']') && m('[a', 'a') && !m('[a', 'b') && !m('[]', ']'));
  assert.ok(m('HeLLo', 'hello', true) && !m('HeLLo', 'hello') && m('[A-C]x', 'bX', true));
  assert.ok(m('*a*b*c*', 'xxaxxbxxcxx') && !m('*a*b*c*', 'xxaxxcxxbxx'));
  assert.ok(compileGlob(b('*'))(b('')) && compileGlob(b('lit'))(b('lit')) && !compileGlob(b('lit'))(b('li')));
  assert.deepEqual(globLiteralPrefix(b('user:*:x')), b('user:'));
  assert.deepEqual(globLiteralPrefix(b('\\*x')), b(''));
});

test('glob: backtracking stays fast on adversarial patterns', () => {
  const s = b('a'.repeat(5000));
  const t0 = Date.now();
  assert.equal(globMatch(b('*a*a*a*a*a*a*a*a*b'), s), false);
  assert.ok(Date.now() - t0 < 2000);
});
