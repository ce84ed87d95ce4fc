/**
 * Range operations on a shard's LevelDB: range reads merged with uncommitted overlay entries (used by
 * Keyspace.members() and scanMetas()), and the background reclaim of garbage ranges left by FLUSHDB,
 * FLUSHALL and deleted per-member collections (layout.ts describes the records), and raw access
 * to a chained batch for commit().
 */
import type { ClassicLevel } from 'classic-level';
import { GARBAGE_PREFIX, GARBAGE_END, Garbage, packr } from './layout.js';

/** An uncommitted overlay entry at LevelDB key `k`: its value, or null = deleted. */
export interface OverlayEntry<T> { k: Buffer; v: T | null }

/**
 * Merge the LevelDB range [gte, lt) with overlay entries (overlay wins; null = deleted), in bytewise
 * key order (reverse if asked). Sorts `ov` in place. Yields [full LevelDB key, value].
 */
export async function* mergeRange<T>(db: ClassicLevel<Buffer, Buffer>, gte: Buffer, lt: Buffer, reverse: boolean,
  ov: Array<OverlayEntry<T>>, decode: (raw: Buffer) => T): AsyncGenerator<[Buffer, T]> {
  const dir = reverse ? -1 : 1;
  ov.sort((a, b) => dir * Buffer.compare(a.k, b.k));
  let oi = 0;
  const it = db.iterator({ gte, lt, reverse });
  try {
    for (;;) {
      const chunk = await it.nextv(128);
      if (chunk.length === 0) break;
      for (const [k, raw] of chunk) {
        while (oi < ov.length && dir * Buffer.compare(ov[oi].k, k) < 0) {
          const e = ov[oi++];
          if (e.v !== null) yield [e.k, e.v];
        }
        if (oi < ov.length && Buffer.compare(ov[oi].k, k) === 0) {
          const e = ov[oi++];
          if (e.v !== null) yield [e.k, e.v];
        } else {
          yield [k, decode(raw)];
        }
      }
    }
  } finally {
    await it.close();
  }
  while (oi < ov.length) {
    const e = ov[oi++];
    if (e.v !== null) yield [e.k, e.v];
  }
}

/**
 * Delete up to `maxKeys` records of the oldest garbage range. Returns true if garbage remains.
 * Crash-safe: progress and deletions go in one batch.
 */
export async function reclaimStep(db: ClassicLevel<Buffer, Buffer>, maxKeys: number): Promise<boolean> {
  const head = await db.iterator({ gte: GARBAGE_PREFIX, lt: GARBAGE_END, limit: 2 }).all();
  if (head.length === 0) return false;
  const [gk, gv] = head[0];
  const g = packr.unpack(gv) as Garbage;
  const keys = await db.keys({ gte: Buffer.from(g.gte), lt: Buffer.from(g.lt), limit: maxKeys }).all();
  const batch = db.batch();
  for (const k of keys) batch.del(k);
  const more = keys.length === maxKeys;
  if (more) batch.put(gk, packr.pack({ gte: Buffer.concat([keys[keys.length - 1], Buffer.from([0])]), lt: g.lt }));
  else batch.del(gk);
  await batch.write();
  return more || head.length > 1;
}

/** The data operations of a chained batch: see rawBatch(). */
export interface RawBatch { _put(key: Buffer, value: Buffer): void; _del(key: Buffer): void }
export type Batch = ReturnType<ClassicLevel<Buffer, Buffer>['batch']>;

/**
 * Data puts and deletes go straight to classic-level's native batch (its _put/_del), skipping
 * abstract-level's per-operation bookkeeping (an options object, encoding lookups, hook and 'write'
 * event plumbing): about a tenth of the commit cost. Equivalent here: keys and values are Buffers
 * with the 'buffer' encodings, and nothing registers prewrite hooks or 'write' listeners on a shard
 * database; if something ever does (or wraps put/del on the batch, as a test does to count puts),
 * the public API is used. commit() always adds the state record
 * through the public API, so write() never sees an empty batch.
 */
export function rawBatch(db: ClassicLevel<Buffer, Buffer>, batch: Batch): RawBatch {
  const b = batch as unknown as Partial<RawBatch>;
  if (db.listenerCount('write') === 0 && (db.hooks.prewrite as { noop?: boolean }).noop === true &&
      typeof b._put === 'function' && typeof b._del === 'function' &&
      !Object.prototype.hasOwnProperty.call(batch, 'put') && !Object.prototype.hasOwnProperty.call(batch, 'del')) {
    return b as RawBatch;
  }
  return { _put: (k, v) => { batch.put(k, v); }, _del: (k) => { batch.del(k); } };
}
