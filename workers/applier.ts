/**
 * One applier: a long-lived piscina task that owns one shard. It drains its request ring in groups,
 * applies each group to its LevelDB store, commits ONE batch per group (data + applied offset together,
 * invariant 3), publishes the committed offset, answers reads on its reply ring, and parks when idle.
 *
 *   loop: park until the ring has data ─▶ read ≤ MAX_GROUP records ─▶ apply / answer reads
 *         ─▶ await commit() ─▶ publish COMMITTED_OFFSET + counters ─▶ release ring bytes ─▶ ack barriers
 *
 * It never parks with a LevelDB promise outstanding: commit() is awaited before the next park.
 * Records whose offset is ≤ the store's applied offset are skipped: that is how a restart replays the
 * relay log without applying anything twice.
 * A command it cannot apply halts the shard at that offset (S_HALTED, a message to the main thread);
 * after that it still answers reads from the last consistent data, and applies nothing more.
 */
import { MessagePort } from 'node:worker_threads';
import os from 'node:os';
import { pack } from 'msgpackr';
import { SharedState, SharedHandles, RecordKind, REC_F_ERROR, REC_F_OLD_VIEW, S_STATE, S_BARRIER_ACK, S_HALTED,
  C_COMMITTED_OFFSET, C_OPS, C_BATCHES, C_BARRIERS, C_READS, C_FAILED, C_BYTES, C_SKIPPED,
  C_LAST_BATCH_US, C_SKIPPED_ERRORS, WorkerState } from '../src/shm/layout.js';
import { RingConsumer, RingProducer } from '../src/shm/ring.js';
import { RespFramer } from '../src/resp/framer.js';
import { ParaError, isParaError } from '../src/errors.js';
import { describeCommand } from '../src/router/router.js';
import { ShardStore } from './keyspace.js';
import type { ShardLoadState } from '../src/engine/load-recovery.js';
import { writeCommands, combineSpecs } from './commands.js';
import { ExchangeEndpoint } from './exchange.js';
import { applyRecord, newStats, ApplyFailure, type RecordContext } from './apply-record.js';

export interface ApplierTask {
  shard: number;
  location: string;
  handles: SharedHandles;
  requestPort: MessagePort;   // spill port of the request ring (consumer side)
  replyPort: MessagePort;     // spill port of the reply ring (producer side)
  statusPort: MessagePort;    // messages to the main thread: ready, halted, failed
  /** Ports shared with every other applier (null at this shard's index), for exchanges (workers/exchange.ts). */
  peerPorts: Array<MessagePort | null>;
  /** --skip-errors: skip (log and count) a command that cannot be applied instead of halting. */
  skipErrors?: boolean;
  /** Tests only: pause up to this many ms at random between records (schedule fuzzing). */
  chaosDelayMs?: number;
  maxGroup?: number;
  /** How much to lower this thread's CPU priority (nice), default 5. */
  niceIncrement?: number;
  storeOptions?: { cacheSize?: number; writeBufferSize?: number };
}

export type ApplierMessage =
  | ({ type: 'ready'; shard: number; epochs: number[]; writes: string[] } & ShardLoadState)
  | { type: 'halted'; shard: number; offset: number; error: Record<string, unknown> }
  | { type: 'skipped'; shard: number; offset: number; error: Record<string, unknown> }
  | { type: 'stopped'; shard: number }
  | { type: 'resumed'; shard: number };

const PARK_MS = 50;

/**
 * A Buffer view built straight from (ArrayBuffer, offset, length), as Node's own FastBuffer: it is a
 * Buffer in every respect (Buffer.isBuffer, instanceof, methods) but skips subarray()'s species
 * lookup, about 3x cheaper, and argv views are made for every argument of every command.
 */
class ArgBuffer extends Uint8Array {
  constructor(ab: ArrayBuffer, offset: number, length: number) { super(ab, offset, length); }   // no ...args spread
}
Object.setPrototypeOf(ArgBuffer.prototype, Buffer.prototype);

/** Splits a payload holding one or more complete RESP commands into argv lists. */
class ArgvCollector {
  private readonly framer = new RespFramer();
  private out: Buffer[][] = [];
  onCommand(buf: Buffer, _s: number, _e: number, argc: number, argStart: Int32Array, argLen: Int32Array): void {
    const argv = new Array<Buffer>(argc);
    const ab = buf.buffer as ArrayBuffer, base = buf.byteOffset;   // a SharedArrayBuffer (ring) or not (spilled)
    for (let i = 0; i < argc; i++) argv[i] = new ArgBuffer(ab, base + argStart[i], argLen[i]) as Buffer;
    this.out.push(argv);
  }
  /**
   * The argv Buffers are views into a private copy of the record, never into the ring itself: the
   * store keeps decoded values (metas in its cache, inline collections) past the commit, and the ring's
   * bytes are overwritten by the producer as soon as the group is released.
   */
  split(payload: Buffer): Buffer[][] {
    this.out = [];
    this.framer.feed(Buffer.from(payload), this);
    if (this.framer.pendingBytes > 0) {
      this.framer.reset();
      throw new ParaError('PARAREPLICA_APPLY_FAILED', 'internal: a ring record held an incomplete command');
    }
    return this.out;
  }
}

