/**
 * MasterLink against scripted fake masters: timeouts, retryable refusals, the no-pipelining rule
 * for PSYNC, +CONTINUE with a new replid, GETACK answers, keepalives sent while loading, and
 * linkDown when a payload is cut.
 */
import { after, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeCommand } from '../src/resp/encode.js';
import { RespFramer } from '../src/resp/framer.js';
import { MasterLink } from '../src/replication/link.js';
import { captureLogger, recorder, startRedis, waitFor } from './link.harness.js';

/** One accepted connection, seen from the fake master's side. */
class FakeConn {
  readonly commands: string[][] = [];
  /** Bytes received that were not part of a command (bare "\n" keepalives). */
  newlines = 0;
  private framer = new RespFramer();
  private received = 0;
  private commandBytes = 0;
  private waiters: (() => void)[] = [];
  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received += chunk.length;
      this.framer.feed(chunk, {
        onCommand: (buf, start, end, argc, argStart, argLen) => {
          this.commandBytes += end - start;
          const argv: string[] = [];
          for (let i = 0; i < argc; i++) argv.push(buf.toString('latin1', argStart[i], argStart[i]! + argLen[i]!));
          this.commands.push(argv);
        },
      });
      this.newlines = this.received - this.commandBytes - this.framer.pendingBytes;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
  }
  /** Resolves with the n-th command (0-based) received on this connection. */
  async command(n: number): Promise<string[]> {
    while (this.commands.length <= n) await new Promise<void>((r) => this.waiters.push(r));
    return this.commands[n]!;
  }
  write(s: string | Buffer): void {
    this.socket.write(s);
  }
}

