/**
 * The one home of parareplica's shared memory. Nothing else indexes a SharedArrayBuffer by raw numbers.
 *
 *  ┌──────────────────────────── control (Int32Array, `i32`) ────────────────────────────┐
 *  │ G_STOP │ G_SHARDS │ G_GLOBAL_EPOCH │ … │ G_EPOCHS[0..MAX_DBS)  │ shard 0 words │ shard 1 … │
 *  └─────────────────────────────────────────────────────────────────────────────────────┘
 *     per shard (SHARD_I32_STRIDE words at shardI32(s)):
 *       S_STATE        worker → main   WorkerState: STARTING, RUNNING, STOPPED, FAILED
 *       S_BARRIER_ACK  worker → main   id (= epoch) of the last barrier record committed; Atomics.notify'd
 *       S_HALTED       worker → main   1 when the applier stopped at a command it could not apply
 *       S_XDOOR        worker → worker exchange doorbell: bumped (and notified) by any applier after it posts
 *                                      to this shard's exchange inbox (an export or a resend request)
 *  ┌──────────────────────────── counters (BigInt64Array, `i64`) ────────────────────────┐
 *  │ shard 0: COMMITTED_OFFSET OPS BATCHES BARRIERS READS FAILED BYTES SKIPPED … │ shard 1 … │
 *  └─────────────────────────────────────────────────────────────────────────────────────┘
 *     words C_XWAIT_HIST … +XWAIT_BUCKETS-1: histogram of exchange waits (bucket b counts waits shorter
 *     than xwaitBucketLimitUs(b); the last bucket has no limit).
 *     Every counter is written by its shard's worker only (Atomics.store after each commit) and read by
 *     the main thread (Atomics.load) for ACKs, INFO and metrics. A stale read only makes an ACK or a
 *     metric slightly old, never wrong in the unsafe direction: offsets only grow.
 *
 *  Per shard, two single-producer/single-consumer byte rings, each its own SharedArrayBuffer:
 *     request ring  main (producer) → worker (consumer): writes, barriers, reads, beacons
 *     reply ring    worker (producer) → main (consumer): read replies
 *  ┌─ ring header (RING_HEADER_BYTES, Int32 words, each on its own 64-byte line) ─┐┌─ data (capacity) ─┐
 *  │ R_HEAD (consumer) │ R_TAIL (producer) │ R_CONSUMER_SLEEP │ R_PRODUCER_WAIT │ R_WRITTEN │ R_READ ││ records …        │
 *  └───────────────────────────────────────────────────────────────────────────────┘└───────────────────┘
 *   R_HEAD/R_TAIL are byte positions in [0, capacity). Empty when equal; the producer always leaves
 *   RECORD_ALIGN bytes free so a full ring never looks empty. R_WRITTEN/R_READ count records (queue depth).
 *
 *  Record (8-byte aligned, never split across the end of the ring; a WRAP marker sends the reader to 0):
 *     +0  u32  length of header + payload (unpadded); WRAP_MARKER = 0xFFFFFFFF
 *     +4  u8   kind (RecordKind)     +5 u8 flags (REC_F_*)     +6 u16 db
 *     +8  f64  stream offset: the offset of the last byte of the command (or -1)
 *     +16 u32  aux: barrier id / request id / epoch, by kind
 *     +20 u32  payload length (for a spilled record, the length of the message on the spill port)
 *     +24      payload
 *   A payload larger than capacity/4 is "spilled": posted on the ring's MessagePort before the record is
 *   published, and taken with receiveMessageOnPort by the consumer (REC_F_SPILLED).
 *
 * Ownership: the producer writes record bytes and R_TAIL, R_WRITTEN; the consumer reads them and writes
 * R_HEAD, R_READ. Payload bytes stay valid for the consumer until it publishes R_HEAD past them.
 */

export const MAX_DBS = 256;

// Global control words.
export const G_STOP = 0;            // main → workers: 1 = finish the current group and exit
export const G_SHARDS = 1;          // shard count (written once at creation)
export const G_GLOBAL_EPOCH = 2;    // main: the last epoch handed out
export const G_EPOCHS = 16;         // main: G_EPOCHS + db = the current epoch of db (published before barriers)
const GLOBAL_I32 = G_EPOCHS + MAX_DBS;

// Per-shard control words.
export const S_STATE = 0;
export const S_BARRIER_ACK = 1;
export const S_HALTED = 2;
export const S_XDOOR = 3;
export const SHARD_I32_STRIDE = 16;

export const enum WorkerState { STARTING = 0, RUNNING = 1, STOPPED = 2, FAILED = 3 }

