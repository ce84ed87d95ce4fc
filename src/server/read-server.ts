/**
 * The read server: a RESP2 TCP server on the main thread that answers Redis clients like a read-only
 * Redis 7.0 replica. It accepts connections, enforces the client limit, and owns what sessions share
 * (dispatcher, SCAN cursor table, one reply writer, counters). Data never lives here: keyspace reads go
 * to the shard appliers through the ReadBackend.
 */
import net from 'node:net';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { ParaError } from '../errors.js';
import { RespWriter } from '../resp/encode.js';
import type { ReadBackend, ReadServerOptions, ReadServerStats } from './backend.js';
import { Dispatcher } from './dispatch.js';
import { KeyspaceReader } from './keyspace.js';
import type { ServerContext } from './server-commands.js';
import { Session, type SessionHost } from './session.js';
import { PARAREPLICA_VERSION, REDIS_COMPAT_VERSION, type InfoFields, type InfoSection } from './info.js';
import { allocator, humanBytes, residentBytes } from '../util/memory.js';

export type { ReadBackend, ReadServerOptions, ReadServerStats } from './backend.js';

const MAX_CLIENTS_REPLY = Buffer.from('-ERR max number of clients reached\r\n');

export class ReadServer {
  private readonly server: net.Server;
  private readonly sessions = new Set<Session>();
  private readonly logger: Logger;
  private readonly opts: Required<Omit<ReadServerOptions, 'logger'>>;
  private readonly host: SessionHost;
  private w = new RespWriter(16 * 1024);
  private nextId = 1;
  private totalConnections = 0;
  private totalCommands = 0;
  private rejectedClients = 0;
  private boundPort = 0;
  private readonly startedAtMs = Date.now();
  private readonly runId = randomBytes(20).toString('hex');

