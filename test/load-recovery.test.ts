/**
 * engine/load-recovery.ts: after a crash, a full sync pending on some shards goes forward or back on
 * ALL of them. A model of the two-phase load (none → loading → ended → committed, SYNC_COMMIT only
 * once every shard ended) is crashed at every reachable point, the decision carried out on a random
 * part of the shards, crashed again, decided again: the shards always end up with the same data,
 * new if any shard had committed, old if any shard had not ended.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decideLoad, type ShardLoadState } from '../src/engine/load-recovery.js';

const OLD_EPOCH = 5, LOAD_EPOCH = 10;
const OLD = { offset: 100, replid: 'old' };
const NEW = { offset: 900, replid: 'new' };

/** Durable steps of one shard: 0 not begun, 1 loading, 2 ended, 3 committed (then maybe a FLUSHALL). */
function stateOf(step: number, flushedAfter: boolean): ShardLoadState {
  switch (step) {
    case 0: return { ...OLD, baseEpoch: OLD_EPOCH, load: 'none', before: null };
    case 1: return { ...OLD, baseEpoch: LOAD_EPOCH, load: 'loading', before: OLD };
    case 2: return { ...NEW, baseEpoch: LOAD_EPOCH, load: 'ended', before: OLD };
    default: return { ...NEW, baseEpoch: flushedAfter ? LOAD_EPOCH + 3 : LOAD_EPOCH, load: 'none', before: null };
  }
}

/** What a shard holds: the old or the new data. */
const dataOf = (s: ShardLoadState): 'old' | 'new' => (s.load === 'ended' || (s.load === 'none' && s.baseEpoch >= LOAD_EPOCH) ? 'new' : 'old');

/** One shard applying the decision (what the applier does with SYNC_COMMIT / SYNC_ABORT). */
function apply(s: ShardLoadState, action: 'commit' | 'abort'): ShardLoadState {
  if (s.load === 'none') return s;
  if (action === 'commit') return s.load === 'ended' ? { ...s, load: 'none', before: null } : s;
  return { ...s.before!, baseEpoch: OLD_EPOCH, load: 'none', before: null };
}

const crashPoint = fc.integer({ min: 2, max: 6 }).chain((n) => fc.record({
  steps: fc.array(fc.integer({ min: 0, max: 2 }), { minLength: n, maxLength: n }),
  committed: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
  flushed: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
  applied: fc.array(fc.boolean(), { minLength: n, maxLength: n }),
}));

test('property: every crash point and every partly carried-out decision end with the same data on every shard', () => {
  fc.assert(fc.property(crashPoint, ({ steps, committed, flushed, applied }) => {
    // SYNC_COMMIT exists only once every shard ended; then any shard may have applied it.
    const allEnded = steps.every((x) => x === 2);
    let shards = steps.map((x, i) => stateOf(allEnded && committed[i] ? 3 : x, flushed[i]));
    const anyCommitted = shards.some((s) => s.load === 'none' && s.baseEpoch >= LOAD_EPOCH);
    const anyUnfinished = steps.some((x) => x < 2);

    const first = decideLoad(shards);
    if (shards.every((s) => s.load === 'none')) { assert.equal(first.action, 'none'); return; }
    assert.notEqual(first.action, 'none');
    const action = first.action as 'commit' | 'abort';
    if (anyCommitted) assert.equal(action, 'commit');
    if (anyUnfinished) assert.equal(action, 'abort');

    // A crash while the decision is carried out: some shards applied it.
    shards = shards.map((s, i) => (applied[i] ? apply(s, action) : s));
    const again = decideLoad(shards);
    if (shards.some((s) => s.load !== 'none')) assert.equal(again.action, action, 'a second start decides the same');
    shards = shards.map((s) => apply(s, action));
    const data = new Set(shards.map(dataOf));
    assert.equal(data.size, 1, `shards disagree: ${JSON.stringify(shards)}`);
    assert.equal([...data][0], action === 'commit' ? 'new' : 'old');
    // The positions the replica resumes from match the data each shard holds.
    for (let i = 0; i < shards.length; i++) {
      assert.deepEqual({ offset: first.after[i].offset, replid: first.after[i].replid }, action === 'commit' ? NEW : OLD);
    }
  }), { numRuns: 2000 });
});

test('no pending load: nothing to do, positions as reported', () => {
  const d = decideLoad([stateOf(0, false), stateOf(0, false)]);
  assert.equal(d.action, 'none');
  assert.deepEqual(d.after, [OLD, OLD]);
});
