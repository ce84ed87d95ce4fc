/**
 * Full-sync views of a shard's Keyspace (keyspace-core.ts holds the instance; this file the rules).
 *
 * A full sync loads into a fresh view (every home at epoch L, no keys) while `state.prev` keeps the
 * view before it and `state.prevApplied` the offset and replid before it, both durable in the state
 * record. Reads flagged REC_F_OLD_VIEW (sent by the main thread until EVERY shard ended) run against
 * the old view (withOld). Two phases, so that shards never disagree after a crash:
 *
 *   SYNC_BEGIN   begin    loading: the fresh view is live for writes, `prev` held
 *   SYNC_END     end      ended: the load is complete here, `prev` still held (durably)
 *   SYNC_COMMIT  commit   every shard ended: `prev` becomes garbage
 *   SYNC_ABORT   abort    loading or ended: back to `prev` and `prevApplied`; the load is garbage
 *
 * After a crash the main thread looks at every shard's phase and sends all of them SYNC_COMMIT or
 * SYNC_ABORT (src/engine/load-recovery.ts). Until then the old view stays readable and nothing of it
 * is reclaimed (`held`).
 */
import { ParaError } from '../src/errors.js';
import { type DbView, type ShardState, viewOf } from './layout.js';

/** What the views need of their Keyspace. */
export interface ViewHost {
  readonly state: ShardState;
  /** Every home of `v` that holds keys: its epoch's records become garbage (next commit). */
  garbageOfView(v: DbView): void;
  /** Forget uncommitted member writes of the homes at `epoch` (a partial load's). */
  dropOverlayAt(epoch: number): void;
  /** The state record must be written with the next commit. */
  markStateDirty(): void;
}

/** Make `v` the live view of `state` (its arrays are taken, not copied). */
export function setView(state: ShardState, v: DbView): void {
  Object.assign(state, { homes: v.homes, epochs: v.epochs, baseEpoch: v.baseEpoch, keys: v.keys, expires: v.expires });
}

export class SyncViews {
  /** The old view while its data must stay readable (load in progress, or ended but not committed). */
  held: DbView | null = null;

  constructor(private readonly host: ViewHost) { this.resync(); }

  /** Re-derive `held` from the state (after an open or a discarded group). */
  resync(): void {
    const st = this.host.state;
    this.held = st.loading || st.loadEnded ? st.prev ?? null : null;
  }

  /** SYNC_BEGIN: start loading a snapshot into a fresh view at epoch `epoch`. */
  begin(epoch: number): void {
    const st = this.host.state;
    // A second SYNC_BEGIN: the first load was cut short, or ended here but was never committed (the
    // main thread commits only once every shard ended): either way, it is dropped.
    if (st.loading || st.loadEnded) this.abort();
    const old = viewOf(st);
    if (!(epoch > old.baseEpoch) || old.epochs.some((e) => e >= epoch)) {
      throw new ParaError('PARAREPLICA_APPLY_FAILED',
        `full sync epoch ${epoch} is not above the current epochs; the epoch counter is inconsistent: resync into a fresh data directory`, { epoch });
    }
    st.prev = old;
    st.prevApplied = { offset: st.offset, replid: st.replid };
    this.held = old;
    setView(st, { homes: [], epochs: [], baseEpoch: epoch, keys: [], expires: [] });
    st.loading = true;
    this.host.markStateDirty();
  }

  /** SYNC_END: the load is complete on this shard; the old view stays until commit or abort. */
  end(): void {
    const st = this.host.state;
    if (!st.loading || !st.prev) return;
    st.loading = false;
    st.loadEnded = true;
    this.host.markStateDirty();
  }

  /** SYNC_COMMIT: every shard ended the load; no read of the old view can come any more. */
  commit(): void {
    const st = this.host.state;
    this.held = null;
    if (!st.loadEnded || !st.prev) return;
    this.host.garbageOfView(st.prev);
    st.prev = null;
    st.prevApplied = null;
    st.loadEnded = false;
    this.host.markStateDirty();
  }

  /** SYNC_ABORT (or the main thread's decision after a crash): back to the view before the load. */
  abort(): void {
    const st = this.host.state;
    const old = st.prev;
    if (!(st.loading || st.loadEnded) || !old) return;
    const loaded = viewOf(st);
    this.host.dropOverlayAt(loaded.baseEpoch);
    this.host.garbageOfView(loaded);   // the load, and any stream applied on top of an ended one
    setView(st, old);
    if (st.prevApplied) { st.offset = st.prevApplied.offset; st.replid = st.prevApplied.replid; }
    st.prev = null;
    st.prevApplied = null;
    st.loading = false;
    st.loadEnded = false;
    this.held = null;
    this.host.markStateDirty();
  }

  /** Runs `fn` against the view before the current full sync (the live view if there is none). */
  async withOld<T>(fn: () => T | Promise<T>): Promise<T> {
    const old = this.held;
    if (old === null) return fn();
    const st = this.host.state;
    const live = viewOf(st);
    setView(st, old);
    try {
      return await fn();
    } finally {
      setView(st, live);
    }
  }
}
