/**
 * Cross-shard exchanges under hostile schedules, without a master (the real router and appliers):
 * - Deadlock-freedom: random streams of moving/combining commands across shards (RENAME, SMOVE,
 *   LMOVE, COPY, SUNIONSTORE, ZUNIONSTORE, BITOP), MULTI blocks whose exchanges point both ways, and
 *   FLUSHALL/FLUSHDB/SWAPDB barriers, fed in random chunk splits through tiny rings to 3 appliers that
 *   pause at random and use random group sizes. Every run must settle, and its whole keyspace must
 *   equal a 1-shard engine's (where every command runs locally): the exchange changes nothing.
 * - Cancellation: stopping while a destination waits for an export that never comes returns promptly.
 * - A destination whose source halted halts too (PARAREPLICA_EXCHANGE_SOURCE_HALTED), never hangs.
 * - --skip-errors in an applier: the failing command is skipped, the rest of its group applied.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeCommand } from '../src/resp/encode.js';
import { RecordKind, C_SKIPPED_ERRORS, C_COMMITTED_OFFSET, C_XCHG_DEST } from '../src/shm/layout.js';
import { shardOfKey } from '../src/router/slot.js';
import { destMarker } from '../src/router/markers.js';
import { startEngine, type TestEngine } from './helpers/engine.js';

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const DBS = 3;
const k = fc.constantFrom(...KEYS);
const v = fc.constantFrom('x', 'y', 'z', '1', '2');

const single: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(k, v).map(([a, b]) => ['SET', a, b]),
  fc.tuple(k, v, v).map(([a, b, c]) => ['SADD', a, b, c]),
  fc.tuple(k, v, v).map(([a, b, c]) => ['RPUSH', a, b, c]),
  fc.tuple(k, fc.integer({ min: -5, max: 5 }), v).map(([a, s, m]) => ['ZADD', a, String(s), m]),
  fc.tuple(k, k).map(([a, b]) => ['RENAME', a, b]),
  fc.tuple(k, k, v).map(([a, b, m]) => ['SMOVE', a, b, m]),
  fc.tuple(k, k).map(([a, b]) => ['LMOVE', a, b, 'LEFT', 'RIGHT']),
  fc.tuple(k, k).map(([a, b]) => ['RPOPLPUSH', a, b]),
  fc.tuple(k, k, fc.boolean()).map(([a, b, r]) => ['COPY', a, b, 'DB', '1', ...(r ? ['REPLACE'] : [])]),
  fc.tuple(k, k, k).map(([d, a, b]) => ['SUNIONSTORE', d, a, b]),
  fc.tuple(k, k, k).map(([d, a, b]) => ['ZUNIONSTORE', d, '2', a, b, 'WEIGHTS', '2', '3']),
  fc.tuple(k, k, k).map(([d, a, b]) => ['BITOP', 'OR', d, a, b]),
);
const barrier: fc.Arbitrary<string[]> = fc.oneof(
  fc.constant<string[]>(['FLUSHDB']), fc.constant<string[]>(['FLUSHALL']),
  fc.tuple(fc.integer({ min: 0, max: DBS - 1 }), fc.integer({ min: 0, max: DBS - 1 })).map(([a, b]) => ['SWAPDB', String(a), String(b)]),
);
const select = fc.integer({ min: 0, max: DBS - 1 }).map((d) => ['SELECT', String(d)]);
/** A unit of the stream: one command, or a MULTI block (possibly with barriers and SELECTs inside). */
const unit: fc.Arbitrary<string[][]> = fc.oneof(
  { weight: 12, arbitrary: single.map((c) => [c]) },
  { weight: 1, arbitrary: barrier.map((c) => [c]) },
  { weight: 2, arbitrary: select.map((c) => [c]) },
  { weight: 3, arbitrary: fc.array(fc.oneof({ weight: 6, arbitrary: single }, { weight: 1, arbitrary: barrier }, { weight: 1, arbitrary: select }), { minLength: 2, maxLength: 6 })
    .map((cs) => [['MULTI'], ...cs, ['EXEC']]) },
);

function streamOf(units: string[][][]): Buffer {
  return Buffer.concat(units.flat().map((c) => encodeCommand(c)));
}

/** Every key of every db, as "db key type value" lines, read through the engine's read path. */
async function dump(e: TestEngine): Promise<string[]> {
  const out: string[] = [];
  const S = e.router.shards;
  const r = async (key: Buffer, db: number, ...argv: string[]): Promise<unknown> =>
    e.reads.read(shardOfKey(key, S), db, [Buffer.from(argv[0]), key, ...argv.slice(1).map((x) => Buffer.from(x))]);
  for (let db = 0; db < DBS; db++) {
    for (let s = 0; s < S; s++) {
      const keys = await e.reads.read(s, db, [Buffer.from('keys'), Buffer.from('*')]) as Buffer[];
      for (const key of keys) {
        const t = ((await r(key, db, 'type')) as { status: string }).status;
        let val: unknown;
        if (t === 'string') val = await r(key, db, 'get');
        else if (t === 'list') val = await r(key, db, 'lrange', '0', '-1');
        else if (t === 'set') val = ((await r(key, db, 'smembers')) as Buffer[]).map(String).sort();
        else if (t === 'zset') val = await r(key, db, 'zrange', '0', '-1', 'withscores');
        else val = await r(key, db, 'hgetall');
        out.push(`${db} ${key} ${t} ${JSON.stringify(val, (_k, x) => (x?.type === 'Buffer' ? Buffer.from(x.data).toString() : x))}`);
      }
    }
  }
  return out.sort();
}

