/**
 * On-disk layout of the relay log, and its recovery at open.
 *
 *   <relay dir>/meta.json                          {"format":"parareplica-relay","version":1,"replid":…}
 *   <relay dir>/seg-<start, 20 digits>-db<db>.log  raw stream bytes (start, next segment's start]
 *
 * A segment named with start S and db D holds the stream bytes numbered S+1, S+2, … and the stream had
 * database D selected, outside any MULTI, just before byte S+1. Segments are contiguous: each one starts
 * where the previous one ends. meta.json is replaced atomically (write to a temporary file, rename).
 * A meta.json whose replid is null marks an interrupted reset: its segments are stale and are deleted.
 */
import { open, readdir, readFile, rename, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { ParaError } from '../errors.js';
import { scanCommands, type ScanState } from './resp-scan.js';

export const META_FILE = 'meta.json';
const META_TMP = 'meta.json.tmp';
const META_FORMAT = 'parareplica-relay';
const META_VERSION = 1;
const SEGMENT_RE = /^seg-(\d{20})-db(\d{1,10})\.log$/;
/** Read size used when scanning a segment for its last complete command. */
const SCAN_BLOCK = 4 << 20;

export interface Segment {
  /** Offset of the last byte before this segment (its first byte is start+1). */
  start: number;
  /** Database selected at the segment start. */
  db: number;
  /** Bytes written to the file. */
  size: number;
  path: string;
}

export function segmentName(start: number, db: number): string {
  return `seg-${String(start).padStart(20, '0')}-db${db}.log`;
}

export function parseSegmentName(name: string): { start: number; db: number } | null {
  const m = SEGMENT_RE.exec(name);
  if (!m) return null;
  const start = Number(m[1]);
  const db = Number(m[2]);
  if (!Number.isSafeInteger(start)) return null;
  return { start, db };
}

export function dataDirError(what: string, path: string, err: unknown, todo: string): ParaError {
  const reason = err instanceof Error ? err.message : String(err);
  return new ParaError('PARAREPLICA_DATA_DIR', `${what} ${path} failed (${reason}); ${todo}`, {
    path,
    cause: (err as { code?: string })?.code ?? reason,
  });
}

/** Write meta.json atomically (temporary file then rename); no fsync: a kill -9 cannot lose it. */
export async function writeMeta(dir: string, replid: string | null): Promise<void> {
  const tmp = join(dir, META_TMP);
  const body = JSON.stringify({ format: META_FORMAT, version: META_VERSION, replid }) + '\n';
  try {
    await writeFile(tmp, body);
    await rename(tmp, join(dir, META_FILE));
  } catch (e) {
    throw dataDirError('writing relay metadata', join(dir, META_FILE), e,
      'check free space and permissions of the data directory');
  }
}

/** Read meta.json: undefined if absent, else the replid (null after an interrupted reset). */
export async function readMeta(dir: string): Promise<string | null | undefined> {
  const path = join(dir, META_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw dataDirError('reading', path, e, 'check permissions of the data directory');
  }
  let meta: { format?: unknown; version?: unknown; replid?: unknown };
  try {
    meta = JSON.parse(text);
  } catch {
    throw new ParaError('PARAREPLICA_DATA_DIR',
      `${path} is not valid JSON: the relay log metadata is damaged; delete the relay directory ${dir} ` +
      'and restart (the replica will resynchronise from the master)', { path });
  }
  if (meta.format !== META_FORMAT || meta.version !== META_VERSION) {
    throw new ParaError('PARAREPLICA_DATA_DIR',
      `${path} was written by another relay log format (${String(meta.format)} v${String(meta.version)}, ` +
      `expected ${META_FORMAT} v${META_VERSION}); use a parareplica version that matches, or delete ${dir}`,
      { path, format: meta.format, version: meta.version });
  }
  if (meta.replid !== null && (typeof meta.replid !== 'string' || meta.replid.length === 0)) {
    throw new ParaError('PARAREPLICA_DATA_DIR',
      `${path} holds an invalid replid; delete the relay directory ${dir} and restart`, { path });
  }
  return meta.replid as string | null;
}

/** List segment files (sorted by start) and remove a leftover temporary meta file. */
export async function listSegments(dir: string): Promise<Segment[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw dataDirError('listing', dir, e, 'check that --dir points to a readable directory');
  }
  const segs: Segment[] = [];
  for (const name of names) {
    if (name === META_TMP) {
      await unlink(join(dir, name)).catch(() => undefined);
      continue;
    }
    const p = parseSegmentName(name);
    if (!p) continue;
    const path = join(dir, name);
    let st;
    try {
      st = await stat(path);
    } catch (e) {
      throw dataDirError('reading size of', path, e, 'check permissions of the data directory');
    }
    segs.push({ start: p.start, db: p.db, size: st.size, path });
  }
  segs.sort((a, b) => a.start - b.start);
  return segs;
}

