/**
 * Shard reads for the read server. A client read travels the SAME request ring as the writes of its
 * shard (a READ record), so it observes every write to that key that came before it in the log. The
 * applier answers on the shard's reply ring; one async drain loop per shard (Atomics.waitAsync, never a
 * blocking wait on the main thread) resolves the pending promises by request id.
 */
import { unpack } from 'msgpackr';
import { ParaError } from '../errors.js';
import { encodeCommand } from '../resp/encode.js';
import { RecordKind, REC_F_ERROR, REC_F_OLD_VIEW } from '../shm/layout.js';
import type { RingConsumer } from '../shm/ring.js';
import type { Router } from '../router/router.js';

interface PendingRead { resolve(v: unknown): void; reject(e: Error): void }

export class ShardReads {
  private nextId = 1;
  private readonly pending: Map<number, PendingRead>[];
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  /**
   * `oldView()`: true while a full sync loads (until every shard finished it): reads are flagged to
   * be answered from the data before the sync, so clients never see a half-loaded snapshot.
   */
  constructor(private readonly router: Router, private readonly replies: () => RingConsumer[],
    private readonly oldView: () => boolean = () => false) {
    this.pending = replies().map(() => new Map());
    for (let s = 0; s < this.pending.length; s++) this.loops.push(this.drainLoop(s));
  }

  /** Sends one read to shard `shard` and resolves with its reply value. */
  read(shard: number, db: number, argv: Buffer[]): Promise<unknown> {
    if (this.stopped) return Promise.reject(new ParaError('PARAREPLICA_SHUTDOWN', 'the replica is shutting down'));
    const id = this.nextId;
    this.nextId = this.nextId >= 0x7fffffff ? 1 : this.nextId + 1;
    const payload = encodeCommand(argv);
    return new Promise((resolve, reject) => {
      this.pending[shard].set(id, { resolve, reject });
      this.router.emit(shard, RecordKind.READ, db, -1, id, payload, 0, payload.length, this.oldView() ? REC_F_OLD_VIEW : 0);
      this.router.wakeShard(shard);
    });
  }

  private async drainLoop(shard: number): Promise<void> {
    while (!this.stopped) {
      const ring = this.replies()[shard];
      if (!(await ring.waitForData(this.pending[shard].size > 0 ? 20 : 200))) continue;
      while (ring.next()) {
        if (ring.kind !== RecordKind.REPLY) continue;
        const p = this.pending[shard].get(ring.aux);
        if (!p) continue;
        this.pending[shard].delete(ring.aux);
        try {
          // Decode from a copy: msgpack hands back binary values as views into its input, and the
          // read server encodes the reply later, after this ring space was released and reused.
          const v = unpack(Buffer.from(ring.payload()));
          if (ring.flags & REC_F_ERROR) p.resolve({ error: String(v) });
          else p.resolve(v);
        } catch (e) {
          p.reject(e as Error);
        }
      }
      ring.release();
    }
  }

  pendingCount(): number {
    return this.pending.reduce((n, m) => n + m.size, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const err = new ParaError('PARAREPLICA_SHUTDOWN', 'the replica is shutting down');
    for (const m of this.pending) { for (const p of m.values()) p.reject(err); m.clear(); }
    await Promise.allSettled(this.loops);
  }
}
