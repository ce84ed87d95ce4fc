import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RelayLog, relayDirOf } from '../src/relay/relay-log.js';
import { isParaError } from '../src/errors.js';
import { cmd, collect, readAll, tempDir } from './relay.helpers.js';

const REPLID = 'a'.repeat(40);
const tmp = tempDir();
after(() => tmp.cleanup());
let n = 0;
const freshDir = () => relayDirOf(join(tmp.dir, `d${n++}`));
const segFiles = (dir: string) => readdirSync(dir).filter((f) => f.startsWith('seg-')).sort();

function rejectsWith(code: string) {
  return (e: unknown) => {
    assert.ok(isParaError(e), `expected ParaError, got ${String(e)}`);
    assert.equal(e.code, code);
    return true;
  };
}

describe('relay log: basics', () => {
  it('starts empty and refuses appends before reset', async () => {
    const dir = freshDir();
    const log = await RelayLog.open(dir);
    assert.equal(log.replid, null);
    assert.equal(log.startOffset, 0);
    assert.equal(log.endOffset, 0);
    assert.equal(await log.readFrom(0), null);
    await assert.rejects(log.append(cmd('ping'), null), rejectsWith('PARAREPLICA_DATA_DIR'));
    await log.close();
  });

  it('appends, tracks offsets and reads back byte-identical', async () => {
    const dir = freshDir();
    const log = await RelayLog.open(dir);
    await log.reset(REPLID, 1000, 0);
    assert.equal(log.replid, REPLID);
    assert.equal(log.startOffset, 1000);
    assert.equal(log.endOffset, 1000);
    const a = Buffer.concat([cmd('SELECT', '3'), cmd('set', 'k', 'v')]);
    const b = cmd('ping');
    const pa = log.append(a, { offset: 1000 + a.length, db: 3 });
    const pb = log.append(b, { offset: 1000 + a.length + b.length, db: 3 });
    assert.equal(log.pendingBytes, a.length + b.length);
    await Promise.all([pa, pb]);
    assert.equal(log.pendingBytes, 0);
    assert.equal(log.endOffset, 1000 + a.length + b.length);
    const r = await readAll(log, 1000 + a.length, 5);
    assert.ok(r);
    assert.deepEqual(r.from, { offset: 1000, db: 0 });
    assert.deepEqual(r.bytes, Buffer.concat([a, b]));
    // At exactly endOffset the log still covers the request (nothing to send).
    assert.ok(await log.readFrom(log.endOffset));
    assert.equal(await log.readFrom(log.endOffset + 1), null);
    assert.equal(await log.readFrom(999), null);
    await log.close();
  });

  it('rejects a boundary that does not match the end of the chunk', async () => {
    const log = await RelayLog.open(freshDir());
    await log.reset(REPLID, 0, 0);
    const c = cmd('ping');
    await assert.rejects(log.append(c, { offset: c.length + 1, db: 0 }), rejectsWith('PARAREPLICA_PROTOCOL'));
    assert.equal(log.endOffset, 0);
    await log.close();
  });

  it('keeps many outstanding appends in order', async () => {
    const log = await RelayLog.open(freshDir(), { maxWriteBytes: 64 });
    await log.reset(REPLID, 0, 0);
    const parts: Buffer[] = [];
    const done: number[] = [];
    const ps: Promise<void>[] = [];
    let off = 0;
    for (let i = 0; i < 300; i++) {
      const c = cmd('incr', `k${i}`);
      parts.push(c);
      off += c.length;
      ps.push(log.append(c, i % 3 === 0 ? { offset: off, db: 0 } : null).then(() => { done.push(i); }));
    }
    await Promise.all(ps);
    assert.deepEqual(done, [...Array(300).keys()]);
    assert.deepEqual((await readAll(log, 0))?.bytes, Buffer.concat(parts));
    await log.close();
    await assert.rejects(log.append(cmd('ping'), null), rejectsWith('PARAREPLICA_SHUTDOWN'));
  });
});

