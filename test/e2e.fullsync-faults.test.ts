/**
 * Full-sync fault injection (issue 4): a replica synced from snapshot S_A (dataset A, made by a real
 * redis-server) is offered a broken snapshot of dataset B by a scripted stand-in master. Whatever the
 * break, the replica must keep answering with ALL of A's data and nothing of B's (whole-keyspace
 * comparison with the redis-server holding A), survive, report the failure in INFO replication
 * `master_sync_last_error` (PARAREPLICA_RDB_CORRUPT for corrupt snapshots), and load a valid S_B on the
 * next connection (then equal B). Runs alternate: the replica holds A, is offered a broken B, then the
 * valid B; the next run holds B and is offered a broken A, and so on.
 *
 * Breaks (fast-check picks positions; no shrinking, each run is a full sync):
 *   truncated at a random byte then closed (both framings) · one content byte flipped with the CRC
 *   kept · one byte flipped anywhere · a bad string length / collection count · corrupt LZF data ·
 *   the corrupt_ziplist fixture · the link killed mid-payload with nothing served after (A stays) ·
 *   a replica process SIGKILLed mid-load and restarted on its data directory (A, never a mix).
 * And clients that read without pause while broken snapshots come and go see only the old keys.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import pino from 'pino';
import { Replica } from '../src/replica.js';
import { startRedis, Client, freePort, infoField, waitFor, type RedisServer } from './helpers/redis.js';
import { assertSameKeyspace } from './helpers/keyspace.js';
import { buildDataset, saveSnapshot, waitSynced } from './helpers/snapshot-data.js';
import { PayloadMaster, diskPayload, disklessPayload, type Script } from './helpers/payload-master.js';

const FIXTURES = new URL('../../test/fixtures/rdb/', import.meta.url).pathname;
const MAIN = new URL('../src/cli/main.js', import.meta.url).pathname;
const DBS = [0, 2, 9];
const CORRUPT = /PARAREPLICA_RDB_CORRUPT/;
const RUNS = Number(process.env.FAULT_RUNS ?? 5);

interface Dataset { name: 'A' | 'B'; seed: number; srv: RedisServer; c: Client; rdb: Buffer }
const sets: Partial<Record<'A' | 'B', Dataset>> = {};
const ds = (n: 'A' | 'B'): Dataset => sets[n]!;

before(async () => {
  for (const [name, seed] of [['A', 51], ['B', 52]] as const) {
    const srv = await startRedis();
    const c = await Client.connect(srv.port);
    await buildDataset(c, { seed, dbs: DBS });
    sets[name] = { name, seed, srv, c, rdb: await saveSnapshot(c) };
  }
});
after(async () => {
  for (const d of Object.values(sets)) { d.c.close(); await d.srv.stop(); }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Rejects after `ms` so a hang fails the test with a reason instead of blocking the run. */
async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error(`timed out (${ms} ms): ${what}`)), ms); })]);
  } finally { clearTimeout(t); }
}

// ── locating bytes in a real snapshot ─────────────────────────────────────────────────────────────
/** Positions of the 20-byte marker values (raw strings: length byte 0x14, then the bytes). */
function markers(rdb: Buffer, seed: number): number[] {
  const out: number[] = [];
  for (const db of DBS) for (let i = 0; i < 8; i++) {
    const p = rdb.indexOf(`Ms${seed}-${db}-${i}-`);
    if (p > 0 && rdb[p - 1] === 20) out.push(p);
  }
  assert.ok(out.length >= 8, `markers not found in the snapshot (${out.length})`);
  return out;
}
/** Reads an RDB length at `p`: [value, width]. */
function rdbLen(b: Buffer, p: number): [number, number] {
  const t = b[p] >> 6;
  if (t === 0) return [b[p] & 0x3f, 1];
  if (t === 1) return [((b[p] & 0x3f) << 8) | b[p + 1], 2];
  if (b[p] === 0x80) return [b.readUInt32BE(p + 1), 5];
  throw new Error(`unexpected length form 0x${b[p].toString(16)} at ${p}`);
}
/** The LZF-compressed value of key `lzf:<db>`: where its lengths and data are. */
function lzfString(rdb: Buffer, db: number): { ulenAt: number; ulenWidth: number; data: number; clen: number } {
  const key = Buffer.from(`lzf:${db}`);
  const p = rdb.indexOf(Buffer.concat([Buffer.from([0x00, key.length]), key]));
  assert.ok(p >= 0, `key lzf:${db} not in the snapshot`);
  let q = p + 2 + key.length;
  assert.equal(rdb[q], 0xc3, `lzf:${db} is not LZF-compressed in the snapshot`);
  const [clen, cw] = rdbLen(rdb, q + 1);
  q += 1 + cw;
  const [, uw] = rdbLen(rdb, q);
  return { ulenAt: q, ulenWidth: uw, data: q + uw, clen };
}
const splice = (b: Buffer, at: number, del: number, ins: number[]): Buffer =>
  Buffer.concat([b.subarray(0, at), Buffer.from(ins), b.subarray(at + del)]);
