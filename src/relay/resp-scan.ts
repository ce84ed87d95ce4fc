/**
 * A minimal framer for the master's command stream: it finds where the last complete command ends, and
 * follows SELECT / MULTI / EXEC so the stream state (selected db, inside a transaction or not) at that
 * point is known. The relay log uses it to recover a torn segment at open; the stream pump runs it over
 * every incoming chunk to know whether the chunk ends at a safe rotation point, so it allocates nothing
 * per command and never copies bytes.
 */

/** Stream state at a command boundary. */
export interface ScanState {
  /** Database selected by the last SELECT seen (or the segment's starting db). */
  db: number;
  /** True between a MULTI and its EXEC. */
  inMulti: boolean;
}

export interface ScanResult extends ScanState {
  /** Index just after the last complete command (== `start` if none is complete). */
  end: number;
  /** Number of complete commands framed. */
  commands: number;
  /**
   * Index of the first command that is not valid framing, or -1. When >= 0, scanning stopped there and
   * `end` equals it; bytes after it cannot be trusted.
   */
  corruptAt: number;
}

const STAR = 0x2a; // '*'
const DOLLAR = 0x24; // '$'
const CR = 0x0d;
const LF = 0x0a;
/** Longest decimal we accept in a header: 2^53 has 16 digits. */
const MAX_DIGITS = 16;

/** Parse outcome for one header integer: >= 0 is the value; these negatives are signals. */
const INCOMPLETE = -1;
const CORRUPT = -2;

/**
 * Frame commands in `buf[start, limit)` starting from `state`.
 *
 * Wire format (Redis stream, see spec 3.1) — every command is a RESP array of bulk strings:
 *
 *     *<n>\r\n  then n times  $<len>\r\n<len bytes>\r\n
 *
 * e.g. `*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n` (23 bytes). n >= 1 and len >= 0; anything else (inline data,
 * a bare newline, negative lengths, other RESP types) is reported as corruption.
 */
export function scanCommands(buf: Uint8Array, start: number, limit: number, state: ScanState): ScanResult {
  let pos = start;
  let done = start; // end of the last complete command
  let commands = 0;
  let db = state.db;
  let inMulti = state.inMulti;
  let corruptAt = -1;
  const hdr = { value: 0, next: 0 };

  outer: while (pos < limit) {
    const cmdStart = pos;
    if (buf[pos] !== STAR) {
      corruptAt = cmdStart;
      break;
    }
    const n = readHeaderInt(buf, pos + 1, limit, hdr);
    if (n === INCOMPLETE) break;
    if (n === CORRUPT || hdr.value < 1) {
      corruptAt = cmdStart;
      break;
    }
    const argc = hdr.value;
    pos = hdr.next;
    // First two arguments, kept as ranges so SELECT/MULTI/EXEC can be recognised without copying.
    let a0s = 0, a0e = 0, a1s = 0, a1e = 0;
    for (let i = 0; i < argc; i++) {
      if (pos >= limit) break outer;
      if (buf[pos] !== DOLLAR) {
        corruptAt = cmdStart;
        break outer;
      }
      const r = readHeaderInt(buf, pos + 1, limit, hdr);
      if (r === INCOMPLETE) break outer;
      if (r === CORRUPT) {
        corruptAt = cmdStart;
        break outer;
      }
      const dataStart = hdr.next;
      const dataEnd = dataStart + hdr.value;
      if (dataEnd + 2 > limit) break outer;
      if (buf[dataEnd] !== CR || buf[dataEnd + 1] !== LF) {
        corruptAt = cmdStart;
        break outer;
      }
      if (i === 0) { a0s = dataStart; a0e = dataEnd; }
      else if (i === 1) { a1s = dataStart; a1e = dataEnd; }
      pos = dataEnd + 2;
    }
    // The command is complete: track the state it leaves behind.
    const nameLen = a0e - a0s;
    if (nameLen === 6 && argc === 2 && equalsLower(buf, a0s, 'select')) {
      const v = parseDecimal(buf, a1s, a1e);
      if (v >= 0) db = v;
    } else if (nameLen === 5 && equalsLower(buf, a0s, 'multi')) {
      inMulti = true;
    } else if (nameLen === 4 && equalsLower(buf, a0s, 'exec')) {
      inMulti = false;
    }
    commands++;
    done = pos;
  }
  return { end: done, commands, db, inMulti, corruptAt };
}

/**
 * Read the decimal after a `*` or `$` marker up to its CRLF. Returns INCOMPLETE if the buffer ends
 * first, CORRUPT if a non-digit appears or the number is too long, else 0 with hdr filled in.
 */
function readHeaderInt(buf: Uint8Array, pos: number, limit: number, hdr: { value: number; next: number }): number {
  let v = 0;
  let digits = 0;
  while (pos < limit) {
    const c = buf[pos];
    if (c === CR) {
      if (digits === 0) return CORRUPT;
      if (pos + 1 >= limit) return INCOMPLETE;
      if (buf[pos + 1] !== LF) return CORRUPT;
      hdr.value = v;
      hdr.next = pos + 2;
      return 0;
    }
    if (c < 0x30 || c > 0x39 || ++digits > MAX_DIGITS) return CORRUPT;
    v = v * 10 + (c - 0x30);
    pos++;
  }
  return INCOMPLETE;
}

/** ASCII case-insensitive comparison of buf[at, at+word.length) with a lowercase word. */
function equalsLower(buf: Uint8Array, at: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) {
    if ((buf[at + i] | 0x20) !== word.charCodeAt(i)) return false;
  }
  return true;
}

/** Non-negative decimal in buf[s, e), or -1 if it is not one. */
function parseDecimal(buf: Uint8Array, s: number, e: number): number {
  if (e <= s || e - s > MAX_DIGITS) return -1;
  let v = 0;
  for (let i = s; i < e; i++) {
    const c = buf[i];
    if (c < 0x30 || c > 0x39) return -1;
    v = v * 10 + (c - 0x30);
  }
  return v;
}
