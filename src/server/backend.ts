/**
 * The contract between the read server (main thread, RESP to clients) and the engine that owns the data.
 * The server never touches storage: every keyspace read becomes one or more `read()` calls on the shard
 * appliers, which see the same rings as the apply path (so a read observes every earlier write to its key).
 */
import type { Logger } from 'pino';

/**
 * A value a shard read resolves with, encoded to RESP2 as:
 *   Buffer → bulk string, number → integer, null → null bulk, array → array (recursively),
 *   { error } → error line (the text includes its code, e.g. "WRONGTYPE Operation against…"),
 *   { status } → simple string.
 */
export type ReadReply = Buffer | number | null | unknown[] | { error: string } | { status: string };

export interface ReadBackend {
  readonly shardCount: number;
  /** Shard that owns `key` (CRC16 slot mod shardCount). */
  shardOf(key: Buffer): number;
  /**
   * Runs a shard-local read on shard `shard`, database `db`. argv[0] is the command name as the client
   * sent it. Besides the ordinary single-shard reads, the server sends:
   *   SCAN <shard cursor> [MATCH p] [COUNT n] [TYPE t] → [nextShardCursor: Buffer | null, keys: Buffer[]]
   *     (null = this shard is finished)
   *   __KEYSPACE → [[db, keys, expires], …] for every non-empty db of that shard.
   * A rejection becomes `-ERR <message>` for that request only.
   */
  read(shard: number, db: number, argv: Buffer[]): Promise<unknown>;
  /** Extra INFO sections, in order (e.g. replication, applier); names are matched case-insensitively. */
  info(): Array<[section: string, fields: Array<[string, string | number]>]>;
  /** The ROLE reply, e.g. ['slave', host, port, 'connected', offset]. */
  role(): unknown[];
  /** True while a snapshot loads: keyspace commands get -LOADING. */
  loading(): boolean;
  /** True while a full sync loads (reads see the old data; INFO skips the Keyspace counts). */
  syncing?(): boolean;
}

export interface ReadServerOptions {
  port: number;
  bind: string;
  logger: Logger;
  /** Largest bulk argument a client may send (default 64 MiB). */
  maxBulkLen?: number;
  /** Most arguments in one request (default 1M). */
  maxArgs?: number;
  /** Connected clients beyond this are refused with -ERR max number of clients reached (default 10000). */
  maxClients?: number;
  /** SELECT range (default 16). */
  databases?: number;
  /** Bytes of replies a client may leave unread before it is disconnected (default 256 MiB). */
  maxOutputBytes?: number;
  /** Global SCAN cursors remembered (LRU; default 10000). */
  scanCursors?: number;
}

export interface ReadServerStats {
  connectedClients: number;
  totalConnections: number;
  totalCommands: number;
  rejectedClients: number;
}
