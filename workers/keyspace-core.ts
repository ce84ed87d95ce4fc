/**
 * Keyspace: the storage API the command modules use (see commands.ts for the handler contract), on
 * top of one shard's LevelDB (layout.ts). A write-combining overlay in front of LevelDB, group commit,
 * epochs for FLUSHDB/FLUSHALL, discard of a failed group, and background reclaim of dead ranges.
 *
 * ## Overlay, group commit and crash consistency
 *
 * Writes go to an in-memory overlay (KeyRef per touched key, member map per version). `commit()` turns
 * the overlay, the new garbage ranges and the state record (offset, epochs, counters) into ONE chained
 * batch: data and applied offset are always durable together. While a batch is being written, its
 * overlay stays readable as the "pending" layer, so reads never miss data in flight.
 * A bounded cache of committed, decoded metas (meta.ts) lets hot keys skip LevelDB reads and decoding
 * across groups.
 * Range reads (members(), scanMetas()) merge the overlay with a LevelDB iterator (ranges.ts): they
 * never commit in the middle of a group, which would break exactly-once and MULTI atomicity.
 * `discard()` drops the overlay and restores the state written by the latest commit: a group that
 * fails half-way leaves nothing behind.
 *
 * Buffers passed in (argv views into shared memory) are kept only until the next commit() has queued
 * them into its batch (the native batch copies), so handlers need not copy them.
 */
import type { ClassicLevel } from 'classic-level';
import { ParaError } from '../src/errors.js';
import {
  ShardState, DbView, Garbage, STATE_KEY, META_KEY_HEAD, packr, copyState, fillTo, metaKey, memberPrefix, epochPrefix,
  garbageKey, prefixEnd,
} from './layout.js';
import { Meta, KeyRef, MetaEncoder, SegMeta, SegReader, encodeMeta, decodeMeta } from './meta.js';
import { readAll, settleString, needsSettle } from './string_segments.js';
import { MetaCache } from './meta-cache.js';
import { SyncViews, type ViewHost } from './keyspace-views.js';
import type { RangeOptions } from './command-api.js';
import { mergeRange, reclaimStep, OverlayEntry } from './ranges.js';
import { BatchSource } from './native-batch.js';

interface MemberEntry { part: Buffer; value: Buffer | null }
interface VersionSlot { db: number; prefix: Buffer; parts: Map<string, MemberEntry> }

export class Keyspace implements SegReader, ViewHost {
  failedCommands = 0;
  /**
   * false (default, what a Redis replica does): an expiry time already in the past sets that TTL
   * and the key stays (hidden from reads) until the master's DEL. true (what a Redis master does
   * with a client's command): SET…PXAT/EXPIRE-family with a past time deletes the key. Tests use
   * true to compare with a standalone redis-server.
   */
  deleteOnPastExpiry = false;
  /** Reason of the last failed command (for logs / INFO). */
  lastFailure: string | null = null;
  /** Live state: what the next commit will write. Restored in place by discard(). */
  readonly state: ShardState;

  protected metas = new Map<string, KeyRef>();
  protected pendingMetas: Map<string, KeyRef> | null = null;
  protected memberOv = new Map<number, VersionSlot>();
  protected pendingMemberOv: Map<number, VersionSlot> | null = null;
  protected newGarbage: Garbage[] = [];
  /** Records outside the key layout (exchange outbox, layout.ts) written with the next commit. */
  protected rawOps = new Map<string, { k: Buffer; v: Buffer | null }>();
  protected dirtyData = false;
  /**
   * Collection versions allocated since the last commit()/discard(): nothing of them is in LevelDB or
   * in a batch being written (versions are never reused), so a member missing from the overlay is
   * absent without a LevelDB read. Big collections (snapshot loads, large SADD/ZADD) skip most reads.
   */
  protected newVersions = new Set<number>();
  /** The LevelDB batch of each commit (native-batch.ts: one reused native batch). */
  private readonly batches: BatchSource;
  protected stateDirty = false;
  protected committing: Promise<void> | null = null;
  /** The state as written by the latest commit() batch (in flight or durable): what discard() restores. */
  protected committedState: ShardState;
  protected readonly metaCache: MetaCache;
  private readonly encoder = new MetaEncoder();
  /** Member record keys are built here at commit (the native batch copies each at once). */
  private memberKey = Buffer.allocUnsafe(256);

