/**
 * End-to-end full sync (issue 4): a replica attaches to a master that already holds data and must end
 * up with exactly the master's keyspace, whatever the types, encodings and framing.
 *
 *  - every type in compact and full encodings over dbs 0, 1, 5, 15, with expiries (exact ms), binary
 *    keys and values and special scores; once with the disk framing (`$<len>`), once diskless (`$EOF:`);
 *  - one big sorted set (200k members; 1M with E2E_BIG=1), compared page by page;
 *  - the Redis test-suite fixtures (RDB v3/v4/v8): loaded by a real master that then syncs the replica,
 *    and served byte for byte by a stand-in master (old encodings parsed by the replica itself);
 *  - the corrupt ziplist fixture: a clear PARAREPLICA_RDB_CORRUPT, the previous data still served;
 *  - reads during a full sync return the OLD data (never -LOADING, never a mix) until every shard has
 *    the new snapshot, then the new data everywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Replica } from '../src/replica.js';
import { startRedis, Client, freePort, infoField, waitFor, type Reply } from './helpers/redis.js';
import { assertSameKeyspace } from './helpers/keyspace.js';
import {
  buildDataset, buildBigZset, survey, saveSnapshot, startRedisAt, waitSynced, captureLog, firstExpiryDiff,
  EXPECTED_ENCODINGS,
} from './helpers/snapshot-data.js';
import { PayloadMaster, diskPayload, disklessPayload } from './helpers/payload-master.js';

const FIXTURES = new URL('../../test/fixtures/rdb/', import.meta.url).pathname;
const BIG = process.env.E2E_BIG === '1' ? 1_000_000 : 200_000;
const CORRUPT = /PARAREPLICA_RDB_CORRUPT/;

type Cleanup = Array<() => Promise<void> | void>;
async function runCleanup(c: Cleanup): Promise<void> {
  for (const f of c.reverse()) await Promise.resolve().then(f).catch(() => undefined);
}

interface Rep { replica: Replica; r: Client; log: ReturnType<typeof captureLog>; rdbError(): string | null }

/** An in-process replica of 127.0.0.1:`masterPort` with a captured log, stopped by `cleanup`. */
async function startReplica(masterPort: number, cleanup: Cleanup): Promise<Rep> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-fullsync-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const log = captureLog();
  const replica = await Replica.start({ master: { host: '127.0.0.1', port: masterPort }, port: 0, dir, workers: 2,
    logger: pino({ level: 'info' }, log) });
  cleanup.push(() => replica.stop());
  const r = await Client.connect(replica.port);
  cleanup.push(() => r.close());
  // The link's last error, when it is about the snapshot: fail at once instead of timing out.
  const rdbError = () => { const e = replica.internals.link.status().lastError; return e && /PARAREPLICA_RDB_/.test(e) ? e : null; };
  return { replica, r, log, rdbError };
}

const transfers = (log: Rep['log']) => log.lines.filter((l) => l.msg === 'full sync payload started').map((l) => l.transfer);
const isErr = (x: Reply): boolean => !!x && typeof x === 'object' && !Array.isArray(x) && !Buffer.isBuffer(x) && 'err' in x;

