/**
 * SORT / SORT_RO differential test against a real redis-server 7.0. Each fast-check run loads the
 * same random data on redis-server and on a ShardStore: a source key `src` (list, set or zset of
 * numbers and words; sometimes past the inline limits), weight_<e> strings (sometimes a list: nil),
 * obj_<e> hashes (fields w, name), plus a string, a hash and a missing key as bad / empty sources.
 * Then one random SORT command (BY, LIMIT, GET, ASC/DESC, ALPHA, STORE, bad options) runs on redis
 * and through parseSortArgs + sortCompute over a KeyView of the store (STORE: the reply count and
 * the stored list, via sortStoreValue), and through the store's `sort` / `sort_ro` read handlers.
 *
 * Where Redis's order is unspecified the comparison is relaxed: a set with BY nosort and no STORE
 * (iteration order), and ALPHA with a BY pattern when two elements share a BY value (Redis's
 * comparator returns 0 and qsort/pqsort are not stable): same multiset, or same length with LIMIT,
 * and then the sequence of BY values alone (SORT_RO … GET <by>) must match exactly.
 * redis-server runs with LC_ALL=C, so ALPHA without STORE (strcoll) is byte order as here.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { TestStore, startRedis, argv, type RedisServer, type Reply } from './keyspace.helpers.js';
import { parseSortArgs, sortPatternKeys, type SortArgs } from '../src/router/sort-args.js';
import { sortCompute, sortStoreValue } from '../workers/t_sort.js';
import { readPortable, type KeyView } from '../workers/portable.js';

let redis: RedisServer;
let t: TestStore;
let loaded: string[] = [];
const stats = { runs: 0, errors: 0, parseErrors: 0, nonEmpty: 0, stores: 0, relaxed: 0, alphaBy: 0 };

before(async () => {
  process.env.LC_ALL = 'C';   // inherited by redis-server: strcoll = byte order
  redis = await startRedis();
  t = await TestStore.create('sort');
});
after(async () => {
  await t?.destroy();
  await redis?.stop();
});

const LONG = 'L'.repeat(70);
const NUMS = ['1', '2', '3', '10', '-5', '2.5', '0', '07', '1e3', ' 7', '0x10', '', '-0', '100'];
const WORDS = ['a', 'b', 'abc', 'B', 'zz', 'a b', 'x1', LONG];
const BAD = ['nan', '1e400', '7 ', '1e-400', 'inf', '-inf', '5e-324'];
const elemPool = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...NUMS) },
  { weight: 3, arbitrary: fc.constantFrom(...WORDS) },
  { weight: 1, arbitrary: fc.constantFrom(...BAD) });
const numWeight = fc.constantFrom('5', '1', '1', '-3', '2.5', '0', '', '40', '1e2');
const weightVal = fc.oneof(
  { weight: 6, arbitrary: numWeight },
  { weight: 2, arbitrary: fc.constantFrom('x', 'yy', 'A', 'a') },
  { weight: 1, arbitrary: fc.constantFrom('1e400', 'nan', '3 ') });
const elemList = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.constantFrom(...NUMS), { maxLength: 12 }) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(...WORDS), { maxLength: 12 }) },
  { weight: 2, arbitrary: fc.array(elemPool, { maxLength: 12 }) },
  { weight: 1, arbitrary: fc.integer({ min: 129, max: 170 }).map((n) => Array.from({ length: n }, (_, i) => String(((i * 37) % 101) - 50))) });

interface Data { kind: 'list' | 'set' | 'zset'; elems: string[]; scores: number[]; weights: Array<[string, string, string]>; cmds: string[][] }

const data: fc.Arbitrary<Data> = fc.record({
  kind: fc.constantFrom('list', 'set', 'zset') as fc.Arbitrary<'list' | 'set' | 'zset'>,
  elems: elemList,
  scores: fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 200, maxLength: 200 }),
  // per distinct element: [string weight or '-' (none) or 'L' (a list), hash w or '-', hash name]
  weights: fc.constantFrom(numWeight, weightVal).chain((wv) => fc.array(fc.tuple(
    fc.oneof({ weight: 4, arbitrary: wv }, { weight: 1, arbitrary: fc.constantFrom('-', 'L') }),
    fc.oneof({ weight: 4, arbitrary: wv }, { weight: 1, arbitrary: fc.constant('-') }),
    fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5', '-')), { minLength: 200, maxLength: 200 })),
  cmds: fc.constant([]),
}).map((d) => {
  const cmds: string[][] = [['set', 'str', 'v'], ['hset', 'hsh', 'f', 'v']];
  if (d.elems.length > 0) {
    if (d.kind === 'list') cmds.push(['rpush', 'src', ...d.elems]);
    else if (d.kind === 'set') cmds.push(['sadd', 'src', ...d.elems]);
    else cmds.push(['zadd', 'src', ...d.elems.flatMap((e, i) => [String(d.scores[i % 200]), e])]);
  }
  [...new Set(d.elems)].forEach((e, i) => {
    const [s, hw, hn] = d.weights[i % 200];
    if (s === 'L') cmds.push(['rpush', `weight_${e}`, '1']);
    else if (s !== '-') cmds.push(['set', `weight_${e}`, s]);
    const fields = [...(hw !== '-' ? ['w', hw] : []), ...(hn !== '-' ? ['name', hn] : [])];
    if (fields.length > 0) cmds.push(['hset', `obj_${e}`, ...fields]);
  });
  return { ...d, cmds };
});

const byPat = fc.constantFrom('weight_*', 'obj_*->w', 'obj_*->name', 'nosort', 'obj_*->missing', 'weight_*->w', 'obj_*->', '*', 'NOSORT');
const getPat = fc.constantFrom('#', 'weight_*', 'obj_*->name', 'obj_*->w', 'nostar', 'obj_*->', '#x');
const limitNum = fc.oneof({ weight: 6, arbitrary: fc.integer({ min: -3, max: 8 }).map(String) },
  { weight: 2, arbitrary: fc.constantFrom('100', '-100', '9223372036854775807', '-9223372036854775808') },
  { weight: 1, arbitrary: fc.constantFrom('x', '1.5', '01') });
const opt = (p: number, a: fc.Arbitrary<string[]>): fc.Arbitrary<string[][]> =>
  fc.oneof({ weight: p, arbitrary: a.map((x) => [x]) }, { weight: 100 - p, arbitrary: fc.constant([] as string[][]) });
const badOption = fc.constantFrom<string[]>(['limit', '1'], ['bogus'], ['get'], ['by'], ['store'], ['asc'], ['by', 'nosort']);
const options = fc.tuple(
  opt(55, byPat.map((p) => ['by', p])),
  opt(45, fc.constantFrom(['alpha'], ['ALPHA'], ['Alpha'])),
  opt(40, fc.constantFrom(['desc'], ['DESC'], ['asc'])),
  opt(40, fc.tuple(limitNum, limitNum).map(([a, b]) => ['limit', a, b])),
  fc.array(getPat.map((p) => ['GET', p]), { maxLength: 3 }),
  opt(25, fc.constant(['store', 'dst'])),
  opt(12, badOption),
  fc.array(fc.nat(), { minLength: 7, maxLength: 7 }),
).map(([by, alpha, dir, limit, gets, store, bad, order]) => {
  const groups = [by, alpha, dir, limit, gets, store, bad].map((g, i) => ({ g, k: order[i] }));
  return groups.sort((x, y) => x.k - y.k).flatMap((x) => x.g).flat();
});
const command = fc.tuple(
  fc.constantFrom('sort', 'sort', 'sort', 'SORT', 'sort_ro'),
  fc.oneof({ weight: 12, arbitrary: fc.constant('src') }, { weight: 1, arbitrary: fc.constantFrom('str', 'hsh', 'nokey') }),
  options,
  fc.boolean(),
).map(([name, key, opts, dstExists]) => ({ cmd: [name, key, ...opts], dstExists }));

type Norm = string | null | number | { error: string } | Norm[];
function norm(r: unknown): Norm {
  if (r === null || typeof r === 'number') return r;
  if (Buffer.isBuffer(r)) return r.toString('latin1');
  if (Array.isArray(r)) return r.map(norm);
  const o = r as Record<string, string>;
  if ('err' in o) return { error: o.err };
  if ('error' in o) return { error: o.error };
  throw new Error(`unexpected reply ${JSON.stringify(r)}`);
}

/** Chunks of `size` joined into strings, sorted: an order-free view of a result. */
function multiset(a: Norm[], size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < a.length; i += size) out.push(JSON.stringify(a.slice(i, i + size)));
  return out.sort();
}

