/**
 * Markers: pseudo-commands the router puts in front of a command inside a WRITE or TXN record to tell
 * the applier how to run it. Their names start with a NUL byte, which no Redis command name contains,
 * so they can never be confused with anything from the master's stream.
 *
 *   *2 $2 \0B $<id>                 the next command is FLUSHALL / FLUSHDB / SWAPDB inside a MULTI:
 *                                   a barrier with id (epoch for flushes) <id>
 *   *3 $2 \0S $<sub> $<dest>        the next command is a cross-shard exchange; this shard is a source:
 *                                   export its keys to shard <dest>
 *   *3 $2 \0D $<sub> $<s1,s2,…>     the next command is a cross-shard exchange; this shard is the
 *                                   destination: wait for the exports of shards s1, s2, … and apply
 *
 * <sub> numbers the exchanges of one record (0 outside MULTI): (record offset, sub) names an exchange.
 */
import { encodeCommand } from '../resp/encode.js';

export const MARK_BARRIER = 0x42;   // 'B'
export const MARK_SOURCE = 0x53;    // 'S'
export const MARK_DEST = 0x44;      // 'D'

export type Marker =
  | { kind: typeof MARK_BARRIER; id: number }
  | { kind: typeof MARK_SOURCE; sub: number; dest: number }
  | { kind: typeof MARK_DEST; sub: number; sources: number[] };

export function barrierMarker(id: number): Buffer {
  return encodeCommand([Buffer.from([0, MARK_BARRIER]), String(id)]);
}
export function sourceMarker(sub: number, dest: number): Buffer {
  return encodeCommand([Buffer.from([0, MARK_SOURCE]), String(sub), String(dest)]);
}
export function destMarker(sub: number, sources: number[]): Buffer {
  return encodeCommand([Buffer.from([0, MARK_DEST]), String(sub), sources.join(',')]);
}

/** True when argv[0] is a marker name. */
export function isMarker(name: Uint8Array): boolean {
  return name.length === 2 && name[0] === 0;
}

export function parseMarker(argv: readonly Buffer[]): Marker {
  const kind = argv[0][1];
  const n = (i: number): number => Number(argv[i].toString('latin1'));
  if (kind === MARK_BARRIER) return { kind, id: n(1) };
  if (kind === MARK_SOURCE) return { kind, sub: n(1), dest: n(2) };
  if (kind === MARK_DEST) return { kind, sub: n(1), sources: argv[2].toString('latin1').split(',').map(Number) };
  throw new Error(`internal: unknown ring marker ${kind}`);
}