test('dataset builder: every type in its compact and full encodings (checked on redis-server itself)', { timeout: 30_000 }, async () => {
  const cleanup: Cleanup = [];
  try {
    const master = await startRedis();
    cleanup.push(() => master.stop());
    const m = await Client.connect(master.port);
    cleanup.push(() => m.close());
    const rep = await buildDataset(m, { seed: 1 });
    for (const e of EXPECTED_ENCODINGS) assert.ok((rep.encodings[e] ?? 0) > 0, `no ${e} key: ${JSON.stringify(rep.encodings)}`);
    for (const db of [0, 1, 5, 15]) {
      await m.call('SELECT', db);
      assert.ok((await m.call('DBSIZE') as number) > 40, `db ${db} is nearly empty`);
    }
    await m.call('SELECT', 0);
    const dbg = async (k: string) => String(await m.str('DEBUG', 'OBJECT', k));
    assert.match(await dbg('list:lzf:0'), /ql_compressed:1/);
    assert.match(await dbg('list:multinode:0'), /ql_nodes:([2-9]|\d\d+)/);
    // Four small elements would share one node: three or more nodes means the big ones went PLAIN.
    assert.match(await dbg('list:plain:0'), /ql_nodes:([3-9]|\d\d+)/);
    assert.deepEqual(await m.call('OBJECT', 'ENCODING', 'set:i64:0'), Buffer.from('intset'));
    assert.ok(rep.expiring.length >= 4 * 11, `only ${rep.expiring.length} keys with a TTL`);
    // Distinct seeds give different values under the same names.
    const other = await startRedis();
    cleanup.push(() => other.stop());
    const o = await Client.connect(other.port);
    cleanup.push(() => o.close());
    await buildDataset(o, { seed: 2 });
    assert.notDeepEqual(await o.call('GET', 'str:short:0'), await m.call('GET', 'str:short:0'));
  } finally { await runCleanup(cleanup); }
});

for (const mode of ['disk', 'diskless'] as const) {
  test(`full sync of every type and encoding over dbs 0, 1, 5, 15 (${mode} transfer)`, { timeout: 60_000 }, async () => {
    const cleanup: Cleanup = [];
    try {
      const master = await startRedis(['--repl-diskless-sync', mode === 'disk' ? 'no' : 'yes']);
      cleanup.push(() => master.stop());
      const m = await Client.connect(master.port);
      cleanup.push(() => m.close());
      const data = await buildDataset(m, { seed: mode === 'disk' ? 11 : 12, fill: 100 });
      const rep = await startReplica(master.port, cleanup);
      await waitSynced(rep.r, 45_000, rep.rdbError);
      assert.deepEqual(transfers(rep.log), [mode], 'the replica logged another framing than the master was configured for');
      const keys = await assertSameKeyspace(m, rep.r, 16);
      assert.equal(keys, data.keys);
      assert.equal(await firstExpiryDiff(m, rep.r, data.expiring), null, 'expiry times differ (ms precision)');
      // After a clean sync: no error to report, not loading.
      assert.equal(await infoField(rep.r, 'replication', 'master_sync_last_error'), '', 'master_sync_last_error should be present and empty');
      assert.equal(await infoField(rep.r, 'persistence', 'loading'), '0');
      // The stream keeps working on top of the snapshot.
      await m.pipeline([['SELECT', 5], ['ZADD', 'zset:lp:5', '-0.5', 'after'], ['HSET', 'hash:ht:5', 'after', '1'], ['SELECT', 0]]);
      const target = Number(await infoField(m, 'replication', 'master_repl_offset'));
      await waitFor('stream applied', async () => Number(await infoField(rep.r, 'replication', 'slave_repl_offset')) >= target);
      await assertSameKeyspace(m, rep.r, 16);
    } finally { await runCleanup(cleanup); }
  });
}

