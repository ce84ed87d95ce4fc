/**
 * Differential test of the GEO commands against a real redis-server 7.0. Each run GEOADDs random
 * points on redis (clusters, uniform points, the WGS84 limits: poles' ±85.05112878, the antimeridian
 * ±180, and duplicate positions under different names), copies the resulting zset to a ShardStore
 * (ZRANGE WITHSCORES → ZADD, as a replica receives it), then compares:
 *
 *  - the replies of GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEORADIUS_RO, GEORADIUSBYMEMBER_RO (all
 *    options, COUNT with and without ANY, error cases, a missing key, a key of another type);
 *  - for GEORADIUS / GEORADIUSBYMEMBER … STORE | STOREDIST and GEOSEARCHSTORE: redis's destination
 *    (ZRANGE WITHSCORES, or no key) with geoStoreCompute's value, and the keys geoStoreKeys names.
 *
 * Scores of STORE destinations must be identical. STOREDIST scores are distances: glibc's sin, cos
 * and asin are not correctly rounded for ~0.15% of arguments (ours are), so a distance may differ
 * in its last bit; those are counted, must stay rare, and must be within 2 ulps.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TestStore, startRedis, argv, type RedisServer, type Reply } from './keyspace.helpers.js';
import { geoStoreCompute, geoStoreKeys } from '../workers/t_geo.js';
import { readPortable } from '../workers/portable.js';

let redis: RedisServer;
let t: TestStore;

before(async () => {
  redis = await startRedis();
  t = await TestStore.create('geo');
  await redis.client.call('set', 'str', 'x');
  await t.w('set', 'str', 'x');
});
after(async () => {
  await t?.destroy();
  await redis?.stop();
});

const LAT = 85.05112878;
type Pt = [number, number];
const CENTRES: Pt[] = [[13.361389, 38.115556], [179.95, 0.5], [-179.99, -60.2], [2.35, 48.85], [0.5, 84.9],
  [-70.1, -84.99], [180, 0], [-180, LAT], [0, -LAT]];
const SPECIAL: Pt[] = [[180, 0], [-180, 0], [0, LAT], [0, -LAT], [180, LAT], [-180, -LAT], [179.99999, 85.05],
  [-179.9999, -85], [0, 0], [15.087269, 37.502669]];

const clamp = (x: number, m: number): number => Math.max(-m, Math.min(m, x));
const uniform: fc.Arbitrary<Pt> = fc.tuple(fc.double({ min: -180, max: 180, noNaN: true }), fc.double({ min: -LAT, max: LAT, noNaN: true }));
const near: fc.Arbitrary<Pt> = fc.tuple(fc.constantFrom(...CENTRES), fc.constantFrom(0.0001, 0.01, 0.5, 5),
  fc.double({ min: -1, max: 1, noNaN: true }), fc.double({ min: -1, max: 1, noNaN: true }))
  .map(([[x, y], s, dx, dy]) => [clamp(x + dx * s, 180), clamp(y + dy * s, LAT)] as Pt);
const anyPoint = fc.oneof({ weight: 2, arbitrary: uniform }, { weight: 5, arbitrary: near }, { weight: 1, arbitrary: fc.constantFrom(...SPECIAL) });
/** A point, or (dup) the position of an earlier point under another name. */
const entry = fc.oneof({ weight: 5, arbitrary: anyPoint.map((p) => ({ p, dup: -1 })) },
  { weight: 1, arbitrary: fc.nat(1000).map((d) => ({ p: [0, 0] as Pt, dup: d })) });
const dataset = fc.oneof({ weight: 4, arbitrary: fc.array(entry, { minLength: 1, maxLength: 40 }) },
  { weight: 1, arbitrary: fc.array(entry, { minLength: 129, maxLength: 180 }) });

const num = (x: number): string => String(x);
const radius = fc.oneof(fc.constantFrom('0', '1', '100', '2000', '50000', '500000', '3000000', '20000000', '1e9', 'inf'),
  fc.double({ min: 0, max: 3e6, noNaN: true }).map(num));
const unit = fc.constantFrom('m', 'km', 'mi', 'ft', 'KM');
const lonlat = fc.oneof(anyPoint, fc.constantFrom<Pt>(...CENTRES)).map(([x, y]) => [num(x), num(y)]);
const memberRef = fc.oneof({ weight: 8, arbitrary: fc.nat(40).map((i) => `m${i}`) },
  { weight: 1, arbitrary: fc.nat(200).map((i) => `m${i}`) }, { weight: 1, arbitrary: fc.constant('nosuch') });
