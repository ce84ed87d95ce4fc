/**
 * After a restart: what to do with a full sync that a crash left unfinished on some shards.
 *
 * Each shard loads a snapshot in two phases (workers/keyspace-core.ts, "full-sync views"):
 *
 *   none ──SYNC_BEGIN──▶ loading ──SYNC_END──▶ ended ──SYNC_COMMIT──▶ none (the new data)
 *                           │                    │
 *                           └──── SYNC_ABORT ────┴──────────────────▶ none (the data before)
 *
 * The main thread sends SYNC_COMMIT only once EVERY shard has durably ended, so after a crash:
 *   - a shard still `loading` means no shard committed: all go back (SYNC_ABORT; a shard already
 *     back, or never begun, is at an older epoch and ignores it);
 *   - every shard `ended`, or already committed (`none` at the load's epoch or later): all go
 *     forward (SYNC_COMMIT);
 *   - some shard `none` at an epoch before the load (it never durably began it, or it already went
 *     back on an earlier decision to abort): all go back.
 * The decision depends only on what the shards hold, and a decision half carried out (a crash while
 * it is being applied) leads to the same decision at the next start, so it needs no record of its own.
 */

export type LoadPhase = 'none' | 'loading' | 'ended';

/** What an applier reports about its shard when it starts (ApplierMessage 'ready'). */
export interface ShardLoadState {
  /** Applied offset and replid (for an ended load: the snapshot's and the stream's after it). */
  offset: number;
  replid: string | null;
  /** Epoch of the live view (a full sync's view is created at one epoch on every shard). */
  baseEpoch: number;
  load: LoadPhase;
  /** While loading or ended: the applied offset and replid from before the full sync. */
  before: { offset: number; replid: string | null } | null;
}

export interface LoadDecision {
  action: 'none' | 'commit' | 'abort';
  /** Each shard's offset and replid once the decision is carried out, with no load pending. */
  after: Array<{ offset: number; replid: string | null }>;
  /** Shards in each phase, for the log. */
  phases: LoadPhase[];
}

export function decideLoad(shards: readonly ShardLoadState[]): LoadDecision {
  const phases = shards.map((s) => s.load);
  const pending = shards.filter((s) => s.load !== 'none');
  const keep = shards.map((s) => ({ offset: s.offset, replid: s.replid }));
  if (pending.length === 0) return { action: 'none', after: keep, phases };
  const epoch = Math.max(...pending.map((s) => s.baseEpoch));
  const forward = pending.every((s) => s.load === 'ended' && s.baseEpoch === epoch) &&
    shards.every((s) => s.load !== 'none' || s.baseEpoch >= epoch);
  if (forward) return { action: 'commit', after: keep, phases };
  const after = shards.map((s) => (s.load !== 'none' && s.before !== null
    ? { offset: s.before.offset, replid: s.before.replid }
    : { offset: s.offset, replid: s.replid }));
  return { action: 'abort', after, phases };
}
