/**
 * The two runs of the snapshot-load bench, one after the other, each a CHILD PROCESS replica of its
 * own stand-in master serving the same RDB file (streamed from disk, `$<len>` or `$EOF:` framing):
 *   A. parareplica: `sh src/cli/parareplica.sh --master … --port P --dir D --workers W`, as `npm start`
 *      runs it (jemalloc when installed; PARAREPLICA_ALLOCATOR=system in the environment to compare);
 *   B. a real `redis-server --replicaof …` (its default repl-diskless-load disabled: it writes the
 *      payload to disk, then loads it).
 * Each is timed from the stand-in writing the payload header to the first INFO poll (every 20 ms)
 * showing the sync complete: `master_link_status:up`, `master_sync_in_progress:0`, `loading:0` (and,
 * parareplica only, `master_full_syncs` ≥ 1). Peak RSS is the child's VmHWM read right then, CPU its
 * utime + stime. Afterwards DBSIZE and the sampled keys are checked against the generator's digests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, freePort, type Reply } from '../../test/helpers/redis.js';
import { StandinMaster } from './standin-master.js';
import { pollUntil, procStatusBytes } from './measure.js';
import { procCpuSeconds } from './runs.js';
import { verifyReplica, type Verification } from './snapshot-check.js';
import type { Snapshot } from './snapshot-gen.js';

export interface LoadOptions { workers: number; diskless: boolean; timeoutMs: number; log: (msg: string) => void }

export interface LoadResult {
  seconds: number;
  keysPerSec: number;
  mbPerSec: number;
  peakRssBytes: number | null;
  verified: boolean;
  cpuSeconds: number | null;
  /** Seconds from the payload header to the stand-in's last payload write (the socket accepted it all). */
  transferSeconds: number;
  framing: string;
  verification: Verification;
  [extra: string]: unknown;
}

/** The launcher `npm start` runs (it execs node on dist/src/cli/main.js, under jemalloc when installed). */
const LAUNCHER = fileURLToPath(new URL('../../../src/cli/parareplica.sh', import.meta.url));


/** `field:value` lines of INFO replies. */
function infoFields(rs: Reply[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of rs) {
    if (!Buffer.isBuffer(r)) continue;
    for (const line of r.toString('latin1').split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) m.set(line.slice(0, i), line.slice(i + 1));
    }
  }
  return m;
}

function synced(f: Map<string, string>): boolean {
  if (f.get('master_link_status') !== 'up' || f.get('master_sync_in_progress') !== '0' || f.get('loading') !== '0') return false;
  const full = f.get('master_full_syncs');
  return full === undefined || Number(full) >= 1;
}

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => { t = setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

interface Child { proc: ChildProcess; out: () => string }

function startChild(cmd: string, args: string[]): Child {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => { out = (out + d.toString()).slice(-4000); };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  return { proc, out: () => out };
}

async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 15000);
  await gone;
  clearTimeout(t);
}

/**
 * One run: a stand-in serving the snapshot, `args(standinPort, port, dir)` the child's command line.
 * `extra` picks result fields from the child's INFO after the sync.
 */
