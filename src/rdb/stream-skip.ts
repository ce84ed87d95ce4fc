/**
 * Reads values this version cannot load to their end without holding them: streams (types 15, 19,
 * 21; spec 5.7.7) and module-serialised data (MODULE_2 values and MODULE_AUX payloads; spec 5.7.9).
 * Each piece is an item of its own; the large opaque parts (stream listpacks, module strings,
 * consumer PEL ids) are passed over as raw bytes, so memory stays bounded by a few length headers.
 *
 * Stream layout (all "length" unless said otherwise):
 *   nodes N; N × { string node key (16 raw bytes: master id), string listpack }
 *   entries; last_id ms; last_id seq
 *   [types 19, 21] first_id ms, seq; max_deleted_entry_id ms, seq; entries_added
 *   groups G; G × { string name; last_id ms; last_id seq; [19, 21] entries_read
 *                   pel P; P × { 16 raw bytes id; 8 bytes LE delivery time; delivery count }
 *                   consumers C; C × { string name; 8 bytes LE seen time; [21] 8 bytes LE active time
 *                                      pel Q; Q × 16 raw bytes id } }
 * Module data: { length opcode; item } until opcode 0; items: 1, 2 a length; 3 4 bytes; 4 8 bytes;
 * 5 a string.
 */
import type { FieldReader } from './lengths.js';
import * as T from './types.js';

const S_NODE_COUNT = 0;
const S_NODES = 1;
const S_META = 2;
const S_GROUP = 3;
const S_GROUP_PEL = 4;
const S_CONSUMER_COUNT = 5;
const S_CONSUMERS = 6;
const S_MODULE = 7;
/** The value is read once no raw bytes are left to pass over. */
const S_END = 8;

const STREAM_ID_BYTES = 16;

export class UnloadableSkipper {
  private state = S_END;
  /** Stream value type (15, 19 or 21). */
  private type = 0;
  private left = 0;
  private groupsLeft = 0;
  private consumersLeft = 0;
  /** Raw bytes to pass over before the next item. */
  private skipLeft = 0;

  constructor(private readonly fr: FieldReader) {}

  startStream(type: number): void {
    this.type = type;
    this.state = S_NODE_COUNT;
    this.skipLeft = 0;
  }

  startModuleData(): void {
    this.state = S_MODULE;
    this.skipLeft = 0;
  }

  /** True once the whole value has been read. */
  get finished(): boolean {
    return this.state === S_END && this.skipLeft === 0;
  }

  /** Reads one item (or passes over raw bytes) at s: the position after it, or -1 (fr.needAt set). */
  step(buf: Buffer, s: number, end: number): number {
    if (this.skipLeft > 0) {
      const n = this.skipLeft < end - s ? this.skipLeft : end - s;
      this.skipLeft -= n;
      return s + n;
    }
    const fr = this.fr;
    let q: number;
    switch (this.state) {
      case S_NODE_COUNT:
        q = fr.count(buf, s, end, 'stream node count');
        if (q < 0) return -1;
        this.left = fr.value;
        this.state = this.left > 0 ? S_NODES : S_META;
        return q;
      case S_NODES: {
        // The node key is the 16-byte master id, always stored raw.
        if (s >= end) return fr.needs(s + 1);
        if (buf[s] !== STREAM_ID_BYTES) fr.corrupt(s, 'a stream node key is not a 16-byte stream id');
        q = fr.stringBody(buf, s + 1 + STREAM_ID_BYTES, end);
        if (q < 0) return -1;
        if (fr.value === 0) fr.corrupt(s, 'an empty stream listpack');
        this.skipLeft = fr.value;
        if (--this.left === 0) this.state = S_META;
        return q;
      }
      case S_META: {
        q = s;
        const lengths = this.type === 15 ? 3 : 8;
        for (let i = 0; i < lengths; i++) {
          q = fr.length(buf, q, end);
          if (q < 0) return -1;
        }
        q = fr.count(buf, q, end, 'stream consumer group count');
        if (q < 0) return -1;
        this.groupsLeft = fr.value;
        this.state = this.groupsLeft > 0 ? S_GROUP : S_END;
        return q;
      }
      case S_GROUP: {
        q = fr.stringEnd(buf, s, end);
        if (q < 0) return -1;
        const lengths = this.type === 15 ? 2 : 3;
        for (let i = 0; i < lengths; i++) {
          q = fr.length(buf, q, end);
          if (q < 0) return -1;
        }
        q = fr.count(buf, q, end, 'consumer group PEL size');
        if (q < 0) return -1;
        this.left = fr.value;
        this.state = this.left > 0 ? S_GROUP_PEL : S_CONSUMER_COUNT;
        return q;
      }
      case S_GROUP_PEL:
        q = s + STREAM_ID_BYTES + 8;
        if (q > end) return fr.needs(q);
        q = fr.length(buf, q, end);
        if (q < 0) return -1;
        if (--this.left === 0) this.state = S_CONSUMER_COUNT;
        return q;
      case S_CONSUMER_COUNT:
        q = fr.count(buf, s, end, 'consumer count');
        if (q < 0) return -1;
        this.consumersLeft = fr.value;
        if (this.consumersLeft > 0) this.state = S_CONSUMERS;
        else this.groupDone();
        return q;
      case S_CONSUMERS: {
        q = fr.stringEnd(buf, s, end);
        if (q < 0) return -1;
        q += this.type === 21 ? 16 : 8; // seen time, and active time in STREAM_LISTPACKS_3
        if (q > end) return fr.needs(q);
        q = fr.count(buf, q, end, 'consumer PEL size');
        if (q < 0) return -1;
        this.skipLeft = fr.value * STREAM_ID_BYTES;
        if (--this.consumersLeft === 0) this.groupDone();
        return q;
      }
      case S_MODULE:
        return this.moduleItem(buf, s, end);
      default:
        return fr.corrupt(s, 'internal: skipping past the end of a value');
    }
  }

  private groupDone(): void {
    this.state = --this.groupsLeft > 0 ? S_GROUP : S_END;
  }

  /** <length opcode> <item>; opcode 0 ends the data. */
  private moduleItem(buf: Buffer, s: number, end: number): number {
    const fr = this.fr;
    let q = fr.length(buf, s, end);
    if (q < 0) return -1;
    switch (fr.value) {
      case T.MODULE_OP_EOF:
        this.state = S_END;
        return q;
      case T.MODULE_OP_SINT:
      case T.MODULE_OP_UINT:
        return fr.length(buf, q, end);
      case T.MODULE_OP_FLOAT:
        return q + 4 > end ? fr.needs(q + 4) : q + 4;
      case T.MODULE_OP_DOUBLE:
        return q + 8 > end ? fr.needs(q + 8) : q + 8;
      case T.MODULE_OP_STRING:
        q = fr.stringBody(buf, q, end);
        if (q < 0) return -1;
        this.skipLeft = fr.value;
        return q;
      default:
        return fr.corrupt(s, `unknown module data opcode ${fr.value}`);
    }
  }
}
