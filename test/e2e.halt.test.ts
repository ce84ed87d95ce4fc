/**
 * A command the replica cannot apply stops applying at its offset, with the offset, the command and
 * the reason in INFO (and the log); everything before it stays applied and served, nothing after it is
 * applied, and the process keeps serving reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { infoField, waitFor } from './helpers/redis.js';
import { withPair } from './helpers/pair.js';

for (const [label, cmd] of [['a command this version cannot apply', ['PFADD', 'hll', 'a', 'b']],
  ['a stream command', ['XADD', 'st', '1-1', 'f', 'v']]] as const) {
  test(`halt on ${label}: reads keep working, INFO says where and why`, { timeout: 60_000 }, () => withPair({ workers: 4 }, async ({ replica, m, r }) => {
    const halts: unknown[] = [];
    replica.on('halted', (h) => halts.push(h));
    await m.call('SET', 'k:a', 'A');
    await m.call('SET', 'before', '1');
    const beforeOffset = Number(await infoField(m, 'replication', 'master_repl_offset'));
    await m.call(...cmd);
    await m.call('SET', 'after', '2');
    await waitFor('halt', async () => (await infoField(r, 'applier', 'applier_halted')) === '1');
    assert.equal(halts.length >= 1, true);
    const haltOffset = Number(await infoField(r, 'applier', 'applier_halt_offset'));
    assert.ok(haltOffset >= beforeOffset, `halted at ${haltOffset}, before ${beforeOffset}`);
    const reason = await infoField(r, 'applier', 'applier_halt_reason');
    assert.match(reason ?? '', /upgrade parareplica|cannot|not supported|exchange/i);
    assert.match((await infoField(r, 'applier', 'applier_halt_command')) ?? '', new RegExp(cmd[0], 'i'));
    assert.equal(await r.str('GET', 'before'), '1');
    assert.equal(await r.str('GET', 'k:a'), 'A');
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(await r.call('EXISTS', 'after'), 0, 'nothing after the halt is applied');
    const acked = Number(await infoField(r, 'replication', 'slave_repl_offset'));
    assert.ok(acked <= beforeOffset, `ACK ${acked} stays before the halted command (${beforeOffset})`);
    assert.deepEqual(await r.call('PING'), { ok: 'PONG' });
  }));
}

test('--skip-errors: an unappliable command is logged, counted and skipped; later writes apply', { timeout: 60_000 }, () =>
  withPair({ workers: 2, skipErrors: true }, async ({ m, r }) => {
    await m.call('SET', 'before', '1');
    await m.call('PFADD', 'hll', 'a', 'b');
    await m.call('MULTI'); await m.call('SET', 'in-multi', 'x'); await m.call('PFADD', 'hll2', 'c'); await m.call('EXEC');
    await m.call('SET', 'after', '2');
    const target = await infoField(m, 'replication', 'master_repl_offset');
    await waitFor('caught up', async () => (await infoField(r, 'replication', 'slave_repl_offset')) === target);
    assert.equal(await infoField(r, 'applier', 'applier_halted'), '0');
    assert.equal(await infoField(r, 'applier', 'errors_skipped'), '2');
    assert.equal(await r.str('GET', 'after'), '2');
    assert.equal(await r.str('GET', 'in-multi'), 'x', 'the rest of the transaction is applied');
    assert.equal(await r.call('EXISTS', 'hll'), 0);
  }));
