/**
 * What the process knows about its own memory: which malloc it runs on (jemalloc when the launcher
 * src/cli/parareplica.sh preloaded it, else the system's), and its resident set now and at peak,
 * for INFO's Memory section and the startup log.
 *
 * /proc/self/status (Linux; the fields are in kB):
 *   VmHWM:    912340 kB      peak resident set size
 *   VmRSS:    471288 kB      resident set size now
 * /proc/self/maps lists every mapped file; a preloaded jemalloc shows as …/libjemalloc.so.2.
 */
import { readFileSync } from 'node:fs';

export interface Allocator {
  /** "jemalloc" or "libc" (INFO's mem_allocator). */
  name: string;
  /** The jemalloc library mapped into the process, when there is one. */
  path?: string;
}

let cached: Allocator | undefined;

/** The malloc this process runs on (read once: it cannot change after start). */
export function allocator(): Allocator {
  if (cached !== undefined) return cached;
  cached = { name: 'libc' };
  try {
    const m = /\s(\/\S*libjemalloc\.so[.\d]*)$/m.exec(readFileSync('/proc/self/maps', 'latin1'));
    if (m !== null) cached = { name: 'jemalloc', path: m[1] };
  } catch {
    // not Linux: no /proc; report the system allocator
  }
  return cached;
}

/** Resident bytes now and at peak; the peak is -1 where /proc is missing. */
export function residentBytes(): { rss: number; peak: number } {
  try {
    const s = readFileSync('/proc/self/status', 'latin1');
    const kb = (f: string): number => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? -1);
    const rss = kb('VmRSS'), peak = kb('VmHWM');
    if (rss >= 0) return { rss: rss * 1024, peak: peak >= 0 ? peak * 1024 : -1 };
  } catch {
    // fall through
  }
  return { rss: process.memoryUsage.rss(), peak: -1 };
}

/** Bytes in Redis's INFO style: "912.34M" (1024-based, two decimals, B/K/M/G/T). */
export function humanBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  const units = ['K', 'M', 'G', 'T'];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(2)}${units[i]}`;
}
