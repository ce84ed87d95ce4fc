/**
 * Invariant 6 (epoch barriers) and invariant 4 (honest ACKs), without a master: random streams of writes
 * interleaved with FLUSHALL / FLUSHDB / SELECT across 3 shards, fed to the real router and appliers in
 * random chunk splits through deliberately tiny rings (so producers and consumers block on each other
 * in every order). Afterwards the whole keyspace equals a model, so no write was lost or applied on the
 * wrong side of a flush, and nothing deadlocked. While it runs, every low-water mark we compute is checked
 * against what each shard has actually committed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeCommand } from '../src/resp/encode.js';
import { shardOfKey } from '../src/router/slot.js';
import { C_COMMITTED_OFFSET } from '../src/shm/layout.js';
import { startEngine } from './helpers/engine.js';

const SHARDS = 3;
const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', '{a}x', 'k1', 'k2', 'k3'];

type Op =
  | { t: 'set'; k: string; v: string } | { t: 'incr'; k: string } | { t: 'del'; ks: string[] }
  | { t: 'flushall' } | { t: 'flushdb' } | { t: 'select'; db: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('set' as const), k: fc.constantFrom(...KEYS), v: fc.string({ maxLength: 8 }) }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('incr' as const), k: fc.constantFrom(...KEYS) }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('del' as const), ks: fc.uniqueArray(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ t: 'flushall' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'flushdb' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('select' as const), db: fc.integer({ min: 0, max: 2 }) }) },
);

function run(ops: Op[]) {
  const model = [new Map<string, string>(), new Map<string, string>(), new Map<string, string>()];
  const parts: Buffer[] = [];
  let db = 0;
  const perShardOffsets: number[][] = [[], [], []];
  let offset = 0;
  for (const op of ops) {
    let argv: string[];
    const m = model[db];
    switch (op.t) {
      case 'set': argv = ['SET', op.k, op.v]; m.set(op.k, op.v); break;
      case 'incr': {
        const cur = m.get(op.k);
        if (cur !== undefined && !/^-?(0|[1-9][0-9]*)$/.test(cur)) { argv = ['SET', op.k, '0']; m.set(op.k, '0'); break; }
        argv = ['INCR', op.k]; m.set(op.k, String(Number(cur ?? '0') + 1)); break;
      }
      case 'del': argv = ['DEL', ...op.ks]; for (const k of op.ks) m.delete(k); break;
      case 'flushall': argv = ['FLUSHALL']; for (const mm of model) mm.clear(); break;
      case 'flushdb': argv = ['FLUSHDB']; m.clear(); break;
      case 'select': argv = ['SELECT', String(op.db)]; db = op.db; break;
    }
    const bytes = encodeCommand(argv);
    offset += bytes.length;
    if (op.t === 'set' || op.t === 'incr') perShardOffsets[shardOfKey(Buffer.from(op.k), SHARDS)].push(offset);
    if (op.t === 'del') for (const k of op.ks) perShardOffsets[shardOfKey(Buffer.from(k), SHARDS)].push(offset);
    if (op.t === 'flushall' || op.t === 'flushdb') for (const l of perShardOffsets) l.push(offset);
    parts.push(bytes);
  }
  return { model, stream: Buffer.concat(parts), perShardOffsets };
}

test('epoch barriers: random writes + FLUSHALL/FLUSHDB over 3 shards never deadlock and never lose or misplace a write', { timeout: 300_000 }, async () => {
  const engine = await startEngine(SHARDS, 4096);
  let ackChecks = 0;
  try {
    await fc.assert(fc.asyncProperty(
      fc.array(opArb, { minLength: 1, maxLength: 300 }),
      fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 40 }),
      async (ops, splits) => {
        // Each run starts from a clean keyspace: a FLUSHALL in the stream itself.
        const { model, stream, perShardOffsets } = run([{ t: 'select', db: 0 }, { t: 'flushall' }, ...ops]);
        const base = engine.router.offset;
        let pos = 0, i = 0;
        while (pos < stream.length) {
          const n = splits[i++ % splits.length];
          const chunk = stream.subarray(pos, Math.min(stream.length, pos + n));
          pos += chunk.length;
          if (!engine.router.route(chunk)) await engine.router.drain();
          // Honest ACKs: every record at or below the mark is committed by its shard.
          const ack = engine.lowWater() - base;
          for (let s = 0; s < SHARDS; s++) {
            const committed = engine.shared.counter(s, C_COMMITTED_OFFSET) - base;
            const owed = perShardOffsets[s].filter((o) => o <= ack);
            if (owed.length) assert.ok(committed >= owed[owed.length - 1], `shard ${s}: ack ${ack} but committed ${committed}`);
          }
          ackChecks++;
        }
        await engine.settle();
        assert.equal(engine.halts.length, 0, JSON.stringify(engine.halts));
        for (let d = 0; d < 3; d++) {
          let dbsize = 0;
          for (let s = 0; s < SHARDS; s++) dbsize += await engine.reads.read(s, d, [Buffer.from('DBSIZE')]) as number;
          assert.equal(dbsize, model[d].size, `db ${d} size`);
          for (const k of KEYS) {
            const got = await engine.reads.read(shardOfKey(Buffer.from(k), SHARDS), d, [Buffer.from('GET'), Buffer.from(k)]);
            const want = model[d].get(k);
            assert.deepEqual(got === null ? undefined : Buffer.from(got as Uint8Array).toString(), want, `db ${d} key ${k}`);
          }
        }
      }), { numRuns: 60 });
  } finally {
    await engine.close();
  }
  assert.ok(ackChecks > 100);
});
