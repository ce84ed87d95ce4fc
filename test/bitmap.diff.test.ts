/**
 * Differential tests of the bitmap commands (workers/t_bitmap.ts) against a real redis-server 7.0.
 *
 *  - fast-check sequences of SETBIT / BITFIELD (all subcommands, overflow modes, signed and unsigned
 *    widths, '#' offsets, bad arguments) / SET / APPEND / SADD / DEL over four keys run on both; every
 *    write must fail on both or neither, BITFIELD's reply must be identical (bitfieldApply returns what
 *    the master would have answered), and every read (GETBIT, BITCOUNT and BITPOS with random ranges
 *    and units, BITFIELD_RO, GET, STRLEN) must give the same reply, errors included.
 *  - BITOP: random values in redis, BITOP there, compared with bitopCompute over the GET values.
 *  - Fixed cases near the 2^32 bit-offset limit and C int64 wrap-arounds Redis exhibits.
 *
 * Integer replies are compared exactly (int64), so this file reads redis replies with its own parser.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { TestStore, startRedis, argv, type RedisServer } from './keyspace.helpers.js';
import { bitfieldApply, bitopCompute } from '../workers/t_bitmap.js';

/** A reply in comparable form: integers as 'i:<decimal>', bulk strings as 'b:<latin1>'. */
type R = null | string | { error: string } | { status: string } | R[];

/** Minimal RESP2 client keeping int64 replies exact. */
class ExactClient {
  private buf = Buffer.alloc(0);
  private readonly waiting: Array<(r: R) => void> = [];
  constructor(private readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (;;) {
        const r = ExactClient.parse(this.buf, 0);
        if (r === undefined) break;
        this.buf = this.buf.subarray(r[1]);
        this.waiting.shift()!(r[0]);
      }
    });
  }
  static connect(port: number): Promise<ExactClient> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection({ port, host: '127.0.0.1' }, () => resolve(new ExactClient(s)));
      s.once('error', reject);
    });
  }
  private static parse(b: Buffer, p: number): [R, number] | undefined {
    const nl = b.indexOf('\r\n', p);
    if (nl < 0) return undefined;
    const line = b.toString('latin1', p + 1, nl), next = nl + 2;
    switch (b[p]) {
      case 0x2b: return [{ status: line }, next];
      case 0x2d: return [{ error: line }, next];
      case 0x3a: return ['i:' + line, next];
      case 0x24: {
        const n = Number(line);
        if (n < 0) return [null, next];
        if (b.length < next + n + 2) return undefined;
        return ['b:' + b.toString('latin1', next, next + n), next + n + 2];
      }
      default: {
        const n = Number(line);
        if (n < 0) return [null, next];
        const out: R[] = [];
        let q = next;
        for (let i = 0; i < n; i++) {
          const r = ExactClient.parse(b, q);
          if (r === undefined) return undefined;
          out.push(r[0]); q = r[1];
        }
        return [out, q];
      }
    }
  }
  call(...a: string[]): Promise<R> {
    const parts: Buffer[] = [Buffer.from(`*${a.length}\r\n`)];
    for (const s of a) { const x = Buffer.from(s, 'latin1'); parts.push(Buffer.from(`$${x.length}\r\n`), x, Buffer.from('\r\n')); }
    return new Promise((resolve) => { this.waiting.push(resolve); this.sock.write(Buffer.concat(parts)); });
  }
  close(): void { this.sock.destroy(); }
}

/** One of our replies in the same form. */
function mine(v: unknown): R {
  if (v === null || v === undefined) return null;
  if (typeof v === 'number' || typeof v === 'bigint') return 'i:' + String(v);
  if (Buffer.isBuffer(v)) return 'b:' + v.toString('latin1');
  if (Array.isArray(v)) return v.map(mine);
  return v as R;
}
const isErr = (r: R): boolean => r !== null && typeof r === 'object' && 'error' in r;

let redis: RedisServer;
let rc: ExactClient;
let t: TestStore;
let epoch = 1;