async function loadRun(name: string, snap: Snapshot, o: LoadOptions, cmd: string,
  args: (standinPort: number, port: number, dir: string) => string[],
  extra: (f: Map<string, string>) => Record<string, unknown>): Promise<LoadResult> {
  const standin = await StandinMaster.listen({ rdbPath: snap.path, diskless: o.diskless });
  const dir = await mkdtemp(path.join(os.tmpdir(), `parareplica-load-${name}-`));
  const port = await freePort();
  const child = startChild(cmd, args(standin.port, port, dir));
  const killOnExit = (): void => { child.proc.kill('SIGKILL'); };
  process.once('exit', killOnExit);
  const exited = (): string | null => (child.proc.exitCode !== null || child.proc.signalCode !== null
    ? `${name} exited (${String(child.proc.exitCode ?? child.proc.signalCode)}): ${child.out()}` : null);
  const aborted = (): string | null => exited() ?? standin.payloadError ??
    (standin.lost ? `${name} dropped the link: ${child.out()}` : null);
  let c: Client | null = null;
  try {
    await pollUntil(async () => { try { c = await Client.connect(port); return true; } catch { return false; } }, 20, 30000, exited);
    const client = c!;
    await timeout(standin.payloadStarted(), 60000, `${name} to PSYNC`);
    o.log(`${name}: loading ${snap.meta.bytes} bytes (${standin.framing} framing)`);
    let fields = new Map<string, string>();
    const rss: Array<[number, number]> = [];
    let lastRssAt = 0;
    const t1 = await pollUntil(async () => {
      fields = infoFields(await client.pipeline([['INFO', 'replication'], ['INFO', 'persistence']]));
      const now = performance.now();   // the clock of pollUntil and payloadFirstByteAt
      if (now - lastRssAt >= 250) {
        lastRssAt = now;
        const b = await procStatusBytes(child.proc.pid!, 'VmRSS');
        if (b !== null) rss.push([now, b]);
      }
      return synced(fields);
    }, 20, o.timeoutMs, aborted);
    const seconds = (t1 - standin.payloadFirstByteAt) / 1000;
    const peak = await procStatusBytes(child.proc.pid!, 'VmHWM');
    const cpu = await procCpuSeconds(child.proc.pid!);
    const verification = await verifyReplica(client, snap.meta.keys, snap.meta.samples, snap.meta.huge);
    return {
      seconds: Math.round(seconds * 1000) / 1000,
      keysPerSec: Math.round(snap.meta.keys / seconds),
      mbPerSec: Math.round((snap.meta.bytes / 1e6 / seconds) * 100) / 100,
      peakRssBytes: peak,
      memAllocator: infoFields(await client.pipeline([['INFO', 'memory']])).get('mem_allocator') ?? null,
      rssMiBByQuarter: byQuarter(rss, standin.payloadFirstByteAt, t1),
      verified: verification.ok,
      cpuSeconds: cpu,
      transferSeconds: Math.round(standin.payloadLastByteAt - standin.payloadFirstByteAt) / 1000,
      framing: standin.framing,
      reconnectsRefused: standin.refused,
      ...extra(fields),
      verification,
    };
  } finally {
    (c as Client | null)?.close();
    await stopChild(child.proc);
    process.off('exit', killOnExit);
    await standin.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const num = (f: Map<string, string>, k: string): number | null => (f.has(k) ? Number(f.get(k)) : null);

/**
 * The highest RSS sampled (every 250 ms) in each quarter of the load's duration, in MiB: flat
 * quarters mean memory does not grow with the amount loaded.
 */
function byQuarter(samples: Array<[number, number]>, from: number, to: number): Array<number | null> {
  const q: Array<number | null> = [null, null, null, null];
  const span = Math.max(1, to - from);
  for (const [t, b] of samples) {
    if (t < from) continue;
    const i = Math.min(3, Math.floor(((t - from) / span) * 4));
    q[i] = Math.max(q[i] ?? 0, Math.round(b / 2 ** 20));
  }
  return q;
}

/** Run A: parareplica as a child process, started like `npm start` (src/cli/parareplica.sh). */
export function loadParareplica(snap: Snapshot, o: LoadOptions): Promise<LoadResult> {
  return loadRun('parareplica', snap, o, 'sh', (sp, port, dir) => [LAUNCHER, '--master', `127.0.0.1:${sp}`,
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--workers', String(o.workers),
    '--repl-timeout', '3600', '--no-progress', '--log-level', 'warn'],
  (f) => ({ syncKeys: num(f, 'master_sync_keys'), syncSkippedKeys: num(f, 'master_sync_skipped_keys'),
    syncLastSeconds: num(f, 'master_sync_last_seconds') }));
}

/** Run B: a real redis-server replica as a child process. */
export function loadRedis(snap: Snapshot, o: LoadOptions): Promise<LoadResult> {
  return loadRun('redis-server', snap, o, 'redis-server', (sp, port, dir) => ['--port', String(port), '--bind', '127.0.0.1',
    '--save', '', '--appendonly', 'no', '--replicaof', '127.0.0.1', String(sp), '--dir', dir, '--repl-timeout', '3600'],
  () => ({}));
}
