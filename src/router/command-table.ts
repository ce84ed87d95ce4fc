/**
 * The command table: for every command a Redis 7.0 master can put in its replication stream, and every
 * command a client may send to the read server, its arity, flags and where its keys are.
 *
 * Arity and key positions follow Redis's conventions (COMMAND INFO): arity N > 0 means exactly N words
 * including the name, -N means at least N. firstKey/lastKey/step locate the keys (lastKey -1 = the last
 * argument, -2 = the one before it). Commands whose keys cannot be found that way (ZUNIONSTORE numkeys,
 * SORT … STORE, XREAD…) carry CMD_MOVABLE_KEYS and a `keys` function.
 */

import { parseSortArgs } from './sort-args.js';

export const CMD_WRITE = 1 << 0;        // modifies the dataset: rejected with -READONLY on the read server
export const CMD_READONLY = 1 << 1;     // reads the dataset
export const CMD_BARRIER = 1 << 2;      // touches the whole database (FLUSHALL, FLUSHDB, SWAPDB): an epoch barrier
export const CMD_SPLIT = 1 << 3;        // acts on each key independently: split per shard (DEL, MSET…)
export const CMD_MOVABLE_KEYS = 1 << 4; // keys found by `keys()`, not by firstKey/lastKey/step
export const CMD_NOKEY_STREAM = 1 << 5; // stream control with no data effect (ping, REPLCONF, PUBLISH…)
export const CMD_TXN = 1 << 6;          // MULTI / EXEC / DISCARD
export const CMD_SELECT = 1 << 7;       // SELECT
export const CMD_LOADING_OK = 1 << 8;   // allowed on the read server while loading
export const CMD_CONNECTION = 1 << 9;   // connection/server commands answered by the read server itself
export const CMD_EXCHANGE = 1 << 10;    // moves or combines values between keys: a cross-shard exchange
                                        // when its keys live on different shards (exchange-keys.ts)

export interface CommandSpec {
  readonly name: string;      // lowercase
  readonly arity: number;
  readonly flags: number;
  readonly firstKey: number;
  readonly lastKey: number;
  readonly step: number;
  /** Word pairs per key group for CMD_SPLIT (MSET: 2, DEL: 1). */
  readonly splitStride: number;
  /** For CMD_MOVABLE_KEYS: the indexes of the key arguments in argv (argv[0] is the name). */
  readonly keys?: (argv: readonly Buffer[]) => number[];
}

const W = CMD_WRITE, R = CMD_READONLY, B = CMD_BARRIER, S = CMD_SPLIT, M = CMD_MOVABLE_KEYS;
const N = CMD_NOKEY_STREAM, T = CMD_TXN, L = CMD_LOADING_OK, C = CMD_CONNECTION, X = CMD_EXCHANGE;

