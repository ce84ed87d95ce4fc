/**
 * Progress of a full sync: a log line every LOG_EVERY_MS with bytes, keys and rates (pino: state
 * changes only, never per key), and a progress bar (cli-progress) when stdout is a terminal.
 * The numbers are also what INFO shows (engine/info.ts).
 */
import type { Logger } from 'pino';
import cliProgress from 'cli-progress';

const LOG_EVERY_MS = 5000;

export class SyncProgress {
  startedMs = 0;
  totalBytes = -1;
  readBytes = 0;
  keys = 0;
  /** ms from the payload header to every shard having applied it (last completed sync). */
  lastDurationMs = 0;
  private lastLogMs = 0;
  private lastLogBytes = 0;
  private lastLogKeys = 0;
  private bar: cliProgress.SingleBar | null = null;

  constructor(private readonly log: Logger, private readonly useBar: boolean) {}

  start(totalBytes: number): void {
    this.startedMs = this.lastLogMs = Date.now();
    this.totalBytes = totalBytes;
    this.readBytes = this.keys = this.lastLogBytes = this.lastLogKeys = 0;
    if (this.useBar) {
      this.bar = new cliProgress.SingleBar({
        format: 'full sync |{bar}| {percentage}% {mb} MB {keys} keys {rate} keys/s',
        hideCursor: true, clearOnComplete: true,
      }, cliProgress.Presets.shades_classic);
      this.bar.start(totalBytes > 0 ? totalBytes : 1, 0, { mb: '0.0', keys: 0, rate: 0 });
    }
  }

  /** Called about every 100 ms while the payload arrives. */
  update(readBytes: number, keys: number): void {
    this.readBytes = readBytes;
    this.keys = keys;
    const now = Date.now();
    if (this.bar) {
      const secs = Math.max(0.001, (now - this.startedMs) / 1000);
      this.bar.update(this.totalBytes > 0 ? Math.min(readBytes, this.totalBytes) : 0,
        { mb: (readBytes / 1048576).toFixed(1), keys, rate: Math.round(keys / secs) });
    }
    if (now - this.lastLogMs >= LOG_EVERY_MS) {
      const dt = (now - this.lastLogMs) / 1000;
      this.log.info({
        readBytes, totalBytes: this.totalBytes, perc: this.perc(), keys,
        mbPerSec: Number(((readBytes - this.lastLogBytes) / 1048576 / dt).toFixed(2)),
        keysPerSec: Math.round((keys - this.lastLogKeys) / dt),
      }, 'full sync: loading');
      this.lastLogMs = now;
      this.lastLogBytes = readBytes;
      this.lastLogKeys = keys;
    }
  }

  /** The payload is complete (the shards may still be applying it). */
  received(keys: number): void {
    this.keys = keys;
    if (this.totalBytes > 0) this.readBytes = this.totalBytes;
    const secs = (Date.now() - this.startedMs) / 1000;
    this.log.info({ keys, bytes: this.readBytes, seconds: Number(secs.toFixed(2)),
      keysPerSec: Math.round(keys / Math.max(secs, 0.001)) }, 'full sync: snapshot received, the appliers are finishing it');
  }

  stop(ok: boolean, reason: string): void {
    if (this.bar) { this.bar.stop(); this.bar = null; }
    const ms = Date.now() - this.startedMs;
    if (ok) {
      this.lastDurationMs = ms;
      this.log.info({ keys: this.keys, bytes: this.readBytes, seconds: Number((ms / 1000).toFixed(2)),
        keysPerSec: Math.round(this.keys / Math.max(ms / 1000, 0.001)) }, 'full sync: snapshot loaded by every shard');
    } else {
      this.log.warn({ keys: this.keys, bytes: this.readBytes, reason }, 'full sync: stopped before the end');
    }
  }

  /** Percent of the payload received (0 when the total is unknown: diskless transfer). */
  perc(): number {
    return this.totalBytes > 0 ? Math.min(100, (this.readBytes / this.totalBytes) * 100) : 0;
  }

  /** Seconds left at the current rate (-1 when unknown). */
  etaSeconds(): number {
    const secs = (Date.now() - this.startedMs) / 1000;
    if (this.totalBytes <= 0 || this.readBytes <= 0 || secs <= 0) return -1;
    return Math.round(((this.totalBytes - this.readBytes) * secs) / this.readBytes);
  }
}
