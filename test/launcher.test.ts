/**
 * The launcher `npm start` runs (src/cli/parareplica.sh): it execs node in place (same PID, so
 * signals and exit codes are the replica's own), preloads jemalloc when the system has one, and
 * honours PARAREPLICA_ALLOCATOR. INFO memory's mem_allocator shows what the process really runs on.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRedis, Client, infoField, freePort, waitFor, type RedisServer } from './helpers/redis.js';
import { launchReplica } from './helpers/launcher.js';

/** Where Debian/Ubuntu (redis-server depends on libjemalloc2) and most distributions put it. */
const HAVE_JEMALLOC = [`/usr/lib/${os.arch() === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/libjemalloc.so.2`,
  '/usr/lib64/libjemalloc.so.2', '/usr/lib/libjemalloc.so.2', '/usr/local/lib/libjemalloc.so.2'].some((p) => existsSync(p));

let master: RedisServer;
const dirs: string[] = [];
const children: ChildProcess[] = [];
/** PIDs the replicas report, killed at the end too: a launcher that did not exec would leave them. */
const pids = new Set<number>();
before(async () => { master = await startRedis(); });
after(async () => {
  for (const c of children) c.kill('SIGKILL');
  for (const p of pids) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
  await master?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface Run { child: ChildProcess; port: number; exit: Promise<{ code: number | null; signal: string | null; stderr: string }> }

async function launch(env: Record<string, string> = {}): Promise<Run> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-launcher-'));
  dirs.push(dir);
  const port = await freePort();
  const child = launchReplica({ masterPort: master.port, port, dir, workers: 1, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exit = new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, stderr })));
  return { child, port, exit };
}

async function connect(r: Run): Promise<Client> {
  let c: Client | undefined;
  await waitFor('the replica to listen', async () => {
    if (r.child.exitCode !== null) throw new Error(`the launcher exited ${r.child.exitCode}: ${(await r.exit).stderr}`);
    try { c = await Client.connect(r.port); return true; } catch { return false; }
  }, 20_000, 50);
  pids.add(Number(await infoField(c!, 'server', 'process_id')));
  return c!;
}

test('default: node runs in place of the launcher, on jemalloc when installed; SIGKILL kills the replica itself', async () => {
  const r = await launch();
  const c = await connect(r);
  assert.equal(await infoField(c, 'server', 'process_id'), String(r.child.pid), 'exec kept the PID');
  assert.equal(await infoField(c, 'memory', 'mem_allocator'), HAVE_JEMALLOC ? 'jemalloc' : 'libc');
  const rss = Number(await infoField(c, 'memory', 'used_memory_rss'));
  const peak = Number(await infoField(c, 'memory', 'used_memory_peak'));
  assert.ok(rss > 10 << 20 && peak >= rss, `used_memory_rss ${rss}, used_memory_peak ${peak}`);
  c.close();
  r.child.kill('SIGKILL');
  assert.deepEqual((await r.exit).signal, 'SIGKILL');
  // Nothing outlived it: the port is free again (a wrapper left behind would still hold it).
  await assert.rejects(Client.connect(r.port));
});

test('SIGTERM stops the replica cleanly with exit code 0', async () => {
  const r = await launch();
  (await connect(r)).close();
  r.child.kill('SIGTERM');
  const e = await r.exit;
  assert.equal(e.code, 0, e.stderr);
});

test('PARAREPLICA_ALLOCATOR=system keeps the system malloc', async () => {
  const r = await launch({ PARAREPLICA_ALLOCATOR: 'system' });
  const c = await connect(r);
  assert.equal(await infoField(c, 'memory', 'mem_allocator'), 'libc');
  c.close();
  r.child.kill('SIGKILL');
  await r.exit;
});

test('a bad PARAREPLICA_ALLOCATOR is refused before start, with exit code 2', async () => {
  const e = await (await launch({ PARAREPLICA_ALLOCATOR: 'tcmalloc' })).exit;
  assert.equal(e.code, 2);
  assert.match(e.stderr, /PARAREPLICA_ALLOCATOR must be auto, jemalloc or system/);
});

test('PARAREPLICA_ALLOCATOR=jemalloc refuses to start without one', { skip: HAVE_JEMALLOC ? 'jemalloc is installed here' : false }, async () => {
  const e = await (await launch({ PARAREPLICA_ALLOCATOR: 'jemalloc' })).exit;
  assert.equal(e.code, 2);
  assert.match(e.stderr, /no libjemalloc\.so\.2 was found/);
});
