/**
 * SORT / SORT_RO option parsing, shared by the main-thread router (which needs to know which keys a
 * SORT reads and writes) and the applier workers (which compute it). No worker imports here.
 *
 *   SORT key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC|DESC] [ALPHA] [STORE dst]
 *   SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC|DESC] [ALPHA]
 *
 * Parsing follows Redis 7.0's sort.c word by word: options in any order and repeatable (the last
 * BY / LIMIT / STORE wins, GETs accumulate); option names compare case-insensitively as C strings
 * (strcasecmp stops at a NUL byte); LIMIT needs two following words that are strict int64s, else
 * "ERR value is not an integer or out of range"; an option with too few words after it, an unknown
 * word, or STORE in SORT_RO is "ERR syntax error". A BY pattern without '*' (C string) means "do not
 * sort", and that sticks even if a later BY has a '*'.
 */
import { parseI64 } from '../util/numbers.js';

export interface SortArgs {
  /** The source key (argv[1]). */
  key: Buffer;
  /** The last BY pattern, or null when there was none. Not used when `dontsort`. */
  by: Buffer | null;
  /** Some BY pattern had no '*' (BY nosort): keep the source order. */
  dontsort: boolean;
  /** LIMIT offset (default 0) and count (default -1: all). Clamped to ±2^53 (only compared with sizes). */
  limitOffset: number;
  limitCount: number;
  /** GET patterns in order ('#' = the element itself). */
  gets: Buffer[];
  desc: boolean;
  alpha: boolean;
  /** argv index of the STORE destination, or -1. */
  store: number;
}

const ERR_SYNTAX = 'ERR syntax error';
const ERR_NOT_INT = 'ERR value is not an integer or out of range';

/** Length of the C-string view of b (up to the first NUL byte). */
export function cLength(b: Uint8Array): number {
  const i = b.indexOf(0);
  return i < 0 ? b.length : i;
}

/** strcasecmp(b, word) === 0 for an ASCII lowercase word. */
function isWord(b: Uint8Array, word: string): boolean {
  const n = cLength(b);
  if (n !== word.length) return false;
  for (let i = 0; i < n; i++) {
    const c = b[i];
    if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== word.charCodeAt(i)) return false;
  }
  return true;
}

/** Index of the first '*' in the C-string view of p, or -1. */
export function starIndex(p: Uint8Array): number {
  const n = cLength(p);
  for (let i = 0; i < n; i++) if (p[i] === 0x2a) return i;
  return -1;
}

/** True for the pattern "#" (as a C string: "#" followed by the end or a NUL byte). */
export function isHashPattern(p: Uint8Array): boolean {
  return p.length > 0 && p[0] === 0x23 && (p.length === 1 || p[1] === 0);
}

function toLong(b: Buffer): number | null {
  const v = parseI64(b);
  if (v === null) return null;
  return typeof v === 'number' ? v : Number(v);
}

/**
 * Parses SORT / SORT_RO the way Redis 7.0 does, or returns the error reply. `readonly` (SORT_RO: no
 * STORE) defaults to what argv[0] names.
 */
export function parseSortArgs(
  argv: readonly Buffer[], readonly = argv.length > 0 && isWord(argv[0], 'sort_ro'),
): SortArgs | { error: string } {
  if (argv.length < 2) return { error: `ERR wrong number of arguments for '${readonly ? 'sort_ro' : 'sort'}' command` };
  const out: SortArgs = {
    key: argv[1], by: null, dontsort: false, limitOffset: 0, limitCount: -1, gets: [], desc: false, alpha: false, store: -1,
  };
  const argc = argv.length;
  for (let j = 2; j < argc; j++) {
    const w = argv[j];
    const left = argc - j - 1;
    if (isWord(w, 'asc')) out.desc = false;
    else if (isWord(w, 'desc')) out.desc = true;
    else if (isWord(w, 'alpha')) out.alpha = true;
    else if (isWord(w, 'limit') && left >= 2) {
      const a = toLong(argv[j + 1]);
      if (a === null) return { error: ERR_NOT_INT };
      const b = toLong(argv[j + 2]);
      if (b === null) return { error: ERR_NOT_INT };
      out.limitOffset = a;
      out.limitCount = b;
      j += 2;
    } else if (!readonly && isWord(w, 'store') && left >= 1) {
      out.store = ++j;
    } else if (isWord(w, 'by') && left >= 1) {
      out.by = argv[++j];
      if (starIndex(out.by) < 0) out.dontsort = true;
    } else if (isWord(w, 'get') && left >= 1) {
      out.gets.push(argv[++j]);
    } else {
      return { error: ERR_SYNTAX };
    }
  }
  return out;
}

/**
 * The BY / GET patterns that make SORT read keys other than its source: the BY pattern when it is
 * used for sorting (has a '*' and no BY without '*' was given), and every GET pattern except '#' and
 * those without '*' (Redis looks nothing up for them: they always yield nil).
 */
export function sortPatternKeys(args: SortArgs): Buffer[] {
  const out: Buffer[] = [];
  if (!args.dontsort && args.by !== null && starIndex(args.by) >= 0) out.push(args.by);
  for (const g of args.gets) if (!isHashPattern(g) && starIndex(g) >= 0) out.push(g);
  return out;
}