  protected constructor(readonly db: ClassicLevel<Buffer, Buffer>, state: ShardState) {
    this.state = state;
    this.committedState = copyState(state);
    this.metaCache = new MetaCache(db);
    this.batches = new BatchSource(db);
    this.views = new SyncViews(this);   // reopened mid-load or ended-not-committed: the old view is held
  }

  /**
   * Where a Redis db lives: its "home", the db number its records are stored under. Homes start as
   * the identity; SWAPDB swaps two dbs' homes (and nothing else), so it costs O(1) whatever the data.
   * Everything below the entry points (refs, counters, epochs, garbage ranges) works on homes.
   */
  homeOf(db: number): number { return this.state.homes[db] ?? db; }
  /** Current epoch of a home (see homeOf). */
  epochOf(home: number): number { return this.state.epochs[home] ?? this.state.baseEpoch ?? 0; }
  /** Grow the per-home arrays so that index `home` exists (epochs filled with the base epoch). */
  private fillHome(home: number): void {
    const base = this.state.baseEpoch ?? 0;
    while (this.state.epochs.length <= home) this.state.epochs.push(base);
    fillTo(this.state.keys, home); fillTo(this.state.expires, home);
  }
  /** Keys in Redis db `db` (expired-but-present ones included, as DBSIZE). */
  keyCount(db: number): number { return this.state.keys[this.homeOf(db)] ?? 0; }

  /** SWAPDB a b: the two dbs exchange their data, in O(1) (a barrier: every shard does it at once). */
  swapDb(a: number, b: number): void {
    if (a === b) return;
    const h = this.state.homes;
    while (h.length <= Math.max(a, b)) h.push(h.length);
    const t = h[a]; h[a] = h[b]; h[b] = t;
    this.stateDirty = true;
  }

  /** Record a command that failed as it would on Redis (no data changed). Always returns undefined. */
  fail(reason: string): void {
    this.failedCommands++;
    this.lastFailure = reason;
  }

  // ----- metas -----------------------------------------------------------------------------------

  /**
   * Resolve a key for a write: overlay → pending batch → LevelDB. The ref is registered in the
   * overlay (cached for the rest of the group). Never hides expired keys (master semantics).
   */
  ref(logicalDb: number, key: Buffer): KeyRef {
    const db = this.homeOf(logicalDb);
    const epoch = this.epochOf(db);
    const lk = metaKey(db, epoch, key);
    const id = lk.toString('latin1');
    let r = this.metas.get(id);
    if (r !== undefined) return r;
    const p = this.pendingMetas?.get(id);
    if (p !== undefined) {
      // A copy: handlers mutate metas in place, and the pending layer must keep what its batch holds
      // (discard() falls back to it).
      r = new KeyRef(db, epoch, lk, id, p.meta === null ? null : decodeMeta(encodeMeta(p.meta)));
    } else {
      r = new KeyRef(db, epoch, lk, id, null);
      this.metaCache.take(r);   // the overlay owns the committed meta object now (meta-cache.ts)
    }
    if (r.meta instanceof SegMeta) r.meta.bind(this, db, epoch);
    this.metas.set(id, r);
    return r;
  }

  /**
   * A key first seen in the snapshot being loaded (state.loading): it cannot exist yet in the fresh
   * view (a snapshot holds each key once), so no LevelDB read. A key already in this group's overlay
   * is returned as is (a duplicate in one group is still seen by the caller).
   */
  refNew(logicalDb: number, key: Buffer): KeyRef {
    const db = this.homeOf(logicalDb);
    const epoch = this.epochOf(db);
    const lk = metaKey(db, epoch, key);
    const id = lk.toString('latin1');
    const known = this.metas.get(id);
    if (known !== undefined || !this.state.loading) return known ?? this.ref(logicalDb, key);
    const r = new KeyRef(db, epoch, lk, id, null);
    this.metas.set(id, r);
    return r;
  }

  /**
   * Resolve a key for a read: null if absent or logically expired (nowMs > expireMs). Does not grow
   * the overlay. The returned ref must not be written through.
   */
  lookup(logicalDb: number, key: Buffer, nowMs: number): KeyRef | null {
    const db = this.homeOf(logicalDb);
    const epoch = this.epochOf(db);
    const lk = metaKey(db, epoch, key);
    const id = lk.toString('latin1');
    let r = this.metas.get(id) ?? this.pendingMetas?.get(id);
    if (r === undefined) {
      const m = this.metaCache.peek(db, epoch, lk, id);
      if (m === null) return null;
      if (m instanceof SegMeta) m.bind(this, db, epoch);   // never cached: this read's own object
      r = new KeyRef(db, epoch, lk, id, m);
    }
    const m = r.meta;
    if (m === null || (m.expireMs !== -1 && nowMs > m.expireMs)) return null;
    return r;
  }