describe('relay log: segments', () => {
  it('rotates only at safe points, names segments by start offset and db', async () => {
    const dir = freshDir();
    const log = await RelayLog.open(dir, { segmentBytes: 100 });
    await log.reset(REPLID, 50, 2);
    const big = cmd('set', 'key', 'x'.repeat(150)); // alone bigger than a segment
    let off = 50;
    // Inside MULTI: no boundary, so no rotation however big.
    const m = Buffer.concat([cmd('MULTI'), big, big]);
    off += m.length;
    await log.append(m, null);
    assert.equal(segFiles(dir).length, 1);
    const e = Buffer.concat([cmd('SELECT', '5'), cmd('EXEC')]);
    off += e.length;
    const firstRot = off;
    await log.append(e, { offset: off, db: 5 });
    const s2 = cmd('set', 'a', 'b');
    off += s2.length;
    await log.append(s2, { offset: off, db: 5 });
    const files = segFiles(dir);
    assert.equal(files.length, 2);
    assert.equal(files[0], `seg-${'50'.padStart(20, '0')}-db2.log`);
    assert.equal(files[1], `seg-${String(firstRot).padStart(20, '0')}-db5.log`);
    assert.equal(statSync(join(dir, files[0])).size, firstRot - 50);
    // Reading from inside the second segment starts at its beginning, db 5.
    const r = await readAll(log, firstRot + 3);
    assert.deepEqual(r?.from, { offset: firstRot, db: 5 });
    assert.deepEqual(r?.bytes, s2);
    const all = await readAll(log, 50, 7);
    assert.deepEqual(all?.from, { offset: 50, db: 2 });
    assert.deepEqual(all?.bytes, Buffer.concat([m, e, s2]));
    await log.close();
  });

  it('truncateBefore deletes only whole segments at or below the offset, never the last', async () => {
    const dir = freshDir();
    const log = await RelayLog.open(dir, { segmentBytes: 1 });
    await log.reset(REPLID, 0, 0);
    const starts: number[] = [0];
    let off = 0;
    for (let i = 0; i < 5; i++) {
      const c = cmd('set', `k${i}`, 'v');
      off += c.length;
      await log.append(c, { offset: off, db: 0 });
      starts.push(off);
    }
    // Every append rotated: segments start at starts[0..5]; the last one is empty.
    assert.equal(segFiles(dir).length, 6);
    await log.truncateBefore(starts[2] - 1); // segment 1 ends at starts[2]: not every byte <= offset
    assert.equal(log.startOffset, starts[1]);
    assert.equal(segFiles(dir).length, 5);
    await log.truncateBefore(starts[3]);
    assert.equal(log.startOffset, starts[3]);
    assert.equal(await log.readFrom(starts[3] - 1), null);
    assert.ok(await log.readFrom(starts[3]));
    await log.truncateBefore(Number.MAX_SAFE_INTEGER);
    assert.equal(segFiles(dir).length, 1);
    assert.equal(log.startOffset, off);
    assert.equal(log.endOffset, off);
    await log.close();
  });

  it('defers deleting segments a live reader still needs', async () => {
    const dir = freshDir();
    const log = await RelayLog.open(dir, { segmentBytes: 1 });
    await log.reset(REPLID, 0, 0);
    const parts: Buffer[] = [];
    let off = 0;
    for (let i = 0; i < 4; i++) {
      const c = cmd('set', `k${i}`, 'v'.repeat(20));
      parts.push(c);
      off += c.length;
      await log.append(c, { offset: off, db: 0 });
    }
    const r = await log.readFrom(0, 8);
    assert.ok(r);
    const it = r.chunks[Symbol.asyncIterator]();
    const first = await it.next();
    assert.equal(first.done, false);
    await log.truncateBefore(off);
    assert.equal(segFiles(dir).length, 5, 'pinned segments are kept');
    const rest = await collect({ [Symbol.asyncIterator]: () => it });
    assert.deepEqual(Buffer.concat([first.value as Buffer, rest]), Buffer.concat(parts));
    await new Promise((res) => setTimeout(res, 50)); // deferred truncation runs after release
    assert.equal(segFiles(dir).length, 1);
    // A reader that was never iterated does not pin anything; it fails cleanly if its segment is gone.
    await log.append(cmd('ping'), null);
    const idle = await log.readFrom(off);
    assert.ok(idle);
    await log.truncateBefore(Number.MAX_SAFE_INTEGER);
    assert.equal(segFiles(dir).length, 1);
    await log.close();
  });

  it('a reader whose first segment was truncated before iterating fails with DATA_DIR', async () => {
    const log = await RelayLog.open(freshDir(), { segmentBytes: 1 });
    await log.reset(REPLID, 0, 0);
    const c = cmd('set', 'k', 'v');
    await log.append(c, { offset: c.length, db: 0 });
    await log.append(c, { offset: 2 * c.length, db: 0 });
    const r = await log.readFrom(0);
    assert.ok(r);
    await log.truncateBefore(c.length);
    await assert.rejects(collect(r.chunks), rejectsWith('PARAREPLICA_DATA_DIR'));
    await log.close();
  });

  it('reset drops everything and invalidates readers', async () => {
    const dir = freshDir();
    const log = await RelayLog.open(dir, { segmentBytes: 1 });
    await log.reset(REPLID, 0, 0);
    const c = cmd('set', 'k', 'v');
    await log.append(c, { offset: c.length, db: 0 });
    await log.append(c, { offset: 2 * c.length, db: 0 });
    const r = await log.readFrom(0, 4);
    assert.ok(r);
    const it = r.chunks[Symbol.asyncIterator]();
    await it.next();
    await log.reset('b'.repeat(40), 7777, 9);
    await assert.rejects(it.next(), rejectsWith('PARAREPLICA_DATA_DIR'));
    assert.equal(log.replid, 'b'.repeat(40));
    assert.equal(log.startOffset, 7777);
    assert.equal(log.endOffset, 7777);
    assert.deepEqual(segFiles(dir), [`seg-${'7777'.padStart(20, '0')}-db9.log`]);
    assert.equal(JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8')).replid, 'b'.repeat(40));
    const r2 = await readAll(log, 7777);
    assert.deepEqual(r2, { from: { offset: 7777, db: 9 }, bytes: Buffer.alloc(0) });
    await log.close();
  });
});

describe('relay log: reopen and crash recovery', () => {
  async function build(dir: string) {
    const log = await RelayLog.open(dir, { segmentBytes: 20 });
    await log.reset(REPLID, 10, 0);
    const stream = [
      cmd('set', 'a', '1'), cmd('SELECT', '4'), cmd('set', 'b', 'x'.repeat(80)),
      cmd('MULTI'), cmd('incr', 'c'), cmd('SELECT', '6'), cmd('incr', 'd'),
    ];
    let off = 10;
    let inMulti = false;
    let db = 0;
    for (const c of stream) {
      off += c.length;
      const s = c.toString('latin1');
      if (s.includes('MULTI')) inMulti = true;
      if (s.includes('SELECT')) db = Number(s.split('\r\n')[4]);
      await log.append(c, inMulti ? null : { offset: off, db });
    }
    await log.close();
    return { stream: Buffer.concat(stream), end: off };
  }

  it('reopens with the same replid, offsets and tail state', async () => {
    const dir = freshDir();
    const { stream, end } = await build(dir);
    const log = await RelayLog.open(dir);
    assert.equal(log.replid, REPLID);
    assert.equal(log.startOffset, 10);
    assert.equal(log.endOffset, end);
    assert.deepEqual(log.recovered, { offset: end, db: 6, inMulti: true });
    assert.deepEqual((await readAll(log, 10))?.bytes, stream);
    // Appending continues in the last segment.
    const x = cmd('EXEC');
    await log.append(x, { offset: end + x.length, db: 6 });
    await log.close();
    const again = await RelayLog.open(dir);
    assert.deepEqual((await readAll(again, 10))?.bytes, Buffer.concat([stream, x]));
    assert.deepEqual(again.recovered, { offset: end + x.length, db: 6, inMulti: false });
    await again.close();
  });

  it('cuts a torn write back to the last complete command, wherever the tear is', async () => {
    const dir = freshDir();
    const { stream, end } = await build(dir);
    const last = join(dir, segFiles(dir).at(-1) as string);
    const lastSize = statSync(last).size;
    const lastCmd = cmd('incr', 'd');
    // Tear inside every byte of the final command (including its header digits and CRLFs).
    for (let cut = 1; cut < lastCmd.length; cut++) {
      truncateSync(last, lastSize - cut);
      const log = await RelayLog.open(dir);
      assert.equal(log.endOffset, end - lastCmd.length, `cut ${cut}`);
      assert.deepEqual(log.recovered, { offset: end - lastCmd.length, db: 6, inMulti: true });
      assert.equal(statSync(last).size, lastSize - lastCmd.length);
      assert.deepEqual((await readAll(log, 10))?.bytes, stream.subarray(0, stream.length - lastCmd.length));
      // Restore the command for the next cut; appending works after recovery.
      await log.append(lastCmd, null);
      await log.close();
    }
  });

  it('cuts garbage after the last complete command', async () => {
    const dir = freshDir();
    const { end } = await build(dir);
    const last = join(dir, segFiles(dir).at(-1) as string);
    appendFileSync(last, 'garbage\r\n*1\r\n$4\r\nping\r\n');
    const log = await RelayLog.open(dir);
    assert.equal(log.endOffset, end);
    await log.close();
  });

  it('drops segments after a gap', async () => {
    const dir = freshDir();
    await build(dir);
    const files = segFiles(dir);
    assert.ok(files.length >= 3);
    const second = join(dir, files[1]);
    truncateSync(second, statSync(second).size - 3);
    const log = await RelayLog.open(dir);
    assert.deepEqual(segFiles(dir), files.slice(0, 2));
    assert.equal(log.endOffset, 10 + cmd('set', 'a', '1').length);
    assert.deepEqual(log.recovered, { offset: log.endOffset, db: 0, inMulti: false });
    await log.close();
  });

  it('finishes an interrupted reset by starting empty', async () => {
    const dir = freshDir();
    await build(dir);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ format: 'parareplica-relay', version: 1, replid: null }));
    writeFileSync(join(dir, 'meta.json.tmp'), 'partial');
    const log = await RelayLog.open(dir);
    assert.equal(log.replid, null);
    assert.equal(log.endOffset, 0);
    assert.deepEqual(segFiles(dir), []);
    assert.equal(existsSync(join(dir, 'meta.json.tmp')), false);
    await log.close();
  });

  it('refuses directories it did not write', async () => {
    const dir = freshDir();
    await build(dir);
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ format: 'parareplica-relay', version: 99, replid: REPLID }));
    await assert.rejects(RelayLog.open(dir), (e: unknown) => {
      assert.ok(isParaError(e) && e.code === 'PARAREPLICA_DATA_DIR');
      assert.match(e.message, /v99/);
      return true;
    });
    writeFileSync(join(dir, 'meta.json'), '{not json');
    await assert.rejects(RelayLog.open(dir), rejectsWith('PARAREPLICA_DATA_DIR'));
    const d2 = freshDir();
    await build(d2);
    const { rmSync } = await import('node:fs');
    rmSync(join(d2, 'meta.json'));
    await assert.rejects(RelayLog.open(d2), rejectsWith('PARAREPLICA_DATA_DIR'));
  });

  it('reports an unusable directory as PARAREPLICA_DATA_DIR', async () => {
    const file = join(tmp.dir, 'a-file');
    writeFileSync(file, 'x');
    await assert.rejects(RelayLog.open(join(file, 'relay')), rejectsWith('PARAREPLICA_DATA_DIR'));
  });
});

