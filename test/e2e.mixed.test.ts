/**
 * The seed scenario with a mixed workload: a real redis-server master under 14 concurrent
 * redis-benchmark processes (-r 1000 -P 16 -c 2, throttled) sending cross-shard commands (RENAME, SMOVE, LMOVE,
 * ZUNIONSTORE, BITOP over untagged keys and over hash-tagged keys on one shard) next to the writes that
 * feed them (MSET, INCR, HSET, ZADD, SADD, LPUSH, SETBIT), plus FLUSHALL every 100 ms, for E2E_SECONDS
 * (default 8). Throughout, the replica must answer PING within 200 ms (max printed) and must not halt
 * (a halt fails at once with its reason). Then a short tail without flushes lets the keyspace grow,
 * and once the replica reached the master's offset every key of every db must be equal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { Client, infoField } from './helpers/redis.js';
import { withPair, type Pair } from './helpers/pair.js';
import { assertSameKeyspace } from './helpers/keyspace.js';
import { catchUp, haltOf } from './helpers/commandgen.js';

const TRACE = process.env.E2E_TRACE === '1';   // prints PING latency and replica lag over time
const SECONDS = Number(process.env.E2E_SECONDS ?? 8);
const TAIL_MS = 1500;
const WORKERS = 3;
const PIPELINE = process.env.E2E_PIPELINE ?? '16';
/**
 * Fraction of each 200 ms period a benchmark runs (SIGCONT … SIGSTOP). Unthrottled, 14 of them at
 * -P 16 saturate the master (~8 MB/s of stream, even at a 10% duty) and keep ~16 processes runnable
 * on 2 shared cores: more than a replica applies in a test's time, and PING then measures the
 * scheduler more than the replica.
 */
const DUTY = Number(process.env.E2E_DUTY ?? 0.05);

/**
 * One redis-benchmark per command (it takes a single custom command); each __rand_int__ is drawn anew
 * (12 digits, zero-padded). redis-benchmark exits on the first error reply, so every command here
 * must always succeed: RENAME of a missing key runs inside a script that checks first (the master
 * propagates the script's RENAME alone), INCR has its own keys, SETBIT a fixed offset.
 */
const RENAME_IF_EXISTS = "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('RENAME', KEYS[1], KEYS[2]) end return 0";
const WORKLOAD: string[][] = [
  ['MSET', 'k:__rand_int__', 'v', 'k:__rand_int__', '__rand_int__', '{k}__rand_int__', 'x'],
  ['INCR', 'n:__rand_int__'],
  ['EVAL', RENAME_IF_EXISTS, '2', 'k:__rand_int__', 'k:__rand_int__'],
  ['EVAL', RENAME_IF_EXISTS, '2', '{k}__rand_int__', '{k}__rand_int__'],
  ['SADD', 's:__rand_int__', 'm:__rand_int__'],
  ['SMOVE', 's:__rand_int__', 's:__rand_int__', 'm:__rand_int__'],
  ['LPUSH', 'l:__rand_int__', '__rand_int__'],
  ['LMOVE', 'l:__rand_int__', 'l:__rand_int__', 'LEFT', 'RIGHT'],
  ['ZADD', 'z:__rand_int__', '__rand_int__', 'm:__rand_int__'],
  ['ZUNIONSTORE', 'z:__rand_int__', '2', 'z:__rand_int__', 'z:__rand_int__', 'WEIGHTS', '1', '2'],
  ['ZUNIONSTORE', '{z}__rand_int__', '2', '{z}__rand_int__', 'z:__rand_int__', 'AGGREGATE', 'MAX'],
  ['HSET', 'h:__rand_int__', 'f:__rand_int__', '__rand_int__'],
  ['SETBIT', 'b:__rand_int__', '100', '1'],
  ['BITOP', 'OR', 'b:__rand_int__', 'b:__rand_int__', 'b:__rand_int__'],
];

interface Bench { cmd: string[]; proc: ChildProcess; stderr: string }

/** E2E_WORKLOAD: a regex over the commands (joined by spaces) to run only some of them, for diagnosis. */
const SELECTED = process.env.E2E_WORKLOAD ? WORKLOAD.filter((c) => new RegExp(process.env.E2E_WORKLOAD!, 'i').test(c.join(' '))) : WORKLOAD;

