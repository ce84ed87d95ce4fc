/**
 * Range operations on a shard's LevelDB: range reads merged with uncommitted overlay entries (used by
 * Keyspace.members() and scanMetas()), and the background reclaim of garbage ranges left by FLUSHDB,
 * FLUSHALL and deleted per-member collections (layout.ts describes the records).
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
