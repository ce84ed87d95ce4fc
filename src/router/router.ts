/**
 * The router: frames the master's stream (RESP arrays of bulk strings, spec 3.1), tracks the stream's
 * selected DB and MULTI blocks, and puts every command into the ring of the shard that owns its key.
 *
 *   stream bytes ──RespFramer──▶ onCommand ──┬─ SELECT                 → db
 *                                            ├─ ping / REPLCONF / PUBLISH → nothing (offset only)
 *                                            ├─ MULTI … EXEC           → buffered, then one TXN record per shard
 *                                            ├─ FLUSHALL / FLUSHDB     → BARRIER record in every ring (new epoch)
 *                                            ├─ single-shard command   → WRITE record (raw bytes)
 *                                            ├─ DEL/UNLINK/MSET/TOUCH over several shards → one WRITE per shard
 *                                            └─ RENAME/SMOVE/*STORE… over several shards → exchange: the
 *                                               destination and each source get the command behind a
 *                                               marker (markers.ts) saying their role
 *
 * Inside MULTI, a FLUSHALL/FLUSHDB/SWAPDB goes to every shard's part behind a barrier marker, so each
 * shard flips at the same position within its atomic part.
 *
 * Offsets: every record carries the offset of the last byte of its command (for a transaction, of
 * EXEC). `safeOffset` is the offset of the last command boundary outside a MULTI: everything up to it
 * has been handed to the rings. `lastRouted[s]` is the offset of the last record for shard s.
 *
 * When a ring is full the record goes to that shard's overflow queue (bounded by what one input chunk
 * holds); `route()` then returns false and the caller awaits `drain()` before feeding more.
 */
import { RespFramer, type CommandSink } from '../resp/framer.js';
import { encodeCommand } from '../resp/encode.js';
import { RingProducer } from '../shm/ring.js';
import { RecordKind, SharedState } from '../shm/layout.js';
import { ParaError } from '../errors.js';
import { lookupCommand, CMD_BARRIER, CMD_NOKEY_STREAM, CMD_SPLIT, CMD_MOVABLE_KEYS, CMD_EXCHANGE, type CommandSpec } from './command-table.js';
import { keySlot, shardOfKey } from './slot.js';
import { exchangeRoles, patternFixedSlotKey } from './exchange-keys.js';
import { barrierMarker, sourceMarker, destMarker } from './markers.js';

interface Pending { kind: number; flags: number; db: number; offset: number; aux: number; payload: Buffer }
/** A command of a MULTI block for one shard, or for every shard (shard = ALL_SHARDS: barriers). */
interface TxnPart { shard: number; db: number; bytes: Buffer }
const ALL_SHARDS = -1;

export interface RouterEvents {
  /** A barrier (FLUSHALL/FLUSHDB) was put in every ring. */
  barrier(id: number, command: string, db: number, offset: number): void;
  /** Routing stopped at a command this version cannot route. Nothing after it is routed. */
  halt(err: ParaError): void;
  /** --skip-errors: a command this version cannot route was left out (routing goes on). */
  skipped?(err: ParaError): void;
}

const NAME_BUF = 32;

export class Router implements CommandSink {
  readonly shards: number;
  private readonly framer = new RespFramer();
  private readonly pending: Pending[][];
  private readonly pendingBytes: number[];
  private pendingCount = 0;
  private flushing = false;
  /** Overflow bytes one shard may hold before route() asks the caller to wait. */
  overflowLimit = 256 << 10;
  /** DB selected by the stream at the current position. */
  db = 0;
  /** Offset of the last byte framed so far. */
  offset = 0;
  /** Offset of the last command boundary outside MULTI (all of it routed or queued). */
  safeOffset = 0;
  readonly lastRouted: number[];
  private inMulti = false;
  private txn: TxnPart[] = [];
  private halted: ParaError | null = null;
  // Counters for INFO.
  commandsRouted = 0;
  crossShardSplits = 0;
  /** Commands run as a cross-shard exchange (their keys on more than one shard). */
  exchanges = 0;
  transactions = 0;
  /** Exchanges numbered within the current MULTI block (the `sub` of markers.ts). */
  private txnSub = 0;
  barriers = 0;
  private readonly nameScratch = Buffer.alloc(NAME_BUF);
  /**
   * Write commands the appliers can apply (reported by the appliers at start-up). A command outside
   * this set stops routing before it, so every shard stops at the same offset.
   */
  appliable: ReadonlySet<string> | null = null;

