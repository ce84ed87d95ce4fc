/**
 * Single-producer / single-consumer byte ring over one SharedArrayBuffer. Layout, record format and
 * ownership rules: see ./layout.ts (the one home of shared-memory offsets).
 *
 * Wake-up protocol (no lost wake-ups):
 *   consumer: store SLEEP=1; re-check TAIL; if still empty Atomics.wait(SLEEP, 1, timeout); store SLEEP=0
 *   producer: publish TAIL; if load(SLEEP)==1 { store SLEEP=0; notify(SLEEP) }
 *   If the producer publishes between the consumer's SLEEP=1 and its wait, it sees SLEEP==1, resets it to
 *   0, and the consumer's wait(SLEEP, expected 1) returns 'not-equal' at once. The same handshake runs in
 *   the other direction on PRODUCER_WAIT when the ring is full.
 */
import { MessagePort, receiveMessageOnPort } from 'node:worker_threads';
import {
  R_HEAD, R_TAIL, R_CONSUMER_SLEEP, R_PRODUCER_WAIT, R_WRITTEN, R_READ, RING_HEADER_BYTES,
  RECORD_HEADER_BYTES, RECORD_ALIGN, WRAP_MARKER, REC_F_SPILLED,
} from './layout.js';

const pad = (n: number): number => (n + RECORD_ALIGN - 1) & ~(RECORD_ALIGN - 1);