const options = fc.tuple(
  fc.subarray(['withcoord', 'withdist', 'withhash']),
  fc.constantFrom([], ['asc'], ['desc']),
  fc.oneof({ weight: 2, arbitrary: fc.constant([] as string[]) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 12 }).map((n) => ['count', String(n)]) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 12 }).map((n) => ['count', String(n), 'any']) }),
).map(([w, s, c]) => [...w, ...s, ...c]);
const from = fc.oneof(memberRef.map((m) => ['frommember', m]), lonlat.map((p) => ['fromlonlat', ...p]));
const by = fc.oneof(fc.tuple(radius, unit).map(([r, u]) => ['byradius', r, u]),
  fc.tuple(radius, radius, unit).map(([w, h, u]) => ['bybox', w, h, u]));
const key = fc.constantFrom('g', 'g', 'g', 'g', 'g', 'nokey', 'str');

const ERRORS: string[][] = [
  ['geosearch', 'g', 'fromlonlat', '200', '0', 'byradius', '1', 'km'],
  ['geosearch', 'g', 'fromlonlat', '0', 'x', 'byradius', '1', 'km'],
  ['geosearch', 'g', 'frommember', 'm0', 'fromlonlat', '0', '0', 'byradius', '1', 'km'],
  ['geosearch', 'g', 'frommember', 'm0', 'byradius', '1', 'km', 'bybox', '1', '1', 'km'],
  ['geosearch', 'g', 'byradius', '1', 'km'], ['geosearch', 'g', 'frommember', 'm0', 'asc'],
  ['geosearch', 'g', 'frommember', 'm0', 'byradius', '-1', 'km'],
  ['geosearch', 'g', 'frommember', 'm0', 'byradius', 'x', 'km'],
  ['geosearch', 'g', 'frommember', 'm0', 'byradius', '1', 'yd'],
  ['geosearch', 'g', 'frommember', 'm0', 'bybox', '1', '-1', 'km'],
  ['geosearch', 'g', 'frommember', 'm0', 'bybox', 'w', '1', 'km'],
  ['geosearch', 'g', 'frommember', 'm0', 'byradius', '1', 'km', 'count', '0'],
  ['geosearch', 'g', 'frommember', 'm0', 'byradius', '1', 'km', 'count', 'x'],
  ['geosearch', 'g', 'frommember', 'm0', 'byradius', '1', 'km', 'any'],
  ['geosearch', 'g', 'frommember', 'm0', 'byradius', '1', 'km', 'storedist'],
  ['geosearch', 'g', 'frommember', 'm0', 'byradius', '1', 'km', 'store', 'd'],
  ['georadius_ro', 'g', '0', '0', '1', 'km', 'store', 'd'], ['georadius_ro', 'g', '0', '0', '1'],
  ['georadius_ro', 'g', '0', '90', '1', 'km'], ['georadiusbymember_ro', 'g', 'nosuch', '1', 'km'],
  ['georadiusbymember_ro', 'nokey', 'nosuch', 'x', 'km'], ['geodist', 'g', 'm0', 'm1', 'yd'],
  ['geodist', 'g', 'm0', 'm1', 'km', 'x'], ['geopos', 'g'], ['geohash', 'str', 'm0'],
  ['geosearch', 'g', 'frommember', 'm0', 'byradius', '1'], ['geodist', 'g', 'm0'], ['geopos'], ['geohash'],
  ['georadius_ro', 'g', '0', '0', '1'], ['georadiusbymember_ro', 'g', 'm0', '1'],
  ['georadius_ro', 'g', '13', '38', '500', 'KM', 'WithDist', 'COUNT', '9223372036854775807', 'Desc'],
  ['geosearch', 'g', 'FromLonLat', '13', '38', 'ByBox', '1000', '400', 'Mi', 'count', '3', 'ANY', 'withhash'],
  ['geosearch', 'g', 'frommember', 'm0', 'frommember', 'm1', 'byradius', '1', 'km', 'byradius', '9000', 'km'],
  ['geosearch', 'g', 'fromlonlat', '0', '0', 'byradius', '1', 'km', 'count', '-3'],
  ['georadius_ro', 'g', '-180', '-85.05112878', '1e308', 'km', 'withcoord'],
];

