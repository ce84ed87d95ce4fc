/**
 * Keyspace fan-out: SCAN (global cursor over sharded cursors), KEYS, MGET, EXISTS, DBSIZE, and the
 * SCAN cursor table. Property tests drive KeyspaceReader directly; one test goes through the server.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { KeyspaceReader } from '../src/server/keyspace.js';
import { ScanCursorTable, isValidCursor, canonicalCursor } from '../src/server/scan-cursors.js';
import { globToRegExp } from '../src/server/config-get.js';
import { keyspaceFields } from '../src/server/info.js';
import { FakeBackend, RawClient, startServer, type Reply } from './server.helpers.js';

const B = (s: string): Buffer => Buffer.from(s);

/** Runs a full SCAN iteration; returns the keys seen (with repeats) and the number of calls. */
async function fullScan(ks: KeyspaceReader, db: number, extra: string[] = []): Promise<{ keys: string[]; calls: number }> {
  let cursor = '0';
  const keys: string[] = [];
  let calls = 0;
  do {
    const r = await ks.scan(db, [B('SCAN'), B(cursor), ...extra.map(B)]) as [Buffer, Buffer[]];
    assert.ok(Array.isArray(r), `SCAN failed: ${JSON.stringify(r)}`);
    cursor = r[0].toString();
    for (const k of r[1]) keys.push(k.toString());
    if (++calls > 10_000) throw new Error('SCAN does not terminate');
  } while (cursor !== '0');
  return { keys, calls };
}

describe('SCAN across shards', () => {
  test('every key exactly once across 4 shards with COUNT 3 (through the server)', async () => {
    const backend = new FakeBackend(4);
    const names = Array.from({ length: 103 }, (_, i) => `user:${i}`);
    for (const k of names) backend.set(k, 'v');
    const shardsUsed = new Set(names.map((k) => backend.shardOf(B(k))));
    assert.equal(shardsUsed.size, 4);
    const { server, port } = await startServer(backend);
    const c = await RawClient.connect(port);
    try {
      let cursor = '0';
      const seen: string[] = [];
      let calls = 0;
      do {
        const r = await c.call('SCAN', cursor, 'COUNT', '3') as [Buffer, Buffer[]];
        cursor = r[0].toString();
        assert.ok(r[1].length <= 6, `COUNT 3 honoured roughly (got ${r[1].length})`);
        seen.push(...r[1].map((k) => k.toString()));
        calls++;
      } while (cursor !== '0');
      assert.deepEqual([...seen].sort(), [...names].sort());
      assert.equal(new Set(seen).size, seen.length, 'no key twice');
      assert.ok(calls >= 103 / 6, `iteration took ${calls} calls`);
      // MATCH narrows; the shards see the pattern.
      const m = await c.call('SCAN', '0', 'MATCH', 'user:1?', 'COUNT', '1000') as [Buffer, Buffer[]];
      assert.equal(m[0].toString(), '0');
      assert.deepEqual(m[1].map(String).sort(), names.filter((k) => /^user:1\d$/.test(k)).sort());
      // Errors as Redis words them.
      assert.deepEqual(await c.call('SCAN', 'abc'), { error: 'ERR invalid cursor' });
      assert.deepEqual(await c.call('SCAN', '0', 'COUNT', '0'), { error: 'ERR syntax error' });
      assert.deepEqual(await c.call('SCAN', '0', 'COUNT', 'x'), { error: 'ERR value is not an integer or out of range' });
      assert.deepEqual(await c.call('SCAN', '0', 'FOO', 'x'), { error: 'ERR syntax error' });
      assert.deepEqual(await c.call('SCAN', '0', 'COUNT'), { error: 'ERR syntax error' });
      // KEYS, DBSIZE, MGET and EXISTS fan out and reassemble.
      const keys = await c.call('KEYS', 'user:*') as Buffer[];
      assert.deepEqual(keys.map(String).sort(), [...names].sort());
      assert.equal(await c.call('DBSIZE'), 103);
      backend.set('user:5', 'five');
      const mget = await c.call('MGET', 'user:5', 'nope', 'user:6', 'user:5') as Reply[];
      assert.deepEqual(mget, [B('five'), null, B('v'), B('five')]);
      assert.equal(await c.call('EXISTS', 'user:1', 'user:2', 'x', 'user:1'), 3);
    } finally {
      c.close();
      await server.close();
    }
  });

  test('property: any key set, shard count and COUNT → each key once, cursor ends at 0', async () => {
    await fc.assert(fc.asyncProperty(
      fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 60 }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 7 }),
      async (names, shards, count) => {
        const backend = new FakeBackend(shards);
        for (const k of names) backend.set(k, 'v');
        const ks = new KeyspaceReader(backend);
        const { keys, calls } = await fullScan(ks, 0, ['COUNT', String(count)]);
        assert.deepEqual([...keys].sort(), [...names].sort());
        assert.ok(calls <= Math.ceil(names.length / count) + shards + 1);
        const dbsize = await ks.dbsize(0, [B('DBSIZE')]);
        assert.equal(dbsize, names.length);
      },
    ), { numRuns: 150 });
  });

  test('property: MGET / EXISTS reassemble in request order for any key list', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.string({ minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 30 }),
      fc.array(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 30 }),
      fc.integer({ min: 1, max: 5 }),
      async (query, present, shards) => {
        const backend = new FakeBackend(shards);
        for (const k of present) backend.set(k, `v:${k}`);
        const ks = new KeyspaceReader(backend);
        const mget = await ks.mget(0, [B('MGET'), ...query.map(B)]) as Array<Buffer | null>;
        assert.deepEqual(mget.map((v) => (v === null ? null : v.toString())), query.map((k) => (present.includes(k) ? `v:${k}` : null)));
        const exists = await ks.exists(0, [B('EXISTS'), ...query.map(B)]);
        assert.equal(exists, query.filter((k) => present.includes(k)).length);
      },
    ), { numRuns: 150 });
  });

  test('concurrent iterations do not disturb each other; a lost cursor restarts from the beginning', async () => {
    const backend = new FakeBackend(3);
    const names = Array.from({ length: 40 }, (_, i) => `k${i}`);
    for (const k of names) backend.set(k, 'v');
    const ks = new KeyspaceReader(backend, 2);  // a tiny cursor table
    const [a, b] = await Promise.all([fullScan(ks, 0, ['COUNT', '4']), fullScan(ks, 0, ['COUNT', '5'])]);
    assert.deepEqual(a.keys.sort(), [...names].sort());
    assert.deepEqual(b.keys.sort(), [...names].sort());
    // Cursor 123456 was never issued: the walk restarts at shard 0.
    const r = await ks.scan(0, [B('SCAN'), B('123456'), B('COUNT'), B('1000')]) as [Buffer, Buffer[]];
    assert.equal(r[0].toString(), '0');
    assert.equal(r[1].length, 40);
  });

  test('scan on an empty keyspace and a shard error', async () => {
    const backend = new FakeBackend(4);
    const ks = new KeyspaceReader(backend);
    assert.deepEqual(await ks.scan(0, [B('SCAN'), B('0')]), [B('0'), []]);
    assert.deepEqual(await ks.keys(0, [B('KEYS'), B('*')]), []);
    backend.read = async () => ({ error: 'ERR boom' });
    assert.deepEqual(await ks.scan(0, [B('SCAN'), B('0')]), { error: 'ERR boom' });
    assert.deepEqual(await ks.dbsize(0, [B('DBSIZE')]), { error: 'ERR boom' });
    backend.read = async () => 'garbage';
    assert.match((await ks.dbsize(0, [B('DBSIZE')]) as { error: string }).error, /malformed DBSIZE reply/);
  });
});

