import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RespFramer, frameCommands, type CommandSink } from '../src/resp/framer.js';
import { encodeCommand } from '../src/resp/encode.js';
import { ParaError } from '../src/errors.js';

interface Framed {
  raw: Buffer;
  argv: Buffer[];
}

/** A sink that copies everything and checks the argument ranges lie inside the command range. */
function collector(out: Framed[]): CommandSink {
  return {
    onCommand(buf, start, end, argc, argStart, argLen) {
      const argv: Buffer[] = [];
      for (let i = 0; i < argc; i++) {
        assert.ok(argStart[i] > start && argStart[i] + argLen[i] <= end - 2, 'argument inside the command');
        argv.push(Buffer.from(buf.subarray(argStart[i], argStart[i] + argLen[i])));
      }
      out.push({ raw: Buffer.from(buf.subarray(start, end)), argv });
    },
  };
}

function feedSplit(framer: RespFramer, buf: Buffer, cuts: number[], sink: CommandSink): void {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  let prev = 0;
  for (const c of points) {
    framer.feed(buf.subarray(prev, c), sink);
    prev = c;
  }
  framer.feed(buf.subarray(prev), sink);
}

const argArb = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 40 }),
  fc.constantFrom(new Uint8Array(0), Buffer.from('\r\n'), Buffer.from('*1\r\n$1\r\n'), Buffer.from('\n')),
  fc.uint8Array({ minLength: 100, maxLength: 3000 }),
);
const commandArb = fc.array(argArb, { minLength: 1, maxLength: 24 });
const keepaliveArb = fc.constantFrom('', '', '', '\n', '\r\n', '\n\n', '\r\n\n');
const streamArb = fc.array(fc.tuple(keepaliveArb, commandArb), { minLength: 0, maxLength: 30 });

function build(stream: [string, Uint8Array[]][]): { buf: Buffer; expected: Framed[] } {
  const parts: Buffer[] = [];
  const expected: Framed[] = [];
  for (const [ka, args] of stream) {
    parts.push(Buffer.from(ka, 'latin1'));
    const argv = args.map((a) => Buffer.from(a));
    const raw = encodeCommand(argv);
    parts.push(raw);
    expected.push({ raw, argv });
  }
  return { buf: Buffer.concat(parts), expected };
}

test('frames a whole buffer into the exact commands and byte ranges', () => {
  fc.assert(
    fc.property(streamArb, (stream) => {
      const { buf, expected } = build(stream);
      const got: Framed[] = [];
      const f = new RespFramer();
      f.feed(buf, collector(got));
      assert.deepEqual(got, expected);
      assert.equal(f.pendingBytes, 0);
      assert.deepEqual(frameCommands(buf), expected.map((e) => e.argv));
    }),
    { numRuns: 200 },
  );
});

test('random chunk splits give the same commands as the whole buffer', () => {
  fc.assert(
    fc.property(streamArb, fc.array(fc.nat(), { maxLength: 40 }), (stream, cuts) => {
      const { buf, expected } = build(stream);
      const got: Framed[] = [];
      const f = new RespFramer();
      feedSplit(f, buf, cuts, collector(got));
      assert.deepEqual(got, expected);
      assert.equal(f.pendingBytes, 0);
    }),
    { numRuns: 300 },
  );
});

test('byte-by-byte feeding works, and pendingBytes counts the held-back tail', () => {
  const cmd = encodeCommand(['SET', 'key', 'value']);
  const buf = Buffer.concat([Buffer.from('\r\n'), cmd, Buffer.from('\n'), cmd]);
  const got: Framed[] = [];
  const f = new RespFramer();
  for (let i = 0; i < buf.length; i++) {
    f.feed(buf.subarray(i, i + 1), collector(got));
    if (i === 2) assert.equal(f.pendingBytes, 1); // "*" of the first command
  }
  assert.equal(got.length, 2);
  assert.deepEqual(got[1].argv.map(String), ['SET', 'key', 'value']);
  assert.equal(f.pendingBytes, 0);
  f.feed(cmd.subarray(0, 10), collector(got));
  assert.equal(f.pendingBytes, 10);
  f.reset();
  assert.equal(f.pendingBytes, 0);
  f.feed(cmd, collector(got));
  assert.equal(got.length, 3);
});

test('many arguments grow the argument arrays, also across chunks', () => {
  const argv = Array.from({ length: 5000 }, (_, i) => `a${i}`);
  const buf = encodeCommand(argv);
  for (const size of [buf.length, 7, 1000]) {
    const got: Framed[] = [];
    const f = new RespFramer();
    for (let off = 0; off < buf.length; off += size) f.feed(buf.subarray(off, off + size), collector(got));
    assert.equal(got.length, 1);
    assert.deepEqual(got[0].argv.map(String), argv);
  }
});

