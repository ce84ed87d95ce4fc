/**
 * Makes (or finds cached) the snapshot of the snapshot-load bench: a throwaway redis-server
 * (`--save '' --appendonly no`, its own dir) is filled through `redis-cli --pipe` with the seeded key
 * plan of snapshot-keys.ts, checked (DBSIZE = keys, no error reply), the sampled keys are digested
 * (snapshot-check.ts), then SAVE writes dump.rdb, which is moved to the cache.
 *
 * Cache: <os.tmpdir()>/parareplica-snapshots/<tag>/{dump.rdb, meta.json}, tag = the parameters and a
 * plan version; meta.json is written last (atomically), so a directory without it is remade. A rerun
 * with the same parameters skips generation. redis-server's own RDB version / options are those of
 * the installed 7.0 (rdbcompression and rdbchecksum on by default).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, freePort } from '../../test/helpers/redis.js';
import { pollUntil } from './measure.js';
import { runPlan, type HugeKey, type SnapshotSpec } from './snapshot-keys.js';
import { digestAll, type KeyDigest } from './snapshot-check.js';

/** Bump when the plan (snapshot-keys.ts) changes, so that stale caches are not reused. */
const PLAN_VERSION = 2;

export interface SnapshotMeta {
  planVersion: number;
  spec: SnapshotSpec;
  bytes: number;
  keys: number;
  counts: Record<string, number>;
  withTtl: number;
  huge: HugeKey[];
  samples: KeyDigest[];
  redisVersion: string;
  generateSeconds: number;
}

export interface Snapshot { path: string; meta: SnapshotMeta; cached: boolean }

export function cacheDir(spec: SnapshotSpec): string {
  const tag = `v${PLAN_VERSION}-k${spec.keys}-s${spec.seed}-b${spec.stringsOnly ? 0 : spec.big}-${spec.stringsOnly ? 'strings' : 'mixed'}-n${spec.samples}`;
  return path.join(os.tmpdir(), 'parareplica-snapshots', tag);
}

async function cached(dir: string): Promise<Snapshot | null> {
  try {
    const meta = JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as SnapshotMeta;
    const file = path.join(dir, 'dump.rdb');
    if (meta.planVersion !== PLAN_VERSION || (await stat(file)).size !== meta.bytes) return null;
    return { path: file, meta, cached: true };
  } catch {
    return null;
  }
}

/** A child process's output, the last few KB of it, for error messages. */
function tail(p: ChildProcess): () => string {
  let out = '';
  const keep = (d: Buffer): void => { out = (out + d.toString()).slice(-4000); };
  p.stdout?.on('data', keep);
  p.stderr?.on('data', keep);
  return () => out;
}

function exitOf(p: ChildProcess): Promise<number | null> {
  return p.exitCode !== null || p.signalCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.once('exit', (code) => r(code)));
}

/** Pipes the plan into `redis-cli --pipe`; throws unless it reports every reply and no error. */
async function fillThroughPipe(port: number, spec: SnapshotSpec, log: (m: string) => void): ReturnType<typeof runPlan> {
  const cli = spawn('redis-cli', ['-h', '127.0.0.1', '-p', String(port), '--pipe'], { stdio: ['pipe', 'pipe', 'pipe'] });
  const out = tail(cli);
  const done = exitOf(cli);
  cli.stdin!.on('error', () => undefined);   // EPIPE if it dies: reported by the exit check
  let sent = 0;
  let lastLog = performance.now();
  const plan = await runPlan(spec, async (piece) => {
    sent += piece.length;
    if (performance.now() - lastLog > 5000) { lastLog = performance.now(); log(`generator: ${(sent / 2 ** 20).toFixed(0)} MiB of commands sent`); }
    if (cli.exitCode !== null || cli.signalCode !== null) throw new Error(`redis-cli --pipe exited early: ${out()}`);
    if (!cli.stdin!.write(piece)) {
      await new Promise<void>((resolve) => {
        const go = (): void => { cli.stdin!.off('drain', go); cli.off('exit', go); resolve(); };
        cli.stdin!.on('drain', go);
        cli.on('exit', go);
      });
    }
  });
  cli.stdin!.end();
  const code = await done;
  const m = out().match(/errors: (\d+), replies: (\d+)/);
  if (code !== 0 || !m || m[1] !== '0') throw new Error(`redis-cli --pipe failed (exit ${String(code)}): ${out()}`);
  log(`generator: ${(sent / 2 ** 20).toFixed(1)} MiB of commands, ${m[2]} replies, no errors`);
  return plan;
}

/** Returns the cached snapshot for `spec`, or makes it. */
export async function ensureSnapshot(spec: SnapshotSpec, log: (m: string) => void): Promise<Snapshot> {
  const dir = cacheDir(spec);
  const hit = await cached(dir);
  if (hit) { log(`snapshot: cached ${hit.path}`); return hit; }
  const t0 = performance.now();
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const work = await mkdtemp(path.join(os.tmpdir(), 'parareplica-snapgen-'));
  const port = await freePort();
  const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', work, '--dbfilename', 'dump.rdb'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = tail(redis);
  const killOnExit = (): void => { redis.kill('SIGKILL'); };
  process.once('exit', killOnExit);
  let c: Client | null = null;
  try {
    const exited = (): string | null => (redis.exitCode !== null || redis.signalCode !== null ? `generator redis-server exited: ${out()}` : null);
    await pollUntil(async () => { try { c = await Client.connect(port); return true; } catch { return false; } }, 20, 10000, exited);
    const client = c!;
    log(`snapshot: generating ${spec.keys} keys (${spec.stringsOnly ? 'strings only' : `mixed, big ${spec.big}`}, seed ${spec.seed}) into ${dir}`);
    const plan = await fillThroughPipe(port, spec, log);
    const dbsize = Number(await client.call('DBSIZE'));
    if (dbsize !== spec.keys) throw new Error(`generator holds ${dbsize} keys, expected ${spec.keys}`);
    const samples = await digestAll(client, plan.sampleKeys, plan.huge);
    const info = await client.call('INFO', 'server');
    const redisVersion = (Buffer.isBuffer(info) ? info.toString() : '').match(/redis_version:(\S+)/)?.[1] ?? '?';
    const saved = await client.call('SAVE');
    if (!(saved !== null && typeof saved === 'object' && 'ok' in saved)) throw new Error(`SAVE failed: ${JSON.stringify(saved)}`);
    const file = path.join(dir, 'dump.rdb');
    await rename(path.join(work, 'dump.rdb'), file);
    const meta: SnapshotMeta = {
      planVersion: PLAN_VERSION, spec, bytes: (await stat(file)).size, keys: dbsize, counts: plan.counts, withTtl: plan.withTtl,
      huge: plan.huge, samples, redisVersion, generateSeconds: Math.round((performance.now() - t0) / 10) / 100,
    };
    await writeFile(path.join(dir, 'meta.json.tmp'), JSON.stringify(meta));
    await rename(path.join(dir, 'meta.json.tmp'), path.join(dir, 'meta.json'));
    log(`snapshot: ${meta.bytes} bytes, ${meta.keys} keys, made in ${meta.generateSeconds} s`);
    return { path: file, meta, cached: false };
  } finally {
    (c as Client | null)?.close();
    redis.kill('SIGKILL');
    await exitOf(redis);
    process.off('exit', killOnExit);
    await rm(work, { recursive: true, force: true });
  }
}
