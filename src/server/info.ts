/**
 * INFO: which sections a request asks for, and the text Redis clients expect.
 *
 * Reply format (a bulk string): each section is a header line `# Name` followed by `field:value` lines,
 * every line ending in CRLF, and one empty line (CRLF) between sections:
 *   # Server\r\nredis_version:7.0.15\r\n…\r\n\r\n# Clients\r\nconnected_clients:1\r\n…
 * Sections come in a fixed order (ours: server, clients, stats, then the backend's, keyspace last)
 * whatever order they were asked in; an unknown section name contributes nothing.
 */
import { readFileSync } from 'node:fs';

export type InfoFields = Array<[string, string | number]>;
export type InfoSection = [name: string, fields: InfoFields];

export interface InfoSelection {
  /** Every section (INFO all / everything / default / no argument). */
  all: boolean;
  /** Lowercase section names asked for, when not `all`. */
  names: Set<string>;
}

/** Parses INFO's arguments (argv without the command name). */
export function selectSections(args: readonly Buffer[]): InfoSelection {
  if (args.length === 0) return { all: true, names: new Set() };
  const names = new Set<string>();
  let all = false;
  for (const a of args) {
    const s = a.toString('latin1').toLowerCase();
    if (s === 'all' || s === 'everything' || s === 'default') all = true;
    else names.add(s);
  }
  return { all, names };
}

export function wants(sel: InfoSelection, name: string): boolean {
  return sel.all || sel.names.has(name.toLowerCase());
}

/** "replication" → "Replication", as the section header shows it. */
export function sectionTitle(name: string): string {
  return name.length === 0 ? name : name[0].toUpperCase() + name.slice(1);
}

/** Renders sections as the INFO bulk payload. */
export function renderInfo(sections: readonly InfoSection[]): Buffer {
  let out = '';
  for (let i = 0; i < sections.length; i++) {
    const [name, fields] = sections[i];
    if (i > 0) out += '\r\n';
    out += `# ${sectionTitle(name)}\r\n`;
    for (const [k, v] of fields) out += `${k}:${v}\r\n`;
  }
  return Buffer.from(out, 'utf8');
}

/**
 * Sums the shards' __KEYSPACE replies ([[db, keys, expires], …] each) into the Keyspace section:
 *   db0:keys=N,expires=M,avg_ttl=0   (only databases holding keys, in db order)
 * Malformed entries are skipped rather than failing INFO.
 */
export function keyspaceFields(perShard: readonly unknown[]): InfoFields {
  const totals = new Map<number, [number, number]>();
  for (const reply of perShard) {
    if (!Array.isArray(reply)) continue;
    for (const entry of reply) {
      if (!Array.isArray(entry) || entry.length < 3) continue;
      const db = Number(entry[0]), keys = Number(entry[1]), expires = Number(entry[2]);
      if (!Number.isInteger(db) || !Number.isFinite(keys) || !Number.isFinite(expires)) continue;
      const t = totals.get(db);
      if (t) { t[0] += keys; t[1] += expires; } else totals.set(db, [keys, expires]);
    }
  }
  const dbs = [...totals.keys()].sort((a, b) => a - b);
  const fields: InfoFields = [];
  for (const db of dbs) {
    const [keys, expires] = totals.get(db)!;
    if (keys > 0) fields.push([`db${db}`, `keys=${keys},expires=${expires},avg_ttl=0`]);
  }
  return fields;
}

/** This package's version, read once from package.json ("unknown" if it cannot be found). */
export const PARAREPLICA_VERSION: string = (() => {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'parareplica' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return 'unknown';
})();

/** The version clients see in INFO / HELLO: the Redis release whose behaviour we reproduce. */
export const REDIS_COMPAT_VERSION = '7.0.15';
