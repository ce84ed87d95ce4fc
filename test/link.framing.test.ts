/**
 * Unit and property tests of the link's framing: reply lines, PSYNC replies, the stream batcher's
 * byte accounting, and payload framing ($<len> / $EOF:) under arbitrary chunking.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { encodeCommand } from '../src/resp/encode.js';
import { frameCommands } from '../src/resp/framer.js';
import { LineBuffer, parsePsyncReply, psyncCommand } from '../src/replication/handshake.js';
import { PayloadReader } from '../src/replication/payload.js';
import { StreamReader } from '../src/replication/stream.js';
import { startRedis, type RedisServer } from './link.harness.js';

const GETACK = encodeCommand(['REPLCONF', 'GETACK', '*']);
const MARK = 'af0999c9d1f23f0000aaaabbbbccccddddeeeeff';

/** Splits `buf` at the given cut points (sorted, deduplicated, clipped). */
function split(buf: Buffer, cuts: number[]): Buffer[] {
  const pts = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of pts) {
    if (p > prev) out.push(buf.subarray(prev, p));
    prev = Math.max(prev, p);
  }
  if (prev < buf.length) out.push(buf.subarray(prev));
  return out;
}

interface Piece { bytes: Buffer; isCommand: boolean; getack: boolean }

const commandArb: fc.Arbitrary<Piece> = fc.oneof(
  fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 5 })
    .map((args) => ({ bytes: encodeCommand(args.map((a) => Buffer.from(a))), isCommand: true, getack: false })),
  fc.constant({ bytes: GETACK, isCommand: true, getack: true }),
  fc.constant({ bytes: encodeCommand(['replconf', 'getack', '*']), isCommand: true, getack: true }),
  fc.constant({ bytes: encodeCommand(['REPLCONF', 'ACK', '5']), isCommand: true, getack: false }),
  fc.constant({ bytes: Buffer.from('\n'), isCommand: false, getack: false }),
);

describe('reply lines and PSYNC', () => {
  test('LineBuffer skips keepalives and keeps the bytes after a line', () => {
    const lb = new LineBuffer();
    lb.push(Buffer.from('\n\n+FULL'));
    assert.equal(lb.next(), null);
    lb.push(Buffer.from('RESYNC x 0\r\n\n$3'));
    assert.equal(lb.next(), '+FULLRESYNC x 0');
    assert.equal(lb.keepalives, 2);
    assert.equal(lb.rest().toString(), '\n$3');
  });

  test('parsePsyncReply', () => {
    const id = 'a'.repeat(40);
    assert.deepEqual(parsePsyncReply(`+FULLRESYNC ${id} 106104`), { kind: 'full', replid: id, offset: 106104 });
    assert.deepEqual(parsePsyncReply(`+CONTINUE ${id}`), { kind: 'continue', replid: id });
    assert.deepEqual(parsePsyncReply('+CONTINUE'), { kind: 'continue', replid: null });
    assert.throws(() => parsePsyncReply('+FULLRESYNC abc 1'), { code: 'PARAREPLICA_PROTOCOL' });
    assert.throws(() => parsePsyncReply("-NOMASTERLINK Can't SYNC while not connected with my master"),
      { code: 'PARAREPLICA_HANDSHAKE' });
    assert.throws(() => parsePsyncReply('-LOADING Redis is loading the dataset in memory'), { code: 'PARAREPLICA_HANDSHAKE' });
    assert.throws(() => parsePsyncReply('-ERR unknown command'), { code: 'PARAREPLICA_HANDSHAKE' });
  });

  test('psyncCommand asks for offset+1, or ? -1', () => {
    assert.equal(psyncCommand({ replid: null, offset: 5 }).toString(), '*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n');
    const id = 'b'.repeat(40);
    assert.equal(psyncCommand({ replid: id, offset: 6851 }).toString(), `*3\r\n$5\r\nPSYNC\r\n$40\r\n${id}\r\n$4\r\n6852\r\n`);
  });
});

