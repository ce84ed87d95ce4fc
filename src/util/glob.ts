/**
 * Redis-compatible glob matching over bytes (KEYS, SCAN MATCH, and later PSUBSCRIBE).
 *
 * Pattern syntax, as Redis 7.0 interprets it:
 *   *        any run of bytes (consecutive stars act as one)
 *   ?        exactly one byte
 *   [abc]    one byte from the set; [^abc] one byte not in it; [a-z] a range (ends may be given in
 *            either order); [\]] a backslash inside a class makes the next byte literal (compared
 *            exactly, even with nocase). A class that is not closed extends to the end of the pattern.
 *   \x       the byte x literally (a lone trailing backslash is a literal backslash)
 *   other    that byte literally; with nocase, ASCII letters compare case-insensitively
 *
 * Implementation: classic greedy matching with one backtrack point (the most recent star), which is
 * exact for patterns whose non-star atoms each consume one byte, and linear-ish instead of Redis's
 * recursion.
 */

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/**
 * Try to match one non-star atom at pattern index `p` against byte `c`.
 * Returns the pattern index after the atom, or -1 when the byte does not match.
 */
function matchAtom(pat: Buffer, p: number, c: number, nocase: boolean): number {
  const plen = pat.length;
  const pc = pat[p];
  if (pc === 63 /* ? */) return p + 1;
  if (pc === 91 /* [ */) {
    let i = p + 1;
    const not = i < plen && pat[i] === 94 /* ^ */;
    if (not) i++;
    let hit = false;
    for (;;) {
      if (i >= plen) break;                                  // unterminated: class ends with pattern
      const x = pat[i];
      if (x === 92 /* \ */ && plen - i >= 2) {
        i++;
        if (pat[i] === c) hit = true;
        i++;
      } else if (x === 93 /* ] */) {
        i++;
        break;
      } else if (plen - i >= 3 && pat[i + 1] === 45 /* - */) {
        let lo = x, hi = pat[i + 2], cc = c;
        if (lo > hi) { const t = lo; lo = hi; hi = t; }
        if (nocase) { lo = lower(lo); hi = lower(hi); cc = lower(cc); }
        if (cc >= lo && cc <= hi) hit = true;
        i += 3;
      } else {
        if (nocase ? lower(x) === lower(c) : x === c) hit = true;
        i++;
      }
    }
    return hit !== not ? i : -1;
  }
  let lit = pc, next = p + 1;
  if (pc === 92 /* \ */ && plen - p >= 2) { lit = pat[p + 1]; next = p + 2; }
  return (nocase ? lower(lit) === lower(c) : lit === c) ? next : -1;
}

/** Does `str` match the Redis glob `pat`? */
export function globMatch(pat: Buffer, str: Buffer, nocase = false): boolean {
  const plen = pat.length, slen = str.length;
  // Redis quirk (observed): an empty string matches only the empty pattern, not even "**".
  // (KEYS and SCAN special-case the pattern "*" and so do list the empty key; compileGlob too.)
  if (slen === 0) return plen === 0;
  let p = 0, s = 0;
  let starP = -1, starS = 0;   // backtrack point: pattern index after the star, string index
  while (s < slen) {
    if (p < plen && pat[p] === 42 /* * */) {
      while (p < plen && pat[p] === 42) p++;
      if (p === plen) return true;
      starP = p; starS = s;
      continue;
    }
    if (p < plen) {
      const np = matchAtom(pat, p, str[s], nocase);
      if (np >= 0) { p = np; s++; continue; }
    }
    if (starP < 0) return false;
    p = starP; s = ++starS;
  }
  while (p < plen && pat[p] === 42) p++;
  return p === plen;
}

/** A compiled matcher with a fast path for "*" (matches everything, even "") and for literals. */
export function compileGlob(pattern: Buffer, nocase = false): (s: Buffer) => boolean {
  if (pattern.length === 1 && pattern[0] === 42) return () => true;
  if (!nocase && !/[*?[\\]/.test(pattern.toString('latin1'))) return (s) => pattern.equals(s);
  return (s) => globMatch(pattern, s, nocase);
}

/**
 * The literal prefix every match must start with (bytes before the first special character), so
 * that KEYS/SCAN can seek instead of scanning the whole db. Empty when the pattern starts with one.
 */
export function globLiteralPrefix(pattern: Buffer): Buffer {
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === 42 || c === 63 || c === 91 || c === 92) break;
    i++;
  }
  return pattern.subarray(0, i);
}
