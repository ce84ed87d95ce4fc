/**
 * What the command modules (t_*.ts, zset_*.ts, list_*.ts) share besides the Keyspace itself: handler
 * and dispatch-table types, range options, reply constants and Redis error texts.
 */
import type { Keyspace } from './keyspace-core.js';

/** Write handler: applies argv (argv[0] = command name). Report a Redis-level failure with ks.fail(). */
export type WriteHandler = (ks: Keyspace, db: number, argv: Buffer[]) => void | Promise<void>;
/** Read handler: returns the reply as Buffer | number | null | Array | {error} | {status}. */
export type ReadHandler = (ks: Keyspace, db: number, argv: Buffer[], nowMs: number) => unknown | Promise<unknown>;
export type WriteTable = Record<string, WriteHandler>;
export type ReadTable = Record<string, ReadHandler>;

export interface RangeOptions {
  /** inclusive lower bound on the member part */ gte?: Buffer;
  /** exclusive upper bound on the member part */ lt?: Buffer;
  reverse?: boolean;
  /** maximum number of entries yielded */ limit?: number;
}

export const WRONGTYPE = Object.freeze({ error: 'WRONGTYPE Operation against a key holding the wrong kind of value' });
export const OK = Object.freeze({ status: 'OK' });
export const ERR_NOT_INT = 'ERR value is not an integer or out of range';
export const ERR_SYNTAX = 'ERR syntax error';
export const ERR_OVERFLOW = 'ERR increment or decrement would overflow';
export const ERR_NOT_FLOAT = 'ERR value is not a valid float';
export const ERR_NAN_INF = 'ERR increment would produce NaN or Infinity';
/** Shared empty value (e.g. for per-member set records). */
export const EMPTY = Buffer.alloc(0);
export function arityError(name: string): { error: string } {
  return { error: `ERR wrong number of arguments for '${name}' command` };
}
