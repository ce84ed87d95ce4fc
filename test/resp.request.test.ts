import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { RequestParser, type RequestLimits } from '../src/resp/request.js';
import { encodeCommand } from '../src/resp/encode.js';
import { ParaError } from '../src/errors.js';
import { Client, startRedis, type RedisServer } from './helpers/redis.js';

const LIMITS: RequestLimits = { maxBulkLen: 512 * 1024 * 1024, maxArgs: 1 << 20, maxInlineLen: 64 * 1024 };

function parseAll(bytes: Buffer, limits = LIMITS): Buffer[][] {
  return new RequestParser(limits).feed(bytes);
}

function strs(reqs: Buffer[][]): string[][] {
  return reqs.map((r) => r.map((a) => a.toString('latin1')));
}

/** The parser's error for `bytes`, or null if none. */
function errorOf(bytes: Buffer, limits = LIMITS): ParaError | null {
  try {
    new RequestParser(limits).feed(bytes);
    return null;
  } catch (e) {
    assert.ok(e instanceof ParaError, String(e));
    assert.equal(e.code, 'PARAREPLICA_CLIENT_INPUT');
    return e;
  }
}

test('multibulk and inline requests, pipelined', () => {
  const bytes = Buffer.concat([
    encodeCommand(['SET', 'k', Buffer.from([0, 13, 10, 255])]),
    Buffer.from('PING\r\nGET foo\n\r\n   \r\n*0\r\n*-1\r\n'),
    encodeCommand(['']),
    Buffer.from('ECHO "a b\\x41\\n" \'it\\\'s\' plain\r\n'),
  ]);
  assert.deepEqual(strs(parseAll(bytes)), [
    ['SET', 'k', '\x00\r\n\xff'],
    ['PING'],
    ['GET', 'foo'],
    [''],
    ['ECHO', 'a bA\n', "it's", 'plain'],
  ]);
});

test('any chunking gives the same requests', () => {
  const cmdArb = fc.oneof(
    fc.array(fc.uint8Array({ maxLength: 30 }), { minLength: 1, maxLength: 6 }).map((args) => encodeCommand(args.map((a) => Buffer.from(a)))),
    fc.array(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 5 }).map((w) => Buffer.from(w.join(' ') + '\r\n')),
  );
  fc.assert(
    fc.property(fc.array(cmdArb, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 20 }), (cmds, cuts) => {
      const all = Buffer.concat(cmds);
      const whole = parseAll(all);
      assert.equal(whole.length, cmds.length);
      const p = new RequestParser(LIMITS);
      const got: Buffer[][] = [];
      let prev = 0;
      for (const c of [...new Set(cuts.map((x) => x % (all.length + 1)))].sort((a, b) => a - b)) {
        got.push(...p.feed(all.subarray(prev, c)));
        prev = c;
      }
      got.push(...p.feed(all.subarray(prev)));
      assert.deepEqual(got, whole);
      assert.equal(p.pendingBytes, 0);
    }),
    { numRuns: 200 },
  );
});

test('requests before a protocol error are handed over in the error', () => {
  const e = errorOf(Buffer.from('PING\r\n*1\r\nx\r\n'));
  assert.ok(e);
  assert.deepEqual(strs(e.details.requests as Buffer[][]), [['PING']]);
  assert.ok(!JSON.stringify(e.toJSON()).includes('requests'), 'requests are not logged');
});

test('limits: args, bulk length, inline length', () => {
  const small: RequestLimits = { maxBulkLen: 10, maxArgs: 2, maxInlineLen: 16 };
  assert.equal(errorOf(Buffer.from('*3\r\n'), small)?.message, 'Protocol error: invalid multibulk length');
  assert.equal(errorOf(Buffer.from('*1\r\n$11\r\n'), small)?.message, 'Protocol error: invalid bulk length');
  assert.equal(errorOf(Buffer.from('x'.repeat(17)), small)?.message, 'Protocol error: too big inline request');
  assert.equal(errorOf(Buffer.from('x'.repeat(17) + '\n'), small)?.message, 'Protocol error: too big inline request');
  assert.deepEqual(strs(parseAll(Buffer.from('*2\r\n$10\r\n0123456789\r\n$0\r\n\r\n'), small)), [['0123456789', '']]);
});

