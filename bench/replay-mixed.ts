/**
 * Mixed replay bench: a generated Redis 7 replication stream of every type with ~5 % cross-shard
 * commands, MULTI/EXEC blocks, SELECTs and periodic FLUSHALL (lib/mixed-stream.ts), fed through a
 * stand-in master to parareplica and, in the same run, to a real redis-server replica.
 *
 *   npm run bench:mixed
 *   node dist/bench/replay-mixed.js --commands 500000 --keys 50000 --workers 2 --seed 1
 *   flags: --commands N (500000)  --keys K (50000)  --workers W (CPU count)  --seed S (1)
 *          --redis 0 (skip the redis-server run)  --cross F (0.05)  --flush-every N (100000, 0: never)
 *          --dbs D (4)  --timeout SECONDS (600, per run)
 *
 * Timing and probes as replay-zadd (lib/runs.ts): from the first stream byte to the moment the replica
 * reports the whole stream applied (parareplica: ackOffset(); redis-server: slave_repl_offset), both
 * polled every 10 ms, while `ZCARD zs:<random>` probes read latency every 5 ms. Then each replica's
 * whole keyspace (dbs 0..D-1: KEYS, TYPE, the value, PEXPIRETIME) is dumped and compared.
 *
 * Output: progress on stderr; ONE JSON object on stdout:
 *   { bench, commands, keys, bytes, seed, workers, streamSha1, crossCommands, crossSpanning, counts,
 *     parareplica: { seconds, commandsPerSec, bytesPerSec, cpuSeconds, peakRssBytes, readP50Ms, readP99Ms, …,
 *                    applier: { cross_shard_commands, exchanges, exchange_waits, exchange_wait_avg_us,
 *                               exchange_wait_p99_us, errors_skipped, ops_failed_ignored, … } },
 *     redis: { …same…, errorReplies } | null, ratio, verified, checks }
 * `verified`: parareplica's DBSIZEs equal the generator model's and (when redis-server ran) its dump
 * equals the real replica's key by key, and the real replica answered no stream command with an error.
 * Exit code 1 when a run failed or a check did not pass.
 */
import { createHash } from 'node:crypto';
import os from 'node:os';
import { Client } from '../test/helpers/redis.js';
import { generateMixedStream, type MixedStream } from './lib/mixed-stream.js';
import { XorShift32 } from './lib/zadd-stream.js';
import { infoNumber, numberFlags } from './lib/measure.js';
import { haveRedisServer, replayToParareplica, replayToRedis, runLine, timeout, type RunResult } from './lib/runs.js';

const log = (msg: string): void => { process.stderr.write(`# ${msg}\n`); };

interface Opts { workers: number; seed: number; timeoutMs: number }

/** A replica's keyspace: per-db DBSIZE and one line per key ("<db> <key>" → "<type> <value> <expire>"). */
interface Dump { dbsizes: number[]; keys: number; lines: Map<string, string>; sha1: string }

interface Run { result: RunResult; dump: Dump }

const APPLIER_FIELDS = ['cross_shard_commands', 'exchanges', 'exchange_waits', 'exchange_wait_avg_us', 'exchange_wait_p99_us',
  'errors_skipped', 'ops_failed_ignored', 'commands_routed', 'cross_shard_splits', 'transactions', 'barriers',
  'barrier_p50_ms', 'barrier_p99_ms', 'applier_halted'];

const asStr = (r: unknown): string => (Buffer.isBuffer(r) ? r.toString('latin1') : JSON.stringify(r));