  /** Mark a ref's meta as changed (after mutating ref.meta in place); it is written at commit. */
  dirty(r: KeyRef): void {
    r.dirty = true;
    this.dirtyData = true;
    if (this.metas.get(r.id) !== r) {
      // A ref held across a commit: the cache may have been given its meta object back, and that
      // object is changing again. Forget it there (the entry is re-filled at the next commit).
      this.metaCache.invalidate(r);
      this.metas.set(r.id, r);
    }
  }

  /** Create a key that does not exist (ref.meta must be null). No expiry. */
  create(r: KeyRef, type: number, value: any): Meta {
    const m: Meta = { type, expireMs: -1, version: 0, count: 0, value };
    r.meta = m;
    if (this.state.keys.length <= r.db || this.state.epochs.length <= r.db) this.fillHome(r.db);
    this.state.keys[r.db]++;
    this.dirty(r);
    return m;
  }

  /** Delete a key (no-op if absent). A per-member collection is dropped in O(1) (garbage range). */
  del(r: KeyRef): void {
    const m = r.meta;
    if (m === null) return;
    if (m.version !== 0) this.dropMembers(r);
    if (m.expireMs !== -1) this.state.expires[r.db]--;
    this.state.keys[r.db]--;
    r.meta = null;
    this.dirty(r);
  }

  /** Set (ms ≥ 0) or remove (-1) the expiry of an existing key, keeping the counters right. */
  setExpire(r: KeyRef, ms: number): void {
    const m = r.meta!;
    if (m.expireMs === -1 && ms !== -1) this.state.expires[r.db]++;
    else if (m.expireMs !== -1 && ms === -1) this.state.expires[r.db]--;
    m.expireMs = ms;
    this.dirty(r);
  }

  /**
   * Forget the per-member records of a collection (garbage-ranged, reclaimed later) and make the
   * meta inline-empty (version 0, count 0). Used by del() and when SET overwrites a collection.
   */
  dropMembers(r: KeyRef): void {
    const m = r.meta!;
    if (m.version === 0) return;
    this.dropVersion(r.db, r.epoch, m.version);
    m.version = 0; m.count = 0; m.value = null;
    this.dirty(r);
  }

  // ----- per-member layout -------------------------------------------------------------------------

  /**
   * Switch a collection to the per-member layout: allocates a fresh version and sets
   * `meta.value = extra`. The caller then putMember()s every element and sets meta.count.
   */
  toPerMember(r: KeyRef, extra: any = null): void {
    const m = r.meta!;
    m.version = this.newVersion();
    m.value = extra;
    this.dirty(r);
  }

  /** @internal A fresh per-member version (born in this group: no LevelDB read for its members). */
  newVersion(): number {
    const v = this.state.nextVersion++;
    this.newVersions.add(v);
    if (this.state.nextVersion > 0xffffffff) {
      throw new ParaError('PARAREPLICA_APPLY_FAILED', 'collection version counter exhausted (2^32); resync this replica into a fresh data directory', {});
    }
    return v;
  }

  /** @internal Every member record of `version` (in home `db` at `epoch`) becomes a garbage range. */
  dropVersion(db: number, epoch: number, version: number): void {
    const prefix = memberPrefix(db, epoch, version);
    this.memberOv.delete(version);
    this.newGarbage.push({ gte: prefix, lt: prefixEnd(prefix) });
  }

  /** SegReader: the bytes of a segmented string (string_segments.ts). */
  readSegments(m: SegMeta): Buffer { return readAll(this, m); }

  private slotFor(r: KeyRef): VersionSlot {
    return this.slotAt(r.db, r.epoch, r.meta!.version);
  }

  private slotAt(db: number, epoch: number, v: number): VersionSlot {
    let s = this.memberOv.get(v);
    if (s === undefined) {
      s = { db, prefix: memberPrefix(db, epoch, v), parts: new Map() };
      this.memberOv.set(v, s);
    }
    return s;
  }

  /** Point read of one member record (sync). */
  getMember(r: KeyRef, part: Buffer): Buffer | undefined { return this.getMemberAt(r.db, r.epoch, r.meta!.version, part); }