// Per-shard counters (BigInt64 words).
export const C_COMMITTED_OFFSET = 0; // last stream offset whose effects are committed to LevelDB (-1 none)
export const C_OPS = 1;              // commands applied
export const C_BATCHES = 2;          // LevelDB batches committed
export const C_BARRIERS = 3;         // barrier records applied
export const C_READS = 4;            // read requests served
export const C_FAILED = 5;           // master commands that failed as they would on Redis (ignored)
export const C_BYTES = 6;            // stream bytes applied
export const C_SKIPPED = 7;          // records skipped on replay (already applied before a restart)
export const C_LAST_BATCH_US = 8;    // duration of the last batch write, µs
export const C_RECLAIMED = 9;        // old-epoch / deleted-collection records reclaimed
export const C_XCHG_DEST = 10;       // cross-shard exchanges executed here as the destination
export const C_XCHG_SRC = 11;        // exports sent to another shard's exchange
export const C_XWAITS = 12;          // exchanges whose exports had not all arrived (the applier parked)
export const C_XWAIT_US = 13;        // total µs parked waiting for exports
export const C_SKIPPED_ERRORS = 14;  // commands skipped by --skip-errors
export const C_XWAIT_HIST = 16;      // XWAIT_BUCKETS words: histogram of exchange waits (see xwaitBucket)
export const XWAIT_BUCKETS = 16;
export const SHARD_I64_STRIDE = 32;

/** Histogram bucket of a wait of `us` µs: bucket b holds waits < 16·2^b µs (the last: any longer). */
export function xwaitBucket(us: number): number {
  let b = 0;
  while (b < XWAIT_BUCKETS - 1 && us >= 16 * 2 ** b) b++;
  return b;
}
/** Upper limit (exclusive, µs) of bucket b; Infinity for the last. */
export function xwaitBucketLimitUs(b: number): number {
  return b >= XWAIT_BUCKETS - 1 ? Infinity : 16 * 2 ** b;
}

// Ring header words (Int32 index; 16 words = 64 bytes apart).
export const R_HEAD = 0;
export const R_TAIL = 16;
export const R_CONSUMER_SLEEP = 32;  // 1 while the consumer is parked (or about to park) waiting for data
export const R_PRODUCER_WAIT = 48;   // 1 while the producer waits for space
export const R_WRITTEN = 64;         // records published (producer)
export const R_READ = 80;            // records consumed (consumer)
export const RING_HEADER_BYTES = 384;

export const RECORD_HEADER_BYTES = 24;
export const RECORD_ALIGN = 8;
export const WRAP_MARKER = 0xffffffff;
export const REC_F_SPILLED = 1;
export const REC_F_ERROR = 2;        // reply: payload is an error message
export const REC_F_FIRST = 4;        // RDB_ENTRY: the key's first record (src/rdb/load-records.ts)
export const REC_F_LAST = 8;         // RDB_ENTRY: the key's last record
export const REC_F_OLD_VIEW = 16;    // READ sent during a full sync: answer from the data before it

export const enum RecordKind {
  WRITE = 1,      // payload: one RESP command from the stream; db = stream db; offset = its last byte
  TXN = 2,        // payload: this shard's commands of one MULTI/EXEC (RESP, may contain SELECT); offset = EXEC's last byte
  BARRIER = 3,    // payload: the FLUSHALL/FLUSHDB command; aux = barrier id = new epoch; db = target db
  READ = 4,       // payload: RESP argv of a client read; aux = request id; db = client's db
  BEACON = 5,     // no payload (or a replid): "everything up to offset is done for you too"
  SYNC_BEGIN = 6, // full sync starts: aux = epoch of the fresh view it loads into (old view kept)
  RDB_ENTRY = 7,  // payload: RESP [key, expireMs, parts…]; aux = RDB type; flags REC_F_FIRST/LAST;
                  // db = db (src/rdb/load-records.ts)
  SYNC_END = 8,   // full sync done: payload = replid; offset = the FULLRESYNC offset; the loaded view
                  // becomes the live one, the old one stays readable for REC_F_OLD_VIEW reads
  REPLY = 9,      // reply ring: aux = request id; payload = msgpack of the reply value
  SYNC_COMMIT = 10, // every shard passed SYNC_END: the old view is garbage (no old-view read follows)
  SYNC_ABORT = 11,  // the load was cut short: back to the old view, the partial load is garbage
}

export function shardI32(shard: number, word: number): number {
  return GLOBAL_I32 + shard * SHARD_I32_STRIDE + word;
}
export function shardI64(shard: number, word: number): number {
  return shard * SHARD_I64_STRIDE + word;
}

