/** A master-less engine for tests: appliers + router + reads over a temp directory. */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { SharedState } from '../../src/shm/layout.js';
import { ApplierPool, type ApplierPoolOptions } from '../../src/engine/appliers.js';
import { Router } from '../../src/router/router.js';
import { ShardReads } from '../../src/engine/reads.js';
import { openDataDir } from '../../src/engine/manifest.js';
import { lowWaterMark } from '../../src/engine/offsets.js';

export interface TestEngine {
  dir: string;
  shared: SharedState;
  pool: ApplierPool;
  router: Router;
  reads: ShardReads;
  halts: unknown[];
  lowWater(): number;
  /** Waits until every routed record is committed (the low-water mark reaches the router's safe offset). */
  settle(timeoutMs?: number): Promise<void>;
  close(removeDir?: boolean): Promise<void>;
}

export async function startEngine(shards: number, ringBytes = 1 << 16, dir?: string, poolOptions: ApplierPoolOptions = {}): Promise<TestEngine> {
  const d = dir ?? await mkdtemp(path.join(os.tmpdir(), 'parareplica-test-'));
  const data = await openDataDir(d, shards, shards, 'test');
  const shared = SharedState.create(shards, ringBytes);
  const log = pino({ level: 'silent' });
  const halts: unknown[] = [];
  const pool = new ApplierPool(shared, data.shardDirs, log, { halted: (s, o, e) => halts.push({ s, o, e }) }, poolOptions);
  const states = await pool.ready;
  let epoch = 0;
  for (const st of states) for (const e of st.epochs) epoch = Math.max(epoch, e);
  shared.setGlobalEpoch(epoch);
  const router = new Router(shared, pool.producers, { barrier: () => undefined, halt: (e) => halts.push(e) });
  for (let s = 0; s < shards; s++) router.lastRouted[s] = states[s].offset;
  router.appliable = new Set(states[0].writes);
  const reads = new ShardReads(router, () => pool.replyConsumers);
  const lowWater = () => lowWaterMark(shared, router);
  return {
    dir: d, shared, pool, router, reads, halts, lowWater,
    async settle(timeoutMs = 20000) {
      const t0 = Date.now();
      await router.drain(true);
      while (lowWater() < router.safeOffset) {
        if (Date.now() - t0 > timeoutMs) throw new Error(`engine did not settle: low-water ${lowWater()} < ${router.safeOffset}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    async close(removeDir = true) {
      await reads.stop();
      await pool.stop();
      if (removeDir) await rm(d, { recursive: true, force: true });
    },
  };
}
