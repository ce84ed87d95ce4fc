/**
 * Parse-speed bench for long strings (src/rdb/string-stream.ts): a throwaway redis-server SAVEs one
 * compressible string (stored LZF) and one random string (stored raw) of --mib MiB each; the
 * snapshot is cached under os.tmpdir(). A child process then reads it from disk in 64 KiB chunks
 * into an RdbParser whose handler only counts bytes, and reports, per string, MB/s of decoded bytes
 * (10^6 bytes per second) and, for the run, the process RSS before, at its peak and after.
 *
 *   npm run build && node dist/bench/parse-bigstring.js [--mib 200] [--no-crc]
 *
 * Output: ONE JSON object on stdout: { file, fileBytes, crc, strings: [{ key, stored: 'lzf' | 'raw',
 * bytes, seconds, mbPerSec }], totalSeconds, fileMbPerSec, rss: { beforeMiB, peakMiB, afterMiB } }.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RdbParser } from '../src/rdb/parser.js';
import { Client, startRedis } from '../test/helpers/redis.js';

const MiB = 1 << 20;

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
}

/** `n` bytes of words from a small vocabulary in a pseudo-random order (LZF: about 3:1). */
function compressible(n: number): Buffer {
  const words = Array.from({ length: 300 }, (_, i) => Buffer.from(`w${i.toString(36)}${'abcdefghij'.slice(0, i % 10)} `));
  const out = Buffer.allocUnsafe(n);
  let x = 1;
  for (let p = 0; p < n;) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    p += words[x % 300].copy(out, p);
  }
  return out;
}

async function makeSnapshot(file: string, mib: number): Promise<void> {
  const redis = await startRedis();
  const c = await Client.connect(redis.port);
  try {
    await c.call('SET', 'big:lzf', compressible(mib * MiB));
    await c.call('SET', 'big:raw', randomBytes(mib * MiB));
    await c.call('SAVE');
    await copyFile(path.join(redis.dir, 'dump.rdb'), file);
  } finally {
    c.close();
    await redis.stop();
  }
}

function rssMiB(): number {
  return Math.round((process.memoryUsage.rss() / MiB) * 10) / 10;
}

/** The child: parses `file` read in 64 KiB chunks; prints the JSON result. */
function parseFile(file: string, crc: boolean): void {
  const before = rssMiB();
  let peak = before;
  const strings: { key: string; stored: string; bytes: number; seconds: number; mbPerSec: number }[] = [];
  let cur: { key: string; bytes: number; t0: number } | null = null;
  const parser = new RdbParser({
    entry() {},
    begin: (e) => { cur = { key: e.key.toString(), bytes: 0, t0: performance.now() }; },
    part: (a) => { cur!.bytes += a.length; },
    end: () => {
      const c = cur!;
      const seconds = (performance.now() - c.t0) / 1000;
      strings.push({ key: c.key, stored: c.key.endsWith('lzf') ? 'lzf' : 'raw', bytes: c.bytes, seconds: +seconds.toFixed(3),
        mbPerSec: Math.round(c.bytes / 1e6 / seconds) });
    },
  }, { verifyChecksum: crc });
  const fd = openSync(file, 'r');
  const chunk = Buffer.allocUnsafe(64 << 10);
  const t0 = performance.now();
  let fileBytes = 0;
  for (let n; (n = readSync(fd, chunk, 0, chunk.length, null)) > 0;) {
    parser.feed(chunk.subarray(0, n));
    fileBytes += n;
    if ((fileBytes & (16 * MiB - 1)) < chunk.length) peak = Math.max(peak, rssMiB());
  }
  const totalSeconds = (performance.now() - t0) / 1000;
  closeSync(fd);
  if (!parser.done) throw new Error('the snapshot did not parse to its end');
  const after = rssMiB();
  process.stdout.write(`${JSON.stringify({ file, fileBytes, crc, strings, totalSeconds: +totalSeconds.toFixed(3),
    fileMbPerSec: Math.round(fileBytes / 1e6 / totalSeconds), rss: { beforeMiB: before, peakMiB: Math.max(peak, after), afterMiB: after } })}\n`);
}

const child = process.argv.indexOf('--parse');
if (child >= 0) {
  parseFile(process.argv[child + 1], !process.argv.includes('--no-crc'));
} else {
  const mib = flag('--mib', 200);
  const file = path.join(tmpdir(), `parareplica-bigstring-${mib}.rdb`);
  if (!existsSync(file)) {
    process.stderr.write(`# making ${file}\n`);
    await makeSnapshot(file, mib);
  }
  process.stderr.write(`# parsing ${file} (${statSync(file).size} bytes)\n`);
  const args = [fileURLToPath(import.meta.url), '--parse', file, ...(process.argv.includes('--no-crc') ? ['--no-crc'] : [])];
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  process.exitCode = r.status ?? 1;
}