  constructor(private readonly backend: ReadBackend, opts: ReadServerOptions) {
    this.logger = opts.logger;
    this.opts = {
      port: opts.port,
      bind: opts.bind,
      maxBulkLen: opts.maxBulkLen ?? 64 * 1024 * 1024,
      maxArgs: opts.maxArgs ?? 1024 * 1024,
      maxClients: opts.maxClients ?? 10_000,
      databases: opts.databases ?? 16,
      maxOutputBytes: opts.maxOutputBytes ?? 256 * 1024 * 1024,
      scanCursors: opts.scanCursors ?? 10_000,
    };
    for (const k of ['maxBulkLen', 'maxArgs', 'maxClients', 'databases', 'maxOutputBytes', 'scanCursors'] as const) {
      const v = this.opts[k];
      if (!Number.isSafeInteger(v) || v < 1) {
        throw new ParaError('PARAREPLICA_BAD_OPTION', `read server option ${k} must be a positive integer, got ${v}`, { [k]: v });
      }
    }
    if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
      throw new ParaError('PARAREPLICA_BAD_OPTION', `read server port must be 0..65535, got ${opts.port}`, { port: opts.port });
    }
    const keyspace = new KeyspaceReader(backend, this.opts.scanCursors);
    const ctx: ServerContext = {
      backend,
      keyspace,
      databases: this.opts.databases,
      clients: () => this.sessions,
      ownInfo: () => this.ownInfo(),
      config: () => this.configValues(),
      startedAtMs: this.startedAtMs,
    };
    const self = this;
    this.host = {
      dispatcher: new Dispatcher(backend, keyspace, ctx),
      logger: this.logger,
      writer: () => self.w,
      tookLarge: () => { self.w = new RespWriter(16 * 1024); },
      countCommand: () => { self.totalCommands++; },
      removed: (s) => { self.sessions.delete(s); },
      limits: { maxBulkLen: this.opts.maxBulkLen, maxArgs: this.opts.maxArgs, maxOutputBytes: this.opts.maxOutputBytes },
    };
    this.server = net.createServer((socket) => this.accept(socket));
    this.server.on('error', (err) => this.logger.error({ err: err.message }, 'read server listener error'));
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new ParaError('PARAREPLICA_BAD_OPTION',
          `the read server cannot listen on ${this.opts.bind}:${this.opts.port} (${err.code ?? err.message}); ` +
          'choose another port or bind address', { bind: this.opts.bind, port: this.opts.port, cause: err.message }));
      };
      this.server.once('error', onError);
      this.server.listen({ port: this.opts.port, host: this.opts.bind }, () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        this.boundPort = typeof addr === 'object' && addr !== null ? addr.port : this.opts.port;
        this.logger.info({ bind: this.opts.bind, port: this.boundPort }, 'read server listening');
        resolve({ port: this.boundPort });
      });
    });
  }

  /** Stops accepting, closes every client, and resolves once the listener is closed. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const s of this.sessions) s.destroy();
      if (!this.server.listening) { resolve(); return; }
      this.server.close(() => {
        this.logger.info({ port: this.boundPort }, 'read server closed');
        resolve();
      });
    });
  }

  stats(): ReadServerStats {
    return {
      connectedClients: this.sessions.size,
      totalConnections: this.totalConnections,
      totalCommands: this.totalCommands,
      rejectedClients: this.rejectedClients,
    };
  }

  private accept(socket: net.Socket): void {
    this.totalConnections++;
    if (this.sessions.size >= this.opts.maxClients) {
      this.rejectedClients++;
      socket.on('error', () => { /* the client may already be gone */ });
      socket.end(MAX_CLIENTS_REPLY);
      this.logger.debug({ addr: socket.remoteAddress, maxClients: this.opts.maxClients }, 'refused a client: maxclients reached');
      return;
    }
    this.sessions.add(new Session(this.nextId++, socket, this.host));
  }

  private ownInfo(): InfoSection[] {
    const now = Date.now();
    const up = Math.floor((now - this.startedAtMs) / 1000);
    return [
      ['Server', [
        ['redis_version', REDIS_COMPAT_VERSION],
        ['parareplica_version', PARAREPLICA_VERSION],
        ['redis_mode', 'standalone'],
        ['os', `${os.type()} ${os.release()} ${os.arch()}`],
        ['arch_bits', process.arch.endsWith('64') ? 64 : 32],
        ['process_id', process.pid],
        ['run_id', this.runId],
        ['tcp_port', this.boundPort],
        ['server_time_usec', now * 1000],
        ['uptime_in_seconds', up],
        ['uptime_in_days', Math.floor(up / 86400)],
        ['executable', process.argv[1] ?? ''],
      ]],
      ['Clients', [
        ['connected_clients', this.sessions.size],
        ['cluster_connections', 0],
        ['maxclients', this.opts.maxClients],
        ['blocked_clients', 0],
        ['tracking_clients', 0],
        ['clients_in_timeout_table', 0],
      ]],
      ['Memory', memoryFields()],
      ['Stats', [
        ['total_connections_received', this.totalConnections],
        ['total_commands_processed', this.totalCommands],
        ['rejected_connections', this.rejectedClients],
      ]],
    ];
  }

  private configValues(): Array<[string, string]> {
    return [
      ['bind', this.opts.bind],
      ['port', String(this.boundPort)],
      ['databases', String(this.opts.databases)],
      ['maxclients', String(this.opts.maxClients)],
      ['proto-max-bulk-len', String(this.opts.maxBulkLen)],
      ['replica-read-only', 'yes'],
      ['slave-read-only', 'yes'],
      ['replica-serve-stale-data', 'yes'],
      ['slave-serve-stale-data', 'yes'],
      ['save', ''],
      ['appendonly', 'no'],
    ];
  }
}

/**
 * INFO memory. The whole process (main thread, appliers, LevelDB) shares one heap, so used_memory is
 * its resident set (Redis: the bytes its allocator handed out) and used_memory_peak the peak RSS.
 */
function memoryFields(): InfoFields {
  const { rss, peak } = residentBytes();
  const top = Math.max(peak, rss);
  return [
    ['used_memory', rss], ['used_memory_human', humanBytes(rss)],
    ['used_memory_rss', rss], ['used_memory_rss_human', humanBytes(rss)],
    ['used_memory_peak', top], ['used_memory_peak_human', humanBytes(top)],
    ['mem_allocator', allocator().name],
  ];
}
