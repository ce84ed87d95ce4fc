/**
 * Connection and server commands the read server answers itself: PING ECHO QUIT SELECT HELLO AUTH
 * CLIENT COMMAND INFO ROLE TIME LASTSAVE CONFIG RESET READONLY READWRITE SHUTDOWN.
 * Replies mirror a Redis 7.0.15 replica speaking RESP2.
 */
import type { ReadBackend } from './backend.js';
import type { KeyspaceReader } from './keyspace.js';
import type { ClientView, Handler } from './dispatch.js';
import { OK, arityError, errorReply } from './dispatch.js';
import { commandAll, commandCount, commandDocs, commandInfo, commandList, COMMAND_HELP, CLIENT_HELP } from './command-docs.js';
import { renderInfo, selectSections, wants, type InfoFields, type InfoSection } from './info.js';
import { configGet } from './config-get.js';

/** Server-wide facts the commands read. */
export interface ServerContext {
  readonly backend: ReadBackend;
  readonly keyspace: KeyspaceReader;
  readonly databases: number;
  /** Clients connected now (CLIENT LIST). */
  clients(): Iterable<ClientView>;
  /** INFO sections of the server itself: server, clients, stats. */
  ownInfo(): InfoSection[];
  /** Values CONFIG GET may report. */
  config(): Array<[string, string]>;
  readonly startedAtMs: number;
}

const PONG = Object.freeze({ status: 'PONG' });
const RESET = Object.freeze({ status: 'RESET' });
const NOT_INT = Object.freeze({ error: 'ERR value is not an integer or out of range' });
const SYNTAX = Object.freeze({ error: 'ERR syntax error' });
const WRONGPASS = Object.freeze({ error: 'WRONGPASS invalid username-password pair or user is disabled.' });
const NOPROTO = Object.freeze({ error: 'NOPROTO unsupported protocol version' });
const BAD_NAME = Object.freeze({ error: 'ERR Client names cannot contain spaces, newlines or special characters.' });
const NO_CLUSTER = Object.freeze({ error: 'ERR This instance has cluster support disabled' });

/** A strict decimal integer (no sign on zero, no leading zeros, no spaces), or undefined. */
export function parseStrictInt(b: Buffer): number | undefined {
  const s = b.toString('latin1');
  if (!/^(0|-?[1-9]\d{0,17})$/.test(s)) return undefined;
  return Number(s);
}

/** A client name is empty (clears it) or printable ASCII without spaces. */
function validName(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] < 0x21 || b[i] > 0x7e) return false;
  return true;
}

function unknownSubcommand(cmd: string, sub: Buffer): { error: string } {
  return errorReply(`ERR unknown subcommand '${sub.toString().slice(0, 128)}'. Try ${cmd.toUpperCase()} HELP.`);
}

function lower(b: Buffer): string {
  return b.toString('latin1').toLowerCase();
}

const ping: Handler = (_ctx, _c, argv) => {
  if (argv.length > 2) return arityError('ping');
  return argv.length === 2 ? argv[1] : PONG;
};

const select: Handler = (ctx, c, argv) => {
  const db = parseStrictInt(argv[1]);
  if (db === undefined || db > 2 ** 31 - 1 || db < -(2 ** 31)) return NOT_INT;
  if (db < 0 || db >= ctx.databases) return { error: 'ERR DB index is out of range' };
  c.db = db;
  return OK;
};

function authCheck(user: Buffer): boolean {
  return user.toString('latin1') === 'default';
}

const auth: Handler = (_ctx, _c, argv) => {
  if (argv.length === 2) {
    return { error: 'ERR AUTH <password> called without any password configured for the default user. ' +
      'Are you sure your configuration is correct?' };
  }
  if (argv.length > 3) return SYNTAX;
  return authCheck(argv[1]) ? OK : WRONGPASS;
};

// HELLO [protover [AUTH username password] [SETNAME clientname]]
const hello: Handler = (ctx, c, argv) => {
  if (argv.length >= 2) {
    const ver = parseStrictInt(argv[1]);
    if (ver === undefined) return { error: 'ERR Protocol version is not an integer or out of range' };
    if (ver !== 2) return NOPROTO; // RESP3 is not offered: clients fall back to RESP2
  }
  let name: Buffer | undefined;
  for (let i = 2; i < argv.length; i++) {
    const opt = lower(argv[i]);
    const left = argv.length - i - 1;
    if (opt === 'auth' && left >= 2) {
      if (!authCheck(argv[i + 1])) return WRONGPASS;
      i += 2;
    } else if (opt === 'setname' && left >= 1) {
      name = argv[++i];
      if (!validName(name)) return BAD_NAME;
    } else {
      return errorReply(`ERR Syntax error in HELLO option '${argv[i].toString()}'`);
    }
  }
  if (name !== undefined) c.name = name.toString('latin1');
  return [
    Buffer.from('server'), Buffer.from('redis'), Buffer.from('version'), Buffer.from('7.0.15'),
    Buffer.from('proto'), 2, Buffer.from('id'), c.id, Buffer.from('mode'), Buffer.from('standalone'),
    Buffer.from('role'), Buffer.from('replica'), Buffer.from('modules'), [],
  ];
};

