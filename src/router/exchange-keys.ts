/**
 * Which keys a moving or combining command writes and reads: the roles of a cross-shard exchange.
 * Shared by the router (main thread: which shards take part) and the appliers (what each shard
 * exports, what the destination computes), so both always agree.
 *
 *   RENAME src dst            dest 2  sources [1]      (the source deletes src)
 *   RENAMENX src dst          dest 2  sources [1]      (the source deletes src)
 *   COPY src dst [DB d] …     dest 2  sources [1]
 *   SMOVE src dst member      dest 2  sources [1]      (the source removes member)
 *   LMOVE / RPOPLPUSH src dst dest 2  sources [1]      (the source pops one element)
 *   S*STORE dst k…            dest 1  sources 2…
 *   Z*STORE dst numkeys k…    dest 1  sources 3…3+numkeys-1
 *   ZRANGESTORE dst src …     dest 1  sources [2]
 *   GEOSEARCHSTORE dst src …  dest 1  sources [2]
 *   GEORADIUS[BYMEMBER] key … STORE|STOREDIST dst   dest = after the last STORE/STOREDIST, sources [1]
 *   SORT key … STORE dst      dest = after STORE, sources [1], plus the keys its BY/GET patterns name
 *   BITOP op dst k…           dest 2  sources 3…
 *
 * Sources always live in the command's db (COPY … DB d only moves the destination).
 */
import { parseSortArgs, sortPatternKeys } from './sort-args.js';

export interface ExchangeRoles {
  /** argv index of the key the command writes: its shard executes the command. */
  dest: number;
  /** argv indexes of the keys whose values the command reads (in argv order, may repeat). */
  sources: number[];
  /**
   * SORT BY/GET patterns naming other keys (`weight_*`, `obj_*->field`): every key matching one of
   * them is a source too. Empty when the command reads no such keys.
   */
  patterns: Buffer[];
}

const NONE: Buffer[] = [];

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let i = from; i < to; i++) out.push(i);
  return out;
}

function lower(b: Buffer | undefined): string {
  return b === undefined ? '' : b.toString('latin1').toLowerCase();
}

/** Index of the word after the last STORE / STOREDIST option (GEORADIUS*), or -1. */
function storeTarget(argv: readonly Buffer[], from: number): number {
  let at = -1;
  for (let i = from; i < argv.length - 1; i++) {
    const w = lower(argv[i]);
    if (w === 'store' || w === 'storedist') { at = i + 1; i++; }
  }
  return at;
}

/**
 * Roles of `argv` (argv[0] the command name, any case), or null when the command is not a moving or
 * combining command or has no destination (GEORADIUS without STORE, SORT without STORE: reads).
 * Malformed argv (too short) also gives null: the applier then reports the Redis error itself.
 */
export function exchangeRoles(argv: readonly Buffer[]): ExchangeRoles | null {
  const name = lower(argv[0]);
  const n = argv.length;
  switch (name) {
    case 'rename': case 'renamenx': case 'smove': case 'lmove': case 'rpoplpush':
      return n >= 3 ? { dest: 2, sources: [1], patterns: NONE } : null;
    case 'copy':
      return n >= 3 ? { dest: 2, sources: [1], patterns: NONE } : null;
    case 'sinterstore': case 'sunionstore': case 'sdiffstore':
      return n >= 3 ? { dest: 1, sources: range(2, n), patterns: NONE } : null;
    case 'zunionstore': case 'zinterstore': case 'zdiffstore': {
      if (n < 4) return null;
      const k = Number(argv[2].toString('latin1'));
      if (!Number.isInteger(k) || k < 1 || 3 + k > n) return null;
      return { dest: 1, sources: range(3, 3 + k), patterns: NONE };
    }
    case 'zrangestore': case 'geosearchstore':
      return n >= 3 ? { dest: 1, sources: [2], patterns: NONE } : null;
    case 'georadius': case 'georadiusbymember': {
      const d = storeTarget(argv, name === 'georadius' ? 6 : 5);
      return d > 0 ? { dest: d, sources: [1], patterns: NONE } : null;
    }
    case 'sort': {
      const a = parseSortArgs(argv);
      if ('error' in a || a.store < 0) return null;
      return { dest: a.store, sources: [1], patterns: sortPatternKeys(a) };
    }
    case 'bitop':
      return n >= 4 ? { dest: 2, sources: range(3, n), patterns: NONE } : null;
    default:
      return null;
  }
}

/** The key part of a SORT pattern (before `->field`, as Redis's lookupKeyByPattern splits it). */
export function patternKeyPart(pattern: Buffer): Buffer {
  // Redis looks for "->" after the '*', and it only counts when a field name follows it.
  const star = pattern.indexOf(0x2a);
  const arrow = star < 0 ? -1 : pattern.indexOf('->', star + 1);
  return arrow > 0 && arrow + 2 < pattern.length ? pattern.subarray(0, arrow) : pattern;
}

/**
 * The hash-tag shard of a pattern if every key it can name hashes to one slot (a `{tag}` without `*`
 * inside, as Redis Cluster's patternHashSlot), else -1: the keys may live on any shard.
 */
export function patternFixedSlotKey(pattern: Buffer): Buffer | null {
  const key = patternKeyPart(pattern);
  const open = key.indexOf(0x7b);   // '{'
  if (open < 0) return null;
  const close = key.indexOf(0x7d, open + 1);   // '}'
  if (close < 0 || close === open + 1) return null;
  const tag = key.subarray(open + 1, close);
  if (tag.includes(0x2a)) return null;   // '*' inside the tag: the slot depends on the element
  if (key.subarray(0, open).includes(0x2a)) return null;   // a '*' before the tag changes which tag counts
  return tag;
}
