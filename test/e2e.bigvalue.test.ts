/**
 * Long strings through a real full sync, with the replica as a child process started like
 * `npm start`: a random (raw) string and a compressible (LZF) one, built on the master with APPEND in
 * 1 MiB steps so this test never holds a whole value either, are loaded, compared piece by piece, and
 * the replica's peak RSS (VmHWM) is read after the load.
 *
 * Default: two 48 MiB strings (correctness). E2E_BIG=1: two 512 MiB strings (Redis's largest), and
 * the replica's peak RSS must stay under BIG_RSS_LIMIT, less than ONE of the values: no copy of a
 * whole value was ever held (parser, records, applier or LevelDB).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRedis, Client, infoField, freePort, waitFor, type RedisServer } from './helpers/redis.js';
import { makeRng } from './helpers/loadgen.js';
import { launchReplica } from './helpers/launcher.js';

const BIG = process.env.E2E_BIG === '1';
const MIB = 1 << 20;
const SIZE_MIB = BIG ? 512 : 48;
/** Peak RSS allowed for the replica in the E2E_BIG run (a value is 512 MiB). */
const BIG_RSS_LIMIT = 450 * MIB;

let master: RedisServer | undefined;
let child: ChildProcess | undefined;
let dir: string | undefined;
after(async () => {
  child?.kill('SIGKILL');
  await master?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Piece i (1 MiB) of key `k`: seeded random bytes, or a compressible pattern. */
function piece(k: 'raw' | 'lzf', i: number): Buffer {
  const b = Buffer.allocUnsafe(MIB);
  if (k === 'lzf') {
    b.fill(`piece ${i} of a long compressible value; `);
    b.writeUInt32BE(i, 0);
    return b;
  }
  const rnd = makeRng(1000 + i);
  for (let o = 0; o < MIB; o += 4) b.writeUInt32LE((rnd() * 2 ** 32) >>> 0, o);
  return b;
}

/** sha1 of a string read in 1 MiB GETRANGEs. */
async function digest(c: Client, key: string, len: number): Promise<string> {
  const h = createHash('sha1');
  for (let o = 0; o < len; o += MIB) h.update((await c.call('GETRANGE', key, o, Math.min(len, o + MIB) - 1)) as Buffer);
  return h.digest('hex');
}

const vmHwm = (pid: number): number => Number(/^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))![1]) * 1024;

test(`two ${SIZE_MIB} MiB strings (raw and LZF) load through a full sync and read back whole`, { timeout: BIG ? 1_800_000 : 300_000 }, async (t) => {
  master = await startRedis(['--proto-max-bulk-len', '600mb']);
  const m = await Client.connect(master.port);
  const want: Record<string, string> = {};
  for (const k of ['raw', 'lzf'] as const) {
    const h = createHash('sha1');
    for (let i = 0; i < SIZE_MIB; i++) {
      const p = piece(k, i);
      h.update(p);
      await m.call('APPEND', `long:${k}`, p);
    }
    want[`long:${k}`] = h.digest('hex');
  }
  await m.call('PEXPIREAT', 'long:lzf', Date.now() + 3_600_000);
  await m.call('SET', 'small', 'v');

  dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-bigvalue-'));
  const port = await freePort();
  child = launchReplica({ masterPort: master.port, port, dir, workers: 2, extra: ['--repl-timeout', '600'] });
  let r: Client | undefined;
  await waitFor('the replica to listen', async () => { r = await Client.connect(port); return true; }, 30_000, 50);
  const t0 = Date.now();
  await waitFor('the full sync to finish', async () => {
    const s = await r!.str('INFO', 'replication');
    return /master_link_status:up/.test(s!) && /master_sync_in_progress:0/.test(s!) && /master_full_syncs:[1-9]/.test(s!);
  }, BIG ? 1_500_000 : 240_000, 100);
  const seconds = (Date.now() - t0) / 1000;
  const peak = vmHwm(child.pid!);
  t.diagnostic(`${2 * SIZE_MIB} MiB of strings loaded in ${seconds.toFixed(1)} s; replica peak RSS ${(peak / MIB).toFixed(0)} MiB ` +
    `(${await infoField(r!, 'memory', 'mem_allocator')})`);

  assert.equal(await r!.call('DBSIZE'), 3);
  for (const [key, sha] of Object.entries(want)) {
    assert.equal(await r!.call('STRLEN', key), SIZE_MIB * MIB, key);
    assert.equal(await digest(r!, key, SIZE_MIB * MIB), sha, `${key}: content`);
  }
  assert.equal(await r!.call('PEXPIRETIME', 'long:lzf'), await m.call('PEXPIRETIME', 'long:lzf'));
  assert.equal(await r!.call('PEXPIRETIME', 'long:raw'), -1);
  if (BIG) assert.ok(peak < BIG_RSS_LIMIT, `replica peak RSS ${peak} ≥ ${BIG_RSS_LIMIT}: a whole value was held somewhere`);
  r!.close();
  m.close();
});
