/**
 * Unit tests for the list commands on a real ShardStore (workers/t_list.ts, list_store.ts,
 * list_read.ts): layout boundaries, both ends, middle edits on the per-member layout, failures.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestStore } from './keyspace.helpers.js';
import { T_LIST } from '../workers/keyspace.js';

let t: TestStore;
before(async () => { t = await TestStore.create('list'); });
after(async () => { await t.destroy(); });

const str = (v: unknown): unknown =>
  Buffer.isBuffer(v) ? v.toString('latin1') : Array.isArray(v) ? v.map(str) : v;
const rd = async (...a: Array<string | number | Buffer>): Promise<unknown> => str(await t.r(...a));
const layout = (key: string): string => {
  const r = t.store.ref(0, Buffer.from(key));
  assert.equal(r.meta?.type, T_LIST);
  return r.meta!.version === 0 ? 'inline' : 'per-member';
};
async function atEveryLayer(check: () => Promise<void>): Promise<void> {
  await check();
  await t.store.commit();
  await check();
  await t.reopen();
  await check();
}
const range = (n: number, p = 'e'): string[] => Array.from({ length: n }, (_, i) => `${p}${i}`);

test('128 elements stay inline, the 129th converts; 64/65-byte elements', async () => {
  await t.w('rpush', 'b', ...range(128));
  assert.equal(layout('b'), 'inline');
  await t.w('lpush', 'b', 'first');
  assert.equal(layout('b'), 'per-member');
  await t.w('rpush', 'len', 'x'.repeat(64));
  assert.equal(layout('len'), 'inline');
  await t.w('lpush', 'len', 'y'.repeat(65));
  assert.equal(layout('len'), 'per-member');
  await t.w('lpush', 'len65', 'z'.repeat(65));
  assert.equal(layout('len65'), 'per-member');
  await atEveryLayer(async () => {
    assert.deepEqual(await rd('lrange', 'b', 0, -1), ['first', ...range(128)]);
    assert.equal(await rd('llen', 'b'), 129);
    assert.equal(await rd('lindex', 'b', -1), 'e127');
    assert.equal(await rd('lindex', 'b', 0), 'first');
    assert.equal(await rd('lindex', 'b', 129), null);
    assert.deepEqual(await rd('lrange', 'b', -3, 1000), ['e125', 'e126', 'e127']);
    assert.deepEqual(await rd('lrange', 'len', 0, -1), ['y'.repeat(65), 'x'.repeat(64)]);
    assert.deepEqual(await rd('lrange', 'len65', 0, -1), ['z'.repeat(65)]);
  });
});

for (const big of [false, true]) {
  const k = big ? 'endsB' : 'endsI';
  test(`push/pop at both ends, PUSHX, empty lists are deleted (${big ? 'per-member' : 'inline'})`, async () => {
    await t.w('lpushx', k, 'no');
    await t.w('rpushx', k, 'no');
    assert.deepEqual(await t.r('type', k), { status: 'none' });
    const n = big ? 200 : 10;
    await t.w('rpush', k, ...range(n));
    await t.w('lpush', k, 'a', 'b', 'c');                   // c b a e0 …
    await t.w('rpushx', k, 'z');
    await t.w('lpop', k);
    await t.w('rpop', k, 2);
    await t.w('lpop', k, 0);
    const want = ['b', 'a', ...range(n - 1)];
    await atEveryLayer(async () => {
      assert.deepEqual(await rd('lrange', k, 0, -1), want);
    });
    await t.w('rpop', k, 100000);
    assert.deepEqual(await t.r('type', k), { status: 'none' });
    await t.store.commit();
    assert.equal(await rd('llen', k), 0);
    await t.w('rpush', k, 'again');
    assert.deepEqual(await rd('lrange', k, 0, -1), ['again']);
  });
}

/** Apply a command to a JS model of one list, as Redis would. */
function model(list: string[], cmd: Array<string | number>): string[] {
  const [name, , ...a] = cmd;
  const out = [...list];
  switch (name) {
    case 'linsert': {
      const i = out.indexOf(String(a[1]));
      if (i >= 0) out.splice(a[0] === 'after' ? i + 1 : i, 0, String(a[2]));
      return out;
    }
    case 'lrem': {
      const count = Number(a[0]), v = String(a[1]);
      let n = count === 0 ? Infinity : Math.abs(count);
      if (count >= 0) {
        for (let i = 0; i < out.length && n > 0;) { if (out[i] === v) { out.splice(i, 1); n--; } else i++; }
      } else {
        for (let i = out.length - 1; i >= 0 && n > 0; i--) if (out[i] === v) { out.splice(i, 1); n--; }
      }
      return out;
    }
    case 'ltrim': {
      let s = Number(a[0]), e = Number(a[1]);
      const len = out.length;
      if (s < 0) s += len;
      if (e < 0) e += len;
      if (s < 0) s = 0;
      if (s > e || s >= len) return [];
      return out.slice(s, Math.min(e, len - 1) + 1);
    }
    case 'lset': {
      let i = Number(a[0]);
      if (i < 0) i += out.length;
      if (i >= 0 && i < out.length) out[i] = String(a[1]);
      return out;
    }
    default: throw new Error(String(name));
  }
}

