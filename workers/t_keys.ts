/**
 * Generic key commands. Writes: DEL, UNLINK, EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT (NX XX GT LT),
 * PERSIST. Reads: EXISTS, TYPE, TTL, PTTL, EXPIRETIME, PEXPIRETIME, DBSIZE, KEYS, SCAN, __KEYSPACE.
 *
 * Expiry on a replica: master commands set whatever time they carry, even one already past (the key
 * then stays, hidden from reads, until the master's DEL), unless ks.deleteOnPastExpiry is set.
 * Reads hide a key when nowMs > expireMs. DBSIZE counts hidden keys too, as Redis does.
 */
import { Keyspace, WriteTable, ReadTable, TYPE_NAMES, arityError, ERR_NOT_INT, ERR_SYNTAX, Meta } from './keyspace.js';
import { parseI64 } from '../src/util/numbers.js';
import { compileGlob, globLiteralPrefix } from '../src/util/glob.js';
import { pastDeletes } from './t_string.js';

function del(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length < 2) return ks.fail(arityError(argv[0].toString('latin1').toLowerCase()).error);
  for (let i = 1; i < argv.length; i++) ks.del(ks.ref(db, argv[i]));
}

const I64_MAX = 9223372036854775807;

/**
 * EXPIRE-family. `unitMs` converts the time argument to ms; `relative` adds now.
 * Flags: NX (only without TTL), XX (only with TTL), GT (only if later; no TTL = infinite, so GT
 * never applies to it), LT (only if earlier; no TTL = infinite, so LT always applies).
 */
function expireGeneric(name: string, unitMs: number, relative: boolean) {
  return (ks: Keyspace, db: number, argv: Buffer[]): void => {
    if (argv.length < 3) return ks.fail(arityError(name).error);
    let nx = false, xx = false, gt = false, lt = false;
    for (let i = 3; i < argv.length; i++) {
      const o = argv[i].toString('latin1').toLowerCase();
      if (o === 'nx') nx = true;
      else if (o === 'xx') xx = true;
      else if (o === 'gt') gt = true;
      else if (o === 'lt') lt = true;
      else return ks.fail(`ERR Unsupported option ${argv[i].toString('latin1')}`);
    }
    if (nx && (xx || gt || lt)) return ks.fail('ERR NX and XX, GT or LT options at the same time are not compatible');
    if (gt && lt) return ks.fail('ERR GT and LT options at the same time are not compatible');
    const t = parseI64(argv[2]);
    if (t === null) return ks.fail(ERR_NOT_INT);
    let when = Number(t) * unitMs;
    if (relative) when += Date.now();
    if (Math.abs(when) > I64_MAX) return ks.fail(`ERR invalid expire time in '${name}' command`);
    const r = ks.ref(db, argv[1]);
    const m = r.meta;
    if (m === null) return;
    const cur = m.expireMs;
    if (nx && cur !== -1) return;
    if (xx && cur === -1) return;
    if (gt && (cur === -1 || when <= cur)) return;
    if (lt && cur !== -1 && when >= cur) return;
    if (pastDeletes(ks, when)) return ks.del(r);
    ks.setExpire(r, when < 0 ? 0 : when);
  };
}

function persist(ks: Keyspace, db: number, argv: Buffer[]): void {
  if (argv.length !== 2) return ks.fail(arityError('persist').error);
  const r = ks.ref(db, argv[1]);
  if (r.meta !== null && r.meta.expireMs !== -1) ks.setExpire(r, -1);
}

export const keyWrites: WriteTable = {
  del, unlink: del, persist,
  expire: expireGeneric('expire', 1000, true),
  pexpire: expireGeneric('pexpire', 1, true),
  expireat: expireGeneric('expireat', 1000, false),
  pexpireat: expireGeneric('pexpireat', 1, false),
};

// ----- reads ----------------------------------------------------------------------------------------

function exists(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length < 2) return arityError('exists');
  let n = 0;
  for (let i = 1; i < argv.length; i++) if (ks.lookup(db, argv[i], now) !== null) n++;
  return n;
}

