/**
 * Keyspace reads that the server routes to the shard appliers: single-shard commands go to the owner of
 * their keys; MGET / EXISTS / KEYS / DBSIZE / SCAN / the INFO keyspace are split over the shards and
 * their replies reassembled in request order.
 */
import type { ReadBackend } from './backend.js';
import { ScanCursorTable, isValidCursor, canonicalCursor, type ScanPosition } from './scan-cursors.js';
import { keyspaceFields, type InfoFields } from './info.js';

const SCAN = Buffer.from('SCAN');
const COUNT = Buffer.from('COUNT');
const KEYSPACE = Buffer.from('__KEYSPACE');
const ZERO = Buffer.from('0');
const SYNTAX = { error: 'ERR syntax error' };
const NOT_INT = { error: 'ERR value is not an integer or out of range' };

/** Most shard calls one SCAN request makes before handing a cursor back (bounds its latency). */
const MAX_SCAN_STEPS = 64;

function isErrorReply(v: unknown): v is { error: string } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && 'error' in v;
}

function badShardReply(cmd: string, shard: number): { error: string } {
  return { error: `ERR shard ${shard} returned a malformed ${cmd} reply; this is a parareplica bug, please report it` };
}

export class KeyspaceReader {
  private readonly cursors: ScanCursorTable;

  constructor(private readonly backend: ReadBackend, scanCursors = 10_000) {
    this.cursors = new ScanCursorTable(scanCursors);
  }

  /**
   * The one shard owning every key at `keyIdx`, or -1 when they are spread over several shards.
   * keyIdx must be non-empty.
   */
  shardOfKeys(argv: readonly Buffer[], keyIdx: readonly number[]): number {
    const b = this.backend;
    const shard = b.shardOf(argv[keyIdx[0]]);
    for (let i = 1; i < keyIdx.length; i++) if (b.shardOf(argv[keyIdx[i]]) !== shard) return -1;
    return shard;
  }

  /** A command whose keys all live on `shard`: forwarded as is. */
  forward(shard: number, db: number, argv: Buffer[]): Promise<unknown> {
    return this.backend.read(shard, db, argv);
  }

  /** Groups argv[1..] by shard: shard → indexes into argv. */
  private groupKeys(argv: readonly Buffer[]): Map<number, number[]> {
    const groups = new Map<number, number[]>();
    for (let i = 1; i < argv.length; i++) {
      const s = this.backend.shardOf(argv[i]);
      const g = groups.get(s);
      if (g) g.push(i); else groups.set(s, [i]);
    }
    return groups;
  }

  /** MGET k…: each shard gets its keys; values land back at their request positions. */
  async mget(db: number, argv: Buffer[]): Promise<unknown> {
    const groups = this.groupKeys(argv);
    if (groups.size === 1) return this.backend.read(groups.keys().next().value!, db, argv);
    const entries = [...groups];
    const replies = await Promise.all(entries.map(([shard, idx]) =>
      this.backend.read(shard, db, [argv[0], ...idx.map((i) => argv[i])])));
    const out: unknown[] = new Array(argv.length - 1).fill(null);
    for (let g = 0; g < entries.length; g++) {
      const [shard, idx] = entries[g];
      const reply = replies[g];
      if (isErrorReply(reply)) return reply;
      if (!Array.isArray(reply) || reply.length !== idx.length) return badShardReply('MGET', shard);
      for (let j = 0; j < idx.length; j++) out[idx[j] - 1] = reply[j];
    }
    return out;
  }

  /** EXISTS k…: sum of the shards' counts (a key named twice counts twice, as in Redis). */
  async exists(db: number, argv: Buffer[]): Promise<unknown> {
    const groups = this.groupKeys(argv);
    if (groups.size === 1) return this.backend.read(groups.keys().next().value!, db, argv);
    const replies = await Promise.all([...groups].map(([shard, idx]) =>
      this.backend.read(shard, db, [argv[0], ...idx.map((i) => argv[i])])));
    return sumOrError(replies, 'EXISTS');
  }