before(async () => {
  redis = await startRedis();
  rc = await ExactClient.connect(redis.port);
  t = await TestStore.create('bitmap', { metaCacheEntries: 2 });
});
after(async () => {
  rc?.close();
  await redis?.stop();
  await t?.destroy();
});

async function reset(): Promise<void> {
  await rc.call('flushall');
  t.store.flushAll(epoch++);
}

const KEYS = ['k0', 'k1', 'k2', 'k3'];
const key = fc.constantFrom(...KEYS);
/** Bit offsets for SETBIT (4294967295 is valid but would grow a string to 512 MB: reads only). */
const bitOffW = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 0, max: 2000 }).map(String) },
  { weight: 1, arbitrary: fc.constantFrom('-1', 'x', '', '01', '4294967296', '1.0', '#3') });
const bitOff = fc.oneof({ weight: 8, arbitrary: bitOffW }, { weight: 1, arbitrary: fc.constant('4294967295') });
const widthT = fc.oneof(
  { weight: 8, arbitrary: fc.tuple(fc.constantFrom('i', 'u'), fc.integer({ min: 1, max: 64 })).map(([s, n]) => s + n) },
  { weight: 1, arbitrary: fc.constantFrom('i0', 'u64', 'i65', 'I8', 'x8', 'i', '', 'i08', 'u-1') });
const fieldOff = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 1950 }).map(String) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 30 }).map((n) => '#' + n) },
  { weight: 1, arbitrary: fc.constantFrom('#', '#-1', '-1', 'x', '##1', '#01') });
const i64 = fc.oneof(fc.integer({ min: -300, max: 300 }).map(String),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  fc.constantFrom('9223372036854775807', '-9223372036854775808', '-9223372036854775680', '4294967295',
    '-2147483648', '2147483647', '255', '-129', 'x', '1.5', '9223372036854775808'));
const sub = fc.oneof(
  fc.tuple(widthT, fieldOff).map(([w, o]) => ['GET', w, o]),
  fc.tuple(fc.constantFrom('SET', 'set', 'INCRBY', 'incrby'), widthT, fieldOff, i64).map(([c, w, o, v]) => [c, w, o, v]),
  fc.constantFrom('WRAP', 'SAT', 'FAIL', 'fail', 'bogus').map((m) => ['OVERFLOW', m]),
  fc.constantFrom(['FOO'], ['GET', 'i8'], ['SET', 'u8', '0'], ['OVERFLOW']));
const subs = fc.array(sub, { minLength: 0, maxLength: 4 }).map((a) => a.flat());
const strVal = fc.oneof(fc.constantFrom('', 'a', '\xff', '\x00\xff\x0f', 'foobar', '12345', '\xff\xff\xff\xff\xff\xff\xff\xff\xff'),
  fc.uint8Array({ maxLength: 12 }).map((u) => Buffer.from(u).toString('latin1')));
const idx = fc.oneof(fc.integer({ min: -260, max: 260 }).map(String),
  fc.constantFrom('-9223372036854775808', '9223372036854775807', 'x', '-0'));
const unit = fc.constantFrom([], ['BYTE'], ['BIT'], ['bit'], ['foo']);

