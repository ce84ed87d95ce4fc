/**
 * List storage on top of the shard Keyspace: the two layouts and the primitives the list commands
 * (t_list.ts, list_read.ts) are built from.
 *
 * Inline layout (≤ 128 elements, each ≤ 64 bytes): `meta.value` is the msgpack array of elements.
 *
 * Per-member layout (bigger lists; never converted back): `meta.value` = [head, tail], two
 * sequence numbers; element i (0-based from the left) is the member record
 *
 *   [seq u64 big-endian] → element bytes,    seq = head + i,  head ≤ seq < tail,  count = tail - head
 *
 * Sequences start at 2^52 so both ends have 2^52 pushes of room, and stay dense: LINDEX / LSET are
 * one point read / put, LRANGE one iterator walk, and pushes/pops at either end touch only the
 * records they add or remove (plus the meta, written once per commit group).
 *
 * Edits in the middle (LINSERT, LREM) rewrite the elements between the edit and the nearer end of
 * the list (`replacePrefix` / `replaceSuffix`), so the layout stays dense. That is O(distance to
 * that end) puts; Redis is O(n) for these commands too. LTRIM only deletes at both ends.
 */
import { Keyspace, KeyRef, Meta, INLINE_MAX_ENTRIES, INLINE_MAX_BYTES } from './keyspace.js';
import type { MaybePromise } from './sync_or_async.js';

const SEQ_BASE = 2 ** 52;
const TWO32 = 2 ** 32;

/** Member part of sequence number n (0 ≤ n < 2^53). */
export function seqPart(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(Math.floor(n / TWO32), 0);
  b.writeUInt32BE(n >>> 0, 4);
  return b;
}

export function listLength(m: Meta): number {
  return m.version === 0 ? (m.value as Buffer[]).length : m.count;
}

function bounds(m: Meta): [number, number] {
  const v = m.value as [number, number];
  return [v[0], v[1]];
}

function setBounds(ks: Keyspace, r: KeyRef, head: number, tail: number): void {
  const m = r.meta!;
  if (head === tail) { ks.del(r); return; }
  m.value = [head, tail];
  m.count = tail - head;
  ks.dirty(r);
}

/**
 * Make sure an inline list may take `add` more elements, the longest being `maxLen` bytes;
 * otherwise move it to the per-member layout.
 */
export function ensureRoom(ks: Keyspace, r: KeyRef, add: number, maxLen: number): void {
  const m = r.meta!;
  if (m.version !== 0) return;
  const a = m.value as Buffer[];
  if (a.length + add <= INLINE_MAX_ENTRIES && maxLen <= INLINE_MAX_BYTES) return;
  ks.toPerMember(r, null);
  for (let i = 0; i < a.length; i++) ks.putMember(r, seqPart(SEQ_BASE + i), a[i]);
  // Not setBounds(): a brand-new key is still empty here and must not be deleted.
  m.value = [SEQ_BASE, SEQ_BASE + a.length];
  m.count = a.length;
  ks.dirty(r);
}

function longest(elems: Buffer[], from = 0): number {
  let n = 0;
  for (let i = from; i < elems.length; i++) if (elems[i].length > n) n = elems[i].length;
  return n;
}

/** LPUSH / RPUSH semantics: each element in turn goes to the left (left=true) or right end. */
export function listPush(ks: Keyspace, r: KeyRef, elems: Buffer[], from: number, left: boolean): void {
  ensureRoom(ks, r, elems.length - from, longest(elems, from));
  const m = r.meta!;
  if (m.version === 0) {
    const a = m.value as Buffer[];
    for (let i = from; i < elems.length; i++) {
      if (left) a.unshift(elems[i]); else a.push(elems[i]);
    }
    ks.dirty(r);
    return;
  }
  let [head, tail] = bounds(m);
  for (let i = from; i < elems.length; i++) {
    if (left) ks.putMember(r, seqPart(--head), elems[i]);
    else ks.putMember(r, seqPart(tail++), elems[i]);
  }
  setBounds(ks, r, head, tail);
}

/** Remove n (≥ 1, ≤ length) elements from the left (or right) end. Deletes the key if emptied. */
export function listDrop(ks: Keyspace, r: KeyRef, n: number, left: boolean): void {
  const m = r.meta!;
  if (m.version === 0) {
    const a = m.value as Buffer[];
    if (left) a.splice(0, n); else a.splice(a.length - n, n);
    if (a.length === 0) ks.del(r); else ks.dirty(r);
    return;
  }
  let [head, tail] = bounds(m);
  for (let i = 0; i < n; i++) ks.delMember(r, seqPart(left ? head++ : --tail));
  setBounds(ks, r, head, tail);
}