function type(ks: Keyspace, db: number, argv: Buffer[], now: number): unknown {
  if (argv.length !== 2) return arityError('type');
  const r = ks.lookup(db, argv[1], now);
  return { status: r === null ? 'none' : TYPE_NAMES[r.meta!.type] };
}

/** TTL family: -2 missing, -1 no TTL; seconds are rounded ((ms + 500) / 1000) as Redis does. */
function ttlGeneric(name: string, ms: boolean, abs: boolean) {
  return (ks: Keyspace, db: number, argv: Buffer[], now: number): unknown => {
    if (argv.length !== 2) return arityError(name);
    const r = ks.lookup(db, argv[1], now);
    if (r === null) return -2;
    const e = r.meta!.expireMs;
    if (e === -1) return -1;
    let t = abs ? e : e - now;
    if (t < 0) t = 0;
    return ms ? t : Math.floor((t + 500) / 1000);
  };
}

function dbsize(ks: Keyspace, db: number, argv: Buffer[]): unknown {
  if (argv.length !== 1) return arityError('dbsize');
  return ks.keyCount(db);
}

function live(m: Meta, now: number): boolean {
  return m.expireMs === -1 || now <= m.expireMs;
}

async function keys(ks: Keyspace, db: number, argv: Buffer[], now: number): Promise<unknown> {
  if (argv.length !== 2) return arityError('keys');
  const match = compileGlob(argv[1]);
  const prefix = globLiteralPrefix(argv[1]);
  const out: Buffer[] = [];
  for await (const [k, m] of ks.scanMetas(db, { prefix })) if (live(m, now) && match(k)) out.push(k);
  return out;
}

/** SCAN cursors: "0" (or empty) starts; otherwise ">" + the last key examined. */
const CURSOR_MARK = 0x3e;

// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type] → [nextCursor | null, keys]
async function scan(ks: Keyspace, db: number, argv: Buffer[], now: number): Promise<unknown> {
  if (argv.length < 2) return arityError('scan');
  const c = argv[1];
  let after: Buffer | undefined;
  if (c.length > 0 && c[0] === CURSOR_MARK) after = c.subarray(1);
  else if (!(c.length === 0 || (c.length === 1 && c[0] === 0x30))) return { error: 'ERR invalid cursor' };
  let count = 10, pattern: Buffer | null = null, typeName: string | null = null;
  for (let i = 2; i < argv.length; i += 2) {
    if (i + 1 >= argv.length) return { error: ERR_SYNTAX };
    const o = argv[i].toString('latin1').toLowerCase();
    if (o === 'count') {
      const n = parseI64(argv[i + 1]);
      if (n === null) return { error: ERR_NOT_INT };
      if (n < 1) return { error: ERR_SYNTAX };
      count = Number(n);
    } else if (o === 'match') pattern = argv[i + 1];
    else if (o === 'type') typeName = argv[i + 1].toString('latin1').toLowerCase();
    else return { error: ERR_SYNTAX };
  }
  const match = pattern ? compileGlob(pattern) : null;
  const prefix = pattern ? globLiteralPrefix(pattern) : undefined;
  const out: Buffer[] = [];
  let examined = 0;
  for await (const [k, m] of ks.scanMetas(db, { after, prefix })) {
    if (live(m, now) && (typeName === null || TYPE_NAMES[m.type] === typeName) && (match === null || match(k))) out.push(k);
    if (++examined >= count) {
      return [Buffer.concat([Buffer.from([CURSOR_MARK]), k]), out];
    }
  }
  return [null, out];
}

function keyspaceInfo(ks: Keyspace): unknown {
  return ks.keyspaceInfo();
}

export const keyReads: ReadTable = {
  exists, type, dbsize, keys, scan, __keyspace: keyspaceInfo,
  ttl: ttlGeneric('ttl', false, false),
  pttl: ttlGeneric('pttl', true, false),
  expiretime: ttlGeneric('expiretime', false, true),
  pexpiretime: ttlGeneric('pexpiretime', true, true),
};
