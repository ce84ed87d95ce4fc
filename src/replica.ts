/**
 * Replica: the embedding API and the orchestration of one replica process.
 *
 *   MasterLink ──streamData──▶ StreamPump ──▶ RelayLog + Router ──▶ rings ──▶ ApplierPool (workers)
 *       ▲ ackOffset() = low-water mark of committed offsets                │
 *   ReadServer ──reads──▶ ShardReads ──▶ the same rings ──▶ reply rings ◀─┘
 *
 * Start-up: open the data directory (manifest), start the appliers (each reports its committed offset,
 * replid and epochs), replay the relay log from the lowest committed offset (each shard skips what it
 * already committed), then PSYNC from the end of what we hold.
 */
import { EventEmitter } from 'node:events';
import os from 'node:os';
import pino, { type Logger } from 'pino';
import { ParaError } from './errors.js';
import { SharedState, RecordKind, C_COMMITTED_OFFSET, S_BARRIER_ACK } from './shm/layout.js';
import { rdbTypeInfo } from './rdb/types.js';
import { Router } from './router/router.js';
import { shardOfKey } from './router/slot.js';
import { FullSync } from './engine/full-sync.js';
import { ApplierPool, type ShardReady } from './engine/appliers.js';
import { decideLoad } from './engine/load-recovery.js';
import { ShardReads } from './engine/reads.js';
import { StreamPump } from './engine/pump.js';
import { openDataDir, type OpenedDir } from './engine/manifest.js';
import { buildInfo, type HaltInfo } from './engine/info.js';
import { lowWaterMark } from './engine/offsets.js';
import { RelayLog, relayDirOf } from './relay/relay-log.js';
import { MasterLink, type LinkHandler, type ReplState } from './replication/link.js';
import { ReadServer } from './server/read-server.js';
import type { ReadBackend } from './server/backend.js';
import { validateOptions, type ReplicaOptions } from './cli/options.js';
import { VERSION } from './version.js';

export interface ReplicaStartOptions extends Partial<ReplicaOptions> { logger?: Logger }

const EMPTY = Buffer.alloc(0);
const TICK_MS = 100;

export class Replica extends EventEmitter {
  readonly options: ReplicaOptions;
  readonly log: Logger;
  private shared!: SharedState;
  private pool!: ApplierPool;
  private router!: Router;
  private relay!: RelayLog;
  private pump!: StreamPump;
  private reads!: ShardReads;
  private link!: MasterLink;
  private server!: ReadServer;
  private data!: OpenedDir;
  private timer: NodeJS.Timeout | null = null;
  private tickCount = 0;
  private lastAckSent = -1;
  /** The full sync (engine/full-sync.ts): while not idle, acks wait and reads see the old data. */
  private fullSync!: FullSync;
  private get syncing(): boolean { return this.fullSync.phase !== 'idle'; }
  /** A shard failed to load the last snapshot: the next connection must ask for a full sync. */
  private needFullResync = false;
  halt: HaltInfo | null = null;
  readonly startedAt = Date.now();
  private replid: string | null = null;
  private barrierStarted = new Map<number, number>();
  barrierLatencyMs: number[] = [];
  port = 0;

  private constructor(options: ReplicaOptions, log: Logger) {
    super();
    this.options = options;
    this.log = log;
  }

  /** Validates the options, opens the data directory, starts the appliers, the read server and the link. */
  static async start(opts: ReplicaStartOptions = {}): Promise<Replica> {
    const { logger, ...rest } = opts;
    const options = validateOptions(rest);
    const log = logger ?? pino({ level: options.logLevel });
    const r = new Replica(options, log);
    await r.boot(rest.workers);
    return r;
  }

