/**
 * Command-line flags and the options object shared with the embedding API. Flags are named after
 * redis.conf where one exists. Every invalid value is a ParaError('PARAREPLICA_BAD_OPTION') whose message
 * names the flag (or option), the bad value and what is allowed. Passwords never appear in messages.
 */
import { Command, CommanderError } from 'commander';
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { ParaError } from '../errors.js';
import { VERSION } from '../version.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface MasterAddress { host: string; port: number; user?: string; password?: string }

export interface ReplicaOptions {
  master: MasterAddress;
  port: number;
  bind: string;
  dir: string;
  workers: number;
  masterauth?: string;
  masteruser?: string;
  logLevel: LogLevel;
  /** Seconds without data from the master before the link is dropped and retried. */
  replTimeout: number;
  announceIp?: string;
  /** Per-shard ring size in bytes. */
  ringBytes: number;
  /** Relay log segment size in bytes (a segment is deleted once every shard applied past it). */
  relaySegmentBytes: number;
  /** Stream bytes kept in memory for routing before routing reads back from the relay log instead. */
  relayBufferBytes: number;
  /**
   * Skip (log and count) a command that cannot be applied instead of stopping at it, as MySQL's
   * replica_skip_errors. Off by default: a skipped command makes the replica differ from its master.
   */
  skipErrors: boolean;
  /**
   * Draw a progress bar on stderr while a full sync loads. API default false; the command line turns
   * it on when stdout and stderr are terminals (--no-progress turns it off).
   */
  progressBar: boolean;
  /** Set by parseArgs: true when --workers was given (a data directory otherwise keeps its shard count). */
  workersExplicit?: boolean;
}

export type CommandLine =
  | { kind: 'run'; options: ReplicaOptions }
  | { kind: 'help' | 'version'; text: string };

export const DEFAULT_MASTER_PORT = 6379;
const MIN_RING = 64 * 1024;
const MAX_RING = 1024 * 1024 * 1024;
const MAX_WORKERS = 256;
const MAX_REPL_TIMEOUT = 2147483; // seconds: timers hold at most 2^31-1 ms
const SIZE_UNITS: Record<string, number> = { '': 1, k: 1e3, kb: 1024, m: 1e6, mb: 1024 ** 2, g: 1e9, gb: 1024 ** 3 };

type Key = Exclude<keyof ReplicaOptions, 'workersExplicit'>;

/** One row per option: its flag, how it is shown in help, and its default. */
const SPEC: Array<{ key: Key; flag: string; arg: string; help: string; def?: () => string }> = [
  { key: 'master', flag: '--master', arg: '<addr>', def: () => `127.0.0.1:${DEFAULT_MASTER_PORT}`,
    help: 'master to follow: HOST:PORT, [IPv6]:PORT or redis://[user:password@]host:port' },
  { key: 'port', flag: '--port', arg: '<port>', def: () => '6380', help: 'read server port (0 = any free port)' },
  { key: 'bind', flag: '--bind', arg: '<addr>', def: () => '127.0.0.1', help: 'read server listen address' },
  { key: 'dir', flag: '--dir', arg: '<path>', def: () => './parareplica-data',
    help: 'data directory (shards, relay log, manifest)' },
  { key: 'workers', flag: '--workers', arg: '<n>', def: () => `${availableParallelism()}, the CPU count`,
    help: `shards / applier threads, 1 to ${MAX_WORKERS}; fixed when the data directory is created` },
  { key: 'masterauth', flag: '--masterauth', arg: '<password>',
    help: 'password to AUTH with the master (wins over one in a redis:// URL)' },
  { key: 'masteruser', flag: '--masteruser', arg: '<user>', help: 'ACL user to AUTH with the master (needs a password)' },
  { key: 'logLevel', flag: '--log-level', arg: '<level>', def: () => 'info', help: LOG_LEVELS.join(', ') },
  { key: 'replTimeout', flag: '--repl-timeout', arg: '<seconds>', def: () => '60',
    help: 'reconnect to the master after this long without data' },
  { key: 'announceIp', flag: '--replica-announce-ip', arg: '<ip>',
    help: 'address the master shows for this replica (REPLCONF ip-address)' },
  { key: 'ringBytes', flag: '--ring-bytes', arg: '<size>', def: () => '1mb',
    help: 'per-shard ring size, a power of two from 64kb to 1gb (bytes, or with k/kb/m/mb/g/gb like redis.conf)' },
  { key: 'relaySegmentBytes', flag: '--relay-segment-size', arg: '<size>', def: () => '64mb',
    help: 'relay log segment size (power of two, 64kb to 1gb); whole segments are deleted once applied' },
  { key: 'relayBufferBytes', flag: '--relay-buffer-size', arg: '<size>', def: () => '64mb',
    help: 'stream bytes queued in memory for routing (power of two, 64kb to 1gb); when the appliers fall further behind, routing reads back from the relay log' },
  { key: 'skipErrors', flag: '--skip-errors', arg: '',
    help: 'log, count and skip a command (or a snapshot key of a type this version cannot load) instead of stopping there (the replica then differs from the master)' },
  { key: 'progressBar', flag: '--no-progress', arg: '',
    help: 'no progress bar while a full sync loads (drawn on stderr when stdout and stderr are terminals)' },
];