  constructor(private readonly shared: SharedState, private readonly rings: RingProducer[],
    private readonly events: RouterEvents) {
    this.shards = rings.length;
    this.pending = rings.map(() => []);
    this.pendingBytes = rings.map(() => 0);
    this.lastRouted = rings.map(() => -1);
  }

  /** Restart framing at a known safe point (after a full sync, or at a relay segment start). */
  resetAt(offset: number, db: number): void {
    this.framer.reset();
    this.offset = offset;
    this.safeOffset = offset;
    this.db = db;
    this.inMulti = false;
    this.txn = [];
    for (let s = 0; s < this.shards; s++) if (this.lastRouted[s] > offset) this.lastRouted[s] = offset;
  }

  get isHalted(): ParaError | null { return this.halted; }
  get inTransaction(): boolean { return this.inMulti; }
  get overflowed(): boolean { return this.pendingCount > 0; }

  /**
   * Frames and routes `chunk` (which need not end at a command boundary). Returns false when some ring
   * is full: await drain() before routing more. After a halt, returns true and routes nothing.
   */
  route(chunk: Buffer): boolean {
    if (this.halted) return true;
    try {
      this.framer.feed(chunk, this);
    } catch (e) {
      this.haltWith(e instanceof ParaError ? e : new ParaError('PARAREPLICA_PROTOCOL', String(e)));
    }
    this.wakeAll();
    // A shard whose ring is full only stops routing once its overflow passes the limit: the other
    // shards keep receiving work meanwhile (no head-of-line blocking on the slowest shard).
    return this.maxPendingBytes() <= this.overflowLimit;
  }

  private maxPendingBytes(): number {
    let m = 0;
    for (let s = 0; s < this.shards; s++) if (this.pendingBytes[s] > m) m = this.pendingBytes[s];
    return m;
  }

  /**
   * Resolves once every shard's overflow is back under the limit (`untilEmpty`: completely empty).
   * Never blocks the event loop.
   */
  async drain(untilEmpty = false): Promise<void> {
    while (this.pendingCount > 0 && (untilEmpty || this.maxPendingBytes() > this.overflowLimit)) {
      let progressed = false;
      for (let s = 0; s < this.shards; s++) {
        const q = this.pending[s];
        let i = 0;
        while (i < q.length && this.rings[s].tryWrite(q[i].kind, q[i].flags, q[i].db, q[i].offset, q[i].aux, q[i].payload)) {
          this.pendingBytes[s] -= q[i].payload.length;
          i++;
        }
        if (i > 0) { q.splice(0, i); this.pendingCount -= i; progressed = true; this.rings[s].wakeConsumer(); }
      }
      if (this.pendingCount === 0) break;
      if (!progressed) {
        const s = this.pending.findIndex((q) => q.length > 0);
        await this.rings[s].waitForSpace(50);
      }
    }
  }