describe('StreamReader byte accounting', () => {
  test('worked sizes: ping 14, SELECT 0 23, GETACK 37', () => {
    const got: [number, number][] = [];
    let acks = 0;
    const sr = new StreamReader(100, { onGetAck: () => acks++, onData: (_b, s, e) => got.push([s, e]) });
    sr.feed(Buffer.concat([encodeCommand(['ping']), encodeCommand(['SELECT', '0']), GETACK]));
    assert.deepEqual(got, [[100, 174]]);
    assert.equal(acks, 1);
    sr.feed(encodeCommand(['set', 'k', 'v']).subarray(0, 10));
    assert.equal(sr.deliveredOffset, 174);
    assert.equal(sr.readOffset, 184);
  });

  test('any chunking: batches are whole commands, contiguous, once per read; GETACK answered first', () => {
    fc.assert(fc.property(
      fc.array(commandArb, { maxLength: 30 }), fc.array(fc.nat(), { maxLength: 20 }), fc.integer({ min: -1, max: 1e9 }),
      (pieces, cuts, base) => {
        const wire = Buffer.concat(pieces.map((p) => p.bytes));
        const commands = Buffer.concat(pieces.filter((p) => p.isCommand).map((p) => p.bytes));
        const events: string[] = [];
        const out: Buffer[] = [];
        let last = base;
        const sr = new StreamReader(base, {
          onGetAck: () => events.push('ack'),
          onData: (buf, s, e) => {
            assert.equal(s, last);
            assert.equal(e - s, buf.length);
            frameCommands(buf); // throws if not whole commands
            out.push(Buffer.from(buf));
            last = e;
            events.push('data');
          },
        });
        let expectAcks = 0;
        let fed = 0;
        for (const chunk of split(wire, cuts)) {
          const before = events.length;
          const deliveredBefore = sr.deliveredOffset;
          sr.feed(chunk);
          fed += chunk.length;
          const evs = events.slice(before);
          assert.ok(evs.filter((e) => e === 'data').length <= 1);
          if (evs.includes('ack')) {
            expectAcks++;
            assert.deepEqual(evs, ['ack', 'data'], 'GETACK is answered before its bytes are delivered');
          }
          // The batch of this read held a GETACK iff ack was signalled.
          const batch = evs.includes('data') ? out[out.length - 1]! : Buffer.alloc(0);
          const hasGetack = frameCommands(batch).some((a) =>
            a[0]!.toString().toUpperCase() === 'REPLCONF' && a[1]!.toString().toUpperCase() === 'GETACK');
          assert.equal(hasGetack, evs.includes('ack'));
          assert.ok(sr.readOffset >= sr.deliveredOffset && sr.deliveredOffset >= deliveredBefore);
          assert.ok(sr.readOffset - base <= fed);
        }
        assert.equal(events.filter((e) => e === 'ack').length, expectAcks);
        assert.deepEqual(Buffer.concat(out), commands);
        assert.equal(sr.deliveredOffset, base + commands.length);
        assert.equal(sr.readOffset, sr.deliveredOffset);
      }), { numRuns: 300 });
  });

  test('corrupt stream bytes throw PARAREPLICA_PROTOCOL', () => {
    const sr = new StreamReader(0, { onGetAck: () => {}, onData: () => {} });
    assert.throws(() => sr.feed(Buffer.from('+OK\r\n')), { code: 'PARAREPLICA_PROTOCOL' });
  });
});

