/**
 * MasterLink against a real redis-server 7.0 master: diskless and disk-based full syncs, the
 * stream's byte accounting, ACK / WAIT, and partial resync after CLIENT KILL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { frameCommands } from '../src/resp/framer.js';
import { MasterLink } from '../src/replication/link.js';
import { captureLogger, recorder, startRedis, waitFor, type Recorder, type RedisServer } from './link.harness.js';

function countCommands(stream: Buffer, name: string, keyPrefix?: string): number {
  let n = 0;
  for (const argv of frameCommands(stream)) {
    if (argv[0]!.toString().toLowerCase() !== name) continue;
    if (keyPrefix !== undefined && !argv[1]!.toString().startsWith(keyPrefix)) continue;
    n++;
  }
  return n;
}

/** Waits until everything the master has produced was delivered, and returns that offset. */
async function waitCaughtUp(redis: RedisServer, rec: Recorder): Promise<number> {
  let masterOffset = -1;
  await waitFor('stream to reach master_repl_offset', async () => {
    masterOffset = Number((await redis.info('replication')).master_repl_offset);
    return rec.delivered === masterOffset;
  }, 15_000, 50);
  return masterOffset;
}

describe('master link, diskless full sync (repl-diskless-sync yes, delay 2)', () => {
  let redis: RedisServer;
  let link: MasterLink | undefined;
  const rec = recorder();
  const cap = captureLogger();

  before(async () => {
    redis = await startRedis(['--repl-diskless-sync', 'yes', '--repl-diskless-sync-delay', '2', '--repl-backlog-size', '64mb']);
    await redis.pipe([1, 2, 3, 4, 5].map((i) => ['SET', `seed:${i}`, `value-${i}`]));
  });
  after(async () => {
    await link?.stop();
    await redis?.stop();
  });

  test('full sync delivers the snapshot after keepalives', async () => {
    link = new MasterLink({ host: '127.0.0.1', port: redis.port, listeningPort: 16399, logger: cap.logger }, rec);
    // The state is sampled when the payload starts, not by polling: the 5-key payload follows
    // +FULLRESYNC within a millisecond, so a poll on a loaded machine can miss the whole window.
    let atStart: { state: string; syncInProgress: boolean } | undefined;
    const start = rec.fullSyncStart.bind(rec);
    rec.fullSyncStart = (...a) => {
      const st = link!.status();
      atStart ??= { state: st.state, syncInProgress: st.syncInProgress };
      start(...a);
    };
    const t0 = Date.now();
    link.start({ replid: null, offset: -1 });
    await waitFor('fullSyncEnd', () => rec.ends === 1, 20_000);
    assert.deepEqual(atStart, { state: 'sync', syncInProgress: true });
    assert.ok(Date.now() - t0 >= 1500, 'the 2 s diskless delay elapsed');
    assert.equal(rec.syncs.length, 1);
    const s = rec.syncs[0]!;
    assert.equal(s.transfer, 'diskless');
    assert.equal(s.total, -1);
    const info = await redis.info('replication');
    assert.equal(s.replid, info.master_replid);
    assert.ok(link.status().keepalivesReceived >= 1, 'keepalive newlines before +FULLRESYNC were skipped');
    const got = rec.entries.map((e) => `${e.key}=${e.value.toString()}`).sort();
    assert.deepEqual(got, [1, 2, 3, 4, 5].map((i) => `seed:${i}=value-${i}`));
    const st = link.status();
    assert.equal(st.state, 'connected');
    assert.equal(st.linkUp, true);
    assert.equal(st.syncInProgress, false);
    assert.deepEqual(st.resume, { replid: s.replid, offset: s.offset });
    assert.ok(cap.lines.some((l) => String(l.msg).includes('FULLRESYNC')));
  });

  test('SET/INCR traffic: stream bytes end exactly at master_repl_offset', async () => {
    const cmds: string[][] = [];
    for (let i = 0; i < 100; i++) cmds.push(['SET', `k:${i}`, `v${i}`], ['INCR', 'ctr']);
    await redis.pipe(cmds);
    const masterOffset = await waitCaughtUp(redis, rec);
    rec.checkContiguous();
    assert.equal(rec.batches[0]!.start, rec.syncs[0]!.offset, 'first stream byte is FULLRESYNC offset + 1');
    const stream = rec.stream();
    assert.equal(stream.length, masterOffset - rec.syncs[0]!.offset);
    assert.equal(countCommands(stream, 'set', 'k:'), 100);
    assert.equal(countCommands(stream, 'incr'), 100);
    const st = link!.status();
    assert.equal(st.readOffset, masterOffset);
    assert.equal(st.deliveredOffset, masterOffset);
  });

  test('WAIT 1 1000 returns 1 at once when ackOffset() reports the received offset', async () => {
    rec.ack = () => link!.status().readOffset;
    await redis.cli('SET', 'w', '1');
    const t0 = Date.now();
    assert.equal(await redis.cli('WAIT', '1', '1000'), '1');
    assert.ok(Date.now() - t0 < 700, `GETACK answered at once (took ${Date.now() - t0} ms)`);
    rec.ack = null;
  });

  test('the master shows the replica online with a matching ACK offset', async () => {
    await waitFor('slave0 online with offset = master_repl_offset', async () => {
      const info = await redis.info('replication');
      const m = /state=(\w+),offset=(\d+)/.exec(info.slave0 ?? '');
      return m !== null && m[1] === 'online' && m[2] === info.master_repl_offset &&
        info.slave0!.includes('port=16399');
    }, 5_000, 100);
  });

  test('CLIENT KILL TYPE replica: reconnects with +CONTINUE, no byte lost or doubled', async () => {
    const downAt: number[] = [];
    const origDown = rec.linkDown;
    rec.linkDown = (reason) => { downAt.push(rec.delivered); origDown(reason); };
    const big = 'x'.repeat(50_000);
    const cmds: string[][] = [];
    for (let i = 0; i < 6000; i++) {
      cmds.push(['INCR', 'ctr']);
      if (i % 100 === 0) cmds.push(['SET', `big:${i}`, big]);
      // The kill lands mid-traffic: the master drops the replica with output possibly still queued.
      if (i === 3000) cmds.push(['CLIENT', 'KILL', 'TYPE', 'replica']);
    }
    await redis.pipe(cmds);
    await waitFor('partial resync', () => rec.continues.length === 1, 10_000);
    const masterOffset = await waitCaughtUp(redis, rec);

    assert.equal(rec.downs.length, 1);
    assert.ok(downAt[0]! < masterOffset - 100_000, 'the link was killed while traffic was flowing');
    assert.equal(rec.ends, 1, 'no second full sync');
    assert.equal(rec.continues[0]!.replid, rec.syncs[0]!.replid);
    assert.equal(rec.continues[0]!.from, downAt[0]! + 1, 'PSYNC asked for the byte after the last one delivered');
    rec.checkContiguous();
    const stream = rec.stream();
    assert.equal(stream.length, masterOffset - rec.syncs[0]!.offset);
    // An independent view of the same data: the master's own counter and keys.
    assert.equal(await redis.cli('GET', 'ctr'), '6100');
    assert.equal(countCommands(stream, 'incr'), 6100);
    assert.equal(countCommands(stream, 'set', 'big:'), 60);
    const st = link!.status();
    assert.equal(st.partialSyncs, 1);
    assert.equal(st.fullSyncs, 1);
    assert.equal(st.state, 'connected');
    assert.ok(st.connectAttempts >= 2);
    assert.ok(cap.lines.some((l) => String(l.msg).includes('CONTINUE')));
  });
});