/** How the result may be compared: exact, same multiset, or same length only. */
async function relaxation(args: SortArgs, d: Data): Promise<'exact' | 'multiset' | 'length'> {
  if (args.key.toString() !== 'src' || d.elems.length === 0) return 'exact';
  const limited = args.limitOffset !== 0 || args.limitCount !== -1;
  let loose = false;
  if (args.dontsort && d.kind === 'set' && args.store < 0) loose = true;
  else if (args.alpha && !args.dontsort && args.by !== null && args.by.includes('*')) {
    // ties: two distinct elements with the same BY value (both nil included)
    const pairs = (await redis.client.call('sort_ro', 'src', 'by', 'nosort', 'get', '#', 'get', args.by)) as Reply[];
    const owners = new Map<string, Set<string>>();
    for (let i = 0; i < pairs.length; i += 2) {
      const v = pairs[i + 1] === null ? '\u0000nil' : (pairs[i + 1] as Buffer).toString('latin1');
      if (!owners.has(v)) owners.set(v, new Set());
      owners.get(v)!.add((pairs[i] as Buffer).toString('latin1'));
    }
    loose = [...owners.values()].some((s) => s.size > 1);
    if (loose) {
      // the order of the BY values themselves is still defined: SORT_RO … GET <by> must match exactly
      const clamp = (n: number) => String(Math.max(-1e15, Math.min(1e15, n)));
      const seq = ['sort_ro', 'src', 'by', args.by.toString(), 'limit', clamp(args.limitOffset), clamp(args.limitCount),
        ...(args.desc ? ['desc'] : []), 'alpha', 'get', args.by.toString()];
      const a = parseSortArgs(argv(...seq));
      assert.ok(!('error' in a));
      assert.deepEqual(norm(await sortCompute(view, 0, a)), norm(await redis.client.call(...seq)), `BY values of ${JSON.stringify(seq)}`);
    }
  }
  if (!loose) return 'exact';
  stats.relaxed++;
  return limited ? 'length' : 'multiset';
}

