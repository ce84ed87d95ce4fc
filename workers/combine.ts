/**
 * Moving and combining commands (RENAME, SMOVE, LMOVE, *STORE, BITOP, SORT … STORE…): one definition
 * per command, run the same way whether its keys share a shard or not.
 *
 *   take(source key)  at the source's position: export the key's value and apply the source's own
 *                     side effect (RENAME deletes it, SMOVE removes the member, LMOVE pops)
 *   apply(view)       at the destination: compute from the taken values (and, for SORT, any key its
 *                     patterns name) and write the destination
 *
 * All keys on one shard: the shard takes, then applies (runCombine below, a plain write handler).
 * Across shards (workers/exchange.ts): each source shard takes its keys and exports them; the
 * destination takes its own, waits for the exports and applies. Roles come from
 * src/router/exchange-keys.ts, which the router uses too.
 */
import type { Keyspace } from './keyspace-core.js';
import type { WriteHandler } from './command-api.js';
import { arityError } from './command-api.js';
import { readPortable, type KeyView, type Portable } from './portable.js';
import { exchangeRoles, patternKeyPart, type ExchangeRoles } from '../src/router/exchange-keys.js';
import type { MaybePromise } from './sync_or_async.js';

export interface CombineSpec {
  /** Export argv[i] (a source key in `db`) and apply this command's effect on it. Default: its value. */
  take?(ks: Keyspace, db: number, argv: Buffer[], i: number): MaybePromise<Portable | null>;
  /** Compute and write the destination (argv[roles.dest]). Report Redis-level errors with ks.fail(). */
  apply(ks: Keyspace, db: number, argv: Buffer[], view: KeyView, roles: ExchangeRoles): MaybePromise<void>;
  /** What to do when exchangeRoles() gives null (no STORE option, bad arity): default an arity error. */
  noRoles?(ks: Keyspace, db: number, argv: Buffer[]): void;
}

/** One exported key: [key, value or null, true for a key named by a SORT pattern]. */
export type ExportEntry = [Buffer, Portable | null, boolean];

const id = (k: Buffer): string => k.toString('latin1');

/**
 * The keys a destination sees: the taken source values (local or imported), then, for keys named by
 * SORT patterns, this shard's own data (`isLocal`) or what the other shards exported.
 */
export class CombineView implements KeyView {
  readonly taken = new Map<string, Portable | null>();
  readonly patternKeys = new Map<string, Portable | null>();
  constructor(private readonly ks: Keyspace, private readonly isLocal: (key: Buffer) => boolean) {}

  get(db: number, key: Buffer): MaybePromise<Portable | null> {
    const k = id(key);
    const t = this.taken.get(k);
    if (t !== undefined) return t;
    if (this.isLocal(key)) return readPortable(this.ks, db, key);
    return this.patternKeys.get(k) ?? null;
  }

  addImported(entries: ExportEntry[]): void {
    for (const [key, value, byPattern] of entries) (byPattern ? this.patternKeys : this.taken).set(id(key), value);
  }
}

/**
 * Take every source key of `roles` that `mine(key)` accepts, in argv order, each distinct key once.
 * Returns the entries (for an export) and records them in `view` when given.
 */
export async function takeSources(ks: Keyspace, db: number, argv: Buffer[], spec: CombineSpec, roles: ExchangeRoles,
  mine: (key: Buffer) => boolean, view: CombineView | null): Promise<ExportEntry[]> {
  const out: ExportEntry[] = [];
  const seen = new Set<string>();
  for (const i of roles.sources) {
    const key = argv[i];
    if (!mine(key) || seen.has(id(key))) continue;
    seen.add(id(key));
    const v = await (spec.take ? spec.take(ks, db, argv, i) : readPortable(ks, db, key));
    out.push([key, v, false]);
    view?.taken.set(id(key), v);
  }
  return out;
}

/**
 * Every key of this shard that a SORT pattern can name (`prefix*suffix`, the key part before `->`),
 * with its value: what a source shard exports for SORT … BY/GET with patterns.
 */
export async function patternExports(ks: Keyspace, db: number, patterns: Buffer[]): Promise<ExportEntry[]> {
  const out: ExportEntry[] = [];
  const seen = new Set<string>();
  for (const p of patterns) {
    const keyPart = patternKeyPart(p);
    const star = keyPart.indexOf(0x2a);
    if (star < 0) continue;
    const prefix = keyPart.subarray(0, star), suffix = keyPart.subarray(star + 1);
    const keys: Buffer[] = [];
    for await (const [k] of ks.scanMetas(db, { prefix })) {
      if (k.length >= prefix.length + suffix.length && k.subarray(k.length - suffix.length).equals(suffix) && !seen.has(id(k))) {
        seen.add(id(k));
        keys.push(Buffer.from(k));
      }
    }
    for (const k of keys) out.push([k, await readPortable(ks, db, k), true]);
  }
  return out;
}

/** A write handler running a combining command whose keys are all on this shard. */
export function combineHandler(spec: CombineSpec): WriteHandler {
  return (ks, db, argv) => {
    const roles = exchangeRoles(argv);
    if (roles === null) {
      if (spec.noRoles) return spec.noRoles(ks, db, argv);
      return ks.fail(arityError(argv[0].toString('latin1').toLowerCase()).error);
    }
    return runCombine(ks, db, argv, spec, roles);
  };
}

async function runCombine(ks: Keyspace, db: number, argv: Buffer[], spec: CombineSpec, roles: ExchangeRoles): Promise<void> {
  const view = new CombineView(ks, () => true);
  await takeSources(ks, db, argv, spec, roles, () => true, view);
  await spec.apply(ks, db, argv, view, roles);
}