const client: Handler = (ctx, c, argv) => {
  const sub = lower(argv[1]);
  c.lastCmd = `client|${sub}`;
  switch (sub) {
    case 'id':
      return argv.length === 2 ? c.id : arityError('client|id');
    case 'getname':
      if (argv.length !== 2) return arityError('client|getname');
      return c.name === '' ? null : Buffer.from(c.name, 'latin1');
    case 'setname':
      if (argv.length !== 3) return arityError('client|setname');
      if (!validName(argv[2])) return BAD_NAME;
      c.name = argv[2].toString('latin1');
      return OK;
    case 'info':
      return argv.length === 2 ? Buffer.from(c.describe() + '\n', 'latin1') : arityError('client|info');
    case 'list':
      return clientList(ctx, argv);
    case 'help':
      return argv.length === 2 ? CLIENT_HELP : arityError('client|help');
    default:
      return unknownSubcommand('client', argv[1]);
  }
};

// CLIENT LIST [TYPE normal|master|replica|pubsub] [ID id …]: every client here is a normal one.
function clientList(ctx: ServerContext, argv: Buffer[]): unknown {
  let ids: Set<number> | undefined;
  let none = false;
  if (argv.length > 2) {
    const opt = lower(argv[2]);
    if (opt === 'type' && argv.length === 4) {
      const t = lower(argv[3]);
      if (t !== 'normal' && t !== 'master' && t !== 'replica' && t !== 'slave' && t !== 'pubsub') {
        return errorReply(`ERR Unknown client type '${argv[3].toString()}'`);
      }
      none = t !== 'normal';
    } else if (opt === 'id' && argv.length >= 4) {
      ids = new Set();
      for (let i = 3; i < argv.length; i++) {
        const id = parseStrictInt(argv[i]);
        if (id === undefined || id <= 0) return { error: 'ERR Invalid client ID' };
        ids.add(id);
      }
    } else {
      return SYNTAX;
    }
  }
  let out = '';
  if (!none) for (const cl of ctx.clients()) if (ids === undefined || ids.has(cl.id)) out += cl.describe() + '\n';
  return Buffer.from(out, 'latin1');
}

const command: Handler = (_ctx, c, argv) => {
  if (argv.length === 1) return commandAll();
  const sub = lower(argv[1]);
  c.lastCmd = `command|${sub}`;
  switch (sub) {
    case 'count': return argv.length === 2 ? commandCount() : arityError('command|count');
    case 'info': return commandInfo(argv.slice(2));
    case 'docs': return commandDocs();
    case 'list': return commandList();
    case 'help': return argv.length === 2 ? COMMAND_HELP : arityError('command|help');
    default: return unknownSubcommand('command', argv[1]);
  }
};

// INFO [section …]: sections of our own, then the backend's, then Keyspace (which asks every shard).
const info: Handler = (ctx, _c, argv) => {
  const sel = selectSections(argv.slice(1));
  const sections: InfoSection[] = [];
  for (const s of ctx.ownInfo()) if (wants(sel, s[0])) sections.push(s);
  for (const s of ctx.backend.info()) if (wants(sel, s[0])) sections.push(s);
  if (!wants(sel, 'keyspace')) return renderInfo(sections);
  // While a snapshot loads the shards are busy with it: show the section without counts rather than
  // make INFO (used to watch the load) wait for them.
  if (ctx.backend.loading() || ctx.backend.syncing?.()) return renderInfo([...sections, ['Keyspace', []]]);
  return ctx.keyspace.keyspace().then(
    (fields) => renderInfo([...sections, ['Keyspace', fields]]),
    // A shard that cannot answer leaves the section empty rather than failing INFO.
    () => renderInfo([...sections, ['Keyspace', [] as InfoFields]]),
  );
};

/** Strings in a backend reply become bulk strings. */
function toBulk(v: unknown): unknown {
  if (typeof v === 'string') return Buffer.from(v);
  if (Array.isArray(v)) return v.map(toBulk);
  return v;
}

const time: Handler = () => {
  const us = BigInt(Date.now()) * 1000n + BigInt(Math.floor(performance.now() * 1000) % 1000);
  return [Buffer.from(String(us / 1_000_000n)), Buffer.from(String(us % 1_000_000n))];
};

const config: Handler = (ctx, c, argv) => {
  const sub = lower(argv[1]);
  c.lastCmd = `config|${sub}`;
  if (sub === 'get') return argv.length >= 3 ? configGet(ctx.config(), argv.slice(2)) : arityError('config|get');
  if (sub === 'set' || sub === 'rewrite' || sub === 'resetstat') {
    return errorReply(`ERR CONFIG ${sub.toUpperCase()} is not supported by parareplica's read server; ` +
      'change the option on the parareplica command line and restart it');
  }
  return unknownSubcommand('config', argv[1]);
};

export const serverCommands: ReadonlyMap<string, Handler> = new Map<string, Handler>([
  ['ping', ping],
  ['echo', (_x, _c, argv) => argv[1]],
  ['quit', (_x, c) => { c.closeAfterReply(); return OK; }],
  ['select', select],
  ['auth', auth],
  ['hello', hello],
  ['client', client],
  ['command', command],
  ['info', info],
  ['role', (ctx) => toBulk(ctx.backend.role())],
  ['time', time],
  ['lastsave', (ctx) => Math.floor(ctx.startedAtMs / 1000)],
  ['config', config],
  ['reset', (_x, c) => { c.db = 0; c.name = ''; return RESET; }],
  ['readonly', () => NO_CLUSTER],
  ['readwrite', () => NO_CLUSTER],
  ['shutdown', () => ({ error: "ERR SHUTDOWN is not available on parareplica's read server; stop the " +
    'parareplica process with SIGTERM instead' })],
]);
