/** Chunk splits for streaming-parser tests: random cut points become sorted chunk ends. */
import type { RdbParser } from '../../src/rdb/parser.js';

/** Ends of the chunks that `cuts` (any integers) make of `len` bytes: distinct, ascending, last = len. */
export function chunkEnds(cuts: number[], len: number): number[] {
  return [...[...new Set(cuts.map((x) => x % (len + 1)))].sort((a, b) => a - b), len];
}

/** Feeds `buf` to the parser in the chunks `cuts` make, until it is done; returns the bytes it used. */
export function feedInChunks(parser: RdbParser, buf: Buffer, cuts: number[]): number {
  let used = 0;
  let prev = 0;
  for (const c of chunkEnds(cuts, buf.length)) {
    used += parser.feed(buf.subarray(prev, c));
    prev = c;
    if (parser.done) break;
  }
  return used;
}
