/**
 * Public types of the master link: its options, the resume state, the handler the engine implements,
 * and the status snapshot that INFO replication / ROLE are built from.
 */
import type { Logger } from 'pino';
import { ParaError } from '../errors.js';
import type { RdbHandler, RdbParserOptions } from '../rdb/parser.js';

export interface LinkOptions {
  host: string;
  port: number;
  /** ACL user for AUTH (`masteruser`); used only together with `password`. */
  user?: string;
  /** `masterauth`. When set, AUTH is sent after PING. */
  password?: string;
  /** Port announced with `REPLCONF listening-port` (shown in the master's INFO and ROLE). */
  listeningPort: number;
  /** Sent as `REPLCONF ip-address` only when set (must be shorter than 256 bytes). */
  announceIp?: string;
  /** Drop the link after this long without a byte from the master (default 60000). */
  replTimeoutMs?: number;
  logger: Logger;
}

export interface ReplState {
  /** 40-hex replication id we follow, or null for "none": the next PSYNC is `PSYNC ? -1`. */
  replid: string | null;
  /** Offset of the last byte we hold (applied or safely logged); -1 for none. PSYNC asks for offset+1. */
  offset: number;
}

export interface LinkHandler {
  /** The offset to report in REPLCONF ACK: the engine's low-water mark of applied bytes. */
  ackOffset(): number;
  /**
   * A full sync's payload header was read. `offset` is the +FULLRESYNC offset (the snapshot point);
   * `totalBytes` is the `$<len>` length, or -1 for an `$EOF:` (diskless) payload.
   */
  fullSyncStart(replid: string, offset: number, transfer: 'disk' | 'diskless', totalBytes: number): void;
  /** Receives the snapshot's items as they are parsed, between fullSyncStart and fullSyncEnd. */
  rdb: RdbHandler;
  /** Options for the snapshot parser (e.g. skipUnloadable with --skip-errors). */
  rdbOptions?: RdbParserOptions;
  /** The payload was fully received and verified (RDB checksum, EOF mark). Stream data follows. */
  fullSyncEnd(): void;
  /**
   * +CONTINUE: partial resync accepted. `fromOffset` is the offset of the first stream byte that will
   * follow (the PSYNC argument, i.e. resume.offset + 1). `replid` may differ from the one we asked
   * with (the master failed over); the old one becomes replid2 at `fromOffset`.
   */
  continueSync(replid: string, fromOffset: number): void;
  /**
   * Stream bytes with offsets (startOffset, endOffset]: complete commands only, one call at most per
   * socket read. `buf` is only valid during the call.
   */
  streamData(buf: Buffer, startOffset: number, endOffset: number): void;
  /**
   * The link was lost after it got past PSYNC (a sync was aborted or streaming stopped). A reconnect
   * is scheduled; call link.setResume() from here to choose what the next PSYNC asks for.
   */
  linkDown(reason: string): void;
}

/** ROLE's replica states. `handshake` covers PING through the PSYNC reply; `sync` is the payload. */
export type LinkState = 'connect' | 'connecting' | 'handshake' | 'sync' | 'connected';

export interface LinkStatus {
  host: string;
  port: number;
  state: LinkState;
  /** master_link_status: true only while streaming (after the payload or +CONTINUE). */
  linkUp: boolean;
  /** master_last_io_seconds_ago: seconds since the last byte from the master; -1 with no socket. */
  lastIoSecondsAgo: number;
  /** master_sync_in_progress: from +FULLRESYNC until the payload is verified. */
  syncInProgress: boolean;
  syncTransfer: 'disk' | 'diskless' | null;
  /** master_sync_total_bytes: -1 before the `$` header, then `$<len>`, or 0 for `$EOF:`. */
  syncTotalBytes: number;
  /** master_sync_read_bytes: payload bytes received so far (RDB bytes and the EOF mark). */
  syncReadBytes: number;
  /** master_link_down_since_seconds: -1 if the link was never up, 0 while it is up. */
  linkDownSinceSeconds: number;
  /** slave_read_repl_offset: offset of the last byte received, counting a partial command. */
  readOffset: number;
  /** Offset of the last byte handed to streamData (complete commands only). */
  deliveredOffset: number;
  /** Replication id of the master we follow (master_replid), null before the first sync. */
  replid: string | null;
  /** What the next PSYNC will ask for. */
  resume: ReplState;
  /** Counters since the link was created. */
  fullSyncs: number;
  partialSyncs: number;
  connectAttempts: number;
  keepalivesReceived: number;
  /** Last error that dropped the link or failed an attempt, or null. */
  lastError: string | null;
}

export const DEFAULT_REPL_TIMEOUT_MS = 60_000;
export const RECONNECT_MIN_MS = 100;
export const RECONNECT_MAX_MS = 5_000;
/** The replica's cron: ACKs, loading keepalives and the timeout check run this often. */
export const CRON_INTERVAL_MS = 1_000;

/** Validates LinkOptions (throws PARAREPLICA_BAD_OPTION); returns the effective repl timeout. */
export function checkLinkOptions(opts: LinkOptions): number {
  const bad = (what: string): never => {
    throw new ParaError('PARAREPLICA_BAD_OPTION', `master link: ${what}`, {});
  };
  if (typeof opts.host !== 'string' || opts.host === '') bad('host must be a non-empty string');
  if (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65535) bad(`port ${opts.port} is not a TCP port (1-65535)`);
  if (!Number.isInteger(opts.listeningPort) || opts.listeningPort < 0 || opts.listeningPort > 65535) {
    bad(`listeningPort ${opts.listeningPort} is not a TCP port (0-65535)`);
  }
  if (opts.announceIp !== undefined && Buffer.byteLength(opts.announceIp) >= 256) {
    bad('announceIp must be shorter than 256 bytes');
  }
  const t = opts.replTimeoutMs ?? DEFAULT_REPL_TIMEOUT_MS;
  if (!Number.isFinite(t) || t <= 0) bad(`replTimeoutMs ${t} must be a positive number of milliseconds`);
  return t;
}
