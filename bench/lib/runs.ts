/**
 * The two runs of the replay bench, each against its own fresh stand-in master serving the same bytes:
 *   A. parareplica, in this process (its appliers are worker threads here, so process RSS is its RSS,
 *      plus this bench's own memory: the stream buffer; `rssBeforeBytes` is the baseline to subtract);
 *   B. a real redis-server replica, as a child process.
 * Both are timed from the first stream byte written to the moment the replica reports the whole
 * stream applied, then inspected by the bench (replay-zadd: the generator's model, DBSIZE and full
 * ZRANGE of sampled keys; replay-mixed: a whole-keyspace dump).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Replica } from '../../src/replica.js';
import { Client, freePort } from '../../test/helpers/redis.js';
import { StandinMaster } from './standin-master.js';
import { expectedRange, randName, XorShift32, type ZaddStream } from './zadd-stream.js';
import { infoNumber, PeakSampler, pollUntil, procStatusBytes, ReadProbe, sleep } from './measure.js';

export interface RunOptions { workers: number; seed: number; timeoutMs: number; log: (msg: string) => void }

export interface Check { dbsize: number; zcards: number[]; ok: boolean; mismatches: string[] }

export interface RunResult {
  seconds: number;
  commandsPerSec: number;
  bytesPerSec: number;
  peakRssBytes: number | null;
  readP50Ms: number | null;
  readP99Ms: number | null;
  [extra: string]: unknown;
}

/** Both replicas are checked against the same model; `zcards` lets the caller compare them directly. */
export async function checkReplica(c: Client, s: ZaddStream): Promise<Check> {
  const mismatches: string[] = [];
  const dbsize = Number(await c.call('DBSIZE'));
  if (dbsize !== s.distinctKeys) mismatches.push(`DBSIZE ${dbsize}, expected ${s.distinctKeys}`);
  const zcards: number[] = [];
  for (const sample of s.samples) {
    zcards.push(Number(await c.call('ZCARD', sample.key)));
    const r = await c.call('ZRANGE', sample.key, '0', '-1', 'WITHSCORES');
    const got = Array.isArray(r) ? r.map((x) => (Buffer.isBuffer(x) ? x.toString('latin1') : JSON.stringify(x))) : [JSON.stringify(r)];
    const want = expectedRange(sample);
    if (got.join(' ') !== want.join(' ')) {
      mismatches.push(`${sample.key}: got [${got.slice(0, 6).join(' ')}…] (${got.length / 2} members), ` +
        `expected [${want.slice(0, 6).join(' ')}…] (${want.length / 2})`);
    }
  }
  return { dbsize, zcards, ok: mismatches.length === 0, mismatches: mismatches.slice(0, 5) };
}

/** What the replay runs need of a generated stream (lib/zadd-stream.ts, lib/mixed-stream.ts). */
export interface ReplayStream { bytes: Buffer; commands: number }

export interface ReplayOptions {
  timeoutMs: number;
  log: (msg: string) => void;
  /** Keys for the read-latency probe (ZCARD). */
  probeKey: () => string;
}

/** What a bench reads from a replica once it has applied the stream: fields for its result, and a value. */
export interface Inspection<T> { extra: Record<string, unknown>; value: T }

export function rates(s: ReplayStream, seconds: number): Pick<RunResult, 'seconds' | 'commandsPerSec' | 'bytesPerSec'> {
  return {
    seconds: Math.round(seconds * 1000) / 1000,
    commandsPerSec: Math.round(s.commands / seconds),
    bytesPerSec: Math.round(s.bytes.length / seconds),
  };
}

export function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, rej) => { t = setTimeout(() => rej(new Error(`timed out waiting for ${what}`)), ms); })])
    .finally(() => clearTimeout(t));
}

const zaddProbeKey = (s: ZaddStream, seed: number): (() => string) => {
  const rng = new XorShift32(seed ^ 0x5bd1e995);
  return () => randName('zs:', rng.below(s.keys));
};

/**
 * Run A: parareplica in this process. `stuck`, when the run times out or stops, adds the replica's
 * state to the error.
 */