type Cmd = string[];
const writeCmd: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(key, bitOffW, fc.oneof({ weight: 6, arbitrary: fc.constantFrom('0', '1') },
    { weight: 1, arbitrary: fc.constantFrom('2', '-1', 'x', '01', '') })).map(([k, o, v]) => ['setbit', k, o, v]) },
  { weight: 6, arbitrary: fc.tuple(key, subs).map(([k, s]) => ['bitfield', k, ...s]) },
  { weight: 1, arbitrary: fc.tuple(key, strVal).map(([k, v]) => ['set', k, v]) },
  { weight: 1, arbitrary: fc.tuple(key, strVal).map(([k, v]) => ['append', k, v]) },
  { weight: 1, arbitrary: key.map((k) => ['sadd', k, 'm']) },
  { weight: 1, arbitrary: key.map((k) => ['del', k]) },
);
const readCmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.tuple(key, bitOff).map(([k, o]) => ['getbit', k, o]),
  key.map((k) => ['bitcount', k]),
  fc.tuple(key, idx, idx, unit).map(([k, a, b, u]) => ['bitcount', k, a, b, ...u]),
  fc.constantFrom<Cmd>(['bitcount', 'k0', '0'], ['bitcount', 'k1', '0', '1', 'bit', 'x']),
  fc.tuple(key, fc.constantFrom('0', '1', '0', '1', '2', 'x')).map(([k, b]) => ['bitpos', k, b]),
  fc.tuple(key, fc.constantFrom('0', '1'), idx).map(([k, b, s]) => ['bitpos', k, b, s]),
  fc.tuple(key, fc.constantFrom('0', '1'), idx, idx, unit).map(([k, b, s, e, u]) => ['bitpos', k, b, s, e, ...u]),
  fc.constantFrom<Cmd>(['bitpos', 'k0', '0', '0', '1', 'bit', 'x']),
  fc.tuple(key, fc.array(fc.oneof({ weight: 5, arbitrary: fc.tuple(widthT, fieldOff).map(([w, o]) => ['GET', w, o]) },
    { weight: 1, arbitrary: sub }), { maxLength: 4 })).map(([k, s]) => ['bitfield_ro', k, ...s.flat()]),
  fc.tuple(fc.constantFrom('get', 'strlen'), key).map(([c, k]) => [c, k]),
);
const step: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 5, arbitrary: writeCmd }, { weight: 4, arbitrary: readCmd }, { weight: 1, arbitrary: fc.constant<Cmd>(['__commit']) });

/** Run one command on both sides and compare. */
async function check(c: Cmd): Promise<void> {
  const theirs = await rc.call(...c);
  const what = c.join(' ').slice(0, 300);
  if (c[0] === 'bitfield') {
    const f0 = t.store.failedCommands;
    const out = bitfieldApply(t.store, 0, argv(...c.map((s) => Buffer.from(s, 'latin1'))));
    if (isErr(theirs)) {
      assert.equal(t.store.failedCommands, f0 + 1, `${what}: redis ${JSON.stringify(theirs)}`);
      assert.equal(t.store.lastFailure, (theirs as { error: string }).error, what);
    } else assert.deepEqual(mine(out), theirs, what);
  } else if (['setbit', 'set', 'append', 'sadd', 'del'].includes(c[0])) {
    const f0 = t.store.failedCommands;
    await t.w(...c.map((s) => Buffer.from(s, 'latin1')));
    assert.equal(t.store.failedCommands > f0, isErr(theirs), `${what}: redis ${JSON.stringify(theirs)}, ours ${t.store.lastFailure}`);
    if (isErr(theirs)) assert.equal(t.store.lastFailure, (theirs as { error: string }).error, what);
  } else {
    assert.deepEqual(mine(await t.r(...c.map((s) => Buffer.from(s, 'latin1')))), theirs, what);
  }
}

test('random bitmap command sequences agree with redis-server', { timeout: 120_000 }, async () => {
  await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 5, maxLength: 40 }), async (cmds) => {
    await reset();
    for (const c of cmds) {
      if (c[0] === '__commit') await t.store.commit();
      else await check(c);
    }
    for (const k of KEYS) {
      await check(['get', k]);
      await check(['bitcount', k]);
    }
  }), { numRuns: Number(process.env.BITMAP_RUNS ?? 250), endOnFailure: !!process.env.BITMAP_NOSHRINK });
  await t.store.commit();
});

