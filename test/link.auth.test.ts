/**
 * MasterLink against a real redis-server 7.0 master with requirepass and an ACL user; and stop()
 * while a sync is in progress.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MasterLink, type LinkOptions } from '../src/replication/link.js';
import { captureLogger, recorder, startRedis, waitFor, type RedisServer } from './link.harness.js';

describe('master link with authentication', () => {
  let redis: RedisServer;
  const links: MasterLink[] = [];

  before(async () => {
    redis = await startRedis(['--requirepass', 'secret', '--repl-diskless-sync-delay', '0'], { pass: 'secret' });
    await redis.cli('ACL', 'SETUSER', 'repl', 'on', '>rpass', '+psync', '+replconf', '+ping');
    await redis.cli('SET', 'a', '1');
  });
  after(async () => {
    for (const l of links) await l.stop();
    await redis?.stop();
  });

  function make(extra: Partial<LinkOptions>) {
    const rec = recorder();
    const cap = captureLogger();
    const link = new MasterLink({ host: '127.0.0.1', port: redis.port, listeningPort: 16390, logger: cap.logger, ...extra }, rec);
    links.push(link);
    return { rec, cap, link };
  }

  test('masterauth (default user) syncs', async () => {
    const { rec, link } = make({ password: 'secret' });
    link.start({ replid: null, offset: -1 });
    await waitFor('fullSyncEnd', () => rec.ends === 1, 15_000);
    assert.deepEqual(rec.entries.map((e) => e.key), ['a']);
    await link.stop();
  });

  test('an ACL user with +psync +replconf +ping syncs', async () => {
    const { rec, link } = make({ user: 'repl', password: 'rpass' });
    link.start({ replid: null, offset: -1 });
    await waitFor('fullSyncEnd', () => rec.ends === 1, 15_000);
    assert.equal(link.status().state, 'connected');
    await link.stop();
  });

  test('a wrong password logs PARAREPLICA_HANDSHAKE and keeps retrying', async () => {
    const { rec, cap, link } = make({ user: 'repl', password: 'nope' });
    link.start({ replid: null, offset: -1 });
    await waitFor('three attempts', () => link.status().connectAttempts >= 3, 5_000);
    await waitFor('third failure', () => cap.lines.filter((l) => l.level === 50).length >= 3, 5_000);
    const errs = cap.lines.filter((l) => l.level === 50);
    for (const l of errs) {
      const err = l.err as { code?: string; message?: string };
      assert.equal(err.code, 'PARAREPLICA_HANDSHAKE');
      assert.match(err.message!, /WRONGPASS.*to AUTH.*masterauth/);
    }
    // Backoff grows: 100, 200, 400 ms…
    assert.deepEqual(errs.slice(0, 3).map((l) => l.retryInMs), [100, 200, 400]);
    assert.equal(rec.syncs.length, 0);
    assert.equal(link.status().linkUp, false);
    assert.match(link.status().lastError!, /WRONGPASS/);
    await link.stop();
  });

  test('no password against a requirepass master says so', async () => {
    const { cap, link } = make({});
    link.start({ replid: null, offset: -1 });
    await waitFor('an error', () => cap.lines.some((l) => l.level === 50), 5_000);
    const err = cap.lines.find((l) => l.level === 50)!.err as { code: string; message: string };
    assert.equal(err.code, 'PARAREPLICA_HANDSHAKE');
    assert.match(err.message, /requires authentication/);
    await link.stop();
  });
});

describe('stop() during a sync', () => {
  let redis: RedisServer;

  before(async () => {
    redis = await startRedis(['--repl-diskless-sync', 'no', '--rdb-key-save-delay', '500000']);
    await redis.pipe([1, 2, 3, 4, 5, 6].map((i) => ['SET', `s:${i}`, 'v']));
  });
  after(async () => {
    await redis?.stop();
  });

  test('stop() while the master prepares the payload returns promptly and never reconnects', async () => {
    const rec = recorder();
    const cap = captureLogger();
    const link = new MasterLink({ host: '127.0.0.1', port: redis.port, listeningPort: 16391, logger: cap.logger }, rec);
    link.start({ replid: null, offset: -1 });
    await waitFor('state sync', () => link.status().state === 'sync', 5_000, 10);
    const t0 = Date.now();
    await link.stop();
    assert.ok(Date.now() - t0 < 1000, 'stop() did not hang');
    const attempts = link.status().connectAttempts;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(link.status().connectAttempts, attempts);
    assert.equal(link.status().state, 'connect');
    assert.equal(rec.ends, 0);
    assert.throws(() => link.start({ replid: null, offset: -1 }), { code: 'PARAREPLICA_SHUTDOWN' });
  });

  test('stop() while the payload is paused (pauseRdb) returns promptly', async () => {
    const rec = recorder();
    const cap = captureLogger();
    const link = new MasterLink({ host: '127.0.0.1', port: redis.port, listeningPort: 16392, logger: cap.logger }, rec);
    rec.fullSyncStart = ((orig) => (...a: Parameters<typeof orig>) => { orig(...a); link.pauseRdb(); })(rec.fullSyncStart);
    link.start({ replid: null, offset: -1 });
    await waitFor('payload header', () => rec.syncs.length === 1, 15_000);
    const t0 = Date.now();
    await link.stop();
    assert.ok(Date.now() - t0 < 1000, 'stop() did not hang');
    assert.equal(rec.ends, 0);
  });
});
