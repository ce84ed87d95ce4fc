/**
 * Commands that combine source keys into a destination: SINTERSTORE, SUNIONSTORE, SDIFFSTORE,
 * ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE, ZRANGESTORE, GEORADIUS / GEORADIUSBYMEMBER … STORE|STOREDIST,
 * GEOSEARCHSTORE, SORT … STORE, BITOP. Sources are only read (no take side effect), so each is a
 * CombineSpec (combine.ts) whose apply() computes with the pure functions of set_algebra.ts,
 * zset_algebra.ts, t_geo.ts, t_sort.ts and t_bitmap.ts and writes the result: a store replaces the
 * destination (its TTL goes with it) and an empty result deletes it, as in Redis.
 */
import type { Keyspace } from './keyspace-core.js';
import type { WriteTable } from './command-api.js';
import { WRONGTYPE } from './command-api.js';
import { T_STRING } from './meta.js';
import { writePortable, type KeyView, type Portable } from './portable.js';
import { combineHandler, type CombineSpec } from './combine.js';
import type { ExchangeRoles } from '../src/router/exchange-keys.js';
import { parseSortArgs } from '../src/router/sort-args.js';
import { setStoreCompute, type SetOp } from './set_algebra.js';
import { zsetStoreCompute, zrangestoreCompute } from './zset_algebra.js';
import { geoStoreCompute } from './t_geo.js';
import { sortCompute, sortStoreValue } from './t_sort.js';
import { bitopCompute } from './t_bitmap.js';
import type { MaybePromise } from './sync_or_async.js';

type Result = Portable | null | { error: string };

/** The values of every source key of argv (in argv order), through the view. */
async function sources(view: KeyView, db: number, argv: Buffer[], roles: ExchangeRoles): Promise<Array<Portable | null>> {
  const out: Array<Portable | null> = [];
  for (const i of roles.sources) out.push(await view.get(db, argv[i]));
  return out;
}

/** Write a computed result to the destination key (argv[dest]), or record the Redis error. */
function store(ks: Keyspace, db: number, key: Buffer, r: Result): MaybePromise<void> {
  if (r !== null && 'error' in r) return ks.fail(r.error);
  return writePortable(ks, db, key, r, -1);
}

function combining(compute: (argv: Buffer[], srcs: Array<Portable | null>, view: KeyView, db: number) => Promise<Result> | Result): CombineSpec {
  return {
    async apply(ks, db, argv, view, roles) {
      const r = await compute(argv, await sources(view, db, argv, roles), view, db);
      await store(ks, db, argv[roles.dest], r);
    },
  };
}

const setStore = (op: SetOp): CombineSpec => combining((_argv, srcs) => setStoreCompute(op, srcs));
const zsetStore = combining((argv, srcs) => zsetStoreCompute(argv, srcs));
const zrangestore = combining((argv, srcs) => zrangestoreCompute(argv, srcs[0]));

const geoStore: CombineSpec = {
  ...combining((argv, srcs) => {
    const r = geoStoreCompute(argv, srcs[0]);
    return 'error' in r ? r : r.value;
  }),
  // GEORADIUS without STORE is a read: the master never sends it, and it changes nothing.
  noRoles: () => undefined,
};

const sortStore: CombineSpec = {
  ...combining(async (argv, _srcs, view, db) => {
    const a = parseSortArgs(argv);
    if ('error' in a) return a;
    const r = await sortCompute(view, db, a);
    return Array.isArray(r) ? sortStoreValue(r) : r;
  }),
  noRoles: (ks, _db, argv) => {
    // SORT without STORE changes nothing (the master never sends it); report a syntax error as Redis would.
    const a = parseSortArgs(argv);
    if ('error' in a) ks.fail(a.error);
  },
};

const bitop = combining((argv, srcs) => {
  const strs: Array<Buffer | null> = [];
  for (const p of srcs) {
    if (p !== null && p.type !== T_STRING) return WRONGTYPE;
    strs.push(p === null ? null : p.str!);
  }
  const r = bitopCompute(argv[1], strs);
  if (r === null || Buffer.isBuffer(r)) return r === null ? null : { type: T_STRING, expireMs: -1, str: r };
  return r;
});

export const storeSpecs: Record<string, CombineSpec> = {
  sinterstore: setStore('inter'), sunionstore: setStore('union'), sdiffstore: setStore('diff'),
  zunionstore: zsetStore, zinterstore: zsetStore, zdiffstore: zsetStore, zrangestore,
  georadius: geoStore, georadiusbymember: geoStore, geosearchstore: geoStore, sort: sortStore, bitop,
};

export const storeWrites: WriteTable = Object.fromEntries(
  Object.entries(storeSpecs).map(([name, spec]) => [name, combineHandler(spec)]));
