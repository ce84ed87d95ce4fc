/**
 * The seed scenario (the one that froze Pika 3.5.2 replicas): a real redis-server master under
 * redis-benchmark ZADD load over 100k keys with pipelining, FLUSHALL / FLUSHDB every 100 ms, for
 * E2E_SECONDS (default 10). Throughout, the replica must answer PING within 200 ms and serve reads;
 * afterwards its whole keyspace must equal the master's and its slave_repl_offset the master's
 * master_repl_offset. A second run does the same with mixed traffic of every type over several dbs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Client, infoField, waitFor } from './helpers/redis.js';
import { withPair, type Pair } from './helpers/pair.js';
import { assertSameKeyspace } from './helpers/keyspace.js';

const SECONDS = Number(process.env.E2E_SECONDS ?? 10);


function benchmark(port: number, args: string[]): ChildProcess {
  return spawn('redis-benchmark', ['-p', String(port), '-q', '-l', ...args], { stdio: 'ignore' });
}

type Run = Pair;

/** Runs load + periodic flushes for SECONDS while probing the replica; returns the probe stats. */
async function underLoad(x: Run, loads: ChildProcess[], flushCmds: string[][]): Promise<{ maxPingMs: number; pings: number; reads: number }> {
  const deadline = Date.now() + SECONDS * 1000;
  let flushes = 0;
  const flusher = (async () => {
    const fc = await Client.connect(x.master.port);
    while (Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 100));
      await fc.call(...flushCmds[flushes++ % flushCmds.length]);
    }
    fc.close();
  })();
  let maxPingMs = 0, pings = 0, reads = 0;
  const probe = await Client.connect(x.replica.port);
  try {
  while (Date.now() < deadline) {
    const t0 = performance.now();
    const pong = await probe.call('PING');
    const dt = performance.now() - t0;
    assert.deepEqual(pong, { ok: 'PONG' });
    maxPingMs = Math.max(maxPingMs, dt);
    pings++;
    const size = await probe.call('DBSIZE');
    assert.equal(typeof size, 'number');
    const z = await probe.call('ZCARD', 'zs:000000000001');
    assert.equal(typeof z, 'number');
    reads += 2;
    await new Promise((res) => setTimeout(res, 50));
  }
  } finally {
    probe.close();
    for (const l of loads) l.kill('SIGKILL');
    await flusher.catch(() => undefined);
  }
  assert.ok(flushes >= SECONDS * 5, `only ${flushes} flushes ran`);
  return { maxPingMs, pings, reads };
}

async function converge(x: Run): Promise<void> {
  const target = Number(await infoField(x.m, 'replication', 'master_repl_offset'));
  await waitFor(`replica offset ${target}`, async () => Number(await infoField(x.r, 'replication', 'slave_repl_offset')) >= target, 120000);
  // Nothing more arrives (the master only adds pings every 10 s): offsets are equal.
  const mo = Number(await infoField(x.m, 'replication', 'master_repl_offset'));
  await waitFor('offsets equal', async () => Number(await infoField(x.r, 'replication', 'slave_repl_offset')) === mo, 30000);
}

const withRun = (workers: number, body: (x: Run) => Promise<void>): Promise<void> => withPair({ workers }, body);

test(`seed scenario: ZADD load over 100k keys + FLUSHALL/FLUSHDB every 100 ms for ${SECONDS}s`, { timeout: 300_000 }, () => withRun(2, async (run) => {
  const load = benchmark(run.master.port, ['-n', '100000000', '-r', '100000', '-P', '16', '-c', '4',
    'ZADD', 'zs:__rand_int__', '__rand_int__', 'm:__rand_int__']);
  const stats = await underLoad(run, [load], [['FLUSHALL'], ['FLUSHDB'], ['FLUSHALL', 'ASYNC'], ['FLUSHDB', 'SYNC']]);
  assert.ok(stats.maxPingMs < 200, `PING took ${stats.maxPingMs.toFixed(1)} ms`);
  await converge(run);
  const keys = await assertSameKeyspace(run.m, run.r);
  const barriers = Number(await infoField(run.r, 'applier', 'barriers'));
  assert.ok(barriers >= SECONDS * 5, `replica saw ${barriers} barriers`);
  process.stdout.write(`# seed: pings=${stats.pings} maxPingMs=${stats.maxPingMs.toFixed(1)} keysAtEnd=${keys} barriers=${barriers}\n`);
}));

test(`mixed traffic of every type over 4 dbs + FLUSHALL every 100 ms for ${SECONDS}s`, { timeout: 300_000 }, () => withRun(3, async (run) => {
  const p = run.master.port;
  const gen = (seed: number, seconds: number, rate: number) => spawn(process.execPath,
    [new URL('./helpers/loadgen.js', import.meta.url).pathname, String(p), String(seed), String(seconds), String(rate)], { stdio: 'ignore' });
  const loads = [gen(1, SECONDS + 5, 15000), gen(2, SECONDS + 5, 15000)];
  const stats = await underLoad(run, loads, [['FLUSHALL']]);
  assert.ok(stats.maxPingMs < 200, `PING took ${stats.maxPingMs.toFixed(1)} ms`);
  // Let the keyspace grow without flushes so the comparison covers every type, then converge.
  const tail = [gen(3, 3, 20000), gen(4, 3, 20000)];
  await Promise.all(tail.map((t) => new Promise((res) => t.once('exit', res))));
  await converge(run);
  const keys = await assertSameKeyspace(run.m, run.r);
  assert.ok(keys > 500, `only ${keys} keys compared`);
  process.stdout.write(`# mixed: pings=${stats.pings} maxPingMs=${stats.maxPingMs.toFixed(1)} keysCompared=${keys}\n`);
}));