// name, arity, flags, firstKey, lastKey, step[, splitStride]
type Row = [string, number, number, number, number, number, number?];
const ROWS: Row[] = [
  // strings
  ['set', -3, W, 1, 1, 1], ['setnx', 3, W, 1, 1, 1], ['setex', 4, W, 1, 1, 1], ['psetex', 4, W, 1, 1, 1],
  ['getset', 3, W, 1, 1, 1], ['getdel', 2, W, 1, 1, 1], ['getex', -2, W, 1, 1, 1],
  ['append', 3, W, 1, 1, 1], ['setrange', 4, W, 1, 1, 1], ['incr', 2, W, 1, 1, 1], ['decr', 2, W, 1, 1, 1],
  ['incrby', 3, W, 1, 1, 1], ['decrby', 3, W, 1, 1, 1], ['incrbyfloat', 3, W, 1, 1, 1],
  ['mset', -3, W | S, 1, -1, 2, 2], ['msetnx', -3, W | S, 1, -1, 2, 2], ['setbit', 4, W, 1, 1, 1],
  ['bitfield', -2, W, 1, 1, 1], ['bitop', -4, W | X, 2, -1, 1],
  ['get', 2, R, 1, 1, 1], ['mget', -2, R, 1, -1, 1], ['strlen', 2, R, 1, 1, 1], ['getrange', 4, R, 1, 1, 1],
  ['substr', 4, R, 1, 1, 1], ['getbit', 3, R, 1, 1, 1], ['bitcount', -2, R, 1, 1, 1], ['bitpos', -3, R, 1, 1, 1],
  ['bitfield_ro', -2, R, 1, 1, 1], ['lcs', -3, R, 1, 2, 1],
  // generic keyspace
  ['del', -2, W | S, 1, -1, 1, 1], ['unlink', -2, W | S, 1, -1, 1, 1], ['touch', -2, R | S, 1, -1, 1, 1],
  ['expire', -3, W, 1, 1, 1], ['pexpire', -3, W, 1, 1, 1], ['expireat', -3, W, 1, 1, 1],
  ['pexpireat', -3, W, 1, 1, 1], ['persist', 2, W, 1, 1, 1],
  ['rename', 3, W | X, 1, 2, 1], ['renamenx', 3, W | X, 1, 2, 1], ['copy', -3, W | X, 1, 2, 1], ['move', 3, W, 1, 1, 1],
  ['restore', -4, W, 1, 1, 1], ['sort', -2, W | M | X, 1, 1, 1], ['sort_ro', -2, R, 1, 1, 1],
  ['exists', -2, R, 1, -1, 1], ['type', 2, R, 1, 1, 1], ['ttl', 2, R, 1, 1, 1], ['pttl', 2, R, 1, 1, 1],
  ['expiretime', 2, R, 1, 1, 1], ['pexpiretime', 2, R, 1, 1, 1], ['dump', 2, R, 1, 1, 1],
  ['object', -2, R, 2, 2, 1], ['keys', 2, R, 0, 0, 0], ['scan', -2, R, 0, 0, 0], ['randomkey', 1, R, 0, 0, 0],
  ['dbsize', 1, R, 0, 0, 0],
  // whole-database barriers
  ['flushall', -1, W | B, 0, 0, 0], ['flushdb', -1, W | B, 0, 0, 0], ['swapdb', 3, W | B, 0, 0, 0],
  // hashes
  ['hset', -4, W, 1, 1, 1], ['hmset', -4, W, 1, 1, 1], ['hsetnx', 4, W, 1, 1, 1], ['hdel', -3, W, 1, 1, 1],
  ['hincrby', 4, W, 1, 1, 1], ['hincrbyfloat', 4, W, 1, 1, 1],
  ['hget', 3, R, 1, 1, 1], ['hmget', -3, R, 1, 1, 1], ['hgetall', 2, R, 1, 1, 1], ['hlen', 2, R, 1, 1, 1],
  ['hexists', 3, R, 1, 1, 1], ['hkeys', 2, R, 1, 1, 1], ['hvals', 2, R, 1, 1, 1], ['hstrlen', 3, R, 1, 1, 1],
  ['hrandfield', -2, R, 1, 1, 1], ['hscan', -3, R, 1, 1, 1],
  // lists
  ['lpush', -3, W, 1, 1, 1], ['rpush', -3, W, 1, 1, 1], ['lpushx', -3, W, 1, 1, 1], ['rpushx', -3, W, 1, 1, 1],
  ['lpop', -2, W, 1, 1, 1], ['rpop', -2, W, 1, 1, 1], ['lset', 4, W, 1, 1, 1], ['linsert', 5, W, 1, 1, 1],
  ['lrem', 4, W, 1, 1, 1], ['ltrim', 4, W, 1, 1, 1], ['lmove', 5, W | X, 1, 2, 1], ['rpoplpush', 3, W | X, 1, 2, 1],
  ['blpop', -3, W, 1, -2, 1], ['brpop', -3, W, 1, -2, 1], ['blmove', 6, W, 1, 2, 1], ['brpoplpush', 4, W, 1, 2, 1],
  ['lmpop', -4, W | M, 0, 0, 0], ['blmpop', -5, W | M, 0, 0, 0],
  ['lrange', 4, R, 1, 1, 1], ['llen', 2, R, 1, 1, 1], ['lindex', 3, R, 1, 1, 1], ['lpos', -3, R, 1, 1, 1],
  // sets
  ['sadd', -3, W, 1, 1, 1], ['srem', -3, W, 1, 1, 1], ['spop', -2, W, 1, 1, 1], ['smove', 4, W | X, 1, 2, 1],
  ['sinterstore', -3, W | X, 1, -1, 1], ['sunionstore', -3, W | X, 1, -1, 1], ['sdiffstore', -3, W | X, 1, -1, 1],
  ['smembers', 2, R, 1, 1, 1], ['scard', 2, R, 1, 1, 1], ['sismember', 3, R, 1, 1, 1], ['smismember', -3, R, 1, 1, 1],
  ['srandmember', -2, R, 1, 1, 1], ['sinter', -2, R, 1, -1, 1], ['sunion', -2, R, 1, -1, 1], ['sdiff', -2, R, 1, -1, 1],
  ['sintercard', -3, R | M, 0, 0, 0], ['sscan', -3, R, 1, 1, 1],
  // sorted sets
  ['zadd', -4, W, 1, 1, 1], ['zincrby', 4, W, 1, 1, 1], ['zrem', -3, W, 1, 1, 1],
  ['zremrangebyscore', 4, W, 1, 1, 1], ['zremrangebyrank', 4, W, 1, 1, 1], ['zremrangebylex', 4, W, 1, 1, 1],
  ['zpopmin', -2, W, 1, 1, 1], ['zpopmax', -2, W, 1, 1, 1], ['bzpopmin', -3, W, 1, -2, 1], ['bzpopmax', -3, W, 1, -2, 1],
  ['zmpop', -4, W | M, 0, 0, 0], ['bzmpop', -5, W | M, 0, 0, 0], ['zrangestore', -5, W | X, 1, 2, 1],
  ['zunionstore', -4, W | M | X, 1, 1, 1], ['zinterstore', -4, W | M | X, 1, 1, 1], ['zdiffstore', -4, W | M | X, 1, 1, 1],
  ['zrange', -4, R, 1, 1, 1], ['zrevrange', -4, R, 1, 1, 1], ['zrangebyscore', -4, R, 1, 1, 1],
  ['zrevrangebyscore', -4, R, 1, 1, 1], ['zrangebylex', -4, R, 1, 1, 1], ['zrevrangebylex', -4, R, 1, 1, 1],
  ['zscore', 3, R, 1, 1, 1], ['zmscore', -3, R, 1, 1, 1], ['zcard', 2, R, 1, 1, 1], ['zcount', 4, R, 1, 1, 1],
  ['zlexcount', 4, R, 1, 1, 1], ['zrank', 3, R, 1, 1, 1], ['zrevrank', 3, R, 1, 1, 1], ['zscan', -3, R, 1, 1, 1],
  ['zrandmember', -2, R, 1, 1, 1], ['zunion', -3, R | M, 0, 0, 0], ['zinter', -3, R | M, 0, 0, 0],
  ['zdiff', -3, R | M, 0, 0, 0], ['zintercard', -3, R | M, 0, 0, 0],
  // geo (GEOADD arrives as zadd; the STORE forms are writes)
  ['geoadd', -5, W, 1, 1, 1], ['georadius', -6, W | M | X, 1, 1, 1], ['georadiusbymember', -5, W | M | X, 1, 1, 1],
  ['geosearchstore', -8, W | X, 1, 2, 1], ['geopos', -2, R, 1, 1, 1], ['geodist', -4, R, 1, 1, 1],
  ['geohash', -2, R, 1, 1, 1], ['geosearch', -7, R, 1, 1, 1], ['georadius_ro', -6, R, 1, 1, 1],
  ['georadiusbymember_ro', -5, R, 1, 1, 1],
  // hyperloglog, streams
  ['pfadd', -2, W, 1, 1, 1], ['pfmerge', -2, W, 1, -1, 1], ['pfcount', -2, R, 1, -1, 1], ['pfdebug', 3, W, 2, 2, 1],
  ['xadd', -5, W, 1, 1, 1], ['xtrim', -4, W, 1, 1, 1], ['xdel', -3, W, 1, 1, 1], ['xack', -4, W, 1, 1, 1],
  ['xclaim', -6, W, 1, 1, 1], ['xautoclaim', -6, W, 1, 1, 1], ['xsetid', -3, W, 1, 1, 1],
  ['xgroup', -2, W, 2, 2, 1], ['xreadgroup', -7, W | M, 0, 0, 0],
  ['xrange', -4, R, 1, 1, 1], ['xrevrange', -4, R, 1, 1, 1], ['xlen', 2, R, 1, 1, 1], ['xread', -4, R | M, 0, 0, 0],
  ['xinfo', -2, R, 2, 2, 1], ['xpending', -3, R, 1, 1, 1],
  // stream control, transactions, scripting effects that never carry data
  ['ping', -1, N | L | C, 0, 0, 0], ['replconf', -1, N, 0, 0, 0], ['publish', 3, N, 0, 0, 0],
  ['spublish', 3, N, 1, 1, 1], ['select', 2, CMD_SELECT | L | C, 0, 0, 0],
  ['multi', 1, T | L, 0, 0, 0], ['exec', 1, T | L, 0, 0, 0], ['discard', 1, T | L, 0, 0, 0],
  ['function', -2, W, 0, 0, 0], ['script', -2, N, 0, 0, 0], ['eval', -3, W | M, 0, 0, 0],
  ['evalsha', -3, W | M, 0, 0, 0], ['fcall', -3, W | M, 0, 0, 0],
  // connection and server commands the read server answers itself
  ['echo', 2, L | C, 0, 0, 0], ['quit', -1, L | C, 0, 0, 0], ['hello', -1, L | C, 0, 0, 0],
  ['client', -2, L | C, 0, 0, 0], ['command', -1, L | C, 0, 0, 0], ['info', -1, L | C, 0, 0, 0],
  ['role', 1, L | C, 0, 0, 0], ['auth', -2, L | C, 0, 0, 0], ['config', -2, L | C, 0, 0, 0],
  ['time', 1, L | C, 0, 0, 0], ['lastsave', 1, L | C, 0, 0, 0], ['debug', -2, C, 0, 0, 0],
  ['reset', 1, L | C, 0, 0, 0], ['readonly', 1, L | C, 0, 0, 0], ['readwrite', 1, L | C, 0, 0, 0],
  ['wait', 3, C, 0, 0, 0], ['save', 1, W | C, 0, 0, 0], ['bgsave', -1, W | C, 0, 0, 0],
  ['replicaof', 3, W | C, 0, 0, 0], ['slaveof', 3, W | C, 0, 0, 0], ['shutdown', -1, L | C, 0, 0, 0],
];