class FakeMaster {
  readonly conns: FakeConn[] = [];
  port = 0;
  private server: net.Server;
  constructor(script: (c: FakeConn, index: number) => Promise<void> | void) {
    this.server = net.createServer((s) => {
      const c = new FakeConn(s);
      this.conns.push(c);
      Promise.resolve(script(c, this.conns.length - 1)).catch(() => s.destroy());
    });
  }
  async listen(): Promise<this> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as net.AddressInfo).port;
    return this;
  }
  async close(): Promise<void> {
    for (const c of this.conns) c.socket.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

const ID1 = '1'.repeat(40);
const ID2 = '2'.repeat(40);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Plays the master's side of PING … REPLCONF capa, replying after `delayMs` each. */
async function greet(c: FakeConn, delayMs = 0): Promise<void> {
  await c.command(0); // PING
  await sleep(delayMs);
  c.write('+PONG\r\n');
  for (let i = 1; i <= 2; i++) {
    await c.command(i); // REPLCONF listening-port, REPLCONF capa
    await sleep(delayMs);
    c.write('+OK\r\n');
  }
}

describe('master link against fake masters', () => {
  const cleanup: (() => Promise<void>)[] = [];
  after(async () => {
    for (const f of cleanup.reverse()) await f();
  });

  async function setup(script: (c: FakeConn, i: number) => Promise<void> | void, replTimeoutMs?: number,
    extra: { password?: string; announceIp?: string } = {}) {
    const master = await new FakeMaster(script).listen();
    const rec = recorder();
    const cap = captureLogger();
    const link = new MasterLink({ host: '127.0.0.1', port: master.port, listeningPort: 7777, logger: cap.logger, replTimeoutMs, ...extra }, rec);
    cleanup.push(() => master.close(), () => link.stop());
    return { master, rec, cap, link };
  }

  test('a silent master is dropped after replTimeoutMs and retried', async () => {
    const { master, cap, link } = await setup(() => {}, 1000);
    link.start({ replid: null, offset: -1 });
    await waitFor('timeout error', () => cap.lines.some((l) => (l.err as { code?: string })?.code === 'PARAREPLICA_TIMEOUT'), 5_000);
    await waitFor('second connection', () => master.conns.length >= 2, 2_000);
    assert.deepEqual(master.conns[0]!.commands, [['PING']]);
  });

  test('-LOADING on PING and -NOMASTERLINK on PSYNC are retried', async () => {
    const { master, cap, link } = await setup(async (c, i) => {
      if (i === 0) {
        await c.command(0);
        c.write('-LOADING Redis is loading the dataset in memory\r\n');
        return;
      }
      await greet(c);
      await c.command(3);
      c.write("-NOMASTERLINK Can't SYNC while not connected with my master\r\n");
    });
    link.start({ replid: null, offset: -1 });
    await waitFor('three connections', () => master.conns.length >= 3, 5_000);
    const errs = cap.lines.filter((l) => l.level === 50).map((l) => (l.err as { message: string }).message);
    assert.match(errs[0]!, /LOADING/);
    assert.match(errs[1]!, /NOMASTERLINK/);
    assert.equal(link.status().state === 'connected', false);
  });

  test('PSYNC waits for every earlier reply; +CONTINUE <new id>; GETACK answered from ackOffset()', async () => {
    let repliesSent = 0;
    let psyncAfterReplies = -1;
    const stream = Buffer.concat([encodeCommand(['ping']), encodeCommand(['REPLCONF', 'GETACK', '*'])]);
    const { master, rec, link } = await setup(async (c) => {
      await c.command(0);
      await sleep(30);
      c.write('-NOAUTH Authentication required.\r\n');
      repliesSent++;
      await c.command(4); // AUTH, listening-port, ip-address, capa
      for (let i = 0; i < 4; i++) {
        await sleep(30);
        c.write(i === 0 ? '+OK\r\n' : '-ERR unknown subcommand\r\n'); // REPLCONF errors are ignored
        repliesSent++;
      }
      const psync = await c.command(5);
      psyncAfterReplies = repliesSent;
      assert.deepEqual(psync, ['PSYNC', ID1, '101']);
      c.write(`\n+CONTINUE ${ID2}\r\n`);
      c.write(stream);
    }, undefined, { password: 'pw', announceIp: '10.1.2.3' });
    link.start({ replid: ID1, offset: 100 });
    await waitFor('continue', () => rec.continues.length === 1, 5_000);
    const c = master.conns[0]!;
    assert.deepEqual(c.commands.slice(0, 5), [
      ['PING'], ['AUTH', 'pw'], ['REPLCONF', 'listening-port', '7777'], ['REPLCONF', 'ip-address', '10.1.2.3'],
      ['REPLCONF', 'capa', 'eof', 'capa', 'psync2'],
    ]);
    assert.equal(psyncAfterReplies, 5, 'PSYNC was sent only after all 5 replies were read');
    assert.deepEqual(rec.continues, [{ replid: ID2, from: 101 }]);
    await waitFor('stream data', () => rec.delivered === 100 + stream.length, 3_000);
    assert.deepEqual(rec.batches, [{ start: 100, end: 151 }]);
    // The GETACK was answered before its batch was delivered: ackOffset() was still 100.
    await waitFor('ACK', () => c.commands.length >= 7, 3_000);
    assert.deepEqual(c.commands[6], ['REPLCONF', 'ACK', '100']);
    assert.deepEqual(link.status().resume, { replid: ID2, offset: 151 });
    assert.equal(link.status().linkUp, true);
    assert.equal(link.status().readOffset, 151);
  });

  test('full sync: first ACK right after a diskless payload, "\\n" to the master while loading, linkDown when cut', async () => {
    const redis = await startRedis();
    await redis.cli('SET', 'k', 'v');
    await redis.cli('SAVE');
    const rdb = readFileSync(join(redis.dir, 'dump.rdb'));
    await redis.stop();
    const mark = 'c'.repeat(40);
    const { master, rec, link } = await setup(async (c, i) => {
      await greet(c);
      const psync = await c.command(3);
      if (i === 0) {
        assert.deepEqual(psync, ['PSYNC', '?', '-1']);
        c.write(`\n\n+FULLRESYNC ${ID1} 500\r\n$EOF:${mark}\r\n`);
        c.write(rdb.subarray(0, 5));
        await sleep(2300); // the link is "loading": it must send "\n" once per second
        c.socket.destroy(); // cut the payload
        return;
      }
      assert.deepEqual(psync, ['PSYNC', '?', '-1'], 'an aborted sync does not change the resume state');
      c.write(`+FULLRESYNC ${ID1} 500\r\n$EOF:${mark}\r\n`);
      c.write(Buffer.concat([rdb, Buffer.from(mark)]));
    });
    link.start({ replid: null, offset: -1 });
    await waitFor('first payload header', () => rec.syncs.length === 1, 5_000);
    assert.equal(link.status().syncInProgress, true);
    assert.equal(link.status().syncTotalBytes, 0);
    await waitFor('linkDown', () => rec.downs.length === 1, 6_000);
    assert.ok(master.conns[0]!.newlines >= 2, `the link sent "\\n" while loading (${master.conns[0]!.newlines})`);
    await waitFor('second sync done', () => rec.ends === 1, 5_000);
    await waitFor('first ACK', () => master.conns[1]!.commands.length >= 5, 3_000);
    assert.deepEqual(master.conns[1]!.commands[4], ['REPLCONF', 'ACK', '500']);
    assert.deepEqual(rec.entries.map((e) => e.key), ['k']);
    assert.deepEqual(rec.events, ['full 500 diskless', 'down', 'full 500 diskless', 'end']);
    assert.equal(link.status().state, 'connected');
  });
  test('pauseRdb() stops parsing within a slice, no timeout while paused; resumeRdb() goes on', async () => {
    const redis = await startRedis();
    const cmds: string[][] = [];
    for (let i = 0; i < 3000; i++) cmds.push(['SET', `key:${i}`, `value:${i}`]);
    await redis.pipe(cmds);
    await redis.cli('SAVE');
    const rdb = readFileSync(join(redis.dir, 'dump.rdb'));
    await redis.stop();
    const ping = encodeCommand(['ping']);
    const { rec, link } = await setup(async (c) => {
      await greet(c);
      await c.command(3);
      c.write(Buffer.concat([Buffer.from(`+FULLRESYNC ${ID1} 500\r\n$${rdb.length}\r\n`), rdb, ping]));
    }, 1000);
    const entry = rec.rdb.entry;
    rec.rdb.entry = (e) => {
      entry(e);
      if (rec.entries.length === 100) link.pauseRdb();
    };
    link.start({ replid: null, offset: -1 });
    await waitFor('pause', () => rec.entries.length >= 100, 5_000);
    await sleep(1600); // longer than replTimeoutMs: a pause we asked for is not a master timeout
    const n = rec.entries.length;
    assert.ok(n < 1500, `parsing stopped soon after the pause (${n} entries)`);
    assert.equal(rec.ends, 0);
    assert.equal(link.status().state, 'sync');
    assert.equal(link.status().connectAttempts, 1);
    link.resumeRdb();
    await waitFor('end', () => rec.ends === 1 && rec.delivered === 500 + ping.length, 5_000);
    assert.equal(rec.entries.length, 3000);
    assert.equal(link.status().syncInProgress, false);
  });
  test('the first ACK goes out right after a diskless payload, not on the 1 Hz cron', async () => {
    const redis = await startRedis();
    await redis.cli('SET', 'k', 'v');
    await redis.cli('SAVE');
    const rdb = readFileSync(join(redis.dir, 'dump.rdb'));
    await redis.stop();
    const mark = 'd'.repeat(40);
    mock.timers.enable({ apis: ['setInterval'] }); // the cron never fires in this test
    try {
      const { master, rec, link } = await setup(async (c) => {
        await greet(c);
        await c.command(3);
        c.write(Buffer.concat([Buffer.from(`+FULLRESYNC ${ID1} 42\r\n$EOF:${mark}\r\n`), rdb, Buffer.from(mark)]));
        await c.command(4);
        c.write(encodeCommand(['SELECT', '0'])); // a real master starts streaming only now
      });
      link.start({ replid: null, offset: -1 });
      await waitFor('stream after the first ACK', () => rec.delivered === 42 + 23, 3_000);
      assert.deepEqual(master.conns[0]!.commands[4], ['REPLCONF', 'ACK', '42']);
      await link.stop();
    } finally {
      mock.timers.reset();
    }
  });
});