describe('relay log: kill -9', () => {
  it('after kill -9 mid-append, reopens at a command boundary holding a prefix of the stream', async () => {
    const { spawn } = await import('node:child_process');
    const { fileURLToPath } = await import('node:url');
    const dir = freshDir();
    const mod = join(fileURLToPath(import.meta.url), '../../src/relay/relay-log.js');
    const gen = (i: number) => `*3\r\n$3\r\nset\r\n$${String(i).length + 1}\r\nk${i}\r\n$${i % 50}\r\n${'v'.repeat(i % 50)}\r\n`;
    const script = `
      import { RelayLog } from ${JSON.stringify(mod)};
      const gen = ${gen.toString()};
      const log = await RelayLog.open(${JSON.stringify(dir)}, { segmentBytes: 50000 });
      await log.reset('k'.repeat(40), 0, 0);
      let i = 0, off = 0, n = 0;
      for (;;) {
        let s = '';
        for (let j = 0; j < 64; j++) s += gen(i++);
        const b = Buffer.from(s);
        off += b.length;
        const p = log.append(b, { offset: off, db: 0 });
        if (++n === 20) process.stdout.write('go\\n');
        if (log.pendingBytes > 1 << 20) await p;
      }`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      child.stdout.once('data', () => res());
      child.once('exit', (code) => rej(new Error(`child exited early (${code})`)));
    });
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const log = await RelayLog.open(dir);
    assert.equal(log.replid, 'k'.repeat(40));
    const got = (await readAll(log, 0))?.bytes as Buffer;
    assert.equal(got.length, log.endOffset);
    assert.ok(got.length > 0);
    let expect = '';
    for (let i = 0; expect.length < got.length; i++) expect += gen(i);
    assert.equal(expect.length, got.length, 'the log must end at a command boundary');
    assert.equal(got.toString('latin1'), expect);
    console.log(`kill -9 recovery: ${segFiles(dir).length} segments, ${got.length} bytes kept`);
    await log.close();
  });
});