/** Everything a worker needs to attach to shared memory (structured-cloneable). */
export interface SharedHandles {
  control: SharedArrayBuffer;
  counters: SharedArrayBuffer;
  requestRings: SharedArrayBuffer[];
  replyRings: SharedArrayBuffer[];
}

export class SharedState {
  readonly i32: Int32Array;
  readonly i64: BigInt64Array;
  private constructor(readonly handles: SharedHandles, readonly shards: number) {
    this.i32 = new Int32Array(handles.control);
    this.i64 = new BigInt64Array(handles.counters);
  }

  static create(shards: number, ringBytes: number, replyRingBytes = Math.max(1 << 16, ringBytes >> 2)): SharedState {
    const control = new SharedArrayBuffer((GLOBAL_I32 + shards * SHARD_I32_STRIDE) * 4);
    const counters = new SharedArrayBuffer(shards * SHARD_I64_STRIDE * 8);
    const requestRings: SharedArrayBuffer[] = [];
    const replyRings: SharedArrayBuffer[] = [];
    for (let s = 0; s < shards; s++) {
      requestRings.push(new SharedArrayBuffer(RING_HEADER_BYTES + ringBytes));
      replyRings.push(new SharedArrayBuffer(RING_HEADER_BYTES + replyRingBytes));
    }
    const st = new SharedState({ control, counters, requestRings, replyRings }, shards);
    st.i32[G_SHARDS] = shards;
    for (let s = 0; s < shards; s++) st.i64[shardI64(s, C_COMMITTED_OFFSET)] = -1n;
    return st;
  }

  static attach(handles: SharedHandles): SharedState {
    return new SharedState(handles, handles.requestRings.length);
  }

  // ── counters: written by the shard's worker, read by anyone ──
  counter(shard: number, word: number): number {
    // Reader: main thread. A stale value is merely old (counters only grow).
    return Number(Atomics.load(this.i64, shardI64(shard, word)));
  }
  setCounter(shard: number, word: number, v: number): void {
    // Writer: the shard's worker, after its batch committed. No one waits on counters.
    Atomics.store(this.i64, shardI64(shard, word), BigInt(v));
  }
  addCounter(shard: number, word: number, v: number): void {
    // Writer: the shard's worker only (single writer, so add is uncontended).
    Atomics.add(this.i64, shardI64(shard, word), BigInt(v));
  }

  // ── per-shard control words ──
  shardWord(shard: number, word: number): number {
    return Atomics.load(this.i32, shardI32(shard, word));
  }
  setShardWord(shard: number, word: number, v: number): void {
    // Writer: the shard's worker. Wakes a main-thread Atomics.waitAsync on that word (barrier acks).
    Atomics.store(this.i32, shardI32(shard, word), v);
    Atomics.notify(this.i32, shardI32(shard, word));
  }

  // ── epochs: main publishes, workers read (the barrier record carries the same value) ──
  publishEpoch(db: number, epoch: number): void {
    // Writer: main, before it puts the barrier record in the rings. Workers do not wait on it.
    Atomics.store(this.i32, G_EPOCHS + db, epoch);
  }
  epoch(db: number): number {
    return Atomics.load(this.i32, G_EPOCHS + db);
  }
  nextEpoch(): number {
    // Main only: hand out a fresh epoch id (also the barrier id).
    return Atomics.add(this.i32, G_GLOBAL_EPOCH, 1) + 1;
  }
  setGlobalEpoch(e: number): void {
    Atomics.store(this.i32, G_GLOBAL_EPOCH, e);
  }

  // ── exchange doorbells ──
  ringExchangeDoor(shard: number): void {
    // Writer: any applier, after posting to `shard`'s exchange inbox. Waiter: that shard's applier,
    // parked in Atomics.wait while it waits for exports. A stale read there only costs one more
    // timed park (20 ms), never a lost message: the applier drains its port before every park.
    Atomics.add(this.i32, shardI32(shard, S_XDOOR), 1);
    Atomics.notify(this.i32, shardI32(shard, S_XDOOR));
  }
  exchangeDoor(shard: number): number {
    return Atomics.load(this.i32, shardI32(shard, S_XDOOR));
  }
  /** Applier only: park until the doorbell moves past `seen` or `ms` pass. */
  waitExchangeDoor(shard: number, seen: number, ms: number): void {
    Atomics.wait(this.i32, shardI32(shard, S_XDOOR), seen, ms);
  }

  requestStop(): void {
    // Main: ask every worker to exit after its current group. Workers poll G_STOP between groups and
    // are woken from their ring park by the per-ring doorbell (see Ring.wakeConsumer).
    Atomics.store(this.i32, G_STOP, 1);
  }
  stopRequested(): boolean {
    return Atomics.load(this.i32, G_STOP) === 1;
  }
}
