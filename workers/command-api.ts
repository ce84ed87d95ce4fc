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

/**
 * Byte-wise comparison (memcmp, shorter first on a common prefix): -1, 0 or 1. A JS loop: inline
 * members and fields are short (≤ 64 bytes), and Buffer.compare's native call costs more.
 */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = a.length < b.length ? a.length : b.length;
  for (let i = 0; i < n; i++) {
    const x = a[i], y = b[i];
    if (x !== y) return x < y ? -1 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** True when a and b hold the same bytes (a JS loop, for short values: see compareBytes). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  const n = a.length;
  if (n !== b.length) return false;
  for (let i = n - 1; i >= 0; i--) if (a[i] !== b[i]) return false;   // members often share a prefix
  return true;
}