type Labels = Record<Key, string>;
const FLAG_LABELS = Object.fromEntries(SPEC.map((s) => [s.key, s.flag])) as Labels;
const API_LABELS = Object.fromEntries(SPEC.map((s) => [s.key, `option ${s.key} (${s.flag})`])) as Labels;

function bad(label: string, value: unknown, allowed: string, secret = false): never {
  const shown = secret ? '(hidden)' : typeof value === 'string' ? JSON.stringify(value) : String(value);
  throw new ParaError('PARAREPLICA_BAD_OPTION', `${label}: ${shown} is not valid; ${allowed}`,
    { option: label, value: secret ? '(hidden)' : value });
}

/** An integer in [min, max], given as a number or a decimal string. */
function intIn(label: string, v: unknown, min: number, max: number, allowed: string): number {
  const n = typeof v === 'string' && /^\d{1,16}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) bad(label, v, allowed);
  return n;
}

function hostname(label: string, h: string, raw: unknown, allowed: string): string {
  if (isIP(h) !== 0) return h;
  if (h.length <= 253 && /^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$/.test(h)) return h;
  return bad(label, raw, allowed);
}

/** A redis.conf-style size: 65536, 64kb (1024-based), 64k (1000-based), 8mb, 1gb… */
export function parseSize(label: string, v: unknown): number {
  const allowed = 'use a power of two from 64kb to 1gb, in bytes or with a unit (65536, 64kb, 8mb, 1gb)';
  let n: number;
  if (typeof v === 'number') n = v;
  else {
    const m = typeof v === 'string' ? /^(\d{1,16})([kmg]b?)?$/i.exec(v.trim()) : null;
    if (!m) return bad(label, v, allowed);
    n = Number(m[1]) * SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  }
  if (!Number.isSafeInteger(n) || n < MIN_RING || n > MAX_RING || (n & (n - 1)) !== 0) {
    const hint = typeof v === 'string' && /\d[kmg]$/i.test(v.trim()) ? ' (k/m/g count in thousands; kb/mb/gb in 1024s)' : '';
    return bad(label, v, allowed + hint);
  }
  return n;
}

const MASTER_ALLOWED = 'use HOST:PORT, [IPv6]:PORT or redis://[user:password@]host:port';

function redactUrl(s: string): string {
  const at = s.lastIndexOf('@');
  if (at < 0) return s;
  const colon = s.indexOf(':', 8);
  return colon >= 0 && colon < at ? `${s.slice(0, colon)}:(hidden)${s.slice(at)}` : s;
}

/**
 * Parse a master address: `host:port`, `host` (port 6379), `[::1]:6379`, or
 * `redis://[user[:password]@]host[:port]` with percent-encoded user and password.
 */
export function parseMasterAddress(label: string, s: string): MasterAddress {
  let user: string | undefined;
  let password: string | undefined;
  let hostport = s;
  let shown = s;
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(s);
  if (scheme) {
    const name = scheme[1].toLowerCase();
    shown = redactUrl(s);
    if (name !== 'redis') {
      bad(label, shown, name === 'rediss' ? 'TLS (rediss://) is not supported yet; use redis://' : MASTER_ALLOWED);
    }
    let rest = s.slice(scheme[0].length);
    const at = rest.lastIndexOf('@');
    if (at >= 0) {
      const info = rest.slice(0, at);
      rest = rest.slice(at + 1);
      const c = info.indexOf(':');
      try {
        user = decodeURIComponent(c >= 0 ? info.slice(0, c) : info) || undefined;
        password = c >= 0 ? decodeURIComponent(info.slice(c + 1)) || undefined : undefined;
      } catch {
        bad(label, shown, 'the user or password has a bad %-escape; percent-encode special characters');
      }
    }
    const tail = /[/?#]/.exec(rest);
    if (tail) {
      const extra = rest.slice(tail.index);
      if (extra !== '/') {
        bad(label, shown, `remove "${extra}": the replica follows every database and takes no URL parameters`);
      }
      rest = rest.slice(0, tail.index);
    }
    hostport = rest;
  }
  let host: string;
  let portText: string | undefined;
  const v6 = /^\[([^\]]*)\](?::(.*))?$/.exec(hostport);
  if (v6) {
    host = v6[1];
    portText = v6[2];
    if (isIP(host) !== 6) bad(label, shown, `${JSON.stringify(host)} inside [ ] must be an IPv6 address`);
  } else {
    const parts = hostport.split(':');
    if (parts.length > 2) bad(label, shown, 'put IPv6 addresses in brackets, e.g. [::1]:6379');
    host = hostname(label, parts[0], shown, MASTER_ALLOWED);
    portText = parts[1];
  }
  const port = portText === undefined ? DEFAULT_MASTER_PORT
    : /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) bad(label, shown, 'the master port must be an integer from 1 to 65535');
  const out: MasterAddress = { host, port };
  if (user !== undefined) out.user = user;
  if (password !== undefined) out.password = password;
  return out;
}

