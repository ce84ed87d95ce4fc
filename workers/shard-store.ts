/**
 * ShardStore: a Keyspace bound to one shard's LevelDB directory (open with the format check, close)
 * plus the dispatch of master writes and client reads to the command tables (commands.ts).
 *
 * commands.ts (and the t_*.ts modules behind it) import './keyspace.js', which re-exports this
 * module: the tables are loaded with a dynamic import in open(), so no module reads a binding of
 * another before it is initialised, whichever of them is loaded first.
 */
import { realpathSync, mkdirSync } from 'node:fs';
import { ClassicLevel } from 'classic-level';
import { ParaError } from '../src/errors.js';
import { FORMAT, READABLE_FORMATS, STATE_KEY, ShardState, freshState, packr } from './layout.js';
import { Keyspace } from './keyspace-core.js';
import type { WriteTable, ReadTable, WriteHandler, ReadHandler } from './command-api.js';

export class ShardStore extends Keyspace {
  private writes!: WriteTable;
  private reads!: ReadTable;
  private readonly writeNames = new NameCache<WriteHandler>();
  private readonly readNames = new NameCache<ReadHandler>();

  /** Open (creating if needed) the shard database at `location`, resolved to its realpath. */
  static async open(location: string, opts: { cacheSize?: number; writeBufferSize?: number; metaCacheEntries?: number } = {}): Promise<ShardStore> {
    let real: string;
    try {
      mkdirSync(location, { recursive: true });
      real = realpathSync(location);
    } catch (e) {
      throw new ParaError('PARAREPLICA_DATA_DIR', `cannot create shard directory ${location}: ${(e as Error).message}; check the path and its permissions`, { location });
    }
    const db = new ClassicLevel<Buffer, Buffer>(real, {
      keyEncoding: 'buffer', valueEncoding: 'buffer',
      cacheSize: opts.cacheSize ?? 32 * 1024 * 1024, writeBufferSize: opts.writeBufferSize ?? 16 * 1024 * 1024,
    });
    try {
      await db.open();
    } catch (e) {
      throw new ParaError('PARAREPLICA_DATA_DIR', `cannot open shard database ${real}: ${(e as Error).message}; is another process using it?`, { location: real });
    }
    let state = freshState();
    const raw = db.getSync(STATE_KEY);
    if (raw !== undefined) {
      const s = packr.unpack(raw) as ShardState;
      if (!s || !READABLE_FORMATS.includes(s.format)) {
        await db.close();
        throw new ParaError('PARAREPLICA_DATA_DIR', `shard database ${real} has state format ${s?.format}, this version reads ${FORMAT}; use a fresh data directory`, { location: real });
      }
      state = { ...freshState(), ...s, format: FORMAT };   // an older readable format is upgraded at the next commit
    }
    const store = new ShardStore(db, state);
    if (opts.metaCacheEntries !== undefined) store.metaCache.max = Math.max(0, opts.metaCacheEntries);
    await store.metaCache.probeEmpty(store.state);
    const cmds = await import('./commands.js');
    store.writes = cmds.writeCommands;
    store.reads = cmds.readCommands;
    return store;
  }

  /**
   * Apply one master command. Returns a Promise only when it had to go async (range reads).
   * Throws PARAREPLICA_UNSUPPORTED_COMMAND for unknown commands; Redis-level failures are counted.
   * After a throw (or a command that failed half-way), discard() drops the whole uncommitted group.
   */
  applyWrite(db: number, argv: Buffer[]): void | Promise<void> {
    const h = this.writeNames.find(argv[0]) ?? this.writeNames.learn(argv[0], this.writes);
    if (h === undefined) {
      const name = argv[0].toString('latin1').toLowerCase();
      throw new ParaError('PARAREPLICA_UNSUPPORTED_COMMAND', `cannot apply '${name}': this version does not implement it; upgrade parareplica or stop writing it on the master`, { command: name });
    }
    return h(this, db, argv);
  }

  /** Answer a client read. Unknown commands get an error reply. */
  read(db: number, argv: Buffer[], nowMs: number): unknown | Promise<unknown> {
    const h = this.readNames.find(argv[0]) ?? this.readNames.learn(argv[0], this.reads);
    if (h === undefined) return { error: `ERR unknown command '${argv[0].toString('latin1').toLowerCase()}'` };
    return h(this, db, argv, nowMs);
  }

  async close(): Promise<void> {
    if (this.committing) await this.committing.catch(() => undefined);
    await this.db.close();
  }
}

/**
 * Command-name dispatch without a string per command: handlers already looked up, keyed by a hash of
 * the ASCII-lowercased name bytes and checked byte by byte. Only names found in a table are learnt
 * (bounded by the table size). ASCII case folding is what toLowerCase() does for every name that can
 * match a table entry (all ASCII), so the result is the same as the table lookup by string.
 */
class NameCache<H> {
  private readonly byHash = new Map<number, Array<{ name: Buffer; h: H }>>();

  private static hash(b: Uint8Array): number {
    let x = b.length;
    for (let i = 0; i < b.length; i++) {
      let c = b[i];
      if (c >= 65 && c <= 90) c |= 0x20;
      x = Math.imul(x ^ c, 0x01000193);
    }
    return x;
  }

  find(b: Uint8Array): H | undefined {
    const list = this.byHash.get(NameCache.hash(b));
    if (list === undefined) return undefined;
    for (const e of list) {
      const n = e.name;
      if (n.length !== b.length) continue;
      let i = 0;
      for (; i < n.length; i++) {
        let c = b[i];
        if (c >= 65 && c <= 90) c |= 0x20;
        if (c !== n[i]) break;
      }
      if (i === n.length) return e.h;
    }
    return undefined;
  }

  /** Look the name up in the table by string; remember it when found. */
  learn(b: Buffer, table: Record<string, H>): H | undefined {
    const name = b.toString('latin1').toLowerCase();
    const h = table[name];
    if (h === undefined) return undefined;
    const key = Buffer.from(name, 'latin1');
    const k = NameCache.hash(key);
    const list = this.byHash.get(k);
    if (list === undefined) this.byHash.set(k, [{ name: key, h }]); else list.push({ name: key, h });
    return h;
  }
}
