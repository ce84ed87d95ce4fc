/**
 * The main thread's part of cross-shard exchanges (workers/exchange.ts has the appliers' part): it
 * forwards each export from the source shard's exchange port to the destination's, rings the
 * destination's doorbell, and keeps the export until the destination has committed its offset, so
 * that a destination applier restarted by the supervisor gets it again.
 *
 *   applier S ──port──▶ hub.onExport ──▶ retained[D] ──port──▶ applier D  (+ Atomics doorbell)
 *
 * Duplicates (a source replaying a command after a restart) are dropped by (offset, sub, from).
 * Memory: exports for commands the destination has not committed yet. Routing stops when a ring
 * and its overflow are full, so a destination is never more than one ring plus overflow behind.
 */
import type { MessagePort } from 'node:worker_threads';
import { SharedState, C_COMMITTED_OFFSET } from '../shm/layout.js';
import type { ExchangeMessage } from '../../workers/exchange.js';

export class ExchangeHub {
  private readonly ports: (MessagePort | null)[];
  private readonly retained: Map<string, ExchangeMessage>[];
  /** Exports forwarded (duplicates excluded). */
  forwarded = 0;

  constructor(private readonly shared: SharedState) {
    this.ports = new Array(shared.shards).fill(null);
    this.retained = Array.from({ length: shared.shards }, () => new Map());
  }

  /** A (re)started applier's exchange port: listen to it, and give it what it may still need. */
  attach(shard: number, port: MessagePort): void {
    this.ports[shard] = port;
    port.on('message', (m: ExchangeMessage) => this.onExport(m));
    port.unref();
    this.prune(shard);
    const pending = [...this.retained[shard].values()];
    for (const m of pending) port.postMessage(m);
    if (pending.length > 0) this.shared.ringExchangeDoor(shard);
  }

  detach(shard: number, port: MessagePort): void {
    if (this.ports[shard] === port) this.ports[shard] = null;
    port.close();
  }

  private onExport(m: ExchangeMessage): void {
    const d = m.dest;
    if (d < 0 || d >= this.retained.length) return;
    this.prune(d);
    if (this.shared.counter(d, C_COMMITTED_OFFSET) >= m.offset) return;   // already applied there
    const k = `${m.offset}:${m.sub}:${m.from}`;
    if (this.retained[d].has(k)) return;
    this.retained[d].set(k, m);
    this.forwarded++;
    this.ports[d]?.postMessage(m);
    this.shared.ringExchangeDoor(d);
  }

  /** Forget exports the destination has committed past. */
  private prune(d: number): void {
    const r = this.retained[d];
    if (r.size === 0) return;
    const committed = this.shared.counter(d, C_COMMITTED_OFFSET);
    for (const [k, m] of r) if (m.offset <= committed) r.delete(k);
  }

  /** Exports held for destinations that have not committed them yet. */
  get pending(): number {
    let n = 0;
    for (let d = 0; d < this.retained.length; d++) { this.prune(d); n += this.retained[d].size; }
    return n;
  }
}