export async function deleteFiles(paths: string[]): Promise<void> {
  for (const p of paths) {
    try {
      await unlink(p);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw dataDirError('deleting relay segment', p, e, 'check permissions of the data directory');
      }
    }
  }
}

/**
 * Scan a segment from its start and return the length of its complete commands and the stream state
 * there. Reads in blocks; a command longer than a block grows the read.
 */
export async function scanSegment(seg: Segment): Promise<{ valid: number; state: ScanState; corrupt: boolean }> {
  const fh = await open(seg.path, 'r');
  try {
    let state: ScanState = { db: seg.db, inMulti: false };
    let carry: Buffer = Buffer.alloc(0);
    let filePos = 0;
    let valid = 0;
    while (filePos < seg.size) {
      const want = Math.min(Math.max(SCAN_BLOCK, carry.length), seg.size - filePos);
      const block = Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(block, 0, want, filePos);
      if (bytesRead === 0) break;
      filePos += bytesRead;
      const buf = carry.length ? Buffer.concat([carry, block.subarray(0, bytesRead)]) : block.subarray(0, bytesRead);
      const r = scanCommands(buf, 0, buf.length, state);
      state = { db: r.db, inMulti: r.inMulti };
      valid += r.end;
      if (r.corruptAt >= 0) return { valid, state, corrupt: true };
      carry = buf.subarray(r.end);
    }
    return { valid, state, corrupt: false };
  } finally {
    await fh.close();
  }
}

/**
 * Make the segment list consistent after a crash: keep the longest contiguous run from the first
 * segment, cut the last kept segment back to its last complete command, and delete everything after.
 * Returns the kept segments and the stream state at their end.
 */
export async function recoverSegments(segs: Segment[], log: Logger): Promise<{ segs: Segment[]; tail: ScanState }> {
  let last = segs.length - 1;
  for (let i = 0; i + 1 < segs.length; i++) {
    if (segs[i].start + segs[i].size !== segs[i + 1].start) {
      log.warn({ segment: segs[i].path, end: segs[i].start + segs[i].size, nextStart: segs[i + 1].start },
        'relay log segments are not contiguous; keeping the log up to the gap');
      last = i;
      break;
    }
  }
  const dropped = segs.slice(last + 1);
  if (dropped.length) await deleteFiles(dropped.map((s) => s.path));
  const kept = segs.slice(0, last + 1);
  const tailSeg = kept[kept.length - 1];
  const { valid, state, corrupt } = await scanSegment(tailSeg);
  if (valid < tailSeg.size) {
    const ctx = { segment: tailSeg.path, size: tailSeg.size, kept: valid, endOffset: tailSeg.start + valid };
    if (corrupt) log.error(ctx, 'relay log segment holds invalid framing; cutting it back to the last complete command');
    else log.warn(ctx, 'relay log segment ends in a partly written command; cutting it back');
    try {
      await truncate(tailSeg.path, valid);
    } catch (e) {
      throw dataDirError('truncating torn relay segment', tailSeg.path, e, 'check permissions of the data directory');
    }
    tailSeg.size = valid;
  }
  return { segs: kept, tail: state };
}
