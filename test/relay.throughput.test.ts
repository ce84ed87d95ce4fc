/** Throughput of the relay log with 16 KiB chunks: printed, not asserted (the machine is shared). */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RelayLog } from '../src/relay/relay-log.js';
import { cmd, tempDir } from './relay.helpers.js';

const tmp = tempDir('relay-tput-');
after(() => tmp.cleanup());

/** A 16 KiB chunk of whole SET commands (the last value padded to fill it exactly). */
function chunk16k(): Buffer {
  const parts: Buffer[] = [];
  let len = 0;
  for (let i = 0; len < 16384 - 200; i++) {
    const c = cmd('SET', `key:${i}`, 'v'.repeat(64));
    parts.push(c);
    len += c.length;
  }
  // Pad with one more command sized so the chunk is exactly 16 KiB.
  for (let v = 0; v < 400; v++) {
    const c = cmd('SET', 'pad', 'p'.repeat(v));
    if (len + c.length === 16384) { parts.push(c); break; }
  }
  return Buffer.concat(parts);
}

describe('relay log throughput', () => {
  it('appends and reads back 16 KiB chunks', async () => {
    const chunk = chunk16k();
    assert.equal(chunk.length, 16384);
    const total = 128 << 20;
    const n = total / chunk.length;
    const log = await RelayLog.open(tmp.dir, { segmentBytes: 16 << 20 });
    await log.reset('t'.repeat(40), 0, 0);
    let off = 0;
    let last: Promise<void> = Promise.resolve();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      off += chunk.length;
      last = log.append(chunk, { offset: off, db: 0 });
      // Behave like a link that pauses its socket when too much is waiting for the disk.
      if (log.pendingBytes > (8 << 20)) await last;
    }
    await last;
    const t1 = performance.now();
    assert.equal(log.endOffset, total);
    let read = 0;
    const r = await log.readFrom(0);
    assert.ok(r);
    for await (const c of r.chunks) read += c.length;
    const t2 = performance.now();
    assert.equal(read, total);
    const mb = total / (1 << 20);
    console.log(`relay append: ${mb} MiB in 16 KiB chunks, ${(mb / ((t1 - t0) / 1000)).toFixed(0)} MiB/s; ` +
      `read back (1 MiB chunks): ${(mb / ((t2 - t1) / 1000)).toFixed(0)} MiB/s`);
    await log.close();
  });
});