class RingBase {
  protected readonly ctl: Int32Array;
  readonly data: Buffer;            // the data region (records), as a Buffer view over shared memory
  protected readonly view: DataView;
  readonly capacity: number;
  constructor(readonly sab: SharedArrayBuffer, protected readonly port?: MessagePort) {
    this.ctl = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
    this.capacity = sab.byteLength - RING_HEADER_BYTES;
    if (this.capacity < 4096 || (this.capacity & (this.capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity must be a power of two ≥ 4096, got ${this.capacity}`);
    }
    this.data = Buffer.from(sab, RING_HEADER_BYTES, this.capacity);
    this.view = new DataView(sab, RING_HEADER_BYTES, this.capacity);
  }
  /** Records published and not yet consumed (queue depth). Either side may read it; it may be stale by a few. */
  depth(): number {
    return Atomics.load(this.ctl, R_WRITTEN) - Atomics.load(this.ctl, R_READ);
  }
  usedBytes(): number {
    return (Atomics.load(this.ctl, R_TAIL) - Atomics.load(this.ctl, R_HEAD)) & (this.capacity - 1);
  }
  /** The largest payload written inline; bigger ones are spilled to the MessagePort. */
  get maxInlinePayload(): number {
    return (this.capacity >> 2) - RECORD_HEADER_BYTES;
  }
}

export class RingProducer extends RingBase {
  private tail: number;
  constructor(sab: SharedArrayBuffer, port?: MessagePort) {
    super(sab, port);
    this.tail = Atomics.load(this.ctl, R_TAIL);
  }

  /**
   * Copies one record into the ring and publishes it. Returns false (writing nothing) when the ring has
   * no room; the caller then waits with waitForSpace()/waitForSpaceSync() and retries.
   */
  tryWrite(kind: number, flags: number, db: number, offset: number, aux: number,
    src: Uint8Array | null, start = 0, end = src ? src.length : 0): boolean {
    let payloadLen = end - start;
    let spilled = false;
    if (payloadLen > this.maxInlinePayload) {
      if (!this.port) throw new RangeError(`record of ${payloadLen} bytes exceeds the ring and there is no spill port`);
      spilled = true;
    }
    const inlineLen = spilled ? 0 : payloadLen;
    const need = pad(RECORD_HEADER_BYTES + inlineLen);
    const cap = this.capacity;
    // Consumer publishes HEAD after it is done with the bytes; a stale (older) HEAD only under-reports room.
    const head = Atomics.load(this.ctl, R_HEAD);
    const used = (this.tail - head) & (cap - 1);
    const free = cap - used - RECORD_ALIGN;
    let pos = this.tail;
    const toEnd = cap - pos;
    if (need > toEnd) {
      if (toEnd + need > free) return false;
      this.view.setUint32(pos, WRAP_MARKER, true);
      pos = 0;
    } else if (need > free) {
      return false;
    }
    if (spilled) {
      // Post before publishing: the consumer takes it synchronously when it reaches the record.
      this.port!.postMessage(Buffer.from(src!.subarray(start, end)));
    }
    const v = this.view;
    v.setUint32(pos, RECORD_HEADER_BYTES + inlineLen, true);
    v.setUint8(pos + 4, kind);
    v.setUint8(pos + 5, flags | (spilled ? REC_F_SPILLED : 0));
    v.setUint16(pos + 6, db, true);
    v.setFloat64(pos + 8, offset, true);
    v.setUint32(pos + 16, aux >>> 0, true);
    v.setUint32(pos + 20, payloadLen, true);
    if (inlineLen > 0) this.data.set(src!.subarray(start, end), pos + RECORD_HEADER_BYTES);
    this.tail = (pos + need) & (cap - 1);
    // Publish: the consumer's Atomics.load(R_TAIL) orders after our plain writes above.
    Atomics.store(this.ctl, R_TAIL, this.tail);
    Atomics.add(this.ctl, R_WRITTEN, 1);
    return true;
  }

  /** Wakes the consumer if it is parked. Call after publishing one or more records. */
  wakeConsumer(): void {
    // Waiter: the consumer parked in waitForData(). If SLEEP is stale (already 0) the consumer is awake
    // and will see the new TAIL on its next check.
    if (Atomics.load(this.ctl, R_CONSUMER_SLEEP) === 1) {
      Atomics.store(this.ctl, R_CONSUMER_SLEEP, 0);
      Atomics.notify(this.ctl, R_CONSUMER_SLEEP);
    }
  }

  /** Main thread: resolves when the consumer has freed space (or after timeoutMs). Never blocks. */
  async waitForSpace(timeoutMs: number): Promise<void> {
    Atomics.store(this.ctl, R_PRODUCER_WAIT, 1);
    // Woken by the consumer's release() when it sees PRODUCER_WAIT==1. If it already reset the flag,
    // waitAsync returns 'not-equal' synchronously and we retry at once.
    const r = Atomics.waitAsync(this.ctl, R_PRODUCER_WAIT, 1, timeoutMs);
    if (r.async) await r.value;
  }

  /** Worker thread (reply ring): parks until space is freed or timeoutMs passes. */
  waitForSpaceSync(timeoutMs: number): void {
    Atomics.store(this.ctl, R_PRODUCER_WAIT, 1);
    // Woken by the main thread's release(); the main thread never waits on this worker, so no cycle.
    Atomics.wait(this.ctl, R_PRODUCER_WAIT, 1, timeoutMs);
  }
}

export class RingConsumer extends RingBase {
  private head: number;      // published position
  private cursor: number;    // read position (records read but not yet released)
  private readCount = 0;
  // The current record (valid after next() returned true, until release() passes it).
  kind = 0; flags = 0; db = 0; offset = 0; aux = 0; payloadLen = 0;
  /** Payload: data[payloadStart, payloadStart+payloadLen), or `spilled` when REC_F_SPILLED. */
  payloadStart = 0;
  spilled: Buffer | null = null;
  /** Spilled payloads taken from the port since the last release (rewind() must not lose them). */
  private groupSpills: Buffer[] = [];
  private replaySpills: Buffer[] = [];

  constructor(sab: SharedArrayBuffer, port?: MessagePort) {
    super(sab, port);
    this.head = Atomics.load(this.ctl, R_HEAD);
    this.cursor = this.head;
  }

  /** Go back to the first record not yet released: the records read since then are read again. */
  rewind(): void {
    this.cursor = this.head;
    this.readCount = 0;
    this.replaySpills = this.groupSpills;
    this.groupSpills = [];
  }

  /** True when a record is available beyond the read cursor. */
  hasData(): boolean {
    // Producer publishes TAIL after writing the record bytes; a stale TAIL only hides new records.
    return Atomics.load(this.ctl, R_TAIL) !== this.cursor;
  }

  /** Reads the next record into the fields above. Returns false when the ring is empty. */
  next(): boolean {
    if (!this.hasData()) return false;
    let pos = this.cursor;
    if (this.view.getUint32(pos, true) === WRAP_MARKER) pos = 0;
    const v = this.view;
    const len = v.getUint32(pos, true);
    this.kind = v.getUint8(pos + 4);
    this.flags = v.getUint8(pos + 5);
    this.db = v.getUint16(pos + 6, true);
    this.offset = v.getFloat64(pos + 8, true);
    this.aux = v.getUint32(pos + 16, true);
    this.payloadLen = v.getUint32(pos + 20, true);
    this.payloadStart = pos + RECORD_HEADER_BYTES;
    if (this.flags & REC_F_SPILLED) {
      if (this.replaySpills.length > 0) {
        this.spilled = this.replaySpills.shift()!;
      } else {
        const m = this.port ? receiveMessageOnPort(this.port) : undefined;
        if (!m) throw new Error('ring: spilled record without its message (spill port missing)');
        const b = m.message as Uint8Array;
        this.spilled = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      }
      this.groupSpills.push(this.spilled);
    } else {
      this.spilled = null;
    }
    this.cursor = (pos + pad(len)) & (this.capacity - 1);
    this.readCount++;
    return true;
  }

  /** The current record's payload as a Buffer (a view into shared memory unless spilled). */
  payload(): Buffer {
    return this.spilled ?? this.data.subarray(this.payloadStart, this.payloadStart + this.payloadLen);
  }

  /** Gives the bytes of every record read so far back to the producer. */
  release(): void {
    this.groupSpills = [];
    if (this.cursor === this.head && this.readCount === 0) return;
    this.head = this.cursor;
    // Publish HEAD: the producer may now overwrite the released bytes.
    Atomics.store(this.ctl, R_HEAD, this.head);
    Atomics.add(this.ctl, R_READ, this.readCount);
    this.readCount = 0;
    // Waiter: a producer in waitForSpace*(). A stale 0 means it is not waiting (or will re-check HEAD).
    if (Atomics.load(this.ctl, R_PRODUCER_WAIT) === 1) {
      Atomics.store(this.ctl, R_PRODUCER_WAIT, 0);
      Atomics.notify(this.ctl, R_PRODUCER_WAIT);
    }
  }

  /** Worker thread: parks until data arrives or timeoutMs passes. Returns true if data is available. */
  waitForDataSync(timeoutMs: number): boolean {
    if (this.hasData()) return true;
    Atomics.store(this.ctl, R_CONSUMER_SLEEP, 1);
    if (this.hasData()) { Atomics.store(this.ctl, R_CONSUMER_SLEEP, 0); return true; }
    // Woken by the producer's wakeConsumer() (or RingProducer-independent stop: see wakeForStop).
    Atomics.wait(this.ctl, R_CONSUMER_SLEEP, 1, timeoutMs);
    Atomics.store(this.ctl, R_CONSUMER_SLEEP, 0);
    return this.hasData();
  }

  /** Main thread: resolves when data arrives or timeoutMs passes. Never blocks the event loop. */
  async waitForData(timeoutMs: number): Promise<boolean> {
    if (this.hasData()) return true;
    Atomics.store(this.ctl, R_CONSUMER_SLEEP, 1);
    if (this.hasData()) { Atomics.store(this.ctl, R_CONSUMER_SLEEP, 0); return true; }
    // Woken by the worker's wakeConsumer() after it publishes a reply.
    const r = Atomics.waitAsync(this.ctl, R_CONSUMER_SLEEP, 1, timeoutMs);
    if (r.async) await r.value;
    Atomics.store(this.ctl, R_CONSUMER_SLEEP, 0);
    return this.hasData();
  }
}

/** Wakes a consumer parked on `sab`'s ring regardless of data (used to deliver a stop request). */
export function wakeRingConsumer(sab: SharedArrayBuffer): void {
  const ctl = new Int32Array(sab, 0, RING_HEADER_BYTES / 4);
  // Waiter: the worker parked in waitForDataSync(); it re-checks G_STOP after waking.
  Atomics.store(ctl, R_CONSUMER_SLEEP, 0);
  Atomics.notify(ctl, R_CONSUMER_SLEEP);
}