// The error texts must be what redis-server itself replies to the same bytes.
const BAD_INPUTS: string[] = [
  '*abc\r\n',
  '*3000000000\r\n',
  '*1\r\n$abc\r\n',
  '*1\r\n$-1\r\n',
  '*1\r\n$600000000\r\n',
  '*1\r\nx3\r\n',
  '*2\r\n$1\r\na\r\n:1\r\n',
  'SET "a b\r\n',
  'SET "a"b\r\n',
  "SET 'a\r\n",
  'x'.repeat(70000),
  '*' + '1'.repeat(70000),
  '*1\r\n$' + '1'.repeat(70000),
];

let redis: RedisServer | undefined;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis?.stop();
});

/** Sends raw bytes on a fresh connection and returns everything until the server closes (or 2 s). */
function rawExchange(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ port, host: '127.0.0.1' }, () => s.write(bytes));
    let out = '';
    const timer = setTimeout(() => { s.destroy(); resolve(out); }, 2000);
    s.on('data', (d) => { out += d.toString('latin1'); });
    s.on('error', (e) => { clearTimeout(timer); reject(e); });
    s.on('close', () => { clearTimeout(timer); resolve(out); });
  });
}

test('error messages match redis-server for the same bytes', async () => {
  for (const input of BAD_INPUTS) {
    const reply = await rawExchange(redis!.port, Buffer.from(input, 'latin1'));
    const e = errorOf(Buffer.from(input, 'latin1'));
    assert.ok(e, `no error for ${JSON.stringify(input.slice(0, 40))}`);
    assert.ok(reply.endsWith(`-ERR ${e.message}\r\n`), `for ${JSON.stringify(input.slice(0, 40))}: redis said ${JSON.stringify(reply.slice(-120))}, we say ${e.message}`);
  }
});

test('inline words split as redis-server splits them', async () => {
  const wordArb = fc.array(fc.constantFrom('a', 'b', ' ', ' ', '"', "'", '\\', 'x', '4', 'f', 'n', '\t'), { maxLength: 14 }).map((a) => a.join(''));
  const c = await Client.connect(redis!.port);
  try {
    await fc.assert(
      fc.asyncProperty(wordArb, async (s) => {
        const line = Buffer.from(`RPUSH l ${s}\r\n`, 'latin1');
        let ours: Buffer[][] | null;
        try {
          ours = parseAll(line);
        } catch {
          ours = null;
        }
        await c.call('DEL', 'l');
        const reply = await rawExchange(redis!.port, Buffer.concat([line, Buffer.from('LRANGE l 0 -1\r\nQUIT\r\n')]));
        if (ours === null) {
          assert.match(reply, /^-ERR Protocol error: unbalanced quotes in request\r\n$/, `line ${JSON.stringify(s)}`);
          return;
        }
        assert.equal(ours.length, 1);
        const words = ours[0].slice(2);
        if (words.length === 0) {
          assert.match(reply, /^-ERR wrong number of arguments/, `line ${JSON.stringify(s)}`);
          return;
        }
        const expected = `:${words.length}\r\n*${words.length}\r\n` + words.map((w) => `$${w.length}\r\n${w.toString('latin1')}\r\n`).join('') + '+OK\r\n';
        assert.equal(reply, expected, `line ${JSON.stringify(s)}`);
      }),
      { numRuns: 120 },
    );
  } finally {
    c.close();
  }
});

test('a bulk payload is followed by two skipped bytes, as in redis', () => {
  assert.deepEqual(strs(parseAll(Buffer.from('*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n'))), [['PING'], ['PING']]);
});