  /** Keeps moving overflowed records into their rings in the background until none is left. */
  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      void this.drain(true).finally(() => {
        this.flushing = false;
        if (this.pendingCount > 0) this.scheduleFlush();
      });
    });
  }

  wakeShard(s: number): void {
    this.rings[s].wakeConsumer();
  }

  private wakeAll(): void {
    for (let s = 0; s < this.shards; s++) this.rings[s].wakeConsumer();
  }

  /** Puts one record in shard s's ring (or its overflow queue, keeping order). */
  emit(s: number, kind: number, db: number, offset: number, aux: number, src: Buffer, start: number, end: number, flags = 0): void {
    if (offset > this.lastRouted[s]) this.lastRouted[s] = offset;
    if (this.pending[s].length === 0 && this.rings[s].tryWrite(kind, flags, db, offset, aux, src, start, end)) return;
    this.pending[s].push({ kind, flags, db, offset, aux, payload: Buffer.from(src.subarray(start, end)) });
    this.pendingCount++;
    this.pendingBytes[s] += end - start;
    if (this.pendingCount === 1) this.scheduleFlush();
  }

  /** Puts one record in every ring (barriers, beacons, full-sync markers). */
  broadcast(kind: number, db: number, offset: number, aux: number, payload: Buffer = EMPTY): void {
    for (let s = 0; s < this.shards; s++) this.emit(s, kind, db, offset, aux, payload, 0, payload.length);
    this.wakeAll();
  }

  /** --skip-errors: leave out commands this version cannot apply instead of halting at them. */
  skipErrors = false;
  skippedCommands = 0;

  private haltWith(err: ParaError): void {
    if (this.skipErrors && err.code === 'PARAREPLICA_UNSUPPORTED_COMMAND') {
      this.skippedCommands++;
      this.events.skipped?.(err);
      return;
    }
    this.halted = err;
    this.events.halt(err);
  }

  // ── CommandSink ──
  onCommand(buf: Buffer, start: number, end: number, argc: number, argStart: Int32Array, argLen: Int32Array): void {
    if (this.halted) return;
    const cmdStart = this.offset;
    this.offset += end - start;
    const spec = this.lookup(buf, argStart[0], argLen[0]);
    const name = spec?.name;
    if (name === 'select') {
      const db = parseSmallInt(buf, argStart[1], argLen[1]);
      if (db < 0) return this.haltWith(unsupported('SELECT with an invalid db index', buf, argStart, argLen, argc, cmdStart));
      this.db = db;
      if (!this.inMulti) this.safeOffset = this.offset;
      return;
    }
    if (name === 'multi') { this.inMulti = true; this.txn = []; this.txnSub = 0; return; }
    if (name === 'exec') { this.flushTxn(); return; }
    if (name === 'discard') { this.inMulti = false; this.txn = []; this.safeOffset = this.offset; return; }
    if (!spec || !name) return this.haltWith(unsupported('unknown command', buf, argStart, argLen, argc, cmdStart));
    if (spec.flags & CMD_NOKEY_STREAM) { if (!this.inMulti) this.safeOffset = this.offset; return; }
    if (spec.flags & CMD_BARRIER) {
      if (name === 'swapdb' && (argc !== 3 || parseSmallInt(buf, argStart[1], argLen[1]) < 0 || parseSmallInt(buf, argStart[2], argLen[2]) < 0)) {
        return this.haltWith(unsupported('SWAPDB with invalid db indexes', buf, argStart, argLen, argc, cmdStart));
      }
      this.routeBarrier(name, buf, start, end);
      if (!this.inMulti) this.safeOffset = this.offset;
      return;
    }
    if (this.appliable && !this.appliable.has(name)) {
      return this.haltWith(unsupported('a command this version cannot apply', buf, argStart, argLen, argc, cmdStart));
    }
    this.commandsRouted++;
    this.routeKeyed(spec, buf, start, end, argc, argStart, argLen, cmdStart);
    if (this.halted) return;
    if (!this.inMulti) this.safeOffset = this.offset;
  }

  private lookup(buf: Buffer, s: number, len: number): CommandSpec | undefined {
    if (len > NAME_BUF) return undefined;
    // Lower-case the name into a scratch buffer to avoid a per-command lower-casing allocation.
    const n = this.nameScratch;
    for (let i = 0; i < len; i++) { const c = buf[s + i]; n[i] = c >= 65 && c <= 90 ? c + 32 : c; }
    return lookupCommand(n.toString('latin1', 0, len));
  }

  private routeBarrier(name: string, buf: Buffer, start: number, end: number): void {
    const id = this.shared.nextEpoch();
    if (name === 'flushall') {
      for (let d = 0; d < 256; d++) this.shared.publishEpoch(d, id);
    } else if (name === 'flushdb') {
      this.shared.publishEpoch(this.db, id);
    }
    if (this.inMulti) {
      // Every shard's part of the transaction gets the barrier at this position.
      this.txn.push({ shard: ALL_SHARDS, db: this.db, bytes: Buffer.concat([barrierMarker(id), buf.subarray(start, end)]) });
    } else {
      for (let s = 0; s < this.shards; s++) this.emit(s, RecordKind.BARRIER, this.db, this.offset, id, buf, start, end);
    }
    this.barriers++;
    this.events.barrier(id, name, this.db, this.offset);
  }

  private routeKeyed(spec: CommandSpec, buf: Buffer, start: number, end: number, argc: number,
    argStart: Int32Array, argLen: Int32Array, cmdStart: number): void {
    if ((spec.flags & CMD_EXCHANGE) !== 0 && this.shards > 1 && this.routeExchange(buf, start, end, argc, argStart, argLen)) return;
    let shard = -1;
    let multi = false;
    if (spec.flags & CMD_MOVABLE_KEYS) {
      const argv = argvOf(buf, argc, argStart, argLen);
      for (const i of spec.keys ? spec.keys(argv) : []) {
        const sh = keySlot(buf, argStart[i], argStart[i] + argLen[i]) % this.shards;
        if (shard < 0) shard = sh; else if (sh !== shard) multi = true;
      }
    } else if (spec.firstKey > 0) {
      const last = spec.lastKey < 0 ? argc + spec.lastKey : spec.lastKey;
      for (let i = spec.firstKey; i <= last && i < argc; i += spec.step) {
        const sh = keySlot(buf, argStart[i], argStart[i] + argLen[i]) % this.shards;
        if (shard < 0) shard = sh; else if (sh !== shard) multi = true;
      }
    }
    if (shard < 0) {
      return this.haltWith(unsupported('a command with no key that this version cannot apply', buf, argStart, argLen, argc, cmdStart));
    }
    if (!multi) {
      if (this.inMulti) this.txn.push({ shard, db: this.db, bytes: Buffer.from(buf.subarray(start, end)) });
      else this.emit(shard, RecordKind.WRITE, this.db, this.offset, 0, buf, start, end);
      return;
    }
    if (!(spec.flags & CMD_SPLIT)) {
      return this.haltWith(unsupported('a multi-key command whose keys live on different shards (cross-shard exchange comes in a later version)', buf, argStart, argLen, argc, cmdStart));
    }
    // Split per shard: the same command with only that shard's key groups (DEL a b → DEL a | DEL b).
    this.crossShardSplits++;
    const stride = spec.splitStride;
    const groups: Buffer[][] = Array.from({ length: this.shards }, () => []);
    const nameArg = buf.subarray(argStart[0], argStart[0] + argLen[0]);
    for (let i = spec.firstKey; i + stride - 1 < argc; i += stride) {
      const sh = keySlot(buf, argStart[i], argStart[i] + argLen[i]) % this.shards;
      for (let j = 0; j < stride; j++) groups[sh].push(buf.subarray(argStart[i + j], argStart[i + j] + argLen[i + j]));
    }
    for (let s = 0; s < this.shards; s++) {
      if (groups[s].length === 0) continue;
      const bytes = encodeCommand([nameArg, ...groups[s]]);
      if (this.inMulti) this.txn.push({ shard: s, db: this.db, bytes });
      else this.emit(s, RecordKind.WRITE, this.db, this.offset, 0, bytes, 0, bytes.length);
    }
  }

  /**
   * A moving/combining command: when its keys live on more than one shard, route it as an exchange
   * and return true; when they share a shard, route it as a plain write there and return true. False
   * when it has no exchange roles (e.g. GEORADIUS without STORE): the caller routes it by its key.
   */
  private routeExchange(buf: Buffer, start: number, end: number, argc: number, argStart: Int32Array, argLen: Int32Array): boolean {
    const argv = argvOf(buf, argc, argStart, argLen);
    const roles = exchangeRoles(argv);
    if (roles === null) return false;
    const shardOf = (k: Buffer): number => shardOfKey(k, this.shards);
    const dest = shardOf(argv[roles.dest]);
    const sources = new Set<number>();
    for (const i of roles.sources) sources.add(shardOf(argv[i]));
    for (const p of roles.patterns) {
      const fixed = patternFixedSlotKey(p);
      if (fixed !== null) sources.add(shardOf(fixed));
      else for (let s = 0; s < this.shards; s++) sources.add(s);
    }
    sources.delete(dest);
    const cmd = buf.subarray(start, end);
    if (sources.size === 0) {
      if (this.inMulti) this.txn.push({ shard: dest, db: this.db, bytes: Buffer.from(cmd) });
      else this.emit(dest, RecordKind.WRITE, this.db, this.offset, 0, buf, start, end);
      return true;
    }
    this.exchanges++;
    const sub = this.inMulti ? this.txnSub++ : 0;
    const list = [...sources].sort((a, b) => a - b);
    const parts: TxnPart[] = [{ shard: dest, db: this.db, bytes: Buffer.concat([destMarker(sub, list), cmd]) }];
    for (const s of list) parts.push({ shard: s, db: this.db, bytes: Buffer.concat([sourceMarker(sub, dest), cmd]) });
    for (const p of parts) {
      if (this.inMulti) this.txn.push(p);
      else this.emit(p.shard, RecordKind.WRITE, p.db, this.offset, 0, p.bytes, 0, p.bytes.length);
    }
    return true;
  }

  /** EXEC: one TXN record per shard with that shard's commands in order, SELECTs inserted as needed. */
  private flushTxn(): void {
    this.inMulti = false;
    const parts = this.txn;
    this.txn = [];
    this.transactions++;
    const byShard = new Map<number, Buffer[]>();
    const startDb = new Map<number, number>();
    const curDb = new Map<number, number>();
    const add = (shard: number, p: TxnPart): void => {
      let list = byShard.get(shard);
      if (!list) { list = []; byShard.set(shard, list); startDb.set(shard, p.db); curDb.set(shard, p.db); }
      if (curDb.get(shard) !== p.db) { list.push(encodeCommand(['SELECT', String(p.db)])); curDb.set(shard, p.db); }
      list.push(p.bytes);
    };
    for (const p of parts) {
      if (p.shard === ALL_SHARDS) for (let s = 0; s < this.shards; s++) add(s, p);
      else add(p.shard, p);
    }
    for (const [s, list] of byShard) {
      const payload = list.length === 1 ? list[0] : Buffer.concat(list);
      this.emit(s, RecordKind.TXN, startDb.get(s)!, this.offset, 0, payload, 0, payload.length);
    }
    this.safeOffset = this.offset;
  }
}