function benchmark(port: number, cmd: string[]): Bench {
  const proc = spawn('redis-benchmark', ['-p', String(port), '-q', '-l', '-n', '1000000000', '-r', '1000', '-P', PIPELINE, '-c', '2', ...cmd],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  // Stopped at once when throttled (the throttle resumes it in its slots): spawning the others takes
  // long enough for an unthrottled benchmark to put megabytes in the stream.
  if (DUTY < 1) proc.kill('SIGSTOP');
  const b: Bench = { cmd, proc, stderr: '' };
  proc.stderr!.on('data', (d) => { b.stderr += d; });
  return b;
}

/**
 * Runs each benchmark DUTY of every 200 ms (2 ms slots) and keeps it stopped (SIGSTOP) the rest, the
 * phases staggered so about DUTY × N run at any moment. The switching runs in a child process: timers
 * on this event loop (the replica's main thread) would stall exactly when the replica is busiest.
 * SIGTERM resumes them all; if this process dies (stdin closes) the child kills them.
 */
const THROTTLE = `const [duty, ...pids] = process.argv.slice(1).map(Number); const on = pids.map(() => false); let t = 0;
const all = (sig) => { for (const p of pids) { try { process.kill(p, sig); } catch {} } };
setInterval(() => { t = (t + 1) % 100; pids.forEach((p, i) => { const want = (t - Math.floor(i * 100 / pids.length) + 100) % 100 < Math.max(1, duty * 100);
  if (want !== on[i]) { try { process.kill(p, want ? 'SIGCONT' : 'SIGSTOP'); } catch {} on[i] = want; } }); }, 2);
process.on('SIGTERM', () => { all('SIGCONT'); process.exit(0); });
process.stdin.on('end', () => { all('SIGKILL'); process.exit(0); }).resume();`;

function throttle(bs: Bench[]): () => Promise<void> {
  if (DUTY >= 1) return async () => undefined;
  const child = spawn(process.execPath, ['-e', THROTTLE, String(DUTY), ...bs.map((b) => String(b.proc.pid))], { stdio: ['pipe', 'ignore', 'ignore'] });
  return () => new Promise((res) => {
    if (child.exitCode !== null) return res();
    child.once('exit', () => res());
    child.kill('SIGTERM');
  });
}

/** Stops every benchmark; returns the ones that had already exited (their load stopped early). */
async function stopAll(bs: Bench[]): Promise<Bench[]> {
  const early = bs.filter((b) => b.proc.exitCode !== null || b.proc.signalCode !== null);
  await Promise.all(bs.filter((b) => !early.includes(b)).map((b) => new Promise((res) => { b.proc.once('exit', res); b.proc.kill('SIGKILL'); })));
  return early;
}

/** Load + FLUSHALL every 100 ms for `ms`, probing the replica's PING latency and watching for a halt. */
async function underLoad(x: Pair, ms: number): Promise<{ maxPingMs: number; pings: number; flushes: number }> {
  const deadline = Date.now() + ms;
  let flushes = 0;
  let stop = false;
  const flusher = (async () => {
    const fc = await Client.connect(x.master.port);
    try {
      while (!stop && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 100));
        await fc.call('FLUSHALL');
        flushes++;
      }
    } finally { fc.close(); }
  })();
  const probe = await Client.connect(x.replica.port);
  let maxPingMs = 0, pings = 0;
  try {
    while (Date.now() < deadline) {
      const t0 = performance.now();
      assert.deepEqual(await probe.call('PING'), { ok: 'PONG' });
      const dt = performance.now() - t0;
      maxPingMs = Math.max(maxPingMs, dt);
      if (TRACE && dt > 100) process.stdout.write(`# t=${Date.now() - deadline + ms} slow ping=${dt.toFixed(0)}\n`);
      pings++;
      if (pings % 5 === 0) {
        const halt = await haltOf(probe);
        if (halt) throw new Error(halt);
        if (TRACE) {
          const [mo, ro] = [await infoField(x.m, 'replication', 'master_repl_offset'), await infoField(probe, 'replication', 'slave_repl_offset')];
          process.stdout.write(`# t=${Date.now() - deadline + ms} ping=${(performance.now() - t0).toFixed(0)} lag=${Number(mo) - Number(ro)}\n`);
        }
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  } finally {
    stop = true;
    probe.close();
    await flusher;
  }
  return { maxPingMs, pings, flushes };
}

test(`mixed cross-shard workload (${SELECTED.length} redis-benchmarks) + FLUSHALL every 100 ms for ${SECONDS}s`, { timeout: 120_000 },
  () => withPair({ workers: WORKERS }, async (run) => {
    const t0 = Date.now();
    const loads = SELECTED.map((c) => benchmark(run.master.port, c));
    const unthrottle = throttle(loads);
    let stats: Awaited<ReturnType<typeof underLoad>>;
    let early: Bench[] = [];
    try {
      stats = await underLoad(run, SECONDS * 1000);
      process.stdout.write(`# mixed: pings=${stats.pings} maxPingMs=${stats.maxPingMs.toFixed(1)} flushes=${stats.flushes}\n`);
      assert.ok(stats.flushes >= SECONDS * 5, `only ${stats.flushes} flushes ran`);
      // A tail without flushes, so the final comparison covers every type.
      await new Promise((res) => setTimeout(res, TAIL_MS));
    } finally {
      await unthrottle();
      early = await stopAll(loads);
    }
    assert.deepEqual(early.map((b) => `${b.cmd[0]}: ${b.stderr.trim()}`), [], 'these redis-benchmarks stopped early');
    const offset = await catchUp(run.m, run.r, 40_000);
    const keys = await assertSameKeyspace(run.m, run.r);
    const info = async (f: string) => infoField(run.r, 'applier', f);
    process.stdout.write(`# mixed: workers=${WORKERS} offset=${offset} keysCompared=${keys} commands=${await info('commands_routed')} exchanges=${await info('exchanges')} ` +
      `splits=${await info('cross_shard_splits')} failed=${await info('ops_failed_ignored')} (${Date.now() - t0} ms)\n`);
    assert.ok(stats.maxPingMs < 200, `PING took ${stats.maxPingMs.toFixed(1)} ms`);
    assert.ok(keys > 1000, `only ${keys} keys compared`);
    assert.ok(Number(await info('exchanges')) > 1000, 'few cross-shard exchanges ran');
    assert.equal(await info('ops_failed_ignored'), '0', 'replicated writes failed on the replica');
  }));