  /** DBSIZE: keys of the db over all shards. */
  async dbsize(db: number, argv: Buffer[]): Promise<unknown> {
    return sumOrError(await this.fanOut(db, argv), 'DBSIZE');
  }

  /** KEYS pattern: every shard's matches, shard after shard. */
  async keys(db: number, argv: Buffer[]): Promise<unknown> {
    const replies = await this.fanOut(db, argv);
    const out: unknown[] = [];
    for (let s = 0; s < replies.length; s++) {
      const r = replies[s];
      if (isErrorReply(r)) return r;
      if (!Array.isArray(r)) return badShardReply('KEYS', s);
      for (const k of r) out.push(k);
    }
    return out;
  }

  /**
   * SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] → [cursor, keys].
   * Walks shard 0..S-1 in order from the cursor's position, calling each shard's SCAN until about
   * COUNT keys are collected, the last shard is finished (cursor "0"), or MAX_SCAN_STEPS calls are made.
   */
  async scan(db: number, argv: Buffer[]): Promise<unknown> {
    const cursorText = argv[1].toString('latin1');
    if (!isValidCursor(cursorText)) return { error: 'ERR invalid cursor' };
    let count = 10;
    const opts: Buffer[] = [];
    for (let i = 2; i < argv.length; i += 2) {
      if (i + 1 >= argv.length) return SYNTAX;
      const opt = argv[i].toString('latin1').toLowerCase();
      if (opt === 'count') {
        const s = argv[i + 1].toString('latin1');
        const n = /^-?\d{1,18}$/.test(s) ? Number(s) : NaN;
        if (!Number.isSafeInteger(n)) return NOT_INT;
        if (n < 1) return SYNTAX;
        count = n;
      } else if (opt === 'match' || opt === 'type') {
        opts.push(argv[i], argv[i + 1]);
      } else {
        return SYNTAX;
      }
    }
    const shards = this.backend.shardCount;
    const pos: ScanPosition = this.cursors.resolve(canonicalCursor(cursorText));
    let shard = pos.shard < shards ? pos.shard : shards;
    let shardCursor = pos.shardCursor;
    const countArg = Buffer.from(String(count));
    const keys: unknown[] = [];
    for (let steps = 0; shard < shards && keys.length < count && steps < MAX_SCAN_STEPS; steps++) {
      const reply = await this.backend.read(shard, db, [SCAN, shardCursor, ...opts, COUNT, countArg]);
      if (isErrorReply(reply)) return reply;
      if (!Array.isArray(reply) || reply.length !== 2 || !Array.isArray(reply[1])) return badShardReply('SCAN', shard);
      const [next, found] = reply as [unknown, unknown[]];
      for (const k of found) keys.push(k);
      if (next === null || next === undefined || (Buffer.isBuffer(next) && next.equals(ZERO))) {
        shard++;
        shardCursor = ZERO;
      } else if (Buffer.isBuffer(next)) {
        shardCursor = next;
      } else {
        return badShardReply('SCAN', shard);
      }
    }
    const cursor = shard >= shards ? '0' : this.cursors.issue({ shard, shardCursor });
    return [Buffer.from(cursor), keys];
  }

  /** The INFO Keyspace section: every shard's __KEYSPACE, summed per db. */
  async keyspace(): Promise<InfoFields> {
    return keyspaceFields(await this.fanOut(0, [KEYSPACE]));
  }

  /** Same argv on every shard; replies in shard order. */
  private fanOut(db: number, argv: Buffer[]): Promise<unknown[]> {
    const n = this.backend.shardCount;
    const calls: Array<Promise<unknown>> = new Array(n);
    for (let s = 0; s < n; s++) calls[s] = this.backend.read(s, db, argv);
    return Promise.all(calls);
  }
}

function sumOrError(replies: readonly unknown[], cmd: string): unknown {
  let total = 0;
  for (let s = 0; s < replies.length; s++) {
    const r = replies[s];
    if (typeof r === 'number') total += r;
    else if (typeof r === 'bigint') total += Number(r);
    else if (isErrorReply(r)) return r;
    else return badShardReply(cmd, s);
  }
  return total;
}