describe('PayloadReader with a real snapshot', () => {
  let redis: RedisServer;
  let rdb: Buffer;
  const keys = ['alpha', 'beta', 'gamma', 'delta'];

  before(async () => {
    redis = await startRedis();
    for (const k of keys) await redis.cli('SET', k, `${k}-value`);
    await redis.cli('SAVE');
    rdb = readFileSync(join(redis.dir, 'dump.rdb'));
  });
  after(async () => {
    await redis?.stop();
  });

  function run(wire: Buffer, cuts: number[]) {
    const entries: string[] = [];
    const headers: [string, number][] = [];
    const pr = new PayloadReader({ entry: (e) => entries.push(`${e.key}=${e.value}`) }, (t, n) => headers.push([t, n]));
    const stream: Buffer[] = [];
    const sr = new StreamReader(0, { onGetAck: () => {}, onData: (b) => stream.push(Buffer.from(b)) });
    for (const chunk of split(wire, cuts)) {
      if (pr.done) {
        sr.feed(chunk);
        continue;
      }
      let used = 0;
      let headerSeen = pr.transfer !== null;
      while (used < chunk.length && !pr.done) {
        used += pr.feed(chunk.subarray(used));
        if (!headerSeen && pr.transfer !== null) {
          headerSeen = true;
          continue; // the call that reads the header stops right after it
        }
        assert.ok(used === chunk.length || pr.done, 'bytes are left only when the payload is done');
      }
      if (used < chunk.length) sr.feed(chunk.subarray(used));
    }
    return { pr, entries: entries.sort(), headers, stream: Buffer.concat(stream) };
  }

  const tail = Buffer.concat([encodeCommand(['ping']), encodeCommand(['SELECT', '0']), encodeCommand(['set', 'x', 'y'])]);
  const expected = () => keys.map((k) => `${k}=${k}-value`).sort();

  test('$<len>: keepalives, exact length, stream glued right after (any chunking)', () => {
    const wire = Buffer.concat([Buffer.from(`\n\n$${rdb.length}\r\n`), rdb, tail]);
    fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
      const r = run(wire, cuts);
      assert.ok(r.pr.done);
      assert.deepEqual(r.headers, [['disk', rdb.length]]);
      assert.equal(r.pr.keepalives, 2);
      assert.equal(r.pr.readBytes, rdb.length);
      assert.deepEqual(r.entries, expected());
      assert.deepEqual(r.stream, tail);
    }), { numRuns: 150 });
  });

  test('$EOF:<mark>: payload ends with the mark after the checksum (any chunking)', () => {
    const wire = Buffer.concat([Buffer.from(`$EOF:${MARK}\r\n`), rdb, Buffer.from(MARK), tail]);
    fc.assert(fc.property(fc.array(fc.nat(), { maxLength: 12 }), (cuts) => {
      const r = run(wire, cuts);
      assert.ok(r.pr.done);
      assert.deepEqual(r.headers, [['diskless', -1]]);
      assert.equal(r.pr.readBytes, rdb.length + 40);
      assert.deepEqual(r.entries, expected());
      assert.deepEqual(r.stream, tail);
    }), { numRuns: 150 });
  });

  test('not done before the last mark byte', () => {
    const wire = Buffer.concat([Buffer.from(`$EOF:${MARK}\r\n`), rdb, Buffer.from(MARK).subarray(0, 39)]);
    assert.equal(run(wire, []).pr.done, false);
  });

  test('malformed payloads are errors with codes', () => {
    const bad = (wire: Buffer, code: string) =>
      assert.throws(() => run(wire, []), (e: { code?: string }) => e.code === code);
    bad(Buffer.concat([Buffer.from(`$EOF:${MARK}\r\n`), rdb, Buffer.from(MARK.replace('a', 'b'))]), 'PARAREPLICA_PROTOCOL');
    bad(Buffer.concat([Buffer.from(`$${rdb.length + 3}\r\n`), rdb, Buffer.from('abc')]), 'PARAREPLICA_RDB_CORRUPT');
    bad(Buffer.concat([Buffer.from(`$${rdb.length - 1}\r\n`), rdb]), 'PARAREPLICA_RDB_CORRUPT');
    bad(Buffer.from("-ERR BGSAVE failed, replication can't continue\r\n"), 'PARAREPLICA_HANDSHAKE');
    bad(Buffer.from('+OK\r\n'), 'PARAREPLICA_PROTOCOL');
    bad(Buffer.from('$EOF:short\r\n'), 'PARAREPLICA_PROTOCOL');
  });
});