const flip = (b: Buffer, at: number, mask: number): Buffer => { const c = Buffer.from(b); c[at] ^= mask; return c; };

// ── one replica following a stand-in master ───────────────────────────────────────────────────────
class Harness {
  holds: Dataset = ds('A');
  private constructor(readonly pm: PayloadMaster, readonly replica: Replica, readonly r: Client, private readonly dir: string) {}

  static async start(): Promise<Harness> {
    const pm = await PayloadMaster.start();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-faults-'));
    pm.serve({ label: 'S_A', steps: [disklessPayload(ds('A').rdb)] });
    const replica = await Replica.start({ master: { host: '127.0.0.1', port: pm.port }, port: 0, dir, workers: 2,
      logger: pino({ level: process.env.E2E_LOG ?? 'silent' }) });
    const h = new Harness(pm, replica, await Client.connect(replica.port), dir);
    await waitSynced(h.r, 30_000, () => h.linkRdbError());
    await assertSameKeyspace(ds('A').c, h.r, 16);
    return h;
  }

  get other(): Dataset { return this.holds.name === 'A' ? ds('B') : ds('A'); }
  linkRdbError(): string | null { const e = this.replica.internals.link.status().lastError; return e && /PARAREPLICA_RDB_/.test(e) ? e : null; }
  async lastError(): Promise<string> { return (await infoField(this.r, 'replication', 'master_sync_last_error')) ?? '(no master_sync_last_error field)'; }

  /**
   * Offers a broken snapshot on the next connection and waits until the replica dealt with it.
   * `expectError`: what master_sync_last_error must match; 'set' = any non-empty text; null = no
   * requirement (the payload header itself was cut: no snapshot byte was read).
   */
  async offerBroken(script: Script, expectError: RegExp | 'set' | null): Promise<void> {
    const before = await this.lastError();
    const n = this.pm.connections.filter((c) => c.psync).length;
    this.pm.dropAll();
    this.pm.serve(script);
    const conn = await this.pm.waitPsyncs(n + 1);
    // Done when the replica closed the link, or reported a new error, or we closed it ourselves.
    await waitFor(`the replica to react to ${script.label}`, async () =>
      conn.closedBy !== null || (await this.lastError()) !== before, 15_000, 25).catch(async () => {
      assert.fail(`${script.label}: no reaction within 15 s; master_sync_last_error=${JSON.stringify(await this.lastError())}, ` +
        `link error=${this.replica.internals.link.status().lastError}, applier halt=${JSON.stringify(this.replica.halt)}`);
    });
    await this.assertHolds(script.label ?? '');
    if (expectError instanceof RegExp) {
      await waitFor('master_sync_last_error', async () => expectError.test(await this.lastError()), 15_000).catch(async () =>
        assert.fail(`${script.label}: master_sync_last_error=${JSON.stringify(await this.lastError())} does not match ${expectError} ` +
          `(link error: ${this.replica.internals.link.status().lastError})`));
    } else if (expectError === 'set') {
      await waitFor('master_sync_last_error set', async () => (await this.lastError()) !== '', 15_000).catch(async () =>
        assert.fail(`${script.label}: master_sync_last_error is ${JSON.stringify(await this.lastError())}`));
    }
    await this.assertHolds(`${script.label} (again)`);
  }

  /** The replica answers and holds exactly the dataset it held before. */
  async assertHolds(what: string): Promise<void> {
    assert.deepEqual(await this.r.call('PING'), { ok: 'PONG' }, `${what}: the replica does not answer`);
    await assertSameKeyspace(this.holds.c, this.r, 16).catch((e: Error) => {
      throw new Error(`${what}: the replica no longer holds dataset ${this.holds.name}: ${e.message}`);
    });
  }

