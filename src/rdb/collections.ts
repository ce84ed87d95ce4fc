/**
 * The elements of a plain collection or quicklist value (spec 5.5, 5.6, 5.7.3), read as items of
 * their own so that a value of any size is handed out element by element: memory is bounded by one
 * element, never by the whole value.
 *
 * Element layout by value type, and what part() receives:
 *   1 LIST, 2 SET          <string item>                          part(item)
 *   3 ZSET                 <string member> <"string double">       part(member, score text)
 *                          "string double": 1 length byte; 253 = nan, 254 = inf, 255 = -inf,
 *                          else that many ASCII bytes ("2.5")
 *   4 HASH                 <string field> <string value>           part(field, value)
 *   5 ZSET_2               <string member> <8-byte LE double>      part(member, the 8 raw bytes)
 *   14 LIST_QUICKLIST      <string ziplist>                        part(ziplist blob)
 *   18 LIST_QUICKLIST_2    <length container> <string>             part(blob, one byte 1 | 2)
 *                          container 1 = PLAIN (the string is one item), 2 = PACKED (a listpack)
 *
 * Raw strings are handed out as subarrays of the buffer being parsed; integer-encoded strings are
 * written into scratch buffers; only LZF-compressed strings are new Buffers.
 */
import type { FieldReader } from './lengths.js';
import type { RdbHandler } from './handler.js';
import { QUICKLIST_PACKED, QUICKLIST_PLAIN } from './load-records.js';

const NAN_TEXT = Buffer.from('nan');
const INF_TEXT = Buffer.from('inf');
const NEG_INF_TEXT = Buffer.from('-inf');
/** Container bytes handed out for type 18 nodes (shared: handlers must not write into them). */
const CONTAINER: Buffer[] = [];
CONTAINER[QUICKLIST_PLAIN] = Buffer.of(QUICKLIST_PLAIN);
CONTAINER[QUICKLIST_PACKED] = Buffer.of(QUICKLIST_PACKED);

export class CollectionReader {
  /** The value type being read. */
  type = 0;
  /** Elements (pairs, nodes) still to read. */
  left = 0;
  private readonly aScratch = Buffer.alloc(12);
  private readonly bScratch = Buffer.alloc(12);

  constructor(
    private readonly fr: FieldReader,
    private readonly handler: RdbHandler,
  ) {}

  start(type: number, count: number): void {
    this.type = type;
    this.left = count;
  }

  /**
   * Reads complete elements from s on, handing each to the handler, until the value ends or the
   * next element is incomplete. Returns the position after the last element read, or -1 (with
   * fr.needAt set) when not even one element is complete.
   */
  run(buf: Buffer, s: number, end: number): number {
    let p = s;
    while (this.left > 0) {
      const r = this.one(buf, p, end);
      if (r < 0) return p === s ? -1 : p;
      p = r;
      this.left--;
    }
    return p;
  }

  /** One element at p: its end, or -1 with nothing handed out. */
  private one(buf: Buffer, p: number, end: number): number {
    const fr = this.fr;
    switch (this.type) {
      case 1:
      case 2:
      case 14: {
        const e = fr.stringEnd(buf, p, end);
        if (e < 0) return -1;
        this.handler.part?.(fr.string(buf, p, this.aScratch));
        return e;
      }
      case 4: {
        const fe = fr.stringEnd(buf, p, end);
        if (fe < 0) return -1;
        const ve = fr.stringEnd(buf, fe, end);
        if (ve < 0) return -1;
        this.handler.part?.(fr.string(buf, p, this.aScratch), fr.string(buf, fe, this.bScratch));
        return ve;
      }
      case 5: {
        const me = fr.stringEnd(buf, p, end);
        if (me < 0) return -1;
        if (me + 8 > end) return fr.needs(me + 8);
        this.handler.part?.(fr.string(buf, p, this.aScratch), buf.subarray(me, me + 8));
        return me + 8;
      }
      case 3:
        return this.zsetPair(buf, p, end);
      default: // 18
        return this.quicklist2Node(buf, p, end);
    }
  }

  /** ZSET (type 3): member, then a "string double" score. */
  private zsetPair(buf: Buffer, p: number, end: number): number {
    const fr = this.fr;
    const me = fr.stringEnd(buf, p, end);
    if (me < 0) return -1;
    if (me >= end) return fr.needs(me + 1);
    const n = buf[me];
    let score: Buffer;
    let e: number;
    if (n >= 253) {
      score = n === 253 ? NAN_TEXT : n === 254 ? INF_TEXT : NEG_INF_TEXT;
      e = me + 1;
    } else {
      e = me + 1 + n;
      if (e > end) return fr.needs(e);
      if (n === 0) fr.corrupt(me, 'a sorted set score of length 0');
      score = buf.subarray(me + 1, e);
    }
    this.handler.part?.(fr.string(buf, p, this.aScratch), score);
    return e;
  }

  /** LIST_QUICKLIST_2 (type 18): container, then the node's string. */
  private quicklist2Node(buf: Buffer, p: number, end: number): number {
    const fr = this.fr;
    const q = fr.length(buf, p, end);
    if (q < 0) return -1;
    const container = fr.value;
    if (container !== QUICKLIST_PLAIN && container !== QUICKLIST_PACKED) {
      fr.corrupt(p, `quicklist node container ${container} (expected ${QUICKLIST_PLAIN} = PLAIN or ${QUICKLIST_PACKED} = PACKED)`);
    }
    const e = fr.stringEnd(buf, q, end);
    if (e < 0) return -1;
    this.handler.part?.(fr.string(buf, q, this.aScratch), CONTAINER[container]);
    return e;
  }
}
