/**
 * Property: whatever the chunking of a command stream and the segment size, the relay log reads back
 * byte-identical from any offset it covers, starting at a true safe point (a command boundary outside
 * MULTI whose db is the one the stream had selected there), also after reopening and truncation.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { RelayLog, type StreamPos } from '../src/relay/relay-log.js';
import { cmd, readAll, tempDir } from './relay.helpers.js';

type Op =
  | { t: 'select'; db: number }
  | { t: 'set'; key: Uint8Array; value: Uint8Array }
  | { t: 'ping' }
  | { t: 'multi'; body: Array<{ key: Uint8Array; db: number | null }> };

const bytes = fc.uint8Array({ minLength: 0, maxLength: 40 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ t: fc.constant('select' as const), db: fc.integer({ min: 0, max: 15 }) }),
  fc.record({ t: fc.constant('set' as const), key: bytes, value: fc.uint8Array({ maxLength: 300 }) }),
  fc.constant({ t: 'ping' as const }),
  fc.record({
    t: fc.constant('multi' as const),
    body: fc.array(fc.record({ key: bytes, db: fc.option(fc.integer({ min: 0, max: 15 }), { nil: null }) }),
      { minLength: 1, maxLength: 4 }),
  }),
);

/** The commands as bytes, and for each command end, the stream state there. */
function encode(ops: Op[], db0: number) {
  const cmds: Array<{ buf: Buffer; db: number; inMulti: boolean }> = [];
  let db = db0;
  const push = (buf: Buffer, inMulti: boolean) => cmds.push({ buf, db, inMulti });
  for (const op of ops) {
    if (op.t === 'select') { db = op.db; push(cmd('SELECT', String(db)), false); }
    else if (op.t === 'set') push(cmd('set', Buffer.from(op.key), Buffer.from(op.value)), false);
    else if (op.t === 'ping') push(cmd('ping'), false);
    else {
      push(cmd('MULTI'), true);
      for (const b of op.body) {
        if (b.db !== null) { db = b.db; push(cmd('SELECT', String(db)), true); }
        push(cmd('incr', Buffer.from(b.key)), true);
      }
      push(cmd('EXEC'), false);
    }
  }
  return cmds;
}

const tmp = tempDir('relay-prop-');
after(() => tmp.cleanup());
let runNo = 0;

describe('relay log property', () => {
  it('reads back byte-identical from any covered offset, at a true safe point', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(opArb, { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 0, max: 1_000_000 }),         // base offset
      fc.integer({ min: 0, max: 15 }),                // base db
      fc.integer({ min: 1, max: 3000 }),              // segment size
      fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 20 }), // commands per chunk, cycled
      fc.integer({ min: 1, max: 700 }),               // read chunk size
      fc.boolean(),                                   // reopen before reading
      fc.double({ min: 0, max: 1, noNaN: true }),     // where to truncate (fraction)
      async (ops, base, db0, segmentBytes, groupSizes, maxChunk, reopen, truncFrac) => {
        const dir = join(tmp.dir, `r${runNo++}`);
        try {
          const cmds = encode(ops, db0);
          const stream = Buffer.concat(cmds.map((c) => c.buf));
          // Safe points: offset → db, for every boundary outside MULTI, plus the base.
          const safe = new Map<number, number>([[base, db0]]);
          let off = base;
          for (const c of cmds) { off += c.buf.length; if (!c.inMulti) safe.set(off, c.db); }
          let log = await RelayLog.open(dir, { segmentBytes, maxWriteBytes: 1 + (segmentBytes % 5000) });
          await log.reset('f'.repeat(40), base, db0);
          // Append in random groups, without waiting between appends.
          const appends: Promise<void>[] = [];
          let i = 0, g = 0;
          off = base;
          while (i < cmds.length) {
            const n = Math.min(groupSizes[g++ % groupSizes.length], cmds.length - i);
            const group = cmds.slice(i, i + n);
            i += n;
            const chunk = Buffer.concat(group.map((c) => c.buf));
            off += chunk.length;
            const lastCmd = group[group.length - 1];
            const boundary: StreamPos | null = lastCmd.inMulti ? null : { offset: off, db: lastCmd.db };
            appends.push(log.append(chunk, boundary));
          }
          await Promise.all(appends);
          assert.equal(log.endOffset, base + stream.length);
          if (reopen) {
            await log.close();
            log = await RelayLog.open(dir);
            assert.equal(log.endOffset, base + stream.length);
            assert.equal(log.recovered?.db, cmds[cmds.length - 1].db);
          }
          const check = async (o: number) => {
            const r = await readAll(log, o, maxChunk);
            assert.ok(r, `offset ${o} in [${log.startOffset}, ${log.endOffset}] must be covered`);
            assert.ok(r.from.offset <= o);
            assert.equal(safe.get(r.from.offset), r.from.db, `from ${r.from.offset} is not a safe point`);
            assert.ok(stream.subarray(r.from.offset - base).equals(r.bytes), `bytes differ reading from ${o}`);
          };
          const end = base + stream.length;
          const probes = [base, end, base + (stream.length >> 1), base + ((stream.length * 7) >> 3)];
          for (const o of probes) await check(o);
          const cut = base + Math.floor(stream.length * truncFrac);
          await log.truncateBefore(cut);
          assert.ok(log.startOffset <= cut, 'truncation removed a byte after the cut');
          for (const o of [cut, end, Math.max(log.startOffset, cut - 1)]) await check(o);
          if (log.startOffset > base) assert.equal(await log.readFrom(log.startOffset - 1), null);
          await log.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }), { numRuns: 60 });
  });
});
