/**
 * Key digests for the snapshot-load bench: what a key holds (TYPE, PEXPIRETIME, length and a SHA-1 of
 * its content), taken from the generator redis-server when the snapshot is made and again from each
 * replica after it loaded the snapshot; `verifyReplica` compares DBSIZE and every sampled key.
 *
 * Content read per type: GET; HGETALL (pairs sorted); SMEMBERS (sorted); ZRANGE 0 -1 WITHSCORES and
 * LRANGE 0 -1 (in order). Huge keys (snapshot-keys.ts) are read in pieces of 1000 so that no reply is
 * megabytes long: ZRANGE / LRANGE by rank, HMGET f<j> for the hash, SMISMEMBER m<j> for the set (whose
 * HLEN / SCARD then proves there is nothing else).
 */
import { createHash } from 'node:crypto';
import type { Client, Reply } from '../../test/helpers/redis.js';
import type { HugeKey } from './snapshot-keys.js';

export interface KeyDigest { key: string; type: string; pexpiretime: number; len: number; sha1: string }

export interface Verification { ok: boolean; dbsize: number; checkedKeys: number; mismatches: string[] }

const PIECE = 1000;
const str = (r: Reply): string => (Buffer.isBuffer(r) ? r.toString('latin1') : JSON.stringify(r));

function typeName(r: Reply): string {
  return r !== null && typeof r === 'object' && !Buffer.isBuffer(r) && !Array.isArray(r) && 'ok' in r ? r.ok : str(r);
}

function list(r: Reply, what: string): string[] {
  if (!Array.isArray(r)) throw new Error(`${what}: expected an array, got ${str(r).slice(0, 200)}`);
  return r.map(str);
}

/** SHA-1 of the strings, each length-prefixed (so that no two lists hash alike by concatenation). */
function sha1(xs: string[]): string {
  const h = createHash('sha1');
  for (const x of xs) h.update(`${x.length}:`, 'latin1').update(x, 'latin1');
  return h.digest('hex');
}

function pairs(xs: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < xs.length; i += 2) out.push(`${xs[i]}=${xs[i + 1]}`);
  return out;
}

const LEN_CMD: Record<string, string> = { string: 'STRLEN', hash: 'HLEN', set: 'SCARD', zset: 'ZCARD', list: 'LLEN' };

/** Reads a huge key in pieces of PIECE elements (by rank or by the names it was generated with). */
async function hugeContent(c: Client, h: HugeKey, len: number): Promise<string[]> {
  const cmds: string[][] = [];
  const names = (p: string, j: number): string[] => Array.from({ length: Math.min(PIECE, h.members - j) }, (_, x) => `${p}${j + x}`);
  if (h.type === 'zset' || h.type === 'list') {
    for (let j = 0; j < len; j += PIECE) {
      cmds.push(h.type === 'zset' ? ['ZRANGE', h.key, String(j), String(j + PIECE - 1), 'WITHSCORES'] : ['LRANGE', h.key, String(j), String(j + PIECE - 1)]);
    }
  } else {
    for (let j = 0; j < h.members; j += PIECE) cmds.push(h.type === 'hash' ? ['HMGET', h.key, ...names('f', j)] : ['SMISMEMBER', h.key, ...names('m', j)]);
  }
  const out: string[] = [];
  for (let i = 0; i < cmds.length; i += 16) {
    for (const r of await c.pipeline(cmds.slice(i, i + 16))) out.push(...list(r, h.key));
  }
  return out;
}

export async function digestKey(c: Client, key: string, huge?: HugeKey): Promise<KeyDigest> {
  const [t, e] = await c.pipeline([['TYPE', key], ['PEXPIRETIME', key]]);
  const type = typeName(t);
  const pexpiretime = Number(e);
  if (!(type in LEN_CMD)) return { key, type, pexpiretime, len: 0, sha1: '' };
  const len = Number(await c.call(LEN_CMD[type], key));
  let content: string[];
  if (huge !== undefined && huge.type === type) content = await hugeContent(c, huge, len);
  else {
    switch (type) {
      case 'string': content = [str(await c.call('GET', key))]; break;
      case 'hash': content = pairs(list(await c.call('HGETALL', key), key)).sort(); break;
      case 'set': content = list(await c.call('SMEMBERS', key), key).sort(); break;
      case 'zset': content = list(await c.call('ZRANGE', key, '0', '-1', 'WITHSCORES'), key); break;
      default: content = list(await c.call('LRANGE', key, '0', '-1'), key);
    }
  }
  return { key, type, pexpiretime, len, sha1: sha1(content) };
}

/** Digests of the sampled keys, `huge` ones read in pieces. */
export async function digestAll(c: Client, keys: string[], huge: HugeKey[]): Promise<KeyDigest[]> {
  const byName = new Map(huge.map((h) => [h.key, h]));
  const out: KeyDigest[] = [];
  for (const k of keys) out.push(await digestKey(c, k, byName.get(k)));
  return out;
}

/** DBSIZE (db 0, the only one used) and every sampled key's digest against the expected ones. */
export async function verifyReplica(c: Client, expectedKeys: number, expected: KeyDigest[], huge: HugeKey[]): Promise<Verification> {
  const mismatches: string[] = [];
  await c.call('SELECT', '0');
  const dbsize = Number(await c.call('DBSIZE'));
  if (dbsize !== expectedKeys) mismatches.push(`DBSIZE ${dbsize}, expected ${expectedKeys}`);
  const got = await digestAll(c, expected.map((d) => d.key), huge);
  let bad = 0;
  got.forEach((g, i) => {
    const w = expected[i];
    if (g.type !== w.type || g.pexpiretime !== w.pexpiretime || g.len !== w.len || g.sha1 !== w.sha1) {
      bad++;
      if (mismatches.length < 10) mismatches.push(`${w.key}: got ${JSON.stringify(g)}, expected ${JSON.stringify(w)}`);
    }
  });
  if (bad > 0) mismatches.push(`${bad} of ${expected.length} sampled keys differ`);
  return { ok: mismatches.length === 0, dbsize, checkedKeys: got.length, mismatches };
}
