/**
 * Snapshot load records: how one key of an RDB snapshot travels from the main thread (which frames
 * the snapshot, rdb/parser.ts) to the applier of the key's shard (which decodes compact encodings and
 * writes, workers/rdb_load.ts). One key is one or more ring records of kind RDB_ENTRY:
 *
 *   record header: kind = RDB_ENTRY, db = the key's db, offset = -1, aux = RDB value type (spec 5.5),
 *                  flags = REC_F_FIRST on the key's first record, REC_F_LAST on its last one
 *                  (a key that fits in one record has both)
 *   payload (RESP array, as a command):  [ key, expireMs, part, part, … ]
 *     key       the Redis key
 *     expireMs  absolute unix ms as decimal text, "-1" for none; meaningful on the LAST record
 *     parts     by type:
 *       0  STRING                              the value                        (one record)
 *                                              longer than STRING_STREAM_MIN:
 *                                              consecutive pieces of the value  (chunked)
 *       9, 10, 11, 12, 13, 16, 17, 20          the blob (zipmap, ziplist, intset, listpack)
 *                                              to decode on the applier         (one record)
 *       1  LIST                                items, in order                  (chunked)
 *       2  SET                                 members                          (chunked)
 *       3  ZSET                                member, score-text pairs ("inf", "-inf", "nan")
 *       4  HASH                                field, value pairs
 *       5  ZSET_2                              member, 8-byte little-endian IEEE-754 double pairs
 *       14 LIST_QUICKLIST                      ziplist blobs, one per node
 *       18 LIST_QUICKLIST_2                    blob, container pairs per node: container is one
 *                                              byte, 1 = PLAIN (blob is one item), 2 = PACKED
 *                                              (blob is a listpack of items)
 *
 * A chunked value is cut on element (or node) boundaries into records of at most LOAD_CHUNK_PARTS
 * parts or about LOAD_CHUNK_BYTES bytes, so no record, and no applier step, is bigger than that
 * (plus one element). The applier creates the key on FIRST (the key never exists yet: the snapshot
 * loads into a fresh epoch), appends on the following records, and sets the expiry on LAST.
 * A long STRING (type 0, more than STRING_STREAM_MIN bytes once decompressed) is read by the parser
 * piece by piece (begin / part / end, pieces of at most STRING_STREAM_MIN bytes) and travels the
 * same way: every record holds one or more pieces, at most LOAD_CHUNK_BYTES bytes in all, the value
 * is the pieces' concatenation in record order; the applier appends each record's pieces to the
 * string without ever holding the whole value. A string of at most STRING_STREAM_MIN bytes stays
 * one record [key, expireMs, value] with FIRST | LAST. A
 * collection that decodes to no element is not created (Redis skips such keys with a warning).
 * Duplicate members or fields are corruption (PARAREPLICA_RDB_CORRUPT naming the key).
 */
export { REC_F_FIRST, REC_F_LAST } from '../shm/layout.js';

/** Most parts in one chunk record. */
export const LOAD_CHUNK_PARTS = 1024;
/** A chunk record is closed once its parts hold this many bytes. */
export const LOAD_CHUNK_BYTES = 64 << 10;

/**
 * A STRING longer than this (decompressed) is streamed: begin/part/end from the parser, pieces of at
 * most this size, several load records. One piece fits one chunk record.
 */
export const STRING_STREAM_MIN = LOAD_CHUNK_BYTES;

/**
 * Types the parser may report with entry(), a value carried whole in one record: compact blobs, and
 * STRING (type 0) when at most STRING_STREAM_MIN bytes (a longer one comes by begin/part/end).
 */
export function isOneRecordType(type: number): boolean {
  return type === 0 || (type >= 9 && type <= 13) || type === 16 || type === 17 || type === 20;
}

/** Container byte of a LIST_QUICKLIST_2 node. */
export const QUICKLIST_PLAIN = 1;
export const QUICKLIST_PACKED = 2;
