/**
 * Throughput print-out (not asserted: the machine is shared): ZADD applied per second into a
 * ShardStore, with a commit every 1000 commands as the applier's group commit would do.
 *  1. one zset growing to 100k members (per-member layout after the 128th),
 *  2. 100k zsets of one member each (inline layout: one meta record per key).
 * A final check keeps the test honest: the data must be all there.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestStore } from './keyspace.helpers.js';

const N = 100_000;
const GROUP = 1000;
const stores: TestStore[] = [];
after(async () => { for (const s of stores) await s.destroy(); });

async function run(label: string, make: (i: number) => Buffer[]): Promise<TestStore> {
  const t = await TestStore.create('zbench');
  stores.push(t);
  const cmds = Array.from({ length: N }, (_, i) => make(i));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const p = t.store.applyWrite(0, cmds[i]);
    if (p) await p;
    if ((i + 1) % GROUP === 0) await t.store.commit();
  }
  await t.store.commit();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  console.log(`${label}: ${N} ZADD in ${s.toFixed(2)} s = ${Math.round(N / s)} ZADD/s`);
  return t;
}

const B = (s: string): Buffer => Buffer.from(s);
const ZADD = B('zadd');

test('ZADD/s: one 100k-member zset', async () => {
  const key = B('big');
  const t = await run('one zset, 100k members', (i) => [ZADD, key, B(String((i * 7919) % 100_003 / 7)), B(`member:${i}`)]);
  assert.equal(await t.r('zcard', 'big'), N);
  const last = await t.r('zrange', 'big', -1, -1) as Buffer[];
  assert.equal(last.length, 1);
});

test('ZADD/s: 100k single-member zsets', async () => {
  const t = await run('100k zsets, 1 member each', (i) => [ZADD, B(`z:${i}`), B(String(i)), B('m')]);
  assert.deepEqual((await t.r('zrange', `z:${N - 1}`, 0, -1, 'withscores') as Buffer[]).map(String), ['m', String(N - 1)]);
});
