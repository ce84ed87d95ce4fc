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
import { FORMAT, STATE_KEY, ShardState, freshState, packr } from './layout.js';
import { Keyspace } from './keyspace-core.js';
import type { WriteTable, ReadTable } from './command-api.js';

export class ShardStore extends Keyspace {
  private writes!: WriteTable;
  private reads!: ReadTable;

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
      if (!s || s.format !== FORMAT) {
        await db.close();
        throw new ParaError('PARAREPLICA_DATA_DIR', `shard database ${real} has state format ${s?.format}, this version reads ${FORMAT}; use a fresh data directory`, { location: real });
      }
      state = { ...freshState(), ...s };
    }
    const store = new ShardStore(db, state);
    if (opts.metaCacheEntries !== undefined) store.metaCache.max = Math.max(0, opts.metaCacheEntries);
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
    const name = argv[0].toString('latin1').toLowerCase();
    const h = this.writes[name];
    if (h === undefined) {
      throw new ParaError('PARAREPLICA_UNSUPPORTED_COMMAND', `cannot apply '${name}': this version does not implement it; upgrade parareplica or stop writing it on the master`, { command: name });
    }
    return h(this, db, argv);
  }

  /** Answer a client read. Unknown commands get an error reply. */
  read(db: number, argv: Buffer[], nowMs: number): unknown | Promise<unknown> {
    const name = argv[0].toString('latin1').toLowerCase();
    const h = this.reads[name];
    if (h === undefined) return { error: `ERR unknown command '${name}'` };
    return h(this, db, argv, nowMs);
  }

  async close(): Promise<void> {
    if (this.committing) await this.committing.catch(() => undefined);
    await this.db.close();
  }
}
