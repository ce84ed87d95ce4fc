/**
 * The replica's handshake with its master: a reader for one-line replies, and the steps
 * PING → [AUTH] → REPLCONF listening-port / [ip-address] / capa → PSYNC, each reply read in order.
 * PSYNC is only written after every earlier reply was read (a master with replies still queued
 * answers PSYNC with an error and does not sync).
 */
import { ParaError } from '../errors.js';
import { encodeCommand } from '../resp/encode.js';
import type { ReplState } from './status.js';

const MAX_LINE = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * Accumulates bytes and hands out reply lines.
 * Wire: a reply is one line, `+<text>\r\n` or `-<text>\r\n`. Before the PSYNC reply and before a
 * payload header the master may write bare `\n` keepalives (one byte each); they are skipped and
 * counted. A line is cut at `\n`, and a `\r` before it is dropped.
 */
export class LineBuffer {
  private buf: Buffer = EMPTY;
  private pos = 0;
  keepalives = 0;

  push(chunk: Buffer): void {
    if (this.pos >= this.buf.length) {
      this.buf = chunk;
    } else {
      this.buf = Buffer.concat([this.buf.subarray(this.pos), chunk]);
    }
    this.pos = 0;
  }

  /** The next non-empty line without its line ending, or null when no complete line is buffered. */
  next(): string | null {
    for (;;) {
      const buf = this.buf;
      while (this.pos < buf.length && buf[this.pos] === 0x0a) {
        this.pos++;
        this.keepalives++;
      }
      const nl = buf.indexOf(0x0a, this.pos);
      if (nl < 0) {
        if (buf.length - this.pos > MAX_LINE) {
          throw new ParaError('PARAREPLICA_PROTOCOL',
            `the master sent more than ${MAX_LINE} bytes without a line end where a reply line was expected; ` +
            'check that host:port is a Redis master', { bytes: buf.length - this.pos });
        }
        return null;
      }
      let end = nl;
      if (end > this.pos && buf[end - 1] === 0x0d) end--;
      const line = buf.toString('latin1', this.pos, end);
      this.pos = nl + 1;
      if (line.length > 0) return line;
      this.keepalives++; // "\r\n" alone: treat like a keepalive
    }
  }

  /** Bytes after the last line returned; the buffer is emptied. */
  rest(): Buffer {
    const r = this.buf.subarray(this.pos);
    this.buf = EMPTY;
    this.pos = 0;
    return r;
  }
}

/** Promise-based wrapper of LineBuffer for the handshake; `fail` rejects a pending read. */
export class LineReader {
  readonly lines = new LineBuffer();
  private waiter: { resolve(l: string): void; reject(e: unknown): void } | null = null;
  private error: unknown = null;

  push(chunk: Buffer): void {
    this.lines.push(chunk);
    this.pump();
  }

  fail(err: unknown): void {
    if (this.error === null) this.error = err;
    const w = this.waiter;
    this.waiter = null;
    if (w) w.reject(err);
  }

  readLine(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
    });
  }

  rest(): Buffer {
    return this.lines.rest();
  }

  private pump(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.error !== null) {
      this.waiter = null;
      w.reject(this.error);
      return;
    }
    let line: string | null;
    try {
      line = this.lines.next();
    } catch (e) {
      this.waiter = null;
      w.reject(e);
      return;
    }
    if (line !== null) {
      this.waiter = null;
      w.resolve(line);
    }
  }
}

export type PsyncReply =
  | { kind: 'full'; replid: string; offset: number }
  | { kind: 'continue'; replid: string | null };

export interface HandshakeOptions {
  user?: string;
  password?: string;
  listeningPort: number;
  announceIp?: string;
}

const REPLID_RE = /^\S{40}$/;
const OFFSET_RE = /^-?\d{1,19}$/;

function handshakeError(step: string, reply: string, what: string): ParaError {
  return new ParaError('PARAREPLICA_HANDSHAKE', `master replied "${reply}" to ${step}: ${what}`, { step, reply });
}

/**
 * Wire: `+FULLRESYNC <40-char replid> <offset>\r\n`, `+CONTINUE <replid>\r\n`, `+CONTINUE\r\n`,
 * or an error line (`-NOMASTERLINK …`, `-LOADING …`, `-ERR …`), all of which mean "retry later".
 */
