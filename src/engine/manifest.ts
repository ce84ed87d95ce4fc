/**
 * The data directory's manifest: `<dir>/manifest.json` records the on-disk format version, the shard
 * count and the hash function. A directory written with another shard count or format is refused with
 * a clear message — never opened and silently corrupted (a key's shard depends on the shard count).
 */
import { mkdir, readFile, rename, writeFile, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ParaError } from '../errors.js';

/** On-disk format; must move with the shard value encoding (workers/layout.ts FORMAT). */
export const FORMAT_VERSION = 3;
/** Formats opened (and rewritten as FORMAT_VERSION): 2 differs only by having no segmented strings. */
const UPGRADABLE_FORMATS: readonly number[] = [2];
export const HASH_FUNCTION = 'crc16-xmodem-slot16384-mod-shards';

export interface Manifest {
  format: number;
  shards: number;
  hash: string;
  createdAt: string;
  createdBy: string;
}

export interface OpenedDir {
  dir: string;                 // realpath of the data directory
  manifest: Manifest;
  created: boolean;
  shardDirs: string[];
}

/**
 * Opens (or creates) a data directory. `shards` undefined means "whatever the directory was created
 * with" (or `defaultShards` for a new directory).
 */
export async function openDataDir(dir: string, shards: number | undefined, defaultShards: number, version: string): Promise<OpenedDir> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new ParaError('PARAREPLICA_DATA_DIR', `cannot create data directory ${dir}: ${(e as Error).message}; choose a writable --dir`);
  }
  const real = await realpath(dir);
  const file = path.join(real, 'manifest.json');
  let manifest: Manifest | undefined;
  let created = false;
  try {
    manifest = JSON.parse(await readFile(file, 'utf8')) as Manifest;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ParaError('PARAREPLICA_DATA_DIR', `${file} is unreadable or not JSON (${(e as Error).message}); ` +
        'restore it from a backup or start with an empty --dir');
    }
  }
  if (manifest) {
    if (manifest.format !== FORMAT_VERSION && !UPGRADABLE_FORMATS.includes(manifest.format)) {
      throw new ParaError('PARAREPLICA_DATA_DIR', `${real} holds data in format ${manifest.format}, this version reads ` +
        `format ${FORMAT_VERSION}; use a matching parareplica version or start with an empty --dir`);
    }
    if (manifest.hash !== HASH_FUNCTION) {
      throw new ParaError('PARAREPLICA_DATA_DIR', `${real} was written with key hash "${manifest.hash}"; ` +
        'start with an empty --dir');
    }
    if (shards !== undefined && manifest.shards !== shards) {
      throw new ParaError('PARAREPLICA_DATA_DIR', `${real} was written with --workers ${manifest.shards}, not ${shards}: ` +
        `keys are placed by shard count. Start with --workers ${manifest.shards} (or leave --workers out), or use an empty --dir`,
      { expected: manifest.shards, got: shards });
    }
    if (manifest.format !== FORMAT_VERSION) {
      // Accepted: mark the directory as the current format, so an older version refuses it from now on.
      manifest = { ...manifest, format: FORMAT_VERSION };
      await writeFile(`${file}.tmp`, JSON.stringify(manifest, null, 2) + '\n');
      await rename(`${file}.tmp`, file);
    }
  } else {
    manifest = { format: FORMAT_VERSION, shards: shards ?? defaultShards, hash: HASH_FUNCTION,
      createdAt: new Date().toISOString(), createdBy: `parareplica ${version}` };
    const tmp = `${file}.tmp`;
    await writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n');
    await rename(tmp, file);
    created = true;
  }
  const shardDirs: string[] = [];
  for (let s = 0; s < manifest.shards; s++) {
    const d = path.join(real, `shard-${s}`);
    await mkdir(d, { recursive: true });
    shardDirs.push(await realpath(d));
  }
  return { dir: real, manifest, created, shardDirs };
}