function masterOf(label: string, v: unknown): MasterAddress {
  if (typeof v === 'string') return parseMasterAddress(label, v);
  if (typeof v !== 'object' || v === null) return bad(label, v, MASTER_ALLOWED);
  const m = v as Record<string, unknown>;
  label = label.replace(/ \(--master\)$/, ''); // "option master" → "option master.host"
  const host = typeof m.host === 'string' ? m.host.replace(/^\[(.*)\]$/, '$1') : '';
  const out: MasterAddress = {
    host: hostname(`${label}.host`, host, m.host, 'use an IP address or a host name'),
    port: intIn(`${label}.port`, m.port ?? DEFAULT_MASTER_PORT, 1, 65535, 'use an integer from 1 to 65535'),
  };
  if (m.user !== undefined) out.user = credential(`${label}.user`, m.user, false);
  if (m.password !== undefined) out.password = credential(`${label}.password`, m.password, true);
  return out;
}

function credential(label: string, v: unknown, secret: boolean): string {
  if (typeof v !== 'string' || v.length === 0) bad(label, v, 'give a non-empty string', secret);
  if (!secret && /[\s\x00-\x1f\x7f]/.test(v)) bad(label, v, 'a user name cannot contain spaces or control characters');
  return v;
}

const KNOWN_KEYS = new Set<string>([...SPEC.map((s) => s.key), 'workersExplicit']);

function validateWith(o: Partial<ReplicaOptions>, L: Labels): ReplicaOptions {
  if (typeof o !== 'object' || o === null) bad('options', o, 'pass an object');
  for (const k of Object.keys(o)) {
    if (!KNOWN_KEYS.has(k)) bad(`option ${k}`, k, `it is not a known option; known: ${[...KNOWN_KEYS].join(', ')}`);
  }
  const master = o.master === undefined ? { host: '127.0.0.1', port: DEFAULT_MASTER_PORT } : masterOf(L.master, o.master);
  const masterauth = o.masterauth === undefined ? undefined : credential(L.masterauth, o.masterauth, true);
  const masteruser = o.masteruser === undefined ? undefined : credential(L.masteruser, o.masteruser, false);
  // The explicit flags win over credentials embedded in the master URL.
  const password = masterauth ?? master.password;
  const user = masteruser ?? master.user;
  if (user !== undefined && password === undefined) {
    bad(o.masteruser !== undefined ? L.masteruser : L.master, user,
      `a user needs a password: add ${FLAG_LABELS.masterauth} or put it in the URL (redis://user:password@host:port)`);
  }
  const level = typeof o.logLevel === 'string' ? o.logLevel.toLowerCase() : o.logLevel ?? 'info';
  if (!(LOG_LEVELS as readonly unknown[]).includes(level)) bad(L.logLevel, o.logLevel, `use one of ${LOG_LEVELS.join(', ')}`);
  let dir = o.dir ?? './parareplica-data';
  if (typeof dir !== 'string' || dir.length === 0 || dir.includes('\0')) bad(L.dir, o.dir, 'give a directory path');
  dir = resolve(dir);
  const bind = o.bind ?? '127.0.0.1';
  if (typeof bind !== 'string') bad(L.bind, bind, 'use an IP address such as 127.0.0.1, 0.0.0.0 or ::');
  hostname(L.bind, bind, bind, 'use an IP address such as 127.0.0.1, 0.0.0.0 or ::, or a host name');
  let announceIp: string | undefined;
  if (o.announceIp !== undefined) {
    const a = o.announceIp;
    if (typeof a !== 'string' || a.length === 0 || Buffer.byteLength(a) >= 256 || /[\s\x00-\x1f\x7f]/.test(a)) {
      bad(L.announceIp, a, 'give an IP address or host name shorter than 256 bytes, without spaces');
    }
    announceIp = a;
  }
  if (o.workersExplicit !== undefined && typeof o.workersExplicit !== 'boolean') {
    bad('option workersExplicit', o.workersExplicit, 'use true or false');
  }
  const out: ReplicaOptions = {
    master: { host: master.host, port: master.port },
    port: intIn(L.port, o.port ?? 6380, 0, 65535, 'use an integer from 0 to 65535 (0 picks a free port)'),
    bind,
    dir,
    workers: intIn(L.workers, o.workers ?? availableParallelism(), 1, MAX_WORKERS,
      `use an integer from 1 to ${MAX_WORKERS}`),
    logLevel: level as LogLevel,
    replTimeout: intIn(L.replTimeout, o.replTimeout ?? 60, 1, MAX_REPL_TIMEOUT,
      `use a whole number of seconds from 1 to ${MAX_REPL_TIMEOUT}`),
    ringBytes: parseSize(L.ringBytes, o.ringBytes ?? 1024 * 1024),
    relaySegmentBytes: parseSize(L.relaySegmentBytes, o.relaySegmentBytes ?? 64 * 1024 * 1024),
    relayBufferBytes: parseSize(L.relayBufferBytes, o.relayBufferBytes ?? 64 * 1024 * 1024),
    skipErrors: o.skipErrors ?? false,
    progressBar: o.progressBar ?? false,
  };
  if (typeof out.progressBar !== 'boolean') bad(L.progressBar, o.progressBar, 'use true or false');
  if (typeof out.skipErrors !== 'boolean') bad(L.skipErrors, o.skipErrors, 'use true or false');
  if (user !== undefined) { out.master.user = user; out.masteruser = user; }
  if (password !== undefined) { out.master.password = password; out.masterauth = password; }
  if (announceIp !== undefined) out.announceIp = announceIp;
  if (o.workersExplicit !== undefined) out.workersExplicit = o.workersExplicit;
  return out;
}