test(`a ${BIG}-member sorted set loads from the snapshot and equals the master's, page by page`, { timeout: 300_000 }, async () => {
  const cleanup: Cleanup = [];
  try {
    const master = await startRedis();
    cleanup.push(() => master.stop());
    const m = await Client.connect(master.port);
    cleanup.push(() => m.close());
    await buildBigZset(m, 'bigz', BIG, 3);
    await m.call('SET', 'neighbour', 'x');
    assert.equal(await m.call('ZCARD', 'bigz'), BIG);
    const t0 = Date.now();
    const rep = await startReplica(master.port, cleanup);
    await waitSynced(rep.r, 280_000, rep.rdbError);
    const loadMs = Date.now() - t0;
    assert.equal(await rep.r.call('ZCARD', 'bigz'), BIG);
    assert.equal(await rep.r.call('DBSIZE'), 2);
    // Pages by score (rank offsets would make the replica walk from the start every time): each page
    // starts at the last score seen, skipping the members with that score already compared.
    const PAGE = 5000;
    let min = '-inf', skip = 0, seen = 0;
    for (;;) {
      const cmd = ['ZRANGE', 'bigz', min, '+inf', 'BYSCORE', 'LIMIT', skip, PAGE, 'WITHSCORES'];
      const [a, b] = await Promise.all([m.call(...cmd), rep.r.call(...cmd)]) as [Buffer[], Buffer[]];
      assert.ok(Array.isArray(b), `page from ${min} +${skip}: ${JSON.stringify(b)}`);
      assert.deepEqual(b, a, `page from score ${min} (+${skip}) differs`);
      if (a.length === 0) break;
      seen += a.length / 2;
      const last = a[a.length - 1].toString();
      let same = 0;
      for (let i = a.length - 1; i > 0 && a[i].toString() === last; i -= 2) same++;
      skip = last === min ? skip + same : same;
      min = last;
    }
    assert.equal(seen, BIG);
    // Rank and score lookups from the middle of the set.
    const mid = (await m.call('ZRANGE', 'bigz', BIG >> 1, BIG >> 1)) as Buffer[];
    assert.deepEqual(await rep.r.call('ZSCORE', 'bigz', mid[0]), await m.call('ZSCORE', 'bigz', mid[0]));
    assert.equal(await rep.r.call('ZRANK', 'bigz', mid[0]), BIG >> 1);
    process.stdout.write(`# big zset: members=${BIG} attachToSyncedMs=${loadMs}\n`);
  } finally { await runCleanup(cleanup); }
});

test('fixtures hash-zipmap (v3), encodings (v4), list-quicklist (v8): via a real master, and served as-is', { timeout: 60_000 }, async () => {
  const cleanup: Cleanup = [];
  try {
    const pm = await PayloadMaster.start();
    cleanup.push(() => pm.stop());
    let direct: Rep | null = null;
    for (const name of ['hash-zipmap', 'encodings', 'list-quicklist']) {
      const dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-fixture-'));
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      await copyFile(path.join(FIXTURES, `${name}.rdb`), path.join(dir, `${name}.rdb`));
      await chmod(path.join(dir, `${name}.rdb`), 0o644);
      const master = await startRedis(['--dir', dir, '--dbfilename', `${name}.rdb`]);
      cleanup.push(() => master.stop());
      const m = await Client.connect(master.port);
      cleanup.push(() => m.close());
      const s = await survey(m, Array.from({ length: 16 }, (_, i) => i));
      assert.ok(s.keys > 0, `redis-server loaded nothing from ${name}.rdb`);
      // 1. The real master re-encodes the fixture into a 7.0 snapshot and syncs the replica.
      const rep = await startReplica(master.port, cleanup);
      await waitSynced(rep.r, 30_000, rep.rdbError);
      assert.equal(await assertSameKeyspace(m, rep.r, 16), s.keys, `${name}: via the master`);
      // 2. The stand-in serves the file's own bytes (old encodings); compared with the same master.
      const raw = await readFile(path.join(FIXTURES, `${name}.rdb`));
      const before = pm.connections.length;
      pm.serve({ label: name, steps: [diskPayload(raw)] });
      if (direct === null) direct = await startReplica(pm.port, cleanup);
      else pm.dropAll();
      await waitFor(`${name} served`, async () => pm.connections.length > before && pm.connections.at(-1)!.scriptDone, 15_000);
      await waitFor(`${name} acknowledged`, async () => pm.connections.at(-1)!.acks.length > 0 || direct!.rdbError() !== null, 15_000);
      assert.equal(direct.rdbError(), null, `${name} served as-is`);
      await waitSynced(direct.r, 15_000, direct.rdbError);
      assert.equal(await assertSameKeyspace(m, direct.r, 16), s.keys, `${name}: served as-is`);
    }
  } finally { await runCleanup(cleanup); }
});