  /** Serves the other dataset's valid snapshot on a fresh connection; the replica must then equal it. */
  async loadOther(diskless: boolean): Promise<void> {
    const target = this.other;
    const n = this.pm.connections.filter((c) => c.psync).length;
    this.pm.dropAll();
    this.pm.serve({ label: `S_${target.name}`, steps: [diskless ? disklessPayload(target.rdb) : diskPayload(target.rdb)] });
    const conn = await this.pm.waitPsyncs(n + 1);
    await waitFor(`valid S_${target.name} acknowledged`, async () => conn.acks.length > 0, 20_000).catch(async () =>
      assert.fail(`valid S_${target.name} was not loaded: master_sync_last_error=${JSON.stringify(await this.lastError())}, ` +
        `link error=${this.replica.internals.link.status().lastError}, closedBy=${conn.closedBy}`));
    await waitSynced(this.r, 20_000);
    this.holds = target;
    await assertSameKeyspace(target.c, this.r, 16);
  }

  async stop(): Promise<void> {
    this.r.close();
    await this.replica.stop();
    await this.pm.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A test body with a fresh harness, stopped afterwards even when it failed. */
const withHarness = (body: (h: Harness) => Promise<void>) => async (): Promise<void> => {
  const h = await Harness.start();
  try { await body(h); } finally { await h.stop(); }
};
const prop = <T>(arb: fc.Arbitrary<T>, runs: number, body: (v: T) => Promise<void>) =>
  fc.assert(fc.asyncProperty(arb, body), { numRuns: runs, endOnFailure: true });

test('a snapshot truncated at any byte (then the link closed) leaves the old data served, and the next valid one loads', { timeout: 180_000 },
  withHarness((h) => prop(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), diskless: fc.boolean() }), RUNS + 1, async ({ at, diskless }) => {
    const framed = diskless ? disklessPayload(h.other.rdb) : diskPayload(h.other.rdb);
    const cut = 1 + Math.floor(at * (framed.length - 2));
    const header = framed.indexOf('\r\n') + 2;
    await h.offerBroken({ label: `S_${h.other.name} cut at ${cut}/${framed.length} (${diskless ? 'diskless' : 'disk'})`,
      steps: [framed.subarray(0, cut), { pauseMs: 50 }, 'close'] }, cut > header ? 'set' : null);
    await h.loadOther(!diskless);
  })));

test('one content byte flipped, CRC kept: PARAREPLICA_RDB_CORRUPT, old data served, next valid snapshot loads', { timeout: 180_000 },
  withHarness((h) => prop(fc.record({ which: fc.nat(), off: fc.nat(19), mask: fc.integer({ min: 1, max: 255 }), diskless: fc.boolean() }), RUNS,
    async ({ which, off, mask, diskless }) => {
      const ms = markers(h.other.rdb, h.other.seed);
      const at = ms[which % ms.length] + off;
      const bad = flip(h.other.rdb, at, mask);
      await h.offerBroken({ label: `S_${h.other.name} byte ${at} ^ ${mask}`, steps: [diskless ? disklessPayload(bad) : diskPayload(bad)] }, CORRUPT);
      await h.loadOther(diskless);
    })));

test('one byte flipped anywhere after the header: the load fails (corrupt or unsupported), old data served', { timeout: 180_000 },
  withHarness((h) => prop(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), mask: fc.integer({ min: 1, max: 255 }) }), RUNS + 1,
    async ({ at, mask }) => {
      const rdb = h.other.rdb;
      const pos = 9 + Math.floor(at * (rdb.length - 10));
      await h.offerBroken({ label: `S_${h.other.name} byte ${pos}/${rdb.length} ^ ${mask}`, steps: [diskPayload(flip(rdb, pos, mask))] },
        /PARAREPLICA_RDB_(CORRUPT|UNSUPPORTED)/);
      await h.loadOther(true);
    })));