test('a huge bulk arriving in small chunks is framed in linear time', () => {
  // 24 MiB in 1 KiB chunks: a framer that re-scanned the carry on every feed would do ~300 GB of work.
  const big = Buffer.alloc(24 << 20, 0x61);
  const buf = Buffer.concat([encodeCommand(['SET', 'k', big]), encodeCommand(['PING'])]);
  const f = new RespFramer();
  const lens: number[] = [];
  const sink: CommandSink = {
    onCommand(_b, _s, _e, argc, _as, argLen) {
      lens.push(argc === 3 ? argLen[2] : -1);
    },
  };
  const t0 = Date.now();
  for (let off = 0; off < buf.length; off += 1024) f.feed(buf.subarray(off, off + 1024), sink);
  assert.deepEqual(lens, [big.length, -1]);
  assert.ok(Date.now() - t0 < 20000, 'framing took too long');
});

function protocolError(fn: () => void): ParaError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ParaError, `expected a ParaError, got ${String(e)}`);
    assert.equal(e.code, 'PARAREPLICA_PROTOCOL');
    return e;
  }
  assert.fail('expected PARAREPLICA_PROTOCOL');
}

test('corrupt input throws PARAREPLICA_PROTOCOL with the byte position', () => {
  const ok = encodeCommand(['ping']); // 14 bytes
  const cases: [string, number][] = [
    ['PING\r\n', 0], // inline command
    ['+OK\r\n', 0], // a reply type
    ['*1\r\n:1\r\n', 4], // integer instead of bulk
    ['*x\r\n', 1],
    ['*\r\n', 0],
    ['*0\r\n', 0],
    ['*-1\r\n', 1],
    ['*1\n$1\r\na\r\n', 2], // LF without CR in the header
    ['*1\r\r', 3],
    ['*1\r\n$\r\n', 4],
    ['*1\r\n$-1\r\n', 5],
    ['*1\r\n$1x\r\n', 6],
    ['*1\r\n$1\r\nab\r\n', 9], // payload longer than declared
    ['*1\r\n$3\r\nab\r\n\r\n', 11],
    ['\r\r', 1], // CR not followed by LF between commands
    ['\r*1', 1],
  ];
  for (const [text, pos] of cases) {
    const buf = Buffer.concat([ok, Buffer.from(text, 'latin1')]);
    const e = protocolError(() => new RespFramer().feed(buf, { onCommand() {} }));
    assert.equal(e.details.position, ok.length + pos, `position for ${JSON.stringify(text)}: ${e.message}`);
    assert.match(e.message, /replication stream is corrupt at byte \d+/);
    // The same error, at the same stream position, whatever the chunking.
    for (let cut = 1; cut < buf.length; cut++) {
      const f = new RespFramer();
      const e2 = protocolError(() => {
        f.feed(buf.subarray(0, cut), { onCommand() {} });
        f.feed(buf.subarray(cut), { onCommand() {} });
      });
      assert.equal(e2.details.position, e.details.position, `split at ${cut} of ${JSON.stringify(text)}`);
    }
  }
});

test('limits on bulk length and argument count', () => {
  const f = new RespFramer({ maxBulkLen: 10, maxArgs: 3 });
  protocolError(() => f.feed(Buffer.from('*1\r\n$11\r\n'), { onCommand() {} }));
  protocolError(() => new RespFramer({ maxArgs: 3 }).feed(Buffer.from('*4\r\n'), { onCommand() {} }));
  protocolError(() => new RespFramer().feed(Buffer.from('*99999999999999999999\r\n'), { onCommand() {} }));
  const got: Framed[] = [];
  new RespFramer({ maxBulkLen: 10, maxArgs: 3 }).feed(encodeCommand(['a', '0123456789', 'c']), collector(got));
  assert.equal(got.length, 1);
});

test('random garbage never throws anything but PARAREPLICA_PROTOCOL', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 5 }), (bytes, cuts) => {
      const f = new RespFramer({ maxBulkLen: 1 << 16 });
      try {
        feedSplit(f, Buffer.from(bytes), cuts, { onCommand() {} });
      } catch (e) {
        assert.ok(e instanceof ParaError && e.code === 'PARAREPLICA_PROTOCOL', String(e));
      }
    }),
    { numRuns: 500 },
  );
});

test('frameCommands rejects an incomplete buffer', () => {
  protocolError(() => frameCommands(Buffer.from('*2\r\n$3\r\nGET\r\n')));
});
