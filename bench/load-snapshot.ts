/**
 * Snapshot-load bench: a seeded snapshot of mixed types (lib/snapshot-keys.ts, made by a throwaway
 * redis-server and cached under os.tmpdir(), lib/snapshot-gen.ts) is served by a stand-in master to
 * parareplica and, in the same run, to a real redis-server replica, both child processes
 * (lib/snapshot-runs.ts). Prints keys/s, MB/s (10^6 bytes of RDB per second) and peak RSS of each.
 *
 *   npm run build && npm run bench:load
 *   node dist/bench/load-snapshot.js --keys 50000 --strings-only --workers 2 --seed 1
 *   flags: --keys N (1000000)  --workers W (2)  --seed S (1)  --big M (200000: members of the huge
 *          zset and list, M/2 for the huge hash and set; 0: none)  --diskless ($EOF: framing)
 *          --strings-only (string keys only, no huge keys)  --skip-redis  --skip-parareplica
 *          --samples K (1000 keys checked per replica, plus the huge ones)  --timeout SECONDS (1800, per run)
 *
 * Timing: from the stand-in writing the payload header to the replica's INFO showing the sync done
 * (master_link_status:up, master_sync_in_progress:0, loading:0), polled every 20 ms.
 *
 * Output: progress on stderr; ONE JSON object on stdout:
 *   { bench, snapshot: { bytes, keys, path, cached, counts, withTtl, … }, workers, diskless,
 *     parareplica: { seconds, keysPerSec, mbPerSec, peakRssBytes, memAllocator, rssMiBByQuarter (highest RSS
 *       in each quarter of the load), verified, cpuSeconds, … } | { error } | null,
 *     redis: { …same… } | { error } | null, ratio: parareplica.keysPerSec / redis.keysPerSec, verified }
 * `verified`: every replica that ran has DBSIZE = the snapshot's key count and the generator's TYPE,
 * PEXPIRETIME, length and content digest for every sampled key. Exit code 1 when a run failed or a
 * check did not pass.
 */
import { spawnSync } from 'node:child_process';
import { numberFlags } from './lib/measure.js';
import { ensureSnapshot } from './lib/snapshot-gen.js';
import { loadParareplica, loadRedis, type LoadOptions, type LoadResult } from './lib/snapshot-runs.js';

const log = (msg: string): void => { process.stderr.write(`# ${msg}\n`); };

type Outcome = LoadResult | { error: string } | null;

async function attempt(name: string, fn: () => Promise<LoadResult>): Promise<Outcome> {
  try {
    const r = await fn();
    log(`${name}: ${r.seconds} s, ${r.keysPerSec} keys/s, ${r.mbPerSec} MB/s, peak RSS ` +
      `${r.peakRssBytes === null ? '?' : Math.round(r.peakRssBytes / 2 ** 20)} MiB (${String(r.memAllocator)}; by quarter ` +
      `${(r.rssMiBByQuarter as unknown[]).join('/')} MiB), cpu ${String(r.cpuSeconds)} s, ` +
      `verified ${String(r.verified)}${r.verified ? '' : `: ${r.verification.mismatches.join('; ')}`}`);
    return r;
  } catch (e) {
    log(`${name}: FAILED: ${(e as Error).message}`);
    return { error: (e as Error).message };
  }
}

async function main(): Promise<number> {
  const f = numberFlags(process.argv.slice(2), {
    keys: 1_000_000, workers: 2, seed: 1, big: 200_000, diskless: 0, stringsOnly: 0, skipRedis: 0, skipParareplica: 0,
    samples: 1000, timeout: 1800,
  });
  if (!Number.isSafeInteger(f.keys) || f.keys < 1) throw new Error('--keys must be a positive integer');
  const have = (cmd: string): boolean => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
  if (!have('redis-server') || !have('redis-cli')) throw new Error('redis-server and redis-cli are needed (they make the snapshot)');
  const snap = await ensureSnapshot({ keys: f.keys, seed: f.seed, big: f.big, stringsOnly: f.stringsOnly !== 0, samples: f.samples }, log);
  log(`snapshot: ${snap.meta.bytes} bytes (${(snap.meta.bytes / 2 ** 20).toFixed(1)} MiB), ${snap.meta.keys} keys, ${snap.path}`);
  const o: LoadOptions = { workers: f.workers, diskless: f.diskless !== 0, timeoutMs: f.timeout * 1000, log };

  const ours: Outcome = f.skipParareplica ? null : await attempt('parareplica', () => loadParareplica(snap, o));
  const redis: Outcome = f.skipRedis ? null : await attempt('redis-server', () => loadRedis(snap, o));

  const ok = (x: Outcome): boolean => x === null || ('verified' in x && x.verified);
  const ratio = ours !== null && redis !== null && 'keysPerSec' in ours && 'keysPerSec' in redis
    ? Math.round((ours.keysPerSec / redis.keysPerSec) * 1000) / 1000 : null;
  const m = snap.meta;
  const out = {
    bench: 'load-snapshot',
    snapshot: { bytes: m.bytes, keys: m.keys, path: snap.path, cached: snap.cached, generateSeconds: m.generateSeconds,
      seed: m.spec.seed, big: m.spec.stringsOnly ? 0 : m.spec.big, stringsOnly: m.spec.stringsOnly, counts: m.counts,
      withTtl: m.withTtl, sampledKeys: m.samples.length, redisVersion: m.redisVersion },
    workers: f.workers,
    diskless: f.diskless !== 0,
    parareplica: ours,
    redis,
    ratio,
    verified: ok(ours) && ok(redis) && (ours !== null || redis !== null),
  };
  await new Promise<void>((resolve) => process.stdout.write(JSON.stringify(out) + '\n', () => resolve()));
  log(`ratio (parareplica keys/s ÷ redis keys/s) ${String(ratio)}, verified ${String(out.verified)}`);
  return out.verified ? 0 : 1;
}

// Turn signals into a normal exit so that 'exit' handlers (the child processes') run.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

main().then((code) => process.exit(code), (e: unknown) => {
  process.stderr.write(`load-snapshot: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(2);
});
