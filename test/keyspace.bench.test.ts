/**
 * Throughput measurement (printed, not asserted beyond sanity): applied SETs/s and HSETs/s through
 * ShardStore.applyWrite with a group commit every 1000 commands, as the applier does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestStore } from './keyspace.helpers.js';

const GROUP = 1000;

async function run(label: string, n: number, make: (i: number) => Buffer[]): Promise<number> {
  const s = await TestStore.create('bench');
  try {
    const cmds = Array.from({ length: n }, (_, i) => make(i));   // built up front: measure the store only
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) {
      const r = s.store.applyWrite(0, cmds[i]);
      if (r) await r;
      if ((i + 1) % GROUP === 0) { s.store.setApplied(i + 1); await s.store.commit(); }
    }
    await s.store.commit();
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    const rate = Math.round(n / secs);
    console.log(`# ${label}: ${n} commands in ${secs.toFixed(2)} s = ${rate.toLocaleString('en')} /s (group commit ${GROUP})`);
    assert.equal(s.store.state.offset, n - (n % GROUP));
    return rate;
  } finally {
    await s.destroy();
  }
}

const a = (...x: string[]) => x.map((v) => Buffer.from(v));

test('throughput: SET and HSET with group commits of 1000', { timeout: 60_000 }, async () => {
  const N = 200_000;
  // random-ish keys over a 100k keyspace, 16-byte values
  const key = (i: number) => `key:${(i * 7919) % 100_000}`;
  const setRate = await run('SET k v (100k keys)', N, (i) => a('set', key(i), `value-${i}`.padEnd(16, '.')));
  // 10k hashes of ~20 fields each (inline layout)
  const hsetRate = await run('HSET h f v (10k small hashes)', N, (i) => a('hset', `h:${(i * 7919) % 10_000}`, `f${i % 20}`, `v${i}`));
  // 10 big hashes (per-member layout)
  const bigRate = await run('HSET h f v (10 big hashes)', N, (i) => a('hset', `big:${i % 10}`, `f${i}`, `v${i}`));
  assert.ok(setRate > 1000 && hsetRate > 1000 && bigRate > 1000);
});
