/**
 * Dispatch tables: lowercase command name → handler, for master writes and client reads.
 *
 * How a handler works with the Keyspace (see keyspace.ts for the full contract):
 *  - Resolve the key: `const r = ks.ref(db, key)` for writes (r.meta is null when absent; expired
 *    keys are NOT hidden: master semantics), `ks.lookup(db, key, nowMs)` for reads (null when absent
 *    or logically expired).
 *  - Validate everything first; on a Redis-level error call `ks.fail(message)` and change nothing.
 *  - Create: `ks.create(r, T_X, inlineValue)`. Change: mutate `r.meta` in place, then `ks.dirty(r)`.
 *    Expiry: `ks.setExpire(r, ms | -1)`. Delete: `ks.del(r)` (O(1) even for huge collections).
 *  - Grow past the listpack limits (INLINE_MAX_ENTRIES / INLINE_MAX_BYTES): `ks.toPerMember(r, extra)`
 *    then `ks.putMember(r, part, value)` for every element and set `r.meta.count`. Afterwards use
 *    `ks.getMember` / `putMember` / `delMember` (sync) and `for await (… of ks.members(r, range))`
 *    (async, merged with uncommitted writes). Keep `meta.count` current and `ks.del(r)` at zero.
 *  - Return a Promise only when the handler really awaited something.
 */
import type { WriteTable, ReadTable } from './keyspace.js';
import { stringWrites, stringReads } from './t_string.js';
import { keyWrites, keyReads } from './t_keys.js';
import { hashWrites, hashReads } from './t_hash.js';
import { setWrites, setReads } from './t_set.js';
import { zsetWrites, zsetReads } from './t_zset.js';
import { listWrites, listReads } from './t_list.js';
import { geoReads } from './t_geo.js';
import { setAlgebraReads } from './set_algebra.js';
import { zsetAlgebraReads } from './zset_algebra.js';
import { moveWrites, moveSpecs } from './t_move.js';
import { storeWrites, storeSpecs } from './t_store.js';
import type { CombineSpec } from './combine.js';
import { bitmapWrites, bitmapReads } from './t_bitmap.js';
import { sortReads } from './t_sort.js';
import { restoreWrites } from './t_restore.js';

function merge<T extends object>(...tables: T[]): T {
  const out = Object.create(null) as T;
  for (const t of tables) {
    for (const [k, v] of Object.entries(t)) {
      if (k in out) throw new Error(`command '${k}' is defined twice in the dispatch tables`);
      (out as Record<string, unknown>)[k] = v;
    }
  }
  return out;
}

export const writeCommands: WriteTable = merge(stringWrites, keyWrites, hashWrites, setWrites, zsetWrites, listWrites, moveWrites, storeWrites, bitmapWrites, restoreWrites);
export const readCommands: ReadTable = merge(stringReads, keyReads, hashReads, setReads, zsetReads, listReads, sortReads, bitmapReads, setAlgebraReads, zsetAlgebraReads, geoReads);

/** Moving and combining commands, by name: how each runs as a cross-shard exchange (exchange.ts). */
export const combineSpecs: Record<string, CombineSpec> = Object.assign(Object.create(null), moveSpecs, storeSpecs);
