/**
 * The relay log's ordered operation queue. One writer serves it: consecutive chunks are coalesced into
 * a single write of at most `maxWriteBytes` (and at most MAX_IOVECS buffers), so only one write is ever
 * in flight; control operations (rotate, reset, close) run in queue order between writes.
 *
 * After a failed operation every queued and future chunk/rotate is rejected with the same error; a
 * reset clears the failure (it rewrites the log from scratch) and close still closes the file.
 */
import { ParaError } from '../errors.js';

export interface QueuePos { offset: number; db: number }

export type QueueItem =
  | { kind: 'chunk'; buf: Buffer }
  | { kind: 'rotate'; pos: QueuePos }
  | { kind: 'reset'; replid: string; pos: QueuePos }
  | { kind: 'close' };

export interface QueueHandlers {
  writeChunks(bufs: Buffer[], bytes: number): Promise<void>;
  rotate(pos: QueuePos): Promise<void>;
  reset(replid: string, pos: QueuePos): Promise<void>;
  close(): Promise<void>;
  onError(e: ParaError): void;
}

interface Entry {
  item: QueueItem;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** Keep writev's buffer count well under the kernel's IOV_MAX (1024 on Linux). */
const MAX_IOVECS = 512;

export class WriteQueue {
  private entries: Entry[] = [];
  private head = 0;
  private running = false;
  private failed: ParaError | null = null;
  private idleWaiters: Array<() => void> = [];
  private _pendingBytes = 0;

  constructor(private readonly maxWriteBytes: number, private readonly h: QueueHandlers) {}

  get pendingBytes(): number { return this._pendingBytes; }

  push(item: QueueItem): Promise<void> {
    if (this.failed && (item.kind === 'chunk' || item.kind === 'rotate')) return Promise.reject(this.failed);
    return new Promise<void>((resolve, reject) => {
      this.entries.push({ item, resolve, reject });
      if (item.kind === 'chunk') this._pendingBytes += item.buf.length;
      if (!this.running) void this.drain();
    });
  }

  /** Resolves when everything queued so far has been served. */
  idle(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.head < this.entries.length) {
      const first = this.entries[this.head];
      if (first.item.kind === 'chunk') {
        await this.writeRun();
      } else {
        this.head++;
        await this.control(first);
      }
      if (this.head >= 1024 && this.head * 2 >= this.entries.length) {
        this.entries = this.entries.slice(this.head);
        this.head = 0;
      }
    }
    this.entries = [];
    this.head = 0;
    this.running = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Write the run of consecutive chunks at the head of the queue, bounded in bytes and buffers. */
  private async writeRun(): Promise<void> {
    const start = this.head;
    const bufs: Buffer[] = [];
    let bytes = 0;
    let i = start;
    while (i < this.entries.length && bufs.length < MAX_IOVECS) {
      const it = this.entries[i].item;
      if (it.kind !== 'chunk') break;
      if (bufs.length > 0 && bytes + it.buf.length > this.maxWriteBytes) break;
      if (it.buf.length > 0) bufs.push(it.buf);
      bytes += it.buf.length;
      i++;
    }
    this.head = i;
    let err: ParaError | null = this.failed;
    if (!err && bytes > 0) {
      try {
        await this.h.writeChunks(bufs, bytes);
      } catch (e) {
        err = this.fail(e);
      }
    }
    this._pendingBytes -= bytes;
    for (let k = start; k < i; k++) {
      const e = this.entries[k];
      if (err) e.reject(err); else e.resolve();
    }
  }

  private async control(e: Entry): Promise<void> {
    const it = e.item;
    if (this.failed && it.kind === 'rotate') {
      e.reject(this.failed);
      return;
    }
    try {
      if (it.kind === 'rotate') await this.h.rotate(it.pos);
      else if (it.kind === 'reset') {
        await this.h.reset(it.replid, it.pos);
        this.failed = null;
      } else if (it.kind === 'close') await this.h.close();
      e.resolve();
    } catch (err) {
      e.reject(this.fail(err));
    }
  }

  private fail(e: unknown): ParaError {
    const pe = e instanceof ParaError ? e : new ParaError('PARAREPLICA_DATA_DIR',
      `relay log I/O failed (${e instanceof Error ? e.message : String(e)}); check free space and ` +
      'permissions of the data directory, then restart the replica', { cause: (e as { code?: string })?.code });
    if (!this.failed) this.h.onError(pe);
    this.failed = pe;
    return pe;
  }
}