export default async function applier(task: ApplierTask): Promise<void> {
  const { shard } = task;
  // Appliers do the bulk work; the main thread does network I/O and answers clients. On Linux, nice
  // is per thread: lowering this thread's priority keeps the link and PING responsive when the
  // appliers saturate every core (invariant 5). Raising niceness needs no privilege.
  try { os.setPriority(task.niceIncrement ?? 5); } catch { /* not supported here: run at normal priority */ }
  const shared = SharedState.attach(task.handles);
  const ring = new RingConsumer(task.handles.requestRings[shard], task.requestPort);
  const replies = new RingProducer(task.handles.replyRings[shard], task.replyPort);
  const store = await ShardStore.open(task.location, task.storeOptions);
  const argvs = new ArgvCollector();
  const split = (b: Buffer): Buffer[][] => argvs.split(b);
  const maxGroup = task.maxGroup ?? 4096;
  const status = (m: ApplierMessage): void => task.statusPort.postMessage(m);

  // A full sync found loading or ended-uncommitted (a crash) is left as it is: the main thread sees
  // every shard's phase and sends all of them SYNC_COMMIT or SYNC_ABORT (src/engine/load-recovery.ts).
  const st = store.state;
  shared.setCounter(shard, C_COMMITTED_OFFSET, st.offset);
  status({ type: 'ready', shard, offset: st.offset, replid: st.replid,
    epochs: [...st.epochs, st.baseEpoch ?? 0], baseEpoch: st.baseEpoch ?? 0,
    load: st.loading ? 'loading' : st.loadEnded ? 'ended' : 'none', before: st.prevApplied ?? null, writes: Object.keys(writeCommands) });
  shared.setShardWord(shard, S_STATE, WorkerState.RUNNING);

  const chaos = task.chaosDelayMs ?? 0;
  const chaosWord = new Int32Array(new SharedArrayBuffer(4));
  // Tests only: a random pause (a plain sleep: nobody ever notifies this private word).
  const pause = (): void => { if (Math.random() < 0.2) Atomics.wait(chaosWord, 0, 0, Math.random() * chaos); };
  const exchange = new ExchangeEndpoint(shard, shared, task.peerPorts, task.statusPort, store, combineSpecs);
  await exchange.start();
  let halted = false;
  let reclaimPending = true;
  const reply = (id: number, value: unknown, flags = 0): void => {
    const bytes = pack(value);
    // The main thread drains replies without ever waiting on us, so this park always ends.
    while (!replies.tryWrite(RecordKind.REPLY, flags, 0, -1, id, bytes)) {
      replies.wakeConsumer();
      replies.waitForSpaceSync(PARK_MS);
      if (shared.stopRequested()) return;
    }
    // The reader on the main thread parks in waitForData(); wake it now rather than after the commit.
    replies.wakeConsumer();
  };
  const answer = async (): Promise<void> => {
    let value: unknown;
    try {
      const [argv] = argvs.split(ring.payload());
      if (ring.flags & REC_F_OLD_VIEW) {
        // Sent while a full sync loads: answer from the data before it (the old view).
        const db = ring.db;
        value = await store.withOldView(() => store.read(db, argv, Date.now()));
      } else {
        const r = store.read(ring.db, argv, Date.now());
        value = r instanceof Promise ? await r : r;
      }
    } catch (e) {
      value = { error: `ERR ${(e as Error).message}` };
    }
    reply(ring.aux, value);
  };
  const describe = (f: ApplyFailure | null, e: unknown): { err: ParaError; command: string } => {
    const err = isParaError(e) ? e : new ParaError('PARAREPLICA_APPLY_FAILED', `applier ${shard} failed: ${(e as Error)?.stack ?? e}`);
    let command = '';
    try { command = describeCommand(f?.argv ?? argvs.split(ring.payload())[0] ?? []); } catch { /* unparsable */ }
    return { err, command };
  };

  try {
    while (!shared.stopRequested()) {
      exchange.drain();   // answers resend requests of a restarted shard, even when idle
      if (!ring.waitForDataSync(PARK_MS)) {
        if (reclaimPending && !halted && !store.reclaimHeld) reclaimPending = await store.reclaimStep();
        continue;
      }
      const failedBefore = store.failedCommands;
      // --skip-errors: commands to leave out, by record index in the group → command indexes.
      const skips = new Map<number, Set<number>>();
      let answeredBefore = 0;   // READ records before this index were answered by an earlier pass
      // Records (by index in the group) where this shard halted, and those where it resumed and said
      // so: a later pass applies everything before a halt point again and stops there, so the records
      // after it (a SYNC_ABORT of the failed load included) meet the same rules as in any later group.
      const haltAt = new Set<number>();
      const resumedAt = new Set<number>();
      const haltedAtStart: boolean = halted;
      let stats = newStats(), skipped = 0, reads = 0, cancelled = false;
      for (;;) {
        stats = newStats(); skipped = 0;
        halted = haltedAtStart;
        // One context per pass: only `skip` changes from record to record.
        const ctx: RecordContext = { store, exchange, split, skip: null, stats };
        let failure: { n: number; f: ApplyFailure | null; e: unknown } | null = null;
        for (let n = 0; n < maxGroup && ring.next(); n++) {
          if (chaos > 0) pause();
          const kind = ring.kind;
          if (kind === RecordKind.READ) {
            if (n >= answeredBefore) { reads++; await answer(); }
            continue;
          }
          if (haltAt.has(n)) { halted = true; continue; }   // the record that failed (reported then)
          if (halted) {
            // A failed snapshot load halts the shard until the main thread aborts that load: the
            // abort puts the shard back on its data from before the load, so it may apply again.
            // A new full sync (SYNC_BEGIN) replaces all data whatever stopped the shard: it resumes
            // there too (beginLoad first aborts a load left unfinished).
            const resumes = kind === RecordKind.SYNC_BEGIN || (kind === RecordKind.SYNC_ABORT && store.state.loading);
            if (!resumes) continue;
            halted = false;
            if (!resumedAt.has(n)) {
              resumedAt.add(n);
              shared.setShardWord(shard, S_HALTED, 0);
              status({ type: 'resumed', shard });
            }
          }
          const offset = ring.offset;
          if (offset >= 0 && offset <= store.state.offset && kind !== RecordKind.SYNC_END) { skipped++; continue; }
          try {
            ctx.skip = skips.size === 0 ? null : skips.get(n) ?? null;
            await applyRecord(ctx, ring);
          } catch (e) {
            failure = e instanceof ApplyFailure ? { n, f: e, e: e.error } : { n, f: null, e };
            break;
          }
        }
        if (failure === null) break;
        // Nothing of this pass is kept: a failed MULTI must not half-apply. The next pass applies the
        // records before the failure again, then skips the failed command or halts at its record.
        store.discard();
        const { err, command } = describe(failure.f, failure.e);
        if (err.code === 'PARAREPLICA_CANCELLED') { cancelled = true; break; }
        if (task.skipErrors && err.code !== 'PARAREPLICA_EXCHANGE_SOURCE_HALTED') {
          const cmdIndex = failure.f?.command ?? 0;
          let set = skips.get(failure.n);
          if (set === undefined) { set = new Set(); skips.set(failure.n, set); }
          set.add(cmdIndex);
          answeredBefore = Math.max(answeredBefore, failure.n);
          shared.addCounter(shard, C_SKIPPED_ERRORS, 1);
          status({ type: 'skipped', shard, offset: ring.offset, error: { ...err.toJSON(), command, shard } });
          ring.rewind();
          continue;
        }
        // Halt at this record: the next pass applies the records before it again and stops there.
        // After it, reads are still answered and writes wait, except what resumes a halted shard.
        haltAt.add(failure.n);
        shared.setShardWord(shard, S_HALTED, 1);
        status({ type: 'halted', shard, offset: ring.offset, error: { ...err.toJSON(), command, shard } });
        answeredBefore = Math.max(answeredBefore, failure.n);
        ring.rewind();
      }
      if (cancelled) break;
      if (!halted) exchange.beforeCommit();
      const t0 = performance.now();
      await store.commit();
      const dt = performance.now() - t0;
      exchange.afterCommit(store.state.offset);
      // Publish after the batch is durable in LevelDB: the main thread ACKs from these values.
      shared.setCounter(shard, C_COMMITTED_OFFSET, store.state.offset);
      shared.addCounter(shard, C_OPS, stats.ops);
      shared.addCounter(shard, C_BYTES, stats.bytes);
      shared.addCounter(shard, C_SKIPPED, skipped);
      shared.addCounter(shard, C_READS, reads);
      shared.addCounter(shard, C_FAILED, store.failedCommands - failedBefore);
      shared.addCounter(shard, C_BATCHES, 1);
      shared.setCounter(shard, C_LAST_BATCH_US, Math.round(dt * 1000));
      ring.release();
      replies.wakeConsumer();
      if (stats.barriers > 0 || stats.syncMarkers > 0) {
        shared.addCounter(shard, C_BARRIERS, stats.barriers);
        if (stats.barriers > 0) reclaimPending = true;
        // Waiter: the main thread's Atomics.waitAsync on this word (barrier latency). A stale value
        // there only delays the measurement, never the apply path.
        if (stats.lastBarrier > 0) shared.setShardWord(shard, S_BARRIER_ACK, stats.lastBarrier);
      }
      if (stats.syncMarkers > 0) reclaimPending = true;
    }
  } finally {
    exchange.close();
    await store.commit().catch(() => undefined);
    await store.close();
    shared.setShardWord(shard, S_STATE, WorkerState.STOPPED);
    status({ type: 'stopped', shard });
  }
}

export { REC_F_ERROR };
