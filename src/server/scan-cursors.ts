/**
 * Global SCAN cursors. A client sees one numeric cursor (0 = start / finished), as with Redis; behind it
 * the server walks the shards in order, each with its own opaque shard cursor. This table maps a global
 * cursor to (shard, shard cursor). It is bounded (least recently used entries fall out): a forgotten or
 * forged cursor restarts the walk at shard 0, which SCAN's contract allows (keys may repeat, none present
 * for the whole iteration is missed).
 */

export interface ScanPosition {
  shard: number;
  /** The shard's own cursor; "0" starts the shard. */
  shardCursor: Buffer;
}

const START: Buffer = Buffer.from('0');

export class ScanCursorTable {
  private readonly map = new Map<string, ScanPosition>();
  private next = 1;

  constructor(private readonly capacity = 10_000) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('scan cursor capacity must be >= 1');
  }

  get size(): number {
    return this.map.size;
  }

  /** Position for a client's cursor text (already validated as an unsigned integer). */
  resolve(cursor: string): ScanPosition {
    if (cursor === '0') return { shard: 0, shardCursor: START };
    const pos = this.map.get(cursor);
    if (pos === undefined) return { shard: 0, shardCursor: START };
    // Refresh recency: a cursor in use stays; reusing the same cursor again gives the same position.
    this.map.delete(cursor);
    this.map.set(cursor, pos);
    return pos;
  }

  /** A new global cursor for `pos`. */
  issue(pos: ScanPosition): string {
    const id = String(this.next);
    this.next = this.next >= Number.MAX_SAFE_INTEGER ? 1 : this.next + 1;
    this.map.set(id, pos);
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    return id;
  }
}

/** True if `s` is a cursor Redis would accept: decimal digits fitting an unsigned 64-bit integer. */
export function isValidCursor(s: string): boolean {
  if (s.length === 0 || s.length > 20) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return s.length < 20 || s <= '18446744073709551615';
}

/** Canonical form of a valid cursor ("007" → "7"), so lookups do not depend on leading zeros. */
export function canonicalCursor(s: string): string {
  let i = 0;
  while (i < s.length - 1 && s.charCodeAt(i) === 48) i++;
  return i === 0 ? s : s.slice(i);
}