test('a bad length (invalid encoding, 4 GiB, 2^64-1 string lengths; a 4 Gi member count): PARAREPLICA_RDB_CORRUPT, old data served', { timeout: 180_000 },
  withHarness((h) => prop(fc.record({ kind: fc.constantFrom('special', 'len32', 'len64', 'count'), which: fc.nat() }), RUNS,
    async ({ kind, which }) => {
      const rdb = h.other.rdb;
      let bad: Buffer;
      if (kind === 'count') {
        const db = DBS[which % DBS.length];
        const key = Buffer.from(`sht:s${h.other.seed}:${db}`);
        const p = rdb.indexOf(Buffer.concat([Buffer.from([0x02, key.length]), key]));
        assert.ok(p >= 0, `set ${key} (hashtable) not in the snapshot`);
        const c = p + 2 + key.length;
        assert.equal(rdb[c], 12);
        bad = splice(rdb, c, 1, [0x80, 0xff, 0xff, 0xff, 0xff]);
      } else {
        const ms = markers(rdb, h.other.seed);
        const lenAt = ms[which % ms.length] - 1;
        const ins = kind === 'special' ? [0xc0 | (4 + (which % 60))] : kind === 'len32' ? [0x80, 0xff, 0xff, 0xff, 0xff] : [0x81, ...Array(8).fill(0xff)];
        bad = splice(rdb, lenAt, 1, ins);
      }
      await h.offerBroken({ label: `S_${h.other.name} bad length (${kind} #${which})`, steps: [diskPayload(bad)] }, CORRUPT);
      await h.loadOther(true);
    })));

test('corrupt LZF data (bad back-reference, flipped bytes, wrong uncompressed length): PARAREPLICA_RDB_CORRUPT, old data served', { timeout: 180_000 },
  withHarness((h) => prop(fc.record({ kind: fc.constantFrom('backref', 'flip', 'ulen'), db: fc.constantFrom(...DBS), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }), diskless: fc.boolean() }), RUNS,
    async ({ kind, db, at, mask, diskless }) => {
      const rdb = h.other.rdb;
      const z = lzfString(rdb, db);
      let bad: Buffer;
      if (kind === 'backref') bad = splice(rdb, z.data, 1, [0x3f]);            // a copy from before the start of the output
      else if (kind === 'flip') bad = flip(rdb, z.data + 1 + (at % (z.clen - 1)), mask);
      else bad = flip(rdb, z.ulenAt + z.ulenWidth - 1, 1 + (mask % 3));       // the uncompressed length's low bits
      await h.offerBroken({ label: `S_${h.other.name} LZF ${kind} db ${db}`, steps: [diskless ? disklessPayload(bad) : diskPayload(bad)] }, CORRUPT);
      await h.loadOther(!diskless);
    })));

test('the corrupt_ziplist fixture: PARAREPLICA_RDB_CORRUPT, old data served, next valid snapshot loads', { timeout: 60_000 }, withHarness(async (h) => {
  const corrupt = await readFile(path.join(FIXTURES, 'corrupt_ziplist.rdb'));
  await h.offerBroken({ label: 'corrupt_ziplist.rdb', steps: [diskPayload(corrupt)] }, CORRUPT);
  await h.loadOther(true);
}));

test('clients reading without pause while broken snapshots come and go never see anything but the old keys', { timeout: 120_000 },
  withHarness(async (h) => {
    const names = async (c: Client, db: number): Promise<string> => {
      await c.call('SELECT', db);
      return ((await c.call('KEYS', '*')) as Buffer[]).map((k) => k.toString('latin1')).sort().join('\n');
    };
    const want = new Map<number, string>();
    for (const db of DBS) want.set(db, await names(h.holds.c, db));
    let stop = false, reads = 0;
    const wrong: string[] = [];
    const reader = async (db: number): Promise<void> => {
      const c = await Client.connect(h.replica.port);
      try {
        while (!stop) {
          const got = await names(c, db);
          reads++;
          if (got !== want.get(db) && wrong.length < 3) wrong.push(`db ${db}: ${got.split('\n').length} keys, want ${want.get(db)!.split('\n').length}`);
        }
      } finally { c.close(); }
    };
    const readers = DBS.map((db) => reader(db));
    try {
      await prop(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true }), mask: fc.integer({ min: 1, max: 255 }) }), RUNS, async ({ at, mask }) => {
        const rdb = h.other.rdb;
        // The opening bytes (AUX fields, the first keys) in most runs: a flipped opcode there turns
        // metadata into keys whose values only an applier finds corrupt (a duplicate set member).
        const pos = 9 + Math.floor(at < 0.8 ? at / 0.8 * 256 : at * (rdb.length - 10));
        await h.offerBroken({ label: `S_${h.other.name} byte ${pos} ^ ${mask}`, steps: [diskPayload(flip(rdb, pos, mask))] }, null);
        assert.deepEqual(wrong, [], `${wrong.length} reads saw other keys than the old data (of ${reads})`);
      });
    } finally {
      stop = true;
      await Promise.all(readers);
    }
    assert.ok(reads > 50, `only ${reads} reads`);
  }));

