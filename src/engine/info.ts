/**
 * INFO sections the engine contributes (the read server adds Server, Clients and Keyspace):
 * `replication` in Redis 7.0's exact field order (spec 7.1) and `applier`, parareplica's own.
 */
import { C_COMMITTED_OFFSET, C_OPS, C_BATCHES, C_BARRIERS, C_READS, C_FAILED, C_SKIPPED, C_LAST_BATCH_US,
  C_BYTES, C_XCHG_DEST, C_XCHG_SRC, C_XWAITS, C_XWAIT_US, C_XWAIT_HIST, C_SKIPPED_ERRORS, XWAIT_BUCKETS,
  xwaitBucketLimitUs, type SharedState } from '../shm/layout.js';
import type { Replica } from '../replica.js';

export interface HaltInfo {
  source: string;
  offset: number;
  code?: string;
  message?: string;
  command?: string;
  [k: string]: unknown;
}

type Fields = Array<[string, string | number]>;

const ZERO_ID = '0'.repeat(40);

export function replicationSection(r: Replica): Fields {
  const { link, syncing, replid } = r.internals;
  const st = link.status();
  const applied = r.ackOffset();
  const f: Fields = [
    ['role', 'slave'],
    ['master_host', r.options.master.host],
    ['master_port', r.options.master.port],
    // Up only when fully synced and streaming: a snapshot still being applied counts as syncing.
    ['master_link_status', st.linkUp && !syncing ? 'up' : 'down'],
    ['master_last_io_seconds_ago', st.lastIoSecondsAgo],
    ['master_sync_in_progress', st.syncInProgress || syncing ? 1 : 0],
    ['slave_read_repl_offset', st.readOffset],
    ['slave_repl_offset', applied],
  ];
  if (st.syncInProgress) {
    const total = st.syncTotalBytes;
    const read = st.syncReadBytes;
    f.push(['master_sync_total_bytes', total], ['master_sync_read_bytes', read],
      ['master_sync_left_bytes', total - read],
      ['master_sync_perc', total > 0 ? ((read / total) * 100).toFixed(2) : total < 0 ? '-0.00' : '0.00'],
      ['master_sync_last_io_seconds_ago', st.lastIoSecondsAgo]);
  }
  if (!st.linkUp || syncing) f.push(['master_link_down_since_seconds', st.linkDownSinceSeconds]);
  f.push(['slave_priority', 100], ['slave_read_only', 1], ['replica_announced', 1], ['connected_slaves', 0],
    ['master_failover_state', 'no-failover'], ['master_replid', replid ?? st.replid ?? ZERO_ID],
    ['master_replid2', ZERO_ID], ['master_repl_offset', applied], ['second_repl_offset', -1],
    ['repl_backlog_active', 0], ['repl_backlog_size', 1048576], ['repl_backlog_first_byte_offset', 0],
    ['repl_backlog_histlen', 0]);
  // parareplica's own: the outcome of full syncs (engine/full-sync.ts).
  const fs = r.internals.fullSync;
  f.push(['master_full_syncs', fs.completed], ['master_full_syncs_aborted', fs.aborted],
    ['master_sync_keys', fs.keys], ['master_sync_skipped_keys', fs.skippedKeys],
    ['master_sync_last_seconds', (fs.progress.lastDurationMs / 1000).toFixed(3)],
    ['master_sync_last_error', oneLine(fs.lastError)]);
  return f;
}

/**
 * INFO persistence, as Redis 7.0 shows it for loading. parareplica loads a snapshot while serving
 * the data from before it (Redis's `repl-diskless-load swapdb`): that is `async_loading:1`, and
 * `loading` stays 0 because no command is refused with -LOADING.
 */
