/**
 * The data directory's manifest: a directory written with another shard count, hash or format is
 * refused with a message that says what to do, and nothing in it is touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openDataDir, FORMAT_VERSION } from '../src/engine/manifest.js';
import { FORMAT } from '../workers/layout.js';
import { ParaError } from '../src/errors.js';

test('manifest: created once, reopened with the same or no shard count, refused otherwise', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'parareplica-manifest-'));
  try {
    const a = await openDataDir(dir, 3, 8, 'test');
    assert.equal(a.created, true);
    assert.equal(a.manifest.shards, 3);
    assert.deepEqual((await readdir(dir)).sort(), ['manifest.json', 'shard-0', 'shard-1', 'shard-2']);
    const b = await openDataDir(dir, undefined, 8, 'test');
    assert.equal(b.created, false);
    assert.equal(b.manifest.shards, 3, 'leaving --workers out keeps the directory\'s shard count');
    const before = await readFile(path.join(dir, 'manifest.json'), 'utf8');
    await assert.rejects(openDataDir(dir, 4, 8, 'test'), (e: unknown) => {
      assert.ok(e instanceof ParaError);
      assert.equal(e.code, 'PARAREPLICA_DATA_DIR');
      assert.match(e.message, /--workers 3/);
      return true;
    });
    assert.equal(await readFile(path.join(dir, 'manifest.json'), 'utf8'), before, 'a refused open changes nothing');
    const m = JSON.parse(before);
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, format: FORMAT_VERSION + 1 }));
    await assert.rejects(openDataDir(dir, 3, 8, 'test'), /format/);
    // Format 2 (no segmented strings) is upgraded in place: the manifest then says the current format.
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, format: 2 }));
    await assert.rejects(openDataDir(dir, 4, 8, 'test'), /--workers 3/);
    assert.equal(JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')).format, 2, 'a refused open does not upgrade');
    assert.equal((await openDataDir(dir, 3, 8, 'test')).manifest.format, FORMAT_VERSION);
    assert.equal(JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')).format, FORMAT_VERSION);
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, format: 1 }));
    await assert.rejects(openDataDir(dir, 3, 8, 'test'), /format 1/);
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify({ ...m, hash: 'fnv' }));
    await assert.rejects(openDataDir(dir, 3, 8, 'test'), /hash/);
    await writeFile(path.join(dir, 'manifest.json'), '{not json');
    await assert.rejects(openDataDir(dir, 3, 8, 'test'), /not JSON/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('manifest format moves with the shard value encoding', () => {
  assert.equal(FORMAT_VERSION, FORMAT);
});
