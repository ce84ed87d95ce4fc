/**
 * The applier's side of a cross-shard exchange (architecture: "Cross-shard commands").
 *
 *   source shard S, at the command's position:   take its keys (apply its side effect) → export
 *        export = { offset, sub, from: S, dest: D, data: msgpack [key, value, byPattern][] }
 *        ├─ persisted in S's next commit batch (outbox, workers/layout.ts), deleted once D committed
 *        ├─ kept in S's memory until D committed (to answer D's resend request after a D restart)
 *        └─ posted on the MessagePort S shares with D, and D's doorbell rung (Atomics)
 *   destination shard D, at the same position:    take its own keys, wait for every source's export,
 *                                                 compute, write (all in D's current group)
 *
 * Waits point only from a destination to its sources, and a source never waits for anything (no
 * commit ordering between them): within one MULTI/EXEC two shards may each be the other's source,
 * and neither blocks the other. Crash consistency comes from the outbox instead: a source that
 * committed its side effect also committed its export, and re-posts it after a restart until the
 * destination has committed that offset. A source that had not committed replays the command and
 * exports again; duplicates are recognised by (offset, sub, from).
 * The main thread is not on the path: every pair of appliers shares a MessageChannel (a port's
 * postMessage is delivered at once, even while the sender stays busy; a BroadcastChannel's is not).
 * An applier restarted by the supervisor gets fresh channels (the peers get their ends through their
 * status ports) and asks every other shard to resend what it has not committed.
 * A wait ends when the exports arrive, when a source shard halts (this shard then halts too: it
 * cannot apply the command) or when the process stops (the group is dropped, replayed at restart).
 */
import { receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
import { Packr } from 'msgpackr';
import { SharedState, S_HALTED, C_COMMITTED_OFFSET, C_XCHG_DEST, C_XCHG_SRC, C_XWAITS, C_XWAIT_US, C_XWAIT_HIST,
  xwaitBucket } from '../src/shm/layout.js';
import { ParaError } from '../src/errors.js';
import { shardOfKey } from '../src/router/slot.js';
import { exchangeRoles, type ExchangeRoles } from '../src/router/exchange-keys.js';
import { OUTBOX_PREFIX, OUTBOX_END, outboxKey, parseOutboxKey } from './layout.js';
import type { ShardStore } from './shard-store.js';
import { CombineView, takeSources, patternExports, type CombineSpec, type ExportEntry } from './combine.js';

/** One export on the wire (structured-cloned between appliers). */
export interface ExchangeMessage { t: 'x'; offset: number; sub: number; from: number; dest: number; data: Uint8Array }
/** "Send me again every export for me after offset `after`": posted by an applier that (re)started. */
export interface ResendRequest { t: 'resend'; from: number; after: number }
type InboxMessage = ExchangeMessage | ResendRequest;
/** Main thread → applier, on its status port: a new channel to `shard` (which was restarted). */
export interface PeerPortMessage { t: 'peer'; shard: number; port: MessagePort }

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
/** Longest single park while waiting for exports; the loop re-checks stop and halts in between. */
const PARK_MS = 20;

const stashKey = (offset: number, sub: number, from: number): string => `${offset}:${sub}:${from}`;

export class ExchangeEndpoint {
  /** Exports received and not yet committed past (kept so a group replayed after discard finds them). */
  private readonly stash = new Map<string, { offset: number; entries: ExportEntry[] }>();
  /** This shard's exports whose destination has not committed yet (persisted, or in the open group). */
  private outbox: Array<{ key: Buffer; msg: ExchangeMessage }> = [];
  private readonly mine: (key: Buffer) => boolean;

  /** `peers[s]`: the port shared with shard s (null for this shard); `control`: the status port. */
  constructor(private readonly shard: number, private readonly shared: SharedState,
    private readonly peers: Array<MessagePort | null>, private readonly control: MessagePort,
    private readonly store: ShardStore, private readonly specs: Record<string, CombineSpec>) {
    const shards = shared.shards;
    this.mine = (key) => shards === 1 || shardOfKey(key, shards) === shard;
  }

  private post(dest: number, m: InboxMessage): void {
    this.peers[dest]?.postMessage(m);
    this.shared.ringExchangeDoor(dest);
  }

  /**
   * At start: post again the exports that earlier runs persisted (their destination may lack them),
   * and ask every other shard for the exports this shard has not committed.
   */
  async start(): Promise<void> {
    for await (const [k, v] of this.store.db.iterator({ gte: OUTBOX_PREFIX, lt: OUTBOX_END })) {
      const { offset, sub, dest } = parseOutboxKey(k);
      const msg: ExchangeMessage = { t: 'x', offset, sub, from: this.shard, dest, data: v };
      this.outbox.push({ key: Buffer.from(k), msg });
      this.post(dest, msg);
    }
    for (let s = 0; s < this.peers.length; s++) {
      if (s !== this.shard) this.post(s, { t: 'resend', from: this.shard, after: this.store.state.offset });
    }
  }

  close(): void {
    for (const p of this.peers) p?.close();
  }

  /** The command's CombineSpec and roles; the router routed it as an exchange, so both exist. */
  private resolve(argv: Buffer[]): { spec: CombineSpec; roles: ExchangeRoles } {
    const spec = this.specs[argv[0].toString('latin1').toLowerCase()];
    const roles = exchangeRoles(argv);
    if (spec === undefined || roles === null) {
      throw new ParaError('PARAREPLICA_APPLY_FAILED', `internal: '${argv[0].toString('latin1')}' was routed as a cross-shard exchange but this applier has no exchange for it`);
    }
    return { spec, roles };
  }

  /** Source role: take this shard's keys of the command and export them to `dest`. */
  async source(offset: number, sub: number, dest: number, db: number, argv: Buffer[]): Promise<void> {
    const { spec, roles } = this.resolve(argv);
    const entries = await takeSources(this.store, db, argv, spec, roles, this.mine, null);
    if (roles.patterns.length > 0) entries.push(...await patternExports(this.store, db, roles.patterns));
    const data = packr.pack(entries);
    const key = outboxKey(offset, sub, dest);
    this.store.putRaw(key, data);
    const msg: ExchangeMessage = { t: 'x', offset, sub, from: this.shard, dest, data };
    this.outbox.push({ key, msg });
    this.post(dest, msg);
    this.shared.addCounter(this.shard, C_XCHG_SRC, 1);
  }

  /** Destination role: take this shard's keys, wait for the sources' exports, compute and write. */
  async dest(offset: number, sub: number, sources: number[], db: number, argv: Buffer[]): Promise<void> {
    const { spec, roles } = this.resolve(argv);
    const view = new CombineView(this.store, this.mine);
    await takeSources(this.store, db, argv, spec, roles, this.mine, view);
    for (const entries of this.collect(offset, sub, sources)) view.addImported(entries);
    await spec.apply(this.store, db, argv, view, roles);
    this.shared.addCounter(this.shard, C_XCHG_DEST, 1);
  }

  /**
   * Take every message waiting in the inbox: exports into the stash, resend requests answered at
   * once. Called while waiting for exports and once per group (and when idle), so requests from a
   * restarted shard are answered within one park.
   */
  drain(): void {
    for (let m = receiveMessageOnPort(this.control); m !== undefined; m = receiveMessageOnPort(this.control)) {
      const c = m.message as PeerPortMessage;
      if (c.t !== 'peer') continue;
      this.peers[c.shard]?.close();
      this.peers[c.shard] = c.port;
    }
    for (const port of this.peers) if (port !== null) this.drainPort(port);
  }

  private drainPort(port: MessagePort): void {
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
      const x = m.message as InboxMessage;
      if (x.t === 'resend') {
        for (const o of this.outbox) if (o.msg.dest === x.from && o.msg.offset > x.after) this.post(x.from, o.msg);
        continue;
      }
      if (x.offset <= this.store.state.offset) continue;   // for a command this shard already applied
      const k = stashKey(x.offset, x.sub, x.from);
      // Structured cloning delivers a plain Uint8Array; unpacking a Buffer gives Buffer values back.
      const data = Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength);
      if (!this.stash.has(k)) this.stash.set(k, { offset: x.offset, entries: packr.unpack(data) as ExportEntry[] });
    }
  }

  /** Blocks (Atomics.wait on the exchange doorbell) until every source's export for (offset, sub) is here. */
  private collect(offset: number, sub: number, sources: number[]): ExportEntry[][] {
    const t0 = performance.now();
    let parked = false;
    for (;;) {
      this.drain();
      let missing = -1;
      for (const s of sources) if (!this.stash.has(stashKey(offset, sub, s))) { missing = s; break; }
      if (missing < 0) break;
      if (this.shared.stopRequested()) {
        throw new ParaError('PARAREPLICA_CANCELLED', `shard ${this.shard}: stopped while waiting for shard ${missing}'s export at offset ${offset}`, { offset });
      }
      if (this.shared.shardWord(missing, S_HALTED) === 1) {
        throw new ParaError('PARAREPLICA_EXCHANGE_SOURCE_HALTED',
          `the command at offset ${offset} needs data from shard ${missing}, which stopped at an earlier command; resolve that shard's halt (see INFO applier) and restart`, { offset, source: missing });
      }
      parked = true;
      // Read the doorbell before the last drain: a message posted after it bumps the word, so the
      // wait below returns at once instead of sleeping past it.
      const seen = this.shared.exchangeDoor(this.shard);
      this.drain();
      if (sources.every((s) => this.stash.has(stashKey(offset, sub, s)))) break;
      this.shared.waitExchangeDoor(this.shard, seen, PARK_MS);
    }
    if (parked) {
      const us = Math.round((performance.now() - t0) * 1000);
      this.shared.addCounter(this.shard, C_XWAITS, 1);
      this.shared.addCounter(this.shard, C_XWAIT_US, us);
      this.shared.addCounter(this.shard, C_XWAIT_HIST + xwaitBucket(us), 1);
    }
    return sources.map((s) => this.stash.get(stashKey(offset, sub, s))!.entries);
  }

  /**
   * Before each commit: delete persisted exports whose destination has committed past them. After
   * the commit, `committed` tells which received exports are no longer needed.
   */
  beforeCommit(): void {
    if (this.outbox.length === 0) return;
    const keep: typeof this.outbox = [];
    for (const o of this.outbox) {
      if (this.shared.counter(o.msg.dest, C_COMMITTED_OFFSET) >= o.msg.offset) this.store.putRaw(o.key, null);
      else keep.push(o);
    }
    this.outbox = keep;
  }

  afterCommit(committed: number): void {
    if (this.stash.size === 0) return;
    for (const [k, v] of this.stash) if (v.offset <= committed) this.stash.delete(k);
  }
}
