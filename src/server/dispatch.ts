/**
 * Turns one client request (argv) into a reply value, checking it the way a Redis 7.0 replica does:
 *   unknown command → arity → write on a read-only replica (-READONLY) → loading (-LOADING) → run.
 * Connection and server commands are answered here (server-commands.ts); keyspace reads are routed to
 * the shards (keyspace.ts). A reply is either a value for RespWriter.value() or a Promise of one.
 */
import {
  lookupCommand, arityOk, keyIndexes, CMD_WRITE, CMD_READONLY, CMD_LOADING_OK, CMD_MOVABLE_KEYS, type CommandSpec,
} from '../router/command-table.js';
import type { ReadBackend } from './backend.js';
import type { KeyspaceReader } from './keyspace.js';
import { serverCommands, type ServerContext } from './server-commands.js';

/** What the dispatcher needs to know about (and may change on) the requesting client. */
export interface ClientView {
  readonly id: number;
  db: number;
  name: string;
  /** Full name of the last command ("get", "client|list"), for CLIENT LIST. */
  lastCmd: string;
  /** Reply to this request, then close the connection (QUIT). */
  closeAfterReply(): void;
  /** This client's CLIENT LIST line (without the trailing newline). */
  describe(): string;
}

export type Handler = (ctx: ServerContext, client: ClientView, argv: Buffer[]) => unknown;

export const OK = Object.freeze({ status: 'OK' });
const READONLY = Object.freeze({ error: "READONLY You can't write against a read only replica." });
const LOADING = Object.freeze({ error: 'LOADING Redis is loading the dataset in memory' });

/** Error replies are one line: CR and LF in client-supplied text become spaces. */
export function errorReply(text: string): { error: string } {
  return { error: /[\r\n]/.test(text) ? text.replace(/[\r\n]/g, ' ') : text };
}

/** The wrong-arity error, naming the command as Redis does ('get', 'client|setname'). */
export function arityError(fullName: string): { error: string } {
  return errorReply(`ERR wrong number of arguments for '${fullName}' command`);
}

/**
 * The unknown-command error: the name (at most 128 bytes) and then the arguments, each quoted and
 * followed by a space, until 128 bytes of arguments have been shown.
 */
export function unknownCommandError(argv: readonly Buffer[]): { error: string } {
  let args = '';
  for (let i = 1; i < argv.length && args.length < 128; i++) {
    args += `'${argv[i].toString().slice(0, 128 - args.length)}' `;
  }
  const name = argv[0].toString().slice(0, 128);
  return errorReply(`ERR unknown command '${name}', with args beginning with: ${args}`);
}

function unsupported(name: string): { error: string } {
  return errorReply(`ERR '${name}' is not supported by parareplica's read server`);
}

export class Dispatcher {
  constructor(private readonly backend: ReadBackend, private readonly keyspace: KeyspaceReader,
    private readonly ctx: ServerContext) {}

  execute(client: ClientView, argv: Buffer[]): unknown {
    const spec = lookupCommand(argv[0].toString('latin1'));
    if (spec === undefined) return unknownCommandError(argv);
    client.lastCmd = spec.name;
    if (!arityOk(spec, argv.length)) return arityError(spec.name);
    if (spec.flags & CMD_WRITE) return READONLY;
    if (!(spec.flags & CMD_LOADING_OK) && this.backend.loading()) return LOADING;
    const own = serverCommands.get(spec.name);
    if (own !== undefined) return own(this.ctx, client, argv);
    return this.keyspaceCommand(spec, client.db, argv);
  }

  private keyspaceCommand(spec: CommandSpec, db: number, argv: Buffer[]): unknown {
    const ks = this.keyspace;
    switch (spec.name) {
      case 'mget': return ks.mget(db, argv);
      case 'exists': case 'touch': return ks.exists(db, argv);
      case 'dbsize': return ks.dbsize(db, argv);
      case 'keys': return ks.keys(db, argv);
      case 'scan': return ks.scan(db, argv);
      default: break;
    }
    if (!(spec.flags & CMD_READONLY)) return unsupported(spec.name);
    // The common case (GET, HGET, ZRANGE…): one key, at argv[1].
    if (spec.firstKey === 1 && spec.lastKey === 1 && !(spec.flags & CMD_MOVABLE_KEYS)) {
      return ks.forward(this.backend.shardOf(argv[1]), db, argv);
    }
    const keyIdx = keyIndexes(spec, argv);
    if (keyIdx.length === 0) return unsupported(spec.name);
    const shard = keyIdx.length === 1 ? this.backend.shardOf(argv[keyIdx[0]]) : ks.shardOfKeys(argv, keyIdx);
    if (shard < 0) {
      return errorReply(`CROSSSLOT Keys in request don't hash to the same shard: parareplica serves '${spec.name}' ` +
        'only when all its keys live on one shard (give them a common {hash tag})');
    }
    return ks.forward(shard, db, argv);
  }
}