export function persistenceSection(r: Replica): Fields {
  const fs = r.internals.fullSync;
  const p = fs.progress;
  const active = fs.phase !== 'idle';
  const f: Fields = [['loading', 0], ['async_loading', active ? 1 : 0]];
  if (active) {
    const read = fs.phase === 'loading' ? r.internals.link.status().syncReadBytes : p.readBytes;
    f.push(['loading_start_time', Math.floor(p.startedMs / 1000)], ['loading_total_bytes', Math.max(0, p.totalBytes)],
      ['loading_loaded_bytes', read], ['loading_loaded_perc', p.perc().toFixed(2)],
      ['loading_eta_seconds', p.etaSeconds()], ['loading_keys', fs.keys]);
  }
  f.push(['rdb_changes_since_last_save', 0], ['rdb_bgsave_in_progress', 0], ['aof_enabled', 0]);
  return f;
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export function applierSection(r: Replica): Fields {
  const { shared, router, pump, pool, relay, reads } = r.internals;
  const h = r.halt;
  const f: Fields = [
    ['shards', router.shards],
    ['applier_halted', h ? 1 : 0],
  ];
  if (h) {
    f.push(['applier_halt_offset', h.offset], ['applier_halt_source', h.source],
      ['applier_halt_code', String(h.code ?? '')], ['applier_halt_command', oneLine(String(h.command ?? ''))],
      ['applier_halt_reason', oneLine(String(h.message ?? ''))]);
  }
  f.push(
    ['ingested_offset', pump.ingested], ['routed_offset', router.safeOffset], ['applied_offset', r.ackOffset()],
    ['routing_backlog_bytes', pump.backlogBytes], ['routing_from_relay', pump.readingRelay ? 1 : 0],
    ['routing_from_relay_entries', pump.fileModeEntries],
    ['relay_start_offset', relay.startOffset], ['relay_end_offset', relay.endOffset],
    ['commands_routed', router.commandsRouted], ['cross_shard_splits', router.crossShardSplits],
    ['transactions', router.transactions], ['barriers', router.barriers],
    ['barrier_p50_ms', percentile(r.barrierLatencyMs, 50).toFixed(2)],
    ['barrier_p99_ms', percentile(r.barrierLatencyMs, 99).toFixed(2)],
    ['pending_reads', reads.pendingCount()], ['applier_restarts', pool.restarts],
  );
  let ops = 0, failed = 0;
  for (let s = 0; s < router.shards; s++) { ops += shared.counter(s, C_OPS); failed += shared.counter(s, C_FAILED); }
  const x = exchangeStats(shared);
  f.push(['ops_applied', ops], ['ops_failed_ignored', failed],
    ['skip_errors', r.options.skipErrors ? 1 : 0], ['errors_skipped', x.skippedErrors + router.skippedCommands],
    ['cross_shard_commands', router.crossShardSplits + router.exchanges], ['exchanges', router.exchanges],
    ['exchanges_applied', x.applied], ['exchange_exports', x.exports], ['exchange_waits', x.waits],
    ['exchange_wait_avg_us', x.waits > 0 ? Math.round(x.waitUs / x.waits) : 0],
    ['exchange_wait_p99_us', x.p99Us === Infinity ? 'inf' : x.p99Us]);
  for (let s = 0; s < router.shards; s++) {
    const c = (w: number): number => shared.counter(s, w);
    f.push([`shard${s}`, `applied_offset=${c(C_COMMITTED_OFFSET)},queue_depth=${pool.producers[s].depth()},` +
      `ops=${c(C_OPS)},bytes=${c(C_BYTES)},batches=${c(C_BATCHES)},barriers=${c(C_BARRIERS)},reads=${c(C_READS)},` +
      `failed=${c(C_FAILED)},skipped=${c(C_SKIPPED)},last_batch_us=${c(C_LAST_BATCH_US)},` +
      `exchanges=${c(C_XCHG_DEST)},exports=${c(C_XCHG_SRC)},exchange_waits=${c(C_XWAITS)}`]);
  }
  return f;
}

export interface ExchangeStats {
  applied: number; exports: number; waits: number; waitUs: number;
  /** Upper bound of the histogram bucket holding the 99th percentile wait (µs); 0 with no waits. */
  p99Us: number;
  skippedErrors: number;
}

/** Exchange counters summed over the shards (shared memory), with the p99 wait from the histogram. */
export function exchangeStats(shared: SharedState): ExchangeStats {
  const out: ExchangeStats = { applied: 0, exports: 0, waits: 0, waitUs: 0, p99Us: 0, skippedErrors: 0 };
  const hist = new Array<number>(XWAIT_BUCKETS).fill(0);
  for (let s = 0; s < shared.shards; s++) {
    out.applied += shared.counter(s, C_XCHG_DEST);
    out.exports += shared.counter(s, C_XCHG_SRC);
    out.waits += shared.counter(s, C_XWAITS);
    out.waitUs += shared.counter(s, C_XWAIT_US);
    out.skippedErrors += shared.counter(s, C_SKIPPED_ERRORS);
    for (let b = 0; b < XWAIT_BUCKETS; b++) hist[b] += shared.counter(s, C_XWAIT_HIST + b);
  }
  const total = hist.reduce((a, b) => a + b, 0);
  if (total > 0) {
    let seen = 0;
    for (let b = 0; b < XWAIT_BUCKETS; b++) {
      seen += hist[b];
      if (seen >= total * 0.99) { out.p99Us = xwaitBucketLimitUs(b); break; }
    }
  }
  return out;
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

export function buildInfo(r: Replica): Array<[string, Fields]> {
  return [['Persistence', persistenceSection(r)], ['Replication', replicationSection(r)], ['Applier', applierSection(r)]];
}