  /** @internal getMember by home, epoch and version. */
  getMemberAt(db: number, epoch: number, v: number, part: Buffer): Buffer | undefined {
    const id = part.toString('latin1');
    const e = this.memberOv.get(v)?.parts.get(id) ?? this.pendingMemberOv?.get(v)?.parts.get(id);
    if (e !== undefined) return e.value ?? undefined;
    if (this.newVersions.has(v)) return undefined;   // born in this group: every record is in the overlay
    return this.db.getSync(Buffer.concat([memberPrefix(db, epoch, v), part]));
  }

  /** Write one member record (buffers kept until commit; no copy needed for argv views). */
  putMember(r: KeyRef, part: Buffer, value: Buffer): void {
    this.slotFor(r).parts.set(part.toString('latin1'), { part, value });
    this.dirtyData = true;
  }

  /** @internal putMember by home, epoch and version. */
  putMemberAt(db: number, epoch: number, v: number, part: Buffer, value: Buffer): void {
    this.slotAt(db, epoch, v).parts.set(part.toString('latin1'), { part, value });
    this.dirtyData = true;
  }

  /** Delete one member record. */
  delMember(r: KeyRef, part: Buffer): void {
    this.slotFor(r).parts.set(part.toString('latin1'), { part, value: null });
    this.dirtyData = true;
  }

  /**
   * Iterate member records of a per-member collection in bytewise order of the part (reverse if
   * asked), merging uncommitted overlay writes with LevelDB. Yields [part, value].
   */
  async *members(r: KeyRef, o: RangeOptions = {}): AsyncGenerator<[Buffer, Buffer]> {
    if (this.committing) await this.committing;
    const v = r.meta!.version;
    const prefix = memberPrefix(r.db, r.epoch, v);
    const gte = o.gte ? Buffer.concat([prefix, o.gte]) : prefix;
    const lt = o.lt ? Buffer.concat([prefix, o.lt]) : prefixEnd(prefix);
    const ov: Array<OverlayEntry<Buffer>> = [];
    const slot = this.memberOv.get(v);
    if (slot) {
      for (const e of slot.parts.values()) {
        const k = Buffer.concat([prefix, e.part]);
        if (Buffer.compare(k, gte) >= 0 && Buffer.compare(k, lt) < 0) ov.push({ k, v: e.value });
      }
    }
    let n = 0;
    const limit = o.limit ?? Infinity;
    if (limit <= 0) return;
    for await (const [k, val] of mergeRange(this.db, gte, lt, !!o.reverse, ov, (x) => x)) {
      yield [k.subarray(prefix.length), val];
      if (++n >= limit) return;
    }
  }

  /**
   * Iterate the live metas of a db in key order starting after `after` (exclusive) or at `from`.
   * Expired keys are included (callers filter). Yields [redisKey, meta].
   */
  async *scanMetas(logicalDb: number, o: { after?: Buffer; prefix?: Buffer } = {}): AsyncGenerator<[Buffer, Meta]> {
    if (this.committing) await this.committing;
    const db = this.homeOf(logicalDb);
    const epoch = this.epochOf(db);
    const base = metaKey(db, epoch, o.prefix ?? Buffer.alloc(0));
    const lt = prefixEnd(base);
    let gte = base;
    if (o.after && (!o.prefix || Buffer.compare(o.after, o.prefix) >= 0)) {
      gte = Buffer.concat([metaKey(db, epoch, o.after), Buffer.from([0])]);
    }
    const ov: Array<OverlayEntry<Meta>> = [];
    for (const r of this.metas.values()) {
      if (r.dirty && r.db === db && r.epoch === epoch &&
          Buffer.compare(r.lk, gte) >= 0 && Buffer.compare(r.lk, lt) < 0) ov.push({ k: r.lk, v: r.meta });
    }
    for await (const [k, m] of mergeRange(this.db, gte, lt, false, ov, decodeMeta)) {
      if (m instanceof SegMeta && m.reader === null) m.bind(this, db, epoch);
      yield [k.subarray(META_KEY_HEAD), m];
    }
  }

  /** Put (v) or delete (null) a record outside the key layout in the next commit's batch. */
  putRaw(k: Buffer, v: Buffer | null): void {
    this.rawOps.set(k.toString('latin1'), { k, v });
  }

  // ----- epochs, state, commit ---------------------------------------------------------------------