const read: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(key, fc.array(memberRef, { maxLength: 4 })).map(([k, ms]) => ['geopos', k, ...ms]),
  fc.tuple(key, fc.array(memberRef, { maxLength: 4 })).map(([k, ms]) => ['geohash', k, ...ms]),
  fc.tuple(key, memberRef, memberRef, fc.constantFrom([], ['km'], ['mi'], ['ft'], ['M'])).map(([k, a, b, u]) => ['geodist', k, a, b, ...u]),
  fc.tuple(key, from, by, options).map(([k, f, b, o]) => ['geosearch', k, ...f, ...b, ...o]),
  fc.tuple(key, lonlat, radius, unit, options).map(([k, p, r, u, o]) => ['georadius_ro', k, ...p, r, u, ...o]),
  fc.tuple(key, memberRef, radius, unit, options).map(([k, m, r, u, o]) => ['georadiusbymember_ro', k, m, r, u, ...o]),
  fc.constantFrom(...ERRORS),
);
const storeOpt = fc.tuple(fc.constantFrom([], ['asc'], ['desc']), fc.oneof(fc.constant([] as string[]),
  fc.integer({ min: 1, max: 12 }).map((n) => ['count', String(n)]), fc.integer({ min: 1, max: 12 }).map((n) => ['count', String(n), 'any'])))
  .map(([s, c]) => [...s, ...c]);
const store: fc.Arbitrary<string[]> = fc.oneof(
  fc.tuple(key, lonlat, radius, unit, storeOpt, fc.constantFrom('store', 'storedist'))
    .map(([k, p, r, u, o, s]) => ['georadius', k, ...p, r, u, ...o, s, 'dst']),
  fc.tuple(key, memberRef, radius, unit, storeOpt, fc.constantFrom('store', 'STOREDIST'))
    .map(([k, m, r, u, o, s]) => ['georadiusbymember', k, m, r, u, s, 'dst', ...o]),
  fc.tuple(key, from, by, storeOpt, fc.constantFrom([], ['storedist'])).map(([k, f, b, o, s]) => ['geosearchstore', 'dst', k, ...f, ...b, ...o, ...s]),
  fc.constantFrom<string[]>(['georadius', 'g', '0', '0', '1', 'km', 'withdist', 'store', 'dst'],
    ['georadius', 'g', '0', '0', '1', 'km', 'store', 'x', 'storedist', 'dst'], ['geosearchstore', 'dst', 'g', 'frommember', 'm0'],
    ['georadius', 'g', '0', '0', '1', 'km', 'store', 'dst', 'any'], ['georadiusbymember', 'g', 'm0', '1', 'km', 'store'],
    ['geosearchstore', 'dst', 'g', 'frommember', 'm0', 'byradius', '1', 'km', 'withcoord']),
);

/** Comparable form of a reply from either side. */
function norm(v: unknown): unknown {
  if (v === null || typeof v === 'number') return v;
  if (Buffer.isBuffer(v)) return v.toString('latin1');
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) return v.map(norm);
  const o = v as Record<string, string>;
  return 'error' in o ? { err: o.error } : o;
}

const stats = { reads: 0, errors: 0, nonEmpty: 0, stores: 0, storedist: 0, distLastBit: 0 };

/** Units in the last place between two doubles of the same sign. */
function ulps(a: number, b: number): number {
  const v = new DataView(new ArrayBuffer(16));
  v.setFloat64(0, a); v.setFloat64(8, b);
  return Math.abs(Number(v.getBigInt64(0) - v.getBigInt64(8)));
}

async function load(entries: Array<{ p: Pt; dup: number }>): Promise<void> {
  const pts: Pt[] = [];
  const args: string[] = [];
  entries.forEach(({ p, dup }, i) => {
    const q = dup >= 0 && pts.length > 0 ? pts[dup % pts.length] : p;
    pts.push(q);
    args.push(num(q[0]), num(q[1]), `m${i}`);
  });
  await redis.client.call('del', 'g', 'dst');
  const r = await redis.client.call('geoadd', 'g', ...args);
  assert.equal(typeof r, 'number', `GEOADD failed: ${JSON.stringify(norm(r))}`);
  const flat = (await redis.client.call('zrange', 'g', '0', '-1', 'withscores')) as Buffer[];
  await t.w('del', 'g');
  const zadd: Buffer[] = [];
  for (let i = 0; i < flat.length; i += 2) zadd.push(flat[i + 1], flat[i]);
  await t.w('zadd', 'g', ...zadd);
}