test('middle edits on a per-member list (LINSERT, LREM, LSET, LTRIM) match a model', async () => {
  const base = Array.from({ length: 300 }, (_, i) => `v${i % 17}`);
  const cmds: Array<Array<string | number>> = [
    ['linsert', 'm', 'before', 'v0', 'H'],      // near the head: prefix rewrite
    ['linsert', 'm', 'after', 'v0', 'H2'],
    ['lrem', 'm', -1, 'v16'],                   // last v16 (near the tail: suffix rewrite)
    ['linsert', 'm', 'after', 'v16', 'T'],      // first v16 is near the head
    ['lrem', 'm', 2, 'v3'],
    ['lrem', 'm', -3, 'v5'],
    ['lrem', 'm', 0, 'v7'],
    ['lrem', 'm', 0, 'absent'],
    ['linsert', 'm', 'before', 'absent', 'X'],
    ['lset', 'm', -1, 'LAST'],
    ['lset', 'm', 150, 'MID'],
    ['lrem', 'm', 0, 'v1'],
    ['ltrim', 'm', 2, -3],                      // mostly kept: deletes at both ends
    ['linsert', 'm', 'before', 'LAST', 'Y'],    // near the tail: suffix rewrite
    ['ltrim', 'm', 100, 110],                   // few kept: rebuilt into a fresh layout
    ['lrem', 'm', 0, 'v2'],
  ];
  await t.w('rpush', 'm', ...base);
  let want = base;
  for (const [i, c] of cmds.entries()) {
    await t.w(...c);
    want = model(want, c);
    assert.deepEqual(await rd('lrange', 'm', 0, -1), want, `after ${c.join(' ')}`);
    if (i % 3 === 2) await t.store.commit();
  }
  await atEveryLayer(async () => { assert.deepEqual(await rd('lrange', 'm', 0, -1), want); });
  await t.w('ltrim', 'm', 5, 1);
  assert.deepEqual(await t.r('type', 'm'), { status: 'none' });
});

test('LSET / LPOP failures are counted and change nothing; WRONGTYPE', async () => {
  await t.w('rpush', 'f', 'a', 'b');
  await t.w('set', 'str', 'v');
  const failed = t.store.failedCommands;
  await t.w('lset', 'f', 2, 'x');
  await t.w('lset', 'f', -3, 'x');
  await t.w('lset', 'nokey', 0, 'x');
  await t.w('lset', 'f', 'x', 'x');
  await t.w('lpop', 'f', -1);
  await t.w('linsert', 'f', 'middle', 'a', 'x');
  await t.w('lpush', 'str', 'x');
  await t.w('rpop', 'str');
  await t.w('lrem', 'f', 'x', 'a');
  assert.equal(t.store.failedCommands, failed + 9);
  assert.deepEqual(await rd('lrange', 'f', 0, -1), ['a', 'b']);
  for (const cmd of [['lrange', 'str', 0, -1], ['llen', 'str'], ['lindex', 'str', 0], ['lpos', 'str', 'a']]) {
    assert.deepEqual(await t.r(...cmd), { error: 'WRONGTYPE Operation against a key holding the wrong kind of value' });
  }
});

for (const big of [false, true]) {
  test(`LPOS options (${big ? 'per-member' : 'inline'})`, async () => {
    const k = big ? 'posB' : 'posI';
    await t.w('rpush', k, 'a', 'b', 'c', 'a', 'b', 'c', 'a');
    if (big) await t.w('rpush', k, ...range(150, 'pad'));
    assert.equal(await rd('lpos', k, 'a'), 0);
    assert.equal(await rd('lpos', k, 'a', 'rank', -1), 6);
    assert.equal(await rd('lpos', k, 'a', 'rank', '-9223372036854775808'), 6);
    assert.deepEqual(await rd('lpos', k, 'a', 'count', 0), [0, 3, 6]);
    assert.deepEqual(await rd('lpos', k, 'a', 'rank', -1, 'count', 2), [6, 3]);
    assert.equal(await rd('lpos', k, 'a', 'rank', 2, 'maxlen', 4), 3);
    assert.equal(await rd('lpos', k, 'a', 'rank', 2, 'maxlen', 3), null);
    assert.equal(await rd('lpos', k, 'z'), null);
    assert.deepEqual(await rd('lpos', k, 'z', 'count', 0), []);
    assert.deepEqual(await rd('lpos', 'nokey', 'z', 'count', 0), []);
    assert.equal(await rd('lpos', 'nokey', 'z'), null);
    assert.deepEqual(await t.r('lpos', k, 'a', 'rank', 0), { error: "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list" });
    assert.deepEqual(await t.r('lpos', k, 'a', 'count', -1), { error: "ERR COUNT can't be negative" });
    assert.deepEqual(await t.r('lpos', k, 'a', 'maxlen', -1), { error: "ERR MAXLEN can't be negative" });
    assert.deepEqual(await t.r('lpos', k, 'a', 'count'), { error: 'ERR syntax error' });
    assert.deepEqual(await t.r('lindex', k, 'x'), { error: 'ERR value is not an integer or out of range' });
    assert.equal(await rd('lindex', 'nokey', 'x'), null);
  });
}

test('reads hide logically expired lists', async () => {
  await t.w('rpush', 'exp', 'a');
  await t.w('pexpireat', 'exp', 1000);
  assert.deepEqual(await t.rAt(1000, 'lrange', 'exp', 0, -1), [Buffer.from('a')]);
  assert.deepEqual(await t.rAt(1001, 'lrange', 'exp', 0, -1), []);
  assert.equal(await t.rAt(1001, 'llen', 'exp'), 0);
  assert.equal(await t.rAt(1001, 'lindex', 'exp', 0), null);
});