  /** Barrier: switch Redis db `logicalDb` to `newEpoch` (must be greater than its current epoch). */
  flushDb(logicalDb: number, newEpoch: number): void {
    this.flushHome(this.homeOf(logicalDb), newEpoch);
  }

  private flushHome(db: number, newEpoch: number): void {
    const old = this.epochOf(db);
    if (!(newEpoch > old) || newEpoch > 0xffffffff || !Number.isInteger(newEpoch)) {
      throw new ParaError('PARAREPLICA_APPLY_FAILED',
        `FLUSHDB barrier for db ${db} carries epoch ${newEpoch}, not greater than the current epoch ${old}; the epoch counter is inconsistent: resync into a fresh data directory`,
        { db, newEpoch, epoch: old });
    }
    // With keys left, the whole old-epoch range becomes garbage and its overlay need not be written.
    // With none, the overlay for this db holds only deletes of old-epoch records: let them be written.
    if ((this.state.keys[db] ?? 0) > 0) {
      const gte = epochPrefix(db, old);
      this.newGarbage.push({ gte, lt: prefixEnd(gte) });
      for (const [id, r] of this.metas) if (r.db === db) this.metas.delete(id);
      for (const [v, s] of this.memberOv) if (s.db === db) this.memberOv.delete(v);
    }
    this.fillHome(db);
    this.state.epochs[db] = newEpoch;
    this.metaCache.markEmpty(db, newEpoch);   // epochs only grow: nothing was ever written under it
    this.state.keys[db] = 0;
    this.state.expires[db] = 0;
    this.stateDirty = true;
  }

  /** Barrier: switch every db to `newEpoch`. */
  flushAll(newEpoch: number): void {
    const n = Math.max(this.state.epochs.length, this.state.keys.length, this.state.homes.length, 1);
    for (let db = 0; db < n; db++) this.flushHome(db, newEpoch);
    this.state.baseEpoch = newEpoch;   // homes never used yet move too
  }

  // ----- full-sync views (the rules: keyspace-views.ts) -------------------------------------------

  /** @internal The load phases of this shard's views. */
  readonly views: SyncViews;
  /** SYNC_BEGIN: start loading a snapshot into a fresh view at epoch `epoch`. */
  beginLoad(epoch: number): void { this.views.begin(epoch); }
  /** SYNC_END: the load is complete here; the old view stays until commitLoad or abortLoad. */
  endLoad(): void { this.views.end(); }
  /** SYNC_COMMIT: every shard ended the load; the old view becomes garbage. */
  commitLoad(): void { this.views.commit(); }
  /** SYNC_ABORT, or the main thread's decision after a crash: back to the view before the load. */
  abortLoad(): void { this.views.abort(); }
  /** True while garbage must not be reclaimed (an ended load's old view may still be read). */
  get reclaimHeld(): boolean { return this.views.held !== null; }
  /** Runs `fn` against the view before the current full sync (the live view if there is none). */
  withOldView<T>(fn: () => T | Promise<T>): Promise<T> { return this.views.withOld(fn); }

  /** @internal ViewHost */
  markStateDirty(): void { this.stateDirty = true; }
  /** @internal ViewHost: uncommitted member writes of the homes at `epoch` are dropped. */
  dropOverlayAt(epoch: number): void {
    for (const [v, slot] of this.memberOv) if (this.epochOf(slot.db) === epoch) this.memberOv.delete(v);
  }

  /** @internal ViewHost: every home of `v` that holds keys: its epoch's records become garbage. */
  garbageOfView(v: DbView): void {
    const n = Math.max(v.keys.length, v.epochs.length);
    for (let home = 0; home < n; home++) {
      if ((v.keys[home] ?? 0) === 0) continue;
      const gte = epochPrefix(home, v.epochs[home] ?? v.baseEpoch);
      this.newGarbage.push({ gte, lt: prefixEnd(gte) });
    }
  }

  /** The applied offset (and replid) to store with the next commit. Cheap: call it per command. */
  setApplied(offset: number, replid?: string | null): void {
    if (offset !== this.state.offset) { this.state.offset = offset; this.stateDirty = true; }
    if (replid !== undefined && replid !== this.state.replid) { this.state.replid = replid; this.stateDirty = true; }
  }