test('the link killed in the middle of a valid snapshot, nothing served after: the old data stays', { timeout: 60_000 }, withHarness(async (h) => {
  const framed = disklessPayload(h.other.rdb);
  const n = h.pm.connections.filter((c) => c.psync).length;
  h.pm.dropAll();
  h.pm.serve({ label: 'half of S_B', steps: [framed.subarray(0, framed.length >> 1), { pauseMs: 300 }] });
  const conn = await h.pm.waitPsyncs(n + 1);
  await waitFor('half sent', async () => conn.scriptDone, 10_000);
  await h.assertHolds('mid-payload');
  h.pm.dropAll();                                  // the master goes away; later connections get nothing
  await h.pm.waitPsyncs(n + 2);
  for (let i = 0; i < 4; i++) { await h.assertHolds(`after the link was killed (${i})`); await sleep(250); }
  assert.notEqual(await infoField(h.r, 'replication', 'master_link_status'), 'up');
}));

// ── a replica process killed in the middle of a load ──────────────────────────────────────────────
function startChild(pmPort: number, port: number, dir: string, out: string[]): ChildProcess {
  const child = spawn(process.execPath, [MAIN, '--master', `127.0.0.1:${pmPort}`, '--port', String(port), '--dir', dir,
    '--workers', '2', '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (d: Buffer) => { out.push(d.toString()); if (out.length > 400) out.splice(0, 200); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return child;
}
async function connectWhenUp(port: number): Promise<Client> {
  let c: Client | undefined;
  await waitFor(`replica on port ${port}`, async () => { c = await Client.connect(port); return true; }, 20_000, 50);
  return c!;
}

test('a replica process SIGKILLed while loading a new snapshot restarts serving the old data, all of it', { timeout: 120_000 }, async () => {
  const pm = await PayloadMaster.start();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-crashload-'));
  const port = await freePort();
  const out: string[] = [];
  let child: ChildProcess | undefined;
  let r: Client | undefined;
  const kill = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await new Promise((res) => child!.once('exit', res));
    }
  };
  try {
    pm.serve({ label: 'S_A', steps: [disklessPayload(ds('A').rdb)] });
    child = startChild(pm.port, port, dir, out);
    r = await connectWhenUp(port);
    await waitSynced(r, 30_000);
    await assertSameKeyspace(ds('A').c, r, 16);
    // S_B: the first 60% arrives in small chunks, then the master stalls.
    const framed = diskPayload(ds('B').rdb);
    const n = pm.connections.filter((c) => c.psync).length;
    pm.serve({ label: 'S_B stalled', steps: [framed.subarray(0, Math.floor(framed.length * 0.6))], chunkBytes: 1024, chunkPauseMs: 5 });
    pm.dropAll();
    const conn = await pm.waitPsyncs(n + 1);
    await waitFor('S_B partly sent', async () => conn.scriptDone, 20_000);
    await waitFor('sync in progress', async () => (await infoField(r!, 'replication', 'master_sync_in_progress')) === '1', 10_000);
    await sleep(500);                              // let the appliers write part of B
    const readBytes = Number(await infoField(r, 'replication', 'master_sync_read_bytes'));
    assert.ok(readBytes > 0, `no payload byte read before the kill (master_sync_read_bytes=${readBytes})`);
    const keys = (await r.str('INFO', 'all'))?.match(/^(?:master_sync_keys|loading_keys):(\d+)/m)?.[1] ?? '?';
    process.stdout.write(`# killed mid-load: payload bytes read=${readBytes}/${framed.length} snapshot keys parsed=${keys}\n`);
    r.close();
    await kill();
    // Restart on the same directory; the stand-in serves nothing for now.
    child = startChild(pm.port, port, dir, out);
    r = await connectWhenUp(port);
    await bounded(assertSameKeyspace(ds('A').c, r, 16), 30_000, 'keyspace after restart').catch((e: Error) => {
      throw new Error(`after the restart the replica does not serve A: ${e.message}\n--- replica log tail ---\n${out.join('').slice(-3000)}`);
    });
    assert.notEqual(await infoField(r, 'replication', 'master_link_status'), 'up');
    // Then a valid S_B arrives: the replica ends up equal to B.
    pm.serve({ label: 'S_B', steps: [diskPayload(ds('B').rdb)] });
    await waitSynced(r, 30_000);
    await assertSameKeyspace(ds('B').c, r, 16);
  } finally {
    r?.close();
    await kill();
    await pm.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
