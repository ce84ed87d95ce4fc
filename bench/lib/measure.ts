/**
 * Measurement helpers for the replay benches: polling a condition on a fixed period, sampling peak
 * RSS, a read-latency probe against a replica's client port, percentiles, and command-line flags.
 */
import { readFile } from 'node:fs/promises';
import { Client, type Reply } from '../../test/helpers/redis.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Calls `probe` every `periodMs` until it returns true; resolves with performance.now() of the
 * successful call. `abort` is checked first at each round: a string it returns rejects the wait
 * (replica halted, link lost…), as does `timeoutMs` elapsing.
 */
export async function pollUntil(probe: () => boolean | Promise<boolean>, periodMs: number, timeoutMs: number,
  abort: () => string | null = () => null): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const why = abort();
    if (why !== null) throw new Error(why);
    if (await probe()) return performance.now();
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms`);
    await sleep(periodMs);
  }
}

/** Samples a byte count every `periodMs` (process RSS by default) and keeps the peak. */
export class PeakSampler {
  peak = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(private readonly sample: () => number = () => process.memoryUsage.rss(), periodMs = 100) {
    this.take();
    this.timer = setInterval(() => this.take(), periodMs);
  }
  private take(): void {
    const v = this.sample();
    if (v > this.peak) this.peak = v;
  }
  stop(): number {
    clearInterval(this.timer);
    this.take();
    return this.peak;
  }
}

/** A field of /proc/<pid>/status in bytes (VmHWM: peak resident set; VmRSS: current), or null. */
export async function procStatusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): Promise<number | null> {
  try {
    const s = await readFile(`/proc/${pid}/status`, 'latin1');
    const m = s.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

export function percentile(xs: number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

const round3 = (x: number | null): number | null => (x === null ? null : Math.round(x * 1000) / 1000);

/**
 * Read-latency probe: one connection, one `ZCARD <key()>` in flight at a time, the next one sent
 * `periodMs` after the previous reply. Latencies of integer replies are kept; error replies (e.g.
 * -LOADING while the replica finishes its sync) are only counted.
 */
export class ReadProbe {
  private readonly lat: number[] = [];
  private errors = 0;
  private running = true;
  private readonly loop: Promise<void>;

  private constructor(private readonly client: Client, key: () => string, periodMs: number) {
    this.loop = (async () => {
      while (this.running) {
        const t0 = performance.now();
        let r: Reply;
        try { r = await client.call('ZCARD', key()); } catch { this.errors++; break; }
        if (typeof r === 'number') this.lat.push(performance.now() - t0);
        else this.errors++;
        await sleep(periodMs);
      }
    })();
  }

  static async start(port: number, key: () => string, periodMs = 5): Promise<ReadProbe> {
    return new ReadProbe(await Client.connect(port), key, periodMs);
  }

  async stop(): Promise<{ reads: number; readErrors: number; readP50Ms: number | null; readP99Ms: number | null; readMaxMs: number | null }> {
    this.running = false;
    await this.loop;
    this.client.close();
    return {
      reads: this.lat.length, readErrors: this.errors,
      readP50Ms: round3(percentile(this.lat, 50)), readP99Ms: round3(percentile(this.lat, 99)),
      readMaxMs: round3(this.lat.length ? Math.max(...this.lat) : null),
    };
  }
}

/** The value of `field` in `INFO <section>` as a number (NaN when absent). */
export async function infoNumber(c: Client, section: string, field: string): Promise<number> {
  const r = await c.call('INFO', section);
  const s = Buffer.isBuffer(r) ? r.toString('latin1') : '';
  const m = s.match(new RegExp(`^${field}:(.*)$`, 'm'));
  return m ? Number(m[1].trim()) : NaN;
}

/**
 * `--name value` / `--name=value` flags parsed as numbers, with defaults; `--flag` alone means 1.
 * Unknown flags are an error (a typo must not silently run the default-size bench).
 */
export function numberFlags<T extends Record<string, number>>(argv: string[], defaults: T): T {
  const out: Record<string, number> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const m = argv[i].match(/^--([a-z-]+)(?:=(.*))?$/);
    if (!m) throw new Error(`unexpected argument "${argv[i]}"`);
    const name = m[1].replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (!(name in defaults)) throw new Error(`unknown flag --${m[1]}; known: ${Object.keys(defaults).map((k) => '--' + k).join(' ')}`);
    let v = m[2];
    if (v === undefined) v = i + 1 < argv.length && !argv[i + 1].startsWith('--') ? argv[++i] : '1';
    const n = Number(v.replace(/_/g, ''));
    if (!Number.isFinite(n)) throw new Error(`--${m[1]} needs a number, got "${v}"`);
    out[name] = n;
  }
  return out as T;
}
