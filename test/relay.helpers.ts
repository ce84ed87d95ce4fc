/** Shared helpers for the relay log tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RelayLog } from '../src/relay/relay-log.js';

/** Encode one command as the master sends it: `*<n>\r\n` then `$<len>\r\n<arg>\r\n` per argument. */
export function cmd(...args: Array<string | Buffer>): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

export function tempDir(prefix = 'relay-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Concatenate every chunk of a readFrom() iterator. */
export async function collect(chunks: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of chunks) out.push(c);
  return Buffer.concat(out);
}

/** Read the whole log from `offset`'s safe point; returns the start position and the bytes. */
export async function readAll(log: RelayLog, offset: number, maxChunk?: number) {
  const r = await log.readFrom(offset, maxChunk);
  if (!r) return null;
  return { from: r.from, bytes: await collect(r.chunks) };
}