const TABLE = new Map<string, CommandSpec>();
for (const [name, arity, flags, firstKey, lastKey, step, splitStride] of ROWS) {
  TABLE.set(name, { name, arity, flags, firstKey, lastKey, step, splitStride: splitStride ?? 1 });
}

/** Keys of ZUNIONSTORE dst numkeys k1 … (and ZINTERSTORE, ZDIFFSTORE): the destination and the sources. */
function numkeysAt(numkeysIndex: number, leading: number[]) {
  return (argv: readonly Buffer[]): number[] => {
    const n = Number(argv[numkeysIndex]?.toString() ?? 'NaN');
    const out = [...leading];
    if (!Number.isInteger(n) || n < 0) return out;
    for (let i = 0; i < n && numkeysIndex + 1 + i < argv.length; i++) out.push(numkeysIndex + 1 + i);
    return out;
  };
}
function patch(name: string, keys: (argv: readonly Buffer[]) => number[]): void {
  const spec = TABLE.get(name);
  if (spec) TABLE.set(name, { ...spec, keys });
}
patch('zunionstore', numkeysAt(2, [1]));
patch('zinterstore', numkeysAt(2, [1]));
patch('zdiffstore', numkeysAt(2, [1]));
patch('zunion', numkeysAt(1, []));
patch('zinter', numkeysAt(1, []));
patch('zdiff', numkeysAt(1, []));
patch('sintercard', numkeysAt(1, []));
patch('zintercard', numkeysAt(1, []));
patch('lmpop', numkeysAt(1, []));
patch('zmpop', numkeysAt(1, []));
patch('sort', (argv) => {
  const a = parseSortArgs(argv);
  return 'error' in a || a.store < 0 ? [1] : [1, a.store];
});

/** Looks a command up by name (any case). Returns undefined for commands this version does not know. */
export function lookupCommand(name: string | Buffer): CommandSpec | undefined {
  const s = typeof name === 'string' ? name : name.toString('latin1');
  return TABLE.get(s) ?? TABLE.get(s.toLowerCase());
}

/** True when argc (including the name) satisfies the command's arity. */
export function arityOk(spec: CommandSpec, argc: number): boolean {
  return spec.arity >= 0 ? argc === spec.arity : argc >= -spec.arity;
}

/** Indexes into argv of every key argument (for commands with fixed key positions or a `keys` function). */
export function keyIndexes(spec: CommandSpec, argv: readonly Buffer[]): number[] {
  if (spec.keys) return spec.keys(argv);
  if (spec.firstKey <= 0) return [];
  const last = spec.lastKey < 0 ? argv.length + spec.lastKey : spec.lastKey;
  const out: number[] = [];
  for (let i = spec.firstKey; i <= last && i < argv.length; i += spec.step) out.push(i);
  return out;
}

export function allCommands(): IterableIterator<CommandSpec> {
  return TABLE.values();
}
