/**
 * Segmented storage of big strings. A string longer than STRING_SEG_MIN (1 MiB) has a meta with the
 * per-member flag, its own version and `count` = its byte length (a SegMeta, meta.ts); its bytes are
 * member records of that version, keyed by the segment index as a u32 BE part, STRING_SEG (256 KiB)
 * bytes each except the last. Shorter strings stay inline in meta.value.
 *
 * How the layouts meet the handlers:
 *  - Reading `meta.value` of a SegMeta materialises the whole string (readAll). Handlers that need
 *    less use strLength / strRange (STRLEN, GETRANGE, GETBIT, BITCOUNT…: only the segments touched).
 *  - writeString (APPEND, SETRANGE, SETBIT, BITFIELD, snapshot load) writes a byte range in place: on
 *    a segmented string only the segments the range touches (the tail for an append), zero-padding
 *    past the end with one shared zero segment; an inline string that would outgrow STRING_SEG_MIN is
 *    segmented first. Memory: the written bytes plus one segment.
 *  - Any other change assigns `meta.value` (SET, GETSET, INCR…); at commit settleString rewrites such a
 *    string per its new length: segmented under a FRESH version (the old one becomes a garbage range)
 *    or inline. A SegMeta that was only read keeps its segments and version (string Buffers are never
 *    mutated in place: replies and portable values share them).
 *
 * Segments live under the key's epoch like collection members, so FLUSHDB/FLUSHALL, full-sync views,
 * SWAPDB and DEL (a garbage range of the version) need nothing special.
 */
import { ParaError } from '../src/errors.js';
import type { Keyspace } from './keyspace-core.js';
import { Meta, KeyRef, SegMeta, T_STRING, STRING_SEG, STRING_SEG_MIN } from './meta.js';

/** Read by every zero-filled segment (never mutated). */
const ZERO_SEG = Buffer.alloc(STRING_SEG);

/** Counters for tests and diagnostics: bytes materialised by whole-value reads. */
export const segStats = { materialisedBytes: 0 };

/** The member part of segment `i`. */
export function segPart(i: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(i, 0);
  return b;
}

/** The SegMeta whose segments hold the current bytes (so range operations may use them), or null. */
export function segmented(m: Meta): SegMeta | null {
  return m instanceof SegMeta && !m.replaced ? m : null;
}

/** Byte length of a string meta, without materialising a segmented one. */
export function strLength(m: Meta): number {
  return m instanceof SegMeta && !m.loaded ? m.count : (m.value as Buffer).length;
}

function damaged(m: SegMeta, i: number, got: number | undefined): never {
  const what = got === undefined ? 'missing' : `${got} bytes long`;
  throw new ParaError('PARAREPLICA_APPLY_FAILED',
    `segment ${i} of a segmented string (version ${m.version}, ${m.count} bytes) is ${what}; ` +
    'the shard database is damaged: resync this replica into a fresh data directory', { version: m.version, segment: i });
}

/** Segment i of m, checked against the length m.count implies. */
function segment(ks: Keyspace, m: SegMeta, i: number): Buffer {
  const want = Math.min(STRING_SEG, m.count - i * STRING_SEG);
  const s = ks.getMemberAt(m.home, m.epoch, m.version, segPart(i));
  if (s === undefined || s.length !== want) damaged(m, i, s?.length);
  return s;
}

/** The whole string of a segmented meta (a new Buffer). */
export function readAll(ks: Keyspace, m: SegMeta): Buffer {
  const n = m.count;
  const out = Buffer.allocUnsafe(n);
  for (let i = 0, o = 0; o < n; i++, o += STRING_SEG) segment(ks, m, i).copy(out, o);
  segStats.materialisedBytes += n;
  return out;
}

/** Bytes [from, to) of a string meta (clamped to its length); a view when the bytes are in memory. */
export function strRange(ks: Keyspace, m: Meta, from: number, to: number): Buffer {
  const s = m instanceof SegMeta && !m.loaded ? m : null;
  if (s === null) return (m.value as Buffer).subarray(from, to);
  to = Math.min(to, s.count);
  if (from >= to) return Buffer.alloc(0);
  const first = Math.floor(from / STRING_SEG), last = Math.floor((to - 1) / STRING_SEG);
  if (first === last) return segment(ks, s, first).subarray(from - first * STRING_SEG, to - first * STRING_SEG);
  const out = Buffer.allocUnsafe(to - from);
  for (let i = first; i <= last; i++) {
    const base = i * STRING_SEG;
    const seg = segment(ks, s, i);
    seg.copy(out, Math.max(0, base - from), Math.max(0, from - base), Math.min(seg.length, to - base));
  }
  return out;
}

/**
 * Calls fn(bytes, s, e, baseBit) for the bit range [S, E] of m a segment at a time: bits [s, e] of
 * `bytes` are bits [baseBit + s, baseBit + e] of the string (views: no copy). Stops when fn says so.
 */