describe('scan cursor table', () => {
  test('LRU: the oldest cursor falls out, a used one stays', () => {
    const t = new ScanCursorTable(2);
    const c1 = t.issue({ shard: 1, shardCursor: B('10') });
    const c2 = t.issue({ shard: 2, shardCursor: B('20') });
    assert.equal(t.resolve(c1).shard, 1);  // c1 becomes most recent
    const c3 = t.issue({ shard: 3, shardCursor: B('30') });  // evicts c2
    assert.equal(t.size, 2);
    assert.equal(t.resolve(c2).shard, 0);
    assert.equal(t.resolve(c1).shard, 1);
    assert.equal(t.resolve(c3).shardCursor.toString(), '30');
    assert.notEqual(c1, '0');
  });

  test('cursor validation', () => {
    for (const ok of ['0', '7', '18446744073709551615', '0007']) assert.ok(isValidCursor(ok), ok);
    for (const bad of ['', '-1', 'x', '1.5', '18446744073709551616', '1 ']) assert.ok(!isValidCursor(bad), bad);
    assert.equal(canonicalCursor('0007'), '7');
    assert.equal(canonicalCursor('000'), '0');
  });
});

describe('helpers', () => {
  test('glob patterns match like Redis', () => {
    const cases: Array<[string, string, boolean]> = [
      ['*', '', true], ['a*', 'abc', true], ['a?c', 'abc', true], ['a?c', 'ac', false], ['[ab]x', 'bx', true],
      ['[^ab]x', 'bx', false], ['[a-c]', 'b', true], ['[c-a]', 'b', true], ['\\*', '*', true], ['\\*', 'a', false],
      ['h.llo', 'hallo', false], ['(x)', '(x)', true], ['user:1?', 'user:12', true],
    ];
    for (const [p, s, want] of cases) assert.equal(globToRegExp(p).test(s), want, `${p} vs ${s}`);
    assert.ok(globToRegExp('DATA*', true).test('databases'));
  });

  test('keyspace sums shards per db and skips empty dbs', () => {
    assert.deepEqual(keyspaceFields([[[0, 3, 1], [2, 1, 0]], [[0, 4, 2]], 'bad', [[1, 0, 0], ['x', 1, 1]]]),
      [['db0', 'keys=7,expires=3,avg_ttl=0'], ['db2', 'keys=1,expires=0,avg_ttl=0']]);
  });
});
