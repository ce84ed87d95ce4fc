/**
 * String and generic-key commands on a ShardStore: semantics, error handling (counted failures),
 * expiry flags, and read-side hiding of logically expired keys.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestStore, sortedStrings } from './keyspace.helpers.js';
import { isParaError } from '../src/errors.js';

let t: TestStore;
before(async () => { t = await TestStore.create('str'); });
after(async () => { await t.destroy(); });

const FUTURE = 4_000_000_000_000;

test('SET variants: NX, XX, GET, KEEPTTL, PXAT, EX', async () => {
  await t.w('set', 'a', '1');
  assert.equal(await t.get('a'), '1');
  await t.w('SET', 'a', '2', 'NX');
  assert.equal(await t.get('a'), '1');
  await t.w('set', 'b', '2', 'xx');
  assert.equal(await t.get('b'), null);
  await t.w('set', 'a', '3', 'xx', 'get');
  assert.equal(await t.get('a'), '3');
  await t.w('set', 'a', '4', 'pxat', FUTURE);
  assert.equal(await t.r('pexpiretime', 'a'), FUTURE);
  await t.w('set', 'a', '5', 'keepttl');
  assert.equal(await t.r('pexpiretime', 'a'), FUTURE);
  assert.equal(await t.get('a'), '5');
  await t.w('set', 'a', '6');
  assert.equal(await t.r('pttl', 'a'), -1);
  const before = Date.now();
  await t.w('set', 'a', '7', 'EX', 100);
  const pt = (await t.r('pexpiretime', 'a')) as number;
  assert.ok(pt >= before + 100_000 && pt <= Date.now() + 100_000);
  await t.w('set', 'a', '8', 'ex', 10, 'ex', 20);   // same option twice: last wins (Redis)
  assert.equal(await t.r('ttl', 'a'), 20);
});

test('SET errors are counted failures and change nothing', async () => {
  await t.w('set', 'e', 'v');
  const f0 = t.store.failedCommands;
  await t.w('set', 'e', 'x', 'nx', 'xx');
  await t.w('set', 'e', 'x', 'ex', 0);
  await t.w('set', 'e', 'x', 'px', 'abc');
  await t.w('set', 'e', 'x', 'keepttl', 'ex', 5);
  await t.w('set', 'e', 'x', 'ex');
  await t.w('set', 'e');
  assert.equal(t.store.failedCommands - f0, 6);
  assert.equal(await t.get('e'), 'v');
  await t.w('hset', 'hh', 'f', 'v');
  await t.w('set', 'hh', 'x', 'get');             // GET on a non-string: WRONGTYPE, not set
  assert.equal(t.store.failedCommands - f0, 7);
  assert.deepEqual(await t.r('type', 'hh'), { status: 'hash' });
  await t.w('set', 'hh', 'x');                    // plain SET overwrites any type
  assert.equal(await t.get('hh'), 'x');
});

test('SETNX, SETEX, PSETEX, GETSET, GETDEL, MSET, MSETNX', async () => {
  await t.w('setnx', 'n1', 'a');
  await t.w('setnx', 'n1', 'b');
  assert.equal(await t.get('n1'), 'a');
  await t.w('setex', 'n2', 100, 'v');
  assert.ok(((await t.r('ttl', 'n2')) as number) > 98);
  await t.w('psetex', 'n3', 100000, 'v');
  assert.ok(((await t.r('pttl', 'n3')) as number) > 90000);
  await t.w('getset', 'n3', 'w');
  assert.equal(await t.get('n3'), 'w');
  assert.equal(await t.r('ttl', 'n3'), -1);
  await t.w('getdel', 'n3');
  assert.equal(await t.get('n3'), null);
  await t.w('mset', 'm1', '1', 'm2', '2');
  assert.deepEqual((await t.r('mget', 'm1', 'nope', 'm2')) as unknown[], [Buffer.from('1'), null, Buffer.from('2')]);
  await t.w('msetnx', 'm2', 'x', 'm3', 'y');
  assert.equal(await t.get('m3'), null);
  await t.w('msetnx', 'm4', 'x', 'm3', 'y');
  assert.equal(await t.get('m3'), 'y');
  const f0 = t.store.failedCommands;
  await t.w('mset', 'm1');
  await t.w('setex', 'x', -1, 'v');
  assert.equal(t.store.failedCommands - f0, 2);
});

test('APPEND, SETRANGE, STRLEN, GETRANGE', async () => {
  await t.w('append', 'ap', 'Hello');
  await t.w('append', 'ap', ' World');
  assert.equal(await t.get('ap'), 'Hello World');
  assert.equal(await t.r('strlen', 'ap'), 11);
  await t.w('setrange', 'ap', 6, 'Redis');
  assert.equal(await t.get('ap'), 'Hello Redis');
  await t.w('setrange', 'sr', 3, 'x');
  assert.deepEqual(await t.r('get', 'sr'), Buffer.from([0, 0, 0, 0x78]));
  await t.w('setrange', 'sr2', 5, '');
  assert.equal(await t.r('exists', 'sr2'), 0);
  const f0 = t.store.failedCommands;
  await t.w('setrange', 'sr', -1, 'x');
  await t.w('setrange', 'sr', 536870912, 'x');
  assert.equal(t.store.failedCommands - f0, 2);
  const gr = async (s: number, e: number) => ((await t.r('getrange', 'ap', s, e)) as Buffer).toString();
  assert.equal(await gr(0, 4), 'Hello');
  assert.equal(await gr(-5, -1), 'Redis');
  assert.equal(await gr(-1, -5), '');
  assert.equal(await gr(5, 1), '');
  assert.equal(await gr(0, 100), 'Hello Redis');
  assert.equal(await gr(-100, 2), 'Hel');
  assert.equal(((await t.r('getrange', 'missing', 0, 1)) as Buffer).length, 0);
  assert.deepEqual(await t.r('getrange', 'ap', 'x', 1), { error: 'ERR value is not an integer or out of range' });
});

test('INCR family: overflow, non-integers, TTL kept, bigint range', async () => {
  await t.w('set', 'i', '10');
  await t.w('pexpireat', 'i', FUTURE);
  await t.w('incr', 'i');
  await t.w('incrby', 'i', 5);
  await t.w('decr', 'i');
  await t.w('decrby', 'i', -4);
  assert.equal(await t.get('i'), '19');
  assert.equal(await t.r('pexpiretime', 'i'), FUTURE);
  await t.w('set', 'big', '9223372036854775806');
  await t.w('incr', 'big');
  assert.equal(await t.get('big'), '9223372036854775807');
  const f0 = t.store.failedCommands;
  await t.w('incr', 'big');                                  // overflow
  await t.w('decrby', 'x', '-9223372036854775808');          // decrement would overflow
  await t.w('set', 's', ' 1');
  await t.w('incr', 's');                                    // not an integer (leading space)
  await t.w('set', 's2', '01');
  await t.w('incr', 's2');                                   // leading zero
  await t.w('incrby', 'i', '9223372036854775808');           // out of range argument
  await t.w('incrby', 'i', '1.5');
  assert.equal(t.store.failedCommands - f0, 6);
  assert.equal(await t.get('big'), '9223372036854775807');
  await t.w('set', 'neg', '-9223372036854775807');
  await t.w('decr', 'neg');
  assert.equal(await t.get('neg'), '-9223372036854775808');
  await t.w('decr', 'neg');
  assert.equal(t.store.failedCommands - f0, 7);
  await t.w('incr', 'fresh');
  assert.equal(await t.get('fresh'), '1');
});

test('INCRBYFLOAT formats like Redis 7.0 (long double, %.17Lf, trimmed)', async () => {
  const cases: Array<[string, string, string]> = [
    ['10.5', '0.1', '10.6'], ['0.1', '0.2', '0.3'], ['1', '1e20', '100000000000000000000'],
    ['1', '1e-20', '1'], ['3', '-3', '0'], ['0', '-0.0000000000000000001', '0'], ['1.5e3', '0', '1500'],
    ['5', '0x10', '21'], ['0', '1.', '1'], ['0', '.5', '0.5'],
  ];
  for (const [a, b, want] of cases) {
    await t.w('set', 'f', a);
    await t.w('incrbyfloat', 'f', b);
    assert.equal(await t.get('f'), want, `${a} + ${b}`);
  }
  const f0 = t.store.failedCommands;
  await t.w('incrbyfloat', 'f', 'inf');
  await t.w('incrbyfloat', 'f', 'nan');
  await t.w('incrbyfloat', 'f', ' 1');
  await t.w('incrbyfloat', 'f', '1e5000');
  await t.w('incrbyfloat', 'f', '');
  assert.equal(t.store.failedCommands - f0, 5);
});

test('EXPIRE family flags NX XX GT LT and PERSIST', async () => {
  await t.w('set', 'x', 'v');
  await t.w('pexpireat', 'x', FUTURE, 'xx');            // no TTL: XX fails
  assert.equal(await t.r('pttl', 'x'), -1);
  await t.w('pexpireat', 'x', FUTURE, 'gt');            // no TTL = infinite: GT fails
  assert.equal(await t.r('pttl', 'x'), -1);
  await t.w('pexpireat', 'x', FUTURE, 'lt');            // LT applies
  assert.equal(await t.r('pexpiretime', 'x'), FUTURE);
  await t.w('pexpireat', 'x', FUTURE + 5, 'nx');        // has TTL: NX fails
  assert.equal(await t.r('pexpiretime', 'x'), FUTURE);
  await t.w('pexpireat', 'x', FUTURE - 5, 'gt');        // not greater
  assert.equal(await t.r('pexpiretime', 'x'), FUTURE);
  await t.w('pexpireat', 'x', FUTURE + 5, 'gt');
  assert.equal(await t.r('pexpiretime', 'x'), FUTURE + 5);
  await t.w('pexpireat', 'x', FUTURE + 9, 'lt');        // not less
  assert.equal(await t.r('pexpiretime', 'x'), FUTURE + 5);
  await t.w('expireat', 'x', FUTURE / 1000, 'XX', 'LT');
  assert.equal(await t.r('pexpiretime', 'x'), FUTURE);
  assert.equal(await t.r('expiretime', 'x'), FUTURE / 1000);
  await t.w('expire', 'x', 100);
  assert.equal(await t.r('ttl', 'x'), 100);
  await t.w('pexpire', 'x', 50_000);
  assert.equal(await t.r('ttl', 'x'), 50);
  await t.w('persist', 'x');
  assert.equal(await t.r('ttl', 'x'), -1);
  const f0 = t.store.failedCommands;
  await t.w('expire', 'x', 10, 'nx', 'xx');
  await t.w('expire', 'x', 10, 'gt', 'lt');
  await t.w('expire', 'x', 10, 'foo');
  await t.w('expire', 'x', 'ten');
  await t.w('expire', 'x', '99999999999999999');
  assert.equal(t.store.failedCommands - f0, 5);
  assert.equal(await t.r('ttl', 'x'), -1);
  await t.w('expire', 'missing', 10);
  assert.equal(await t.r('exists', 'missing'), 0);
});

test('a past expiry: replica semantics keep the key hidden; master semantics delete it', async () => {
  const dbsize0 = (await t.r('dbsize')) as number;
  await t.w('set', 'p1', 'v');
  await t.w('pexpireat', 'p1', 1000);
  assert.equal(await t.get('p1'), null);                  // hidden from reads
  assert.equal(await t.r('exists', 'p1'), 0);
  assert.equal(await t.r('ttl', 'p1'), -2);
  assert.deepEqual(await t.r('type', 'p1'), { status: 'none' });
  assert.equal(await t.r('dbsize'), dbsize0 + 1);          // still counted, as on Redis
  await t.w('set', 'p2', '5', 'pxat', 1000);
  await t.w('incr', 'p2');                                 // applies to the expired-but-present key
  assert.deepEqual(await t.rAt(500, 'get', 'p2'), Buffer.from('6'));
  assert.deepEqual(await t.rAt(1000, 'get', 'p2'), Buffer.from('6'));   // expired only when now > expireMs
  assert.deepEqual(await t.rAt(1001, 'get', 'p2'), null);
  await t.w('del', 'p1', 'p2');
  assert.equal(await t.r('dbsize'), dbsize0);
  t.store.deleteOnPastExpiry = true;
  try {
    await t.w('set', 'p3', 'v');
    await t.w('pexpireat', 'p3', 1000);
    await t.w('set', 'p4', 'v', 'pxat', 1000);
    assert.equal(await t.r('dbsize'), dbsize0);
    await t.w('set', 'p5', 'v', 'pxat', FUTURE);
    await t.w('pexpireat', 'p5', 1000, 'gt');              // flags first: GT fails, key stays
    assert.equal(await t.r('exists', 'p5'), 1);
    await t.w('del', 'p5');
  } finally {
    t.store.deleteOnPastExpiry = false;
  }
});

test('DEL/UNLINK several keys, EXISTS counts repeats, TYPE, TTL of missing', async () => {
  await t.w('mset', 'd1', 'a', 'd2', 'b', 'd3', 'c');
  assert.equal(await t.r('exists', 'd1', 'd1', 'd2', 'nope'), 3);
  await t.w('del', 'd1', 'd2', 'nope');
  await t.w('UNLINK', 'd3');
  assert.equal(await t.r('exists', 'd1', 'd2', 'd3'), 0);
  assert.equal(await t.r('ttl', 'd1'), -2);
  assert.equal(await t.r('pexpiretime', 'd1'), -2);
  assert.deepEqual(await t.r('type', 'd1'), { status: 'none' });
  await t.w('sadd', 'ty', 'm');
  assert.deepEqual(await t.r('type', 'ty'), { status: 'set' });
  assert.deepEqual(await t.r('get', 'ty'), { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' });
  assert.deepEqual(await t.r('mget', 'ty'), [null]);
});

test('KEYS and SCAN hide expired keys and walk with opaque cursors', async () => {
  const s = await TestStore.create('scan');
  try {
    for (let i = 0; i < 25; i++) await s.w('set', `user:${i}`, 'v');
    await s.w('sadd', 'user:set', 'x');
    await s.w('set', 'other', 'v');
    await s.w('set', 'user:dead', 'v', 'pxat', 1000);
    await s.store.commit();
    await s.w('set', 'user:new', 'v');          // uncommitted: must still be visible
    await s.w('del', 'user:3');                  // uncommitted delete: must be hidden
    const keys = sortedStrings(await s.r('keys', 'user:*'));
    assert.equal(keys.length, 26);
    assert.ok(keys.includes('user:new') && !keys.includes('user:3') && !keys.includes('user:dead'));
    assert.deepEqual(sortedStrings(await s.r('keys', 'user:1?')), Array.from({ length: 10 }, (_, i) => `user:1${i}`).sort());
    assert.deepEqual(sortedStrings(await s.r('keys', '*')), [...keys, 'other'].sort());
    const seen: string[] = [];
    let cursor: Buffer = Buffer.from('0');
    let calls = 0;
    for (;;) {
      const [next, batch] = (await s.r('scan', cursor, 'match', 'user:*', 'count', 7)) as [Buffer | null, Buffer[]];
      seen.push(...batch.map((b) => b.toString()));
      calls++;
      if (next === null) break;
      cursor = next;
    }
    assert.deepEqual(seen.sort(), keys);
    assert.ok(calls >= 4);
    const [, sets] = (await s.r('scan', '0', 'type', 'set', 'count', 1000)) as [Buffer | null, Buffer[]];
    assert.deepEqual(sortedStrings(sets), ['user:set']);
    assert.deepEqual(await s.r('scan', '0', 'count', 0), { error: 'ERR syntax error' });
    assert.equal(await s.r('dbsize'), 28);
    assert.deepEqual(await s.r('__keyspace'), [[0, 28, 1]]);
  } finally {
    await s.destroy();
  }
});

test('an unknown command throws PARAREPLICA_UNSUPPORTED_COMMAND; unknown reads get an error reply', async () => {
  assert.throws(() => t.store.applyWrite(0, [Buffer.from('frobnicate'), Buffer.from('k')]),
    (e: unknown) => isParaError(e) && e.code === 'PARAREPLICA_UNSUPPORTED_COMMAND');
  const r = (await t.r('frobnicate')) as { error: string };
  assert.match(r.error, /^ERR unknown command/);
});
