/**
 * Read server over a raw socket with a fake backend: replies, error wording, pipelining order with
 * delayed shard replies, loading / read-only rules, input limits, and client isolation.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FakeBackend, RawClient, startServer, str, type Reply } from './server.helpers.js';
import type { ReadServer } from '../src/server/read-server.js';

const b = (s: string): Buffer => Buffer.from(s);

describe('read server protocol', () => {
  let backend: FakeBackend;
  let server: ReadServer;
  let port: number;
  const clients: RawClient[] = [];
  const connect = async (): Promise<RawClient> => { const c = await RawClient.connect(port); clients.push(c); return c; };

  before(async () => {
    backend = new FakeBackend(4);
    for (let i = 0; i < 50; i++) backend.set(`key:${i}`, `v${i}`);
    backend.set('other', 'x', 3);
    ({ server, port } = await startServer(backend, { maxBulkLen: 1024, maxArgs: 100, maxClients: 300 }));
  });
  after(async () => {
    for (const c of clients) c.close();
    await server.close();
  });

  test('connection commands', async () => {
    const c = await connect();
    assert.deepEqual(await c.call('PING'), { status: 'PONG' });
    assert.deepEqual(await c.call('ping', 'hi'), b('hi'));
    assert.deepEqual(await c.call('PING', 'a', 'b'), { error: "ERR wrong number of arguments for 'ping' command" });
    assert.deepEqual(await c.call('ECHO', 'x y'), b('x y'));
    const id = await c.call('CLIENT', 'ID');
    assert.ok(typeof id === 'number' && id >= 1);
    assert.equal(await c.call('CLIENT', 'GETNAME'), null);
    assert.deepEqual(await c.call('CLIENT', 'SETNAME', 'bad name'), { error: 'ERR Client names cannot contain spaces, newlines or special characters.' });
    assert.deepEqual(await c.call('CLIENT', 'SETNAME', 'me'), { status: 'OK' });
    assert.deepEqual(await c.call('CLIENT', 'GETNAME'), b('me'));
    assert.deepEqual(await c.call('CLIENT', 'SETNAME'), { error: "ERR wrong number of arguments for 'client|setname' command" });
    assert.deepEqual(await c.call('CLIENT', 'FOO'), { error: "ERR unknown subcommand 'FOO'. Try CLIENT HELP." });
    const info = str(await c.call('CLIENT', 'INFO'));
    assert.match(info, /^id=\d+ addr=127\.0\.0\.1:\d+ laddr=127\.0\.0\.1:\d+ .*name=me .*db=0 .*cmd=client\|info .*resp=2\n$/);
    const list = str(await c.call('CLIENT', 'LIST'));
    assert.ok(list.split('\n').some((l) => l.includes('name=me')), list);
    assert.deepEqual(await c.call('HELLO', '3'), { error: 'NOPROTO unsupported protocol version' });
    assert.deepEqual(await c.call('HELLO', 'x'), { error: 'ERR Protocol version is not an integer or out of range' });
    const hello = await c.call('HELLO', '2', 'AUTH', 'default', 'pw', 'SETNAME', 'n2') as Reply[];
    assert.deepEqual(hello.slice(0, 6), [b('server'), b('redis'), b('version'), b('7.0.15'), b('proto'), 2]);
    assert.deepEqual(hello[11], b('replica'));
    assert.deepEqual(await c.call('CLIENT', 'GETNAME'), b('n2'));
    assert.deepEqual(await c.call('AUTH', 'x'), { error: 'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?' });
    assert.deepEqual(await c.call('ROLE'), [b('slave'), b('127.0.0.1'), 6379, b('connected'), 42]);
    assert.deepEqual(await c.call('CONFIG', 'GET', 'data*'), [b('databases'), b('16')]);
    const time = await c.call('TIME') as Buffer[];
    assert.ok(Math.abs(Number(str(time[0])) - Date.now() / 1000) < 5);
    assert.deepEqual(await c.call('QUIT'), { status: 'OK' });
    await c.waitClosed();
  });

  test('SELECT is per connection and bounded', async () => {
    const c1 = await connect();
    const c2 = await connect();
    assert.deepEqual(await c1.call('SELECT', '3'), { status: 'OK' });
    assert.deepEqual(await c1.call('GET', 'other'), b('x'));
    assert.equal(await c2.call('GET', 'other'), null);
    assert.deepEqual(await c1.call('SELECT', '16'), { error: 'ERR DB index is out of range' });
    assert.deepEqual(await c1.call('SELECT', '-1'), { error: 'ERR DB index is out of range' });
    assert.deepEqual(await c1.call('SELECT', 'x'), { error: 'ERR value is not an integer or out of range' });
    assert.deepEqual(await c1.call('DBSIZE'), 1);
    assert.deepEqual(await c2.call('DBSIZE'), 50);
  });

  test('unknown command, arity before READONLY, READONLY', async () => {
    const c = await connect();
    assert.deepEqual(await c.call('foo', 'bar', 'baz\r\nx'), { error: "ERR unknown command 'foo', with args beginning with: 'bar' 'baz  x' " });
    assert.deepEqual(await c.call('foo'), { error: "ERR unknown command 'foo', with args beginning with: " });
    const long = 'a'.repeat(200);
    const e = (await c.call('nope', long, 'b')) as { error: string };
    assert.equal(e.error, `ERR unknown command 'nope', with args beginning with: '${'a'.repeat(128)}' `);
    assert.deepEqual(await c.call('GET'), { error: "ERR wrong number of arguments for 'get' command" });
    assert.deepEqual(await c.call('SET', 'x'), { error: "ERR wrong number of arguments for 'set' command" });
    assert.deepEqual(await c.call('SET', 'x', '1'), { error: "READONLY You can't write against a read only replica." });
    assert.deepEqual(await c.call('flushall'), { error: "READONLY You can't write against a read only replica." });
    assert.deepEqual(await c.call('Get', 'key:1'), b('v1'));
  });

  test('LOADING for keyspace commands, not for INFO/PING/ROLE; writes still READONLY', async () => {
    const c = await connect();
    backend.isLoading = true;
    try {
      assert.deepEqual(await c.call('GET', 'key:1'), { error: 'LOADING Redis is loading the dataset in memory' });
      assert.deepEqual(await c.call('DBSIZE'), { error: 'LOADING Redis is loading the dataset in memory' });
      assert.deepEqual(await c.call('SET', 'a', 'b'), { error: "READONLY You can't write against a read only replica." });
      assert.deepEqual(await c.call('PING'), { status: 'PONG' });
      assert.ok(Buffer.isBuffer(await c.call('INFO', 'replication')));
      assert.ok(Array.isArray(await c.call('ROLE')));
    } finally {
      backend.isLoading = false;
    }
  });

  test('INFO is formatted like Redis', async () => {
    const c = await connect();
    const repl = str(await c.call('INFO', 'replication'));
    assert.equal(repl, '# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:up\r\n');
    const all = str(await c.call('INFO'));
    const headers = all.split('\r\n').filter((l) => l.startsWith('#'));
    assert.deepEqual(headers, ['# Server', '# Clients', '# Memory', '# Stats', '# Replication', '# Applier', '# Keyspace']);
    assert.match(all, /\r\n\r\n# Clients\r\n/);
    assert.match(all, /\r\n# Memory\r\nused_memory:\d+\r\nused_memory_human:[\d.]+[KMGT]\r\nused_memory_rss:\d+\r\n/);
    assert.match(all, /\r\nmem_allocator:(jemalloc|libc)\r\n/);
    assert.match(all, /^# Server\r\nredis_version:7\.0\.15\r\nparareplica_version:\d+\.\d+\.\d+\r\n/);
    assert.match(all, new RegExp(`\r\ntcp_port:${port}\r\n`));
    assert.match(all, /\r\nprocess_id:\d+\r\n/);
    assert.match(all, /\r\nuptime_in_seconds:\d+\r\n/);
    assert.match(all, /\r\nconnected_clients:\d+\r\n/);
    assert.ok(all.endsWith('\r\n\r\n# Keyspace\r\ndb0:keys=50,expires=0,avg_ttl=0\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n'), all);
    assert.equal(str(await c.call('INFO', 'KEYSPACE', 'server')).split('\r\n').filter((l) => l.startsWith('#')).join(','), '# Server,# Keyspace');
    assert.equal(str(await c.call('INFO', 'nosuch')), '');
    const everything = str(await c.call('INFO', 'everything'));
    assert.deepEqual(everything.split('\r\n').filter((l) => l.startsWith('#')), headers);
  });

  test('COMMAND replies are well formed', async () => {
    const c = await connect();
    const count = await c.call('COMMAND', 'COUNT') as number;
    assert.ok(count > 100);
    const all = await c.call('COMMAND') as Reply[][];
    assert.equal(all.length, count);
    for (const e of all) {
      assert.equal(e.length, 10);
      assert.ok(Buffer.isBuffer(e[0]) && typeof e[1] === 'number' && typeof e[3] === 'number' && typeof e[5] === 'number');
    }
    const [get, none] = await c.call('COMMAND', 'INFO', 'get', 'nosuch') as Reply[][];
    assert.deepEqual(get.slice(0, 6), [b('get'), 2, [{ status: 'readonly' }], 1, 1, 1]);
    assert.equal(none, null);
    assert.deepEqual(await c.call('COMMAND', 'DOCS'), []);
    assert.deepEqual(await c.call('COMMAND', 'FOO'), { error: "ERR unknown subcommand 'FOO'. Try COMMAND HELP." });
  });

  test('pipelined replies come back in request order although shard reads finish out of order', async () => {
    const c = await connect();
    backend.delays.set('key:0', 80);
    backend.delays.set('key:1', 40);
    try {
      const cmds: string[][] = [['GET', 'key:0'], ['PING'], ['GET', 'key:1'], ['ECHO', 'e'], ['GET', 'key:2'],
        ['MGET', 'key:1', 'key:3', 'key:0', 'missing'], ['EXISTS', 'key:0', 'key:1', 'nope', 'key:0'], ['SET', 'a', 'b'], ['GET', 'key:3']];
      c.send(...cmds);
      const replies = await c.read(cmds.length);
      assert.deepEqual(replies, [b('v0'), { status: 'PONG' }, b('v1'), b('e'), b('v2'),
        [b('v1'), b('v3'), b('v0'), null], 3, { error: "READONLY You can't write against a read only replica." }, b('v3')]);
      // A long pipeline of alternating slow/fast requests, sent in one write.
      const many: string[][] = [];
      for (let i = 0; i < 300; i++) many.push(i % 7 === 0 ? ['GET', 'key:1'] : i % 2 ? ['ECHO', String(i)] : ['GET', `key:${i % 50}`]);
      c.send(...many);
      const got = await c.read(many.length, 10000);
      got.forEach((r, i) => {
        const want = i % 7 === 0 ? 'v1' : i % 2 ? String(i) : `v${i % 50}`;
        assert.equal(str(r), want, `reply ${i}`);
      });
    } finally {
      backend.delays.clear();
    }
  });

  test('property: any pipeline with any shard delays is answered in order', async () => {
    const c = await connect();
    const cmd = fc.oneof(
      fc.nat(49).map((k) => ['GET', `key:${k}`]),
      fc.string({ maxLength: 5 }).map((s) => ['ECHO', s]),
      fc.array(fc.nat(60), { minLength: 1, maxLength: 5 }).map((ks) => ['MGET', ...ks.map((k) => `key:${k}`)]),
      fc.constant(['SET', 'a', 'b'] as string[]),
    );
    const expected = (argv: string[]): unknown => {
      if (argv[0] === 'GET') return `v${argv[1].slice(4)}`;
      if (argv[0] === 'ECHO') return argv[1];
      if (argv[0] === 'MGET') return argv.slice(1).map((k) => (Number(k.slice(4)) < 50 ? `v${k.slice(4)}` : null));
      return { error: "READONLY You can't write against a read only replica." };
    };
    const norm = (r: Reply): unknown => (Buffer.isBuffer(r) ? r.toString() : Array.isArray(r) ? r.map(norm) : r);
    try {
      await fc.assert(fc.asyncProperty(
        fc.array(cmd, { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 50, maxLength: 50 }),
        async (cmds, delays) => {
          delays.forEach((d, i) => backend.delays.set(`key:${i}`, d));
          c.send(...cmds);
          const replies = await c.read(cmds.length);
          assert.deepEqual(replies.map(norm), cmds.map(expected));
        },
      ), { numRuns: 25 });
    } finally {
      backend.delays.clear();
    }
  });

  test('a backend rejection becomes -ERR for that request only', async () => {
    const c = await connect();
    backend.failWith = 'shard 2 is restarting';
    c.send(['GET', 'key:1'], ['PING']);
    const [r1, r2] = await c.read(2);
    backend.failWith = undefined;
    assert.deepEqual(r1, { error: 'ERR shard 2 is restarting' });
    assert.deepEqual(r2, { status: 'PONG' });
    assert.deepEqual(await c.call('GET', 'key:1'), b('v1'));
  });

  test('protocol errors close only that client; earlier replies are delivered first', async () => {
    const good = await connect();
    const bad = await connect();
    bad.writeRaw('PING\r\n*1\r\n$4\r\nPING\r\n');
    assert.deepEqual(await bad.read(2), [{ status: 'PONG' }, { status: 'PONG' }]);
    bad.writeRaw('*2\r\n$3\r\nGET\r\n$5000\r\n');  // over maxBulkLen (1024)
    assert.deepEqual(await bad.read(1), [{ error: 'ERR Protocol error: invalid bulk length' }]);
    await bad.waitClosed();
    const bad2 = await connect();
    bad2.writeRaw('*101\r\n');  // over maxArgs (100)
    assert.deepEqual(await bad2.read(1), [{ error: 'ERR Protocol error: invalid multibulk length' }]);
    await bad2.waitClosed();
    const bad3 = await connect();
    bad3.writeRaw('x'.repeat(70 * 1024));  // inline request without newline, over 64 KiB
    assert.deepEqual(await bad3.read(1), [{ error: 'ERR Protocol error: too big inline request' }]);
    await bad3.waitClosed();
    const bad4 = await connect();
    bad4.writeRaw('GET "unbalanced\r\n');
    assert.deepEqual(await bad4.read(1), [{ error: 'ERR Protocol error: unbalanced quotes in request' }]);
    await bad4.waitClosed();
    assert.deepEqual(await good.call('PING'), { status: 'PONG' });
    assert.deepEqual(await good.call('GET', 'key:7'), b('v7'));
  });

  test('routing: single-key reads to the key\'s shard, multi-key only within one shard', async () => {
    const c = await connect();
    backend.calls.length = 0;
    assert.deepEqual(await c.call('STRLEN', 'key:9'), 2);
    assert.deepEqual(backend.calls, [{ shard: backend.shardOf(b('key:9')), db: 0, argv: ['STRLEN', 'key:9'] }]);
    const [k1, k2] = ['{t}a', '{t}b'];
    assert.equal(backend.shardOf(b(k1)), backend.shardOf(b(k2)));
    assert.deepEqual(await c.call('SINTER', k1, k2), { error: "ERR fake backend does not know 'sinter'" });
    let spread = ['a', 'b'];
    for (let i = 0; backend.shardOf(b(spread[0])) === backend.shardOf(b(spread[1])); i++) spread = ['a', `b${i}`];
    const cross = await c.call('SINTER', ...spread) as { error: string };
    assert.match(cross.error, /^CROSSSLOT .*hash tag/);
    assert.deepEqual(await c.call('MULTI'), { error: "ERR 'multi' is not supported by parareplica's read server" });
    assert.deepEqual(await c.call('SPUBLISH', 'ch', 'm'), { error: "ERR 'spublish' is not supported by parareplica's read server" });
  });

  test('a reply value that cannot be encoded becomes an error; the connection goes on', async () => {
    const c = await connect();
    const orig = backend.read.bind(backend);
    backend.read = async (shard, db, argv) => (argv[0].toString() === 'GET' ? [b('ok'), { weird: 1 }] : orig(shard, db, argv));
    try {
      c.send(['PING'], ['GET', 'key:1'], ['ECHO', 'after']);
      const [p, bad, after] = await c.read(3);
      assert.deepEqual(p, { status: 'PONG' });
      assert.match((bad as { error: string }).error, /^ERR internal error .*cannot encode/);
      assert.deepEqual(after, b('after'));
    } finally {
      backend.read = orig;
    }
  });

  test('QUIT after slow reads: their replies arrive, then the connection closes', async () => {
    const c = await connect();
    backend.delays.set('key:8', 50);
    try {
      c.send(['GET', 'key:8'], ['QUIT'], ['PING']);
      assert.deepEqual(await c.read(2), [b('v8'), { status: 'OK' }]);
      await c.waitClosed();
    } finally {
      backend.delays.clear();
    }
  });

  test('INFO keyspace while loading does not wait for the shards', async () => {
    const c = await connect();
    backend.isLoading = true;
    backend.calls.length = 0;
    try {
      assert.equal(str(await c.call('INFO', 'keyspace')), '# Keyspace\r\n');
      assert.equal(backend.calls.length, 0);
    } finally {
      backend.isLoading = false;
    }
  });

  test('inline commands and byte-split requests', async () => {
    const c = await connect();
    c.writeRaw('GET key:4\r\nECHO "a b"\n');
    assert.deepEqual(await c.read(2), [b('v4'), b('a b')]);
    const bytes = Buffer.from('*2\r\n$3\r\nGET\r\n$5\r\nkey:5\r\n*1\r\n$4\r\nPING\r\n');
    for (const byte of bytes) c.writeRaw(Buffer.from([byte]));
    assert.deepEqual(await c.read(2), [b('v5'), { status: 'PONG' }]);
  });

  test('200 concurrent clients', async () => {
    const before = server.stats().totalConnections;
    const many = await Promise.all(Array.from({ length: 200 }, () => connect()));
    await Promise.all(many.map(async (c, i) => {
      c.send(['SELECT', '0'], ['GET', `key:${i % 50}`], ['CLIENT', 'ID']);
      const [ok, v, id] = await c.read(3);
      assert.deepEqual(ok, { status: 'OK' });
      assert.deepEqual(v, b(`v${i % 50}`));
      assert.equal(typeof id, 'number');
    }));
    const ids = await Promise.all(many.map((c) => c.call('CLIENT', 'ID')));
    assert.equal(new Set(ids).size, 200);
    assert.ok(server.stats().connectedClients >= 200);
    assert.equal(server.stats().totalConnections - before, 200);
    for (const c of many) c.close();
  });
});

describe('read server limits', () => {
  test('maxClients refuses extra clients with Redis\'s error', async () => {
    const { server, port } = await startServer(new FakeBackend(2), { maxClients: 2 });
    const cs: RawClient[] = [];
    try {
      cs.push(await RawClient.connect(port), await RawClient.connect(port));
      assert.deepEqual(await cs[0].call('PING'), { status: 'PONG' });
      assert.deepEqual(await cs[1].call('PING'), { status: 'PONG' });
      const third = await RawClient.connect(port);
      cs.push(third);
      assert.deepEqual(await third.read(1), [{ error: 'ERR max number of clients reached' }]);
      await third.waitClosed();
      assert.equal(server.stats().rejectedClients, 1);
      cs[0].close();
      await new Promise((r) => setTimeout(r, 50));
      const fourth = await RawClient.connect(port);
      cs.push(fourth);
      assert.deepEqual(await fourth.call('PING'), { status: 'PONG' });
    } finally {
      for (const c of cs) c.close();
      await server.close();
    }
  });

  test('a client that never reads is disconnected at the output limit; others are unaffected', async () => {
    const backend = new FakeBackend(2);
    backend.set('big', 'z'.repeat(256 * 1024));
    const { server, port } = await startServer(backend, { maxOutputBytes: 2 * 1024 * 1024 });
    const hog = await RawClient.connect(port);
    const other = await RawClient.connect(port);
    try {
      hog.socket.pause();
      const burst: string[][] = Array.from({ length: 200 }, () => ['GET', 'big']);  // 50 MiB of replies
      hog.send(...burst);
      assert.deepEqual(await other.call('PING'), { status: 'PONG' });
      // The hog's unread replies pass the 2 MiB limit: the server drops it (its socket sees the close
      // once it reads again).
      await new Promise((r) => setTimeout(r, 300));
      hog.socket.resume();
      await hog.waitClosed(5000);
      assert.ok(server.stats().connectedClients === 1);
      assert.deepEqual(await other.call('GET', 'big'), b('z'.repeat(256 * 1024)));
    } finally {
      hog.close();
      other.close();
      await server.close();
    }
  });

  test('listen on a busy port rejects with a ParaError', async () => {
    const a = await startServer(new FakeBackend(1));
    const { ReadServer } = await import('../src/server/read-server.js');
    const { silentLogger } = await import('./server.helpers.js');
    const s2 = new ReadServer(new FakeBackend(1), { port: a.port, bind: '127.0.0.1', logger: silentLogger });
    await assert.rejects(s2.listen(), (e: Error & { code?: string }) => e.code === 'PARAREPLICA_BAD_OPTION' && /cannot listen/.test(e.message));
    await a.server.close();
    assert.throws(() => new ReadServer(new FakeBackend(1), { port: 0, bind: '127.0.0.1', logger: silentLogger, databases: 0 }),
      /databases must be a positive integer/);
  });
});