  /** Write everything dirty plus the state record as ONE batch and wait for it. */
  async commit(): Promise<void> {
    while (this.committing) await this.committing;
    if (!this.dirtyData && !this.stateDirty && this.newGarbage.length === 0 && this.rawOps.size === 0) {
      this.metas.clear();
      return;
    }
    const batch = this.batches.next();
    for (const r of this.metas.values()) {
      if (!r.dirty) { this.metaCache.untouched(r); continue; }
      if (r.meta !== null && needsSettle(r.meta)) settleString(this, r);   // big strings: segments
      r.dirty = false;
      // A view of the encoder's scratch buffer: the native batch copies it at once.
      if (r.meta === null) batch._del(r.lk); else batch._put(r.lk, this.encoder.encode(r.meta, true));
      // A snapshot load writes each key once and rarely reads it again soon: caching its metas would
      // only fill the heap (100k decoded values per shard) and make GC the bottleneck.
      if (this.state.loading) this.metaCache.forget(r); else this.metaCache.committed(r);
    }
    for (const s of this.memberOv.values()) {
      for (const e of s.parts.values()) {
        const n = s.prefix.length + e.part.length;
        if (n > this.memberKey.length) this.memberKey = Buffer.allocUnsafe(Math.max(n, this.memberKey.length * 2));
        s.prefix.copy(this.memberKey, 0);
        e.part.copy(this.memberKey, s.prefix.length);
        // A view of the scratch key: no allocation per member record (GC and malloc churn).
        const k = this.memberKey.subarray(0, n);
        if (e.value === null) batch._del(k); else batch._put(k, e.value);
      }
    }
    for (const o of this.rawOps.values()) { if (o.v === null) batch._del(o.k); else batch._put(o.k, o.v); }
    this.rawOps.clear();
    for (const g of this.newGarbage) batch._put(garbageKey(this.state.garbageSeq++), packr.pack({ gte: g.gte, lt: g.lt }));
    batch._put(STATE_KEY, packr.pack(this.state));
    const prevCommitted = this.committedState;
    this.committedState = copyState(this.state);
    this.pendingMetas = this.metas; this.pendingMemberOv = this.memberOv;
    this.metas = new Map(); this.memberOv = new Map(); this.newGarbage = [];
    this.newVersions.clear();
    this.dirtyData = false; this.stateDirty = false;
    const p = batch.write();
    this.committing = p;
    try {
      await p;
    } catch (e) {
      this.metaCache.clear();   // it already holds this batch's metas
      this.committedState = prevCommitted;
      throw new ParaError('PARAREPLICA_APPLY_FAILED',
        `LevelDB batch write failed: ${(e as Error).message}; stop applying and restart from the last committed offset`,
        { offset: this.state.offset });
    } finally {
      this.committing = null; this.pendingMetas = null; this.pendingMemberOv = null;
    }
  }

  /**
   * Drop every uncommitted change: the overlay (metas and member records), new garbage ranges and
   * the state changes (applied offset, replid, loading, epochs, key/expiry counts, nextVersion), so
   * that the store is exactly as after the latest commit() and reads see that. The next commit()
   * writes nothing unless something changes again. For a group that failed half-way (e.g. the 3rd
   * command of a MULTI/EXEC threw): nothing of it may be committed.
   * A batch already in flight is not affected: it stays readable as the pending layer and the state
   * goes back to what that batch writes (a discard() after that batch failed: to the last durable one).
   * Diagnostics (failedCommands, lastFailure) are kept. KeyRefs obtained before discard() are stale.
   */
  discard(): void {
    this.metaCache.forgetEmpty();   // an epoch switch of this group is undone
    this.newVersions.clear();
    this.metas.clear();
    this.memberOv.clear();
    this.newGarbage = [];
    this.rawOps.clear();
    this.dirtyData = false;
    this.stateDirty = false;
    Object.assign(this.state, copyState(this.committedState));
    this.views.resync();   // a load's begin, end, commit or abort was undone
  }

  /**
   * Background reclaim: delete up to `maxKeys` records of the oldest garbage range. Returns true if
   * garbage remains. Crash-safe: progress and deletions go in one batch.
   */
  async reclaimStep(maxKeys = 1000): Promise<boolean> {
    return reclaimStep(this.db, maxKeys);
  }

  /** Non-empty dbs as [db, keys, expires]. */
  keyspaceInfo(): Array<[number, number, number]> {
    const out: Array<[number, number, number]> = [];
    const n = Math.max(this.state.keys.length, this.state.homes.length);
    for (let db = 0; db < n; db++) {
      const h = this.homeOf(db), k = this.state.keys[h] ?? 0;
      if (k > 0) out.push([db, k, this.state.expires[h] ?? 0]);
    }
    return out;
  }
}
