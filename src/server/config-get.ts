/**
 * CONFIG GET pattern [pattern …] over the few settings the read server reports (databases, port, bind,
 * maxclients, replica-read-only…). Patterns are Redis glob patterns matched case-insensitively:
 *   *  any run of bytes     ?  one byte     [abc] [^abc] [a-z]  a class     \x  x literally
 * The reply is a flat array of name, value pairs (a map in RESP2), each name at most once.
 */

/** Compiles a Redis-style glob to a RegExp (anchored; `nocase` adds the i flag). */
export function globToRegExp(pattern: string, nocase = false): RegExp {
  let re = '^';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*') re += '[\\s\\S]*';
    else if (ch === '?') re += '[\\s\\S]';
    else if (ch === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]);
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) { re += '\\['; continue; }
      let body = pattern.slice(i + 1, end);
      let neg = false;
      if (body.startsWith('^')) { neg = true; body = body.slice(1); }
      let cls = '';
      for (let j = 0; j < body.length; j++) {
        if (body[j] === '\\' && j + 1 < body.length) { cls += escapeClass(body[++j]); continue; }
        if (body[j + 1] === '-' && j + 2 < body.length) {
          let a = body[j], b = body[j + 2];
          if (a > b) [a, b] = [b, a];
          cls += `${escapeClass(a)}-${escapeClass(b)}`;
          j += 2;
        } else cls += escapeClass(body[j]);
      }
      re += cls === '' ? (neg ? '[\\s\\S]' : '(?!)') : `[${neg ? '^' : ''}${cls}]`;
      i = end;
    } else re += escapeRe(ch);
  }
  return new RegExp(re + '$', nocase ? 'i' : '');
}

function escapeRe(ch: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(ch) ? '\\' + ch : ch;
}

function escapeClass(ch: string): string {
  return /[\\\]^-]/.test(ch) ? '\\' + ch : ch;
}

export function configGet(settings: ReadonlyArray<[string, string]>, patterns: readonly Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  for (const p of patterns) {
    const re = globToRegExp(p.toString('latin1'), true);
    for (const [name, value] of settings) {
      if (seen.has(name) || !re.test(name)) continue;
      seen.add(name);
      out.push(Buffer.from(name), Buffer.from(value));
    }
  }
  return out;
}