test('corrupt_ziplist fixture: redis-server refuses it; served to a synced replica it fails with PARAREPLICA_RDB_CORRUPT and the old data stays', { timeout: 60_000 }, async () => {
  const cleanup: Cleanup = [];
  try {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-fixture-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const corrupt = await readFile(path.join(FIXTURES, 'corrupt_ziplist.rdb'));
    await writeFile(path.join(dir, 'c.rdb'), corrupt);
    await assert.rejects(startRedisAt(await freePort(), ['--dir', dir, '--dbfilename', 'c.rdb']), /exited/,
      'redis-server 7.0 loaded the corrupt fixture: serve it from that server instead');
    // A: a real snapshot, served by the stand-in; then the corrupt file on the next connection.
    const a = await startRedis();
    cleanup.push(() => a.stop());
    const ac = await Client.connect(a.port);
    cleanup.push(() => ac.close());
    await buildDataset(ac, { seed: 31, dbs: [0, 3] });
    const s1 = await saveSnapshot(ac);
    const pm = await PayloadMaster.start();
    cleanup.push(() => pm.stop());
    pm.serve({ label: 'S1', steps: [disklessPayload(s1)] });
    const rep = await startReplica(pm.port, cleanup);
    await waitSynced(rep.r, 30_000, rep.rdbError);
    await assertSameKeyspace(ac, rep.r, 16);
    pm.serve({ label: 'corrupt_ziplist', steps: [diskPayload(corrupt)] });
    pm.dropAll();
    await pm.waitPsyncs(2);
    // No hang: within 10 s the replica must have named the failure (it may also drop the link and retry).
    await waitFor('master_sync_last_error', async () => CORRUPT.test(await infoField(rep.r, 'replication', 'master_sync_last_error') ?? ''), 10_000)
      .catch(async () => assert.fail(`master_sync_last_error is ${JSON.stringify(await infoField(rep.r, 'replication', 'master_sync_last_error'))} ` +
        `(link error: ${rep.replica.internals.link.status().lastError}; applier halt: ${JSON.stringify(rep.replica.halt)})`));
    assert.deepEqual(await rep.r.call('PING'), { ok: 'PONG' });
    await assertSameKeyspace(ac, rep.r, 16);
  } finally { await runCleanup(cleanup); }
});

