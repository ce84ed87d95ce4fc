/**
 * The bounded cache of committed metas, decoded, in front of LevelDB: a hot key needs neither a
 * LevelDB read nor a decode (about 2x on SET throughput with a 100k keyspace for the byte cache this
 * replaced; decoding and re-reading were the next costs). Oldest entries go first.
 *
 * Ownership: a Meta object in an entry belongs to the cache and is never mutated. take() hands it to
 * a new overlay ref (the entry becomes empty: `meta === undefined`), so handlers mutate it in place
 * with no copy; commit() gives the written meta back with committed() (after MetaEncoder.encode with
 * `own`, so no Buffer in it points into a ring). A discarded ref, or one taken but not dirtied, leaves
 * its entry empty and the next access reads LevelDB again. So the cache only ever holds what LevelDB
 * holds or what a batch being written holds (cleared if that batch fails). peek() (reads) shares the
 * cached object: reads never mutate.
 *
 * Known-empty epochs: when an epoch of a db is known to have no meta record in LevelDB (checked at
 * open, or a FLUSHDB/FLUSHALL/full sync switched to a new epoch), and no entry was evicted since,
 * every key of that epoch that exists has an entry (refs get one the moment they are made), so a key
 * with no entry is absent: no LevelDB read. That is what a full sync into a fresh epoch and the start
 * of a replica on an empty directory look like. The first eviction (or a clear()) ends it.
 *
 * Segmented strings (SegMeta, meta.ts) are never cached: their entry stays "unknown" (LevelDB is read
 * again, a cheap header-only meta), so no materialised big value is ever pinned here.
 */
import type { ClassicLevel } from 'classic-level';
import { Meta, KeyRef, SegMeta, decodeMeta } from './meta.js';
import { ShardState, metaKey, prefixEnd } from './layout.js';

/**
 * One key in the cache: its committed meta, decoded (null = known absent), or undefined while an
 * uncommitted overlay ref owns that object (it was taken) or when the committed value is unknown.
 */
export class MetaEntry {
  constructor(public meta: Meta | null | undefined) {}
}

export class MetaCache {
  private readonly map = new Map<string, MetaEntry>();
  /** Maximum number of entries; 0 disables the cache. */
  max = 100_000;
  /** Entries removed so far (evictions and clears): see known-empty epochs above. */
  private removals = 0;
  /** Per db: an epoch with no meta record in LevelDB, and `removals` at that time. */
  private readonly empty: Array<{ epoch: number; removals: number } | undefined> = [];

  constructor(private readonly db: ClassicLevel<Buffer, Buffer>) {}

  /** Fill a new overlay ref with the committed meta of its key; the ref owns that object now. */
  take(r: KeyRef): void {
    let e = this.map.get(r.id);
    if (e !== undefined && e.meta !== undefined) {
      r.meta = e.meta;
      e.meta = undefined;
    } else {
      r.meta = e === undefined && this.knownAbsent(r.db, r.epoch) ? null : this.readDb(r.lk);
      if (e === undefined) e = this.add(r.id, undefined);
    }
    r.entry = e;
  }

  /** The committed meta of a key for a read (shared with the cache: do not mutate). */
  peek(db: number, epoch: number, lk: Buffer, id: string): Meta | null {
    const e = this.map.get(id);
    if (e !== undefined && e.meta !== undefined) return e.meta;
    // Not cached, or taken by a ref that is gone (not dirtied, or discarded): LevelDB has the value.
    const m = e === undefined && this.knownAbsent(db, epoch) ? null : this.readDb(lk);
    const keep = m instanceof SegMeta ? undefined : m;
    if (e === undefined) this.add(id, keep); else e.meta = keep;
    return m;
  }

  /** commit(): r's meta is being written (r.meta, owned, or null for a delete); the cache owns it. */
  committed(r: KeyRef): void {
    const e = r.entry ?? this.map.get(r.id) ?? this.add(r.id, undefined);
    r.entry = e;
    e.meta = r.meta instanceof SegMeta ? undefined : r.meta;
  }

  /**
   * commit(): r was taken but not dirtied. A null meta cannot have changed, so the entry knows the key
   * is absent again; a meta object is not trusted back (a handler may have mutated it and then failed).
   */
  untouched(r: KeyRef): void {
    if (r.meta === null && r.entry !== null) r.entry.meta = null;
  }

  /** commit() during a snapshot load: r's key is not cached (the next access reads LevelDB). */
  forget(r: KeyRef): void {
    this.map.delete(r.id);
    this.removals++;   // even if it had no entry: "no entry" must no longer mean "absent"
    r.entry = null;
  }

  /** A ref held across a commit is being changed again: its entry no longer holds the committed meta. */
  invalidate(r: KeyRef): void {
    if (r.entry !== null) r.entry.meta = undefined;
  }

  /**
   * At open: find the current epochs that hold no key (one LevelDB seek per db: the first 16 and any
   * the state knows) and mark them empty.
   */
  async probeEmpty(state: ShardState): Promise<void> {
    const n = Math.max(16, state.epochs.length, state.keys.length);
    for (let db = 0; db < n; db++) {
      const epoch = state.epochs[db] ?? 0;
      const gte = metaKey(db, epoch, Buffer.alloc(0));
      const found = await this.db.keys({ gte, lt: prefixEnd(gte), limit: 1 }).all();
      if (found.length === 0) this.markEmpty(db, epoch);
    }
  }

  /** Record that `epoch` of `db` has no meta record in LevelDB (nor in a batch being written). */
  markEmpty(db: number, epoch: number): void {
    this.empty[db] = { epoch, removals: this.removals };
  }

  /** Forget every known-empty epoch (after a discard(), which may have undone an epoch switch). */
  forgetEmpty(): void { this.empty.length = 0; }

  clear(): void {
    this.removals += this.map.size + 1;
    this.map.clear();
  }

  private knownAbsent(db: number, epoch: number): boolean {
    const f = this.empty[db];
    return f !== undefined && f.epoch === epoch && f.removals === this.removals && this.max > 0;
  }

  private readDb(lk: Buffer): Meta | null {
    const raw = this.db.getSync(lk);
    return raw === undefined ? null : decodeMeta(raw);
  }

  /** A new entry for an id not in the cache (detached, i.e. not cached, when max is 0). */
  private add(id: string, meta: Meta | null | undefined): MetaEntry {
    const e = new MetaEntry(meta);
    const c = this.map;
    if (this.max === 0) return e;
    if (c.size >= this.max) { c.delete(c.keys().next().value as string); this.removals++; }
    c.set(id, e);
    return e;
  }
}