describe('master link, disk-based full sync (repl-diskless-sync no)', () => {
  let redis: RedisServer;
  let link: MasterLink | undefined;
  const rec = recorder();
  const cap = captureLogger();

  before(async () => {
    // 0.3 s per key makes the BGSAVE last ~1.5 s: keepalives arrive between +FULLRESYNC and $<len>,
    // and writes made meanwhile are buffered and glued right after the payload.
    redis = await startRedis(['--repl-diskless-sync', 'no', '--rdb-key-save-delay', '300000']);
    await redis.pipe([1, 2, 3, 4, 5].map((i) => ['SET', `seed:${i}`, `value-${i}`]));
  });
  after(async () => {
    await link?.stop();
    await redis?.stop();
  });

  test('$<len> payload, keepalives, and the stream glued after it', async () => {
    link = new MasterLink({ host: '127.0.0.1', port: redis.port, listeningPort: 16398, logger: cap.logger }, rec);
    link.start({ replid: null, offset: -1 });
    await waitFor('state sync', () => link!.status().state === 'sync', 5_000, 10);
    const cmds: string[][] = [];
    for (let i = 0; i < 50; i++) cmds.push(['SET', `during:${i}`, `v${i}`]);
    await redis.pipe(cmds);
    await waitFor('fullSyncEnd', () => rec.ends === 1, 20_000);
    const s = rec.syncs[0]!;
    assert.equal(s.transfer, 'disk');
    assert.ok(s.total > 0);
    assert.ok(link.status().keepalivesReceived >= 1, 'keepalives between +FULLRESYNC and $<len> were skipped');
    assert.deepEqual(rec.entries.map((e) => e.key).sort(), [1, 2, 3, 4, 5].map((i) => `seed:${i}`));

    const masterOffset = await waitCaughtUp(redis, rec);
    rec.checkContiguous();
    assert.equal(rec.batches[0]!.start, s.offset);
    const stream = rec.stream();
    assert.equal(stream.length, masterOffset - s.offset);
    assert.equal(countCommands(stream, 'set', 'during:'), 50);
    assert.ok(cap.lines.some((l) => l.msg === 'full sync payload received and verified' && l.transfer === 'disk'));
  });
});
