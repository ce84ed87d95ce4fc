/**
 * The read server against real Redis tools: redis-cli (one-shot, piped and interactive through a pty),
 * and a differential check of error replies and reply shapes against a real redis-server 7.0 running
 * as a replica (its master does not exist, so it serves its empty dataset read-only).
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeBackend, RawClient, freePort, run, startServer, type Reply } from './server.helpers.js';
import type { ReadServer } from '../src/server/read-server.js';

describe('redis-cli against the read server', () => {
  let server: ReadServer;
  let port: number;
  const names = Array.from({ length: 57 }, (_, i) => `item:${i}`);

  before(async () => {
    const backend = new FakeBackend(4);
    for (const k of names) backend.set(k, `value ${k}`);
    ({ server, port } = await startServer(backend));
  });
  after(async () => { await server.close(); });

  const cli = (...args: string[]) => run('redis-cli', ['-p', String(port), ...args]);

  test('PING, GET, INFO replication, SET → READONLY', async () => {
    assert.equal((await cli('PING')).stdout, 'PONG\n');
    assert.equal((await cli('GET', 'item:3')).stdout, 'value item:3\n');
    assert.equal((await cli('GET', 'missing')).stdout, '\n');
    const info = (await cli('INFO', 'replication')).stdout;
    assert.match(info, /^# Replication\r?\nrole:slave\r?\n/);
    assert.equal((await cli('SET', 'x', '1')).stdout.trim(), "READONLY You can't write against a read only replica.");
    assert.equal((await cli('DBSIZE')).stdout, '57\n');
    assert.equal((await cli('-n', '2', 'DBSIZE')).stdout, '0\n');
  });

  test('--scan lists every key exactly once', async () => {
    const out = (await cli('--scan')).stdout.trim().split('\n');
    assert.deepEqual([...out].sort(), [...names].sort());
    const some = (await cli('--scan', '--pattern', 'item:1*')).stdout.trim().split('\n');
    assert.deepEqual(some.sort(), names.filter((k) => k.startsWith('item:1')).sort());
  });

  test('commands piped on stdin', async () => {
    const r = await run('redis-cli', ['-p', String(port)], 'PING\nGET item:7\nSELECT 99\nMGET item:1 nope item:2\n');
    assert.equal(r.stdout, 'PONG\nvalue item:7\nERR DB index is out of range\n\nvalue item:1\n\nvalue item:2\n');
  });

  test('interactive redis-cli (through a pty) starts and answers', async () => {
    const before = server.stats().totalCommands;
    const child = spawn('script', ['-qc', `redis-cli -p ${port}`, '/dev/null'], { env: { ...process.env, TERM: 'dumb' } });
    let out = '';
    child.stdout.on('data', (d) => { out += d; });
    const type = async (line: string): Promise<void> => { child.stdin.write(line + '\r'); await new Promise((r) => setTimeout(r, 300)); };
    await new Promise((r) => setTimeout(r, 500));
    await type('GET item:9');
    await type('SET a b');
    await type('exit');
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { child.kill('SIGKILL'); resolve(); }, 3000);
      child.on('close', () => { clearTimeout(t); resolve(); });
    });
    assert.match(out, /127\.0\.0\.1:\d+> GET item:9\r?\n"value item:9"/);
    assert.match(out, /\(error\) READONLY You can't write against a read only replica\./);
    // redis-cli asked for COMMAND DOCS at start-up, then our two commands.
    assert.ok(server.stats().totalCommands - before >= 3);
  });
});

describe('error replies and shapes match a real Redis 7.0 replica', () => {
  let redis: ChildProcess | undefined;
  let dir = '';
  let redisPort = 0;
  let server: ReadServer;
  let ourPort = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'parareplica-server-test-'));
    redisPort = await freePort();
    const deadPort = await freePort();
    redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--replicaof', '127.0.0.1', String(deadPort)], { stdio: 'ignore' });
    for (let i = 0; ; i++) {
      if ((await run('redis-cli', ['-p', String(redisPort), 'PING']).catch(() => ({ stdout: '' }))).stdout === 'PONG\n') break;
      if (i > 50) throw new Error('redis-server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    ({ server, port: ourPort } = await startServer(new FakeBackend(4)));
  });
  after(async () => {
    redis?.kill('SIGKILL');
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const cases: string[][] = [
    ['nosuchcmd', 'a', 'b c'], ['nosuchcmd'], ['GET'], ['SET', 'x'], ['SET', 'x', '1'], ['DEL', 'x'], ['FLUSHALL'],
    ['MSET', 'a', '1', 'b', '2'], ['SELECT', '16'], ['SELECT', 'x'], ['SELECT', '1'], ['PING', 'a', 'b'], ['PING'],
    ['PING', 'hey'], ['ECHO'], ['ECHO', 'e'], ['CLIENT'], ['CLIENT', 'SETNAME', 'a b'], ['CLIENT', 'SETNAME', 'ok'],
    ['CLIENT', 'GETNAME'], ['CLIENT', 'NOPE'], ['CLIENT', 'SETNAME'], ['HELLO', 'x'], ['HELLO', '1'], ['AUTH', 'pw'],
    ['AUTH', 'someone', 'pw'], ['AUTH', 'default', 'pw'], ['COMMAND', 'NOPE'], ['COMMAND', 'INFO', 'nosuch'],
    ['SCAN', 'x'], ['SCAN', '0', 'COUNT', '0'], ['SCAN', '0', 'COUNT', 'z'], ['SCAN', '0', 'BAD', 'z'], ['SCAN', '0'],
    ['DBSIZE'], ['KEYS', '*'], ['MGET', 'a', 'b'], ['EXISTS', 'a', 'b'], ['GET', 'a'], ['INFO', 'nosuch'],
    ['READONLY'], ['CONFIG', 'NOPE'], ['RESET'], ['QUIT'],
  ];

  test('same replies for the same requests', async () => {
    const theirs = await RawClient.connect(redisPort);
    const ours = await RawClient.connect(ourPort);
    try {
      theirs.send(...cases);
      ours.send(...cases);
      const [a, b] = await Promise.all([theirs.read(cases.length), ours.read(cases.length)]);
      const norm = (r: Reply): unknown => (Buffer.isBuffer(r) ? r.toString('latin1') : Array.isArray(r) ? r.map(norm) : r);
      cases.forEach((c, i) => assert.deepEqual(norm(b[i]), norm(a[i]), `reply to ${c.join(' ')}`));
      await ours.waitClosed();
    } finally {
      theirs.close();
      ours.close();
    }
  });

  test('same reply shapes for HELLO, CLIENT INFO, TIME, ROLE kind', async () => {
    const theirs = await RawClient.connect(redisPort);
    const ours = await RawClient.connect(ourPort);
    try {
      const shape = (r: Reply): unknown => (Array.isArray(r) ? r.map(shape) : Buffer.isBuffer(r) ? 'bulk' : r === null ? null : typeof r);
      const ha = await theirs.call('HELLO', '2') as Reply[];
      const hb = await ours.call('HELLO', '2') as Reply[];
      assert.deepEqual(shape(hb), shape(ha));
      assert.deepEqual(hb.filter((_, i) => i % 2 === 0), ha.filter((_, i) => i % 2 === 0));
      const fields = (r: Reply): string[] => String(r).trim().split(' ').map((kv) => kv.split('=')[0]);
      const ca = fields(await theirs.call('CLIENT', 'INFO'));
      const cb = fields(await ours.call('CLIENT', 'INFO'));
      assert.deepEqual(cb, ca);
      assert.deepEqual(shape(await ours.call('TIME')), shape(await theirs.call('TIME')));
      const ra = await theirs.call('ROLE') as Reply[];
      const rb = await ours.call('ROLE') as Reply[];
      assert.deepEqual(shape(rb), shape(ra));
      assert.equal(String(rb[0]), String(ra[0]));
    } finally {
      theirs.close();
      ours.close();
    }
  });
});
