import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RespWriter, encodeCommand } from '../src/resp/encode.js';
import { frameCommands } from '../src/resp/framer.js';
import { RequestParser } from '../src/resp/request.js';

function text(w: RespWriter): string {
  return w.take().toString('latin1');
}

test('each RESP2 form', () => {
  const w = new RespWriter(1);
  assert.equal(text(w.simple('OK')), '+OK\r\n');
  assert.equal(text(w.simple('two\r\nlines')), '+two  lines\r\n');
  assert.equal(text(w.error('ERR bad thing')), '-ERR bad thing\r\n');
  assert.equal(text(w.integer(0)), ':0\r\n');
  assert.equal(text(w.integer(-42)), ':-42\r\n');
  assert.equal(text(w.integer(2n ** 63n - 1n)), ':9223372036854775807\r\n');
  assert.equal(text(w.bulk(null)), '$-1\r\n');
  assert.equal(text(w.bulk('')), '$0\r\n\r\n');
  assert.equal(text(w.bulk('é')), '$2\r\n\xc3\xa9\r\n');
  assert.equal(text(w.bulk(Buffer.from([0, 13, 10]))), '$3\r\n\x00\r\n\r\n');
  assert.equal(text(w.arrayHeader(2).bulk('a').integer(1)), '*2\r\n$1\r\na\r\n:1\r\n');
  assert.equal(text(w.nullArray()), '*-1\r\n');
  assert.equal(w.length, 0);
  assert.equal(text(w.error('ERR naïve')), '-ERR na\xc3\xafve\r\n');
});

test('value() encodes JS values recursively', () => {
  const w = new RespWriter();
  w.value([
    Buffer.from('b'), 's', 7, 1.5, null, undefined, { error: 'ERR x' }, { status: 'QUEUED' }, [[], [1n]], true,
  ]);
  assert.equal(
    text(w),
    '*10\r\n$1\r\nb\r\n$1\r\ns\r\n:7\r\n$3\r\n1.5\r\n$-1\r\n$-1\r\n-ERR x\r\n+QUEUED\r\n*2\r\n*0\r\n*1\r\n:1\r\n:1\r\n',
  );
  assert.throws(() => w.value({} as never), TypeError);
});

test('take() returns a copy and resets; the buffer grows for large values', () => {
  const w = new RespWriter(8);
  const big = Buffer.alloc(100_000, 0x61);
  w.bulk(big);
  const first = w.take();
  assert.equal(first.length, 100_000 + 11);
  w.bulk('x');
  assert.equal(first.subarray(0, 10).toString(), '$100000\r\na');
  assert.equal(text(w), '$1\r\nx\r\n');
});

test('encodeCommand round-trips through the framer and the request parser', () => {
  fc.assert(
    fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 50 }).map((a) => Buffer.from(a)), fc.string()), { minLength: 1, maxLength: 10 }), (argv) => {
      const bytes = encodeCommand(argv);
      const expected = argv.map((a) => (typeof a === 'string' ? Buffer.from(a, 'utf8') : a));
      assert.deepEqual(frameCommands(bytes), [expected]);
      assert.deepEqual(new RequestParser().feed(bytes), [expected]);
    }),
    { numRuns: 300 },
  );
});
