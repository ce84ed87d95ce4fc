/**
 * Runs and supervises the appliers: S long-lived piscina tasks (minThreads = maxThreads = S, piscina's
 * own Atomics signalling disabled because our rings do their own). Each task owns one shard directory.
 * If a task dies (a bug, an exception outside the apply path), it is started again: it reopens its
 * LevelDB, resumes from its committed offset, and re-reads unreleased ring records (skipping the ones
 * it already committed), so nothing is lost.
 */
import { MessageChannel, MessagePort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import { SharedState } from '../shm/layout.js';
import { RingProducer, RingConsumer, wakeRingConsumer } from '../shm/ring.js';
import type { ApplierMessage, ApplierTask } from '../../workers/applier.js';
import type { ShardLoadState } from './load-recovery.js';
import type { PeerPortMessage } from '../../workers/exchange.js';

export interface ShardReady extends ShardLoadState { epochs: number[]; writes: string[] }

export interface ApplierPoolEvents {
  halted(shard: number, offset: number, error: Record<string, unknown>): void;
  /** --skip-errors: a command was skipped instead of halting. */
  skipped?(shard: number, offset: number, error: Record<string, unknown>): void;
  /** A shard halted during a snapshot load went back to its data from before it (SYNC_ABORT). */
  resumed?(shard: number): void;
}

export interface ApplierPoolOptions {
  /** Skip commands that cannot be applied instead of halting (--skip-errors). */
  skipErrors?: boolean;
  /** Fault injection for schedule tests: appliers pause up to this many ms at random between records. */
  chaosDelayMs?: number;
  /** Records per group (default 4096). */
  maxGroup?: number;
}

const WORKER_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../workers/applier.js');

export class ApplierPool {
  readonly producers: RingProducer[] = [];
  readonly replyConsumers: RingConsumer[] = [];
  readonly ready: Promise<ShardReady[]>;
  private readonly pool: Piscina;
  private readonly running: Promise<void>[] = [];
  private stopping = false;
  restarts = 0;
  private readonly readyStates: (ShardReady | undefined)[];
  private readyCount = 0;
  private readyResolve!: (v: ShardReady[]) => void;
  private readyReject!: (e: Error) => void;
  /**
   * Exchange mesh: peerPorts[s][p] is shard s's end of the channel it shares with shard p, handed to
   * s's task at launch. statusPorts[s]: the main thread's end of s's status port (also used to give
   * a running applier its end of a channel to a restarted one).
   */
  private readonly peerPorts: Array<Array<MessagePort | null>>;
  private readonly statusPorts: Array<MessagePort | null>;

  constructor(private readonly shared: SharedState, private readonly shardDirs: string[],
    private readonly log: Logger, private readonly events: ApplierPoolEvents, private readonly options: ApplierPoolOptions = {}) {
    const S = shardDirs.length;

    this.readyStates = new Array(S);
    this.ready = new Promise((res, rej) => { this.readyResolve = res; this.readyReject = rej; });
    this.peerPorts = Array.from({ length: S }, () => new Array<MessagePort | null>(S).fill(null));
    this.statusPorts = new Array<MessagePort | null>(S).fill(null);
    for (let a = 0; a < S; a++) {
      for (let b = a + 1; b < S; b++) {
        const c = new MessageChannel();
        this.peerPorts[a][b] = c.port1;
        this.peerPorts[b][a] = c.port2;
      }
    }
    this.pool = new Piscina({
      filename: WORKER_FILE, minThreads: S, maxThreads: S, idleTimeout: Number.MAX_SAFE_INTEGER,
      concurrentTasksPerWorker: 1, atomics: 'disabled', maxQueue: S,
    });
    for (let s = 0; s < S; s++) this.running.push(this.launch(s));
  }

  private launch(shard: number, restart = false): Promise<void> {
    const req = new MessageChannel();
    const rep = new MessageChannel();
    const st = new MessageChannel();
    const h = this.shared.handles;
    this.producers[shard] = new RingProducer(h.requestRings[shard], req.port1);
    this.replyConsumers[shard] = new RingConsumer(h.replyRings[shard], rep.port2);
    st.port1.on('message', (m: ApplierMessage) => this.onStatus(m));
    st.port1.unref();
    const peers = this.peerPorts[shard];
    if (restart) {
      // A restart: fresh channels to every other applier, whose ends go to them on their status ports.
      for (let p = 0; p < peers.length; p++) {
        if (p === shard) continue;
        const c = new MessageChannel();
        peers[p] = c.port1;
        const msg: PeerPortMessage = { t: 'peer', shard, port: c.port2 };
        const sp = this.statusPorts[p];
        if (sp) sp.postMessage(msg, [c.port2]); else this.peerPorts[p][shard] = c.port2;
      }
    }
    this.statusPorts[shard] = st.port1;
    const transfer = peers.filter((p): p is MessagePort => p !== null);
    const task: ApplierTask = {
      shard, location: this.shardDirs[shard], handles: h,
      requestPort: req.port2, replyPort: rep.port1, statusPort: st.port2, peerPorts: peers,
      skipErrors: this.options.skipErrors, chaosDelayMs: this.options.chaosDelayMs, maxGroup: this.options.maxGroup,
    };
    return this.pool.run(task, { transferList: [req.port2, rep.port1, st.port2, ...transfer] as never }).then(
      () => { st.port1.close(); this.statusPorts[shard] = null; },
      (err: Error) => {
        st.port1.close();
        this.statusPorts[shard] = null;
        if (this.stopping) return;
        this.log.error({ shard, err: err.message }, 'applier died; restarting it');
        if (!this.readyStates[shard]) { this.readyReject(err); return; }
        this.restarts++;
        this.running[shard] = this.launch(shard, true);
      });
  }

  private onStatus(m: ApplierMessage): void {
    if (m.type === 'ready') {
      const first = !this.readyStates[m.shard];
      this.readyStates[m.shard] = { offset: m.offset, replid: m.replid, epochs: m.epochs, baseEpoch: m.baseEpoch, load: m.load,
        before: m.before, writes: m.writes };
      if (first && ++this.readyCount === this.readyStates.length) this.readyResolve(this.readyStates as ShardReady[]);
    } else if (m.type === 'halted') {
      this.events.halted(m.shard, m.offset, m.error);
    } else if (m.type === 'skipped') {
      this.events.skipped?.(m.shard, m.offset, m.error);
    } else if (m.type === 'resumed') {
      this.events.resumed?.(m.shard);
    }
  }

  /** Asks every applier to finish its group and exit; resolves when all have closed their stores. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.shared.requestStop();
    for (const sab of this.shared.handles.requestRings) wakeRingConsumer(sab);
    await Promise.allSettled(this.running);
    await this.pool.destroy();
  }
}