test('BITOP: bitopCompute matches redis-server', { timeout: 60_000 }, async () => {
  const val = fc.option(strVal, { nil: null });
  const op = fc.constantFrom('AND', 'or', 'Xor', 'NOT', 'not', 'and', 'OR', 'nand', '');
  await fc.assert(fc.asyncProperty(op, fc.array(val, { minLength: 1, maxLength: 4 }), async (o, vals) => {
    await rc.call('flushall');
    const srcs = vals.map((_, i) => `s${i}`);
    for (let i = 0; i < vals.length; i++) if (vals[i] !== null) await rc.call('set', srcs[i], vals[i]!);
    await rc.call('set', 'dest', 'old');
    const theirs = await rc.call('bitop', o, 'dest', ...srcs);
    const got = bitopCompute(Buffer.from(o), vals.map((v) => (v === null ? null : Buffer.from(v, 'latin1'))));
    if (isErr(theirs)) { assert.deepEqual(got, theirs, `${o} ${JSON.stringify(vals)}`); return; }
    const dest = await rc.call('get', 'dest');
    assert.ok(got === null || Buffer.isBuffer(got));
    assert.deepEqual(mine(got), dest, `${o} ${JSON.stringify(vals)}`);
    assert.equal(theirs, 'i:' + (got === null ? 0 : got.length));
  }), { numRuns: 300 });
  assert.deepEqual(bitopCompute(Buffer.from('and'), []), { error: "ERR wrong number of arguments for 'bitop' command" });
});

test('offsets near the 2^32 limit and int64 wrap-arounds agree with redis-server', async () => {
  await reset();
  const cases: Cmd[] = [
    ['setbit', 'k0', '4294967296', '1'], ['setbit', 'k0', '9223372036854775807', '1'], ['setbit', 'k0', '7999999', '1'],
    ['strlen', 'k0'], ['getbit', 'k0', '7999999'], ['getbit', 'k0', '4294967295'], ['getbit', 'k0', '4294967296'],
    ['bitcount', 'k0'], ['bitcount', 'k0', '-1', '-1'], ['bitcount', 'k0', '63999990', '-1', 'bit'],
    ['bitpos', 'k0', '1'], ['bitpos', 'k0', '0', '999999'], ['bitpos', 'k0', '1', '-3', '-1', 'BIT'],
    ['bitpos', 'k0', '0', '7999999', '-1', 'bit'], ['bitpos', 'k0', '0', '-1'],
    ['bitfield_ro', 'k0', 'GET', 'u8', '4294967295', 'GET', 'i64', '#67108863', 'GET', 'i64', '4294967295'],
    ['bitfield_ro', 'k0', 'GET', 'i64', '#67108864'], ['bitfield_ro', 'k0', 'GET', 'u8', '4294967296'],
    ['bitfield_ro', 'k0', 'GET', 'i8', '#2305843009213693953'], ['bitfield_ro', 'k0', 'GET', 'u63', '#9223372036854775807'],
    ['bitfield', 'k1', 'OVERFLOW', 'SAT', 'SET', 'i8', '0', '-9223372036854775808', 'GET', 'i8', '0',
      'SET', 'i8', '0', '-9223372036854775680', 'SET', 'i8', '0', '-9223372036854775681', 'SET', 'u8', '8', '-1', 'GET', 'u8', '8'],
    ['bitfield', 'k1', 'INCRBY', 'i64', '0', '9223372036854775807', 'INCRBY', 'i64', '0', '1', 'OVERFLOW', 'FAIL',
      'INCRBY', 'i64', '0', '-1', 'INCRBY', 'u63', '64', '-9223372036854775808', 'OVERFLOW', 'SAT', 'INCRBY', 'u63', '64', '-1'],
    ['bitfield', 'k2', 'OVERFLOW', 'FAIL', 'INCRBY', 'u8', '100', '300'], ['strlen', 'k2'], ['get', 'k2'],
    ['bitfield', 'k3'], ['get', 'k3'], ['bitfield', 'k3', 'GET', 'u8', '100'], ['get', 'k3'],
    ['bitfield', 'k1', 'SET', 'i64', '7999900', '-2'], ['get', 'k1'], ['bitpos', 'k2', '0', '0', '-1'],
  ];
  for (const c of cases) await check(c);
});