function compare(mine: Norm, theirs: Norm, how: string, chunk: number, what: string): void {
  if (how === 'exact' || !Array.isArray(mine) || !Array.isArray(theirs)) return assert.deepEqual(mine, theirs, what);
  if (how === 'length') return assert.equal(mine.length, theirs.length, what);
  assert.deepEqual(multiset(mine, chunk), multiset(theirs, chunk), what);
}

const view: KeyView = { get: (db, key) => readPortable(t.store, db, key) };

async function load(cmds: string[][]): Promise<void> {
  for (const k of loaded) await t.w('del', k);
  await redis.client.call('flushall');
  await redis.client.pipeline(cmds);
  for (const c of cmds) await t.w(...c);
  loaded = [...new Set(cmds.map((c) => c[1]))];
}

async function check(d: Data, cmd: string[], dstExists: boolean): Promise<void> {
  await load([...d.cmds, ...(dstExists ? [['set', 'dst', 'old']] : [])]);
  if (!loaded.includes('dst')) loaded.push('dst');
  const what = `${JSON.stringify(cmd)} on ${d.kind} ${JSON.stringify(d.elems.slice(0, 20))}`;
  const args = parseSortArgs(argv(...cmd));
  stats.runs++;
  // before redis runs the command (STORE may overwrite any key)
  const how = 'error' in args ? 'exact' : await relaxation(args, d);
  const dst = 'error' in args || args.store < 0 ? 'dst' : cmd[args.store];
  // Redis 7.0's SORT tests errno == ERANGE after strtod without clearing errno first, so an earlier
  // ERANGE poisons later numeric SORTs; INCRBYFLOAT parses its increment with errno = 0 first.
  const replies = await redis.client.pipeline([['type', dst], ['incrbyfloat', '__errno', '0'], ['del', '__errno'], cmd]);
  const typeBefore = (replies[0] as { ok: string }).ok;
  const theirs = norm(replies[3]);
  if ('error' in args) {
    stats.parseErrors++;
    assert.deepEqual({ error: args.error }, theirs, what);
    return;
  }
  const result = await sortCompute(view, 0, args);
  const chunk = Math.max(args.gets.length, 1);
  if ('error' in result) stats.errors++;
  else if (result.length > 1) {
    stats.nonEmpty++;
    if (args.alpha && !args.dontsort && args.by !== null) stats.alphaBy++;
  }
  if (args.store < 0) {
    compare(norm(result), theirs, how, chunk, what);
    compare(norm(await t.store.read(0, argv(...cmd), Date.now())), theirs, how, chunk, `${what} (read handler)`);
    return;
  }
  stats.stores++;
  const stored = 'error' in result ? null : sortStoreValue(result);
  assert.deepEqual('error' in result ? result : result.length, theirs, what);
  const expectType = 'error' in result ? typeBefore : stored === null ? 'none' : 'list';
  assert.equal(((await redis.client.call('type', dst)) as { ok: string }).ok, expectType, what);
  if (stored !== null) {
    const list = norm(await redis.client.call('lrange', dst, 0, -1)) as Norm[];
    compare(stored.items!.map((b) => b.toString('latin1')), list, how, chunk, what);
    assert.equal(((await redis.client.call('pttl', dst)) as number), -1, what);
  }
  // the read server refuses SORT … STORE
  assert.deepEqual(norm(await t.store.read(0, argv(...cmd), Date.now())),
    { error: "READONLY You can't write against a read only replica." }, what);
}