/** Element at 0 ≤ i < length. */
export function listGet(ks: Keyspace, r: KeyRef, i: number): Buffer | undefined {
  const m = r.meta!;
  if (m.version === 0) return (m.value as Buffer[])[i];
  return ks.getMember(r, seqPart(bounds(m)[0] + i));
}

/** Overwrite the element at 0 ≤ i < length. */
export function listSet(ks: Keyspace, r: KeyRef, i: number, v: Buffer): void {
  ensureRoom(ks, r, 0, v.length);
  const m = r.meta!;
  if (m.version === 0) { (m.value as Buffer[])[i] = v; ks.dirty(r); return; }
  ks.putMember(r, seqPart(bounds(m)[0] + i), v);
}

/** Elements start..end (inclusive, clamped), left to right; reversed with rev (from the right). */
export function listRange(ks: Keyspace, r: KeyRef, start: number, end: number, rev = false): MaybePromise<Buffer[]> {
  const m = r.meta!;
  if (m.version === 0) {
    const s = (m.value as Buffer[]).slice(start, end + 1);
    return rev ? s.reverse() : s;
  }
  const head = bounds(m)[0];
  return walk(ks, r, seqPart(head + start), seqPart(head + end + 1), rev);
}

async function walk(ks: Keyspace, r: KeyRef, gte: Buffer, lt: Buffer, reverse: boolean): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const [, v] of ks.members(r, { gte, lt, reverse })) out.push(v);
  return out;
}

/**
 * Walk elements from the left (or right with rev), calling visit(element, index) until it returns
 * false. Index counts from the left either way.
 */
export function listScan(ks: Keyspace, r: KeyRef, rev: boolean,
  visit: (v: Buffer, i: number) => boolean): MaybePromise<void> {
  const m = r.meta!;
  const len = listLength(m);
  if (m.version === 0) {
    const a = m.value as Buffer[];
    if (rev) { for (let i = len - 1; i >= 0; i--) if (!visit(a[i], i)) return; }
    else { for (let i = 0; i < len; i++) if (!visit(a[i], i)) return; }
    return;
  }
  return scanMembers(ks, r, rev, len, visit);
}

async function scanMembers(ks: Keyspace, r: KeyRef, rev: boolean, len: number,
  visit: (v: Buffer, i: number) => boolean): Promise<void> {
  let i = rev ? len - 1 : 0;
  const [head, tail] = bounds(r.meta!);
  for await (const [, v] of ks.members(r, { gte: seqPart(head), lt: seqPart(tail), reverse: rev })) {
    if (!visit(v, i)) return;
    i += rev ? -1 : 1;
  }
}

/** Replace elements [0, k) with elems. Deletes the key if the list becomes empty. */
export function replacePrefix(ks: Keyspace, r: KeyRef, k: number, elems: Buffer[]): void {
  ensureRoom(ks, r, elems.length - k, longest(elems));
  const m = r.meta!;
  if (m.version === 0) {
    const a = m.value as Buffer[];
    a.splice(0, k, ...elems);
    if (a.length === 0) ks.del(r); else ks.dirty(r);
    return;
  }
  const [head, tail] = bounds(m);
  const nh = head + k - elems.length;
  for (let i = head; i < nh; i++) ks.delMember(r, seqPart(i));
  for (let i = 0; i < elems.length; i++) ks.putMember(r, seqPart(nh + i), elems[i]);
  setBounds(ks, r, nh, tail);
}

/** Replace elements [k, length) with elems. Deletes the key if the list becomes empty. */
export function replaceSuffix(ks: Keyspace, r: KeyRef, k: number, elems: Buffer[]): void {
  ensureRoom(ks, r, elems.length - (listLength(r.meta!) - k), longest(elems));
  const m = r.meta!;
  if (m.version === 0) {
    const a = m.value as Buffer[];
    a.splice(k, a.length - k, ...elems);
    if (a.length === 0) ks.del(r); else ks.dirty(r);
    return;
  }
  const [head, tail] = bounds(m);
  const nt = head + k + elems.length;
  for (let i = 0; i < elems.length; i++) ks.putMember(r, seqPart(head + k + i), elems[i]);
  for (let i = nt; i < tail; i++) ks.delMember(r, seqPart(i));
  setBounds(ks, r, head, nt);
}

/**
 * Replace the whole content of a list with elems (non-empty), in a fresh layout: the old member
 * records become one garbage range. Used when that is cheaper than deleting most of a big list.
 */
export function listRebuild(ks: Keyspace, r: KeyRef, elems: Buffer[]): void {
  const m = r.meta!;
  if (m.version !== 0) ks.dropMembers(r);
  m.value = [] as Buffer[];
  ks.dirty(r);
  replaceSuffix(ks, r, 0, elems);
}