export function eachChunk(ks: Keyspace, m: Meta, S: number, E: number,
  fn: (v: Buffer, s: number, e: number, baseBit: number) => boolean): void {
  const step = STRING_SEG * 8;
  for (let a = S; a <= E;) {
    const b = Math.min(E, (Math.floor(a / step) + 1) * step - 1);
    const base = Math.floor(a / 8);
    if (fn(strRange(ks, m, base, Math.floor(b / 8) + 1), a - base * 8, b - base * 8, base * 8)) return;
    a = b + 1;
  }
}

/**
 * Make r's string (inline, or a replaced SegMeta) segmented under a fresh version holding `bytes`
 * (segments are views of it, kept until commit). Replaces r.meta; returns the new meta.
 */
function toSegmented(ks: Keyspace, r: KeyRef, bytes: Buffer): SegMeta {
  const old = r.meta!;
  if (old.version !== 0) ks.dropVersion(r.db, r.epoch, old.version);
  const m = new SegMeta(old.expireMs, ks.newVersion(), bytes.length);
  m.bind(ks, r.db, r.epoch);
  for (let i = 0, o = 0; o < bytes.length; i++, o += STRING_SEG) {
    ks.putMemberAt(r.db, r.epoch, m.version, segPart(i), bytes.subarray(o, o + STRING_SEG));
  }
  r.meta = m;
  ks.dirty(r);
  return m;
}

/** Write `bytes` at byte `off` of segmented m: only the segments it touches or that change length. */
function writeAt(ks: Keyspace, r: KeyRef, m: SegMeta, off: number, bytes: Buffer): void {
  const n = m.count, end = off + bytes.length, total = Math.max(n, end);
  const segs = Math.ceil(total / STRING_SEG);
  let i = Math.floor(off / STRING_SEG);
  if (total > n) i = Math.min(i, Math.floor(n / STRING_SEG));   // the old tail grows
  for (; i < segs; i++) {
    const base = i * STRING_SEG;
    if (base >= end && total === n) break;                          // the rest is unchanged
    const oldLen = Math.max(0, Math.min(STRING_SEG, n - base));
    const newLen = Math.min(STRING_SEG, total - base);
    const ws = Math.max(off, base), we = Math.min(end, base + newLen);
    const hit = we > ws;
    if (!hit && oldLen === newLen) continue;                       // untouched
    let seg: Buffer;
    if (!hit && oldLen === 0) seg = ZERO_SEG.subarray(0, newLen);   // zero padding
    else if (ws === base && we === base + newLen) seg = bytes.subarray(ws - off, we - off);   // all new bytes
    else {
      seg = Buffer.alloc(newLen);
      if (oldLen > 0) segment(ks, m, i).copy(seg, 0);
      if (hit) bytes.copy(seg, ws - base, ws - off, we - off);
    }
    ks.putMemberAt(m.home, m.epoch, m.version, segPart(i), seg);
  }
  m.count = total;
  m.unload();
  ks.dirty(r);
}

/**
 * Write `bytes` at byte `off` of r's string (which must exist), zero-padding any gap: SETRANGE's
 * semantics. A segmented string changes only the segments concerned; an inline one that would grow
 * past STRING_SEG_MIN is segmented first. `bytes` is kept until commit (no copy needed).
 */
export function writeString(ks: Keyspace, r: KeyRef, off: number, bytes: Buffer): void {
  const m = r.meta!;
  let s = segmented(m);
  if (s === null) {
    const old = m.value as Buffer;
    const total = Math.max(old.length, off + bytes.length);
    if (total <= STRING_SEG_MIN) {
      const out = Buffer.allocUnsafe(total);
      old.copy(out, 0);
      if (off > old.length) out.fill(0, old.length, off);
      bytes.copy(out, off);
      if (off + bytes.length < total) old.copy(out, off + bytes.length, off + bytes.length);
      m.value = out;
      ks.dirty(r);
      return;
    }
    s = toSegmented(ks, r, old);
  }
  writeAt(ks, r, s, off, bytes);
}

/** Append `bytes` to r's string (which must exist). */
export function appendString(ks: Keyspace, r: KeyRef, bytes: Buffer): void {
  writeString(ks, r, strLength(r.meta!), bytes);
}

/**
 * At commit, for a dirty string ref: rewrite a string whose value was assigned (or an inline one
 * longer than STRING_SEG_MIN) per its length; forget what a SegMeta materialised otherwise.
 */
export function settleString(ks: Keyspace, r: KeyRef): void {
  const m = r.meta!;
  if (m instanceof SegMeta && !m.replaced) { m.unload(); return; }
  const v = m.value as Buffer;
  if (v.length > STRING_SEG_MIN) { toSegmented(ks, r, v); return; }
  if (m.version !== 0) ks.dropVersion(r.db, r.epoch, m.version);
  if (m instanceof SegMeta) r.meta = { type: T_STRING, expireMs: m.expireMs, version: 0, count: 0, value: v };
}

/** A dirty meta that settleString must look at (cheap test for the commit loop). */
export function needsSettle(m: Meta): boolean {
  return m.type === T_STRING && (m instanceof SegMeta || (m.value as Buffer).length > STRING_SEG_MIN);
}