  private async boot(explicitWorkers: number | undefined): Promise<void> {
    const o = this.options;
    this.data = await openDataDir(o.dir, explicitWorkers, o.workers ?? os.availableParallelism(), VERSION);
    const S = this.data.manifest.shards;
    this.shared = SharedState.create(S, o.ringBytes);
    this.pool = new ApplierPool(this.shared, this.data.shardDirs, this.log, {
      halted: (shard, offset, error) => this.onHalt({ source: `shard ${shard}`, offset, ...error }),
      skipped: (shard, offset, error) => this.log.warn({ shard, offset, err: error }, 'command skipped (--skip-errors)'),
      resumed: (shard) => {
        this.log.info({ shard }, 'shard back on its data from before the failed full sync');
        if (this.halt?.source === `shard ${shard}`) this.halt = null;
      },
    }, { skipErrors: o.skipErrors });
    const states = await this.pool.ready;
    let epoch = 0;
    for (const st of states) for (const e of st.epochs) epoch = Math.max(epoch, e);
    this.shared.setGlobalEpoch(epoch);
    this.router = new Router(this.shared, this.pool.producers, {
      barrier: (id) => this.barrierStarted.set(id, performance.now()),
      halt: (err) => this.onHalt({ source: 'router', ...err.toJSON() } as HaltInfo),
      skipped: (err) => this.log.warn({ err: err.toJSON() }, 'command skipped (--skip-errors)'),
    });
    this.router.skipErrors = o.skipErrors;
    this.router.appliable = new Set(states[0].writes);
    this.relay = await RelayLog.open(relayDirOf(this.data.dir), { logger: this.log, segmentBytes: o.relaySegmentBytes });
    this.pump = new StreamPump(this.relay, this.router, this.log, o.relayBufferBytes);
    this.fullSync = new FullSync(this.shared, this.router, this.log,
      { pause: () => this.link.pauseRdb(), resume: () => this.link.resumeRdb() }, o.progressBar);
    this.reads = new ShardReads(this.router, () => this.pool.replyConsumers, () => this.fullSync.oldView);

    const resume = await this.resumePoint(this.recoverLoad(states));
    this.log.info({ dir: this.data.dir, shards: S, created: this.data.created, resume }, 'data directory open');

    this.server = new ReadServer(this.backend(), { port: o.port, bind: o.bind, logger: this.log });
    this.port = (await this.server.listen()).port;
    this.log.info({ port: this.port, bind: o.bind }, 'read server listening');

    this.link = new MasterLink({
      host: o.master.host, port: o.master.port, user: o.masteruser ?? o.master.user,
      password: o.masterauth ?? o.master.password, listeningPort: this.port, announceIp: o.announceIp,
      replTimeoutMs: o.replTimeout * 1000, logger: this.log,
    }, this.linkHandler());
    this.link.start(resume);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  /**
   * A full sync a crash left pending on some shard: every shard goes forward (SYNC_COMMIT) or back
   * (SYNC_ABORT) together (engine/load-recovery.ts). These are the first records in every ring, so
   * no read and no replayed command sees a shard before the decision. Returns the shard positions
   * after it.
   */
  private recoverLoad(states: ShardReady[]): Array<{ offset: number; replid: string | null }> {
    const d = decideLoad(states);
    if (d.action === 'none') return d.after;
    if (d.action === 'commit') this.router.broadcast(RecordKind.SYNC_COMMIT, 0, -1, 0);
    else this.router.broadcast(RecordKind.SYNC_ABORT, 0, -1, this.shared.nextEpoch());
    this.log.warn({ phases: d.phases, action: d.action }, d.action === 'commit'
      ? 'a full sync had ended on every shard but was not committed (crash): committing it on all'
      : 'a full sync was cut short by a crash: every shard goes back to the data from before it');
    return d.after;
  }

  /** Replays the relay log (if it continues the shards' history) and returns what to PSYNC with. */
  private async resumePoint(states: { offset: number; replid: string | null }[]): Promise<ReplState> {
    const replid = states[0].replid;
    // No load is pending here: recoverLoad settled it, and gave the positions after its decision.
    const consistent = replid !== null && states.every((s) => s.replid === replid && s.offset >= 0);
    if (!consistent) return { replid: null, offset: -1 };
    this.replid = replid;
    const min = Math.min(...states.map((s) => s.offset));
    const max = Math.max(...states.map((s) => s.offset));
    const relay = this.relay;
    if (relay.replid === replid && relay.startOffset <= min && relay.endOffset >= min) {
      const res = await relay.readFrom(min);
      if (res) {
        this.router.resetAt(res.from.offset, res.from.db);
        for (let s = 0; s < states.length; s++) this.router.lastRouted[s] = states[s].offset;
        this.log.info({ from: res.from.offset, to: relay.endOffset, shardsMin: min }, 'replaying the relay log');
        await this.pump.replayFromRelay();
        await this.router.drain(true);
        this.pump.resetAt(this.router.offset, this.router.db);
        if (this.router.offset >= max) return { replid, offset: this.router.offset };
      }
    }
    this.log.warn({ min, max, relayStart: relay.startOffset, relayEnd: relay.endOffset },
      'the relay log does not cover every shard position: full resync');
    this.replid = null;
    return { replid: null, offset: -1 };
  }

  // ── the link ─────────────────────────────────────────────────────────────────────────────────────
  private linkHandler(): LinkHandler {
    return {
      ackOffset: () => this.ackOffset(),
      fullSyncStart: (replid, offset, transfer, totalBytes) => {
        this.log.info({ replid, offset, transfer, totalBytes }, 'full sync: loading the snapshot');
        this.replid = replid;
        this.needFullResync = false;
        this.fullSync.begin(offset, totalBytes);
        this.pump.resetAt(offset, 0);
        void this.relay.reset(replid, offset, 0);
      },
      rdb: this.fullSync.handler((key, db, type) => this.log.warn({ key, db, type: rdbTypeInfo(type)?.name ?? type },
        'snapshot key skipped (--skip-errors): this version cannot load its type')),
      rdbOptions: { skipUnloadable: this.options.skipErrors },
      fullSyncEnd: () => {
        this.fullSync.end(this.replid ?? '');
        this.log.info({ offset: this.router.offset }, 'full sync: snapshot received, waiting for the appliers');
      },
      continueSync: (replid, fromOffset) => {
        this.log.info({ replid, fromOffset }, 'partial resync: continuing');
        if (replid !== this.replid) {
          this.replid = replid;
          this.router.broadcast(RecordKind.BEACON, this.router.db, this.router.safeOffset, 0, Buffer.from(replid, 'latin1'));
        }
      },
      streamData: (buf, _start, end) => this.pump.ingest(buf, end),
      linkDown: (reason) => {
        this.log.warn({ reason }, 'master link down');
        // Resume from what the relay log holds: the next PSYNC asks for the byte after it. A snapshot
        // cut short cannot be resumed: the shards go back to their data from before it, and the next
        // attempt is a new full sync.
        if (this.fullSync.phase === 'loading') {
          this.fullSync.abort(reason);
          this.link.setResume({ replid: null, offset: -1 });
        } else if (this.needFullResync) {
          this.link.setResume({ replid: null, offset: -1 });
        } else this.link.setResume({ replid: this.replid, offset: this.pump.ingested });
      },
    };
  }

  /**
   * The low-water mark (invariant 4): every command up to this offset is applied and committed by every
   * shard. A shard that has committed everything routed to it does not hold the mark back.
   */
  ackOffset(): number {
    if (this.syncing) return 0;
    return lowWaterMark(this.shared, this.router);
  }

  private tick(): void {
    this.tickCount++;
    if (this.syncing && this.fullSync.tick(this.link.status().syncReadBytes)) {
      this.log.info({ offset: this.router.offset }, 'full sync: snapshot applied by every shard');
    }
    for (const [id, t0] of this.barrierStarted) {
      let done = true;
      for (let s = 0; s < this.router.shards; s++) if (this.shared.shardWord(s, S_BARRIER_ACK) < id) { done = false; break; }
      if (done) {
        this.barrierStarted.delete(id);
        this.barrierLatencyMs.push(performance.now() - t0);
        if (this.barrierLatencyMs.length > 1000) this.barrierLatencyMs.splice(0, 500);
      }
    }
    const ack = this.ackOffset();
    if (ack !== this.lastAckSent && !this.syncing) {
      this.lastAckSent = ack;
      this.link.sendAck();
      this.emit('applied', ack);
    }
    if (this.tickCount % 10 === 0) this.sendBeacons();
    if (this.tickCount % 100 === 0) this.logProgress();
    if (this.tickCount % 50 === 0) void this.truncateRelay();
  }

  private lastProgress = { applied: -1, barriers: -1 };
  /** A state-change log line every 10 s while data flows: offsets, barrier count and latency. */
  private logProgress(): void {
    const applied = this.ackOffset();
    const barriers = this.router.barriers;
    if (applied === this.lastProgress.applied && barriers === this.lastProgress.barriers) return;
    const lat = [...this.barrierLatencyMs].sort((a, b) => a - b);
    this.log.info({ applied, received: this.pump.ingested, backlogBytes: this.pump.backlogBytes,
      commands: this.router.commandsRouted, barriers, barriersSinceLast: barriers - Math.max(0, this.lastProgress.barriers),
      barrierP99Ms: lat.length ? Number(lat[Math.floor(lat.length * 0.99)].toFixed(2)) : 0 }, 'replication progress');
    this.lastProgress = { applied, barriers };
  }

  /** Lets idle shards record progress so the relay log can be trimmed and restarts replay little. */
  private sendBeacons(): void {
    if (this.syncing || this.router.isHalted || this.router.inTransaction) return;
    const safe = this.router.safeOffset;
    for (let s = 0; s < this.router.shards; s++) {
      if (this.router.lastRouted[s] < safe) this.router.emit(s, RecordKind.BEACON, this.router.db, safe, 0, EMPTY, 0, 0);
    }
  }

  private async truncateRelay(): Promise<void> {
    let min = Infinity;
    for (let s = 0; s < this.router.shards; s++) min = Math.min(min, this.shared.counter(s, C_COMMITTED_OFFSET));
    if (Number.isFinite(min) && min > 0) await this.relay.truncateBefore(min).catch(() => undefined);
  }

  private onHalt(h: HaltInfo): void {
    if (this.syncing && h.source.startsWith('shard ')) {
      // A shard could not load the snapshot (e.g. a corrupt ziplist). Clients keep reading the data
      // from before the sync; ask the master for a new one: the halted shard resumes at its start.
      this.fullSync.fail(`${h.code ?? 'PARAREPLICA_APPLY_FAILED'}: ${h.message ?? ''}`);
      this.needFullResync = true;
      this.link.restart('a shard failed to load the snapshot; asking the master for a new full sync');
    }
    if (!this.halt) this.halt = h;
    this.log.error(h, 'applying stopped: the replica keeps serving the data applied so far');
    this.emit('halted', h);
  }

  // ── reads ────────────────────────────────────────────────────────────────────────────────────────
  private backend(): ReadBackend {
    return {
      shardCount: this.data.manifest.shards,
      shardOf: (key) => shardOfKey(key, this.data.manifest.shards),
      read: (shard, db, argv) => this.reads.read(shard, db, argv),
      info: () => buildInfo(this),
      role: () => {
        const st = this.link.status();
        const state = this.syncing && st.state === 'connected' ? 'sync' : st.state;
        return ['slave', this.options.master.host, this.options.master.port, state, st.linkUp && !this.syncing ? this.ackOffset() : -1];
      },
      // Clients read the data from before a full sync while it loads (never -LOADING).
      loading: () => false,
      syncing: () => this.syncing,
    };
  }

  /** Exposed for INFO and tests. */
  get internals() {
    return { shared: this.shared, router: this.router, pump: this.pump, link: this.link, relay: this.relay,
      pool: this.pool, reads: this.reads, server: this.server, data: this.data, syncing: this.syncing, replid: this.replid, fullSync: this.fullSync };
  }

  /** Resolves when the applied low-water mark reaches `offset` (or rejects after timeoutMs). */
  waitForOffset(offset: number, timeoutMs = 30000): Promise<void> {
    if (this.ackOffset() >= offset && !this.syncing) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => { this.off('applied', on); reject(new ParaError('PARAREPLICA_TIMEOUT', `offset ${offset} not applied within ${timeoutMs} ms (at ${this.ackOffset()})`)); }, timeoutMs);
      const on = (o: number): void => { if (o >= offset && !this.syncing) { clearTimeout(t); this.off('applied', on); resolve(); } };
      this.on('applied', on);
    });
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.link?.stop();
    this.pump?.stop();
    await this.server?.close();
    await this.reads?.stop();
    await this.pool?.stop();
    await this.relay?.close();
    this.log.info('replica stopped');
  }
}