const EMPTY = Buffer.alloc(0);

function parseSmallInt(buf: Buffer, s: number, len: number): number {
  if (len === 0 || len > 9) return -1;
  let v = 0;
  for (let i = 0; i < len; i++) {
    const c = buf[s + i] - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

function argvOf(buf: Buffer, argc: number, argStart: Int32Array, argLen: Int32Array): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < argc; i++) out.push(buf.subarray(argStart[i], argStart[i] + argLen[i]));
  return out;
}

/** Printable form of a command for logs and INFO: name and up to 3 arguments, each cut to 64 bytes. */
export function describeCommand(argv: readonly Buffer[]): string {
  return argv.slice(0, 4).map((a) => {
    const s = a.length > 64 ? a.subarray(0, 64).toString('latin1') + '…' : a.toString('latin1');
    return /^[\x21-\x7e]*$/.test(s) ? s : JSON.stringify(s);
  }).join(' ') + (argv.length > 4 ? ` … (${argv.length} words)` : '');
}

function unsupported(reason: string, buf: Buffer, argStart: Int32Array, argLen: Int32Array, argc: number, cmdStart: number): ParaError {
  const argv = argvOf(buf, argc, argStart, argLen);
  const cmd = describeCommand(argv);
  return new ParaError('PARAREPLICA_UNSUPPORTED_COMMAND',
    `replication stopped before offset ${cmdStart + 1}: ${reason}: ${cmd}. Everything before it is applied and ` +
    `served; upgrade parareplica and restart it to resume from this offset`, { offset: cmdStart, command: cmd });
}