test('SORT / SORT_RO match redis-server on random data and options', async (tc) => {
  try {
    await fc.assert(fc.asyncProperty(data, command, async (d, c) => check(d, c.cmd, c.dstExists)), { numRuns: 250, ...(process.env.SORT_SEED ? { seed: Number(process.env.SORT_SEED) } : {}) });
  } catch (e) {
    // the assertion that failed comes as the cause; the counterexample can be long
    const err = e as Error & { cause?: Error };
    throw new Error(`${err.cause?.message ?? ''}\n${err.message.slice(0, 3000)}`);
  }
  tc.diagnostic(JSON.stringify(stats));
  assert.ok(stats.errors > 5 && stats.stores > 20 && stats.relaxed < stats.runs / 3, JSON.stringify(stats));
});

test('SORT edge cases match redis-server', async () => {
  const d = (kind: Data['kind'], elems: string[], extra: string[][] = []): Data =>
    ({ kind, elems, scores: elems.map((_, i) => (i * 7) % 3), weights: [], cmds: [
      kind === 'list' ? ['rpush', 'src', ...elems] : kind === 'set' ? ['sadd', 'src', ...elems]
        : ['zadd', 'src', ...elems.flatMap((e, i) => [String((i * 7) % 3), e])], ...extra] });
  const cases: Array<[Data, string[]]> = [
    [d('set', ['c', 'a', 'b', '10', '9']), ['sort', 'src', 'by', 'nosort', 'store', 'dst']],
    [d('set', ['c', 'a', 'b', '10', '9']), ['sort', 'src', 'by', 'nosort', 'desc', 'limit', '1', '2', 'store', 'dst']],
    [d('zset', ['c', 'a', 'b', 'd']), ['sort', 'src', 'by', 'nosort', 'desc', 'limit', '1', '2']],
    [d('zset', ['c', 'a', 'b', 'd']), ['sort', 'src', 'by', 'nosort', 'by', 'w_*', 'alpha']],
    [d('list', ['3', '1', '2']), ['sort', 'src', 'by', 'w_*', 'by', 'nosort', 'desc']],
    [d('list', ['3', '1', '2']), ['sort', 'src', 'limit', '5', '1']],
    [d('list', ['3', '1', '2']), ['sort', 'src', 'limit', '1', '9223372036854775807']],
    [d('list', ['3', 'x', '2']), ['sort', 'src', 'store', 'dst']],
    [d('list', ['3', '1', '2']), ['sort_ro', 'src', 'store', 'dst']],
    [d('list', ['b', 'a'], [['set', 'w_a', '2'], ['set', 'w_b', '1']]), ['sort', 'src', 'by', 'w_*', 'get', '#', 'get', 'w_*', 'get', 'nope']],
    [d('list', ['b', 'a'], [['hset', 'h_a', 'f->g', '2'], ['hset', 'h_b->f', 'x', '1']]), ['sort', 'src', 'alpha', 'get', 'h_*->f->g', 'get', 'h_*->f->x']],
    [d('list', ['1', '2']), ['sort', 'src', 'limit', '0', '0', 'store', 'dst']],
    [d('list', ['1', '2', '3', '4']), ['sort', 'src', 'by', 'nosort', 'desc', 'limit', '1', '2']],
    [d('list', ['b', 'a'], [['set', 'h_a->', 'sa'], ['set', 'p->a', 'pa'], ['hset', 'p', 'a', 'no'], ['hset', 'h_a', '\u0000x', 'hv']]),
      ['sort', 'src', 'alpha', 'get', 'h_*->', 'get', 'p->*', 'get', 'h_*->\u0000x']],
    [d('list', ['b', 'a'], [['hset', 'h_a', '', 'e'], ['set', 'h_a-', 'x']]), ['sort', 'src', 'alpha', 'get', 'h_*->', 'get', 'h_*-']],
    ...['1e400', '-1e400', '1e-400', '5e-324', '1e-310', '0x1p-1074', '0x1.8p-1074', '2.2250738585072014e-308',
      '2.2250738585072011e-308', '0x10', ' 7', '7 ', 'nan', '-inf', '', '1e', '0x', '.5', '5.', '+3', '1\u00002']
      .map((x): [Data, string[]] => [d('list', ['1', x, '0']), ['sort', 'src']]),
  ];
  for (const [data0, cmd] of cases) await check(data0, cmd, true);
});

