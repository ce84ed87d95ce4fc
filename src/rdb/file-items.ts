/**
 * RDB items outside the keyspace that need more than a few lines (spec 5.1, 5.4, 5.8): the file
 * header's version, the old FUNCTION opcode of 7.0 release candidates, the CRC64 mismatch error.
 */
import { ParaError } from '../errors.js';
import { crc64Value, type Crc64State } from './crc64.js';
import type { RdbHandler } from './handler.js';
import type { FieldReader } from './lengths.js';
import * as T from './types.js';

/** The version from a complete 9-byte header at s: "REDIS" + 4 ASCII digits. */
export function readVersion(fr: FieldReader, buf: Buffer, s: number): number {
  if (buf.toString('latin1', s, s + 5) !== 'REDIS') fr.corrupt(s, 'not an RDB snapshot (no "REDIS" magic)');
  let v = 0;
  for (let i = s + 5; i < s + 9; i++) {
    const d = buf[i] - 0x30;
    if (d < 0 || d > 9) fr.corrupt(i, 'the RDB version is not 4 decimal digits');
    v = v * 10 + d;
  }
  if (v < T.MIN_RDB_VERSION || v > T.MAX_RDB_VERSION) {
    fr.corrupt(s + 5, `RDB version ${v} is outside the versions this parareplica reads (${T.MIN_RDB_VERSION}..${T.MAX_RDB_VERSION})`);
  }
  return v;
}

/** 0xF6 <string name> <string engine> <length has_desc> [<string desc>] <string code> (7.0-rc only). */
export function readOldFunction(
  fr: FieldReader, buf: Buffer, s: number, end: number, handler: RdbHandler, scratchA: Buffer, scratchB: Buffer,
): number {
  const ne = fr.stringEnd(buf, s + 1, end);
  if (ne < 0) return -1;
  const ee = fr.stringEnd(buf, ne, end);
  if (ee < 0) return -1;
  let q = fr.length(buf, ee, end);
  if (q < 0) return -1;
  if (fr.value !== 0) {
    q = fr.stringEnd(buf, q, end);
    if (q < 0) return -1;
  }
  const ce = fr.stringEnd(buf, q, end);
  if (ce < 0) return -1;
  if (handler.functionLib) {
    const name = Buffer.from(fr.string(buf, s + 1, scratchA));
    const engine = Buffer.from(fr.string(buf, ne, scratchB));
    const code = fr.string(buf, q, scratchB);
    const lib = Buffer.concat([Buffer.from('#!'), engine, Buffer.from(' name='), name, Buffer.from('\n'), code]);
    handler.functionLib(lib);
  }
  return ce;
}

/** The error for a stored CRC64 (at buf[at], `offset` in the stream) that differs from `crc`. */
export function crcMismatch(crc: Crc64State, buf: Buffer, at: number, offset: number): ParaError {
  const expected = buf.readBigUInt64LE(at).toString(16).padStart(16, '0');
  const actual = crc64Value(crc).toString(16).padStart(16, '0');
  return new ParaError(
    'PARAREPLICA_RDB_CORRUPT',
    `snapshot is corrupt: its CRC64 is ${actual} but the file says ${expected} (checked at byte ${offset}); ` +
      'the snapshot was damaged in transit or on the master\'s disk — resynchronise from the master',
    { offset, expected, actual },
  );
}
