/**
 * What the streaming RDB parser (parser.ts) reports, and its options.
 */

/** One key of the snapshot. */
export interface RdbEntry {
  db: number;
  key: Buffer;
  /** RDB value type (spec 5.5). */
  type: number;
  /** entry(): the string (type 0) or the blob (types 9-13, 16, 17, 20). begin(): empty. */
  value: Buffer;
  /** Absolute expiry in unix ms, or -1 when the key has none. */
  expireMs: number;
}

/**
 * What the parser reports. Buffers handed to any callback are only valid during the call (they may
 * point into the caller's chunk or the parser's pending buffer, and `RdbEntry` objects are reused):
 * copy what you keep.
 */
export interface RdbHandler {
  /** An AUX field (copies: the handler may keep them). Unknown fields are for the handler to ignore. */
  aux?(key: Buffer, value: Buffer): void;
  selectDb?(db: number): void;
  resizeDb?(dbSize: number, expiresSize: number): void;
  /** A function library's source, `#!<engine> name=<lib>\n…` (a copy). */
  functionLib?(code: Buffer): void;
  /**
   * A key whose value is one string: a STRING (type 0) of at most STRING_STREAM_MIN (64 KiB) bytes
   * once decompressed, or a compact blob (9-13, 16, 17, 20) left undecoded.
   */
  entry(e: RdbEntry): void;
  /**
   * A key whose value comes in parts: plain collections 1-5, quicklists 14 and 18, and a STRING
   * (type 0) longer than STRING_STREAM_MIN. `count` is the number of elements (1, 2), of pairs
   * (3, 4, 5), of nodes (14, 18), or the string's length in bytes (0). Then part() once per
   * element / pair / node / piece, in order, then end(). Parts by type (src/rdb/load-records.ts):
   *   0: (piece) consecutive pieces of the string, each at most STRING_STREAM_MIN bytes (any split:
   *      only their concatenation is the value; LZF strings arrive decompressed)
   *   1, 2: (item)   3: (member, score text; "nan"/"inf"/"-inf" for the special lengths)
   *   4: (field, value)   5: (member, 8-byte LE double)   14: (ziplist blob)
   *   18: (blob, one byte: 1 = PLAIN, 2 = PACKED)
   * A handler without begin/part/end does not see such keys at all (a long string included).
   */
  begin?(e: RdbEntry, count: number): void;
  part?(a: Buffer, b?: Buffer): void;
  end?(): void;
  /**
   * A key the parser read to its end but cannot load (streams 15/19/21, MODULE_2 values), reported
   * only with `skipUnloadable`; without it the parser throws PARAREPLICA_RDB_UNSUPPORTED.
   */
  skipped?(key: Buffer, db: number, type: number): void;
}

export interface RdbParserOptions {
  /** Verify the CRC64 trailer (default true). */
  verifyChecksum?: boolean;
  /** Longest string accepted, in bytes (default 2 GiB); longer is reported as corruption. */
  maxStringLen?: number;
  /** Read stream and MODULE_2 values to their end and report them with skipped() (default false). */
  skipUnloadable?: boolean;
}