async function feed(e: TestEngine, bytes: Buffer, cuts: number[]): Promise<void> {
  let at = 0;
  for (const c of [...cuts.map((x) => Math.floor(x * bytes.length)).sort((a, b) => a - b), bytes.length]) {
    if (c <= at) continue;
    if (!e.router.route(bytes.subarray(at, c))) await e.router.drain();
    at = c;
  }
}

test('exchanges never deadlock under random schedules and equal a 1-shard engine', { timeout: 240_000 }, async () => {
  const oracle = await startEngine(1, 1 << 16);
  try {
    await fc.assert(fc.asyncProperty(
      fc.array(unit, { minLength: 10, maxLength: 60 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 12 }),
      fc.integer({ min: 12, max: 16 }), fc.integer({ min: 1, max: 64 }),
      async (units, cuts, ringLog, maxGroup) => {
        const bytes = streamOf([[['FLUSHALL']], ...units]);
        const e = await startEngine(3, 1 << ringLog, undefined, { chaosDelayMs: 3, maxGroup });
        const t0 = Date.now();
        try {
          await feed(e, bytes, cuts);
          await e.settle(30_000);
          assert.deepEqual(e.halts, []);
          oracle.router.resetAt(oracle.router.offset, 0);
          await feed(oracle, bytes, []);
          await oracle.settle(30_000);
          assert.deepEqual(await dump(e), await dump(oracle));
          if (process.env.SCHEDULE_DEBUG) console.log(`run: ${units.length} units, ${bytes.length} bytes, ${Date.now() - t0} ms`);
        } finally {
          await e.close();
        }
      }), { numRuns: Number(process.env.SCHEDULE_RUNS ?? 12), seed: 20261124 });
  } finally {
    await oracle.close();
  }
});

/** A WRITE record for shard `s`: the command behind a destination marker naming `sources`. */
function emitDest(e: TestEngine, s: number, offset: number, sources: number[], argv: string[]): void {
  const payload = Buffer.concat([destMarker(0, sources), encodeCommand(argv)]);
  e.router.emit(s, RecordKind.WRITE, 0, offset, 0, payload, 0, payload.length);
  e.router.wakeShard(s);
}

test('stopping while a destination waits for an export returns promptly and commits nothing of it', { timeout: 30_000 }, async () => {
  const e = await startEngine(2, 1 << 16);
  emitDest(e, 0, 100, [1], ['RENAME', 'src', 'dst']);   // shard 1 never gets its part: the wait never ends
  await new Promise((r) => setTimeout(r, 300));
  const t0 = Date.now();
  await e.close();
  assert.ok(Date.now() - t0 < 5000, `stop took ${Date.now() - t0} ms`);
  assert.ok(e.shared.counter(0, C_COMMITTED_OFFSET) < 100, 'the exchange was not committed');
  assert.equal(e.shared.counter(0, C_XCHG_DEST), 0);
});

test('a destination whose source halted halts too, at that command', { timeout: 30_000 }, async () => {
  const e = await startEngine(2, 1 << 16);
  try {
    const bogus = encodeCommand(['NOSUCHCOMMAND', 'x']);
    e.router.emit(1, RecordKind.WRITE, 0, 50, 0, bogus, 0, bogus.length);   // shard 1 halts here
    e.router.wakeShard(1);
    emitDest(e, 0, 100, [1], ['RENAME', 'src', 'dst']);
    const t0 = Date.now();
    while (e.halts.length < 2 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    const codes = e.halts.map((h) => (h as { e: { code: string } }).e.code).sort();
    assert.deepEqual(codes, ['PARAREPLICA_EXCHANGE_SOURCE_HALTED', 'PARAREPLICA_UNSUPPORTED_COMMAND']);
  } finally {
    await e.close();
  }
});

test('--skip-errors in an applier: the bad command is skipped, its group applied', { timeout: 30_000 }, async () => {
  const e = await startEngine(1, 1 << 16, undefined, { skipErrors: true });
  try {
    let off = 0;
    // Written while the applier sleeps, so the three records and a transaction form one group.
    for (const argv of [['SET', 'a', '1'], ['NOSUCHCOMMAND', 'x'], ['SET', 'b', '2']]) {
      const b = encodeCommand(argv);
      off += b.length;
      e.router.emit(0, RecordKind.WRITE, 0, off, 0, b, 0, b.length);
    }
    const txn = Buffer.concat([encodeCommand(['SET', 'c', '3']), encodeCommand(['NOSUCHCOMMAND']), encodeCommand(['SET', 'd', '4'])]);
    off += 10;
    e.router.emit(0, RecordKind.TXN, 0, off, 0, txn, 0, txn.length);
    e.router.wakeShard(0);
    const t0 = Date.now();
    while (e.shared.counter(0, C_COMMITTED_OFFSET) < off && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(e.halts, []);
    assert.equal(e.shared.counter(0, C_SKIPPED_ERRORS), 2);
    for (const [key, val] of [['a', '1'], ['b', '2'], ['c', '3'], ['d', '4']]) {
      assert.equal(String(await e.reads.read(0, 0, [Buffer.from('get'), Buffer.from(key)])), val);
    }
  } finally {
    await e.close();
  }
});