async function dumpKeyspace(c: Client, dbs: number): Promise<Dump> {
  const lines = new Map<string, string>();
  const dbsizes: number[] = [];
  const h = createHash('sha1');
  for (let db = 0; db < dbs; db++) {
    await c.call('SELECT', db);
    dbsizes.push(Number(await c.call('DBSIZE')));
    const keys = ((await c.call('KEYS', '*')) as Buffer[]).map((b) => b.toString('latin1')).sort();
    for (let i = 0; i < keys.length; i += 2000) {
      const chunk = keys.slice(i, i + 2000);
      const types = (await c.pipeline(chunk.map((k) => ['TYPE', k]))).map((t) => (t as { ok?: string }).ok ?? asStr(t));
      const values = await c.pipeline(chunk.map((k, j) => {
        switch (types[j]) {
          case 'string': return ['GET', k];
          case 'hash': return ['HGETALL', k];
          case 'list': return ['LRANGE', k, '0', '-1'];
          case 'set': return ['SMEMBERS', k];
          case 'zset': return ['ZRANGE', k, '0', '-1', 'WITHSCORES'];
          default: return ['TYPE', k];
        }
      }));
      const exps = await c.pipeline(chunk.map((k) => ['PEXPIRETIME', k]));
      chunk.forEach((k, j) => {
        const v = values[j];
        let shown: string[] | string;
        if (!Array.isArray(v)) shown = asStr(v);
        else if (types[j] === 'set') shown = v.map(asStr).sort();
        else if (types[j] === 'hash') {
          const pairs: string[] = [];
          for (let x = 0; x + 1 < v.length; x += 2) pairs.push(`${asStr(v[x])}=${asStr(v[x + 1])}`);
          shown = pairs.sort();
        } else shown = v.map(asStr);
        const line = `${types[j]} ${JSON.stringify(shown)} exp:${asStr(exps[j])}`;
        lines.set(`${db} ${k}`, line);
        h.update(`${db}\0${k}\0${line}\n`, 'latin1');
      });
    }
  }
  await c.call('SELECT', 0);
  return { dbsizes, keys: lines.size, lines, sha1: h.digest('hex') };
}

/** Up to 5 differences between two dumps, as readable lines. */
function differences(a: Dump, b: Dump, an: string, bn: string): string[] {
  const out: string[] = [];
  const cut = (s: string | undefined): string => (s === undefined ? 'absent' : s.length > 160 ? s.slice(0, 160) + '…' : s);
  for (const [k, la] of a.lines) {
    const lb = b.lines.get(k);
    if (lb !== la && out.length < 5) out.push(`db/key ${k}: ${an} ${cut(la)} | ${bn} ${cut(lb)}`);
  }
  for (const k of b.lines.keys()) if (!a.lines.has(k) && out.length < 5) out.push(`db/key ${k}: ${an} absent | ${bn} ${cut(b.lines.get(k))}`);
  return out;
}

async function applierInfo(c: Client): Promise<Record<string, number | string>> {
  const r = await c.call('INFO', 'applier');
  const text = Buffer.isBuffer(r) ? r.toString('latin1') : '';
  const out: Record<string, number | string> = {};
  for (const f of APPLIER_FIELDS) {
    const m = text.match(new RegExp(`^${f}:(.*)$`, 'm'));
    if (m) { const v = m[1].trim(); out[f] = v !== '' && Number.isFinite(Number(v)) ? Number(v) : v; }
  }
  return out;
}

/** For a run that did not finish: the offsets and per-shard lines of INFO applier (or why not). */
async function stuckInfo(port: number): Promise<string> {
  try {
    const c = await Client.connect(port);
    try {
      const r = await timeout(c.call('INFO', 'applier'), 5000, 'INFO applier');
      const text = Buffer.isBuffer(r) ? r.toString('latin1') : JSON.stringify(r);
      return text.split('\r\n').filter((l) => /^(shard\d|ingested|routed|applied|routing_|exchange|pending_reads)/.test(l)).join(' ');
    } finally { c.close(); }
  } catch (e) {
    return `INFO applier failed: ${(e as Error).message}`;
  }
}

const probeKey = (s: MixedStream, seed: number): (() => string) => {
  const rng = new XorShift32(seed ^ 0x5bd1e995);
  return () => s.zsetKey(rng.below(s.keys));
};

/** Run A: parareplica in this process (so process CPU and RSS include the stand-in and the stream buffer). */
async function runOurs(s: MixedStream, o: Opts): Promise<Run> {
  const r = await replayToParareplica(s, o.workers, { timeoutMs: o.timeoutMs, log, probeKey: probeKey(s, o.seed) },
    async (c) => ({ extra: { applier: await applierInfo(c) }, value: await dumpKeyspace(c, s.dbs) }),
    (replica) => stuckInfo(replica.port));
  return { result: r.result, dump: r.value };
}

/** Run B: a real redis-server replica of a second stand-in serving the same bytes. */
async function runTheirs(s: MixedStream, o: Opts): Promise<Run> {
  const r = await replayToRedis(s, { timeoutMs: o.timeoutMs, log, probeKey: probeKey(s, o.seed) }, async (c, critical) => ({
    extra: { errorReplies: await infoNumber(c, 'stats', 'total_error_replies'), criticalLogLines: critical },
    value: await dumpKeyspace(c, s.dbs),
  }));
  return { result: r.result, dump: r.value };
}