export function parsePsyncReply(line: string): PsyncReply {
  if (line.startsWith('+FULLRESYNC')) {
    const parts = line.split(' ');
    if (parts.length !== 3 || !REPLID_RE.test(parts[1]!) || !OFFSET_RE.test(parts[2]!)) {
      throw new ParaError('PARAREPLICA_PROTOCOL',
        `malformed PSYNC reply "${line}": expected +FULLRESYNC <40-char replid> <offset>`, { reply: line });
    }
    const offset = Number(parts[2]);
    if (!Number.isSafeInteger(offset)) {
      throw new ParaError('PARAREPLICA_PROTOCOL', `PSYNC reply offset ${parts[2]} is out of range`, { reply: line });
    }
    return { kind: 'full', replid: parts[1]!, offset };
  }
  if (line === '+CONTINUE') return { kind: 'continue', replid: null };
  if (line.startsWith('+CONTINUE ')) {
    const id = line.slice(10).trim();
    if (!REPLID_RE.test(id)) {
      throw new ParaError('PARAREPLICA_PROTOCOL', `malformed PSYNC reply "${line}": bad replication id`, { reply: line });
    }
    return { kind: 'continue', replid: id };
  }
  if (line.startsWith('-NOMASTERLINK') || line.startsWith('-LOADING')) {
    throw handshakeError('PSYNC', line, 'the master cannot serve a sync right now; retrying');
  }
  if (line.startsWith('-')) {
    throw handshakeError('PSYNC', line, 'the master refused to sync; check that it is a Redis 7 master and ' +
      'that the replication user may run PSYNC (ACL +psync +replconf +ping); retrying');
  }
  throw new ParaError('PARAREPLICA_PROTOCOL', `unexpected PSYNC reply "${line}"`, { reply: line });
}

/** The PSYNC command for a resume state: `PSYNC <replid> <offset+1>`, or `PSYNC ? -1`. */
export function psyncCommand(resume: ReplState): Buffer {
  if (resume.replid === null) return encodeCommand(['PSYNC', '?', '-1']);
  return encodeCommand(['PSYNC', resume.replid, String(resume.offset + 1)]);
}

export interface HandshakeIo {
  send(buf: Buffer): void;
  lines: LineReader;
  /** Non-fatal oddities (an ignored REPLCONF error), logged once by the caller. */
  warn(msg: string, reply: string): void;
}

/** Runs the handshake up to and including the PSYNC reply. Throws a ParaError on any refusal. */
export async function handshake(io: HandshakeIo, opts: HandshakeOptions, resume: ReplState): Promise<PsyncReply> {
  // 1. PING. Any +reply is fine; NOAUTH / NOPERM / "operation not permitted" mean "authenticate first".
  io.send(encodeCommand(['PING']));
  const pong = await io.lines.readLine();
  if (pong.startsWith('-')) {
    const authNeeded = pong.startsWith('-NOAUTH') || pong.startsWith('-NOPERM') ||
      pong.startsWith('-ERR operation not permitted');
    if (!authNeeded) throw handshakeError('PING', pong, 'the master is not ready (loading?); retrying');
    if (opts.password === undefined) {
      throw handshakeError('PING', pong, 'the master requires authentication; set the master password ' +
        '(masterauth) and, for an ACL user, the master user');
    }
  } else if (!pong.startsWith('+')) {
    throw new ParaError('PARAREPLICA_PROTOCOL', `unexpected PING reply "${pong}"`, { reply: pong });
  }

  // 2-5. AUTH and the REPLCONFs go out in one write; their replies are read one by one, in order.
  const cmds: Buffer[] = [];
  const hasAuth = opts.password !== undefined;
  if (hasAuth) {
    cmds.push(encodeCommand(opts.user !== undefined && opts.user !== ''
      ? ['AUTH', opts.user, opts.password!] : ['AUTH', opts.password!]));
  }
  cmds.push(encodeCommand(['REPLCONF', 'listening-port', String(opts.listeningPort)]));
  if (opts.announceIp !== undefined) cmds.push(encodeCommand(['REPLCONF', 'ip-address', opts.announceIp]));
  cmds.push(encodeCommand(['REPLCONF', 'capa', 'eof', 'capa', 'psync2']));
  io.send(Buffer.concat(cmds));
  if (hasAuth) {
    const r = await io.lines.readLine();
    if (r.startsWith('-')) {
      throw handshakeError('AUTH', r, 'check the master user and password (masteruser / masterauth)');
    }
  }
  const confs = cmds.length - (hasAuth ? 1 : 0);
  for (let i = 0; i < confs; i++) {
    const r = await io.lines.readLine();
    if (r.startsWith('-')) io.warn('master refused a REPLCONF (ignored)', r);
  }

  // 6. PSYNC, only now that nothing is pending.
  io.send(psyncCommand(resume));
  return parsePsyncReply(await io.lines.readLine());
}
