/**
 * Portable values: a whole Redis value (type, expiry, contents) as plain data, independent of how a
 * shard stores it. They are what a cross-shard exchange carries from a source shard to a destination
 * (RENAME, SMOVE, *STORE…), what the combining commands compute on, and what RESTORE / snapshot
 * loading write.
 *
 *   string  { type: T_STRING, str }
 *   list    { type: T_LIST,   items: elements head → tail }
 *   set     { type: T_SET,    items: members (any order) }
 *   hash    { type: T_HASH,   items: [f1, v1, f2, v2, …] }
 *   zset    { type: T_ZSET,   items: members, scores: parallel scores, ascending (score, member) }
 *
 * Reading goes through the shard's own read handlers with "now" = -1 (master semantics: a key whose
 * TTL has passed is still there until the master's DEL); writing goes through its write handlers, so
 * the storage layouts (inline / per-member) stay the business of the type modules.
 */
import type { ShardStore } from './shard-store.js';
import type { Keyspace } from './keyspace-core.js';
import { T_STRING, T_LIST, T_SET, T_ZSET, T_HASH, T_STREAM, TYPE_NAMES } from './meta.js';
import { formatDouble17g } from '../src/util/numbers.js';
import { ParaError } from '../src/errors.js';
import type { MaybePromise } from './sync_or_async.js';

export interface Portable {
  type: number;
  /** Absolute unix ms, or -1 for none. */
  expireMs: number;
  str?: Buffer;
  items?: Buffer[];
  scores?: number[];
}

/** Resolves keys of any shard to portable values (null = no such key) for the combining commands. */
export interface KeyView {
  get(db: number, key: Buffer): MaybePromise<Portable | null>;
}

/** Elements per write command when a value is written back (keeps argv arrays small). */
const CHUNK = 512;
/** A time before any expiry: read handlers never hide a key as expired with it. */
const NEVER = -1;

const B = (s: string): Buffer => Buffer.from(s, 'latin1');
const CMD = {
  get: B('get'), lrange: B('lrange'), smembers: B('smembers'), hgetall: B('hgetall'), zrange: B('zrange'),
  rpush: B('rpush'), sadd: B('sadd'), hset: B('hset'), zadd: B('zadd'), set: B('set'), pexpireat: B('pexpireat'),
  zero: B('0'), minus1: B('-1'), withscores: B('withscores'),
};

function store(ks: Keyspace): ShardStore {
  return ks as ShardStore;   // handlers receive the ShardStore as its Keyspace base
}

function unwrap(v: unknown, what: string): Buffer[] {
  if (Array.isArray(v)) return v as Buffer[];
  throw new ParaError('PARAREPLICA_APPLY_FAILED', `internal: reading ${what} for an exchange returned ${JSON.stringify(v)}`);
}

function parseScore(b: Buffer): number {
  const s = b.toString('latin1');
  if (s === 'inf' || s === '+inf') return Infinity;
  if (s === '-inf') return -Infinity;
  return Number(s);
}

/**
 * The value of `key` in `db` as a Portable (null when the key does not exist), including writes not
 * yet committed in this group.
 */
export function readPortable(ks: Keyspace, db: number, key: Buffer): MaybePromise<Portable | null> {
  const r = ks.lookup(db, key, NEVER);
  if (r === null) return null;
  const m = r.meta!;
  const expireMs = m.expireMs;
  const st = store(ks);
  const finish = (raw: unknown, build: (a: Buffer[]) => Portable): MaybePromise<Portable> =>
    raw instanceof Promise ? raw.then((v) => build(unwrap(v, TYPE_NAMES[m.type]))) : build(unwrap(raw, TYPE_NAMES[m.type]));
  switch (m.type) {
    case T_STRING:
      return { type: T_STRING, expireMs, str: m.value as Buffer };
    case T_LIST:
      return finish(st.read(db, [CMD.lrange, key, CMD.zero, CMD.minus1], NEVER), (items) => ({ type: T_LIST, expireMs, items }));
    case T_SET:
      return finish(st.read(db, [CMD.smembers, key], NEVER), (items) => ({ type: T_SET, expireMs, items }));
    case T_HASH:
      return finish(st.read(db, [CMD.hgetall, key], NEVER), (items) => ({ type: T_HASH, expireMs, items }));
    case T_ZSET:
      return finish(st.read(db, [CMD.zrange, key, CMD.zero, CMD.minus1, CMD.withscores], NEVER), (flat) => {
        const items: Buffer[] = new Array(flat.length >> 1);
        const scores: number[] = new Array(flat.length >> 1);
        for (let i = 0, j = 0; i < flat.length; i += 2, j++) { items[j] = flat[i]; scores[j] = parseScore(flat[i + 1]); }
        return { type: T_ZSET, expireMs, items, scores };
      });
    default:
      throw new ParaError('PARAREPLICA_UNSUPPORTED_COMMAND', `cannot move or combine a value of type ${TYPE_NAMES[m.type] ?? m.type} yet`, { type: m.type });
  }
}

/** Number of elements of a portable value (string: 1). */
export function portableSize(p: Portable): number {
  if (p.type === T_STRING) return 1;
  return p.type === T_HASH ? p.items!.length >> 1 : p.items!.length;
}

/**
 * Replace whatever `key` holds in `db` with `p` (null or an empty collection: delete the key). The
 * expiry comes from `expireMs` when given, else from p.expireMs. Returns a Promise only when a write
 * handler had to wait.
 */
export function writePortable(ks: Keyspace, db: number, key: Buffer, p: Portable | null, expireMs?: number): MaybePromise<void> {
  const r = ks.ref(db, key);
  ks.del(r);
  if (p === null) return;
  if (p.type !== T_STRING && portableSize(p) === 0) return;
  const st = store(ks);
  const steps: Buffer[][] = [];
  switch (p.type) {
    case T_STRING: steps.push([CMD.set, key, p.str!]); break;
    case T_LIST: chunked(steps, CMD.rpush, key, p.items!, 1); break;
    case T_SET: chunked(steps, CMD.sadd, key, p.items!, 1); break;
    case T_HASH: chunked(steps, CMD.hset, key, p.items!, 2); break;
    case T_ZSET: {
      const flat: Buffer[] = new Array(p.items!.length * 2);
      for (let i = 0; i < p.items!.length; i++) { flat[2 * i] = B(formatDouble17g(p.scores![i])); flat[2 * i + 1] = p.items![i]; }
      chunked(steps, CMD.zadd, key, flat, 2);
      break;
    }
    case T_STREAM:
    default:
      throw new ParaError('PARAREPLICA_UNSUPPORTED_COMMAND', `cannot write a value of type ${TYPE_NAMES[p.type] ?? p.type} yet`, { type: p.type });
  }
  const exp = expireMs ?? p.expireMs;
  if (exp !== -1) steps.push([CMD.pexpireat, key, B(String(exp))]);
  return runSteps(st, db, steps, 0);
}

function chunked(out: Buffer[][], name: Buffer, key: Buffer, flat: Buffer[], stride: number): void {
  const n = CHUNK * stride;
  for (let i = 0; i < flat.length; i += n) out.push([name, key, ...flat.slice(i, i + n)]);
}

function runSteps(st: ShardStore, db: number, steps: Buffer[][], from: number): MaybePromise<void> {
  for (let i = from; i < steps.length; i++) {
    const r = st.applyWrite(db, steps[i]);
    if (r instanceof Promise) return r.then(() => runSteps(st, db, steps, i + 1));
  }
}