type Outcome = Run | { error: string };

async function attempt(name: string, fn: () => Promise<Run>): Promise<Outcome> {
  try {
    const r = await fn();
    log(`${name}: ${r.result.seconds} s, ${r.result.commandsPerSec} commands/s, ${r.dump.keys} keys, dump ${r.dump.sha1}`);
    return r;
  } catch (e) {
    log(`${name}: FAILED: ${(e as Error).message}`);
    return { error: (e as Error).message };
  }
}

const sameSizes = (a: number[], b: number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

async function main(): Promise<number> {
  const f = numberFlags(process.argv.slice(2), {
    commands: 500_000, keys: 50_000, workers: os.availableParallelism(), seed: 1, redis: 1, cross: 0.05,
    flushEvery: 100_000, dbs: 4, timeout: 600,
  });
  const t0 = performance.now();
  const s = generateMixedStream({ commands: f.commands, keys: f.keys, seed: f.seed, cross: f.cross,
    flushEvery: f.flushEvery, dbs: f.dbs, shards: f.workers });
  log(`generated ${s.commands} commands over ${f.keys} keys × ${f.dbs} dbs: ${s.bytes.length} bytes, ${s.crossCommands} cross ` +
    `(${String(s.crossSpanning)} spanning ${f.workers} shards), model DBSIZEs ${s.dbsizes.join('/')}, ` +
    `in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
  const opts: Opts = { workers: f.workers, seed: f.seed, timeoutMs: f.timeout * 1000 };

  const ours = await attempt('parareplica', () => runOurs(s, opts));
  let redis: Outcome | null = null;
  if (f.redis && haveRedisServer()) redis = await attempt('redis-server', () => runTheirs(s, opts));
  else log(f.redis ? 'redis-server not on PATH: no comparison run' : 'redis-server run skipped (--redis 0)');

  const vsModel = (o: Outcome | null): boolean | null => (o === null ? null : 'dump' in o && sameSizes(o.dump.dbsizes, s.dbsizes));
  const both = 'dump' in ours && redis !== null && 'dump' in redis ? [ours.dump, redis.dump] as const : null;
  const agree = both === null ? null : both[0].sha1 === both[1].sha1;
  const redisErrors = redis !== null && 'result' in redis ? Number(redis.result.errorReplies) + Number(redis.result.criticalLogLines) : 0;
  const verified = vsModel(ours) === true && (redis === null || (vsModel(redis) === true && agree === true && redisErrors === 0));
  const ratio = 'result' in ours && redis !== null && 'result' in redis
    ? Math.round((ours.result.commandsPerSec / redis.result.commandsPerSec) * 1000) / 1000 : null;
  const checkOf = (o: Outcome | null): unknown => (o === null ? null : 'dump' in o
    ? { dbsizes: o.dump.dbsizes, keys: o.dump.keys, dumpSha1: o.dump.sha1, dbsizesMatchModel: vsModel(o) } : { error: o.error });

  const out = {
    bench: 'replay-mixed', commands: s.commands, keys: f.keys, dbs: f.dbs, bytes: s.bytes.length, seed: f.seed,
    workers: f.workers, cross: f.cross, flushEvery: f.flushEvery, streamSha1: s.sha1,
    crossCommands: s.crossCommands, crossSpanning: s.crossSpanning, counts: s.counts,
    parareplica: 'result' in ours ? ours.result : { error: ours.error },
    redis: redis === null ? null : 'result' in redis ? redis.result : { error: redis.error },
    ratio, verified,
    checks: { modelDbsizes: s.dbsizes, parareplica: checkOf(ours), redis: checkOf(redis), replicasAgree: agree,
      redisStreamErrors: redisErrors, differences: both === null || agree ? [] : differences(both[0], both[1], 'parareplica', 'redis') },
  };
  await new Promise<void>((resolve) => process.stdout.write(JSON.stringify(out) + '\n', () => resolve()));
  log(runLine('parareplica', ours));
  log(runLine('redis-server', redis));
  log(`ratio ${String(ratio)}, verified ${String(verified)}`);
  return verified ? 0 : 1;
}

// Turn signals into a normal exit so that 'exit' handlers (the redis-server child's) run.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`replay-mixed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(2);
});
