/**
 * Replay bench: 1M ZADD over 100k keys (the seed scenario's load, without the flushes), fed to
 * parareplica and to a real redis-server replica through a stand-in master, in the same run.
 *
 *   npm run bench                                  # build, then the default sizes
 *   node dist/bench/replay-zadd.js --commands 100000 --keys 10000 --workers 2 --seed 1
 *   flags: --commands N (1000000)  --keys K (100000)  --workers W (CPU count)  --seed S (1)
 *          --redis 0 (skip the redis-server run)  --timeout SECONDS (600, per run)
 *
 * The stream is generated, not recorded: `SELECT 0` then N × `ZADD zs:<k> <score> m:<member>`, each
 * number a 12-digit zero-padded draw from [0, K) of a seeded xorshift32, i.e. exactly what a Redis 7
 * master propagates after a full sync for `redis-benchmark -r K ZADD zs:__rand_int__ __rand_int__
 * m:__rand_int__` (streamSha1 in the output identifies the bytes).
 *
 * Each replica is timed from the first stream byte the stand-in writes to the moment it reports the
 * whole stream applied (parareplica: ackOffset(), polled every 10 ms, the offset it would ACK, i.e.
 * committed to LevelDB by every shard; redis-server: INFO replication slave_repl_offset, polled every
 * 10 ms). Meanwhile a probe sends `ZCARD zs:<random>` every 5 ms to the replica and records latency.
 *
 * Output: progress on stderr; ONE JSON object on stdout:
 *   { bench, commands, keys, bytes, seed, workers, streamSha1,
 *     parareplica: { seconds, commandsPerSec, bytesPerSec, peakRssBytes, readP50Ms, readP99Ms, … },
 *     redis: { …same… } | null, ratio: parareplica.commandsPerSec / redis.commandsPerSec,
 *     verified, checks }
 * `verified` is true when every replica that ran has the model's DBSIZE and the model's exact
 * ZRANGE … WITHSCORES for the sampled keys (so their ZCARDs and DBSIZEs also agree with each other).
 * Exit code 1 when a run failed or a check did not pass.
 */
import os from 'node:os';
import { generateZaddStream, type ZaddStream } from './lib/zadd-stream.js';
import { numberFlags } from './lib/measure.js';
import { haveRedisServer, runLine, runParareplica, runRedis, type Check, type RunOptions, type RunResult } from './lib/runs.js';

const log = (msg: string): void => { process.stderr.write(`# ${msg}\n`); };

type Outcome = { result: RunResult; check: Check } | { error: string };

async function attempt(name: string, fn: () => Promise<{ result: RunResult; check: Check }>): Promise<Outcome> {
  try {
    const r = await fn();
    log(`${name}: ${r.result.seconds} s, ${r.result.commandsPerSec} commands/s, check ${r.check.ok ? 'ok' : 'FAILED'}`);
    return r;
  } catch (e) {
    log(`${name}: FAILED: ${(e as Error).message}`);
    return { error: (e as Error).message };
  }
}

function sameAcross(a: Check, b: Check): boolean {
  return a.dbsize === b.dbsize && a.zcards.length === b.zcards.length && a.zcards.every((z, i) => z === b.zcards[i]);
}

async function main(): Promise<number> {
  const f = numberFlags(process.argv.slice(2), {
    commands: 1_000_000, keys: 100_000, workers: os.availableParallelism(), seed: 1, redis: 1, timeout: 600,
  });
  const t0 = performance.now();
  const stream: ZaddStream = generateZaddStream({ commands: f.commands, keys: f.keys, seed: f.seed });
  log(`generated ${f.commands} ZADD over ${f.keys} keys: ${stream.bytes.length} bytes, ${stream.distinctKeys} distinct keys, ` +
    `in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  const opts: RunOptions = { workers: f.workers, seed: f.seed, timeoutMs: f.timeout * 1000, log };

  const ours = await attempt('parareplica', () => runParareplica(stream, opts));
  let redis: Outcome | null = null;
  if (f.redis && haveRedisServer()) redis = await attempt('redis-server', () => runRedis(stream, opts));
  else log(f.redis ? 'redis-server not on PATH: no comparison run' : 'redis-server run skipped (--redis 0)');

  const okOurs = 'check' in ours && ours.check.ok;
  const okRedis = redis === null || ('check' in redis && redis.check.ok);
  const agree = 'check' in ours && redis !== null && 'check' in redis ? sameAcross(ours.check, redis.check) : null;
  const ratio = 'result' in ours && redis !== null && 'result' in redis
    ? Math.round((ours.result.commandsPerSec / redis.result.commandsPerSec) * 1000) / 1000 : null;
  const checkOf = (o: Outcome | null): unknown => (o === null ? null : 'check' in o
    ? { ok: o.check.ok, dbsize: o.check.dbsize, zcards: o.check.zcards, mismatches: o.check.mismatches } : { error: o.error });

  const out = {
    bench: 'replay-zadd', commands: f.commands, keys: f.keys, bytes: stream.bytes.length, seed: f.seed, workers: f.workers,
    streamSha1: stream.sha1,
    parareplica: 'result' in ours ? ours.result : { error: ours.error },
    redis: redis === null ? null : 'result' in redis ? redis.result : { error: redis.error },
    ratio,
    verified: okOurs && okRedis && agree !== false,
    checks: { expectedDbsize: stream.distinctKeys, sampledKeys: stream.samples.map((x) => x.key),
      parareplica: checkOf(ours), redis: checkOf(redis), replicasAgree: agree },
  };
  await new Promise<void>((resolve) => process.stdout.write(JSON.stringify(out) + '\n', () => resolve()));
  log(runLine('parareplica', ours));
  log(runLine('redis-server', redis));
  log(`ratio ${String(ratio)}, verified ${String(out.verified)}`);
  return out.verified ? 0 : 1;
}

// Turn signals into a normal exit so that 'exit' handlers (the redis-server child's) run.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`replay-zadd: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(2);
});
