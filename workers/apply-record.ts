/**
 * Applying one ring record of the master's stream to the shard store: WRITE and TXN payloads (RESP
 * commands, with SELECTs and the router's markers, src/router/markers.ts), barriers (FLUSHALL,
 * FLUSHDB, SWAPDB), full-sync records. The applier loop (applier.ts) owns grouping, commits, reads.
 *
 * Skipping (--skip-errors): a command that threw is identified by (record index in the group,
 * command index in the record); the loop discards the group, rewinds the ring and applies the group
 * again with that command in `skip`. Everything is deterministic, so the second pass reproduces the
 * first up to the skipped command.
 */
import { RecordKind, REC_F_LAST } from '../src/shm/layout.js';
import { applyLoadRecord } from './rdb_load.js';
import type { RingConsumer } from '../src/shm/ring.js';
import { ParaError } from '../src/errors.js';
import { isMarker, parseMarker, MARK_BARRIER, MARK_SOURCE, type Marker } from '../src/router/markers.js';
import type { ShardStore } from './shard-store.js';
import type { ExchangeEndpoint } from './exchange.js';

/** Per-group tallies the loop publishes after the commit. */
export interface GroupStats {
  ops: number; bytes: number; barriers: number; syncMarkers: number;
  /** Id of the last barrier applied (0 = none). */
  lastBarrier: number;
}

export function newStats(): GroupStats {
  return { ops: 0, bytes: 0, barriers: 0, syncMarkers: 0, lastBarrier: 0 };
}

/** Where a command failed: record index in the group and command index in the record (-1: whole record). */
export class ApplyFailure extends Error {
  constructor(readonly error: unknown, readonly command: number, readonly argv: Buffer[] | null) {
    super('apply failure');
  }
}

export interface RecordContext {
  store: ShardStore;
  exchange: ExchangeEndpoint;
  split(payload: Buffer): Buffer[][];
  /** Commands to skip in this record (indexes), from --skip-errors. */
  skip: ReadonlySet<number> | null;
  stats: GroupStats;
}

const lower = (b: Buffer): string => b.toString('latin1').toLowerCase();
const SELECT = Buffer.from('select', 'latin1');

/** True when command name `b` is `lower` (lowercase ASCII) in any case; no string allocated. */
function nameIs(b: Uint8Array, lower: Uint8Array): boolean {
  if (b.length !== lower.length) return false;
  for (let i = 0; i < b.length; i++) {
    let c = b[i];
    if (c >= 65 && c <= 90) c |= 0x20;
    if (c !== lower[i]) return false;
  }
  return true;
}

function smallInt(b: Buffer | undefined): number {
  const v = b === undefined ? NaN : Number(b.toString('latin1'));
  return Number.isInteger(v) && v >= 0 && v <= 0xfffe ? v : -1;
}

/** FLUSHALL / FLUSHDB / SWAPDB with barrier id `id` (the new epoch for flushes). */
export function applyBarrier(ctx: RecordContext, db: number, argv: Buffer[], id: number): void {
  const name = lower(argv[0]);
  if (name === 'flushall') ctx.store.flushAll(id);
  else if (name === 'flushdb') ctx.store.flushDb(db, id);
  else if (name === 'swapdb') {
    const a = smallInt(argv[1]), b = smallInt(argv[2]);
    if (a < 0 || b < 0) ctx.store.fail('ERR invalid first DB index');
    else ctx.store.swapDb(a, b);
  } else {
    throw new ParaError('PARAREPLICA_APPLY_FAILED', `internal: '${name}' was routed as a barrier`);
  }
  ctx.stats.barriers++;
  ctx.stats.lastBarrier = id;
}

/**
 * Apply the commands of a WRITE or TXN record. Throws ApplyFailure naming the command that failed.
 */
export async function applyCommands(ctx: RecordContext, ring: RingConsumer, offset: number): Promise<void> {
  let db = ring.db;
  let marker: Marker | null = null;
  let index = -1;
  for (const argv of ctx.split(ring.payload())) {
    if (isMarker(argv[0])) { marker = parseMarker(argv); continue; }
    if (nameIs(argv[0], SELECT)) { db = Number(argv[1].toString('latin1')); continue; }
    index++;
    const m = marker;
    marker = null;
    if (ctx.skip?.has(index)) continue;
    try {
      if (m === null) {
        const r = ctx.store.applyWrite(db, argv);
        if (r) await r;
      } else if (m.kind === MARK_BARRIER) {
        applyBarrier(ctx, db, argv, m.id);
      } else if (m.kind === MARK_SOURCE) {
        await ctx.exchange.source(offset, m.sub, m.dest, db, argv);
      } else {
        await ctx.exchange.dest(offset, m.sub, m.sources, db, argv);
      }
    } catch (e) {
      throw new ApplyFailure(e, index, argv);
    }
    ctx.stats.ops++;
  }
  ctx.stats.bytes += ring.payloadLen;
}


/** Apply one record of any stream kind except READ (the loop answers reads). */
export async function applyRecord(ctx: RecordContext, ring: RingConsumer): Promise<void> {
  const { store } = ctx;
  const offset = ring.offset;
  switch (ring.kind) {
    case RecordKind.WRITE: case RecordKind.TXN:
      await applyCommands(ctx, ring, offset);
      store.setApplied(offset);
      return;
    case RecordKind.BARRIER: {
      if (ctx.skip?.has(0)) { store.setApplied(offset); return; }
      const [argv] = ctx.split(ring.payload());
      try {
        applyBarrier(ctx, ring.db, argv, ring.aux);
      } catch (e) {
        throw new ApplyFailure(e, 0, argv);
      }
      store.setApplied(offset);
      return;
    }
    case RecordKind.BEACON:
      if (ring.payloadLen > 0) store.setApplied(offset, ring.payload().toString('latin1'));
      else store.setApplied(offset);
      return;
    case RecordKind.SYNC_BEGIN:
      store.beginLoad(ring.aux);
      ctx.stats.lastBarrier = ring.aux; ctx.stats.syncMarkers++;
      return;
    case RecordKind.RDB_ENTRY: {
      if (ctx.skip?.has(0)) return;   // --skip-errors: this key's record failed
      const [argv] = ctx.split(ring.payload());
      try {
        const r = applyLoadRecord(store, ring.db, ring.aux, ring.flags, argv);
        if (r) await r;
      } catch (e) {
        throw new ApplyFailure(e, 0, argv);
      }
      if (ring.flags & REC_F_LAST) ctx.stats.ops++;
      return;
    }
    case RecordKind.SYNC_END:
      store.endLoad();
      store.setApplied(offset, ring.payload().toString('latin1'));
      ctx.stats.lastBarrier = ring.aux; ctx.stats.syncMarkers++;
      return;
    case RecordKind.SYNC_COMMIT:
      store.commitLoad();
      ctx.stats.syncMarkers++;
      return;
    case RecordKind.SYNC_ABORT:
      store.abortLoad();
      ctx.stats.lastBarrier = ring.aux; ctx.stats.syncMarkers++;
      return;
    default:
      throw new ParaError('PARAREPLICA_APPLY_FAILED', `internal: unknown ring record kind ${ring.kind}`);
  }
}