test('sortPatternKeys lists the patterns that read other keys', () => {
  const keys = (...w: string[]) => {
    const a = parseSortArgs(argv('sort', 'k', ...w));
    assert.ok(!('error' in a));
    return sortPatternKeys(a).map(String);
  };
  assert.deepEqual(keys('by', 'w_*', 'get', '#', 'get', 'o_*->f', 'get', 'fixed'), ['w_*', 'o_*->f']);
  assert.deepEqual(keys('by', 'nosort', 'get', '#'), []);
  assert.deepEqual(keys('by', 'nosort', 'by', 'w_*'), []);   // "don't sort" sticks
  const st = parseSortArgs(argv('SORT', 'k', 'STORE', 'd1', 'store', 'd2'));
  assert.ok(!('error' in st) && st.store === 5);
  assert.deepEqual(parseSortArgs(argv('sort_ro', 'k', 'store', 'd')), { error: 'ERR syntax error' });
  assert.deepEqual(parseSortArgs(argv('sort')), { error: "ERR wrong number of arguments for 'sort' command" });
});

test('the read handlers hide logically expired keys and refuse STORE', async () => {
  for (const k of loaded) await t.w('del', k);
  loaded = ['ex', 'live', 'w_1', 'w_2'];
  await t.w('rpush', 'ex', '2', '1');
  await t.w('pexpireat', 'ex', '1000');
  await t.w('rpush', 'live', '2', '1');
  await t.w('set', 'w_1', 'a');
  await t.w('set', 'w_2', 'b');
  await t.w('pexpireat', 'w_2', '1000');
  assert.deepEqual(norm(await t.r('sort', 'ex')), []);
  assert.deepEqual(norm(await t.r('sort_ro', 'live', 'get', 'w_*', 'get', '#')), ['a', '1', null, '2']);
  // a far-past "now" sees them all
  assert.deepEqual(norm(await t.rAt(500, 'sort', 'ex', 'get', 'w_*')), ['a', 'b']);
  assert.deepEqual(norm(await t.r('sort', 'live', 'store', 'x')), { error: "READONLY You can't write against a read only replica." });
  assert.deepEqual(norm(await t.r('sort_ro', 'live', 'store', 'x')), { error: 'ERR syntax error' });
  assert.deepEqual(norm(await t.r('sort', 'live', 'limit', 'x', '1')), { error: 'ERR value is not an integer or out of range' });
});