async function checkStore(cmd: string[]): Promise<void> {
  await redis.client.call('set', 'dst', 'old');
  const theirs = await redis.client.call(...cmd) as Reply;
  const a = argv(...cmd);
  const srcIdx = cmd[0] === 'geosearchstore' ? 2 : 1;
  const src = await readPortable(t.store, 0, a[srcIdx]);
  const mine = geoStoreCompute(a, src);
  if (theirs !== null && typeof theirs === 'object' && 'err' in theirs) {
    assert.deepEqual(mine, { error: theirs.err }, cmd.join(' '));
    return;
  }
  assert.deepEqual(geoStoreKeys(a), { src: srcIdx, dest: cmd.indexOf('dst') }, `keys of ${cmd.join(' ')}`);
  assert.ok('value' in mine, `${cmd.join(' ')}: ${JSON.stringify(mine)}`);
  const flat = (await redis.client.call('zrange', 'dst', '0', '-1', 'withscores')) as Buffer[];
  assert.equal(await redis.client.call('exists', 'dst'), flat.length > 0 ? 1 : 0);
  assert.equal(theirs, flat.length / 2);
  const v = mine.value;
  assert.equal(v === null ? 0 : v.items!.length, flat.length / 2, cmd.join(' '));
  const dist = cmd.some((w) => w.toLowerCase() === 'storedist');
  stats.stores++;
  const want = new Map<string, number>();
  for (let i = 0; i < flat.length; i += 2) want.set(flat[i].toString('latin1'), Number(flat[i + 1].toString()));
  const got = new Map<string, number>();
  v?.items!.forEach((m, i) => got.set(m.toString('latin1'), v.scores![i]));
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), `members of ${cmd.join(' ')}`);
  for (const [m, w] of want) {
    const g = got.get(m)!;
    if (!dist) { assert.equal(g, w, `${cmd.join(' ')}: score of ${m}`); continue; }
    stats.storedist++;
    if (g === w) continue;
    stats.distLastBit++;
    assert.ok(ulps(g, w) <= 2, `${cmd.join(' ')}: distance of ${m} ${g} vs ${w}`);
  }
  // STORE: the same order too (STOREDIST: a last-bit difference could swap two equal-looking distances)
  if (!dist) assert.deepEqual(v?.items!.map((m) => m.toString('latin1')) ?? [], [...want.keys()], cmd.join(' '));
}

test('GEO reads and STORE forms match redis-server 7.0', async () => {
  await fc.assert(fc.asyncProperty(dataset, fc.array(read, { minLength: 5, maxLength: 15 }), fc.array(store, { minLength: 2, maxLength: 8 }),
    async (entries, reads, stores) => {
      await load(entries);
      for (const cmd of reads) {
        const theirs = norm(await redis.client.call(...cmd));
        const mine = norm(await t.store.read(0, argv(...cmd), Date.now()));
        assert.deepEqual(mine, theirs, cmd.join(' '));
        stats.reads++;
        if (Array.isArray(theirs) && theirs.length > 0) stats.nonEmpty++;
        if (theirs !== null && typeof theirs === 'object' && 'err' in theirs) stats.errors++;
      }
      for (const cmd of stores) await checkStore(cmd);
    }), { numRuns: 120 });
  console.log(`geo: ${JSON.stringify(stats)}`);
  assert.ok(stats.distLastBit <= Math.max(3, stats.storedist * 0.02), 'STOREDIST distances differing in the last bit must stay rare');
});

test('GEO replies on fixed data (Redis documentation values)', async () => {
  await t.w('del', 'Sicily');
  await t.w('zadd', 'Sicily', '3479099956230698', 'Palermo', '3479447370796909', 'Catania');
  assert.deepEqual(norm(await t.r('geopos', 'Sicily', 'Palermo', 'x')), [['13.36138933897018433', '38.11555639549629859'], null]);
  assert.equal(norm(await t.r('geodist', 'Sicily', 'Palermo', 'Catania')), '166274.1516');
  assert.equal(norm(await t.r('geodist', 'Sicily', 'Palermo', 'Catania', 'km')), '166.2742');
  assert.deepEqual(norm(await t.r('geohash', 'Sicily', 'Palermo', 'Catania')), ['sqc8b49rny0', 'sqdtr74hyu0']);
  assert.deepEqual(norm(await t.r('georadius_ro', 'Sicily', '15', '37', '200', 'km', 'withdist', 'asc')),
    [['Catania', '56.4413'], ['Palermo', '190.4424']]);
});
