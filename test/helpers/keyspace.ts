/**
 * Compares the whole keyspace of two Redis-protocol servers (the master and the replica): every key of
 * every database, its type, its value (order-insensitive where Redis is) and its TTL (within a tolerance).
 */
import assert from 'node:assert/strict';
import type { Client, Reply } from './redis.js';

const asStr = (r: Reply): string => (Buffer.isBuffer(r) ? r.toString('latin1') : JSON.stringify(r));

async function keysOf(c: Client, db: number): Promise<Buffer[]> {
  await c.call('SELECT', db);
  const r = await c.call('KEYS', '*');
  return (r as Buffer[]).slice().sort(Buffer.compare);
}

async function dump(c: Client, db: number, keys: Buffer[]): Promise<string[]> {
  await c.call('SELECT', db);
  const types = await c.pipeline(keys.map((k) => ['TYPE', k]));
  const cmds: (string | Buffer)[][] = [];
  keys.forEach((k, i) => {
    const t = (types[i] as { ok: string }).ok;
    switch (t) {
      case 'string': cmds.push(['GET', k]); break;
      case 'hash': cmds.push(['HGETALL', k]); break;
      case 'list': cmds.push(['LRANGE', k, '0', '-1']); break;
      case 'set': cmds.push(['SMEMBERS', k]); break;
      case 'zset': cmds.push(['ZRANGE', k, '0', '-1', 'WITHSCORES']); break;
      default: cmds.push(['TYPE', k]);
    }
  });
  const values = await c.pipeline(cmds);
  const ttls = await c.pipeline(keys.map((k) => ['PTTL', k]));
  return keys.map((k, i) => {
    const t = (types[i] as { ok: string }).ok;
    let v = values[i];
    if (t === 'set' && Array.isArray(v)) v = v.map(asStr).sort() as unknown as Reply;
    else if (t === 'hash' && Array.isArray(v)) {
      const pairs: string[] = [];
      for (let j = 0; j < v.length; j += 2) pairs.push(`${asStr(v[j])}=${asStr(v[j + 1])}`);
      v = pairs.sort() as unknown as Reply;
    } else if (Array.isArray(v)) v = v.map(asStr) as unknown as Reply;
    else v = asStr(v) as unknown as Reply;
    const ttl = ttls[i] as number;
    const ttlClass = ttl === -1 ? 'none' : ttl === -2 ? 'gone' : `~${Math.round(ttl / 5000)}`;
    return `${k.toString('latin1')} ${t} ${JSON.stringify(v)} ttl:${ttlClass}`;
  });
}

/** Asserts that `replica` holds exactly `master`'s keyspace in dbs [0, dbs). Returns the key count. */
export async function assertSameKeyspace(master: Client, replica: Client, dbs = 16): Promise<number> {
  let total = 0;
  for (let db = 0; db < dbs; db++) {
    const mk = await keysOf(master, db);
    const rk = await keysOf(replica, db);
    assert.equal(rk.length, mk.length, `db ${db}: replica has ${rk.length} keys, master ${mk.length}`);
    assert.deepEqual(rk.map((k) => k.toString('latin1')), mk.map((k) => k.toString('latin1')), `db ${db}: key names differ`);
    const [md, rd] = [await dump(master, db, mk), await dump(replica, db, rk)];
    for (let i = 0; i < md.length; i++) {
      if (md[i] !== rd[i]) {
        // TTL buckets can straddle a boundary: accept a neighbouring bucket.
        const strip = (s: string) => s.replace(/ ttl:~(-?\d+)$/, '');
        const bucket = (s: string) => Number(s.match(/ ttl:~(-?\d+)$/)?.[1] ?? NaN);
        if (strip(md[i]) === strip(rd[i]) && Math.abs(bucket(md[i]) - bucket(rd[i])) <= 1) continue;
        assert.equal(rd[i], md[i], `db ${db}: key differs`);
      }
    }
    total += mk.length;
  }
  await master.call('SELECT', 0);
  await replica.call('SELECT', 0);
  return total;
}