/** Check options given to the embedding API and fill in defaults. Throws PARAREPLICA_BAD_OPTION. */
export function validateOptions(o: Partial<ReplicaOptions>): ReplicaOptions {
  return validateWith(o, API_LABELS);
}

function buildCommand(out: { text: string }): Command {
  const cmd = new Command('parareplica')
    .description('A parallel replica of a Redis 7 master: follows its stream, applies it into LevelDB, serves reads.')
    .version(VERSION, '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help and exit')
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => { out.text += s; }, writeErr: () => undefined });
  for (const s of SPEC) cmd.option(s.arg ? `${s.flag} ${s.arg}` : s.flag, s.def ? `${s.help} (default: ${s.def()})` : s.help);
  cmd.addHelpText('after', '\nExample:\n  parareplica --master redis://repl:secret@10.0.0.5:6379 --dir /var/lib/parareplica');
  return cmd;
}

/** Parse the user's arguments (process.argv.slice(2)); --help and --version return their text. */
export function parseCommandLine(argv: string[]): CommandLine {
  const out = { text: '' };
  const cmd = buildCommand(out);
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed') return { kind: 'help', text: out.text };
      if (e.code === 'commander.version') return { kind: 'version', text: out.text };
      const msg = e.code === 'commander.excessArguments'
        ? `unexpected argument ${JSON.stringify(cmd.args[0] ?? '')}: every setting is a --flag`
        : e.message.replace(/^error: /, '').replace(/\.$/, '');
      throw new ParaError('PARAREPLICA_BAD_OPTION', `${msg}; see parareplica --help`, { commander: e.code });
    }
    throw e;
  }
  const raw = cmd.opts() as Record<string, unknown>;
  const given: Record<string, unknown> = {};
  for (const s of SPEC) {
    const attr = cmd.options.find((o) => o.long === s.flag)?.attributeName() ?? s.key;
    if (raw[attr] !== undefined) given[s.key] = raw[attr];
  }
  given.workersExplicit = given.workers !== undefined;
  given.progressBar = given.progressBar !== false && process.stdout.isTTY === true && process.stderr.isTTY === true;
  return { kind: 'run', options: validateWith(given as Partial<ReplicaOptions>, FLAG_LABELS) };
}

/**
 * Parse the user's arguments (process.argv.slice(2)). --help / --version print to stdout and exit 0.
 * Throws ParaError('PARAREPLICA_BAD_OPTION') naming the flag, the bad value and what is allowed.
 */
export function parseArgs(argv: string[]): ReplicaOptions {
  const r = parseCommandLine(argv);
  if (r.kind === 'run') return r.options;
  process.stdout.write(r.text);
  process.exit(0);
}
