/**
 * The low-water mark (architecture invariant 4, "honest ACKs"): the highest offset such that every
 * command up to it is applied AND committed to LevelDB by every shard.
 *
 * For each shard s, with c = its committed offset (published after each batch) and r = the offset of
 * the last record routed to s:
 *   c ≥ r  → s holds everything routed to it; it does not hold the mark below the router's safe offset
 *            (the last command boundary outside MULTI that was fully routed).
 *   c < r  → s is still working; the mark cannot pass c.
 * The mark is the minimum over shards. Reading a stale (older) c only lowers the result: never unsafe.
 */
import { C_COMMITTED_OFFSET, type SharedState } from '../shm/layout.js';
import type { Router } from '../router/router.js';

export function lowWaterMark(shared: SharedState, router: Router): number {
  const safe = router.safeOffset;
  let low = safe;
  for (let s = 0; s < router.shards; s++) {
    const c = shared.counter(s, C_COMMITTED_OFFSET);
    const contrib = c >= router.lastRouted[s] ? safe : c;
    if (contrib < low) low = contrib;
  }
  return low;
}