export async function replayToParareplica<T>(s: ReplayStream, workers: number, o: ReplayOptions,
  inspect: (c: Client) => Promise<Inspection<T>>, stuck?: (r: Replica) => Promise<string>): Promise<{ result: RunResult; value: T }> {
  const L = s.bytes.length;
  const standin = await StandinMaster.listen({ stream: s.bytes });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-bench-'));
  const rssBefore = process.memoryUsage.rss();
  const rss = new PeakSampler();
  const replica = await Replica.start({
    master: { host: '127.0.0.1', port: standin.port }, port: 0, dir, workers,
    replTimeout: 3600,   // the stand-in sends no pings: do not drop an idle link while the appliers catch up
    logger: pino({ level: 'warn' }, pino.destination(2)),
  });
  try {
    await timeout(standin.streaming(), 30000, 'parareplica to PSYNC');
    const cpu0 = process.cpuUsage();
    const probe = await ReadProbe.start(replica.port, o.probeKey);
    o.log(`parareplica: streaming ${L} bytes`);
    const t1 = await pollUntil(() => replica.ackOffset() >= L, 10, o.timeoutMs, () =>
      replica.halt ? `parareplica halted: ${JSON.stringify(replica.halt)}` : standin.lost ? 'parareplica dropped the link' : null)
      .catch(async (e: Error) => { throw stuck ? new Error(`${e.message}; applied ${replica.ackOffset()} of ${L}; ${await stuck(replica)}`) : e; });
    const cpu = process.cpuUsage(cpu0);
    const reads = await probe.stop();
    const peak = rss.stop();
    const c = await Client.connect(replica.port);
    const got = await inspect(c);
    c.close();
    return {
      result: {
        ...rates(s, (t1 - standin.firstByteAt) / 1000), peakRssBytes: peak, readP50Ms: reads.readP50Ms, readP99Ms: reads.readP99Ms,
        rssBeforeBytes: rssBefore, readMaxMs: reads.readMaxMs, reads: reads.reads, readErrors: reads.readErrors,
        cpuSeconds: Math.round((cpu.user + cpu.system) / 1e3) / 1e3,
        linkReceiveSeconds: Math.round(standin.lastByteAt - standin.firstByteAt) / 1000,
        reconnectsRefused: standin.refused, ...got.extra,
      },
      value: got.value,
    };
  } finally {
    rss.stop();
    await replica.stop();
    await standin.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export function haveRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** utime + stime of a process in seconds (/proc/<pid>/stat fields 14 and 15, in 1/100 s ticks). */
export async function procCpuSeconds(pid: number): Promise<number | null> {
  try {
    const st = await readFile(`/proc/${pid}/stat`, 'latin1');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

/**
 * Run B: a real redis-server replica of a second stand-in serving the same bytes. `inspect` also gets
 * how many "== CRITICAL ==" lines the replica logged (it answered a stream command with an error).
 */
export async function replayToRedis<T>(s: ReplayStream, o: ReplayOptions,
  inspect: (c: Client, criticalLogLines: number) => Promise<Inspection<T>>): Promise<{ result: RunResult; value: T }> {
  const L = s.bytes.length;
  const standin = await StandinMaster.listen({ stream: s.bytes });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-bench-redis-'));
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--replicaof', '127.0.0.1', String(standin.port), '--dir', dir, '--repl-timeout', '3600'],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  // If the bench dies (Ctrl-C, timeout kill), do not leave a replica of a dead port behind.
  const killOnExit = (): void => { proc.kill('SIGKILL'); };
  process.once('exit', killOnExit);
  let out = '';
  let critical = 0;
  const keep = (d: Buffer): void => {
    const text = d.toString();
    critical += (text.match(/== CRITICAL ==/g) ?? []).length;
    out = (out + text).slice(-4000);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = (): string | null => (proc.exitCode !== null || proc.signalCode !== null ? `redis-server exited: ${out}` : null);
  let c: Client | null = null;
  try {
    await pollUntil(async () => {
      try { c = await Client.connect(port); return true; } catch { return false; }
    }, 20, 10000, exited);
    const client = c!;
    await timeout(standin.streaming(), 30000, 'redis-server to PSYNC');
    const probe = await ReadProbe.start(port, o.probeKey);
    o.log(`redis-server: streaming ${L} bytes`);
    const t1 = await pollUntil(async () => (await infoNumber(client, 'replication', 'slave_repl_offset')) >= L, 10,
      o.timeoutMs, () => exited() ?? (standin.lost ? 'redis-server dropped the link' : null));
    const reads = await probe.stop();
    const peak = await procStatusBytes(proc.pid!, 'VmHWM');
    const cpu = await procCpuSeconds(proc.pid!);
    const got = await inspect(client, critical);
    return {
      result: {
        ...rates(s, (t1 - standin.firstByteAt) / 1000), peakRssBytes: peak, readP50Ms: reads.readP50Ms, readP99Ms: reads.readP99Ms,
        readMaxMs: reads.readMaxMs, reads: reads.reads, readErrors: reads.readErrors, cpuSeconds: cpu,
        linkReceiveSeconds: Math.round(standin.lastByteAt - standin.firstByteAt) / 1000,
        reconnectsRefused: standin.refused, ...got.extra,
      },
      value: got.value,
    };
  } finally {
    (c as Client | null)?.close();
    process.off('exit', killOnExit);
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await new Promise((r) => proc.once('exit', r));
    }
    await standin.close();
    await rm(dir, { recursive: true, force: true });
    await sleep(0);
  }
}

/** The ZADD bench's runs: each checked against the generator's model. */
export async function runParareplica(s: ZaddStream, o: RunOptions): Promise<{ result: RunResult; check: Check }> {
  const r = await replayToParareplica(s, o.workers, { ...o, probeKey: zaddProbeKey(s, o.seed) }, async (c) => ({
    extra: { opsFailedIgnored: await infoNumber(c, 'applier', 'ops_failed_ignored') }, value: await checkReplica(c, s),
  }));
  return { result: r.result, check: r.value };
}

export async function runRedis(s: ZaddStream, o: RunOptions): Promise<{ result: RunResult; check: Check }> {
  const r = await replayToRedis(s, { ...o, probeKey: zaddProbeKey(s, o.seed) }, async (c) => ({ extra: {}, value: await checkReplica(c, s) }));
  return { result: r.result, check: r.value };
}

/** One log line per run for the bench summaries. */
export function runLine(name: string, o: { result: RunResult } | { error: string } | null): string {
  return o === null ? `${name}: not run`
    : 'error' in o ? `${name}: FAILED (${o.error})`
    : `${name}: ${o.result.commandsPerSec} commands/s in ${o.result.seconds} s, cpu ${String(o.result.cpuSeconds)} s, ` +
      `peak RSS ${o.result.peakRssBytes === null ? '?' : Math.round(o.result.peakRssBytes / 2 ** 20)} MiB, ` +
      `ZCARD p50/p99 ${String(o.result.readP50Ms)}/${String(o.result.readP99Ms)} ms`;
}