test('reads during a full sync return the old data until the new snapshot is complete, then the new data', { timeout: 90_000 }, async () => {
  const cleanup: Cleanup = [];
  const PROBES = 40;
  const probeCmd = ['MGET', ...Array.from({ length: PROBES }, (_, i) => `probe:${i}`)];
  const withProbes = async (c: Client, tag: string) => {
    await c.pipeline([['SELECT', 0], ...Array.from({ length: PROBES }, (_, i) => ['SET', `probe:${i}`, `${tag}:${i}`]),
      ...Array.from({ length: 20 }, (_, i) => ['SET', `only${tag}:${i}`, tag])]);
  };
  try {
    // Dataset A on master 1 (strings only: this test is about when the switch happens, not about types).
    const port = await freePort();
    const dirA = await mkdtemp(path.join(os.tmpdir(), 'parareplica-a-'));
    let master1 = await startRedisAt(port, ['--dir', dirA], dirA);
    cleanup.push(() => master1.stop());
    const m1 = await Client.connect(port);
    await buildDataset(m1, { seed: 41, stringsOnly: true, fill: 200 });
    await withProbes(m1, 'A');
    const sizeA = await m1.call('DBSIZE') as number;
    const rep = await startReplica(port, cleanup);
    await waitSynced(rep.r, 30_000, rep.rdbError);
    await assertSameKeyspace(m1, rep.r, 16);
    // Dataset B, bigger, saved by another server; then master 1 is replaced by a master loaded from B
    // (a new replid: the replica must full-sync), slowed by rdb-key-save-delay (µs per key).
    const builder = await startRedis();
    cleanup.push(() => builder.stop());
    const bc = await Client.connect(builder.port);
    cleanup.push(() => bc.close());
    await buildDataset(bc, { seed: 42, stringsOnly: true, fill: 700 });
    await withProbes(bc, 'B');
    const sizeB = await bc.call('DBSIZE') as number;
    const dirB = await mkdtemp(path.join(os.tmpdir(), 'parareplica-b-'));
    await writeFile(path.join(dirB, 'b.rdb'), await saveSnapshot(bc));
    m1.close();
    await master1.stop();
    master1 = await startRedisAt(port, ['--dir', dirB, '--dbfilename', 'b.rdb', '--repl-diskless-sync', 'yes',
      '--rdb-key-save-delay', '800'], dirB);
    const m2 = await Client.connect(port);
    cleanup.push(() => m2.close());

    // Poll the replica until it serves B with the link up.
    let phase: 'A' | 'B' = 'A';
    let samples = 0, inProgressSamples = 0, aDuringSync = 0;
    const readBytes: number[] = [];
    let loadingField: string | undefined;
    const t0 = Date.now();
    for (;;) {
      const [mget, onlyB, size, info] = await rep.r.pipeline([probeCmd, ['EXISTS', 'onlyB:0', 'onlyB:7'], ['DBSIZE'], ['INFO', 'replication']]);
      samples++;
      for (const x of [mget, onlyB, size]) assert.ok(!isErr(x), `a read failed during the sync: ${JSON.stringify(x)}`);
      const vals = (mget as Buffer[]).map((b) => b?.toString());
      const tags = new Set(vals.map((v) => v?.split(':')[0]));
      assert.equal(tags.size, 1, `one MGET saw a mix of snapshots: ${[...tags].join(', ')}`);
      const now = [...tags][0] as 'A' | 'B';
      assert.ok(now === 'A' || now === 'B', `unexpected probe value ${vals[0]}`);
      if (phase === 'B') assert.equal(now, 'B', 'the replica went back to the old data');
      phase = now;
      assert.equal(size, phase === 'A' ? sizeA : sizeB, `DBSIZE ${size} while serving ${phase}`);
      assert.equal(onlyB, phase === 'A' ? 0 : 2);
      const text = (info as Buffer).toString();
      if (/^master_sync_in_progress:1\r?$/m.test(text)) {
        inProgressSamples++;
        if (phase === 'A') aDuringSync++;
        const rb = /^master_sync_read_bytes:(-?\d+)/m.exec(text);
        if (rb) readBytes.push(Number(rb[1]));
        if (loadingField === undefined) loadingField = await infoField(rep.r, 'persistence', 'loading');
      }
      if (phase === 'B' && /^master_link_status:up\r?$/m.test(text) && /^master_sync_in_progress:0\r?$/m.test(text)) break;
      const err = rep.rdbError();
      if (err) assert.fail(`the full sync failed: ${err}`);
      if (Date.now() - t0 > 60_000) assert.fail(`no switch to B within 60 s (serving ${phase}, ${samples} samples)`);
      await new Promise((res) => setTimeout(res, 15));
    }
    assert.ok(inProgressSamples >= 3 && aDuringSync >= 3, `the sync was not observed (${inProgressSamples} samples in progress, ${aDuringSync} with A)`);
    assert.ok(readBytes.length >= 2 && readBytes.at(-1)! > readBytes[0], `master_sync_read_bytes did not grow: ${readBytes.slice(0, 5).join(',')}…${readBytes.at(-1)}`);
    for (let i = 1; i < readBytes.length; i++) assert.ok(readBytes[i] >= readBytes[i - 1], 'master_sync_read_bytes went down');
    assert.match(String(loadingField), /^[01]$/, 'INFO persistence should show loading:0|1 during the sync');
    assert.equal(await infoField(rep.r, 'persistence', 'loading'), '0');
    assert.deepEqual(transfers(rep.log), ['diskless', 'diskless']);
    await assertSameKeyspace(m2, rep.r, 16);
    process.stdout.write(`# reads during sync: samples=${samples} inProgress=${inProgressSamples} servedAwhileSyncing=${aDuringSync}\n`);
  } finally { await runCleanup(cleanup); }
});
