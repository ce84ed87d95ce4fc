import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { scanCommands } from '../src/relay/resp-scan.js';
import { WriteQueue, type QueuePos } from '../src/relay/write-queue.js';
import { ParaError, isParaError } from '../src/errors.js';
import { cmd } from './relay.helpers.js';

const S0 = { db: 0, inMulti: false };

describe('scanCommands', () => {
  it('frames complete commands and counts worked sizes from the spec', () => {
    const sel = cmd('SELECT', '0');
    assert.equal(sel.length, 23);
    assert.equal(cmd('ping').length, 14);
    assert.equal(cmd('REPLCONF', 'GETACK', '*').length, 37);
    const buf = Buffer.concat([sel, cmd('ping'), cmd('set', 'k', Buffer.from([0, 13, 10, 255]))]);
    const r = scanCommands(buf, 0, buf.length, S0);
    assert.deepEqual(r, { end: buf.length, commands: 3, db: 0, inMulti: false, corruptAt: -1 });
  });

  it('tracks SELECT, MULTI and EXEC case-insensitively', () => {
    const buf = Buffer.concat([cmd('select', '12'), cmd('Multi'), cmd('SELECT', '3'), cmd('incr', 'x')]);
    const r = scanCommands(buf, 0, buf.length, S0);
    assert.equal(r.db, 3);
    assert.equal(r.inMulti, true);
    const r2 = scanCommands(cmd('EXEC'), 0, 14, r);
    assert.equal(r2.inMulti, false);
    assert.equal(r2.db, 3);
  });

  it('stops before an incomplete command at every cut point', () => {
    const a = cmd('set', 'key', 'value');
    const b = cmd('SELECT', '7');
    const buf = Buffer.concat([a, b]);
    for (let cut = a.length; cut < buf.length; cut++) {
      const r = scanCommands(buf, 0, cut, S0);
      assert.equal(r.end, a.length, `cut ${cut}`);
      assert.equal(r.commands, 1);
      assert.equal(r.corruptAt, -1);
      assert.equal(r.db, 0);
    }
    assert.equal(scanCommands(buf, 0, buf.length, S0).db, 7);
    // Starting mid-buffer works too.
    assert.equal(scanCommands(buf, a.length, buf.length, S0).commands, 1);
  });

  it('reports invalid framing', () => {
    const ok = cmd('ping');
    for (const bad of ['+OK\r\n', '\n', '*0\r\n', '*-1\r\n', '*1\r\n:1\r\n', '*1\r\n$4\r\npingXX', '*x\r\n', '*1\r\n$\r\n',
      '*1\n', '*1\r\n$4\r\nping\rX', '*99999999999999999\r\n']) {
      const buf = Buffer.concat([ok, Buffer.from(bad)]);
      const r = scanCommands(buf, 0, buf.length, S0);
      assert.equal(r.corruptAt, ok.length, JSON.stringify(bad));
      assert.equal(r.end, ok.length);
      assert.equal(r.commands, 1);
    }
  });
});

describe('WriteQueue', () => {
  function harness(maxWrite: number, failAt = -1) {
    const log: string[] = [];
    let writes = 0;
    const q = new WriteQueue(maxWrite, {
      writeChunks: async (bufs, bytes) => {
        assert.ok(bytes <= maxWrite || bufs.length === 1, 'a write exceeds maxWriteBytes');
        await new Promise((r) => setImmediate(r));
        if (writes++ === failAt) throw new Error('disk full');
        log.push(`w:${Buffer.concat(bufs).toString()}`);
      },
      rotate: async (p: QueuePos) => { log.push(`rot:${p.offset}`); },
      reset: async (_r, p) => { log.push(`reset:${p.offset}`); },
      close: async () => { log.push('close'); },
      onError: () => undefined,
    });
    return { q, log };
  }

  it('coalesces consecutive chunks up to the write bound, in order with control items', async () => {
    const { q, log } = harness(4);
    const ps = ['ab', 'cd', 'ef', 'g'].map((s) => q.push({ kind: 'chunk', buf: Buffer.from(s) }));
    ps.push(q.push({ kind: 'rotate', pos: { offset: 7, db: 0 } }));
    ps.push(q.push({ kind: 'chunk', buf: Buffer.from('hijklm') })); // bigger than the bound: written alone
    ps.push(q.push({ kind: 'close' }));
    assert.equal(q.pendingBytes, 13);
    await Promise.all(ps);
    // The first chunk is written at once; the rest coalesce while that write is in flight.
    assert.deepEqual(log, ['w:ab', 'w:cdef', 'w:g', 'rot:7', 'w:hijklm', 'close']);
    assert.equal(q.pendingBytes, 0);
  });

  it('fails every later chunk after an error, until a reset', async () => {
    const { q, log } = harness(2, 1);
    const a = q.push({ kind: 'chunk', buf: Buffer.from('aa') });
    const b = q.push({ kind: 'chunk', buf: Buffer.from('bb') });
    const c = q.push({ kind: 'chunk', buf: Buffer.from('cc') });
    await a;
    const isDataDir = (e: unknown) => isParaError(e) && e.code === 'PARAREPLICA_DATA_DIR' && /disk full/.test(e.message);
    await assert.rejects(b, isDataDir);
    await assert.rejects(c, isDataDir);
    await assert.rejects(q.push({ kind: 'chunk', buf: Buffer.from('dd') }), isDataDir);
    await q.push({ kind: 'reset', replid: 'r', pos: { offset: 0, db: 0 } });
    await q.push({ kind: 'chunk', buf: Buffer.from('ee') });
    assert.deepEqual(log, ['w:aa', 'reset:0', 'w:ee']);
    assert.ok(new ParaError('PARAREPLICA_DATA_DIR', 'x') instanceof Error);
  });
});
